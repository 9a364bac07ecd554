// cholesky_solve: X = (K + λI)⁻¹ R via K + λI = L Lᵀ (potrf), then two
// triangular solves (potrs). The factorisation runs in float32 or, on request,
// float64 (K and R are widened, X rounded back).
//
// The factorisation is LAPACK's blocked right-looking algorithm written out
// over OpenBLAS calls, with block width NB:
//   for each block column j0:  A11 = L11 L11ᵀ   (potrf on the NB×NB diagonal block)
//                              L21 = A21 L11⁻ᵀ   (trsm)
//                              A22 -= L21 L21ᵀ   (syrk, lower)
// OpenBLAS 0.3.21's own spotrf does the same steps with a narrower block and
// more thread synchronisation: on 2 threads this is 7–28% faster for
// M = 768…4096 (generic Prescott kernels, bitwise the same factor there; with
// other kernel sets or one thread the factor can differ in the last bit, never
// between runs). The failing leading minor is reported as LAPACK would: the
// block's info plus its offset.
//
// In float32, when use_own_cholesky() (see gemm_nt.h: the auto rule) the factor
// comes from potrf_recursive instead, whose products run on natgrad's own
// AVX-512 kernel and whose bits do not depend on the thread count.
#include <algorithm>
#include <cmath>
#include <string>
#include <type_traits>

#include "../error.h"
#include "../policy.h"
#include "cpu_kernels.h"
#include "gemm_nt.h"
#include "lapack_types.h"
#include "parallel.h"
#include "../scratch.h"

namespace natgrad::cpu {

namespace {

constexpr int NB = 256;

// Column-major, lower: B[m,n] ← B · L⁻ᵀ for L [n,n]; C[m,m] −= A Aᵀ for A [m,k].
inline void trsm_rlt(int m, int n, const float* L, int ldl, float* B, int ldb) {
  cblas_strsm(CblasColMajor, CblasRight, CblasLower, CblasTrans, CblasNonUnit, m, n, 1.0f, L, ldl, B, ldb);
}
inline void trsm_rlt(int m, int n, const double* L, int ldl, double* B, int ldb) {
  cblas_dtrsm(CblasColMajor, CblasRight, CblasLower, CblasTrans, CblasNonUnit, m, n, 1.0, L, ldl, B, ldb);
}
inline void syrk_ln_minus(int m, int k, const float* A, int lda, float* C, int ldc) {
  cblas_ssyrk(CblasColMajor, CblasLower, CblasNoTrans, m, k, -1.0f, A, lda, 1.0f, C, ldc);
}
inline void syrk_ln_minus(int m, int k, const double* A, int lda, double* C, int ldc) {
  cblas_dsyrk(CblasColMajor, CblasLower, CblasNoTrans, m, k, -1.0, A, lda, 1.0, C, ldc);
}
inline void potrf_l(int n, float* A, int lda, int* info) { spotrf_("L", &n, A, &lda, info, 1); }
inline void potrf_l(int n, double* A, int lda, int* info) { dpotrf_("L", &n, A, &lda, info, 1); }

// A [n,n] column-major (lower triangle referenced) ← L. Returns LAPACK's info.
template <class T>
int blocked_potrf(int n, T* A) {
  for (int j0 = 0; j0 < n; j0 += NB) {
    const int jb = std::min(NB, n - j0);
    T* A11 = A + j0 + (size_t)j0 * n;
    int info = 0;
    potrf_l(jb, A11, n, &info);
    if (info != 0) return info > 0 ? info + j0 : info;
    const int m = n - j0 - jb;
    if (m == 0) break;
    T* A21 = A11 + jb;
    T* A22 = A21 + (size_t)jb * n;
    trsm_rlt(m, jb, A11, n, A21, n);
    syrk_ln_minus(m, jb, A21, n, A22, n);
  }
  return 0;
}

}  // namespace

// X = W⁻¹ R for W = K + λI holding its lower triangle (column-major; row-major upper), factored in place.
template <class T, class In>
static void factor_solve(T* W, int64_t M, const In* R, int64_t nrhs, In* X) {
  int info = 0;
  if constexpr (std::is_same_v<T, float>)
    info = use_own_cholesky() ? potrf_recursive(M, W, M) : blocked_potrf((int)M, W);
  else
    info = blocked_potrf((int)M, W);
  if (info > 0) policy::fail_cholesky_not_positive_definite(info);
  if (info < 0) fail("ERR_LAPACK", "choleskySolve: potrf rejected argument " + std::to_string(-info));
  // Right-hand sides column-major: Y[c·M + r] = R[r·nrhs + c].
  Scratch<T> Y(M * nrhs);
  for (int64_t r = 0; r < M; ++r)
    for (int64_t c = 0; c < nrhs; ++c) Y[c * M + r] = (T)R[r * nrhs + c];
  potrs((int)M, (int)nrhs, W, Y.get(), &info);
  if (info != 0) fail("ERR_LAPACK", "choleskySolve: potrs failed with info " + std::to_string(info));
  for (int64_t r = 0; r < M; ++r)
    for (int64_t c = 0; c < nrhs; ++c) X[r * nrhs + c] = (In)Y[c * M + r];
}

template <class T, class In>
static void cholesky_solve_t(const In* K, int64_t M, const In* R, int64_t nrhs, double lambda, In* X) {
  // W = K + λI. Row-major upper triangle == column-major lower ("L"), the only
  // part potrf/potrs reference (LAPACK: "the strictly upper triangular part of A
  // is not referenced" for UPLO = 'L'), so only that triangle is copied; the rest
  // of W is left as it is (scratch recycled between calls, see scratch.h).
  // The copy is split among natgrad's threads from 1 Mi elements (a 2304² kernel: ~2 ms on one thread).
  Scratch<T> W(M * M);
  constexpr int64_t kRows = 64;
  const auto copy_rows = [&](int64_t t) {
    for (int64_t i = t * kRows; i < std::min(M, (t + 1) * kRows); ++i) {
      const In* k = K + i * M;
      T* w = W.get() + i * M;
      for (int64_t j = i; j < M; ++j) w[j] = (T)k[j];
      w[i] += (T)lambda;
    }
  };
  const int64_t tasks = (M + kRows - 1) / kRows;
  // natgrad's own factorisation follows: park OpenBLAS's idle threads now, before the copy (parallel.h)
  if (std::is_same_v<T, float> && use_own_cholesky()) park_openblas_threads();
  if (M * M >= (int64_t(1) << 20))
    parallel_for(tasks, copy_rows);
  else
    for (int64_t t = 0; t < tasks; ++t) copy_rows(t);
  factor_solve<T>(W.get(), M, R, nrhs, X);
}

// The float32 solve factoring K itself (its upper triangle becomes the factor; exact_step.cc, whose K is its
// own): no M² copy, which at M = 2304 is 21 MB written and read again (2–3 ms of a 30 ms solve).
void cholesky_solve_in_place(float* K, int64_t M, const float* R, int64_t nrhs, double lambda, float* X) {
  if (use_own_cholesky()) park_openblas_threads();
  const float l = (float)lambda;
  for (int64_t i = 0; i < M; ++i) K[i * M + i] += l;
  factor_solve<float>(K, M, R, nrhs, X);
}

// W and Y, as cholesky_solve_t allocates them.
int64_t cholesky_solve_work_bytes(int64_t M, int64_t nrhs, Precision precision) {
  return (precision == Precision::f64 ? 8 : 4) * (M * M + M * nrhs);
}

void cholesky_solve(const float* K, int64_t M, const float* R, int64_t nrhs, double lambda, Precision precision,
                    float* X) {
  if (precision == Precision::f64)
    cholesky_solve_t<double>(K, M, R, nrhs, lambda, X);
  else
    cholesky_solve_t<float>(K, M, R, nrhs, lambda, X);
}

// float64 arrays: the factorisation in float64 (OpenBLAS's dpotrf blocks, dpotrs).
void cholesky_solve64(const double* K, int64_t M, const double* R, int64_t nrhs, double lambda, double* X) {
  cholesky_solve_t<double>(K, M, R, nrhs, lambda, X);
}

}  // namespace natgrad::cpu
