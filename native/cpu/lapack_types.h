// Type-generic wrappers of the LAPACK/BLAS calls used by the solvers, so each
// solver is written once for float32 and float64 factorisations.
#pragma once
#include <cblas.h>

#include "../lapack.h"

namespace natgrad::cpu {

inline void potrf(int n, float* a, int* info) { spotrf_("L", &n, a, &n, info, 1); }
inline void potrf(int n, double* a, int* info) { dpotrf_("L", &n, a, &n, info, 1); }
inline void potrs(int n, int nrhs, const float* a, float* b, int* info) {
  spotrs_("L", &n, &nrhs, a, &n, b, &n, info, 1);
}
inline void potrs(int n, int nrhs, const double* a, double* b, int* info) {
  dpotrs_("L", &n, &nrhs, a, &n, b, &n, info, 1);
}

// Eigen-decomposition workspace query + call; A (col-major) is overwritten by the eigenvectors.
template <class T>
int syevd(int n, T* a, T* w);

// C[m,n] = op(A)·B, row-major.
inline void gemm_rm(bool ta, int m, int n, int k, const float* A, const float* B, float* C) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, A, ta ? m : k, B, n, 0.0f, C,
              n);
}
inline void gemm_rm(bool ta, int m, int n, int k, const double* A, const double* B, double* C) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, CblasNoTrans, m, n, k, 1.0, A, ta ? m : k, B, n, 0.0, C,
              n);
}

}  // namespace natgrad::cpu
