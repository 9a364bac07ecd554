// The numerical policy every backend applies, written once: how a failed factorisation is reported,
// and which eigenvalues the pseudo-inverse keeps. The CPU and CUDA backends differ in their kernels
// only; what they decide and say is here.
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "error.h"

namespace natgrad::policy {

// choleskySolve: K + λI with a non-positive pivot at the leading minor of order `order` (LAPACK's info).
[[noreturn]] inline void fail_cholesky_not_positive_definite(int64_t order) {
  fail("ERR_NOT_POSITIVE_DEFINITE",
       "choleskySolve: K + damping·I is not positive definite (the leading minor of order " + std::to_string(order) +
           " is not positive); increase damping or use pinvSolve",
       order);
}

// batchedGramInverse: G_bᵀG_b + λI of matrix `index` failed at 1-based column `column`.
[[noreturn]] inline void fail_batched_not_positive_definite(int64_t index, int64_t column) {
  fail("ERR_NOT_POSITIVE_DEFINITE",
       "batchedGramInverse: G[" + std::to_string(index) + "]ᵀG[" + std::to_string(index) +
           "] + damping·I is not positive definite (column " + std::to_string(column) +
           "); G has dependent columns (rows < k?) — use damping > 0",
       column, index);
}

// pinvSolve's relative cutoff: rcond as given, or M·ε (the rounding of an M-term sum in K's own type:
// ε₃₂ for a float32 K, ε₆₄ for a float64 one) when rcond ≤ 0. lib/optim/exact.ts uses the same default.
inline double pinv_rcond(double rcond, int64_t M, bool k_is_f64 = false) {
  if (rcond > 0) return rcond;
  return (double)M *
         (k_is_f64 ? std::numeric_limits<double>::epsilon() : (double)std::numeric_limits<float>::epsilon());
}

// Whether the pseudo-inverse keeps eigenvalue e: |e| > rcond·max|e| (and nothing is kept of a zero matrix).
template <class T>
inline bool pinv_keeps(T e, T emax, T cutoff) {
  return emax > 0 && std::fabs(e) > cutoff;
}

}  // namespace natgrad::policy
