// Clang's thread-safety annotations as macros: which mutex guards a member,
// which a function needs held or must not hold. clang++ -Wthread-safety
// checks them at compile time (tests/run_sanitized.sh --clang, docs/testing.md);
// with g++ they expand to nothing. Preprocessor only, so every folder may
// include it, the thread-free alarm/ too. The capability types they name are
// storage/mutex.h's (libstdc++'s std::mutex carries no annotations).
// Prefixed VIGIL_: Abseil (included by gRPC's headers) still defines the bare
// GUARDED_BY etc. in absl/base/internal/thread_annotations.h.
// Reference: https://clang.llvm.org/docs/ThreadSafetyAnalysis.html
#pragma once

#if defined(__clang__)
#define VIGIL_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define VIGIL_THREAD_ANNOTATION(x)
#endif

// On a class: its objects are capabilities (mutexes) named `x` in warnings.
#define VIGIL_CAPABILITY(x) VIGIL_THREAD_ANNOTATION(capability(x))
// On an RAII class that acquires a capability in its constructor and
// releases it in its destructor.
#define VIGIL_SCOPED_CAPABILITY VIGIL_THREAD_ANNOTATION(scoped_lockable)
// On a member: read and written only with `x` held.
#define VIGIL_GUARDED_BY(x) VIGIL_THREAD_ANNOTATION(guarded_by(x))
// On a pointer member: what it points to is read and written only with `x` held.
#define VIGIL_PT_GUARDED_BY(x) VIGIL_THREAD_ANNOTATION(pt_guarded_by(x))
// Lock order: this mutex is taken before (after) the ones named.
#define VIGIL_ACQUIRED_BEFORE(...) VIGIL_THREAD_ANNOTATION(acquired_before(__VA_ARGS__))
#define VIGIL_ACQUIRED_AFTER(...) VIGIL_THREAD_ANNOTATION(acquired_after(__VA_ARGS__))
// On a function: the caller holds the capabilities (exclusively / shared).
#define VIGIL_REQUIRES(...) VIGIL_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define VIGIL_REQUIRES_SHARED(...) VIGIL_THREAD_ANNOTATION(requires_shared_capability(__VA_ARGS__))
// On a function: it acquires (releases) the capabilities and returns holding
// them (not holding them).
#define VIGIL_ACQUIRE(...) VIGIL_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define VIGIL_ACQUIRE_SHARED(...) VIGIL_THREAD_ANNOTATION(acquire_shared_capability(__VA_ARGS__))
#define VIGIL_RELEASE(...) VIGIL_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define VIGIL_RELEASE_SHARED(...) VIGIL_THREAD_ANNOTATION(release_shared_capability(__VA_ARGS__))
#define VIGIL_TRY_ACQUIRE(...) VIGIL_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
// On a function: the caller must not hold the capabilities (it takes them).
#define VIGIL_EXCLUDES(...) VIGIL_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
// On a function: a run-time check that the capability is held.
#define VIGIL_ASSERT_CAPABILITY(x) VIGIL_THREAD_ANNOTATION(assert_capability(x))
// On a function: returns the capability named (an accessor for a mutex).
#define VIGIL_RETURN_CAPABILITY(x) VIGIL_THREAD_ANNOTATION(lock_returned(x))
// On a function the analysis cannot follow; say why next to each use.
#define VIGIL_NO_THREAD_SAFETY_ANALYSIS VIGIL_THREAD_ANNOTATION(no_thread_safety_analysis)
