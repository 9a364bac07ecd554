// The Backend interface: the handful of fused kernels natgrad needs.
// Every matrix is float32, row-major, dense, and already checked by addon.cc
// (sizes ≥ 1, lengths exact, no overlap between outputs and inputs).
// A backend reports failures by throwing natgrad::Error; it never aborts.
#pragma once
#include <cstdint>
#include <string>

namespace natgrad {

enum class Precision { f32 = 0, f64 = 1 };

struct BackendInfo {
  std::string name;     // "cpu" | "cuda"
  std::string blas;     // e.g. "OpenBLAS 0.3.21 Cooperlake"
  int threads = 1;      // threads of the calling environment's CPU calls (cpu) or 0 (cuda)
  std::string device;   // GPU name, empty on cpu
  std::string note;     // advice about this machine, e.g. a CPU that OpenBLAS does not recognise
  std::string kernels;  // which code runs the fused kernels (cpu: natgrad's own gemm_nt or OpenBLAS)
  // The reproducibility contract: every kernel gives the same bits run to run at a fixed thread count;
  // these (comma-separated, e.g. "gemm,layerGramSum,choleskySolve float32") also across thread counts.
  std::string thread_independent;
  // cpu only: the vector level of this CPU and of the kernel set OpenBLAS runs ("AVX-512", "AVX2", "AVX",
  // "SSE", "other"), natgrad's micro-kernel ("avx512", "avx2", "portable"), who runs gemm and the float32
  // Cholesky ("natgrad" | "openblas") and why, how OpenBLAS's idle threads are parked, and how often.
  struct CpuPath {
    std::string isa, openblas_core, openblas_isa, micro_kernel, gemm, cholesky, why, parking;
    uint64_t parks = 0;
  };
  bool has_cpu_path = false;
  CpuPath cpu;
};

// One linear layer's factors for layer_gram_sum: B [N·k, width_out], A [N, width_in], row-major.
struct LayerFactors {
  const float* B;
  const float* A;
  int64_t width_out, width_in;
};

// The same for float64 arrays.
struct LayerFactors64 {
  const double* B;
  const double* A;
  int64_t width_out, width_in;
};

// One exact natural-gradient step of a stack of linear layers and activations, for exact_step:
// layers[3l .. 3l+2] = {kind, width in, width out} with kind −1 linear (parameters W [out, in] row-major then
// b [out], layers in order), else an activation (0 tanh, 1 relu, 2 sigmoid, 3 softplus, 4 gelu; in = out).
// family: 0 gaussian (y [N, k]), 1 categorical, 2 bernoulli (y [N]); r its Fisher rank (k, k − 1, 1).
struct ExactStepSpec {
  const int32_t* layers = nullptr;
  int64_t count = 0, P = 0, N = 0, in_width = 0, k = 0, r = 0, y_width = 0;
  int family = 0;
  const float *theta = nullptr, *x = nullptr, *y = nullptr;
  double damping = 0, rcond = 0, lr = 0;  // lr > 0: also the loss at θ − lr·n
  float* direction = nullptr;             // [P]: n_θ
};
struct ExactStepResult {
  double loss = 0, trial_loss = 0, gn = 0, nfn = 0;  // mean losses at θ and θ − lr·n; gᵀn and nᵀF_θn
  int64_t rank = -1;                                 // ≥ 0 when the pseudo-inverse ran (λ = 0)
  double ms[6] = {0, 0, 0, 0, 0, 0};                 // device time: upload, forward, backprop, kernel, solve, update
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual BackendInfo info() const = 0;
  // Whether the kernels' work buffers live in host memory (cpu), so addon.cc counts them against the
  // memory available before a call; the CUDA backend's live on the device.
  virtual bool host_workspace() const { return true; }

  // C[m,n] = alpha · op(A) · op(B) + beta · C
  // A: [m,k] (or [k,m] when trans_a), B: [k,n] (or [n,k] when trans_b)
  virtual void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* A,
                    const float* B, float beta, float* C) = 0;

  // K[M,M] (+)= Jᵀ J for J [P,M] (samples_major = false), or J Jᵀ for J [M,P]
  // (samples_major = true). Full symmetric output; `accumulate` adds to K, which must then be symmetric.
  virtual void gram(const float* J, int64_t P, int64_t M, bool samples_major, bool accumulate, float* K) = 0;

  // K[Nk,Nk] (+)= Σ_l (B_l B_lᵀ) ⊙ (expand_k(A_l A_lᵀ) + 1) over `count` linear
  // layers: B_l [N·k, width_out] output Jacobians of layer l, A_l [N, width_in]
  // its inputs; expand_k repeats each entry of the N×N matrix over a k×k block.
  // accumulate: add to K; else overwrite it. Full symmetric output.
  virtual void layer_gram_sum(const LayerFactors* layers, int64_t count, int64_t N, int64_t k, bool accumulate,
                              float* K) = 0;
  // One layer, added to K: K += (B Bᵀ) ⊙ (expand_k(A Aᵀ) + 1).
  void layer_gram(const float* B, const float* A, int64_t N, int64_t k, int64_t width_out, int64_t width_in, float* K) {
    const LayerFactors f{B, A, width_out, width_in};
    layer_gram_sum(&f, 1, N, k, true, K);
  }

  // X[M,nrhs] = (K + λI)⁻¹ R for symmetric positive definite K + λI (Cholesky).
  // Reads the upper triangle of K (row-major). Throws ERR_NOT_POSITIVE_DEFINITE.
  virtual void cholesky_solve(const float* K, int64_t M, const float* R, int64_t nrhs, double lambda,
                              Precision precision, float* X) = 0;

  // X[M,nrhs] = (K + λI)⁺ R by symmetric eigendecomposition; eigenvalues with
  // |e| ≤ rcond · max|e| count as zero (rcond ≤ 0: M·ε₃₂, the noise floor of a
  // float32 K). Returns the rank used.
  virtual int64_t pinv_solve(const float* K, int64_t M, const float* R, int64_t nrhs, double lambda, double rcond,
                             Precision precision, float* X) = 0;

  // out[b] = (G_bᵀ G_b + λI)⁻¹ for b < batch; G: [batch, rows, k], out: [batch, k, k].
  virtual void batched_gram_inverse(const float* G, int64_t batch, int64_t rows, int64_t k, double lambda,
                                    float* out) = 0;

  // n_θ = S (SᵀS + NλI)⁻¹ u for an MLP in one call: every stage on the device (./cuda/cuda_backend.cc), or on
  // the CPU backend's kernels above (./cpu/exact_step.cc), with no JavaScript between the stages.
  virtual void exact_step(const ExactStepSpec& spec, ExactStepResult* result);

  // float64 forms of gemm, gram, layer_gram_sum, cholesky_solve and pinv_solve (same shapes; the solves
  // always factor in float64, pinv_solve's default cutoff is M·ε₆₄). They run on the CPU on every
  // backend: a backend that does not override them (CUDA) forwards them to cpu_backend().
  virtual void gemm64(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha, const double* A,
                      const double* B, double beta, double* C);
  virtual void gram64(const double* J, int64_t P, int64_t M, bool samples_major, bool accumulate, double* K);
  virtual void layer_gram_sum64(const LayerFactors64* layers, int64_t count, int64_t N, int64_t k, bool accumulate,
                                double* K);
  void layer_gram64(const double* B, const double* A, int64_t N, int64_t k, int64_t width_out, int64_t width_in,
                    double* K) {
    const LayerFactors64 f{B, A, width_out, width_in};
    layer_gram_sum64(&f, 1, N, k, true, K);
  }
  virtual void cholesky_solve64(const double* K, int64_t M, const double* R, int64_t nrhs, double lambda, double* X);
  virtual int64_t pinv_solve64(const double* K, int64_t M, const double* R, int64_t nrhs, double lambda, double rcond,
                               double* X);
};

// The CPU backend (OpenBLAS + LAPACK); always available.
Backend* cpu_backend();
// The CUDA backend, or nullptr with `reason` saying why it cannot be used.
Backend* cuda_backend(std::string* reason);

}  // namespace natgrad
