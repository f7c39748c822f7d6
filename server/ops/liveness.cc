#include "server/ops/liveness.h"

#include "server/log/log.h"
#include "server/log/thread_name.h"

namespace vigil::server {

LivenessWatch::LivenessWatch(std::chrono::milliseconds stall_after,
                             std::function<void(bool)> set_status,
                             std::chrono::milliseconds check_every)
    : stall_after_(stall_after),
      check_every_(check_every),
      set_status_(std::move(set_status)),
      last_beat_(Clock::now().time_since_epoch().count()) {
  set_status_(true);
  thread_ = std::thread([this] {
    NameThisThread("vigil-liveness");
    Loop();
  });
}

LivenessWatch::~LivenessWatch() {
  {
    storage::MutexLock lock(&mu_);
    stop_ = true;
  }
  cv_.NotifyAll();
  thread_.join();
}

void LivenessWatch::Beat() {
  last_beat_.store(Clock::now().time_since_epoch().count(), std::memory_order_relaxed);
}

void LivenessWatch::Loop() {
  bool alive = true;
  storage::MutexLock lock(&mu_);
  for (;;) {
    const Clock::time_point next_check = Clock::now() + check_every_;
    while (!stop_ && cv_.WaitUntil(&mu_, next_check)) {
    }
    if (stop_) return;
    const Clock::time_point last{Clock::duration(last_beat_.load(std::memory_order_relaxed))};
    const bool now_alive = Alive(last, Clock::now(), stall_after_);
    if (now_alive == alive) continue;
    alive = now_alive;
    if (!alive) {
      LogError(
          "control_loop_stalled",
          {{"stalled_ms",
            std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - last).count()}});
    } else {
      LogInfo("control_loop_resumed");
    }
    set_status_(alive);
  }
}

}  // namespace vigil::server
