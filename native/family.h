// One sample's output-family terms for the one-call exact step (Backend::exact_step), shared by the CPU
// backend (cpu/exact_step.cc) and the CUDA kernel ng_family (cuda/kernels.cu, compiled to PTX by nvcc): the
// formulas of lib/distributions, in float64.
//
//   family 0 gaussian:    ℓ = ½‖y − η‖²,            r = k, L = I,  u = η − y            (y: k values)
//   family 1 categorical: ℓ = logsumexp(η) − η_y,   r = k − 1, the Householder factor of categorical.ts
//   family 2 bernoulli:   ℓ = softplus(η) − yη,     r = 1, L = √(σ(η)σ(−η)), u = g/L     (y: one value)
//
// With F = L Lᵀ (the Fisher of the output) and g = ∂ℓ/∂η: seeds [r, k] gets the rows of Lᵀ and u [r] the
// solution of L u = g. Returns ℓ; with seeds null only ℓ is computed. p: k doubles of work (categorical).
#pragma once
#include <math.h>

#ifdef __CUDACC__
#define NG_FAMILY_FN __device__ inline
#else
#define NG_FAMILY_FN inline
#endif

// σ(z) without overflow for either sign
NG_FAMILY_FN double ng_logistic64(double z) {
  if (z >= 0.0) return 1.0 / (1.0 + exp(-z));
  const double e = exp(z);
  return e / (1.0 + e);
}

// e: η_i [k]; y: the sample's target (gaussian: k values; categorical: a class index; bernoulli: 0 or 1).
// *bad is set when an entry of u is not finite (the outcome has probability ~0 under the model).
NG_FAMILY_FN double ng_family_sample(int family, const float* e, const float* y, int k, float* seeds, float* u,
                                     double* p, bool* bad) {
  *bad = false;
  if (family == 0) {  // gaussian
    double s = 0;
    for (int j = 0; j < k; ++j) {
      const double d = (double)y[j] - (double)e[j];
      s += d * d;
      if (seeds) {
        for (int m = 0; m < k; ++m) seeds[m * k + j] = j == m ? 1.0f : 0.0f;
        u[j] = (float)((double)e[j] - (double)y[j]);
        if (!isfinite(u[j])) *bad = true;
      }
    }
    return 0.5 * s;
  }
  if (family == 2) {  // bernoulli
    const double z = e[0], yi = y[0];
    if (seeds) {
      const double l = sqrt(ng_logistic64(z) * ng_logistic64(-z));
      const double g = yi == 1.0 ? -ng_logistic64(-z) : ng_logistic64(z);
      seeds[0] = (float)l;
      u[0] = (float)(l > 0 ? g / l : 0.0);
      if (!isfinite(u[0])) *bad = true;
    }
    return fmax(z, 0.0) + log1p(exp(-fabs(z))) - yi * z;
  }
  // categorical
  const int yi = (int)y[0];
  double mx = -INFINITY, s = 0;
  for (int j = 0; j < k; ++j) mx = fmax(mx, (double)e[j]);
  for (int j = 0; j < k; ++j) s += exp((double)e[j] - mx);
  const double loss = mx - (double)e[yi] + log(s);
  if (!seeds) return loss;
  double rest = 0;  // Σ_{j≠y} p_j: g_y = p_y − 1 = −rest keeps its digits when p_y ≈ 1
  int t = 0;        // argmax p
  for (int j = 0; j < k; ++j) {
    p[j] = exp((double)e[j] - mx) / s;
    if (j != yi) rest += p[j];
    if (p[j] > p[t]) t = j;
  }
  // w = g ⊘ √p (0 where √p = 0); v = √p + e_t; H[:, l] = e_l − v v_l/(1 + √p_t); vᵀw = √pᵀw + w_t
#define NG_W(j) (sqrt(p[j]) > 0 ? ((j) == yi ? -rest : p[j]) / sqrt(p[j]) : 0.0)
  const double d = 1 + sqrt(p[t]);
  double vw = NG_W(t);
  for (int j = 0; j < k; ++j) vw += sqrt(p[j]) * NG_W(j);
  for (int l = 0, m = 0; l < k; ++l) {
    if (l == t) continue;
    const double c = sqrt(p[l]) / d;
    for (int j = 0; j < k; ++j) {  // row m of Lᵀ: √p_j (δ_jl − v_j c)
      const double vj = j == t ? sqrt(p[j]) + 1 : sqrt(p[j]);
      seeds[m * k + j] = (float)(sqrt(p[j]) * ((j == l ? 1.0 : 0.0) - vj * c));
    }
    u[m] = (float)(NG_W(l) - c * vw);
    if (!isfinite(u[m])) *bad = true;
    m++;
  }
#undef NG_W
  return loss;
}
