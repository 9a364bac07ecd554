// layer_gram: the kernel block of one linear layer z = W a + b without forming
// its Jacobian:
//   K[(i,j),(i',j')] += (B_(i,j) · B_(i',j')) · (a_i · a_i' + 1)
// i.e. K += (B Bᵀ) ⊙ (expand_k(A Aᵀ) + 1). The "+1" is the bias column.
// Cost: (Nk)²·width_out + N²·width_in flops for the two ssyrk, plus one pass
// over K for the Hadamard product.
#include <cblas.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "cpu_kernels.h"

namespace natgrad::cpu {

void layer_gram(const float* B, const float* A, int64_t N, int64_t k, int64_t width_out, int64_t width_in,
                float* K) {
  const int64_t NK = N * k;
  // BB[NK,NK] = B Bᵀ and AA[N,N] = A Aᵀ, upper triangles only.
  std::unique_ptr<float[]> BB(new float[NK * NK]);
  std::unique_ptr<float[]> AA(new float[N * N]);
  cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)NK, (int)width_out, 1.0f, B, (int)width_out, 0.0f,
              BB.get(), (int)NK);
  cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)N, (int)width_in, 1.0f, A, (int)width_in, 0.0f,
              AA.get(), (int)N);
  // sample of each kernel row/column: r = i·k + j → i
  std::vector<int32_t> sample(NK);
  for (int64_t r = 0; r < NK; ++r) sample[r] = (int32_t)(r / k);

  // Upper tiles: H = BB ⊙ (AA[sample] + 1); K[r,c] += H and K[c,r] += H.
  const int64_t T = 64;
  for (int64_t r0 = 0; r0 < NK; r0 += T) {
    const int64_t r1 = std::min(r0 + T, NK);
    for (int64_t c0 = r0; c0 < NK; c0 += T) {
      const int64_t c1 = std::min(c0 + T, NK);
      for (int64_t r = r0; r < r1; ++r) {
        const float* bb = BB.get() + r * NK;
        // AA is upper-only: sample[r] ≤ sample[c] for c ≥ r.
        const float* aa = AA.get() + (int64_t)sample[r] * N;
        float* kr = K + r * NK;
        const int64_t cs = std::max(c0, r);
        for (int64_t c = cs; c < c1; ++c) {
          const float h = bb[c] * (aa[sample[c]] + 1.0f);
          kr[c] += h;
          if (c != r) K[c * NK + r] += h;
        }
      }
    }
  }
}

}  // namespace natgrad::cpu
