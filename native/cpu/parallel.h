// parallel_for: run fn(0) … fn(count − 1) on the caller and the pool's
// workers, and return when all are done.
//
// natgrad's own blocked kernels (gemm_nt.cc and its users) split their work
// into independent tasks — each writes its own part of the output, computed
// the same way whichever thread runs it — so results do not depend on the
// schedule: tasks are handed out dynamically (an atomic counter), and the
// output is bitwise the same for any thread count.
//
// The pool has threads() − 1 persistent workers. threads() is the calling
// thread's count: set per call from the Node.js environment that made it
// (setThreads/NATGRAD_THREADS are per environment: a Worker's setThreads(1)
// leaves the main thread's calls, and their bits, as they were), else the
// process default (OpenBLAS's thread count at load). One parallel
// region runs at a time: a caller that finds the pool busy (concurrent
// Promise-form calls on the libuv pool) runs its tasks alone, which is still
// correct. Workers sleep on a condition variable between regions.
#pragma once
#include <cstdint>
#include <functional>

namespace natgrad::cpu {

// Threads a parallel region (and an OpenBLAS call) made from this thread may use (≥ 1).
int threads();
// The process default: OpenBLAS's thread count when natgrad was loaded (OPENBLAS_NUM_THREADS or the cores).
int default_threads();

// Sets threads() for the kernel calls this thread makes while it lives (n ≤ 0: the default).
class CallThreads {
 public:
  explicit CallThreads(int n);
  ~CallThreads();
  CallThreads(const CallThreads&) = delete;
  CallThreads& operator=(const CallThreads&) = delete;

 private:
  int previous_;
};

void parallel_for(int64_t count, const std::function<void(int64_t)>& fn);

}  // namespace natgrad::cpu
