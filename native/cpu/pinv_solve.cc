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

#include "../error.h"
#include "cpu_kernels.h"
#include "lapack_types.h"

namespace natgrad::cpu {

template <>
int syevd<float>(int n, float* a, float* w) {
  int info = 0, lwork = -1, liwork = -1, iw = 0;
  float wq = 0;
  ssyevd_("V", "L", &n, a, &n, w, &wq, &lwork, &iw, &liwork, &info, 1, 1);
  if (info != 0) return info;
  lwork = (int)wq; liwork = iw;
  std::unique_ptr<float[]> work(new float[lwork]);
  std::unique_ptr<int[]> iwork(new int[liwork]);
  ssyevd_("V", "L", &n, a, &n, w, work.get(), &lwork, iwork.get(), &liwork, &info, 1, 1);
  return info;
}

template <>
int syevd<double>(int n, double* a, double* w) {
  int info = 0, lwork = -1, liwork = -1, iw = 0;
  double wq = 0;
  dsyevd_("V", "L", &n, a, &n, w, &wq, &lwork, &iw, &liwork, &info, 1, 1);
  if (info != 0) return info;
  lwork = (int)wq; liwork = iw;
  std::unique_ptr<double[]> work(new double[lwork]);
  std::unique_ptr<int[]> iwork(new int[liwork]);
  dsyevd_("V", "L", &n, a, &n, w, work.get(), &lwork, iwork.get(), &liwork, &info, 1, 1);
  return info;
}

template <class T>
static int64_t pinv_solve_t(const float* K, int64_t M, const float* R, int64_t nrhs, double lambda, double rcond,
                            float* X) {
  std::unique_ptr<T[]> V(new T[M * M]);
  for (int64_t i = 0; i < M * M; ++i) V[i] = (T)K[i];
  for (int64_t i = 0; i < M; ++i) V[i * M + i] += (T)lambda;
  std::unique_ptr<T[]> e(new T[M]);
  const int info = syevd<T>((int)M, V.get(), e.get());
  if (info != 0)
    fail("ERR_LAPACK", "pinvSolve: the eigendecomposition did not converge (syevd info " + std::to_string(info) + ")");
  if (rcond <= 0) rcond = (double)M * (double)std::numeric_limits<float>::epsilon();
  T emax = 0;
  for (int64_t i = 0; i < M; ++i) emax = std::max(emax, (T)std::fabs(e[i]));
  const T cutoff = (T)rcond * emax;
  // V is column-major with eigenvectors in columns; read row-major it is Vᵀ.
  std::unique_ptr<T[]> Rw(new T[M * nrhs]), Tm(new T[M * nrhs]), Xw(new T[M * nrhs]);
  for (int64_t i = 0; i < M * nrhs; ++i) Rw[i] = (T)R[i];
  gemm_rm(false, (int)M, (int)nrhs, (int)M, V.get(), Rw.get(), Tm.get());  // Tm = Vᵀ R
  int64_t rank = 0;
  for (int64_t i = 0; i < M; ++i) {
    const bool keep = emax > 0 && std::fabs(e[i]) > cutoff;
    rank += keep;
    const T s = keep ? (T)1 / e[i] : (T)0;
    for (int64_t c = 0; c < nrhs; ++c) Tm[i * nrhs + c] *= s;
  }
  gemm_rm(true, (int)M, (int)nrhs, (int)M, V.get(), Tm.get(), Xw.get());  // X = V Tm
  for (int64_t i = 0; i < M * nrhs; ++i) X[i] = (float)Xw[i];
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
    return pinv_solve_t<double>(K, M, R, nrhs, lambda, rcond, X);
  }
}

}  // namespace natgrad::cpu
