// Kernels of the CPU backend (OpenBLAS + LAPACK), one file each.
// Shapes as in backend.h; all matrices row-major float32 unless stated.
#pragma once
#include <cstdint>

#include "../backend.h"

namespace natgrad::cpu {

// K[M,M]: copy the upper triangle onto the lower one (blocked, cache friendly).
void symmetrize_upper(float* K, int64_t M);
void symmetrize_upper(double* K, int64_t M);

// A[n,n] (column-major, lower, leading dimension lda) ← L with A = L Lᵀ, by
// recursive halving over gemm_nt (potrf_recursive.cc). Returns LAPACK's info.
int potrf_recursive(int64_t n, float* A, int64_t lda);

// K (+)= JᵀJ or J Jᵀ: K's upper triangle from the product (added to it when accumulate), then mirrored
void gram(const float* J, int64_t P, int64_t M, bool samples_major, bool accumulate, float* K);  // OpenBLAS ssyrk
void gram_own(const float* J, int64_t P, int64_t M, bool samples_major, bool accumulate,
              float* K);  // natgrad's gemm_nt
void layer_gram_sum(const LayerFactors* layers, int64_t count, int64_t N, int64_t k, bool accumulate, float* K);
void cholesky_solve(const float* K, int64_t M, const float* R, int64_t nrhs, double lambda, Precision precision,
                    float* X);
int64_t pinv_solve(const float* K, int64_t M, const float* R, int64_t nrhs, double lambda, double rcond,
                   Precision precision, float* X);
// cholesky_solve in float32 with K + λI factored in place (K's upper triangle is overwritten); the caller
// holds OpenBlasLock.
void cholesky_solve_in_place(float* K, int64_t M, const float* R, int64_t nrhs, double lambda, float* X);
void batched_gram_inverse(const float* G, int64_t batch, int64_t rows, int64_t k, double lambda, float* out);

// The activation layers' elementwise passes (activation.cc), in float64 as lib/nn/layers.ts computes them:
// a[n] = σ(z) and, for z [N, width] and b [N·r, width], b[i·r + m, c] *= σ'(z[i, c]).
enum class Activation { tanh = 0, relu = 1, sigmoid = 2, softplus = 3, gelu = 4 };
void activation_forward(Activation kind, const float* z, int64_t n, float* a);
void activation_forward(Activation kind, const double* z, int64_t n, double* a);
void activation_backward(Activation kind, const float* z, int64_t N, int64_t r, int64_t width, float* b);
void activation_backward(Activation kind, const double* z, int64_t N, int64_t r, int64_t width, double* b);

// Per-sample row contractions of B [N·r, w] (rows.cc), accumulated in float64 (c, sum, out float64):
// Bc[i, :] = Σ_m c[i·r + m] B[i·r + m, :], sum = Σ_i Bc[i, :];  out[i·r + m] += B[i·r + m, :] · Z[i, :].
void rows_contract(const float* B, const double* c, int64_t N, int64_t r, int64_t w, float* Bc, double* sum);
void rows_contract(const double* B, const double* c, int64_t N, int64_t r, int64_t w, double* Bc, double* sum);
void rows_dot(const float* B, const float* Z, int64_t N, int64_t r, int64_t w, double* out);
void rows_dot(const double* B, const double* Z, int64_t N, int64_t r, int64_t w, double* out);

// A conv2d layer's data movements (conv2d.cc): inputs [C, H, W], kernel kh × kw, stride, zero padding, output
// ho × wo. im2col: cols [n·ho·wo, C·kh·kw] = the patches of x [n, C·H·W] (0 in the padding); the input seeds:
// dx [rows, C·H·W] (overwritten), row q = col2im(Wᵀ dy_q) for W [cout, C·kh·kw] and dy [rows, cout, ho·wo].
struct ConvGeometry {
  int64_t c, h, w, kh, kw, stride, pad, ho, wo;
};
void im2col(const float* x, int64_t n, const ConvGeometry& g, float* cols);
void im2col(const double* x, int64_t n, const ConvGeometry& g, double* cols);
void conv2d_input_seeds(const float* w, const float* dy, int64_t rows, int64_t cout, const ConvGeometry& g, float* dx);
void conv2d_input_seeds(const double* w, const double* dy, int64_t rows, int64_t cout, const ConvGeometry& g,
                        double* dx);
// The forward pass from the patches: y [n, cout, ho·wo], y_i = b + W · cols_iᵀ, theta = [W [cout, C·kh·kw], b [cout]].
void conv2d_forward(const float* cols, const float* theta, int64_t n, int64_t cout, const ConvGeometry& g, float* y);
void conv2d_forward(const double* cols, const double* theta, int64_t n, int64_t cout, const ConvGeometry& g, double* y);
// The per-row parameter gradients: grads [n·r, cout·C·kh·kw + cout], row q = (i, m) = [dy_q · cols_i, Σ_p dy_q]
// for the seeds dy [n·r, cout, ho·wo] and the patches cols [n·ho·wo, C·kh·kw].
void conv2d_gradients(const float* dy, const float* cols, int64_t n, int64_t r, int64_t cout, const ConvGeometry& g,
                      float* grads);
void conv2d_gradients(const double* dy, const double* cols, int64_t n, int64_t r, int64_t cout, const ConvGeometry& g,
                      double* grads);

// The pooling layers (pool2d.cc): inputs [C, H, W], k × k windows at stride k, output ho × wo = ⌊H/k⌋ × ⌊W/k⌋;
// max (the first largest of each window) or avg. Backward: dx [n·r, C·H·W] (overwritten) from the seeds dy
// [n·r, C·ho·wo], r rows per sample; the max's choice is found again from x [n, C·H·W].
struct PoolGeometry {
  int64_t c, h, w, k, ho, wo;
};
void pool2d_forward(bool max, const float* x, int64_t n, const PoolGeometry& g, float* y);
void pool2d_forward(bool max, const double* x, int64_t n, const PoolGeometry& g, double* y);
void pool2d_backward(bool max, const float* x, const float* dy, int64_t n, int64_t r, const PoolGeometry& g, float* dx);
void pool2d_backward(bool max, const double* x, const double* dy, int64_t n, int64_t r, const PoolGeometry& g,
                     double* dx);

// One exact natural-gradient step of an MLP in one call (exact_step.cc), on `be`'s kernels (its gemm, layer_gram_sum
// and solves, so that NATGRAD_CPU_GEMM's choice holds), and the host bytes it allocates beside its arguments.
void exact_step(Backend& be, const ExactStepSpec& spec, ExactStepResult* result);
int64_t exact_step_work_bytes(const ExactStepSpec& spec);

// float64 forms (arrays of doubles; OpenBLAS's d* routines and plain loops, no float32 kernel involved)
void gram64(const double* J, int64_t P, int64_t M, bool samples_major, bool accumulate, double* K);
void layer_gram_sum64(const LayerFactors64* layers, int64_t count, int64_t N, int64_t k, bool accumulate, double* K);
void cholesky_solve64(const double* K, int64_t M, const double* R, int64_t nrhs, double lambda, double* X);
int64_t pinv_solve64(const double* K, int64_t M, const double* R, int64_t nrhs, double lambda, double rcond, double* X);

// Host bytes each kernel allocates for its work (beyond its arguments), for addon.cc's memory check
// before the call; each is defined beside its kernel, from the same sizes the kernel allocates.
int64_t gemm_work_bytes(int64_t m, int64_t k);
int64_t layer_gram_sum_work_bytes(const int64_t* widths_out, int64_t count, int64_t N, int64_t k);
int64_t layer_gram_sum64_work_bytes(int64_t N, int64_t k);
int64_t cholesky_solve_work_bytes(int64_t M, int64_t nrhs, Precision precision);
int64_t pinv_solve_work_bytes(int64_t M, int64_t nrhs, Precision precision);

// LAPACK ?syevd's workspace for eigenvectors of order n (LAPACK's LWMIN, JOBZ = 'V'): 1 + 6n + 2n²
// (1 for n ≤ 1). LAPACK computes it, and indexes the workspace, in 32-bit integers, so pinvSolve is
// refused when it exceeds 2³¹ − 1: beyond kMaxSyevdOrder.
int64_t syevd_lwork(int64_t n);
constexpr int64_t kMaxSyevdOrder = 32766;  // the largest n with 1 + 6n + 2n² ≤ 2³¹ − 1

}  // namespace natgrad::cpu
