// gram: K = Jᵀ J (J [P,M]) or K = J Jᵀ (J [M,P]): one triangle, then mirrored so the caller gets the
// full symmetric matrix. The triangle comes from OpenBLAS's ssyrk, or from natgrad's gemm_nt (lower
// part only) where use_own_gemm() says natgrad's products are the faster ones — the same rule as gemm
// and the Cholesky (gemm_nt.h), so that `natgrad info` has one answer for which code runs.
#include <cblas.h>

#include <algorithm>

#include "cpu_kernels.h"
#include "gemm_nt.h"

namespace natgrad::cpu {

// K[M,M]: lower ← upperᵀ, in T×T tiles. Each row segment of the lower
// triangle is written contiguously and its values are read down a column of
// the upper one: strided loads keep many cache misses in flight, while the
// strided stores of the opposite order (one row of K, i.e. one page for
// M ≥ 1024, per element) stall on every miss — 4–5× slower at M ≥ 1024.
template <class T_>
static void symmetrize_upper_t(T_* K, int64_t M) {
  const int64_t T = 64;
  for (int64_t i0 = 0; i0 < M; i0 += T) {
    const int64_t i1 = std::min(i0 + T, M);
    for (int64_t j = i0 + 1; j < M; ++j) {  // row j of the lower triangle, columns [i0, min(i1, j))
      T_* __restrict dst = K + j * M;
      const T_* src = K + j;  // src[i·M] = K[i, j]
      const int64_t e = std::min(i1, j);
      for (int64_t i = i0; i < e; ++i) dst[i] = src[i * M];
    }
  }
}

void symmetrize_upper(float* K, int64_t M) { symmetrize_upper_t(K, M); }
void symmetrize_upper(double* K, int64_t M) { symmetrize_upper_t(K, M); }

void gram(const float* J, int64_t P, int64_t M, bool samples_major, bool accumulate, float* K) {
  // samples_major: J is [M,P], K = J Jᵀ; else J is [P,M], K = Jᵀ J. accumulate: β = 1 on K's upper triangle,
  // which a symmetric K already holds.
  cblas_ssyrk(CblasRowMajor, CblasUpper, samples_major ? CblasNoTrans : CblasTrans, (int)M, (int)P, 1.0f, J,
              samples_major ? (int)P : (int)M, accumulate ? 1.0f : 0.0f, K, (int)M);
  symmetrize_upper(K, M);
}

void gram_own(const float* J, int64_t P, int64_t M, bool samples_major, bool accumulate, float* K) {
  // Row (i) of the M × P operand: Jᵀ's row i is J's column i (J [P,M]: element (i, p) at p·M + i), or
  // J's row i (J [M,P]). gemm_nt's column-major lower triangle C[i + j·M], i ≥ j, is row-major K's
  // upper triangle K[j, i]; symmetrize_upper completes it.
  const View X = samples_major ? View{J, P, 1} : View{J, 1, M};
  gemm_nt(M, M, P, 1.0f, X, X, accumulate ? 1.0f : 0.0f, K, M, Part::lower);
  symmetrize_upper(K, M);
}

// float64: OpenBLAS's dsyrk, mirrored.
void gram64(const double* J, int64_t P, int64_t M, bool samples_major, bool accumulate, double* K) {
  cblas_dsyrk(CblasRowMajor, CblasUpper, samples_major ? CblasNoTrans : CblasTrans, (int)M, (int)P, 1.0, J,
              samples_major ? (int)P : (int)M, accumulate ? 1.0 : 0.0, K, (int)M);
  symmetrize_upper(K, M);
}

}  // namespace natgrad::cpu
