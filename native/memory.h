// How much memory a call may take, checked before it allocates anything (sharp's rule: refuse on
// the main thread with a reason, never let the kernel be OOM-killed halfway).
//   available = min(system, limit)
//   system    = the cgroup's limit − its usage (+ its reclaimable page cache) where a limit is set,
//               and MemAvailable of /proc/meminfo otherwise (the smaller of the two when both exist)
//   limit     = the user's cap: NATGRAD_MAX_MEMORY (bytes, or with a K/M/G/T suffix) or setMemoryLimit()
// A call needing ≥ kCheckBytes compares its bytes with `available` and throws ERR_OUT_OF_MEMORY
// naming both; smaller calls skip the check (reading /proc costs ~20 µs, the tiny-call budget is 2 µs).
#pragma once
#include <cstdint>
#include <string>

namespace natgrad {

constexpr int64_t kCheckBytes = int64_t(16) << 20;
constexpr int64_t kNoLimit = INT64_MAX;

struct MemoryInfo {
  int64_t available = 0;     // bytes a call may allocate now
  int64_t system = 0;        // what the machine or the cgroup has free
  int64_t limit = kNoLimit;  // the user's cap (kNoLimit: none)
  std::string source;        // where `system` came from, e.g. "cgroup v2 memory.max" or "/proc/meminfo MemAvailable"
};

MemoryInfo memory_info(int64_t limit);

// NATGRAD_MAX_MEMORY parsed: bytes, kNoLimit when unset; −1 when it is set but not a size.
int64_t memory_limit_from_env();

// Throws ERR_OUT_OF_MEMORY when `bytes` ≥ kCheckBytes exceed what is available:
// "<fn>: needs 8.59 GB (<what>) but 6.10 GB is available (cgroup v1 …; NATGRAD_MAX_MEMORY …)".
void require_memory(const std::string& fn, int64_t bytes, const std::string& what, int64_t limit);

// "8.59 GB"
std::string bytes_text(int64_t bytes);

// The user's cap for the kernel calls this thread makes while it lives (set per call by addon.cc from
// the calling environment), for checks a kernel makes itself after its first (pinvSolve's retry).
class CallMemoryLimit {
 public:
  explicit CallMemoryLimit(int64_t limit);
  ~CallMemoryLimit();
  CallMemoryLimit(const CallMemoryLimit&) = delete;
  CallMemoryLimit& operator=(const CallMemoryLimit&) = delete;
  static int64_t current();  // kNoLimit outside a call

 private:
  int64_t previous_;
};

}  // namespace natgrad
