// potrf_recursive: the float32 Cholesky factor A = L Lᵀ (column-major, lower)
// by recursive halving, so that almost every flop is a matrix product
// (gemm_nt), as in ReLAPACK / Gustavson's recursive Cholesky:
//
//   [A11  .  ]   [L11  0 ] [L11ᵀ L21ᵀ]      L11 = chol(A11)
//   [A21 A22 ] = [L21 L22] [ 0   L22ᵀ]  ⇒   L21 = A21 L11⁻ᵀ          (trsm, recursive)
//                                           L22 = chol(A22 − L21 L21ᵀ)  (gemm_nt, lower)
//
// and the triangular solve X Lᵀ = B likewise:
//
//   [X1 X2] [La  0 ]ᵀ = [B1 B2]   ⇒   X1 = B1 La⁻ᵀ,  X2 = (B2 − X1 Lbᵀ) Lc⁻ᵀ
//           [Lb  Lc]
//
// Leaves: an unblocked Cholesky (LAPACK's spotf2) below kLeafPotrf columns, so
// no OpenBLAS call is left in the factorisation; below kLeafTrsm columns a
// substitution vectorised across 16 rows at a time (on AVX-512 with the
// columns held in registers: the loop version took ~11% of a factorisation). cholesky_solve.cc uses this
// when use_own_cholesky() (see gemm_nt.h); the failing leading minor is reported as
// LAPACK would (info = its order).
#include <algorithm>
#include <cmath>
#include <array>
#include <cstring>
#include <utility>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "cpu_kernels.h"
#include "clones.h"
#include "gemm_nt.h"
#include "parallel.h"

namespace natgrad::cpu {

namespace {

constexpr int64_t kLeafPotrf = 64;
constexpr int64_t kLeafTrsm = 16;

// Split point: half of n rounded up to a multiple of 32 (the micro-kernel's rows), below n.
int64_t split(int64_t n) {
  const int64_t h = (n / 2 + 31) / 32 * 32;
  return h < n ? h : n / 2;
}

// B[m,n] ← B · L⁻ᵀ for L [n,n] lower (n ≤ kLeafTrsm), column-major: column j of X is
// (b_j − Σ_{i<j} L[j,i] x_i) / L[j,j]. 16 rows at a time, held in x[·][16].
NATGRAD_CLONES_HASWELL void trsm_leaf_portable(int64_t m, int64_t n, const float* L, int64_t ldl, float* B,
                                               int64_t ldb) {
  for (int64_t r0 = 0; r0 < m; r0 += 16) {
    const int64_t rows = std::min<int64_t>(16, m - r0);
    float x[kLeafTrsm][16];
    for (int64_t j = 0; j < n; ++j)
      for (int64_t r = 0; r < 16; ++r) x[j][r] = r < rows ? B[r0 + r + j * ldb] : 0.0f;
    for (int64_t j = 0; j < n; ++j) {
      for (int64_t i = 0; i < j; ++i) {
        const float l = L[j + i * ldl];
        for (int64_t r = 0; r < 16; ++r) x[j][r] -= l * x[i][r];
      }
      const float d = L[j + j * ldl];
      for (int64_t r = 0; r < 16; ++r) x[j][r] /= d;
    }
    for (int64_t j = 0; j < n; ++j)
      for (int64_t r = 0; r < rows; ++r) B[r0 + r + j * ldb] = x[j][r];
  }
}

#if defined(__x86_64__)
// The same with the N columns of 16 rows in N registers (N a constant, so the loops unroll).
template <int N>
__attribute__((target("avx512f"))) void trsm_leaf_avx512(int64_t m, const float* L, int64_t ldl, float* B,
                                                         int64_t ldb) {
  for (int64_t r0 = 0; r0 < m; r0 += 16) {
    const int64_t rows = std::min<int64_t>(16, m - r0);
    const __mmask16 mask = rows == 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << rows) - 1);
    __m512 x[N];
#pragma GCC unroll 16
    for (int j = 0; j < N; ++j) x[j] = _mm512_maskz_loadu_ps(mask, B + r0 + j * ldb);
#pragma GCC unroll 16
    for (int j = 0; j < N; ++j) {
#pragma GCC unroll 16
      for (int i = 0; i < j; ++i) x[j] = _mm512_fnmadd_ps(_mm512_set1_ps(L[j + i * ldl]), x[i], x[j]);
      x[j] = _mm512_div_ps(x[j], _mm512_set1_ps(L[j + j * ldl]));
    }
#pragma GCC unroll 16
    for (int j = 0; j < N; ++j) _mm512_mask_storeu_ps(B + r0 + j * ldb, mask, x[j]);
  }
}

template <int... Ns>
constexpr auto leaf_table(std::integer_sequence<int, Ns...>) {
  return std::array<void (*)(int64_t, const float*, int64_t, float*, int64_t), sizeof...(Ns)>{
      &trsm_leaf_avx512<Ns + 1>...};
}
#endif

void trsm_leaf(int64_t m, int64_t n, const float* L, int64_t ldl, float* B, int64_t ldb) {
#if defined(__x86_64__)
  static const bool avx512 = std::strcmp(gemm_nt_kernel(), "avx512") == 0;
  if (avx512) {
    static constexpr auto table = leaf_table(std::make_integer_sequence<int, kLeafTrsm>{});
    table[n - 1](m, L, ldl, B, ldb);
    return;
  }
#endif
  trsm_leaf_portable(m, n, L, ldl, B, ldb);
}

// B[m,n] ← B · L⁻ᵀ, L [n,n] lower.
void trsm_rec(int64_t m, int64_t n, const float* L, int64_t ldl, float* B, int64_t ldb) {
  if (n <= kLeafTrsm) {
    trsm_leaf(m, n, L, ldl, B, ldb);
    return;
  }
  const int64_t n1 = split(n), n2 = n - n1;
  trsm_rec(m, n1, L, ldl, B, ldb);  // X1 = B1 La⁻ᵀ
  // B2 −= X1 Lbᵀ, Lb = L[n1:, :n1]
  gemm_nt(m, n2, n1, -1.0f, View{B, 1, ldb}, View{L + n1, 1, ldl}, 1.0f, B + n1 * ldb, ldb);
  trsm_rec(m, n2, L + n1 + n1 * ldl, ldl, B + n1 * ldb, ldb);  // X2 = B2 Lc⁻ᵀ
}

// A[n,n] ← L (n ≤ kLeafPotrf), unblocked and right-looking, as LAPACK's spotf2: column j's pivot is
// what remains of A[j,j] after the columns before it; a pivot that is not > 0 (or NaN) stops with
// info = j + 1. The column scaling and the rank-1 update run down contiguous columns.
NATGRAD_CLONES_AVX512_HASWELL int potrf_leaf(int64_t n, float* A, int64_t lda) {
  for (int64_t j = 0; j < n; ++j) {
    float* aj = A + j * lda;
    const float pivot = aj[j];
    if (!(pivot > 0.0f)) return (int)j + 1;
    const float d = std::sqrt(pivot);
    aj[j] = d;
    for (int64_t i = j + 1; i < n; ++i) aj[i] /= d;
    for (int64_t c = j + 1; c < n; ++c) {  // A[c:, c] −= L[c:, j]·L[c, j]
      const float l = aj[c];
      float* ac = A + c * lda;
      for (int64_t i = c; i < n; ++i) ac[i] -= aj[i] * l;
    }
  }
  return 0;
}

// trsm_rec over row blocks on parallel_for's threads: the rows of X Lᵀ = B are independent, so each
// block runs the whole recursion (leaves included) on its own, with no synchronisation inside; every
// row is computed by the same operations whatever the split (results do not depend on the thread count).
void trsm_parallel(int64_t m, int64_t n, const float* L, int64_t ldl, float* B, int64_t ldb) {
  const int64_t t = threads();
  if (t <= 1 || (double)m * (double)n * (double)n < 4e6) {
    trsm_rec(m, n, L, ldl, B, ldb);
    return;
  }
  park_openblas_threads();                                          // natgrad's own kernel (parallel.h)
  const int64_t rows = ((m + 4 * t - 1) / (4 * t) + 15) / 16 * 16;  // ~4 blocks a thread, whole 16-row leaves
  parallel_for((m + rows - 1) / rows, [&](int64_t b) {
    const int64_t r0 = b * rows;
    trsm_rec(std::min(rows, m - r0), n, L, ldl, B + r0, ldb);
  });
}

}  // namespace

int potrf_recursive(int64_t n, float* A, int64_t lda) {
  if (n <= kLeafPotrf) return potrf_leaf(n, A, lda);
  const int64_t n1 = split(n), n2 = n - n1;
  float* A21 = A + n1;
  float* A22 = A + n1 + n1 * lda;
  int info = potrf_recursive(n1, A, lda);
  if (info != 0) return info;
  trsm_parallel(n2, n1, A, lda, A21, lda);
  gemm_nt(n2, n2, n1, -1.0f, View{A21, 1, lda}, View{A21, 1, lda}, 1.0f, A22, lda, Part::lower);
  info = potrf_recursive(n2, A22, lda);
  return info > 0 ? info + (int)n1 : info;
}

}  // namespace natgrad::cpu
