// gemm_nt: natgrad's own float32 matrix product, C = β·C + α·A·Bᵀ, for the
// places where OpenBLAS's kernels are not the fast ones on this CPU (see
// gemm_nt.cc), and for products fused with other work (tiles of a kernel).
#pragma once
#include <cstdint>
#include <string>

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

// The name of the micro-kernel gemm_nt runs: "avx512" (an AVX-512 CPU), "avx2" (AVX2 + FMA, or
// NATGRAD_CPU_GEMM=natgrad-avx2) or "portable" (plain loops: an older CPU, or natgrad-portable).
const char* gemm_nt_kernel();

// Which code runs the backend's gemm and gram (use_own_gemm) and the float32 Cholesky (use_own_cholesky):
// natgrad's gemm_nt, or OpenBLAS's BLAS-3. NATGRAD_CPU_GEMM=natgrad|natgrad-avx2|natgrad-portable|openblas forces
// both; auto follows cpu_path_rule below, from this CPU's vector level and that of the kernel set
// OpenBLAS runs (openblas_get_corename()).

// A vector level: of this CPU (what natgrad's micro-kernels can use: avx512 = AVX-512F, the AVX-512
// micro-kernel; avx2 = AVX2 + FMA, the AVX2 micro-kernel; avx; sse), or of an
// OpenBLAS kernel set (Prescott … Nehalem: sse; Sandybridge, Bulldozer … Excavator: avx; Haswell, Zen:
// avx2; SkylakeX, Cooperlake, SapphireRapids: avx512). other: not x86-64, or a core name this table
// does not know (a newer OpenBLAS's), taken to match the CPU.
enum class Isa { sse, avx, avx2, avx512, other };
const char* isa_name(Isa isa);
bool isa_from_name(const std::string& name, Isa* isa);  // the inverse of isa_name; false for other names
Isa cpu_isa();                                          // this CPU (other: not x86-64)
Isa openblas_core_isa(const std::string& core);         // an OpenBLAS core name, as openblas_get_corename() gives it

struct PathRule {
  bool own_gemm, own_cholesky;
  std::string why;  // one sentence: what runs, and the measurement behind it
};
// The auto rule, a pure function (tested as a table: test/cpu_path.test.ts). From `npm run bench:paths`
// (bench/results/cpu_paths-*.json; OpenBLAS's kernel set chosen per command with OPENBLAS_CORETYPE):
//  - an AVX-512 CPU, OpenBLAS below AVX-512 (Prescott, Sandybridge, Haswell, …): natgrad for both
//    (gemm 1.1–1.2× faster than OpenBLAS-Haswell, Cholesky 1.2–1.3×; 2–4× over Prescott; AMD Zen 5);
//  - an AVX-512 CPU and OpenBLAS's AVX-512 kernels (SkylakeX, Cooperlake, SapphireRapids): OpenBLAS for
//    both: its sgemm is 1.11–1.14× faster than gemm_nt on Zen 5, 1.20–1.36× on an Intel Xeon; natgrad's
//    recursive Cholesky measured 0.90–1.07× of OpenBLAS's there back to back and 0.68–0.85× at
//    M = 1024–2048 after a 200 ms pause (bench/native.js; on Zen 5 the exact step had been 1.08–1.22×
//    faster with it, the factorisation alone 0.88–1.22×). NATGRAD_CPU_GEMM=natgrad keeps bits
//    independent of the thread count;
//  - an AVX2 CPU, OpenBLAS below AVX2 (Prescott: SSE3; Sandybridge: AVX without FMA): natgrad for both,
//    on the AVX2 micro-kernel (NATGRAD_CPU_GEMM=natgrad-avx2, Intel Xeon with AVX-512 running it): gemm
//    1.86–2.01× / 1.17–1.24×, Cholesky 1.33–1.86× / 1.13–1.27×, the exact step 1.09–1.31× / 1.44–1.47×
//    faster than OpenBLAS-Prescott / -Sandybridge (the plain-loop micro-kernel was slower than either);
//  - an AVX2 CPU with OpenBLAS's AVX2 kernels (Haswell, Zen): OpenBLAS for both (the AVX2 micro-kernel
//    is 0.71–0.85× of OpenBLAS-Haswell);
//  - a CPU without AVX2, or not x86-64: OpenBLAS for both (natgrad has no faster kernel there).
PathRule cpu_path_rule(Isa cpu, Isa openblas, const std::string& core);
// The rule in effect, with the NATGRAD_CPU_GEMM override applied (why then says so).
const PathRule& cpu_path();
bool use_own_gemm();
bool use_own_cholesky();

// The NATGRAD_CPU_GEMM setting in effect: auto | natgrad | openblas | natgrad-avx2 (natgrad's kernels on
// the AVX2 micro-kernel) | natgrad-portable (on the plain-loop micro-kernel); other values: auto.
const char* gemm_setting();

}  // namespace natgrad::cpu
