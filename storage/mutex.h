// Mutex, SharedMutex and CondVar: std::mutex, std::shared_mutex and
// std::condition_variable with Clang's thread-safety annotations
// (alarm/thread_annotations.h), so that clang++ -Wthread-safety checks every
// VIGIL_GUARDED_BY member against the locks actually held. Same cost as the std
// types they wrap (every method is an inline forward). Here, in the lowest
// folder that may have threads (alarm/ has none), for storage/ and server/.
//
//   storage::Mutex mu_;
//   int count_ VIGIL_GUARDED_BY(mu_) = 0;
//   void Add() { storage::MutexLock lock(&mu_); ++count_; }
//
// Thread-safety: as the std types.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <shared_mutex>

#include "alarm/thread_annotations.h"

namespace vigil::storage {

class VIGIL_CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() VIGIL_ACQUIRE() { mu_.lock(); }
  void Unlock() VIGIL_RELEASE() { mu_.unlock(); }
  // For the analysis only: *this is held, reached here by another path than
  // the one the lock was taken through (an alias clang cannot follow). Checks
  // nothing at run time; say next to each use why it is the same mutex.
  void AssertHeld() const VIGIL_ASSERT_CAPABILITY(this) {}

 private:
  friend class CondVar;
  std::mutex mu_;
};

// Holds `*mu` for its scope.
class VIGIL_SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex* mu) VIGIL_ACQUIRE(mu) : mu_(mu) { mu_->Lock(); }
  ~MutexLock() VIGIL_RELEASE() { mu_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* const mu_;
};

// Waits release the mutex while blocked and hold it again on return. Wake-ups
// may be spurious: wait in a loop on the guarded condition, which keeps the
// condition where the analysis sees it checked under the lock:
//   while (!ready_) cv_.Wait(&mu_);
class CondVar {
 public:
  CondVar() = default;
  CondVar(const CondVar&) = delete;
  CondVar& operator=(const CondVar&) = delete;

  void Wait(Mutex* mu) VIGIL_REQUIRES(mu) {
    std::unique_lock<std::mutex> lock(mu->mu_, std::adopt_lock);
    cv_.wait(lock);
    lock.release();  // still held: the caller's scope releases it
  }
  // False once `deadline` passed (true may still be spurious).
  template <class Clock, class Duration>
  bool WaitUntil(Mutex* mu, const std::chrono::time_point<Clock, Duration>& deadline)
      VIGIL_REQUIRES(mu) {
    std::unique_lock<std::mutex> lock(mu->mu_, std::adopt_lock);
    const std::cv_status status = cv_.wait_until(lock, deadline);
    lock.release();
    return status == std::cv_status::no_timeout;
  }
  template <class Rep, class Period>
  bool WaitFor(Mutex* mu, const std::chrono::duration<Rep, Period>& timeout) VIGIL_REQUIRES(mu) {
    return WaitUntil(mu, std::chrono::steady_clock::now() + timeout);
  }

  void NotifyOne() { cv_.notify_one(); }
  void NotifyAll() { cv_.notify_all(); }

 private:
  std::condition_variable cv_;
};

// Many readers or one writer.
class VIGIL_CAPABILITY("shared mutex") SharedMutex {
 public:
  SharedMutex() = default;
  SharedMutex(const SharedMutex&) = delete;
  SharedMutex& operator=(const SharedMutex&) = delete;

  void Lock() VIGIL_ACQUIRE() { mu_.lock(); }
  void Unlock() VIGIL_RELEASE() { mu_.unlock(); }
  void LockShared() VIGIL_ACQUIRE_SHARED() { mu_.lock_shared(); }
  void UnlockShared() VIGIL_RELEASE_SHARED() { mu_.unlock_shared(); }

 private:
  std::shared_mutex mu_;
};

// Holds `*mu` exclusively for its scope.
class VIGIL_SCOPED_CAPABILITY WriterMutexLock {
 public:
  explicit WriterMutexLock(SharedMutex* mu) VIGIL_ACQUIRE(mu) : mu_(mu) { mu_->Lock(); }
  ~WriterMutexLock() VIGIL_RELEASE() { mu_->Unlock(); }
  WriterMutexLock(const WriterMutexLock&) = delete;
  WriterMutexLock& operator=(const WriterMutexLock&) = delete;

 private:
  SharedMutex* const mu_;
};

// Holds `*mu` shared for its scope.
class VIGIL_SCOPED_CAPABILITY ReaderMutexLock {
 public:
  explicit ReaderMutexLock(SharedMutex* mu) VIGIL_ACQUIRE_SHARED(mu) : mu_(mu) {
    mu_->LockShared();
  }
  ~ReaderMutexLock() VIGIL_RELEASE() { mu_->UnlockShared(); }
  ReaderMutexLock(const ReaderMutexLock&) = delete;
  ReaderMutexLock& operator=(const ReaderMutexLock&) = delete;

 private:
  SharedMutex* const mu_;
};

}  // namespace vigil::storage
