// layer_gram_sum: the kernel of a network's linear layers without forming its
// Jacobian:
//   K[(i,j),(i',j')] (+)= Σ_l (B_l(i,j) · B_l(i',j')) · (a_l,i · a_l,i' + 1)
// i.e. K (+)= Σ_l (B_l B_lᵀ) ⊙ (expand_k(A_l A_lᵀ) + 1). The "+1" is the bias
// column. Cost: Σ_l (Nk)²·width_out_l + N²·width_in_l multiply-adds, each K
// element written once.
//
// Fused by tiles: for each TB × TB tile (I, J) of the lower triangle of K, and
// each layer, P = B_l[I] B_l[J]ᵀ (gemm_nt's micro-kernel on copies of B_l packed
// once per call), then
// H += P ⊙ (E_l[s(I), s(J)] + 1) with E_l = A_l A_lᵀ and s(r) = r / k the
// sample of row r; finally K[I,J] (+)= H and K[J,I] (+)= Hᵀ. No Nk × Nk
// intermediate exists: earlier versions formed B Bᵀ for the whole layer and
// then made a memory-bound pass over K per layer (plus a finiteness scan of
// the accumulated K), which was most of the time of a direction.
//
// Each element of H is Σ_l round(p_l · (e_l + 1)) summed in layer order, and
// p, e are dot products in p order: H is exactly symmetric, the same for any
// thread count, and a single layer added to K gives K + p·(e + 1) as the plain
// loop would (p from gemm_nt's blocking). Tiles are the tasks of parallel_for.
//
// Memory: the E_l (N × N each) of at most max(1, k²) layers at a time, so the
// extra memory is at most max(N², (Nk)²) floats; more layers are done in
// groups, each group after the first adding into K.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <vector>

#include "cpu_kernels.h"
#include "clones.h"
#include "gemm_nt.h"
#include "parallel.h"
#include "../scratch.h"

namespace natgrad::cpu {

namespace {

// Tile side: a multiple of gemm_nt's 32 × 12 micro-tile. H and P take 2·TB² floats (288 KiB) per thread.
// Measured for 784-256-256-10 (k = 9) on a 2-core AVX-512 Xeon: N = 256 15.9 ms at TB = 96, 14.8 at 192,
// 15.8 at 288; N = 512 63.4 at 96, 59.5 at 192 (fewer tiles, so less of each tile's fixed cost).
constexpr int64_t TB = 192;

struct TileBuffers {
  std::unique_ptr<float[]> h{new float[TB * TB]}, p{new float[TB * TB]}, ex{new float[TB]};
  std::unique_ptr<int64_t[]> rows{new int64_t[TB]};
};

// The tile rows [i0, i0 + mr) × columns [j0, j0 + nc) of H for the given layers, into K.
// One clone per ISA (clones.h): the Hadamard and copy loops vectorise to the widest registers.
NATGRAD_CLONES_AVX512_HASWELL
void tile(const LayerFactors* layers, const float* const* E, const float* const* packed, int64_t count, int64_t N,
          int64_t k, int64_t NK, int64_t i0, int64_t mr, int64_t j0, int64_t nc, bool accumulate, float* K,
          TileBuffers& buf) {
  float* H = buf.h.get();
  float* P = buf.p.get();
  float* ex = buf.ex.get();
  int64_t* s_row = buf.rows.get();
  for (int64_t r = 0; r < mr; ++r) s_row[r] = (i0 + r) / k;
  for (int64_t l = 0; l < count; ++l) {
    const LayerFactors& f = layers[l];
    const int64_t wo = f.width_out;
    // P[r + c·TB] = B(i0 + r) · B(j0 + c), B row-major [NK, wo], from its packed copies
    gemm_nt_packed(mr, nc, wo, 1.0f, packed[2 * l], NK, i0, packed[2 * l + 1], NK, j0, 0.0f, P, TB);
    const float* e = E[l];
    int64_t sample = -1;
    for (int64_t c = 0; c < nc; ++c) {
      const int64_t sc = (j0 + c) / k;
      if (sc != sample) {  // ex[r] = E[s(r), s(c)] + 1 (E symmetric, column-major N × N)
        sample = sc;
        const float* ec = e + sc * N;
        for (int64_t r = 0; r < mr; ++r) ex[r] = ec[s_row[r]] + 1.0f;
      }
      float* __restrict hc = H + c * TB;
      float* __restrict pc = P + c * TB;
      if (l == 0) {
        for (int64_t r = 0; r < mr; ++r) hc[r] = pc[r] * ex[r];
      } else {
        // two loops, so that the product is rounded before the sum (no fused multiply-add, which
        // would round differently in a vector body and its scalar remainder: H must stay symmetric)
        for (int64_t r = 0; r < mr; ++r) pc[r] *= ex[r];
        for (int64_t r = 0; r < mr; ++r) hc[r] += pc[r];
      }
    }
  }
  // K is symmetric, so row-major and column-major are the same matrix: write H at (I, J), Hᵀ at (J, I).
  for (int64_t c = 0; c < nc; ++c) {
    float* __restrict kc = K + (j0 + c) * NK + i0;
    const float* __restrict hc = H + c * TB;
    if (accumulate)
      for (int64_t r = 0; r < mr; ++r) kc[r] += hc[r];
    else
      for (int64_t r = 0; r < mr; ++r) kc[r] = hc[r];
  }
  if (i0 == j0) return;  // a diagonal tile is its own transpose
  for (int64_t r = 0; r < mr; ++r) {
    float* __restrict kr = K + (i0 + r) * NK + j0;
    const float* hr = H + r;
    if (accumulate)
      for (int64_t c = 0; c < nc; ++c) kr[c] += hr[c * TB];
    else
      for (int64_t c = 0; c < nc; ++c) kr[c] = hr[c * TB];
  }
}

}  // namespace

// E and the packed copies of one group of layers, as layer_gram_sum allocates them (the largest group).
int64_t layer_gram_sum_work_bytes(const int64_t* widths_out, int64_t count, int64_t N, int64_t k) {
  const int64_t NK = N * k, group = std::max<int64_t>(1, std::min<int64_t>(count, k * k));
  const auto round16 = [](int64_t n) { return (n + 15) / 16 * 16; };
  int64_t packed = 0;
  for (int64_t g0 = 0; g0 < count; g0 += group) {
    int64_t p = 16;
    for (int64_t l = g0; l < std::min(count, g0 + group); ++l)
      p += round16(packed_floats(NK, widths_out[l], Side::a)) + round16(packed_floats(NK, widths_out[l], Side::b));
    packed = std::max(packed, p);
  }
  return 4 * (group * N * N + packed);
}

void layer_gram_sum(const LayerFactors* layers, int64_t count, int64_t N, int64_t k, bool accumulate, float* K) {
  park_openblas_threads();  // natgrad's own kernel: OpenBLAS's idle threads must not spin (parallel.h)
  const int64_t NK = N * k;
  const int64_t group = std::max<int64_t>(1, std::min<int64_t>(count, k * k));
  Scratch<float> E(group * N * N);
  const int64_t tb = (NK + TB - 1) / TB;
  const int64_t tiles = tb * (tb + 1) / 2;  // lower triangle, diagonal included
  for (int64_t g0 = 0; g0 < count; g0 += group) {
    const int64_t g = std::min(group, count - g0);
    std::vector<const float*> ep(g);
    for (int64_t l = 0; l < g; ++l) {  // E_l = A_l A_lᵀ [N, N], A_l row-major [N, width_in]
      const LayerFactors& f = layers[g0 + l];
      float* el = E.get() + l * N * N;
      // its lower triangle (half the products), then the upper as its mirror: element (i, j) and (j, i) are the
      // same products summed in the same order, so this is the matrix the full product gave, bit for bit
      gemm_nt(N, N, f.width_in, 1.0f, View{f.A, f.width_in, 1}, View{f.A, f.width_in, 1}, 0.0f, el, N, Part::lower);
      for (int64_t j = 0; j < N; ++j)
        for (int64_t i = j + 1; i < N; ++i) el[i * N + j] = el[j * N + i];
      ep[l] = el;
    }
    // Each B_l packed once, as both operands of the micro-kernel (a tile would otherwise pack its two
    // row blocks again for every tile: as much work as the products for a 256-wide layer)
    // (each copy starts on a 64-byte boundary: the micro-kernel's loads then never straddle cache lines)
    const auto round16 = [](int64_t n) { return (n + 15) / 16 * 16; };
    int64_t packed_total = 16;
    for (int64_t l = 0; l < g; ++l)
      packed_total += round16(packed_floats(NK, layers[g0 + l].width_out, Side::a)) +
                      round16(packed_floats(NK, layers[g0 + l].width_out, Side::b));
    Scratch<float> packed(packed_total);
    float* base = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(packed.get()) + 63) & ~uintptr_t(63));
    std::vector<const float*> pp(2 * g);
    for (int64_t l = 0, off = 0; l < g; ++l) {
      const LayerFactors& f = layers[g0 + l];
      const View b{f.B, f.width_out, 1};
      pack_rows(b, NK, f.width_out, Side::a, base + off);
      pp[2 * l] = base + off;
      off += round16(packed_floats(NK, f.width_out, Side::a));
      pack_rows(b, NK, f.width_out, Side::b, base + off);
      pp[2 * l + 1] = base + off;
      off += round16(packed_floats(NK, f.width_out, Side::b));
    }
    const bool add = accumulate || g0 > 0;
    parallel_for(tiles, [&](int64_t t) {
      // tile t ↦ (bi, bj), bj ≤ bi, row by row of the lower triangle
      int64_t bi = (int64_t)((std::sqrt(8.0 * (double)t + 1.0) - 1.0) / 2.0);
      while (bi * (bi + 1) / 2 > t) --bi;
      while ((bi + 1) * (bi + 2) / 2 <= t) ++bi;
      const int64_t bj = t - bi * (bi + 1) / 2;
      thread_local std::unique_ptr<TileBuffers> buf;
      if (!buf) buf.reset(new TileBuffers);
      const int64_t i0 = bi * TB, j0 = bj * TB;
      tile(layers + g0, ep.data(), pp.data(), g, N, k, NK, i0, std::min(TB, NK - i0), j0, std::min(TB, NK - j0), add, K,
           *buf);
    });
  }
}

}  // namespace natgrad::cpu
