// The CPU backend: OpenBLAS for BLAS, its bundled LAPACK for factorisations.
#include <cblas.h>

#include <mutex>
#include <string>

#include "../backend.h"
#include "../error.h"
#include "cpu_kernels.h"
#include "gemm_nt.h"
#include "parallel.h"

namespace natgrad {
namespace {

// OpenBLAS calls made from several threads at once are not bitwise reproducible: measured here,
// pinvSolve (ssyevd/dsyevd + sgemm) gave different bits in ~4% of calls while Promise-form calls
// overlapped, and never when the same calls ran one at a time. The methods that call OpenBLAS therefore
// hold cpu::OpenBlasLock (parallel.h), so results stay identical across runs however Promise-form calls
// interleave (OpenBLAS already uses every core for one call; natgrad's own kernels do not take it).
// OpenBLAS's thread count is process-wide; the lock's holder sets it to its own environment's
// threads() (setThreads is per Node.js environment), so two environments never see each other's.
using cpu::OpenBlasLock;

class CpuBackend final : public Backend {
 public:
  BackendInfo info() const override {
    BackendInfo b;
    b.name = "cpu";
    // openblas_get_config(): "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Cooperlake MAX_THREADS=64"
    const std::string config = openblas_get_config();
    std::string version = config.substr(0, config.find(' ', config.find(' ') + 1));
    b.blas = version + " " + openblas_get_corename();
    b.threads = cpu::threads();
    // OpenBLAS picks its kernels from the CPU model at load; a model newer than the library (e.g. 0.3.21
    // on an Emerald Rapids Xeon) falls back to older kernels (the generic SSE3 "Prescott" ones for an
    // unknown model). natgrad does not override the choice (OPENBLAS_CORETYPE is the user's to set),
    // but says what runs and why (cpu_path_rule, gemm_nt.h), and which OPENBLAS_CORETYPE would match the CPU.
    const std::string core = openblas_get_corename();
    const cpu::Isa cpu_level = cpu::cpu_isa(), ob_level = cpu::openblas_core_isa(core);
    const auto rank = [](cpu::Isa i) { return i == cpu::Isa::other ? -1 : (int)i; };
    if (rank(ob_level) >= 0 && rank(cpu_level) > rank(ob_level)) {
      // OpenBLAS's SkylakeX kernels need AVX-512 BW/DQ/VL besides F (a Knights Landing has F only)
      bool skylakex = false;
#if defined(__x86_64__)
      skylakex = __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
                 __builtin_cpu_supports("avx512vl");
#endif
      const char* suggest = cpu_level == cpu::Isa::avx512 && skylakex                     ? "SkylakeX"
                            : cpu_level >= cpu::Isa::avx2 && cpu_level != cpu::Isa::other ? "Haswell"
                                                                                          : "Sandybridge";
      b.note = std::string("OpenBLAS runs its ") + core + " (" + cpu::isa_name(ob_level) + ") kernels on this " +
               cpu::isa_name(cpu_level) +
               " CPU (it may not recognise the model); setting OPENBLAS_CORETYPE=" + suggest +
               " before starting node selects faster kernels for " +
               (cpu::use_own_gemm() && cpu::use_own_cholesky()
                    ? "pinvSolve, batchedGramInverse and float64 solves (gemm, gram, layerGram, layerGramSum and "
                      "float32 choleskySolve already run on natgrad's own " +
                          std::string(cpu::gemm_nt_kernel()) + " kernel)"
                    : "every kernel OpenBLAS runs");
    }
    // layerGram/layerGramSum always run on gemm_nt; gemm when use_own_gemm(), the float32 Cholesky when
    // use_own_cholesky() (gemm_nt.h: the auto rule and the measurements behind it).
    const std::string own = std::string("natgrad gemm_nt (") + cpu::gemm_nt_kernel() + ")";
    b.kernels =
        "layerGram, layerGramSum: " + own + "; gemm: " + (cpu::use_own_gemm() ? own : "OpenBLAS sgemm") +
        "; gram: " + (cpu::use_own_gemm() ? own : "OpenBLAS ssyrk") + "; choleskySolve float32: " +
        (cpu::use_own_cholesky() ? std::string("natgrad recursive Cholesky on gemm_nt (") + cpu::gemm_nt_kernel() + ")"
                                 : std::string("OpenBLAS blocked Cholesky")) +
        " (NATGRAD_CPU_GEMM=" + cpu::gemm_setting() + ")";
    // natgrad's own kernels compute each output element whole in one task, in a fixed order (parallel.h),
    // so their bits do not depend on the thread count; OpenBLAS's threaded BLAS-3 and LAPACK split sums
    // by thread (its potrf's bits differ between 1 and 2 threads on Cooperlake kernels, for one).
    b.thread_independent = std::string(
                               "layerGram,layerGramSum,activationForward,activationBackward,rowsContract,rowsDot,"
                               "im2col,conv2dInputSeeds,conv2dForward,conv2dGradients,pool2dForward,pool2dBackward") +
                           (cpu::use_own_gemm() ? ",gemm,gram" : "") +
                           (cpu::use_own_cholesky() ? ",choleskySolve float32" : "");
    b.has_cpu_path = true;
    b.cpu = {cpu::isa_name(cpu_level),
             core,
             cpu::isa_name(ob_level),
             cpu::gemm_nt_kernel(),
             cpu::use_own_gemm() ? "natgrad" : "openblas",
             cpu::use_own_cholesky() ? "natgrad" : "openblas",
             cpu::cpu_path().why,
             cpu::openblas_parking(),
             cpu::openblas_parks()};
    return b;
  }
  void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* A, const float* B, float beta,
            float* C) override {
    // C[m,n] = alpha·op(A)·op(B) + beta·C
    if (cpu::use_own_gemm()) {
      // Row-major C [m,n] is column-major Cᵀ [n,m] = op(B)ᵀ·op(A)ᵀ: gemm_nt with "A" = op(B)ᵀ [n,k] and
      // "B" = op(A) [m,k], as strided views. β other than 0 or 1 is applied first.
      if (beta != 0.0f && beta != 1.0f)
        for (int64_t i = 0; i < m * n; ++i) C[i] *= beta;
      const cpu::View opA = ta ? cpu::View{A, 1, m} : cpu::View{A, k, 1};   // (i, p) = op(A)[i,p]
      const cpu::View opBt = tb ? cpu::View{B, k, 1} : cpu::View{B, 1, n};  // (j, p) = op(B)[p,j]
      cpu::gemm_nt(n, m, k, alpha, opBt, opA, beta == 0.0f ? 0.0f : 1.0f, C, n);
      return;
    }
    OpenBlasLock lock;
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)m, (int)n, (int)k,
                alpha, A, ta ? (int)m : (int)k, B, tb ? (int)k : (int)n, beta, C, (int)n);
  }
  void gram(const float* J, int64_t P, int64_t M, bool samples_major, bool accumulate, float* K) override {
    if (cpu::use_own_gemm()) {  // the one rule for products (gemm_nt.h): gram follows gemm
      cpu::gram_own(J, P, M, samples_major, accumulate, K);
      return;
    }
    OpenBlasLock lock;
    cpu::gram(J, P, M, samples_major, accumulate, K);
  }
  void layer_gram_sum(const LayerFactors* layers, int64_t count, int64_t N, int64_t k, bool accumulate,
                      float* K) override {
    cpu::layer_gram_sum(layers, count, N, k, accumulate, K);
  }
  void cholesky_solve(const float* K, int64_t M, const float* R, int64_t nrhs, double lambda, Precision p,
                      float* X) override {
    OpenBlasLock lock;  // potrs, the float64 factor, and the float32 one without natgrad's gemm
    cpu::cholesky_solve(K, M, R, nrhs, lambda, p, X);
  }
  int64_t pinv_solve(const float* K, int64_t M, const float* R, int64_t nrhs, double lambda, double rcond, Precision p,
                     float* X) override {
    OpenBlasLock lock;
    return cpu::pinv_solve(K, M, R, nrhs, lambda, rcond, p, X);
  }
  void batched_gram_inverse(const float* G, int64_t batch, int64_t rows, int64_t k, double lambda,
                            float* out) override {
    OpenBlasLock lock;
    cpu::batched_gram_inverse(G, batch, rows, k, lambda, out);
  }
  // the whole step in one call (exact_step.cc), through the methods above (each takes the lock it needs)
  void exact_step(const ExactStepSpec& spec, ExactStepResult* result) override { cpu::exact_step(*this, spec, result); }
  // float64: OpenBLAS's d* routines and LAPACK's, whatever NATGRAD_CPU_GEMM says (natgrad's own
  // micro-kernels are float32)
  void gemm64(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha, const double* A, const double* B,
              double beta, double* C) override {
    OpenBlasLock lock;
    cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)m, (int)n, (int)k,
                alpha, A, ta ? (int)m : (int)k, B, tb ? (int)k : (int)n, beta, C, (int)n);
  }
  void gram64(const double* J, int64_t P, int64_t M, bool samples_major, bool accumulate, double* K) override {
    OpenBlasLock lock;
    cpu::gram64(J, P, M, samples_major, accumulate, K);
  }
  void layer_gram_sum64(const LayerFactors64* layers, int64_t count, int64_t N, int64_t k, bool accumulate,
                        double* K) override {
    OpenBlasLock lock;
    cpu::layer_gram_sum64(layers, count, N, k, accumulate, K);
  }
  void cholesky_solve64(const double* K, int64_t M, const double* R, int64_t nrhs, double lambda, double* X) override {
    OpenBlasLock lock;
    cpu::cholesky_solve64(K, M, R, nrhs, lambda, X);
  }
  int64_t pinv_solve64(const double* K, int64_t M, const double* R, int64_t nrhs, double lambda, double rcond,
                       double* X) override {
    OpenBlasLock lock;
    return cpu::pinv_solve64(K, M, R, nrhs, lambda, rcond, X);
  }
};

}  // namespace

// A backend without float64 kernels of its own (CUDA) runs them on the CPU.
void Backend::gemm64(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha, const double* A, const double* B,
                     double beta, double* C) {
  cpu_backend()->gemm64(ta, tb, m, n, k, alpha, A, B, beta, C);
}
void Backend::gram64(const double* J, int64_t P, int64_t M, bool samples_major, bool accumulate, double* K) {
  cpu_backend()->gram64(J, P, M, samples_major, accumulate, K);
}
void Backend::layer_gram_sum64(const LayerFactors64* layers, int64_t count, int64_t N, int64_t k, bool accumulate,
                               double* K) {
  cpu_backend()->layer_gram_sum64(layers, count, N, k, accumulate, K);
}
void Backend::cholesky_solve64(const double* K, int64_t M, const double* R, int64_t nrhs, double lambda, double* X) {
  cpu_backend()->cholesky_solve64(K, M, R, nrhs, lambda, X);
}
int64_t Backend::pinv_solve64(const double* K, int64_t M, const double* R, int64_t nrhs, double lambda, double rcond,
                              double* X) {
  return cpu_backend()->pinv_solve64(K, M, R, nrhs, lambda, rcond, X);
}

// A backend without a one-call step of its own (every backend has one today).
void Backend::exact_step(const ExactStepSpec& spec, ExactStepResult* result) {
  cpu_backend()->exact_step(spec, result);
}

Backend* cpu_backend() {
  static CpuBackend backend;
  return &backend;
}

}  // namespace natgrad
