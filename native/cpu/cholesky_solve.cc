// cholesky_solve: X = (K + λI)⁻¹ R via K + λI = L Lᵀ (potrf), then two
// triangular solves (potrs). The factorisation runs in float32 or, on request,
// float64 (K and R are widened, X rounded back).
#include <cmath>
#include <string>

#include "../error.h"
#include "cpu_kernels.h"
#include "lapack_types.h"
#include "scratch.h"

namespace natgrad::cpu {

template <class T>
static void cholesky_solve_t(const float* K, int64_t M, const float* R, int64_t nrhs, double lambda, float* X) {
  // W = K + λI. Row-major upper triangle == column-major lower ("L"), the only
  // part potrf/potrs reference (LAPACK: "the strictly upper triangular part of A
  // is not referenced" for UPLO = 'L'), so only that triangle is copied; the rest
  // of W is left as it is (scratch recycled between calls, see scratch.h).
  Scratch<T> W(M * M);
  for (int64_t i = 0; i < M; ++i) {
    const float* k = K + i * M;
    T* w = W.get() + i * M;
    for (int64_t j = i; j < M; ++j) w[j] = (T)k[j];
    w[i] += (T)lambda;
  }
  int info = 0;
  potrf((int)M, W.get(), &info);
  if (info > 0)
    fail("ERR_NOT_POSITIVE_DEFINITE",
         "choleskySolve: K + damping·I is not positive definite (the leading minor of order " +
             std::to_string(info) + " is not positive); increase damping or use pinvSolve",
         info);
  if (info < 0) fail("ERR_LAPACK", "choleskySolve: potrf rejected argument " + std::to_string(-info));
  // Right-hand sides column-major: Y[c·M + r] = R[r·nrhs + c].
  Scratch<T> Y(M * nrhs);
  for (int64_t r = 0; r < M; ++r)
    for (int64_t c = 0; c < nrhs; ++c) Y[c * M + r] = (T)R[r * nrhs + c];
  potrs((int)M, (int)nrhs, W.get(), Y.get(), &info);
  if (info != 0) fail("ERR_LAPACK", "choleskySolve: potrs failed with info " + std::to_string(info));
  for (int64_t r = 0; r < M; ++r)
    for (int64_t c = 0; c < nrhs; ++c) X[r * nrhs + c] = (float)Y[c * M + r];
}

void cholesky_solve(const float* K, int64_t M, const float* R, int64_t nrhs, double lambda, Precision precision,
                    float* X) {
  if (precision == Precision::f64)
    cholesky_solve_t<double>(K, M, R, nrhs, lambda, X);
  else
    cholesky_solve_t<float>(K, M, R, nrhs, lambda, X);
}

}  // namespace natgrad::cpu
