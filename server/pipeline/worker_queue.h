// WorkerQueue: one consumer thread fed by a bounded lock-free queue, the loop
// the storage writer, each shard and the alarm journal run. Producers on any
// thread Push items; the queue's own thread calls the owner's `drain`, which
// Pops and handles them, and sleeps on an atomic counter (futex) when there is
// nothing to do. What differs between the users is a parameter: what Push does
// when the queue is full (refuse, or wait with backoff and push back on the
// producer).
//
// Thread contract: Push, RequestStop, Stop and the accessors from any thread
// (Stop not from the consumer); Pop and Done on the consumer thread only, from
// inside `drain`. Push takes no lock and allocates nothing (the nodes are
// preallocated); a Push wakes a sleeping consumer with one futex wake, and a
// wake-up is never lost (see Run).
#pragma once

#include <atomic>
#include <boost/lockfree/queue.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <utility>

#include "server/log/thread_name.h"

namespace vigil::server {

enum class FullPolicy : uint8_t {
  // Push returns false at once: the producer keeps the item and answers
  // "busy" (the storage writer: gateways back off and resend).
  kRefuse,
  // Push spins, then yields, until there is room: a full queue slows the
  // producer down (shards and journal: back-pressure up to ingest).
  kWait,
};

// `T` is what travels, typically an owning raw pointer: boost::lockfree needs
// it trivially copyable and trivially destructible.
//
// Ordering: items of one producer are popped in the order it pushed them
// (FIFO); items of different producers interleave in the order their pushes
// took effect. Ownership of an item passes with a Push that returns true.
//
// Lifecycle: construct, Start (the thread runs `drain`), Push..., Stop.
// RequestStop makes every later Push return false (whatever the policy);
// every item accepted before it, including by a Push running concurrently
// with it, is drained before the thread exits. Stop = RequestStop, then join.
// Anything `drain` uses must outlive Stop; the destructor Stop()s.
template <class T>
class WorkerQueue {
 public:
  // Holds up to `capacity` items (at most 65535: boost's fixed-size nodes
  // are indexed by 16 bits). Allocates them all here.
  WorkerQueue(size_t capacity, FullPolicy policy) : queue_(capacity), policy_(policy) {}
  ~WorkerQueue() { Stop(); }
  WorkerQueue(const WorkerQueue&) = delete;
  WorkerQueue& operator=(const WorkerQueue&) = delete;

  // Starts the consumer thread, named `thread_name` (top -H, perf). It calls
  // `drain` while `drain` returns true (it did some work), and sleeps when it
  // returns false until a Push or RequestStop. `drain` Pops some items (a
  // bounded number, so stop and the caller's own periodic work are not
  // starved) and handles them. REQUIRES: called once.
  void Start(std::string thread_name, std::function<bool()> drain) {
    thread_ = std::thread([this, name = std::move(thread_name), drain = std::move(drain)] {
      NameThisThread(name);
      Run(drain);
    });
  }

  // Queues `item`. False, and the caller keeps `item`, after RequestStop, or
  // when the queue is full under kRefuse. Under kWait it waits while full.
  [[nodiscard]] bool Push(T item) {
    // Counted before the stop check: RequestStop's drain waits for every
    // Push that passed the check (see Run).
    pushed_.fetch_add(1, std::memory_order_seq_cst);
    if (stopping_.load(std::memory_order_seq_cst)) {
      pushed_.fetch_sub(1, std::memory_order_relaxed);
      return false;
    }
    for (int spins = 0; !queue_.push(item); ++spins) {
      if (spins == 0) full_events_.fetch_add(1, std::memory_order_relaxed);
      if (policy_ == FullPolicy::kRefuse) {
        pushed_.fetch_sub(1, std::memory_order_relaxed);
        return false;
      }
      if (spins > 64) std::this_thread::yield();
    }
    // The item is visible before the counter moves (release), and the
    // consumer reads the counter before its last look at the queue (Run).
    wake_.fetch_add(1, std::memory_order_release);
    wake_.notify_one();
    return true;
  }

  // Consumer thread only: takes the oldest item, false when none.
  bool Pop(T& item) {
    if (!queue_.pop(item)) return false;
    ++popped_;
    return true;
  }

  // Consumer thread only: `n` popped items are handled; queued() stops
  // counting them. Each user says when an item stops counting (popped,
  // written, run), as its metric always did.
  void Done(uint64_t n) {
    done_.store(done_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }

  // From now on Push returns false; the consumer drains what was accepted,
  // then exits. Does not wait. Idempotent.
  void RequestStop() {
    stopping_.store(true, std::memory_order_seq_cst);
    wake_.fetch_add(1, std::memory_order_release);
    wake_.notify_one();
  }

  // RequestStop, then waits for the consumer to drain and exit. Idempotent.
  // REQUIRES: not on the consumer thread.
  void Stop() {
    RequestStop();
    if (thread_.joinable()) thread_.join();
  }

  // Wakes the consumer as a Push would, without an item: for work that
  // arrives another way (the storage writer's completions). Any thread.
  void Wake() {
    wake_.fetch_add(1, std::memory_order_release);
    wake_.notify_one();
  }

  bool stopping() const { return stopping_.load(std::memory_order_acquire); }

  // Items accepted (or being pushed) and not yet Done (approximate).
  uint64_t queued() const {
    const uint64_t done = done_.load(std::memory_order_relaxed);
    const uint64_t pushed = pushed_.load(std::memory_order_relaxed);
    return pushed > done ? pushed - done : 0;
  }
  // Pushes that found the queue full (refused under kRefuse, waited under kWait).
  uint64_t full_events() const { return full_events_.load(std::memory_order_relaxed); }

 private:
  void Run(const std::function<bool()>& drain) {
    for (;;) {
      if (drain()) continue;
      // No lost wake-up: `seen` is read before the last look at the queue.
      // A Push whose item that look missed bumps `wake_` after it, so the
      // wait below returns at once instead of sleeping on a queued item.
      const uint32_t seen = wake_.load(std::memory_order_acquire);
      if (drain()) continue;
      if (stopping_.load(std::memory_order_seq_cst)) break;
      wake_.wait(seen, std::memory_order_acquire);
    }
    // Stopping: a Push that passed its stop check counted itself in
    // `pushed_` before RequestStop's store (seq_cst), so it is seen here;
    // drain until every counted item is popped (refused ones uncount).
    for (int spins = 0;;) {
      if (drain()) continue;
      if (popped_ >= pushed_.load(std::memory_order_seq_cst)) break;
      if (++spins > 64) std::this_thread::yield();
    }
  }

  boost::lockfree::queue<T, boost::lockfree::fixed_sized<true>> queue_;
  const FullPolicy policy_;
  std::atomic<uint32_t> wake_{0};
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> pushed_{0};
  std::atomic<uint64_t> done_{0};
  std::atomic<uint64_t> full_events_{0};
  uint64_t popped_ = 0;  // consumer thread only
  std::thread thread_;
};

}  // namespace vigil::server
