// The worker pool behind parallel_for (see parallel.h).
#include "parallel.h"

#include <cblas.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

// OpenBLAS's shutdown of its thread pool (blas_server.c; pthreads builds) and its reading of the OPENBLAS_*
// environment variables (openblas_env.c), weak: absent in some builds.
extern "C" int blas_thread_shutdown_(void) __attribute__((weak));
extern "C" void openblas_read_env(void) __attribute__((weak));

namespace natgrad::cpu {

namespace {
thread_local int t_call_threads = 0;  // set by CallThreads for the calls of one environment
}  // namespace

int default_threads() {
  static const int n = [] {
    const int t = openblas_get_num_threads();
    return t < 1 ? 1 : t;
  }();
  return n;
}

int threads() { return t_call_threads > 0 ? t_call_threads : default_threads(); }

CallThreads::CallThreads(int n) : previous_(t_call_threads) { t_call_threads = n; }
CallThreads::~CallThreads() { t_call_threads = previous_; }

std::mutex& openblas_mutex() {
  static std::mutex* m = new std::mutex;  // never destroyed: a worker may outlive static destructors
  return *m;
}

namespace {
std::atomic<bool> g_openblas_awake{false};  // an OpenBLAS call on > 1 thread since the last park
std::atomic<uint64_t> g_parks{0};
thread_local bool t_openblas_held = false;  // this thread holds openblas_mutex() (an OpenBlasLock)

// What natgrad does about OpenBLAS's idle workers (parallel.h): give them a short timeout, park them, or
// leave them be. Decided once, from the environment at load.
enum class Idle { short_timeout, park, off, unavailable };
Idle idle_mode() {
  static const Idle mode = [] {
    const char* v = std::getenv("NATGRAD_PARK_OPENBLAS");
    if (v && std::strcmp(v, "0") == 0) return Idle::off;
    if (blas_thread_shutdown_ == nullptr) return Idle::unavailable;
    // a timeout the user chose is theirs: natgrad keeps it and parks the spinning threads instead
    if (std::getenv("OPENBLAS_THREAD_TIMEOUT") != nullptr || openblas_read_env == nullptr) return Idle::park;
    return Idle::short_timeout;
  }();
  return mode;
}

void park_locked() {
  blas_thread_shutdown_();
  g_openblas_awake.store(false, std::memory_order_relaxed);
  g_parks.fetch_add(1, std::memory_order_relaxed);
}
}  // namespace

void configure_openblas_threads() {
  if (idle_mode() != Idle::short_timeout) return;
  static std::once_flag once;
  std::call_once(once, [] {
    std::lock_guard<std::mutex> lock(openblas_mutex());
    // OpenBLAS reads its timeout when its pool starts (blas_thread_init): set the variable, let OpenBLAS read
    // it, and take it out of the environment again (child processes, e.g. a benchmark's own OpenBLAS program,
    // keep the default); then end the pool that started at load, so that the next call starts it anew.
    setenv("OPENBLAS_THREAD_TIMEOUT", "20", 1);  // 2^20 cycles (OpenBLAS accepts 4 … 30)
    openblas_read_env();
    unsetenv("OPENBLAS_THREAD_TIMEOUT");
    blas_thread_shutdown_();
  });
}

OpenBlasLock::OpenBlasLock() : lock_(openblas_mutex()) {
  t_openblas_held = true;
  const int want = threads();
  if (openblas_get_num_threads() != want) openblas_set_num_threads(want);
  // set before the call: a kernel inside this lock's scope (the recursive Cholesky) parks what the
  // call before it left spinning
  if (want > 1) g_openblas_awake.store(true, std::memory_order_relaxed);
}
OpenBlasLock::~OpenBlasLock() { t_openblas_held = false; }

bool park_openblas_threads() {
  if (!g_openblas_awake.load(std::memory_order_relaxed) || idle_mode() != Idle::park) return false;
  if (t_openblas_held) {  // this thread holds the lock: no OpenBLAS call is running
    park_locked();
    return true;
  }
  // another thread in an OpenBLAS call: its workers are busy, not spinning; leave them
  std::unique_lock<std::mutex> lock(openblas_mutex(), std::try_to_lock);
  if (!lock.owns_lock()) return false;
  if (!g_openblas_awake.load(std::memory_order_relaxed)) return false;
  park_locked();
  return true;
}

const char* openblas_parking() {
  switch (idle_mode()) {
    case Idle::short_timeout:
      return "short timeout (OpenBLAS's workers sleep 2^20 cycles, ~0.4 ms, after a call instead of 2^28; "
             "natgrad's after 100 µs)";
    case Idle::park: return "blas_thread_shutdown_";
    case Idle::off: return "off (NATGRAD_PARK_OPENBLAS=0)";
    default: return "unavailable (this OpenBLAS has no blas_thread_shutdown_)";
  }
}
uint64_t openblas_parks() { return g_parks.load(std::memory_order_relaxed); }

namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Set while this thread runs tasks of a region: a parallel_for inside a task runs serially (the pool is
// taken, and try_lock on a mutex this thread already holds would be undefined).
thread_local bool t_in_region = false;

class Pool {
 public:
  static Pool& instance() {
    static Pool* pool = new Pool;  // never destroyed: workers are detached and may outlive static destructors
    return *pool;
  }

  void run(int64_t count, const std::function<void(int64_t)>& fn) {
    const int want = (int)std::min<int64_t>(threads(), count);
    if (want <= 1 || t_in_region) {
      for (int64_t t = 0; t < count; ++t) fn(t);
      return;
    }
    std::unique_lock<std::mutex> region(region_, std::try_to_lock);
    if (!region.owns_lock()) {
      for (int64_t t = 0; t < count; ++t) fn(t);
      return;
    }
    grow(want - 1);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      fn_ = &fn;
      count_ = count;
      next_.store(0);
      helpers_ = want - 1;
      busy_.store(want - 1);
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    drain();
    spin_until([&] { return busy_.load(std::memory_order_acquire) == 0; });
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [&] { return busy_.load() == 0; });
    fn_ = nullptr;
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
  }

 private:
  // Take tasks until none are left. A task that throws (std::bad_alloc) ends
  // the region early; the first exception is rethrown on the caller.
  void drain() {
    t_in_region = true;
    try {
      for (int64_t t; (t = next_.fetch_add(1)) < count_;) (*fn_)(t);
      t_in_region = false;
    } catch (...) {
      t_in_region = false;
      next_.store(count_);
      std::lock_guard<std::mutex> lock(mutex_);
      if (!error_) error_ = std::current_exception();
    }
  }

  void grow(int workers) {
    while ((int)workers_.size() < workers) {
      const int id = (int)workers_.size();
      workers_.emplace_back([this, id] { work(id); });
      workers_.back().detach();
    }
  }

  void work(int id) {
    uint64_t seen = 0;
    for (;;) {
      spin_until([&] { return generation_.load(std::memory_order_acquire) != seen; });
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return generation_.load() != seen; });
        seen = generation_.load();
        if (id >= helpers_) continue;  // this region asked for fewer helpers
      }
      drain();
      if (busy_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard<std::mutex> lock(mutex_);
        done_.notify_one();
      }
    }
  }

  // Before blocking on a condition variable, a worker waiting for the next region and the caller waiting for
  // the end of one spin for up to kSpinMicros. Waking a blocked thread took tens of µs here (a 2-core KVM
  // guest), as long as a short region: a 256 × 256 × 784 gemm_nt (8 regions) ran no faster on 2 threads than
  // on 1 (0.99 ms), and in 0.70 ms with the spin; a step's layerGramSum after idling 150 ms went from 30 to
  // 21–22 ms. The spin is bounded: an idle pool costs nothing after 100 µs.
  static constexpr int64_t kSpinMicros = 100;
  template <class F>
  static void spin_until(F done) {
    const auto t0 = std::chrono::steady_clock::now();
    while (!done()) {
      for (int i = 0; i < 16; ++i) cpu_relax();
      if (std::chrono::steady_clock::now() - t0 > std::chrono::microseconds(kSpinMicros)) return;
    }
  }

  std::mutex region_;  // one parallel region at a time
  std::mutex mutex_;   // guards the fields below
  std::condition_variable wake_, done_;
  std::vector<std::thread> workers_;
  const std::function<void(int64_t)>* fn_ = nullptr;
  int64_t count_ = 0;
  std::atomic<int64_t> next_{0};
  int helpers_ = 0;
  std::atomic<int> busy_{0};
  std::atomic<uint64_t> generation_{0};
  std::exception_ptr error_;
};

}  // namespace

void parallel_for(int64_t count, const std::function<void(int64_t)>& fn) {
  if (count <= 0) return;
  Pool::instance().run(count, fn);
}

}  // namespace natgrad::cpu
