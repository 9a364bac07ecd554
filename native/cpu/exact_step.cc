// One exact natural-gradient step of a stack of linear layers and activations in one native call on the CPU
// (Backend::exact_step; lib/optim/exact_device.ts). The stages and formulas are those of the host pipeline
// (lib/optim/exact.ts) and of the CUDA backend's exact_step, on this backend's own kernels:
//
//   forward   z = a Wᵀ + b (gemm onto the bias rows) or a = σ(z) (activation_forward), every layer kept
//   factors   ℓ_i, the rows of L_iᵀ (F_i = L_i L_iᵀ) as seeds and u_i with L_i u_i = g_i (../family.h)
//   backprop  B ← B ⊙ σ'(z) through an activation (activation_backward); B_l = B at linear layer l,
//             then B ← B W_l below it (gemm)
//   kernel    K = Σ_l (B_l B_lᵀ) ⊙ (expand_r(A_l A_lᵀ) + 1)                          (layer_gram_sum)
//   solve     c = (K + NλI)⁻¹ u (cholesky_solve_in_place: K is the step's own), or K⁺u at λ = 0 (pinv_solve)
//   update    n = S c layer by layer: B̃_i = Σ_m c_(i,m) B_l(i,m) (rows_contract), n_W = B̃ᵀA, n_b = Σ_i B̃_i;
//             Sᵀn = Σ_l B_l(i,m) · (n_W a_i + n_b) (gemm, rows_dot), gᵀn = uᵀSᵀn / N, nᵀF_θn = ‖Sᵀn‖² / N;
//             with lr > 0 the forward pass at θ − lr·n and its mean loss.
//
// Why one call: composed in JavaScript, the same step makes ~30 addon calls at N = 256, each checking and
// scanning its arrays, and pays V8's loops between them (forward, backprop and update took 13–18 ms of a
// 60–87 ms step for 784-256-256-10, against a plain-OpenBLAS floor of 38–53 ms: issue #13).
//
// Failures the host pipeline answers differently are thrown for it to retry the batch (hostRetries): a
// non-positive Cholesky pivot (ERR_NOT_POSITIVE_DEFINITE: its float64 pseudo-inverse) and any non-finite
// loss, right-hand side, direction or Sᵀn (ERR_NON_FINITE: it names the input or layer).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "../error.h"
#include "../family.h"
#include "../scratch.h"
#include "cpu_kernels.h"
#include "parallel.h"

namespace natgrad::cpu {

namespace {

// The layer list, read once: widths, parameter offsets, the first linear layer.
struct Layout {
  int64_t L = 0, first = -1, max_w = 0, P = 0;
  std::vector<int> kind;  // −1 linear, else the activation
  std::vector<int64_t> win, wout, woff;

  explicit Layout(const ExactStepSpec& s) : L(s.count), kind(L), win(L), wout(L), woff(L, -1) {
    for (int64_t l = 0; l < L; ++l) {
      kind[l] = s.layers[3 * l];
      win[l] = s.layers[3 * l + 1];
      wout[l] = s.layers[3 * l + 2];
      max_w = std::max(max_w, wout[l]);
      if (kind[l] < 0) {
        woff[l] = P;
        P += win[l] * wout[l] + wout[l];
        if (first < 0) first = l;
      }
    }
  }
};

// Every buffer of the step in one block (one pool slot, so that the next step finds it without page faults):
// floats, then doubles, each region 64-byte aligned.
struct Arena {
  float *theta2, *seeds, *u, *c, *K, *bc, *v;
  double *loss, *p, *cd, *t, *nb;
  std::vector<float*> act, below;
  int64_t bytes = 0;

  Arena(const ExactStepSpec& s, const Layout& g) : act(g.L, nullptr), below(g.L, nullptr) {
    const int64_t N = s.N, M = s.N * s.r;
    const auto f32 = [&](float** ptr, int64_t n) { regions_.push_back({reinterpret_cast<void**>(ptr), 4 * n}); };
    const auto f64 = [&](double** ptr, int64_t n) { regions_.push_back({reinterpret_cast<void**>(ptr), 8 * n}); };
    f32(&K, M * M);
    f32(&theta2, g.P);
    for (int64_t l = 0; l < g.L; ++l) f32(&act[l], g.wout[l] * N);
    f32(&seeds, s.k * M);
    for (int64_t l = g.first + 1; l < g.L; ++l)
      if (g.kind[l] < 0) f32(&below[l], g.win[l] * M);
    f32(&u, M);
    f32(&c, M);
    f32(&bc, g.max_w * N);
    f32(&v, g.max_w * N);
    f64(&loss, N);
    f64(&p, s.k * N);
    f64(&cd, M);
    f64(&t, M);
    f64(&nb, g.max_w);
    for (auto& r : regions_) bytes += (r.second + 63) / 64 * 64;
  }
  void carve(char* base) {
    int64_t off = 0;
    for (auto& r : regions_) {
      *r.first = base + off;
      off += (r.second + 63) / 64 * 64;
    }
  }

 private:
  std::vector<std::pair<void**, int64_t>> regions_;  // (pointer, bytes)
};

// The largest work buffer the kernels take beside the arena (they run one after another).
int64_t kernel_work_bytes(const ExactStepSpec& s, const Layout& g) {
  const int64_t M = s.N * s.r;
  std::vector<int64_t> wo;
  for (int64_t l = g.first; l < g.L; ++l)
    if (g.kind[l] < 0) wo.push_back(g.wout[l]);
  int64_t most = layer_gram_sum_work_bytes(wo.data(), (int64_t)wo.size(), s.N, s.r);
  // the Cholesky factors K in place (its right-hand side's copy: M floats); the pseudo-inverse copies K
  most = std::max(most, s.damping > 0 ? 4 * M : pinv_solve_work_bytes(M, 1, Precision::f32));
  for (int64_t l = 0; l < g.L; ++l) most = std::max(most, gemm_work_bytes(M, std::max(g.win[l], g.wout[l])));
  return most;
}

// z [N, wo] = a Wᵀ + b for a linear layer's parameters p = (W [wo, wi] row-major, b [wo]) and a [N, wi]: the bias
// in every row, then the product added (as lib/nn/layers.ts, linearForward). The forward passes and Sᵀn's
// n_W a_i + n_b use it.
void linear_forward(Backend& be, const float* p, const float* a, int64_t N, int64_t wi, int64_t wo, float* z) {
  const float* b = p + wi * wo;
  for (int64_t i = 0; i < N; ++i) std::copy(b, b + wo, z + i * wo);
  be.gemm(false, true, N, wo, wi, 1.0f, a, p, 1.0f, z);
}

double ms_since(std::chrono::steady_clock::time_point& t0) {
  const auto t1 = std::chrono::steady_clock::now();
  const double ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
  t0 = t1;
  return ms;
}

// Whether no element is NaN or ±∞ (exponent bits all ones): an OR over the elements, which vectorises.
bool all_finite(const float* a, int64_t n) {
  uint32_t any = 0;
  for (int64_t i = 0; i < n; ++i) {
    uint32_t bits;
    std::memcpy(&bits, a + i, 4);
    any |= (uint32_t)((bits & 0x7f800000u) == 0x7f800000u);
  }
  return any == 0;
}

void require_finite(bool ok, const std::string& what) {
  if (!ok) fail("ERR_NON_FINITE", "exactStep: " + what + " is not finite (the host pipeline names the input or layer)");
}

}  // namespace

int64_t exact_step_work_bytes(const ExactStepSpec& s) {
  const Layout g(s);
  return Arena(s, g).bytes + kernel_work_bytes(s, g);
}

void exact_step(Backend& be, const ExactStepSpec& s, ExactStepResult* out) {
  const Layout g(s);
  const int64_t N = s.N, k = s.k, r = s.r, M = N * r, L = g.L;
  Arena a(s, g);
  Scratch<char> block(a.bytes);
  a.carve(block.get());
  auto clock = std::chrono::steady_clock::now();
  const auto input = [&](int64_t l) -> const float* { return l == 0 ? s.x : a.act[l - 1]; };

  // The forward pass at parameters th; returns Σ_i ℓ_i (and, with factors, fills the seeds and u).
  const auto forward = [&](const float* th, bool factors) {
    for (int64_t l = 0; l < L; ++l) {
      float* o = a.act[l];
      if (g.kind[l] < 0) {
        linear_forward(be, th + g.woff[l], input(l), N, g.win[l], g.wout[l], o);
      } else {
        activation_forward((Activation)g.kind[l], input(l), N * g.win[l], o);
      }
    }
    const float* eta = a.act[L - 1];
    int64_t bad = -1;
    for (int64_t i = 0; i < N; ++i) {
      bool not_finite = false;
      a.loss[i] =
          ng_family_sample(s.family, eta + i * k, s.y + i * s.y_width, (int)k, factors ? a.seeds + i * r * k : nullptr,
                           factors ? a.u + i * r : nullptr, a.p + i * k, &not_finite);
      if (not_finite && bad < 0) bad = i;
    }
    double sum = 0;
    for (int64_t i = 0; i < N; ++i) sum += a.loss[i];
    if (factors) {
      require_finite(std::isfinite(sum), "the loss");
      require_finite(bad < 0, "the natural-gradient right-hand side of sample " + std::to_string(bad));
    }
    return sum;
  };
  out->loss = forward(s.theta, true) / (double)N;
  out->ms[0] = 0;  // nothing to upload: the arrays are the host's
  out->ms[1] = ms_since(clock);

  // backprop: B_l for every linear layer (the seeds are the last one's when no activation follows it)
  std::vector<float*> bs(L, nullptr);
  float* b = a.seeds;
  for (int64_t l = L - 1; l >= g.first; --l) {
    if (g.kind[l] >= 0) {  // ∂/∂z = ∂/∂a ⊙ σ'(z), z the activation's input
      activation_backward((Activation)g.kind[l], input(l), N, r, g.win[l], b);
      continue;
    }
    bs[l] = b;
    if (l == g.first) break;
    be.gemm(false, false, M, g.win[l], g.wout[l], 1.0f, b, s.theta + g.woff[l], 0.0f, a.below[l]);  // B W_l
    b = a.below[l];
  }
  out->ms[2] = ms_since(clock);

  std::vector<LayerFactors> layer_factors;
  for (int64_t l = g.first; l < L; ++l)
    if (bs[l]) layer_factors.push_back({bs[l], input(l), g.wout[l], g.win[l]});
  be.layer_gram_sum(layer_factors.data(), (int64_t)layer_factors.size(), N, r, false, a.K);
  out->ms[3] = ms_since(clock);

  out->rank = -1;
  if (s.damping > 0) {
    OpenBlasLock lock;  // potrs, and the factor when OpenBLAS runs it
    cholesky_solve_in_place(a.K, M, a.u, 1, (double)N * s.damping, a.c);
  } else
    out->rank = be.pinv_solve(a.K, M, a.u, 1, 0.0, s.rcond, Precision::f32, a.c);
  out->ms[4] = ms_since(clock);

  // n = S c, layer by layer
  for (int64_t i = 0; i < M; ++i) a.cd[i] = a.c[i];
  for (int64_t l = g.first; l < L; ++l) {
    if (!bs[l]) continue;
    const int64_t wo = g.wout[l], wi = g.win[l];
    float* nw = s.direction + g.woff[l];
    float* nb = nw + wi * wo;
    rows_contract(bs[l], a.cd, N, r, wo, a.bc, a.nb);                 // B̃, Σ_i B̃_i
    be.gemm(true, false, wo, wi, N, 1.0f, a.bc, input(l), 0.0f, nw);  // n_W = B̃ᵀ A
    for (int64_t o = 0; o < wo; ++o) nb[o] = (float)a.nb[o];
  }
  require_finite(all_finite(s.direction, g.P), "the direction n_θ");
  // Sᵀn = Σ_l B_l(i,m) · (n_W a_i + n_b), the layer's forward pass with parameters n
  std::fill(a.t, a.t + M, 0.0);
  for (int64_t l = g.first; l < L; ++l) {
    if (!bs[l]) continue;
    const int64_t wo = g.wout[l], wi = g.win[l];
    const float* nw = s.direction + g.woff[l];
    linear_forward(be, nw, input(l), N, wi, wo, a.v);
    rows_dot(bs[l], a.v, N, r, wo, a.t);
  }
  double gn = 0, nfn = 0;
  for (int64_t q = 0; q < M; ++q) {
    gn += (double)a.u[q] * a.t[q];
    nfn += a.t[q] * a.t[q];
  }
  require_finite(std::isfinite(gn) && std::isfinite(nfn), "Sᵀn");
  out->gn = gn / (double)N;
  out->nfn = nfn / (double)N;
  out->trial_loss = std::nan("");
  if (s.lr > 0) {  // θ' = θ − lr·n, rounded once (as the host's trial), and L(θ')
    for (int64_t q = 0; q < g.P; ++q) a.theta2[q] = (float)((double)s.theta[q] - s.lr * (double)s.direction[q]);
    out->trial_loss = forward(a.theta2, false) / (double)N;
  }

  out->ms[5] = ms_since(clock);
}

}  // namespace natgrad::cpu
