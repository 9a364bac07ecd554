// Kernels of the CPU backend (OpenBLAS + LAPACK), one file each.
// Shapes as in backend.h; all matrices row-major float32 unless stated.
#pragma once
#include <cstdint>

#include "../backend.h"

namespace natgrad::cpu {

// K[M,M]: copy the upper triangle onto the lower one (blocked, cache friendly).
void symmetrize_upper(float* K, int64_t M);

// A[n,n] (column-major, lower, leading dimension lda) ← L with A = L Lᵀ, by
// recursive halving over gemm_nt (potrf_recursive.cc). Returns LAPACK's info.
int potrf_recursive(int64_t n, float* A, int64_t lda);

void gram(const float* J, int64_t P, int64_t M, bool samples_major, float* K);
void layer_gram_sum(const LayerFactors* layers, int64_t count, int64_t N, int64_t k, bool accumulate, float* K);
void cholesky_solve(const float* K, int64_t M, const float* R, int64_t nrhs, double lambda, Precision precision,
                    float* X);
int64_t pinv_solve(const float* K, int64_t M, const float* R, int64_t nrhs, double lambda, double rcond,
                   Precision precision, float* X);
void batched_gram_inverse(const float* G, int64_t batch, int64_t rows, int64_t k, double lambda, float* out);

}  // namespace natgrad::cpu
