// gemm_nt: C = β·C + α·A·Bᵀ, blocked as in BLIS/GotoBLAS.
//
// Why natgrad has its own: the OpenBLAS natgrad links (Debian's 0.3.21,
// DYNAMIC_ARCH) picks its kernels from the CPU model, and a model newer than
// the library gets the generic SSE3 "Prescott" kernels: measured on a 2-core
// AVX-512 Intel Xeon, OpenBLAS sgemm ran at 66 GFLOP/s where this file's
// AVX-512 micro-kernel runs at ~230–270 (OpenBLAS's own SkylakeX kernels,
// forced with OPENBLAS_CORETYPE: ~280–310; bench/results/cpu_paths-*.json,
// M = 2048). The Cholesky factorisation
// and the fused kernel assembly are almost all matrix products, so they call
// this instead when use_own_gemm() says so.
//
// Blocking: k is walked in chunks of KC. For each chunk, all of B's rows are
// packed once into NR-column micro-panels (bp[p·NR + j]) shared by the
// threads; then C's MC-row blocks are the tasks (parallel_for): a task packs
// its rows of A into MR-row micro-panels (ap[p·MR + i]) and the micro-kernel
// forms each MR × NR tile of A·Bᵀ in registers (MR = 32: two 16-float vectors
// per column, NR = 12 columns: 24 accumulators; on an AVX2 CPU four 16 × 6
// sub-tiles of 12 accumulators each, an AVX2 CPU having 16 registers) and adds
// it into C. The AVX2 kernel also serves an AVX2 CPU that OpenBLAS runs with
// older kernels (Prescott, Sandybridge): gemm_nt.h, cpu_path_rule. Each
// operand is thus packed once per chunk (packing per task, as a first version
// did, cost ~14% of a Cholesky). Every element of C is one dot product
// accumulated in p order, chunk by chunk, whatever the thread count.
#include "gemm_nt.h"
#include "clones.h"
#include "cpu_kernels.h"

#include <cblas.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <new>
#include <string>

#include "parallel.h"
#include "../scratch.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace natgrad::cpu {

namespace {

constexpr int64_t MR = 32, NR = 12;
constexpr int64_t MC = 96, KC = 256;    // A block: 96 KiB per thread; B panel: n × KC floats, shared
constexpr double kParallelFlops = 4e6;  // below this, one thread (a region costs ~10 µs)

// Per-thread packing buffer for A, allocated on first use and kept (64-byte aligned, though the micro-kernel
// does not need it: pre-packed operands in scratch memory are only 16-byte aligned).
struct PackBuffers {
  float* a = nullptr;
  PackBuffers() {
    a = static_cast<float*>(std::aligned_alloc(64, sizeof(float) * MC * KC));
    if (!a) throw std::bad_alloc();
  }
  ~PackBuffers() { std::free(a); }
};
PackBuffers& pack_buffers() {
  thread_local std::unique_ptr<PackBuffers> buffers;
  if (!buffers) buffers.reset(new PackBuffers);
  return *buffers;
}

// ap[ii·kc + p·MR + i] = A(i0 + ii + i, p0 + p) for rows [i0, i0 + mc), zero-padded to MR.
void pack_a(View A, int64_t i0, int64_t mc, int64_t p0, int64_t kc, float* ap) {
  for (int64_t ii = 0; ii < mc; ii += MR) {
    const int64_t mr = std::min(MR, mc - ii);
    float* d = ap + ii * kc;
    if (A.cs == 1 && A.rs != 1) {  // rows of A contiguous: read row by row, write strided into the panel
      for (int64_t i = 0; i < MR; ++i) {
        if (i < mr) {
          const float* s = A.p + (i0 + ii + i) * A.rs + p0;
          for (int64_t p = 0; p < kc; ++p) d[p * MR + i] = s[p];
        } else {
          for (int64_t p = 0; p < kc; ++p) d[p * MR + i] = 0.0f;
        }
      }
      continue;
    }
    for (int64_t p = 0; p < kc; ++p) {
      const float* s = A.p + (i0 + ii) * A.rs + (p0 + p) * A.cs;
      int64_t i = 0;
      if (A.rs == 1)
        for (; i < mr; ++i) d[p * MR + i] = s[i];
      else
        for (; i < mr; ++i) d[p * MR + i] = s[i * A.rs];
      for (; i < MR; ++i) d[p * MR + i] = 0.0f;
    }
  }
}

// bp[jj·kc + p·NR + j] = B(j0 + jj + j, p0 + p) for rows [j0, j0 + nc) of B, zero-padded to NR.
void pack_b(View B, int64_t j0, int64_t nc, int64_t p0, int64_t kc, float* bp) {
  for (int64_t jj = 0; jj < nc; jj += NR) {
    const int64_t nr = std::min(NR, nc - jj);
    float* d = bp + jj * kc;
    if (B.cs == 1) {  // rows of B contiguous: copy row by row, strided into the panel
      for (int64_t j = 0; j < NR; ++j) {
        if (j < nr) {
          const float* s = B.p + (j0 + jj + j) * B.rs + p0;
          for (int64_t p = 0; p < kc; ++p) d[p * NR + j] = s[p];
        } else {
          for (int64_t p = 0; p < kc; ++p) d[p * NR + j] = 0.0f;
        }
      }
      continue;
    }
    for (int64_t p = 0; p < kc; ++p) {
      const float* s = B.p + (j0 + jj) * B.rs + (p0 + p) * B.cs;
      int64_t j = 0;
      for (; j < nr; ++j) d[p * NR + j] = s[j * B.rs];
      for (; j < NR; ++j) d[p * NR + j] = 0.0f;
    }
  }
}

// Tile store: C[i, j] (i < mr, j < nr, column-major ldc) = β·C + α·t[j·MR + i],
// where lower_from ≥ 0 skips entries with i + lower_from < j (above the diagonal of the whole C).
void store_tile(const float* t, int64_t mr, int64_t nr, float alpha, float beta, float* C, int64_t ldc,
                int64_t lower_from) {
  for (int64_t j = 0; j < nr; ++j) {
    float* c = C + j * ldc;
    const float* tj = t + j * MR;
    const int64_t i_start = lower_from >= 0 ? std::max<int64_t>(0, j - lower_from) : 0;
    for (int64_t i = i_start; i < mr; ++i) c[i] = (beta == 0.0f ? 0.0f : c[i]) + alpha * tj[i];
  }
}

// Portable micro-kernel: t[j·MR + i] = Σ_p ap[p·MR + i]·bp[p·NR + j]. One clone per ISA (clones.h).
NATGRAD_CLONES_HASWELL void kernel_portable(int64_t kc, const float* __restrict ap, const float* __restrict bp,
                                            float* __restrict t) {
  for (int64_t x = 0; x < MR * NR; ++x) t[x] = 0.0f;
  for (int64_t p = 0; p < kc; ++p)
    for (int64_t j = 0; j < NR; ++j) {
      const float b = bp[p * NR + j];
      for (int64_t i = 0; i < MR; ++i) t[j * MR + i] += ap[p * MR + i] * b;
    }
}

#if defined(__x86_64__)
// AVX-512 micro-kernel: the MR × NR tile in 24 registers; a full interior tile is stored directly,
// an edge or diagonal tile through t and store_tile.
__attribute__((target("avx512f"))) void kernel_avx512(int64_t kc, const float* __restrict ap,
                                                      const float* __restrict bp, float alpha, float beta, float* C,
                                                      int64_t ldc, int64_t mr, int64_t nr, int64_t lower_from) {
  __m512 acc[NR][2];
  for (int64_t j = 0; j < NR; ++j) acc[j][0] = acc[j][1] = _mm512_setzero_ps();
  for (int64_t p = 0; p < kc; ++p) {
    const __m512 a0 = _mm512_loadu_ps(ap + p * MR), a1 = _mm512_loadu_ps(ap + p * MR + 16);
    const float* b = bp + p * NR;
#pragma GCC unroll 12
    for (int64_t j = 0; j < NR; ++j) {
      const __m512 bj = _mm512_set1_ps(b[j]);
      acc[j][0] = _mm512_fmadd_ps(a0, bj, acc[j][0]);
      acc[j][1] = _mm512_fmadd_ps(a1, bj, acc[j][1]);
    }
  }
  const bool interior = mr == MR && nr == NR && (lower_from < 0 || lower_from >= NR - 1);
  if (!interior) {
    alignas(64) float t[MR * NR];
    for (int64_t j = 0; j < NR; ++j) {
      _mm512_store_ps(t + j * MR, acc[j][0]);
      _mm512_store_ps(t + j * MR + 16, acc[j][1]);
    }
    store_tile(t, mr, nr, alpha, beta, C, ldc, lower_from);
    return;
  }
  const __m512 va = _mm512_set1_ps(alpha);
  for (int64_t j = 0; j < NR; ++j) {
    float* c = C + j * ldc;
    if (beta == 0.0f) {
      _mm512_storeu_ps(c, _mm512_mul_ps(va, acc[j][0]));
      _mm512_storeu_ps(c + 16, _mm512_mul_ps(va, acc[j][1]));
    } else {
      _mm512_storeu_ps(c, _mm512_fmadd_ps(va, acc[j][0], _mm512_loadu_ps(c)));
      _mm512_storeu_ps(c + 16, _mm512_fmadd_ps(va, acc[j][1], _mm512_loadu_ps(c + 16)));
    }
  }
}
#endif

#if defined(__x86_64__)
// AVX2 + FMA micro-kernel (an AVX2 CPU, or NATGRAD_CPU_GEMM=natgrad-avx2): 16 registers hold only a
// 16 × 6 sub-tile (12 accumulators, two A vectors, one broadcast), so the MR × NR = 32 × 12 tile is
// formed as four sub-tiles over the same packed panels (the packing is the AVX-512 kernel's). Each
// element is the same fused multiply-add chain in p order as in kernel_avx512, so the two give the
// same tile bits. Sub-tiles wholly outside an edge tile are skipped; the tile is stored through t.
__attribute__((target("avx2,fma"))) void kernel_avx2(int64_t kc, const float* __restrict ap, const float* __restrict bp,
                                                     float* __restrict t, int64_t mr, int64_t nr) {
  constexpr int64_t SR = 16, SC = 6;
  for (int64_t h = 0; h < MR; h += SR) {
    if (h >= mr) break;
    for (int64_t q = 0; q < NR; q += SC) {
      if (q >= nr) break;
      __m256 acc[SC][2];
      for (int64_t j = 0; j < SC; ++j) acc[j][0] = acc[j][1] = _mm256_setzero_ps();
      const float* a = ap + h;
      const float* b = bp + q;
      for (int64_t p = 0; p < kc; ++p, a += MR, b += NR) {
        const __m256 a0 = _mm256_loadu_ps(a), a1 = _mm256_loadu_ps(a + 8);
#pragma GCC unroll 6
        for (int64_t j = 0; j < SC; ++j) {
          const __m256 bj = _mm256_broadcast_ss(b + j);
          acc[j][0] = _mm256_fmadd_ps(a0, bj, acc[j][0]);
          acc[j][1] = _mm256_fmadd_ps(a1, bj, acc[j][1]);
        }
      }
      for (int64_t j = 0; j < SC; ++j) {
        _mm256_storeu_ps(t + (q + j) * MR + h, acc[j][0]);
        _mm256_storeu_ps(t + (q + j) * MR + h + 8, acc[j][1]);
      }
    }
  }
}
#endif

// NATGRAD_CPU_GEMM (read once): auto | natgrad | openblas | natgrad-avx2 (natgrad's kernels on the
// AVX2 micro-kernel, as on an AVX2 CPU) | natgrad-portable (the plain-loop micro-kernel, as on an older
// CPU); anything else counts as auto.
const std::string& gemm_env() {
  static const std::string value = std::getenv("NATGRAD_CPU_GEMM") ? std::getenv("NATGRAD_CPU_GEMM") : "auto";
  return value;
}

enum class Micro { avx512, avx2, portable };
// The micro-kernel that runs: the widest this CPU has, unless NATGRAD_CPU_GEMM asks for a narrower one
// (natgrad-avx2 on a CPU without AVX2 runs the portable one, and gemm_nt_kernel() says so).
Micro micro_kernel() {
  static const Micro k = [] {
    const std::string& env = gemm_env();
    if (env == "natgrad-portable") return Micro::portable;
    const Isa cpu = cpu_isa();  // the one CPU feature test (avx2 there means AVX2 + FMA)
    if (cpu == Isa::avx512 && env != "natgrad-avx2") return Micro::avx512;
    return cpu == Isa::avx512 || cpu == Isa::avx2 ? Micro::avx2 : Micro::portable;
  }();
  return k;
}

// One micro-tile of C: rows [i, i + mr), columns [j, j + nr) of the whole product.
void micro_tile(int64_t kc, const float* ap, const float* bp, float alpha, float beta, float* C, int64_t ldc, int64_t i,
                int64_t mr, int64_t j, int64_t nr, Part part) {
  int64_t lower_from = -1;  // ≥ 0: the tile touches the diagonal; skip local (r, c) with i + r < j + c
  if (part == Part::lower) {
    if (i + mr - 1 < j) return;              // wholly above the diagonal
    if (i < j + nr - 1) lower_from = i - j;  // crosses it
  }
  float* c = C + i + j * ldc;
  [[maybe_unused]] static const Micro micro = micro_kernel();  // unused on arm64: the portable kernel only
#if defined(__x86_64__)
  if (micro == Micro::avx512) {
    kernel_avx512(kc, ap, bp, alpha, beta, c, ldc, mr, nr, lower_from);
    return;
  }
#endif
  alignas(64) float t[MR * NR];
#if defined(__x86_64__)
  if (micro == Micro::avx2)
    kernel_avx2(kc, ap, bp, t, mr, nr);
  else
#endif
    kernel_portable(kc, ap, bp, t);
  store_tile(t, mr, nr, alpha, beta, c, ldc, lower_from);
}

}  // namespace

void gemm_nt(int64_t m, int64_t n, int64_t k, float alpha, View A, View B, float beta, float* C, int64_t ldc,
             Part part) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {  // C = β·C
    for (int64_t j = 0; j < n; ++j)
      for (int64_t i = part == Part::lower ? j : 0; i < m; ++i) C[i + j * ldc] = beta == 0.0f ? 0.0f : C[i + j * ldc];
    return;
  }
  const bool lower = part == Part::lower;
  const double flops = 2.0 * (double)m * (double)n * (double)k * (lower ? 0.5 : 1.0);
  const bool parallel = flops >= kParallelFlops;
  if (parallel) park_openblas_threads();  // natgrad's own product: OpenBLAS's idle threads must not spin (parallel.h)
  const auto run = [&](int64_t count, const std::function<void(int64_t)>& fn) {
    if (parallel && count > 1)
      parallel_for(count, fn);
    else
      for (int64_t t = 0; t < count; ++t) fn(t);
  };
  // Per chunk of KC: B's rows packed once into a shared panel (its NR-column micro-panels split among
  // the threads), then the MC-row blocks of C as tasks, each packing its own rows of A. Part lower: a
  // block computes only the columns that reach its last row; the blocks with most of them go first.
  const int64_t panels = (n + NR - 1) / NR, blocks = (m + MC - 1) / MC;
  // Fewer than 8 row blocks (e.g. 3 for a layer's 256 outputs as gemm's n): each block's columns are split into
  // `groups` too, so that ≥ 8 tasks share the threads (3 blocks on 2 threads left one idle a third of the
  // time: 2304 × 256 × 256 took 1.8 ms, 1.44 split, OpenBLAS 1.34), as long as each group keeps ≥ 16 panels
  // (192 columns: the recursive Cholesky's small products split 8 ways made it 20% slower). A group packs its
  // block of A again (mc·kc floats, a small part of its products); every tile is computed as before: the
  // same bits.
  const int64_t groups = lower ? 1 : std::max<int64_t>(1, std::min((8 + blocks - 1) / blocks, panels / 16));
  Scratch<float> bp(panels * NR * std::min(KC, k));
  constexpr int64_t kPanelsPerTask = 8;
  for (int64_t p0 = 0; p0 < k; p0 += KC) {
    const int64_t kc = std::min(KC, k - p0);
    const float b = p0 == 0 ? beta : 1.0f;
    run((panels + kPanelsPerTask - 1) / kPanelsPerTask, [&](int64_t t) {
      const int64_t j0 = t * kPanelsPerTask * NR;
      pack_b(B, j0, std::min(kPanelsPerTask * NR, n - j0), p0, kc, bp.get() + j0 * kc);
    });
    run(blocks * groups, [&](int64_t t) {
      const int64_t blk = t / groups, g = t % groups;
      const int64_t i0 = (lower ? blocks - 1 - blk : blk) * MC;  // lower: the longest rows first
      const int64_t mc = std::min(MC, m - i0);
      const int64_t nc = lower ? std::min(n, i0 + mc) : n;
      const int64_t j_begin = panels * g / groups * NR, j_end = std::min(nc, panels * (g + 1) / groups * NR);
      PackBuffers& buf = pack_buffers();
      pack_a(A, i0, mc, p0, kc, buf.a);
      for (int64_t j0 = j_begin; j0 < j_end; j0 += NR)
        for (int64_t ii = 0; ii < mc; ii += MR)
          micro_tile(kc, buf.a + ii * kc, bp.get() + j0 * kc, alpha, b, C, ldc, i0 + ii, std::min(MR, mc - ii), j0,
                     std::min(NR, n - j0), part);
    });
  }
}

// gemm's shared panel for C [m, n] = op(A)·op(B): the backend calls gemm_nt(n, m, …) with gemm_nt's "B"
// = op(A) [m, k], whose m rows the panel packs, KC columns at a time.
int64_t gemm_work_bytes(int64_t m, int64_t k) { return 4 * ((m + NR - 1) / NR * NR * std::min(KC, k)); }

// Packed layout, chunk by chunk of KC: chunk p0 starts at p0·rows_padded; inside it, the panel of rows
// [q, q + R) (R = MR for the A side, NR for the B side) starts at q·kc, element (q + r, p0 + p) at p·R + r.
int64_t packed_floats(int64_t rows, int64_t k, Side side) {
  const int64_t R = side == Side::a ? MR : NR;
  return (rows + R - 1) / R * R * k;
}

void pack_rows(View X, int64_t rows, int64_t k, Side side, float* out) {
  const int64_t R = side == Side::a ? MR : NR;
  const int64_t padded = (rows + R - 1) / R * R;
  const int64_t block = 8 * R;  // rows per task
  for (int64_t p0 = 0; p0 < k; p0 += KC) {
    const int64_t kc = std::min(KC, k - p0);
    float* chunk = out + p0 * padded;
    const auto task = [&](int64_t t) {
      const int64_t r0 = t * block, n = std::min(block, rows - r0);
      if (side == Side::a)
        pack_a(X, r0, n, p0, kc, chunk + r0 * kc);
      else
        pack_b(X, r0, n, p0, kc, chunk + r0 * kc);
    };
    const int64_t tasks = (rows + block - 1) / block;
    if ((double)rows * (double)kc < 1e5)
      for (int64_t t = 0; t < tasks; ++t) task(t);
    else
      parallel_for(tasks, task);
  }
}

void gemm_nt_packed(int64_t m, int64_t n, int64_t k, float alpha, const float* a_packed, int64_t a_rows, int64_t i0,
                    const float* b_packed, int64_t b_rows, int64_t j0, float beta, float* C, int64_t ldc) {
  const int64_t a_pad = (a_rows + MR - 1) / MR * MR, b_pad = (b_rows + NR - 1) / NR * NR;
  for (int64_t p0 = 0; p0 < k; p0 += KC) {
    const int64_t kc = std::min(KC, k - p0);
    const float b = p0 == 0 ? beta : 1.0f;
    const float* ap = a_packed + p0 * a_pad + i0 * kc;
    const float* bp = b_packed + p0 * b_pad + j0 * kc;
    for (int64_t jj = 0; jj < n; jj += NR)
      for (int64_t ii = 0; ii < m; ii += MR)
        micro_tile(kc, ap + ii * kc, bp + jj * kc, alpha, b, C, ldc, ii, std::min(MR, m - ii), jj, std::min(NR, n - jj),
                   Part::all);
  }
}

const char* gemm_nt_kernel() {
  const Micro k = micro_kernel();
  return k == Micro::avx512 ? "avx512" : k == Micro::avx2 ? "avx2" : "portable";
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::sse: return "SSE";
    case Isa::avx: return "AVX";
    case Isa::avx2: return "AVX2";
    case Isa::avx512: return "AVX-512";
    default: return "other";
  }
}

bool isa_from_name(const std::string& name, Isa* isa) {
  for (Isa i : {Isa::sse, Isa::avx, Isa::avx2, Isa::avx512, Isa::other})
    if (name == isa_name(i)) {
      *isa = i;
      return true;
    }
  return false;
}

Isa cpu_isa() {
#if defined(__x86_64__)
  if (__builtin_cpu_supports("avx512f")) return Isa::avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::avx2;
  if (__builtin_cpu_supports("avx")) return Isa::avx;
  return Isa::sse;
#else
  return Isa::other;
#endif
}

Isa openblas_core_isa(const std::string& core) {
  std::string c;
  for (char ch : core) c += (char)std::tolower((unsigned char)ch);
  static const char* const avx512[] = {"skylakex", "cooperlake", "sapphirerapids"};
  static const char* const avx2[] = {"haswell", "zen"};
  static const char* const avx[] = {"sandybridge", "bulldozer", "piledriver", "steamroller", "excavator"};
  static const char* const sse[] = {"prescott", "core2",        "penryn",        "dunnington", "nehalem", "atom",
                                    "opteron",  "opteron_sse3", "opteron(sse3)", "barcelona",  "bobcat",  "nano",
                                    "athlon",   "banias",       "northwood",     "coppermine", "katmai",  "unknown"};
  for (const char* n : avx512)
    if (c == n) return Isa::avx512;
  for (const char* n : avx2)
    if (c == n) return Isa::avx2;
  for (const char* n : avx)
    if (c == n) return Isa::avx;
  for (const char* n : sse)
    if (c == n) return Isa::sse;
  return Isa::other;
}

PathRule cpu_path_rule(Isa cpu, Isa openblas, const std::string& core) {
  const std::string ob = "OpenBLAS runs its " + core + " kernels";
  if (cpu == Isa::other)
    return {false, false, ob + "; natgrad's own kernels are not measured faster than OpenBLAS's on this architecture"};
  if (openblas == Isa::other) openblas = cpu;  // a core name this table does not know: taken to match the CPU
  const std::string level = std::string(" (") + isa_name(openblas) + ")";
  if (cpu == Isa::avx512) {
    if (openblas == Isa::avx512)
      return {false, false,
              ob + level +
                  ", as this CPU supports: OpenBLAS runs gemm (1.11–1.36× faster than natgrad's) and the "
                  "Cholesky (natgrad's recursive one measured 0.68–1.07× of it on an Intel Xeon; "
                  "NATGRAD_CPU_GEMM=natgrad gives bits independent of the thread count)"};
    return {true, true,
            ob + level +
                ", below this CPU's AVX-512: natgrad's AVX-512 kernels run gemm and the float32 Cholesky "
                "(measured 1.1–4× faster than OpenBLAS's below AVX-512)"};
  }
  if (cpu == Isa::avx2 && (openblas == Isa::sse || openblas == Isa::avx))
    return {true, true,
            ob + level +
                ", below this CPU's AVX2: natgrad's AVX2 kernels run gemm and the float32 Cholesky (measured "
                "1.9–2.0× / 1.3–1.9× faster than OpenBLAS-Prescott, 1.2× / 1.1–1.3× than OpenBLAS-Sandybridge)"};
  if (cpu == Isa::avx2)
    return {false, false,
            ob + level +
                ": OpenBLAS runs gemm and the Cholesky (natgrad's AVX2 kernels measured 0.71–0.85× of "
                "OpenBLAS-Haswell)"};
  return {false, false, ob + level + ": OpenBLAS runs gemm and the Cholesky (natgrad has no faster kernel below AVX2)"};
}

const PathRule& cpu_path() {
  static const PathRule rule = [] {
    const std::string core = openblas_get_corename();
    PathRule r = cpu_path_rule(cpu_isa(), openblas_core_isa(core), core);
    const std::string& choice = gemm_env();
    if (choice == "natgrad" || choice == "natgrad-avx2" || choice == "natgrad-portable" || choice == "openblas") {
      const bool own = choice != "openblas";
      r.why = "forced by NATGRAD_CPU_GEMM=" + choice + " (auto would run " + (r.own_gemm ? "natgrad's" : "OpenBLAS's") +
              " gemm and " + (r.own_cholesky ? "natgrad's" : "OpenBLAS's") + " Cholesky: " + r.why + ")";
      r.own_gemm = r.own_cholesky = own;
    }
    return r;
  }();
  return rule;
}

bool use_own_gemm() { return cpu_path().own_gemm; }
bool use_own_cholesky() { return cpu_path().own_cholesky; }

const char* gemm_setting() {
  const std::string& v = gemm_env();
  return v == "auto" || v == "natgrad" || v == "openblas" || v == "natgrad-avx2" || v == "natgrad-portable" ? v.c_str()
                                                                                                            : "auto";
}

}  // namespace natgrad::cpu
