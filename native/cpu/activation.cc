// The elementwise passes of an MLP's activation layers, over whole batches:
//   forward:   a = σ(z)
//   backward:  B[(i·r + m), c] *= σ'(z[i, c])   (∂/∂z = ∂/∂a ⊙ σ'(z), every one of sample i's r seed
//              rows scaled by that sample's derivatives; r = 1 is the forward-mode tangent δa = σ'(z) δz)
// with the formulas of lib/nn/layers.ts, evaluated in float64 as there (z read as stored, each result
// rounded once to the array's type): the JavaScript loops' values, up to an ulp or two of float64 where
// the C library's tanh/exp/log1p (or a fused multiply-add in a vectorised clone) differ from V8's:
//   tanh;  relu(z) = z > 0 ? z : 0, relu' = z > 0 ? 1 : 0 (0 at the kink);  sigmoid = logistic, σ' = σ(z)σ(−z);
//   softplus(z) = max(z, 0) + log1p(e^{−|z|}), softplus' = logistic;
//   gelu(z) = ½ z (1 + t), gelu' = ½ (1 + t) + ½ z (1 − t²) c (1 + 3·0.044715 z²), t = tanh(c (z + 0.044715 z³)), c =
//   √(2/π).
// Native because these passes were JavaScript's slowest part of a step (a 256-wide relu over 256 samples
// × 9 seed rows: 1.3 ms per layer in V8, scalar and one thread). Work is split by samples among
// natgrad's threads (parallel.h); each element is computed the same way whichever thread runs it.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "clones.h"
#include "cpu_kernels.h"
#include "parallel.h"

namespace natgrad::cpu {

namespace {

constexpr double kGeluC = 0.79788456080286535588;  // √(2/π)
constexpr double kGeluA = 0.044715;
constexpr int64_t kTaskElements = int64_t(1) << 15;  // ≥ 32k elements per task: smaller passes stay on one thread
constexpr int64_t kParkElements = int64_t(1) << 20;  // a pass this long parks OpenBLAS's spinning threads (rows.cc)

double logistic(double z) {  // 1/(1 + e^{−z}) without overflow for either sign
  if (z >= 0) return 1 / (1 + std::exp(-z));
  const double e = std::exp(z);
  return e / (1 + e);
}

double act(Activation kind, double z) {
  switch (kind) {
    case Activation::tanh: return std::tanh(z);
    case Activation::relu: return z > 0 ? z : 0;
    case Activation::sigmoid: return logistic(z);
    case Activation::softplus: return std::max(z, 0.0) + std::log1p(std::exp(-std::fabs(z)));
    case Activation::gelu: return 0.5 * z * (1 + std::tanh(kGeluC * (z + kGeluA * z * z * z)));
  }
  return NAN;
}

double dact(Activation kind, double z) {
  switch (kind) {
    case Activation::tanh: {
      const double t = std::tanh(z);
      return 1 - t * t;
    }
    case Activation::relu: return z > 0 ? 1 : 0;
    case Activation::sigmoid: return logistic(z) * logistic(-z);
    case Activation::softplus: return logistic(z);
    case Activation::gelu: {
      const double t = std::tanh(kGeluC * (z + kGeluA * z * z * z));
      return 0.5 * (1 + t) + 0.5 * z * (1 - t * t) * kGeluC * (1 + 3 * kGeluA * z * z);
    }
  }
  return NAN;
}

// Rows [i0, i1) of a [rows, width] pass: d = σ'(z_i) once per sample, then its r rows of b scaled.
// One clone per ISA (clones.h): relu's compare and the scaling loop vectorise.
template <class T>
NATGRAD_CLONES_AVX512_HASWELL void backward_rows(Activation kind, const T* z, int64_t i0, int64_t i1, int64_t r,
                                                 int64_t width, double* d, T* b) {
  for (int64_t i = i0; i < i1; ++i) {
    const T* zi = z + i * width;
    if (kind == Activation::relu)
      for (int64_t c = 0; c < width; ++c) d[c] = zi[c] > 0 ? 1.0 : 0.0;
    else
      for (int64_t c = 0; c < width; ++c) d[c] = dact(kind, zi[c]);
    for (int64_t m = 0; m < r; ++m) {
      T* __restrict row = b + (i * r + m) * width;
      for (int64_t c = 0; c < width; ++c) row[c] = (T)(row[c] * d[c]);
    }
  }
}

template <class T>
NATGRAD_CLONES_AVX512_HASWELL void forward_range(Activation kind, const T* z, int64_t e0, int64_t e1, T* a) {
  if (kind == Activation::relu) {
    for (int64_t e = e0; e < e1; ++e) a[e] = z[e] > 0 ? z[e] : T(0);
    return;
  }
  for (int64_t e = e0; e < e1; ++e) a[e] = (T)act(kind, z[e]);
}

template <class T>
void forward(Activation kind, const T* z, int64_t n, T* a) {
  const int64_t tasks = std::max<int64_t>(1, n / kTaskElements);
  if (tasks == 1) return forward_range(kind, z, 0, n, a);
  if (n >= kParkElements) park_openblas_threads();
  parallel_for(tasks, [&](int64_t t) { forward_range(kind, z, n * t / tasks, n * (t + 1) / tasks, a); });
}

template <class T>
void backward(Activation kind, const T* z, int64_t N, int64_t r, int64_t width, T* b) {
  const int64_t tasks = std::max<int64_t>(1, std::min(N, N * r * width / kTaskElements));
  if (tasks == 1) {
    std::vector<double> d(width);
    return backward_rows(kind, z, 0, N, r, width, d.data(), b);
  }
  if (N * r * width >= kParkElements) park_openblas_threads();
  parallel_for(tasks, [&](int64_t t) {
    std::vector<double> d(width);
    backward_rows(kind, z, N * t / tasks, N * (t + 1) / tasks, r, width, d.data(), b);
  });
}

}  // namespace

void activation_forward(Activation kind, const float* z, int64_t n, float* a) { forward(kind, z, n, a); }
void activation_forward(Activation kind, const double* z, int64_t n, double* a) { forward(kind, z, n, a); }
void activation_backward(Activation kind, const float* z, int64_t N, int64_t r, int64_t width, float* b) {
  backward(kind, z, N, r, width, b);
}
void activation_backward(Activation kind, const double* z, int64_t N, int64_t r, int64_t width, double* b) {
  backward(kind, z, N, r, width, b);
}

}  // namespace natgrad::cpu
