// The CUDA backend: cuBLAS + cuSOLVER, loaded at run time (cuda_api.cc), plus a
// few elementwise kernels shipped as PTX (kernels.cu → kernels_ptx.h) and run
// through the driver API.
//
// Each Backend call is one stage: it copies its inputs to the device, runs the
// whole kernel there (intermediates such as A Aᵀ, B Bᵀ or the Cholesky factor
// never leave the device) and copies its outputs back. Calls are serialised by
// a mutex (the async forms run on libuv's threads) and share one stream, one
// cuBLAS and one cuSOLVER handle, and two grow-only device arenas (data and
// solver workspace), so that a sequence of same-sized calls allocates nothing.
//
// Layout: natgrad's matrices are row-major; cuBLAS is column-major. A row-major
// X [r, c] is the column-major Xᵀ [c, r] with leading dimension c, so every
// call below is written on those transposed views (a symmetric K is its own
// transpose). "Upper" in a comment means row ≤ column of the column-major view.
//
// Precision: float32 throughout; cuBLAS math mode CUBLAS_DEFAULT_MATH (no TF32)
// unless NATGRAD_TF32=1 (CUBLAS_TF32_TENSOR_OP_MATH: float32 GEMMs may round
// their inputs to 10-bit mantissas). The 'float64' factorisation option widens
// K and R on the device and runs cusolverDnD* / cublasD*, as the CPU backend
// runs dpotrf / dsyevd.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "../backend.h"
#include "../error.h"
#include "../policy.h"
#include "cuda_api.h"
#include "kernels_ptx.h"

namespace natgrad {
namespace {

using namespace natgrad::cuda;

const char* cublas_status_name(cublasStatus_t s) {
  switch (s) {
    case 0: return "CUBLAS_STATUS_SUCCESS";
    case 1: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case 3: return "CUBLAS_STATUS_ALLOC_FAILED";
    case 7: return "CUBLAS_STATUS_INVALID_VALUE";
    case 8: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case 11: return "CUBLAS_STATUS_MAPPING_ERROR";
    case 13: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case 14: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case 15: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case 16: return "CUBLAS_STATUS_LICENSE_ERROR";
    default: return "CUBLAS_STATUS_UNKNOWN";
  }
}

const char* cusolver_status_name(cusolverStatus_t s) {
  switch (s) {
    case 0: return "CUSOLVER_STATUS_SUCCESS";
    case 1: return "CUSOLVER_STATUS_NOT_INITIALIZED";
    case 2: return "CUSOLVER_STATUS_ALLOC_FAILED";
    case 3: return "CUSOLVER_STATUS_INVALID_VALUE";
    case 4: return "CUSOLVER_STATUS_ARCH_MISMATCH";
    case 5: return "CUSOLVER_STATUS_MAPPING_ERROR";
    case 6: return "CUSOLVER_STATUS_EXECUTION_FAILED";
    case 7: return "CUSOLVER_STATUS_INTERNAL_ERROR";
    case 8: return "CUSOLVER_STATUS_MATRIX_TYPE_NOT_SUPPORTED";
    case 9: return "CUSOLVER_STATUS_NOT_SUPPORTED";
    case 10: return "CUSOLVER_STATUS_ZERO_PIVOT";
    case 11: return "CUSOLVER_STATUS_INVALID_LICENSE";
    case 31: return "CUSOLVER_STATUS_INVALID_WORKSPACE";
    default: return "CUSOLVER_STATUS_UNKNOWN";
  }
}

std::string mib(size_t bytes) { return std::to_string((bytes + (1u << 19)) >> 20) + " MiB"; }

std::string version_text(int v, int major_div, int minor_div) {  // e.g. 12080 → "12.8"
  return std::to_string(v / major_div) + "." + std::to_string((v % major_div) / minor_div);
}

// Element type helpers for the f32 / f64 paths.
template <class T>
struct Ops;

// The kernels loaded from the embedded PTX.
struct Kernels {
  CUfunction mirror_upper = nullptr, layer_hadamard = nullptr, add_diagonal_f32 = nullptr, add_diagonal_f64 = nullptr,
             mirror_upper_batched = nullptr, f32_to_f64 = nullptr, f64_to_f32 = nullptr, fill_f32 = nullptr,
             add_bias = nullptr, activation_forward = nullptr, activation_backward = nullptr, family = nullptr,
             sum_f64 = nullptr;
};

template <>
struct Ops<float> {
  static constexpr const char* potrf_bs_name = "cusolverDnSpotrf_bufferSize";
  static constexpr const char* potrf_name = "cusolverDnSpotrf";
  static constexpr const char* potrs_name = "cusolverDnSpotrs";
  static constexpr const char* syevd_bs_name = "cusolverDnSsyevd_bufferSize";
  static constexpr const char* syevd_name = "cusolverDnSsyevd";
  static constexpr const char* geam_name = "cublasSgeam";
  static constexpr const char* gemm_name = "cublasSgemm";
  static constexpr const char* dgmm_name = "cublasSdgmm";
  template <class... A>
  static int potrf_bs(const Api& a, A... x) {
    return a.cusolverDnSpotrf_bufferSize(x...);
  }
  template <class... A>
  static int potrf(const Api& a, A... x) {
    return a.cusolverDnSpotrf(x...);
  }
  template <class... A>
  static int potrs(const Api& a, A... x) {
    return a.cusolverDnSpotrs(x...);
  }
  template <class... A>
  static int syevd_bs(const Api& a, A... x) {
    return a.cusolverDnSsyevd_bufferSize(x...);
  }
  template <class... A>
  static int syevd(const Api& a, A... x) {
    return a.cusolverDnSsyevd(x...);
  }
  template <class... A>
  static int geam(const Api& a, A... x) {
    return a.cublasSgeam(x...);
  }
  template <class... A>
  static int gemm(const Api& a, A... x) {
    return a.cublasSgemm_v2(x...);
  }
  template <class... A>
  static int dgmm(const Api& a, A... x) {
    return a.cublasSdgmm(x...);
  }
};

template <>
struct Ops<double> {
  static constexpr const char* potrf_bs_name = "cusolverDnDpotrf_bufferSize";
  static constexpr const char* potrf_name = "cusolverDnDpotrf";
  static constexpr const char* potrs_name = "cusolverDnDpotrs";
  static constexpr const char* syevd_bs_name = "cusolverDnDsyevd_bufferSize";
  static constexpr const char* syevd_name = "cusolverDnDsyevd";
  static constexpr const char* geam_name = "cublasDgeam";
  static constexpr const char* gemm_name = "cublasDgemm";
  static constexpr const char* dgmm_name = "cublasDdgmm";
  template <class... A>
  static int potrf_bs(const Api& a, A... x) {
    return a.cusolverDnDpotrf_bufferSize(x...);
  }
  template <class... A>
  static int potrf(const Api& a, A... x) {
    return a.cusolverDnDpotrf(x...);
  }
  template <class... A>
  static int potrs(const Api& a, A... x) {
    return a.cusolverDnDpotrs(x...);
  }
  template <class... A>
  static int syevd_bs(const Api& a, A... x) {
    return a.cusolverDnDsyevd_bufferSize(x...);
  }
  template <class... A>
  static int syevd(const Api& a, A... x) {
    return a.cusolverDnDsyevd(x...);
  }
  template <class... A>
  static int geam(const Api& a, A... x) {
    return a.cublasDgeam(x...);
  }
  template <class... A>
  static int gemm(const Api& a, A... x) {
    return a.cublasDgemm_v2(x...);
  }
  template <class... A>
  static int dgmm(const Api& a, A... x) {
    return a.cublasDdgmm(x...);
  }
};

class CudaBackend final : public Backend {
 public:
  // nullptr with `reason` when the device or a library cannot be used.
  static CudaBackend* create(std::string* reason);

  bool host_workspace() const override { return false; }  // work buffers live on the device
  BackendInfo info() const override {
    BackendInfo b;
    b.name = "cuda";
    b.blas = versions_ + "; float32, TF32 tensor cores " + (tf32_ ? "on (NATGRAD_TF32=1)" : "off");
    b.threads = 0;
    b.device = device_;
    b.kernels =
        "cuBLAS + cuSOLVER, elementwise kernels from the embedded PTX; layerGramSum keeps K on the device; exactStep "
        "runs an MLP's whole exact step on the device (NaturalGradient: profile.device = 'resident', "
        "NATGRAD_DEVICE_STEP=0 turns it off)";
    b.note = std::string(
                 tf32_ ? "NATGRAD_TF32=1: float32 GEMMs round their inputs to TF32 (10-bit mantissa, unit "
                         "roundoff 2^-11 instead of 2^-24): expect relative errors near 1e-3 in gemm/gram/layerGram; "
                       : "") +
             "libraries: " + api_->cudart_path + ", " + api_->cublas_path + ", " + api_->cusolver_path + ", " +
             api_->driver_path;
    if (timing_) {
      std::lock_guard<std::mutex> g(timing_mu_);
      b.note += "; last call (NATGRAD_CUDA_TIMING=1): " + (last_timing_.empty() ? std::string("none") : last_timing_);
    }
    return b;
  }

  void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* A, const float* B, float beta,
            float* C) override {
    Call c(this, "gemm");
    float *dA, *dB, *dC;
    carve(c, {f32(&dA, m * k), f32(&dB, k * n), f32(&dC, m * n)});
    h2d(c, dA, A, m * k);
    h2d(c, dB, B, k * n);
    if (beta != 0.0f) h2d(c, dC, C, m * n);
    mark(c, 1);
    // row-major C = op(A)·op(B)  ⟺  column-major Cᵀ [n,m] = op(B)ᵀ·op(A)ᵀ
    blas(c, "cublasSgemm",
         api_->cublasSgemm_v2(blas_, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, (int)n, (int)m,
                              (int)k, &alpha, dB, tb ? (int)k : (int)n, dA, ta ? (int)m : (int)k, &beta, dC, (int)n));
    mark(c, 2);
    d2h(c, C, dC, m * n);
    finish(c);
  }

  void gram(const float* J, int64_t P, int64_t M, bool samples_major, bool accumulate, float* K) override {
    Call c(this, "gram");
    float *dJ, *dK;
    carve(c, {f32(&dJ, P * M), f32(&dK, M * M)});
    h2d(c, dJ, J, P * M);
    if (accumulate) h2d(c, dK, K, M * M);  // K is symmetric: its row-major upper triangle is the column-major one
    mark(c, 1);
    // samples_major: J [M,P] row-major = column-major P×M, K = JcᵀJc; else J [P,M] = column-major M×P, K = Jc Jcᵀ.
    gram_upper(c, dJ, samples_major, (int)M, (int)P, samples_major ? (int)P : (int)M, dK, accumulate);
    mirror(c, dK, (int)M);
    mark(c, 2);
    d2h(c, K, dK, M * M);
    finish(c);
  }

  // All layers in one call: every layer's B and A are uploaded first, then K stays on the device while
  // each layer's B Bᵀ and A Aᵀ are formed and its Hadamard term added (ng_layer_hadamard); K crosses
  // the bus once each way (only back when !accumulate). Device memory: K, B Bᵀ, A Aᵀ and all factors.
  void layer_gram_sum(const LayerFactors* layers, int64_t count, int64_t N, int64_t k, bool accumulate,
                      float* K) override {
    Call c(this, count == 1 ? "layerGram" : "layerGramSum");
    const int64_t NK = N * k;
    int64_t total_b = 0, total_a = 0;
    for (int64_t l = 0; l < count; ++l) {
      total_b += NK * layers[l].width_out;
      total_a += N * layers[l].width_in;
    }
    float *dB, *dA, *dK, *dBB, *dAA;
    carve(c, {f32(&dB, total_b), f32(&dA, total_a), f32(&dK, NK * NK), f32(&dBB, NK * NK), f32(&dAA, N * N)});
    for (int64_t l = 0, ob = 0, oa = 0; l < count; ++l) {
      h2d(c, dB + ob, layers[l].B, NK * layers[l].width_out);
      h2d(c, dA + oa, layers[l].A, N * layers[l].width_in);
      ob += NK * layers[l].width_out;
      oa += N * layers[l].width_in;
    }
    if (accumulate)
      h2d(c, dK, K, NK * NK);
    else
      mem(c, "cudaMemsetAsync", api_->cudaMemsetAsync(dK, 0, (size_t)(NK * NK) * sizeof(float), stream_));
    mark(c, 1);
    for (int64_t l = 0, ob = 0, oa = 0; l < count; ++l) {
      const int64_t wo = layers[l].width_out, wi = layers[l].width_in;
      add_layer_gram(c, dB + ob, dA + oa, N, k, wo, wi, dK, dBB, dAA);
      ob += NK * wo;
      oa += N * wi;
    }
    mark(c, 2);
    d2h(c, K, dK, NK * NK);
    finish(c);
  }

  void cholesky_solve(const float* K, int64_t M, const float* R, int64_t nrhs, double lambda, Precision p,
                      float* X) override {
    if (p == Precision::f64)
      cholesky_t<double>(K, M, R, nrhs, lambda, X);
    else
      cholesky_t<float>(K, M, R, nrhs, lambda, X);
  }

  int64_t pinv_solve(const float* K, int64_t M, const float* R, int64_t nrhs, double lambda, double rcond, Precision p,
                     float* X) override {
    return p == Precision::f64 ? pinv_t<double>(K, M, R, nrhs, lambda, rcond, X)
                               : pinv_t<float>(K, M, R, nrhs, lambda, rcond, X);
  }

  void batched_gram_inverse(const float* G, int64_t batch, int64_t rows, int64_t k, double lambda,
                            float* out) override {
    Call c(this, "batchedGramInverse");
    const int64_t kk = k * k;
    float *dG, *dS, *dL, *dOut;
    int* dInfo;
    float** dPtrS;
    float** dPtrL;
    carve(c, {f32(&dG, batch * rows * k), f32(&dS, batch * kk), f32(&dL, batch * kk), f32(&dOut, batch * kk),
              raw(&dInfo, (size_t)batch * sizeof(int)), raw(&dPtrS, (size_t)batch * sizeof(float*)),
              raw(&dPtrL, (size_t)batch * sizeof(float*))});
    h2d(c, dG, G, batch * rows * k);
    std::vector<float*> ps((size_t)batch), pl((size_t)batch);
    for (int64_t b = 0; b < batch; ++b) {
      ps[(size_t)b] = dS + b * kk;
      pl[(size_t)b] = dL + b * kk;
    }
    copy(c, dPtrS, ps.data(), ps.size() * sizeof(float*), cudaMemcpyHostToDevice);
    copy(c, dPtrL, pl.data(), pl.size() * sizeof(float*), cudaMemcpyHostToDevice);
    mark(c, 1);
    // G_b [rows,k] row-major = column-major Gc k×rows: S_b = G_bᵀG_b = Gc Gcᵀ (k×k)
    const float one = 1.0f, zero = 0.0f;
    blas(c, "cublasSgemmStridedBatched",
         api_->cublasSgemmStridedBatched(blas_, CUBLAS_OP_N, CUBLAS_OP_T, (int)k, (int)k, (int)rows, &one, dG, (int)k,
                                         rows * k, dG, (int)k, rows * k, &zero, dS, (int)k, kk, (int)batch));
    add_diagonal<float>(c, dS, (int)k, (int)k, kk, (int)batch, lambda);
    solver(c, "cusolverDnSpotrfBatched",
           api_->cusolverDnSpotrfBatched(solver_, CUBLAS_FILL_MODE_LOWER, (int)k, dPtrS, (int)k, dInfo, (int)batch));
    std::vector<int> info((size_t)batch);
    copy(c, info.data(), dInfo, info.size() * sizeof(int), cudaMemcpyDeviceToHost);
    sync(c);
    for (int64_t b = 0; b < batch; ++b) {
      const int i = info[(size_t)b];
      if (i > 0) policy::fail_batched_not_positive_definite(b, i);
      if (i < 0)
        fail("ERR_CUSOLVER", "batchedGramInverse: cusolverDnSpotrfBatched rejected argument " + std::to_string(-i));
    }
    // L_b⁻¹ by one batched triangular solve against I, then out_b = L_b⁻ᵀ L_b⁻¹ = (L_b⁻¹)ᵀ L_b⁻¹.
    mem(c, "cudaMemsetAsync", api_->cudaMemsetAsync(dL, 0, (size_t)(batch * kk) * sizeof(float), stream_));
    add_diagonal<float>(c, dL, (int)k, (int)k, kk, (int)batch, 1.0);
    blas(c, "cublasStrsmBatched",
         api_->cublasStrsmBatched(blas_, CUBLAS_SIDE_LEFT, CUBLAS_FILL_MODE_LOWER, CUBLAS_OP_N, CUBLAS_DIAG_NON_UNIT,
                                  (int)k, (int)k, &one, dPtrS, (int)k, dPtrL, (int)k, (int)batch));
    blas(c, "cublasSgemmStridedBatched",
         api_->cublasSgemmStridedBatched(blas_, CUBLAS_OP_T, CUBLAS_OP_N, (int)k, (int)k, (int)k, &one, dL, (int)k, kk,
                                         dL, (int)k, kk, &zero, dOut, (int)k, kk, (int)batch));
    int ki = (int)k, bi = (int)batch;
    void* args[] = {&dOut, &ki, &bi};
    launch_1d(c, "ng_mirror_upper_batched", kernels_.mirror_upper_batched, batch * kk, args);
    mark(c, 2);
    d2h(c, out, dOut, batch * kk);
    finish(c);
  }

  // One exact natural-gradient step of an MLP with every stage on the device (issue #19): θ, x and y go up
  // once, n_θ and four numbers (L(θ), gᵀn, nᵀF_θn, L(θ − lr·n)) come back; no N·r × N·r matrix crosses the bus.
  //   forward   a_{l+1} = W_l a_l + b_l (cublasSgemm + ng_add_bias) or σ(a_l) (ng_activation_forward), all kept
  //   factors   ℓ_i, the rows of L_iᵀ (F_i = L_i L_iᵀ) as seeds and u_i with L_i u_i = g_i (ng_family)
  //   backprop  B ← B ⊙ σ'(z) through an activation (ng_activation_backward); B_l = B at linear layer l,
  //             then B ← B W_l below it (cublasSgemm)
  //   kernel    K = Σ_l (B_l B_lᵀ) ⊙ (expand_r(A_l A_lᵀ) + 1) (add_layer_gram, as layerGramSum)
  //   solve     c = (K + NλI)⁻¹ u (potrf + potrs), or (K)⁺ u at λ = 0 (syevd, the pinvSolve cutoff)
  //   update    n = S c layer by layer: Bc_i = B_l(i,·)ᵀ c_i (batched gemm), n_W = Σ_i Bc_i a_iᵀ, n_b = Σ_i Bc_i;
  //             Sᵀn = Σ_l B_l (n_W a_i + n_b) per sample, gᵀn = uᵀSᵀn / N, nᵀF_θn = ‖Sᵀn‖² / N (ng_sum_f64);
  //             with lr > 0 a second forward pass at θ − lr·n and its mean loss.
  // Layouts as everywhere here: a row-major [N, w] array is the column-major w×N matrix, sample i a column.
  void exact_step(const ExactStepSpec& s, ExactStepResult* out) override {
    Call c(this, "exactStep");
    const int64_t N = s.N, k = s.k, r = s.r, M = N * r, L = s.count;
    std::vector<int64_t> win(L), wout(L), woff(L, -1);
    int64_t first = -1, max_w = 0, P = 0;
    for (int64_t l = 0; l < L; ++l) {
      win[l] = s.layers[3 * l + 1];
      wout[l] = s.layers[3 * l + 2];
      max_w = std::max(max_w, wout[l]);
      if (s.layers[3 * l] < 0) {
        woff[l] = P;
        P += win[l] * wout[l] + wout[l];
        if (first < 0) first = l;
      }
    }
    // every buffer in one carve (the arena's one region per call)
    std::vector<Region> regions;
    float *theta, *theta2, *x, *y, *seeds, *u, *cv, *K, *BB, *AA, *bc, *ones, *v, *t, *dir,
        *pw = nullptr, *ps = nullptr, *pt = nullptr;
    double *loss, *work, *sums;
    int *bad, *info;
    std::vector<float*> act(L, nullptr), below(L, nullptr);
    regions.push_back(f32(&theta, P));
    regions.push_back(f32(&theta2, P));
    regions.push_back(f32(&x, s.in_width * N));
    regions.push_back(f32(&y, s.y_width * N));
    for (int64_t l = 0; l < L; ++l) regions.push_back(f32(&act[l], wout[l] * N));
    regions.push_back(f32(&seeds, k * M));
    for (int64_t l = first + 1; l < L; ++l)
      if (s.layers[3 * l] < 0) regions.push_back(f32(&below[l], win[l] * M));
    for (auto [p, n] : std::initializer_list<std::pair<float**, int64_t>>{{&u, M},
                                                                          {&cv, M},
                                                                          {&K, M * M},
                                                                          {&BB, M * M},
                                                                          {&AA, N * N},
                                                                          {&bc, max_w * N},
                                                                          {&ones, N},
                                                                          {&v, max_w * N},
                                                                          {&t, M},
                                                                          {&dir, P}})
      regions.push_back(f32(p, n));
    if (s.damping == 0)
      for (float** p : {&pw, &ps, &pt}) regions.push_back(f32(p, M));
    regions.push_back(raw(&loss, (size_t)N * sizeof(double)));
    regions.push_back(raw(&work, (size_t)(k * N) * sizeof(double)));
    regions.push_back(raw(&sums, 4 * sizeof(double)));
    regions.push_back(raw(&bad, sizeof(int)));
    regions.push_back(raw(&info, sizeof(int)));
    carve(c, regions);
    step_event(c, 0);
    h2d(c, theta, s.theta, P);
    h2d(c, x, s.x, s.in_width * N);
    h2d(c, y, s.y, s.y_width * N);
    const int no_bad = INT32_MAX;
    copy(c, bad, &no_bad, sizeof(int), cudaMemcpyHostToDevice);
    mark(c, 1);
    step_event(c, 1);

    const float one = 1.0f, zero = 0.0f;
    auto input = [&](int64_t l) -> float* { return l == 0 ? x : act[l - 1]; };
    // a forward pass at parameters th, ending in the mean-loss terms of each sample (and the factors when asked)
    auto forward = [&](const float* th, bool factors) {
      for (int64_t l = 0; l < L; ++l) {
        const int kind = s.layers[3 * l];
        float* a = input(l);
        float* o = act[l];
        if (kind < 0) {
          blas(c, "cublasSgemm",
               api_->cublasSgemm_v2(blas_, CUBLAS_OP_T, CUBLAS_OP_N, (int)wout[l], (int)N, (int)win[l], &one,
                                    th + woff[l], (int)win[l], a, (int)win[l], &zero, o, (int)wout[l]));
          add_bias(c, o, th + woff[l] + win[l] * wout[l], wout[l], N);
        } else {
          long long n = win[l] * N;
          int kd = kind;
          void* args[] = {&o, &a, &n, &kd};
          launch_1d(c, "ng_activation_forward", kernels_.activation_forward, n, args);
        }
      }
      int fam = s.family, n = (int)N, kk = (int)k;
      float* eta = act[L - 1];
      float* sd = factors ? seeds : nullptr;
      float* uu = factors ? u : nullptr;
      void* args[] = {&fam, &eta, &y, &n, &kk, &sd, &uu, &loss, &work, &bad};
      launch_1d(c, "ng_family", kernels_.family, N, args);
    };
    auto sum = [&](const double* vals, const float* a, const float* b, int64_t n, double* to) {
      long long nn = n;
      void* args[] = {&vals, &a, &b, &nn, &to};
      launch(c, "ng_sum_f64", kernels_.sum_f64, 1, 1, 256, 1, args);
    };
    forward(theta, true);
    sum(loss, nullptr, nullptr, N, sums);
    step_event(c, 2);

    // backprop: B_l for every linear layer (the seeds' buffer is the last one's when no activation follows it)
    std::vector<float*> bs(L, nullptr);
    float* b = seeds;
    for (int64_t l = L - 1; l >= first; --l) {
      const int kind = s.layers[3 * l];
      if (kind >= 0) {
        float* z = input(l);
        int w = (int)win[l], rr = (int)r, kd = kind;
        long long total = win[l] * M;
        void* args[] = {&b, &z, &w, &rr, &total, &kd};
        launch_1d(c, "ng_activation_backward", kernels_.activation_backward, total, args);
        continue;
      }
      bs[l] = b;
      if (l == first) break;
      blas(c, "cublasSgemm",
           api_->cublasSgemm_v2(blas_, CUBLAS_OP_N, CUBLAS_OP_N, (int)win[l], (int)M, (int)wout[l], &one,
                                theta + woff[l], (int)win[l], b, (int)wout[l], &zero, below[l], (int)win[l]));
      b = below[l];
    }
    step_event(c, 3);

    mem(c, "cudaMemsetAsync", api_->cudaMemsetAsync(K, 0, (size_t)(M * M) * sizeof(float), stream_));
    for (int64_t l = first; l < L; ++l)
      if (bs[l]) add_layer_gram(c, bs[l], input(l), N, r, wout[l], win[l], K, BB, AA);
    step_event(c, 4);

    copy(c, cv, u, (size_t)M * sizeof(float), cudaMemcpyDeviceToDevice);
    if (s.damping > 0) {
      factor_damped<float>(c, K, M, (double)N * s.damping, info);
      solver(c, "cusolverDnSpotrs",
             api_->cusolverDnSpotrs(solver_, CUBLAS_FILL_MODE_LOWER, (int)M, 1, K, (int)M, cv, (int)M, info));
    } else {
      out->rank = pinv_device<float>(c, K, M, cv, 1, 0.0, s.rcond, pw, ps, pt, info);
    }
    step_event(c, 5);

    fill(c, ones, N, 1.0f);
    bool first_layer = true;
    for (int64_t l = first; l < L; ++l) {
      if (!bs[l]) continue;
      const int wo = (int)wout[l], wi = (int)win[l];
      float* nw = dir + woff[l];
      float* nb = nw + win[l] * wout[l];
      blas(c, "cublasSgemmStridedBatched",  // Bc_i = B_l(i, ·)ᵀ c_i: [wo, r] · [r]
           api_->cublasSgemmStridedBatched(blas_, CUBLAS_OP_N, CUBLAS_OP_N, wo, 1, (int)r, &one, bs[l], wo,
                                           (long long)wo * r, cv, (int)r, r, &zero, bc, wo, wo, (int)N));
      blas(c, "cublasSgemm",  // n_W (column-major wi×wo) = A_l Bcᵀ
           api_->cublasSgemm_v2(blas_, CUBLAS_OP_N, CUBLAS_OP_T, wi, wo, (int)N, &one, input(l), wi, bc, wo, &zero, nw,
                                wi));
      blas(c, "cublasSgemm",  // n_b = Bc · 1
           api_->cublasSgemm_v2(blas_, CUBLAS_OP_N, CUBLAS_OP_N, wo, 1, (int)N, &one, bc, wo, ones, (int)N, &zero, nb,
                                wo));
      blas(c, "cublasSgemm",  // V = n_W a_i + n_b for every sample: [wo, N]
           api_->cublasSgemm_v2(blas_, CUBLAS_OP_T, CUBLAS_OP_N, wo, (int)N, wi, &one, nw, wi, input(l), wi, &zero, v,
                                wo));
      add_bias(c, v, nb, wout[l], N);
      const float beta = first_layer ? 0.0f : 1.0f;
      blas(c, "cublasSgemmStridedBatched",  // (Sᵀn)_i += B_l(i, ·) V_i: [r, wo] · [wo]
           api_->cublasSgemmStridedBatched(blas_, CUBLAS_OP_T, CUBLAS_OP_N, (int)r, 1, wo, &one, bs[l], wo,
                                           (long long)wo * r, v, wo, wo, &beta, t, (int)r, r, (int)N));
      first_layer = false;
    }
    sum(nullptr, u, t, M, sums + 1);
    sum(nullptr, t, t, M, sums + 2);
    if (s.lr > 0) {  // θ' = θ − lr·n and L(θ')
      const float neg = (float)-s.lr;
      blas(c, "cublasSgeam",
           api_->cublasSgeam(blas_, CUBLAS_OP_N, CUBLAS_OP_N, (int)P, 1, &one, theta, (int)P, &neg, dir, (int)P, theta2,
                             (int)P));
      forward(theta2, false);
      sum(loss, nullptr, nullptr, N, sums + 3);
    }
    step_event(c, 6);
    mark(c, 2);
    double h[4] = {0, 0, 0, 0};
    int first_bad = INT32_MAX;
    d2h(c, s.direction, dir, P);
    copy(c, h, sums, sizeof h, cudaMemcpyDeviceToHost);
    copy(c, &first_bad, bad, sizeof(int), cudaMemcpyDeviceToHost);
    finish(c);
    for (int i = 0; i < 6; ++i) {
      float ms = 0;
      mem(c, "cudaEventElapsedTime", api_->cudaEventElapsedTime(&ms, step_events_[i], step_events_[i + 1]));
      out->ms[i] = ms;
    }
    if (first_bad != INT32_MAX)
      fail("ERR_NON_FINITE", "exactStep: sample " + std::to_string(first_bad) +
                                 ": the natural-gradient right-hand side overflows float32 (its observed outcome has "
                                 "probability ~0 under the model)");
    out->loss = h[0] / (double)N;
    out->gn = h[1] / (double)N;
    out->nfn = h[2] / (double)N;
    out->trial_loss = s.lr > 0 ? h[3] / (double)N : std::numeric_limits<double>::quiet_NaN();
  }

 private:
  // One backend call: holds the lock, binds the context to this thread, names the kernel in errors.
  struct Call {
    Call(CudaBackend* b, const char* fn) : self(b), lock(b->mu_), name(fn) {
      self->cu(*this, "cuCtxSetCurrent", self->api_->cuCtxSetCurrent(self->ctx_));
      self->mem(*this, "cudaSetDevice", self->api_->cudaSetDevice(self->ordinal_));
      self->mark(*this, 0);
    }
    CudaBackend* self;
    std::lock_guard<std::mutex> lock;
    const char* name;
  };

  // ---- errors ---------------------------------------------------------------------------------
  void mem(Call& c, const char* what, cudaError_t e) {
    if (e == cudaSuccess) return;
    api_->cudaGetLastError();  // clear a non-sticky error so that the next call can succeed
    const char* name = api_->cudaGetErrorName(e);
    const char* text = api_->cudaGetErrorString(e);
    fail(e == cudaErrorMemoryAllocation ? "ERR_CUDA_OUT_OF_MEMORY" : "ERR_CUDA",
         std::string(c.name) + ": " + what + " failed: " + (name ? name : "?") + " (" + (text ? text : "") + ")");
  }
  void cu(Call& c, const char* what, CUresult e) {
    if (e == CUDA_SUCCESS) return;
    fail(e == CUDA_ERROR_OUT_OF_MEMORY ? "ERR_CUDA_OUT_OF_MEMORY" : "ERR_CUDA",
         std::string(c.name) + ": " + what + " failed: " + driver_error(e));
  }
  void blas(Call& c, const char* what, cublasStatus_t s) {
    if (s == CUBLAS_STATUS_SUCCESS) return;
    fail(s == CUBLAS_STATUS_ALLOC_FAILED ? "ERR_CUDA_OUT_OF_MEMORY" : "ERR_CUBLAS",
         std::string(c.name) + ": " + what + " failed: " + cublas_status_name(s));
  }
  void solver(Call& c, const char* what, cusolverStatus_t s) {
    if (s == CUSOLVER_STATUS_SUCCESS) return;
    fail(s == CUSOLVER_STATUS_ALLOC_FAILED ? "ERR_CUDA_OUT_OF_MEMORY" : "ERR_CUSOLVER",
         std::string(c.name) + ": " + what + " failed: " + cusolver_status_name(s));
  }
  std::string driver_error(CUresult e) const { return driver_error(*api_, e); }
  static std::string driver_error(const Api& api, CUresult e) {
    const char* name = nullptr;
    const char* text = nullptr;
    api.cuGetErrorName(e, &name);
    api.cuGetErrorString(e, &text);
    return std::string(name ? name : ("CUresult " + std::to_string(e)).c_str()) + " (" + (text ? text : "") + ")";
  }

  // ---- device memory: two grow-only arenas ---------------------------------------------------
  static constexpr size_t kAlign = 256;
  static size_t aligned(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

  // Data arena: the regions of one call, carved at once (one carve() per call). Growing it
  // may free the solver workspace too, to make room.
  void ensure_data(Call& c, size_t need) {
    if (data_cap_ >= need) return;
    sync(c);
    if (data_) api_->cudaFree(data_);
    data_ = nullptr;
    data_cap_ = 0;
    if (try_alloc(&data_, &data_cap_, need)) return;
    if (work_) api_->cudaFree(work_);
    work_ = nullptr;
    work_cap_ = 0;
    if (try_alloc(&data_, &data_cap_, need)) return;
    out_of_memory(c, need);
  }
  // Workspace arena (cuSOLVER): its own allocation, so that growing it never moves the data regions.
  void* workspace(Call& c, size_t bytes) {
    bytes = std::max<size_t>(bytes, kAlign);
    if (work_cap_ >= bytes) return work_;
    sync(c);
    if (work_) api_->cudaFree(work_);
    work_ = nullptr;
    work_cap_ = 0;
    if (!try_alloc(&work_, &work_cap_, bytes)) out_of_memory(c, bytes);
    return work_;
  }
  // cudaMalloc with 1/8 headroom (so that a slightly larger next call does not reallocate), then exact.
  bool try_alloc(void** base, size_t* cap, size_t need) {
    for (size_t want : {aligned(need + (need >> 3)), need}) {
      const cudaError_t e = api_->cudaMalloc(base, want);
      if (e == cudaSuccess) {
        *cap = want;
        return true;
      }
      api_->cudaGetLastError();  // an allocation failure is not sticky: clear it
      *base = nullptr;
      if (e != cudaErrorMemoryAllocation) return false;
    }
    return false;
  }
  [[noreturn]] void out_of_memory(Call& c, size_t need) {
    size_t free_b = 0, total_b = 0;
    api_->cudaMemGetInfo(&free_b, &total_b);
    fail("ERR_CUDA_OUT_OF_MEMORY", std::string(c.name) + ": out of GPU memory: needs " + mib(need) + ", " +
                                       mib(free_b) + " free of " + mib(total_b) + " on " + device_);
  }

  struct Region {
    void** ptr;
    size_t bytes;
  };
  template <class P>
  static Region f32(P** p, int64_t count) {  // `count` floats
    return {reinterpret_cast<void**>(p), (size_t)count * sizeof(float)};
  }
  template <class P>
  static Region raw(P** p, size_t bytes) {
    return {reinterpret_cast<void**>(p), bytes};
  }
  void carve(Call& c, std::initializer_list<Region> regions) { carve(c, std::vector<Region>(regions)); }
  void carve(Call& c, const std::vector<Region>& regions) {
    size_t total = 0;
    for (const Region& r : regions) total += aligned(r.bytes);
    ensure_data(c, total);
    size_t off = 0;
    for (const Region& r : regions) {
      *r.ptr = static_cast<char*>(data_) + off;
      off += aligned(r.bytes);
    }
  }

  // ---- transfers and launches ----------------------------------------------------------------
  void copy(Call& c, void* dst, const void* src, size_t bytes, int kind) {
    mem(c, "cudaMemcpyAsync", api_->cudaMemcpyAsync(dst, src, bytes, kind, stream_));
  }
  void h2d(Call& c, float* dst, const float* src, int64_t n) {
    copy(c, dst, src, (size_t)n * sizeof(float), cudaMemcpyHostToDevice);
  }
  void d2h(Call& c, float* dst, const float* src, int64_t n) {
    copy(c, dst, src, (size_t)n * sizeof(float), cudaMemcpyDeviceToHost);
  }
  void sync(Call& c) { mem(c, "cudaStreamSynchronize", api_->cudaStreamSynchronize(stream_)); }
  // NATGRAD_CUDA_TIMING=1: events around the upload / compute / download phases of each call,
  // reported by info().note (bench/gpu.js reads the device time of the compute phase from there).
  void mark(Call& c, int i) {
    if (timing_) mem(c, "cudaEventRecord", api_->cudaEventRecord(events_[i], stream_));
  }
  void finish(Call& c) {
    mark(c, 3);
    sync(c);
    if (!timing_) return;
    float ms[3] = {0, 0, 0};
    for (int i = 0; i < 3; ++i)
      mem(c, "cudaEventElapsedTime", api_->cudaEventElapsedTime(&ms[i], events_[i], events_[i + 1]));
    char text[200];
    std::snprintf(text, sizeof text, "%s upload %.3f ms, compute %.3f ms, download %.3f ms", c.name, ms[0], ms[1],
                  ms[2]);
    std::lock_guard<std::mutex> g(timing_mu_);
    last_timing_ = text;
  }

  void launch(Call& c, const char* kernel, CUfunction f, unsigned gx, unsigned gy, unsigned bx, unsigned by,
              void** args) {
    const CUresult e = api_->cuLaunchKernel(f, gx, gy, 1, bx, by, 1, 0, stream_, args, nullptr);
    if (e != CUDA_SUCCESS)
      fail(e == CUDA_ERROR_OUT_OF_MEMORY ? "ERR_CUDA_OUT_OF_MEMORY" : "ERR_CUDA",
           std::string(c.name) + ": launching " + kernel + " failed: " + driver_error(e));
  }
  void launch_1d(Call& c, const char* kernel, CUfunction f, int64_t total, void** args) {
    const int64_t blocks = std::min<int64_t>(std::max<int64_t>((total + 255) / 256, 1), 65535);
    launch(c, kernel, f, (unsigned)blocks, 1, 256, 1, args);
  }

  // ---- building blocks -------------------------------------------------------------------------

  // C [M,M] (column-major, ld M): upper triangle of XᵀX (x_is_PxM: X column-major P×M, ld ldx)
  // or of X Xᵀ (X column-major M×P, ld ldx). Done as a few column panels with cublasSgemm
  // (panel j covers rows 0..end of the panel, so about (nb+1)/(2nb) of the full product's flops,
  // each panel at full SGEMM speed and with TF32 when enabled); the part of each diagonal block
  // below the diagonal is written too and is overwritten by mirror(). accumulate: C's upper triangle is
  // added to (β = 1).
  void gram_upper(Call& c, const float* X, bool x_is_PxM, int M, int P, int ldx, float* C, bool accumulate = false) {
    const float one = 1.0f, beta = accumulate ? 1.0f : 0.0f;  // accumulate: each element of C is in one panel
    int bw = M;
    if (M > 1024) bw = std::max(1024, ((M + 3) / 4 + 255) / 256 * 256);
    for (int j0 = 0; j0 < M; j0 += bw) {
      const int j1 = std::min(M, j0 + bw), w = j1 - j0;
      if (x_is_PxM)  // C[0:j1, j0:j1] = X[:, 0:j1]ᵀ X[:, j0:j1]
        blas(c, "cublasSgemm",
             api_->cublasSgemm_v2(blas_, CUBLAS_OP_T, CUBLAS_OP_N, j1, w, P, &one, X, ldx, X + (size_t)j0 * ldx, ldx,
                                  &beta, C + (size_t)j0 * M, M));
      else  // C[0:j1, j0:j1] = X[0:j1, :] X[j0:j1, :]ᵀ
        blas(c, "cublasSgemm",
             api_->cublasSgemm_v2(blas_, CUBLAS_OP_N, CUBLAS_OP_T, j1, w, P, &one, X, ldx, X + j0, ldx, &beta,
                                  C + (size_t)j0 * M, M));
    }
  }

  // K [Nk,Nk] += (B Bᵀ) ⊙ (expand_k(A Aᵀ) + 1) for one layer on the device: B [Nk, wo] row-major (= column-major
  // wo×Nk), A [N, wi]; BB [Nk,Nk] and AA [N,N] are scratch (their upper triangles: BB = BcᵀBc, AA = AcᵀAc).
  void add_layer_gram(Call& c, const float* B, const float* A, int64_t N, int64_t k, int64_t wo, int64_t wi, float* K,
                      float* BB, float* AA) {
    const int64_t NK = N * k;
    gram_upper(c, B, true, (int)NK, (int)wo, (int)wo, BB);
    gram_upper(c, A, true, (int)N, (int)wi, (int)wi, AA);
    int nk = (int)NK, kk = (int)k, n = (int)N;
    void* args[] = {&K, &BB, &AA, &nk, &kk, &n};
    const unsigned T = (unsigned)((NK + 31) / 32);
    launch(c, "ng_layer_hadamard", kernels_.layer_hadamard, T, T, 32, 8, args);
  }

  // Z [w, N] += b in every column (a linear layer's bias).
  void add_bias(Call& c, float* Z, const float* b, int64_t w, int64_t N) {
    int wi = (int)w;
    long long total = w * N;
    void* args[] = {&Z, &b, &wi, &total};
    launch_1d(c, "ng_add_bias", kernels_.add_bias, total, args);
  }
  void fill(Call& c, float* a, int64_t n, float value) {
    long long nn = n;
    void* args[] = {&a, &nn, &value};
    launch_1d(c, "ng_fill_f32", kernels_.fill_f32, n, args);
  }
  // exact_step's phase boundaries (their own events, created on first use)
  void step_event(Call& c, int i) {
    if (!step_events_[i]) mem(c, "cudaEventCreate", api_->cudaEventCreate(&step_events_[i]));
    mem(c, "cudaEventRecord", api_->cudaEventRecord(step_events_[i], stream_));
  }

  // K [M,M]: strictly-lower ← upperᵀ.
  void mirror(Call& c, float* K, int M) {
    void* args[] = {&K, &M};
    const unsigned T = (unsigned)((M + 31) / 32);
    launch(c, "ng_mirror_upper", kernels_.mirror_upper, T, T, 32, 8, args);
  }

  template <class T>
  void add_diagonal(Call& c, T* A, int n, int ld, int64_t stride, int batch, double v) {
    long long s = stride;
    if constexpr (sizeof(T) == 4) {
      float fv = (float)v;
      void* args[] = {&A, &n, &ld, &s, &batch, &fv};
      launch_1d(c, "ng_add_diagonal_f32", kernels_.add_diagonal_f32, (int64_t)n * batch, args);
    } else {
      double dv = v;
      void* args[] = {&A, &n, &ld, &s, &batch, &dv};
      launch_1d(c, "ng_add_diagonal_f64", kernels_.add_diagonal_f64, (int64_t)n * batch, args);
    }
  }

  // Host float32 → device T (through `stage`, a float32 device buffer of n elements, when T is double).
  template <class T>
  void upload(Call& c, T* dst, const float* src, int64_t n, float* stage) {
    if constexpr (sizeof(T) == 4) {
      h2d(c, dst, src, n);
    } else {
      h2d(c, stage, src, n);
      long long nn = n;
      void* args[] = {&dst, &stage, &nn};
      launch_1d(c, "ng_f32_to_f64", kernels_.f32_to_f64, n, args);
    }
  }
  template <class T>
  void download(Call& c, float* dst, T* src, int64_t n, float* stage) {
    if constexpr (sizeof(T) == 4) {
      d2h(c, dst, src, n);
    } else {
      long long nn = n;
      void* args[] = {&stage, &src, &nn};
      launch_1d(c, "ng_f64_to_f32", kernels_.f64_to_f32, n, args);
      d2h(c, dst, stage, n);
    }
  }
  template <class T>
  T* typed(float* p) {
    return reinterpret_cast<T*>(p);
  }

  // A [M,M] (column-major, the lower triangle read) ← the Cholesky factor of A + λI, on the device; a
  // non-positive pivot is ERR_NOT_POSITIVE_DEFINITE (synchronises to read the info).
  template <class T>
  void factor_damped(Call& c, T* A, int64_t M, double lambda, int* dInfo) {
    add_diagonal<T>(c, A, (int)M, (int)M, 0, 1, lambda);
    int lwork = 0;
    solver(c, Ops<T>::potrf_bs_name,
           Ops<T>::potrf_bs(*api_, solver_, CUBLAS_FILL_MODE_LOWER, (int)M, A, (int)M, &lwork));
    T* work = static_cast<T*>(workspace(c, (size_t)std::max(lwork, 1) * sizeof(T)));
    solver(c, Ops<T>::potrf_name,
           Ops<T>::potrf(*api_, solver_, CUBLAS_FILL_MODE_LOWER, (int)M, A, (int)M, work, lwork, dInfo));
    int info = 0;
    copy(c, &info, dInfo, sizeof(int), cudaMemcpyDeviceToHost);
    sync(c);
    if (info > 0) policy::fail_cholesky_not_positive_definite(info);
    if (info < 0) fail("ERR_CUSOLVER", std::string(c.name) + ": potrf rejected argument " + std::to_string(-info));
  }

  // X = (K + λI)⁻¹ R: potrf on the lower triangle of the column-major view (= the upper
  // triangle of row-major K, as the CPU reads it), then potrs on Rᵀ's transpose.
  template <class T>
  void cholesky_t(const float* K, int64_t M, const float* R, int64_t nrhs, double lambda, float* X) {
    Call c(this, "choleskySolve");
    constexpr int64_t w = sizeof(T) / sizeof(float);  // floats per element
    const int64_t mr = M * nrhs;
    float *dA, *dRr, *dY, *stage;
    int* dInfo;
    carve(c, {f32(&dA, M * M * w), f32(&dRr, mr * w), f32(&dY, mr * w), f32(&stage, w == 1 ? 1 : std::max(M * M, mr)),
              raw(&dInfo, sizeof(int))});
    T* A = typed<T>(dA);
    T* Rr = typed<T>(dRr);  // R row-major = column-major nrhs×M
    T* Y = typed<T>(dY);    // column-major M×nrhs
    upload<T>(c, A, K, M * M, stage);
    upload<T>(c, Rr, R, mr, stage);
    mark(c, 1);
    factor_damped<T>(c, A, M, lambda, dInfo);
    int info = 0;
    const T one = 1, zero = 0;
    T* B = Rr;
    if (nrhs > 1) {  // Y = (Rr)ᵀ: M×nrhs column-major
      blas(c, Ops<T>::geam_name,
           Ops<T>::geam(*api_, blas_, CUBLAS_OP_T, CUBLAS_OP_T, (int)M, (int)nrhs, &one, Rr, (int)nrhs, &zero, Rr,
                        (int)nrhs, Y, (int)M));
      B = Y;
    }
    solver(c, Ops<T>::potrs_name,
           Ops<T>::potrs(*api_, solver_, CUBLAS_FILL_MODE_LOWER, (int)M, (int)nrhs, A, (int)M, B, (int)M, dInfo));
    if (nrhs > 1)  // back to row-major: Rr = Yᵀ (nrhs×M column-major)
      blas(c, Ops<T>::geam_name,
           Ops<T>::geam(*api_, blas_, CUBLAS_OP_T, CUBLAS_OP_T, (int)nrhs, (int)M, &one, Y, (int)M, &zero, Y, (int)M,
                        Rr, (int)nrhs));
    mark(c, 2);
    copy(c, &info, dInfo, sizeof(int), cudaMemcpyDeviceToHost);
    download<T>(c, X, Rr, mr, stage);
    finish(c);
    if (info != 0) fail("ERR_CUSOLVER", "choleskySolve: potrs failed with info " + std::to_string(info));
  }

  // X = (K + λI)⁺ R by syevd: V diag(e) Vᵀ, then Xᵀ = ((Rᵀ V) · diag(s)) Vᵀ, s_i = 1/e_i or 0,
  // computed on the row-major (= column-major transposed) views so that no transpose is needed.
  template <class T>
  int64_t pinv_t(const float* K, int64_t M, const float* R, int64_t nrhs, double lambda, double rcond, float* X) {
    Call c(this, "pinvSolve");
    constexpr int64_t w = sizeof(T) / sizeof(float);
    const int64_t mr = M * nrhs;
    float *dV, *dW, *dS, *dRr, *dT, *stage;
    int* dInfo;
    carve(c, {f32(&dV, M * M * w), f32(&dW, M * w), f32(&dS, M * w), f32(&dRr, mr * w), f32(&dT, mr * w),
              f32(&stage, w == 1 ? 1 : std::max(M * M, mr)), raw(&dInfo, sizeof(int))});
    T* V = typed<T>(dV);
    T* W = typed<T>(dW);
    T* S = typed<T>(dS);
    T* Rr = typed<T>(dRr);  // column-major nrhs×M (= R row-major)
    T* Tm = typed<T>(dT);   // column-major nrhs×M
    upload<T>(c, V, K, M * M, stage);
    upload<T>(c, Rr, R, mr, stage);
    mark(c, 1);
    const int64_t rank = pinv_device<T>(c, V, M, Rr, nrhs, lambda, rcond, W, S, Tm, dInfo);
    mark(c, 2);
    download<T>(c, X, Rr, mr, stage);
    finish(c);
    return rank;
  }

  // Rr (column-major nrhs×M) ← Rr (V + λI)⁺ on the device, V [M,M] overwritten by its eigenvectors;
  // W, S [M] and Tm [nrhs×M] scratch. Returns the rank kept (policy::pinv_keeps).
  template <class T>
  int64_t pinv_device(Call& c, T* V, int64_t M, T* Rr, int64_t nrhs, double lambda, double rcond, T* W, T* S, T* Tm,
                      int* dInfo) {
    add_diagonal<T>(c, V, (int)M, (int)M, 0, 1, lambda);
    int lwork = 0;
    solver(c, Ops<T>::syevd_bs_name,
           Ops<T>::syevd_bs(*api_, solver_, CUSOLVER_EIG_MODE_VECTOR, CUBLAS_FILL_MODE_LOWER, (int)M, V, (int)M, W,
                            &lwork));
    T* work = static_cast<T*>(workspace(c, (size_t)std::max(lwork, 1) * sizeof(T)));
    solver(c, Ops<T>::syevd_name,
           Ops<T>::syevd(*api_, solver_, CUSOLVER_EIG_MODE_VECTOR, CUBLAS_FILL_MODE_LOWER, (int)M, V, (int)M, W, work,
                         lwork, dInfo));
    int info = 0;
    std::vector<T> e((size_t)M);
    copy(c, &info, dInfo, sizeof(int), cudaMemcpyDeviceToHost);
    copy(c, e.data(), W, (size_t)M * sizeof(T), cudaMemcpyDeviceToHost);
    sync(c);
    if (info != 0)
      fail("ERR_LAPACK", std::string(c.name) + ": the eigendecomposition did not converge (cusolverDn syevd info " +
                             std::to_string(info) + ")");
    rcond = policy::pinv_rcond(rcond, M);
    T emax = 0;
    for (int64_t i = 0; i < M; ++i) emax = std::max(emax, (T)std::fabs(e[(size_t)i]));
    const T cutoff = (T)rcond * emax;
    int64_t rank = 0;
    std::vector<T> s((size_t)M);
    for (int64_t i = 0; i < M; ++i) {
      const bool keep = policy::pinv_keeps(e[(size_t)i], emax, cutoff);
      rank += keep;
      s[(size_t)i] = keep ? (T)1 / e[(size_t)i] : (T)0;
    }
    copy(c, S, s.data(), (size_t)M * sizeof(T), cudaMemcpyHostToDevice);
    const T one = 1, zero = 0;
    // Tmᵀ = Rᵀ V  (nrhs×M), scale column i by s_i, Xᵀ = Tmᵀ Vᵀ → written over Rr
    blas(c, Ops<T>::gemm_name,
         Ops<T>::gemm(*api_, blas_, CUBLAS_OP_N, CUBLAS_OP_N, (int)nrhs, (int)M, (int)M, &one, Rr, (int)nrhs, V, (int)M,
                      &zero, Tm, (int)nrhs));
    blas(c, Ops<T>::dgmm_name,
         Ops<T>::dgmm(*api_, blas_, CUBLAS_SIDE_RIGHT, (int)nrhs, (int)M, Tm, (int)nrhs, S, 1, Tm, (int)nrhs));
    blas(c, Ops<T>::gemm_name,
         Ops<T>::gemm(*api_, blas_, CUBLAS_OP_N, CUBLAS_OP_T, (int)nrhs, (int)M, (int)M, &one, Tm, (int)nrhs, V, (int)M,
                      &zero, Rr, (int)nrhs));
    return rank;
  }

  CudaBackend(const Api* api) : api_(api) {}

  const Api* api_;
  int ordinal_ = 0;
  CUdevice dev_ = 0;
  CUcontext ctx_ = nullptr;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t blas_ = nullptr;
  cusolverDnHandle_t solver_ = nullptr;
  Kernels kernels_;
  bool tf32_ = false;
  bool timing_ = false;
  cudaEvent_t events_[4] = {nullptr, nullptr, nullptr, nullptr};
  cudaEvent_t step_events_[7] = {nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr};
  mutable std::mutex timing_mu_;
  std::string last_timing_;
  std::string device_, versions_;
  std::mutex mu_;
  void* data_ = nullptr;
  size_t data_cap_ = 0;
  void* work_ = nullptr;
  size_t work_cap_ = 0;
};

CudaBackend* CudaBackend::create(std::string* reason) {
  const Api* api = load_api(reason);
  if (!api) return nullptr;
  const Api& a = *api;
  auto driver_err = [&](CUresult e) { return driver_error(a, e); };
  auto rt_err = [&](cudaError_t e) {
    const char* n = a.cudaGetErrorName(e);
    const char* s = a.cudaGetErrorString(e);
    return std::string(n ? n : "?") + " (" + (s ? s : "") + ")";
  };

  CUresult r = a.cuInit(0);
  if (r == CUDA_ERROR_NO_DEVICE) {
    *reason = "no CUDA device (cuInit: " + driver_err(r) + ")";
    return nullptr;
  }
  if (r != CUDA_SUCCESS) {
    *reason = "the NVIDIA driver did not initialise (cuInit: " + driver_err(r) + ")";
    return nullptr;
  }
  int count = 0;
  cudaError_t e = a.cudaGetDeviceCount(&count);
  if (e == cudaErrorInsufficientDriver) {
    int drv = 0, rt = 0;
    a.cuDriverGetVersion(&drv);
    a.cudaRuntimeGetVersion(&rt);
    *reason = "the NVIDIA driver (CUDA " + version_text(drv, 1000, 10) + ") is older than the CUDA runtime " +
              a.cudart_path + (rt ? " (CUDA " + version_text(rt, 1000, 10) + ")" : "") +
              "; point NATGRAD_CUDA_PATH at CUDA libraries no newer than the driver, or update the driver";
    return nullptr;
  }
  if (e != cudaSuccess || count < 1) {
    *reason = "no CUDA device (cudaGetDeviceCount: " + (e != cudaSuccess ? rt_err(e) : std::string("0 devices")) + ")";
    return nullptr;
  }

  std::unique_ptr<CudaBackend> b(new CudaBackend(api));
  b->ordinal_ = 0;  // CUDA_VISIBLE_DEVICES picks which GPU this is
  if ((r = a.cuDeviceGet(&b->dev_, b->ordinal_)) != CUDA_SUCCESS) {
    *reason = "cuDeviceGet(0) failed: " + driver_err(r);
    return nullptr;
  }
  char name[256] = {0};
  a.cuDeviceGetName(name, sizeof name - 1, b->dev_);
  int major = 0, minor = 0;
  a.cuDeviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, b->dev_);
  a.cuDeviceGetAttribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, b->dev_);
  size_t total = 0;
  a.cuDeviceTotalMem_v2(&total, b->dev_);
  char gib[32];
  std::snprintf(gib, sizeof gib, "%.1f GiB", (double)total / (1024.0 * 1024.0 * 1024.0));
  b->device_ = std::string(name) + " (compute capability " + std::to_string(major) + "." + std::to_string(minor) +
               ", " + gib + ")";
  if (major * 10 + minor < 75) {
    *reason = "the GPU " + b->device_ + " is older than compute capability 7.5, which natgrad's CUDA kernels need";
    return nullptr;
  }
  if ((r = a.cuDevicePrimaryCtxRetain(&b->ctx_, b->dev_)) != CUDA_SUCCESS ||
      (r = a.cuCtxSetCurrent(b->ctx_)) != CUDA_SUCCESS) {
    *reason = "could not create a CUDA context on " + b->device_ + ": " + driver_err(r);
    return nullptr;
  }
  if ((e = a.cudaSetDevice(b->ordinal_)) != cudaSuccess) {
    *reason = "cudaSetDevice(0) failed: " + rt_err(e);
    return nullptr;
  }

  // The elementwise kernels: JIT-compile the embedded PTX for this GPU.
  char log[4096] = {0};
  int opts[] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
  void* vals[] = {log, reinterpret_cast<void*>((uintptr_t)(sizeof log - 1))};
  CUmodule module = nullptr;
  if ((r = a.cuModuleLoadDataEx(&module, kKernelsPtx, 2, opts, vals)) != CUDA_SUCCESS) {
    int drv = 0;
    a.cuDriverGetVersion(&drv);
    *reason = "the NVIDIA driver (CUDA " + version_text(drv, 1000, 10) +
              ") could not load natgrad's CUDA kernels (PTX ISA 7.0, sm_75): " + driver_err(r) +
              (log[0] ? std::string(": ") + log : std::string());
    return nullptr;
  }
  struct {
    CUfunction* f;
    const char* name;
  } fns[] = {{&b->kernels_.mirror_upper, "ng_mirror_upper"},
             {&b->kernels_.layer_hadamard, "ng_layer_hadamard"},
             {&b->kernels_.add_diagonal_f32, "ng_add_diagonal_f32"},
             {&b->kernels_.add_diagonal_f64, "ng_add_diagonal_f64"},
             {&b->kernels_.mirror_upper_batched, "ng_mirror_upper_batched"},
             {&b->kernels_.f32_to_f64, "ng_f32_to_f64"},
             {&b->kernels_.f64_to_f32, "ng_f64_to_f32"},
             {&b->kernels_.fill_f32, "ng_fill_f32"},
             {&b->kernels_.add_bias, "ng_add_bias"},
             {&b->kernels_.activation_forward, "ng_activation_forward"},
             {&b->kernels_.activation_backward, "ng_activation_backward"},
             {&b->kernels_.family, "ng_family"},
             {&b->kernels_.sum_f64, "ng_sum_f64"}};
  for (auto& f : fns) {
    if ((r = a.cuModuleGetFunction(f.f, module, f.name)) != CUDA_SUCCESS) {
      *reason = std::string("natgrad's PTX has no kernel ") + f.name + ": " + driver_err(r);
      return nullptr;
    }
  }

  if ((e = a.cudaStreamCreateWithFlags(&b->stream_, cudaStreamNonBlocking)) != cudaSuccess) {
    *reason = "cudaStreamCreateWithFlags failed: " + rt_err(e);
    return nullptr;
  }
  cublasStatus_t bs = a.cublasCreate_v2(&b->blas_);
  if (bs != CUBLAS_STATUS_SUCCESS) {
    *reason = std::string("cublasCreate failed: ") + cublas_status_name(bs) + " (" + a.cublas_path +
              "; a cuBLAS newer than the driver fails this way)";
    return nullptr;
  }
  const char* tf32 = std::getenv("NATGRAD_TF32");
  b->tf32_ = tf32 && std::strcmp(tf32, "1") == 0;
  if ((bs = a.cublasSetStream_v2(b->blas_, b->stream_)) != CUBLAS_STATUS_SUCCESS ||
      (bs = a.cublasSetMathMode(b->blas_, b->tf32_ ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH)) !=
          CUBLAS_STATUS_SUCCESS) {
    *reason = std::string("cuBLAS set-up failed: ") + cublas_status_name(bs);
    return nullptr;
  }
  const char* timing = std::getenv("NATGRAD_CUDA_TIMING");
  b->timing_ = timing && std::strcmp(timing, "1") == 0;
  for (int i = 0; b->timing_ && i < 4; ++i) {
    if ((e = a.cudaEventCreate(&b->events_[i])) != cudaSuccess) {
      *reason = "cudaEventCreate failed: " + rt_err(e);
      return nullptr;
    }
  }
  cusolverStatus_t ss = a.cusolverDnCreate(&b->solver_);
  if (ss == CUSOLVER_STATUS_SUCCESS) ss = a.cusolverDnSetStream(b->solver_, b->stream_);
  if (ss != CUSOLVER_STATUS_SUCCESS) {
    *reason = std::string("cuSOLVER set-up failed: ") + cusolver_status_name(ss) + " (" + a.cusolver_path + ")";
    return nullptr;
  }

  int blas_v = 0, solver_v = 0, rt_v = 0, drv_v = 0;
  a.cublasGetVersion_v2(b->blas_, &blas_v);  // major·10000 + minor·100 + patch (cuBLAS ≥ 11)
  a.cusolverGetVersion(&solver_v);           // major·1000 + minor·100 + patch
  a.cudaRuntimeGetVersion(&rt_v);            // major·1000 + minor·10
  a.cuDriverGetVersion(&drv_v);
  b->versions_ = "cuBLAS " + std::to_string(blas_v / 10000) + "." + std::to_string(blas_v / 100 % 100) + "." +
                 std::to_string(blas_v % 100) + " + cuSOLVER " + std::to_string(solver_v / 1000) + "." +
                 std::to_string(solver_v / 100 % 10) + "." + std::to_string(solver_v % 100) + " (CUDA runtime " +
                 version_text(rt_v, 1000, 10) + ", driver " + version_text(drv_v, 1000, 10) + ")";
  return b.release();
}

}  // namespace

Backend* cuda_backend(std::string* reason) {
  static std::once_flag once;
  static CudaBackend* backend = nullptr;
  static std::string why;
  std::call_once(once, [] { backend = CudaBackend::create(&why); });
  if (!backend) *reason = why;
  return backend;
}

}  // namespace natgrad
