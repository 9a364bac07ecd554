// pinv_solve: X = (K + λI)⁺ R for symmetric K, by K + λI = V diag(e) Vᵀ (syevd):
//   X = V diag(1/e_i if |e_i| > rcond·max|e| else 0) Vᵀ R,  rank = #kept.
// rcond ≤ 0 means the default M·ε₃₂ (ε₃₂ = 2⁻²³): K arrives in float32, so an
// eigenvalue below M·ε₃₂·max|e| cannot be told from the rounding of K itself,
// whatever precision the factorisation then runs in.
#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <type_traits>

#include "../error.h"
#include "../policy.h"
#include "cpu_kernels.h"
#include "lapack_types.h"
#include "../memory.h"

namespace natgrad::cpu {

int64_t syevd_lwork(int64_t n) { return n <= 1 ? 1 : 1 + 6 * n + 2 * n * n; }
static_assert(1 + 6 * kMaxSyevdOrder + 2 * kMaxSyevdOrder * kMaxSyevdOrder <= INT32_MAX &&
                  1 + 6 * (kMaxSyevdOrder + 1) + 2 * (kMaxSyevdOrder + 1) * (kMaxSyevdOrder + 1) > INT32_MAX,
              "kMaxSyevdOrder is the largest order whose syevd workspace fits LAPACK's int");

// The workspace sizes are computed here, not taken from LAPACK's query: ssyevd returns its query in
// a float, which rounds 1 + 6n + 2n² down for n ≥ 2,895 (LAPACK then refuses the workspace it asked
// for: "parameter number 8 had an illegal value"); the query's own value is used when it is larger
// (the optimal block size of ?sytrd for small n).
template <class T>
static int syevd_t(int n, T* a, T* w) {
  int info = 0, lwork = -1, liwork = -1, iw = 0;
  T wq = 0;
  if constexpr (std::is_same_v<T, float>)
    ssyevd_("V", "L", &n, a, &n, w, &wq, &lwork, &iw, &liwork, &info, 1, 1);
  else
    dsyevd_("V", "L", &n, a, &n, w, &wq, &lwork, &iw, &liwork, &info, 1, 1);
  if (info != 0) return info;
  const int64_t need = std::max<int64_t>(syevd_lwork(n), (int64_t)wq);
  lwork = (int)std::min<int64_t>(need, INT32_MAX);
  liwork = std::max(iw, n <= 1 ? 1 : 3 + 5 * n);
  std::unique_ptr<T[]> work(new T[lwork]);
  std::unique_ptr<int[]> iwork(new int[liwork]);
  if constexpr (std::is_same_v<T, float>)
    ssyevd_("V", "L", &n, a, &n, w, work.get(), &lwork, iwork.get(), &liwork, &info, 1, 1);
  else
    dsyevd_("V", "L", &n, a, &n, w, work.get(), &lwork, iwork.get(), &liwork, &info, 1, 1);
  return info;
}

template <>
int syevd<float>(int n, float* a, float* w) {
  return syevd_t<float>(n, a, w);
}
template <>
int syevd<double>(int n, double* a, double* w) {
  return syevd_t<double>(n, a, w);
}

// V, e, Rw, Tm, Xw and syevd's work and iwork, as pinv_solve_t allocates them.
int64_t pinv_solve_work_bytes(int64_t M, int64_t nrhs, Precision precision) {
  const int64_t t = precision == Precision::f64 ? 8 : 4;
  return t * (M * M + M + 3 * M * nrhs + syevd_lwork(M)) + 4 * (3 + 5 * M);
}

template <class T, class In>
static int64_t pinv_solve_t(const In* K, int64_t M, const In* R, int64_t nrhs, double lambda, double rcond, In* X) {
  std::unique_ptr<T[]> V(new T[M * M]);
  for (int64_t i = 0; i < M * M; ++i) V[i] = (T)K[i];
  for (int64_t i = 0; i < M; ++i) V[i * M + i] += (T)lambda;
  std::unique_ptr<T[]> e(new T[M]);
  const int info = syevd<T>((int)M, V.get(), e.get());
  if (info != 0)
    fail("ERR_LAPACK", "pinvSolve: the eigendecomposition did not converge (syevd info " + std::to_string(info) + ")");
  rcond = policy::pinv_rcond(rcond, M, sizeof(In) == 8);
  T emax = 0;
  for (int64_t i = 0; i < M; ++i) emax = std::max(emax, (T)std::fabs(e[i]));
  const T cutoff = (T)rcond * emax;
  // V is column-major with eigenvectors in columns; read row-major it is Vᵀ.
  std::unique_ptr<T[]> Rw(new T[M * nrhs]), Tm(new T[M * nrhs]), Xw(new T[M * nrhs]);
  for (int64_t i = 0; i < M * nrhs; ++i) Rw[i] = (T)R[i];
  gemm_rm(false, (int)M, (int)nrhs, (int)M, V.get(), Rw.get(), Tm.get());  // Tm = Vᵀ R
  int64_t rank = 0;
  for (int64_t i = 0; i < M; ++i) {
    const bool keep = policy::pinv_keeps(e[i], emax, cutoff);
    rank += keep;
    const T s = keep ? (T)1 / e[i] : (T)0;
    for (int64_t c = 0; c < nrhs; ++c) Tm[i * nrhs + c] *= s;
  }
  gemm_rm(true, (int)M, (int)nrhs, (int)M, V.get(), Tm.get(), Xw.get());  // X = V Tm
  for (int64_t i = 0; i < M * nrhs; ++i) X[i] = (In)Xw[i];
  return rank;
}

// A float32 ssyevd that does not converge is retried once in float64 (dsyevd).
// Seen with OpenBLAS 0.3.21's generic Prescott kernels on 2 threads: after some
// dsyevd calls, a later ssyevd can fail to converge on a benign matrix (reproduced
// in plain C against the same static library; not with 1 thread or the SkylakeX
// kernels). The retry only changes what would otherwise be an ERR_LAPACK error.
int64_t pinv_solve(const float* K, int64_t M, const float* R, int64_t nrhs, double lambda, double rcond,
                   Precision precision, float* X) {
  if (precision == Precision::f64) return pinv_solve_t<double>(K, M, R, nrhs, lambda, rcond, X);
  try {
    return pinv_solve_t<float>(K, M, R, nrhs, lambda, rcond, X);
  } catch (const Error& e) {
    if (e.code != "ERR_LAPACK") throw;
    require_memory("pinvSolve", pinv_solve_work_bytes(M, nrhs, Precision::f64),
                   "the float64 retry of a float32 eigendecomposition that did not converge",
                   CallMemoryLimit::current());
    return pinv_solve_t<double>(K, M, R, nrhs, lambda, rcond, X);
  }
}

// float64 arrays: dsyevd, and the default cutoff M·ε₆₄ (K's own rounding is float64's).
int64_t pinv_solve64(const double* K, int64_t M, const double* R, int64_t nrhs, double lambda, double rcond,
                     double* X) {
  return pinv_solve_t<double>(K, M, R, nrhs, lambda, rcond, X);
}

}  // namespace natgrad::cpu
