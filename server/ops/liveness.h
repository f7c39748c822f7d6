// LivenessWatch: the health service name "vigil.v1.Liveness", SERVING while
// the process is alive and its control loop turns, NOT_SERVING once the loop
// has not beaten for `stall_after`. Kubernetes' liveness probe asks for it,
// so a pod is restarted when it is wedged, not when it is merely unable to
// take data: a full disk turns the overall health NOT_SERVING (readiness
// takes the pod out of the Service) but a restart would not fix it and would
// only loop.
//
// Thread-safety: Beat from any thread (the control loop); the watch runs a
// thread of its own that calls `set_status` on every change.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <thread>

#include "alarm/thread_annotations.h"
#include "storage/mutex.h"

namespace vigil::server {

inline constexpr char kLivenessService[] = "vigil.v1.Liveness";

class LivenessWatch {
 public:
  using Clock = std::chrono::steady_clock;

  // `set_status(alive)` is called at once with true, then on each change
  // (looked at every `check_every`); it must not block. Starts the thread.
  LivenessWatch(std::chrono::milliseconds stall_after, std::function<void(bool)> set_status,
                std::chrono::milliseconds check_every = std::chrono::seconds(1));
  ~LivenessWatch();  // joins
  LivenessWatch(const LivenessWatch&) = delete;
  LivenessWatch& operator=(const LivenessWatch&) = delete;

  // The control loop turned.
  void Beat();

  // Alive when the last beat is at most `stall_after` before `now`.
  static bool Alive(Clock::time_point last_beat, Clock::time_point now,
                    std::chrono::milliseconds stall_after) {
    return now - last_beat <= stall_after;
  }

 private:
  void Loop();

  const std::chrono::milliseconds stall_after_;
  const std::chrono::milliseconds check_every_;
  const std::function<void(bool)> set_status_;
  std::atomic<Clock::rep> last_beat_;
  storage::Mutex mu_;
  storage::CondVar cv_;
  bool stop_ VIGIL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace vigil::server
