// batched_gram_inverse: out[b] = (G_bᵀ G_b + λI)⁻¹ for many small G_b [rows, k].
// The seed's per-sample (GᵀG)⁻¹, batched. One LAPACK call per matrix costs
// more in call overhead than in flops for k ≈ 10, so matrices are processed
// LANES at a time in a structure-of-arrays layout, x[(a·k + b)·LANES + lane],
// where every arithmetic statement is a plain loop over lanes that the compiler
// vectorises (one clone per ISA, picked at load time by target_clones):
//   S = GᵀG + λI          (lane-wise, a ≤ b)
//   S = L Lᵀ              (Cholesky, failing lane/column reported)
//   Li = L⁻¹              (forward substitution)
//   out = Liᵀ Li          (= S⁻¹)
// For wide problems (k ≥ 32 and rows ≥ 256) GᵀG comes from ssyrk instead.
#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>

#include "../error.h"
#include "../policy.h"
#include "cpu_kernels.h"

namespace natgrad::cpu {

constexpr int LANES = 16;
constexpr int64_t ROW_CHUNK = 32;

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define NATGRAD_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define NATGRAD_CLONES
#endif

// S[k,k,LANES] += Σ_r G_l[r,a] G_l[r,b] for a ≤ b, lanes l < n_lanes of the group at G.
NATGRAD_CLONES
static void group_gram(const float* G, int64_t rows, int64_t k, int n_lanes, float* S, float* Gt) {
  for (int64_t r0 = 0; r0 < rows; r0 += ROW_CHUNK) {
    const int64_t r1 = std::min(r0 + ROW_CHUNK, rows);
    // Gt[(r - r0)·k + a][lane] = G_lane[r, a]; lanes past n_lanes stay zero
    if (n_lanes < LANES) std::fill(Gt, Gt + ROW_CHUNK * k * LANES, 0.0f);
    for (int l = 0; l < n_lanes; ++l) {
      const float* g = G + (int64_t)l * rows * k;
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t a = 0; a < k; ++a) Gt[((r - r0) * k + a) * LANES + l] = g[r * k + a];
    }
    // For each pair a ≤ b, the sum over the chunk's rows runs innermost into a
    // LANES-wide accumulator that stays in registers (one vector with AVX-512).
    const int64_t nr = r1 - r0;
    for (int64_t a = 0; a < k; ++a) {
      for (int64_t b = a; b < k; ++b) {
        float acc[LANES];
        float* s = S + (a * k + b) * LANES;
        for (int l = 0; l < LANES; ++l) acc[l] = s[l];
        for (int64_t r = 0; r < nr; ++r) {
          const float* ga = Gt + (r * k + a) * LANES;
          const float* gb = Gt + (r * k + b) * LANES;
          for (int l = 0; l < LANES; ++l) acc[l] += ga[l] * gb[l];
        }
        for (int l = 0; l < LANES; ++l) s[l] = acc[l];
      }
    }
  }
}

// In place: S (upper, a ≤ b) → S⁻¹ (full). Returns the first failing column
// (1-based) and lane through *bad_col / *bad_lane, or leaves them at 0 / -1.
NATGRAD_CLONES
static void group_inverse(float* S, int64_t k, float* Lf, float* Li, int64_t* bad_col, int* bad_lane) {
  // Cholesky S = L Lᵀ, L lower: Lf[(i·k + j)·LANES] for i ≥ j.
  for (int64_t j = 0; j < k; ++j) {
    float d[LANES];
    for (int l = 0; l < LANES; ++l) d[l] = S[(j * k + j) * LANES + l];
    for (int64_t p = 0; p < j; ++p) {
      const float* ljp = Lf + (j * k + p) * LANES;
      for (int l = 0; l < LANES; ++l) d[l] -= ljp[l] * ljp[l];
    }
    for (int l = 0; l < LANES; ++l)
      if (!(d[l] > 0.0f) && *bad_col == 0) {
        *bad_col = j + 1;
        *bad_lane = l;
      }
    if (*bad_col != 0) return;
    float* ljj = Lf + (j * k + j) * LANES;
    for (int l = 0; l < LANES; ++l) ljj[l] = std::sqrt(d[l]);
    for (int64_t i = j + 1; i < k; ++i) {
      float v[LANES];
      for (int l = 0; l < LANES; ++l) v[l] = S[(j * k + i) * LANES + l];  // S[j][i], j < i (upper)
      for (int64_t p = 0; p < j; ++p) {
        const float* lip = Lf + (i * k + p) * LANES;
        const float* ljp = Lf + (j * k + p) * LANES;
        for (int l = 0; l < LANES; ++l) v[l] -= lip[l] * ljp[l];
      }
      float* lij = Lf + (i * k + j) * LANES;
      for (int l = 0; l < LANES; ++l) lij[l] = v[l] / ljj[l];
    }
  }
  // Li = L⁻¹ (lower): Li[j][j] = 1/L[j][j]; Li[i][j] = −(Σ_{j≤p<i} L[i][p] Li[p][j]) / L[i][i].
  for (int64_t j = 0; j < k; ++j) {
    float* ljj = Li + (j * k + j) * LANES;
    const float* d = Lf + (j * k + j) * LANES;
    for (int l = 0; l < LANES; ++l) ljj[l] = 1.0f / d[l];
    for (int64_t i = j + 1; i < k; ++i) {
      float v[LANES] = {0};
      for (int64_t p = j; p < i; ++p) {
        const float* lip = Lf + (i * k + p) * LANES;
        const float* mpj = Li + (p * k + j) * LANES;
        for (int l = 0; l < LANES; ++l) v[l] += lip[l] * mpj[l];
      }
      const float* lii = Lf + (i * k + i) * LANES;
      float* mij = Li + (i * k + j) * LANES;
      for (int l = 0; l < LANES; ++l) mij[l] = -v[l] / lii[l];
    }
  }
  // S⁻¹[a][b] = Σ_{p ≥ max(a,b)} Li[p][a] Li[p][b], written to both triangles.
  for (int64_t a = 0; a < k; ++a) {
    for (int64_t b = a; b < k; ++b) {
      float v[LANES] = {0};
      for (int64_t p = b; p < k; ++p) {
        const float* pa = Li + (p * k + a) * LANES;
        const float* pb = Li + (p * k + b) * LANES;
        for (int l = 0; l < LANES; ++l) v[l] += pa[l] * pb[l];
      }
      std::memcpy(S + (a * k + b) * LANES, v, sizeof v);
      std::memcpy(S + (b * k + a) * LANES, v, sizeof v);
    }
  }
}

void batched_gram_inverse(const float* G, int64_t batch, int64_t rows, int64_t k, double lambda, float* out) {
  const int64_t kk = k * k;
  const bool use_syrk = k >= 32 && rows >= 256;
  std::unique_ptr<float[]> S(new float[kk * LANES]), Lf(new float[kk * LANES]), Li(new float[kk * LANES]);
  std::unique_ptr<float[]> Gt(new float[ROW_CHUNK * k * LANES]);
  std::unique_ptr<float[]> Sb(use_syrk ? new float[kk] : nullptr);
  for (int64_t b0 = 0; b0 < batch; b0 += LANES) {
    const int n = (int)std::min<int64_t>(LANES, batch - b0);
    std::fill(S.get(), S.get() + kk * LANES, 0.0f);
    std::fill(Lf.get(), Lf.get() + kk * LANES, 0.0f);
    std::fill(Li.get(), Li.get() + kk * LANES, 0.0f);
    if (use_syrk) {
      for (int l = 0; l < n; ++l) {
        cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)k, (int)rows, 1.0f, G + (b0 + l) * rows * k, (int)k,
                    0.0f, Sb.get(), (int)k);
        for (int64_t a = 0; a < k; ++a)
          for (int64_t c = a; c < k; ++c) S[(a * k + c) * LANES + l] = Sb[a * k + c];
      }
    } else {
      group_gram(G + b0 * rows * k, rows, k, n, S.get(), Gt.get());
    }
    // damping on the diagonal; unused lanes become identity so they factor cleanly
    for (int64_t a = 0; a < k; ++a)
      for (int l = 0; l < LANES; ++l)
        S[(a * k + a) * LANES + l] = l < n ? S[(a * k + a) * LANES + l] + (float)lambda : 1.0f;
    int64_t bad_col = 0;
    int bad_lane = -1;
    group_inverse(S.get(), k, Lf.get(), Li.get(), &bad_col, &bad_lane);
    if (bad_col != 0) policy::fail_batched_not_positive_definite(b0 + bad_lane, bad_col);
    for (int l = 0; l < n; ++l) {
      float* o = out + (b0 + l) * kk;
      for (int64_t e = 0; e < kk; ++e) o[e] = S[e * LANES + l];
    }
  }
}

}  // namespace natgrad::cpu
