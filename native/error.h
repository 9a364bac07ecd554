// natgrad::Error — a failure inside a kernel, carried to JS as a named error.
// Kernels throw it (never abort); addon.cc turns it into a JS Error with `code`
// (and `column` / `index` when they are known).
#pragma once
#include <cstdint>
#include <string>

namespace natgrad {

struct Error {
  std::string code;                                 // e.g. "ERR_NOT_POSITIVE_DEFINITE"
  std::string message;                              // human-readable, names the argument where there is one
  int64_t column = -1;                              // 1-based LAPACK column of a failed factorisation, else -1
  int64_t index = -1;                               // which matrix of a batch failed, else -1
  int64_t bytes_needed = -1, bytes_available = -1;  // ERR_OUT_OF_MEMORY: what the call needs and what there is
};

[[noreturn]] inline void fail(const std::string& code, const std::string& message, int64_t column = -1,
                              int64_t index = -1) {
  throw Error{code, message, column, index};
}

}  // namespace natgrad
