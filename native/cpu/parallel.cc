// The worker pool behind parallel_for (see parallel.h).
#include "parallel.h"

#include <cblas.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

// OpenBLAS's shutdown of its thread pool (blas_server.c; pthreads builds), weak: absent in some builds.
extern "C" int blas_thread_shutdown_(void) __attribute__((weak));

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

bool parking_enabled() {
  static const bool on = [] {
    const char* v = std::getenv("NATGRAD_PARK_OPENBLAS");
    return blas_thread_shutdown_ != nullptr && !(v && std::strcmp(v, "0") == 0);
  }();
  return on;
}

void park_locked() {
  blas_thread_shutdown_();
  g_openblas_awake.store(false, std::memory_order_relaxed);
  g_parks.fetch_add(1, std::memory_order_relaxed);
}
}  // namespace

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
  if (!g_openblas_awake.load(std::memory_order_relaxed) || !parking_enabled()) return false;
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
  if (blas_thread_shutdown_ == nullptr) return "unavailable (this OpenBLAS has no blas_thread_shutdown_)";
  return parking_enabled() ? "blas_thread_shutdown_" : "off (NATGRAD_PARK_OPENBLAS=0)";
}
uint64_t openblas_parks() { return g_parks.load(std::memory_order_relaxed); }

namespace {

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
      busy_ = want - 1;
      ++generation_;
    }
    wake_.notify_all();
    drain();
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [&] { return busy_ == 0; });
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
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return generation_ != seen; });
        seen = generation_;
        if (id >= helpers_) continue;  // this region asked for fewer helpers
      }
      drain();
      std::lock_guard<std::mutex> lock(mutex_);
      if (--busy_ == 0) done_.notify_one();
    }
  }

  std::mutex region_;  // one parallel region at a time
  std::mutex mutex_;   // guards the fields below
  std::condition_variable wake_, done_;
  std::vector<std::thread> workers_;
  const std::function<void(int64_t)>* fn_ = nullptr;
  int64_t count_ = 0;
  std::atomic<int64_t> next_{0};
  int helpers_ = 0, busy_ = 0;
  uint64_t generation_ = 0;
  std::exception_ptr error_;
};

}  // namespace

void parallel_for(int64_t count, const std::function<void(int64_t)>& fn) {
  if (count <= 0) return;
  Pool::instance().run(count, fn);
}

}  // namespace natgrad::cpu
