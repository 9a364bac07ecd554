// Scratch buffers for the CPU kernels and the addon's Promise-form copies, recycled between calls.
//
// A kernel that allocates a large work buffer pays a page fault on the first
// touch of every 4 KiB page: measured on the 2-core KVM guest natgrad is
// benchmarked on, ~0.4 ms per MiB, i.e. ~25 ms for the 64 MiB BBᵀ of a 4096²
// layerGram (a fifth of the call) or the copy of K in a 4096² choleskySolve.
// glibc recycles freed blocks below its mmap threshold (adaptive, at most
// 32 MiB) but hands larger ones back to the OS, so every call faults them in
// again. Kernels therefore take big scratch from this pool: a released buffer
// is kept for the next call instead of being freed.
//
// Bounds: only requests of at least kMinBytes go through the pool; it keeps at
// most kSlots buffers and kMaxBytes in all (larger buffers are freed at once),
// most recently released first. The memory it holds is thus at most a small
// multiple of the size of the caller's own K. Buffers are handed out
// exclusively (a mutex guards the list), so concurrent Promise-form calls on
// the libuv pool are safe; contents are unspecified (kernels overwrite what
// they read). Allocation failure throws std::bad_alloc like `new`, which
// addon.cc reports as ERR_OUT_OF_MEMORY.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <new>
#include <vector>

namespace natgrad {

class ScratchPool {
 public:
  static constexpr size_t kMinBytes = size_t(1) << 20;  // 1 MiB: smaller blocks stay with malloc
  static constexpr size_t kMaxBytes = size_t(1) << 29;  // 512 MiB kept at most
  static constexpr size_t kSlots = 4;

  static ScratchPool& instance() {
    static ScratchPool* pool = new ScratchPool;  // never destroyed: a kernel may outlive static destructors
    return *pool;
  }

  // A block of at least `bytes` bytes (its capacity is returned in *capacity).
  void* take(size_t bytes, size_t* capacity) {
    if (bytes >= kMinBytes) {
      std::lock_guard<std::mutex> lock(mutex_);
      // the smallest cached block that is big enough
      size_t best = cached_.size();
      for (size_t i = 0; i < cached_.size(); ++i)
        if (cached_[i].bytes >= bytes && (best == cached_.size() || cached_[i].bytes < cached_[best].bytes)) best = i;
      if (best != cached_.size()) {
        Block b = cached_[best];
        cached_.erase(cached_.begin() + (std::ptrdiff_t)best);
        held_ -= b.bytes;
        *capacity = b.bytes;
        return b.data;
      }
    }
    void* p = std::malloc(bytes > 0 ? bytes : 1);
    if (!p) throw std::bad_alloc();
    *capacity = bytes;
    return p;
  }

  void give(void* data, size_t bytes) {
    if (!data) return;
    if (bytes < kMinBytes || bytes > kMaxBytes) {
      std::free(data);
      return;
    }
    std::vector<void*> drop;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      cached_.insert(cached_.begin(), Block{data, bytes});  // most recent first
      held_ += bytes;
      while (cached_.size() > kSlots || held_ > kMaxBytes) {
        held_ -= cached_.back().bytes;
        drop.push_back(cached_.back().data);
        cached_.pop_back();
      }
    }
    for (void* p : drop) std::free(p);
  }

 private:
  struct Block {
    void* data;
    size_t bytes;
  };
  std::mutex mutex_;
  std::vector<Block> cached_;
  size_t held_ = 0;
};

// RAII: n elements of T from the pool, given back on destruction. Contents unspecified.
template <class T>
class Scratch {
 public:
  explicit Scratch(int64_t n) {
    if (n < 0 || (uint64_t)n > SIZE_MAX / sizeof(T)) throw std::bad_alloc();
    data_ = static_cast<T*>(ScratchPool::instance().take((size_t)n * sizeof(T), &bytes_));
  }
  ~Scratch() { ScratchPool::instance().give(data_, bytes_); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  T* get() const { return data_; }
  T& operator[](int64_t i) const { return data_[i]; }

 private:
  T* data_ = nullptr;
  size_t bytes_ = 0;
};

}  // namespace natgrad
