// layer_gram_sum64: the float64 form of layer_gram_sum (layer_gram.cc), for float64 models:
//   K (+)= Σ_l (B_l B_lᵀ) ⊙ (expand_k(A_l A_lᵀ) + 1)
// Each layer's B_l B_lᵀ [Nk, Nk] and A_l A_lᵀ [N, N] come from OpenBLAS's dsyrk (upper triangles,
// row-major); the Hadamard product with E + 1, expanded over k × k blocks, is added to K's upper
// triangle, which is mirrored at the end. Not fused tile by tile like the float32 kernel: float64 models
// are the small, precise ones (physics-informed fits), where the kernel is a minor cost of a step.
// Memory: one Nk × Nk and one N × N scratch of doubles (layer_gram_sum64_work_bytes).
#include <cblas.h>

#include <algorithm>
#include <cstdint>

#include "cpu_kernels.h"
#include "../scratch.h"

namespace natgrad::cpu {

int64_t layer_gram_sum64_work_bytes(int64_t N, int64_t k) { return 8 * ((N * k) * (N * k) + N * N); }

void layer_gram_sum64(const LayerFactors64* layers, int64_t count, int64_t N, int64_t k, bool accumulate, double* K) {
  const int64_t NK = N * k;
  Scratch<double> G(NK * NK), E(N * N);
  if (!accumulate) std::fill(K, K + NK * NK, 0.0);
  for (int64_t l = 0; l < count; ++l) {
    const LayerFactors64& f = layers[l];
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)NK, (int)f.width_out, 1.0, f.B, (int)f.width_out, 0.0,
                G.get(), (int)NK);
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)N, (int)f.width_in, 1.0, f.A, (int)f.width_in, 0.0,
                E.get(), (int)N);
    for (int64_t i = 0; i < NK; ++i) {
      const double* e = E.get() + (i / k) * N;  // row s(i) of E, read at columns s(j) ≥ s(i) (upper triangle)
      const double* g = G.get() + i * NK;
      double* out = K + i * NK;
      for (int64_t j = i; j < NK; ++j) out[j] += g[j] * (e[j / k] + 1.0);
    }
  }
  symmetrize_upper(K, NK);
}

}  // namespace natgrad::cpu
