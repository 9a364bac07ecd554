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
//
// OpenBLAS's own threads and this pool share the cores, and must not spin while the other works. After a
// threaded OpenBLAS call, OpenBLAS's workers spin (0.3.21: sched_yield in a loop for THREAD_TIMEOUT, 2^28
// cycles, ~0.1 s) before they sleep; a parallel region started in that time had one core fewer (measured:
// layerGramSum after the backprop's sgemm 1.2–1.5× slower). So (configure_openblas_threads, once at load)
// natgrad gives OpenBLAS's pool a short timeout, 2^20 cycles (~0.4 ms): its workers then sleep soon after a
// call, as natgrad's own do (they spin 100 µs, then block), and neither pool is stopped. Before, natgrad
// parked OpenBLAS's workers (ended them: blas_thread_shutdown_, OpenBLAS's own fork-time shutdown) when its
// own kernels started, and OpenBLAS started new ones at its next call, which after idling ran cold: on a
// 2-core KVM guest, an exact step at N = 256 after a 150 ms pause took 78–80 ms parked and 62–69 ms with
// the short timeout (its Cholesky 36 → 29 ms, layerGramSum 27 → 20–24 ms).
// Parking remains for a timeout the user set (OPENBLAS_THREAD_TIMEOUT: natgrad keeps theirs) and an OpenBLAS
// without openblas_read_env. Both symbols are looked up as weak symbols: an OpenBLAS without them (or a
// non-pthreads one, whose shutdown does nothing) leaves the pools as they were. NATGRAD_PARK_OPENBLAS=0 turns
// all of it off. Parking is the kernel's decision, not parallel_for's: a short region just before an
// OpenBLAS call (the finiteness scan of its inputs, choleskySolve's copy of K) must leave OpenBLAS's threads
// as they are, or that call starts them again (measured: gemm at M = 1024 through OpenBLAS fell to 0.71 of
// its ceiling when every input scan parked them).
#pragma once
#include <algorithm>
#include <cstdint>
#include <functional>
#include <mutex>

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

// fn(i0, i1) over consecutive blocks of `count` items (samples, seed rows) of `elements_each` elements each, a
// block at least 32 Ki elements, so that short passes stay on one thread. The blocks depend on the shape
// only: a kernel whose blocks write disjoint outputs gives the same bits for any thread count.
template <class F>
void parallel_blocks(int64_t count, int64_t elements_each, F fn) {
  constexpr int64_t kBlockElements = int64_t(1) << 15;
  const int64_t per = std::max<int64_t>(1, std::min(count, kBlockElements / std::max<int64_t>(1, elements_each)));
  const int64_t blocks = (count + per - 1) / per;
  const auto run = [&](int64_t b) { fn(b * per, std::min(count, (b + 1) * per)); };
  if (blocks == 1)
    run(0);
  else
    parallel_for(blocks, run);
}

// OpenBLAS calls made from several threads at once are not bitwise reproducible (cpu_backend.cc), so
// every OpenBLAS call natgrad makes holds this lock, which also sets OpenBLAS's thread count to threads().
std::mutex& openblas_mutex();
class OpenBlasLock {
 public:
  OpenBlasLock();
  ~OpenBlasLock();
  OpenBlasLock(const OpenBlasLock&) = delete;
  OpenBlasLock& operator=(const OpenBlasLock&) = delete;

 private:
  std::lock_guard<std::mutex> lock_;
};

// Gives OpenBLAS's pool the short timeout (see above), unless the user chose one or turned this off; once,
// from the addon's initialisation on the main thread (it sets and unsets an environment variable).
void configure_openblas_threads();
// Parks OpenBLAS's worker threads if an OpenBLAS call may have left them spinning and parking is the mode
// (see above); true if it did. natgrad's own kernels call it on entry (a no-op, one atomic load, when nothing is
// awake).
bool park_openblas_threads();
// What is done about OpenBLAS's idle threads: "short timeout (…)", "blas_thread_shutdown_" (parking), "off
// (NATGRAD_PARK_OPENBLAS=0)" or "unavailable (…)"; and the number of times it parked them in this process.
const char* openblas_parking();
uint64_t openblas_parks();

}  // namespace natgrad::cpu
