// gram: K = Jᵀ J (J [P,M]) or K = J Jᵀ (J [M,P]) with one ssyrk, then mirrored
// so the caller gets the full symmetric matrix.
#include <cblas.h>

#include <algorithm>

#include "cpu_kernels.h"

namespace natgrad::cpu {

// K[M,M]: lower ← upperᵀ, in 64×64 tiles so both sides stay in cache.
void symmetrize_upper(float* K, int64_t M) {
  const int64_t T = 64;
  for (int64_t i0 = 0; i0 < M; i0 += T) {
    for (int64_t j0 = i0; j0 < M; j0 += T) {
      const int64_t i1 = std::min(i0 + T, M), j1 = std::min(j0 + T, M);
      for (int64_t i = i0; i < i1; ++i)
        for (int64_t j = std::max(j0, i + 1); j < j1; ++j) K[j * M + i] = K[i * M + j];
    }
  }
}

void gram(const float* J, int64_t P, int64_t M, bool samples_major, float* K) {
  // samples_major: J is [M,P], K = J Jᵀ; else J is [P,M], K = Jᵀ J.
  cblas_ssyrk(CblasRowMajor, CblasUpper, samples_major ? CblasNoTrans : CblasTrans, (int)M, (int)P, 1.0f, J,
              samples_major ? (int)P : (int)M, 0.0f, K, (int)M);
  symmetrize_upper(K, M);
}

}  // namespace natgrad::cpu
