// layer_gram: the kernel block of one linear layer z = W a + b without forming
// its Jacobian:
//   K[(i,j),(i',j')] += (B_(i,j) · B_(i',j')) · (a_i · a_i' + 1)
// i.e. K += (B Bᵀ) ⊙ (expand_k(A Aᵀ) + 1). The "+1" is the bias column.
// Cost: (Nk)²·width_out + N²·width_in flops for the two ssyrk, plus one pass
// over K for the Hadamard product.
//
// The pass is memory-bound: it reads the upper triangle of BB and reads and
// writes all of K. It walks the upper triangle in T×T tiles; an off-diagonal
// tile (rows R, columns C) computes H = BB[R,C] ⊙ (AA[s(R), s(C)] + 1) row by
// row (contiguous, vectorised), adds it to K[R,C] and keeps it in a small
// buffer, then adds Hᵀ to K[C,R] row by row, so both halves of K are written
// along rows. Each element of K gets exactly one rounded addition of
// h = bb·(aa + 1), as in the plain loop.
#include <cblas.h>

#include <algorithm>

#include "cpu_kernels.h"
#include "scratch.h"

namespace natgrad::cpu {

namespace {

constexpr int64_t T = 64;

// Diagonal tile [r0,r1)²: c ≥ r only, K[r,c] and (c ≠ r) K[c,r].
void diagonal_tile(const float* BB, const float* AA, int64_t N, int64_t k, int64_t NK, int64_t r0, int64_t r1,
                   float* K) {
  for (int64_t r = r0; r < r1; ++r) {
    const float* bb = BB + r * NK;
    const float* aa = AA + (r / k) * N;  // AA is upper-only: r/k ≤ c/k for c ≥ r
    float* kr = K + r * NK;
    for (int64_t c = r; c < r1; ++c) {
      const float h = bb[c] * (aa[c / k] + 1.0f);
      kr[c] += h;
      if (c != r) K[c * NK + r] += h;
    }
  }
}

// Off-diagonal tile rows [r0,r1) × columns [c0,c1), r1 ≤ c0.
void offdiagonal_tile(const float* BB, const float* AA, int64_t N, int64_t k, int64_t NK, int64_t r0, int64_t r1,
                      int64_t c0, int64_t c1, float* K) {
  alignas(64) float H[T * T];    // H[(r - r0)·T + (c - c0)]
  alignas(64) float ex[T];       // AA[s(r), s(c)] + 1 for the tile's columns, for the current sample s(r)
  alignas(64) int32_t col[T];    // s(c) for the tile's columns
  const int64_t w = c1 - c0, h = r1 - r0;
  // The rows of K this tile's transposed half writes are 16 KB apart for M = 4096, too far for the
  // hardware prefetcher: ask for the next tile's rows (both halves) and BB segments while this one runs.
  if (c1 < NK) {
    const int64_t n1 = std::min(c1 + T, NK);
    for (int64_t c = c1; c < n1; ++c)
      for (int64_t r = 0; r < h; r += 16) __builtin_prefetch(K + c * NK + r0 + r, 1, 3);
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t c = c1; c < n1; c += 16) {
        __builtin_prefetch(K + r * NK + c, 1, 3);
        __builtin_prefetch(BB + r * NK + c, 0, 3);
      }
  }
  if (k > 1) {
    int64_t s = c0 / k, j = c0 - s * k;
    for (int64_t c = 0; c < w; ++c) {
      col[c] = (int32_t)s;
      if (++j == k) { j = 0; ++s; }
    }
  }
  int64_t sample = -1;
  for (int64_t r = r0; r < r1; ++r) {
    const float* __restrict bb = BB + r * NK + c0;
    float* __restrict kr = K + r * NK + c0;
    float* __restrict hr = H + (r - r0) * T;
    if (k == 1) {  // one row per sample: AA's row is already laid out like the tile
      const float* __restrict aa = AA + r * N + c0;
      for (int64_t c = 0; c < w; ++c) {
        const float v = bb[c] * (aa[c] + 1.0f);
        kr[c] += v;
        hr[c] = v;
      }
      continue;
    }
    const int64_t i = r / k;
    if (i != sample) {
      sample = i;
      const float* aa = AA + i * N;
      for (int64_t c = 0; c < w; ++c) ex[c] = aa[col[c]] + 1.0f;
    }
    for (int64_t c = 0; c < w; ++c) {
      const float v = bb[c] * ex[c];
      kr[c] += v;
      hr[c] = v;
    }
  }
  for (int64_t c = 0; c < w; ++c) {
    float* __restrict kc = K + (c0 + c) * NK + r0;
    const float* hc = H + c;
    for (int64_t r = 0; r < h; ++r) kc[r] += hc[r * T];
  }
}

}  // namespace

void layer_gram(const float* B, const float* A, int64_t N, int64_t k, int64_t width_out, int64_t width_in,
                float* K) {
  const int64_t NK = N * k;
  // BB[NK,NK] = B Bᵀ and AA[N,N] = A Aᵀ, upper triangles only.
  // (recycled between calls: see scratch.h; ssyrk with beta = 0 overwrites what is read)
  Scratch<float> BB(NK * NK), AA(N * N);
  cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)NK, (int)width_out, 1.0f, B, (int)width_out, 0.0f,
              BB.get(), (int)NK);
  cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)N, (int)width_in, 1.0f, A, (int)width_in, 0.0f,
              AA.get(), (int)N);
  // Upper tiles: H = BB ⊙ (AA[sample] + 1); K[r,c] += H and K[c,r] += H.
  for (int64_t r0 = 0; r0 < NK; r0 += T) {
    const int64_t r1 = std::min(r0 + T, NK);
    diagonal_tile(BB.get(), AA.get(), N, k, NK, r0, r1, K);
    for (int64_t c0 = r1; c0 < NK; c0 += T)
      offdiagonal_tile(BB.get(), AA.get(), N, k, NK, r0, r1, c0, std::min(c0 + T, NK), K);
  }
}

}  // namespace natgrad::cpu
