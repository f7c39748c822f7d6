// WakeupProbe: how late a thread that only sleeps 1 ms at a time wakes up,
// while a load runs. It gives latency figures their floor: a server's
// reading -> alarm path crosses several thread wake-ups, and none of them can
// be more punctual than this probe. It asks for SCHED_FIFO (root or
// CAP_SYS_NICE), which preempts every normal thread of the machine, so its
// stalls are the kernel's and the hypervisor's, not the load's; without the
// privilege it runs as a normal thread and says so (`probe_realtime 0`).
// Thread-safety: Start and Stop from one thread.
#pragma once

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include "bench/common/cli.h"

namespace vigil::bench {

class WakeupProbe {
 public:
  WakeupProbe() = default;
  WakeupProbe(const WakeupProbe&) = delete;
  WakeupProbe& operator=(const WakeupProbe&) = delete;
  ~WakeupProbe() { Stop(); }

  void Start() {
    stop_ = false;
    thread_ = std::thread([this] { Run(); });
  }

  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }

  // After Stop: probe_realtime, probe_wakeups, probe_late_p99_us,
  // probe_late_max_us and probe_late_over_2ms (wake-ups more than 2 ms late).
  void Print() {
    std::sort(late_us_.begin(), late_us_.end());
    const auto over = static_cast<uint64_t>(
        late_us_.end() - std::upper_bound(late_us_.begin(), late_us_.end(), uint32_t{2000}));
    PrintCount("probe_realtime", realtime_ ? 1 : 0, "bool");
    PrintCount("probe_wakeups", late_us_.size(), "wakeups");
    PrintCount("probe_late_p99_us", Quantile(late_us_, 0.99), "us");
    PrintCount("probe_late_max_us", Quantile(late_us_, 1.0), "us");
    PrintCount("probe_late_over_2ms", over, "wakeups");
  }

 private:
  void Run() {
    sched_param param{};
    param.sched_priority = 1;
    realtime_ = pthread_setschedparam(pthread_self(), SCHED_FIFO, &param) == 0;
    late_us_.clear();
    late_us_.reserve(120'000);  // 2 minutes of wake-ups; more grow the vector
    constexpr auto kSleep = std::chrono::milliseconds(1);
    while (!stop_.load(std::memory_order_relaxed)) {
      const auto before = std::chrono::steady_clock::now();
      std::this_thread::sleep_for(kSleep);
      const auto late = std::chrono::steady_clock::now() - before - kSleep;
      late_us_.push_back(static_cast<uint32_t>(std::max<int64_t>(
          0, std::chrono::duration_cast<std::chrono::microseconds>(late).count())));
    }
  }

  std::atomic<bool> stop_{false};
  bool realtime_ = false;
  std::vector<uint32_t> late_us_;
  std::thread thread_;
};

}  // namespace vigil::bench
