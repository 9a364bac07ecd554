// gemm_nt: natgrad's own float32 matrix product, C = β·C + α·A·Bᵀ, for the
// places where OpenBLAS's kernels are not the fast ones on this CPU (see
// gemm_nt.cc), and for products fused with other work (tiles of a kernel).
#pragma once
#include <cstdint>

namespace natgrad::cpu {

// A strided view: element (i, j) is p[i·rs + j·cs] (row-major: rs = ld, cs = 1;
// column-major: rs = 1, cs = ld).
struct View {
  const float* p;
  int64_t rs, cs;
};

enum class Part { all, lower };  // lower: only C[i,j] with i ≥ j is written

// C[m,n] (column-major, leading dimension ldc) = β·C + α·A·Bᵀ for A [m,k] and
// B [n,k] (strided views), β ∈ {0, 1} (β = 0: C is not read). Part::lower
// writes only i ≥ j (the syrk form when A and B are the same matrix). Runs on
// parallel_for's threads when the product is large enough. The result for a
// given (m, n, k) does not depend on the thread count: every C element is one
// dot product summed in p order, in blocks of KC, per call.
void gemm_nt(int64_t m, int64_t n, int64_t k, float alpha, View A, View B, float beta, float* C, int64_t ldc,
             Part part = Part::all);

// Pre-packed operands, for many products of row blocks of the same matrices (the tiles of
// layer_gram_sum): all `rows` rows of X [rows, k] in the micro-kernel's panel format, as the A side
// (row blocks of 32) or the B side (row blocks of 12), chunk by chunk of k. pack_rows runs on
// parallel_for's threads; `out` holds packed_floats(rows, k, side) floats.
enum class Side { a, b };
int64_t packed_floats(int64_t rows, int64_t k, Side side);
void pack_rows(View X, int64_t rows, int64_t k, Side side, float* out);
// C[m,n] (column-major, ldc) = β·C + α·A[i0 : i0 + m]·B[j0 : j0 + n]ᵀ from packed A (a_rows rows in
// all) and packed B (b_rows rows), both with inner dimension k; i0 a multiple of 32, j0 of 12.
// Single-threaded; the same bits as gemm_nt on the unpacked rows.
void gemm_nt_packed(int64_t m, int64_t n, int64_t k, float alpha, const float* a_packed, int64_t a_rows, int64_t i0,
                    const float* b_packed, int64_t b_rows, int64_t j0, float beta, float* C, int64_t ldc);

// The name of the micro-kernel gemm_nt runs on this CPU: "avx512" or "portable".
const char* gemm_nt_kernel();

// Which code runs the backend's gemm (use_own_gemm) and the float32 Cholesky (use_own_cholesky):
// natgrad's gemm_nt, or OpenBLAS's BLAS-3. NATGRAD_CPU_GEMM=natgrad|natgrad-portable|openblas forces
// both. auto, from `npm run bench:paths` (bench/results/cpu_paths-*.json, 2-core AMD EPYC with AVX-512):
//  - no AVX-512: OpenBLAS for both (the portable micro-kernel is 2.4–5× slower than OpenBLAS's AVX2);
//  - AVX-512, OpenBLAS's kernels without it (Prescott, Haswell, …): natgrad for both (gemm 1.1–1.2×,
//    Cholesky 1.2–1.3×, the exact step 1.2× faster, and bits independent of the thread count);
//  - AVX-512 and OpenBLAS's AVX-512 kernels (SkylakeX, Cooperlake, SapphireRapids): OpenBLAS's sgemm
//    for gemm (1.11–1.14× faster than gemm_nt), natgrad's Cholesky (the exact step 1.08–1.22× faster;
//    the factorisation alone 1.15–1.22× faster at M = 1024, within ±9% at 2048, 0.88–0.93× at 4096),
//    which keeps the optimizer's bits independent of the thread count.
bool use_own_gemm();
bool use_own_cholesky();

// The NATGRAD_CPU_GEMM setting in effect: auto | natgrad | openblas |
// natgrad-portable (natgrad's kernels without AVX-512, for tests); other values: auto.
const char* gemm_setting();

}  // namespace natgrad::cpu
