#include "server/log/thread_name.h"

#include <pthread.h>

namespace vigil::server {

void NameThisThread(const std::string& name) {
  constexpr size_t kMaxName = 15;  // TASK_COMM_LEN - 1
  (void)pthread_setname_np(pthread_self(), name.substr(0, kMaxName).c_str());
}

}  // namespace vigil::server
