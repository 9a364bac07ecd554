// A CPU emulation of the CUDA subset that natgrad's CUDA backend calls — for TESTS ONLY.
//
// test/cuda.test.ts compiles this file four times, as libcuda.so.1, libcudart.so.13,
// libcublas.so.13 and libcusolver.so.12 in a temporary folder, and points
// NATGRAD_CUDA_PATH there. The addon then loads it exactly as it would load the real
// libraries and runs its whole CUDA code path (argument order, leading dimensions,
// transposes, fill modes, workspace queries, info arrays, kernel launches) on the CPU,
// so that the cross-backend harness checks the backend's host logic on machines without
// a GPU. It says nothing about the real GPU's speed or its numerics.
//
// Semantics follow the cuBLAS / cuSOLVER documentation, column-major, and read ONLY
// what the real routine reads (e.g. potrf/syevd read one triangle, gemm with β = 0
// does not read C), so that a backend relying on anything else gets a wrong answer.
// Device memory is host memory. The elementwise kernels are kernels.cu itself, compiled
// as C++: each block's threads run as coroutines (ucontext) that switch at
// __syncthreads(), with __shared__ arrays as per-kernel statics (blocks run one by one).
#include <ucontext.h>

#include <algorithm>
#include <chrono>
#include <math.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "../cuda_api.h"

using namespace natgrad::cuda;

// ---- kernels.cu on the CPU ------------------------------------------------------------------
namespace emu {
struct Dim3 {
  unsigned x = 0, y = 0, z = 0;
};
Dim3 threadIdx, blockIdx, blockDim, gridDim;
ucontext_t scheduler;
std::vector<ucontext_t> threads;
int current = 0;
void syncthreads() { swapcontext(&threads[current], &scheduler); }
}  // namespace emu

#define __global__
#define __device__ static
#define __shared__ static
// CUDA's atomicMin, for one thread at a time (blocks and threads run one by one here)
static int atomicMin(int* a, int v) {
  const int old = *a;
  if (v < old) *a = v;
  return old;
}
#define threadIdx emu::threadIdx
#define blockIdx emu::blockIdx
#define blockDim emu::blockDim
#define gridDim emu::gridDim
#define __syncthreads() emu::syncthreads()
#include "../kernels.cu"
#undef threadIdx
#undef blockIdx
#undef blockDim
#undef gridDim
#undef __syncthreads

namespace emu {
struct Kernel {
  bool barrier;  // uses __syncthreads: run as coroutines
  std::function<void(void**)> call;
};
const std::map<std::string, Kernel>& kernels() {
  static const std::map<std::string, Kernel> k = {
      {"ng_mirror_upper", {true, [](void** a) { ng_mirror_upper(*(float**)a[0], *(int*)a[1]); }}},
      {"ng_layer_hadamard",
       {true,
        [](void** a) {
          ng_layer_hadamard(*(float**)a[0], *(const float**)a[1], *(const float**)a[2], *(int*)a[3], *(int*)a[4],
                            *(int*)a[5]);
        }}},
      {"ng_add_diagonal_f32",
       {false,
        [](void** a) {
          ng_add_diagonal_f32(*(float**)a[0], *(int*)a[1], *(int*)a[2], *(long long*)a[3], *(int*)a[4], *(float*)a[5]);
        }}},
      {"ng_add_diagonal_f64",
       {false,
        [](void** a) {
          ng_add_diagonal_f64(*(double**)a[0], *(int*)a[1], *(int*)a[2], *(long long*)a[3], *(int*)a[4],
                              *(double*)a[5]);
        }}},
      {"ng_mirror_upper_batched",
       {false, [](void** a) { ng_mirror_upper_batched(*(float**)a[0], *(int*)a[1], *(int*)a[2]); }}},
      {"ng_f32_to_f64",
       {false, [](void** a) { ng_f32_to_f64(*(double**)a[0], *(const float**)a[1], *(long long*)a[2]); }}},
      {"ng_f64_to_f32",
       {false, [](void** a) { ng_f64_to_f32(*(float**)a[0], *(const double**)a[1], *(long long*)a[2]); }}},
      {"ng_fill_f32", {false, [](void** a) { ng_fill_f32(*(float**)a[0], *(long long*)a[1], *(float*)a[2]); }}},
      {"ng_add_bias",
       {false, [](void** a) { ng_add_bias(*(float**)a[0], *(const float**)a[1], *(int*)a[2], *(long long*)a[3]); }}},
      {"ng_activation_forward",
       {false,
        [](void** a) { ng_activation_forward(*(float**)a[0], *(const float**)a[1], *(long long*)a[2], *(int*)a[3]); }}},
      {"ng_activation_backward",
       {false,
        [](void** a) {
          ng_activation_backward(*(float**)a[0], *(const float**)a[1], *(int*)a[2], *(int*)a[3], *(long long*)a[4],
                                 *(int*)a[5]);
        }}},
      {"ng_family",
       {false,
        [](void** a) {
          ng_family(*(int*)a[0], *(const float**)a[1], *(const float**)a[2], *(int*)a[3], *(int*)a[4], *(float**)a[5],
                    *(float**)a[6], *(double**)a[7], *(double**)a[8], *(int**)a[9]);
        }}},
      {"ng_sum_f64",
       {true,
        [](void** a) {
          ng_sum_f64(*(const double**)a[0], *(const float**)a[1], *(const float**)a[2], *(long long*)a[3],
                     *(double**)a[4]);
        }}},
  };
  return k;
}

const Kernel* launching = nullptr;
void** launch_args = nullptr;
std::vector<bool> finished;
void trampoline(int t) {
  launching->call(launch_args);
  finished[(size_t)t] = true;
}

int launch(const Kernel& k, Dim3 grid, Dim3 block, void** args) {
  const unsigned nthreads = block.x * block.y * block.z;
  if (nthreads == 0 || nthreads > 1024 || grid.x == 0 || grid.y == 0 || grid.z == 0)
    return 1;  // CUDA_ERROR_INVALID_VALUE
  gridDim = grid;
  blockDim = block;
  launching = &k;
  launch_args = args;
  static std::vector<std::vector<char>> stacks;
  if (k.barrier && stacks.size() < nthreads) stacks.resize(nthreads, std::vector<char>(64 * 1024));
  for (unsigned bz = 0; bz < grid.z; ++bz)
    for (unsigned by = 0; by < grid.y; ++by)
      for (unsigned bx = 0; bx < grid.x; ++bx) {
        blockIdx = {bx, by, bz};
        auto tid = [&](unsigned t) { return Dim3{t % block.x, (t / block.x) % block.y, t / (block.x * block.y)}; };
        if (!k.barrier) {
          for (unsigned t = 0; t < nthreads; ++t) {
            threadIdx = tid(t);
            k.call(args);
          }
          continue;
        }
        threads.assign(nthreads, ucontext_t{});
        finished.assign(nthreads, false);
        for (unsigned t = 0; t < nthreads; ++t) {
          getcontext(&threads[t]);
          threads[t].uc_stack.ss_sp = stacks[t].data();
          threads[t].uc_stack.ss_size = stacks[t].size();
          threads[t].uc_link = &scheduler;
          makecontext(&threads[t], (void (*)())trampoline, 1, (int)t);
        }
        // rounds: every unfinished thread runs to its next __syncthreads() or its end
        for (bool any = true; any;) {
          any = false;
          for (unsigned t = 0; t < nthreads; ++t) {
            if (finished[t]) continue;
            current = (int)t;
            threadIdx = tid(t);
            swapcontext(&scheduler, &threads[t]);
            any = true;
          }
        }
      }
  return 0;
}
}  // namespace emu

// ---- small dense helpers (column-major) -----------------------------------------------------
namespace {
template <class T>
T at(const T* A, int lda, int r, int c) {
  return A[(size_t)c * lda + r];
}
// element (r, c) of op(A)
template <class T>
T op_at(const T* A, int lda, int trans, int r, int c) {
  return trans == CUBLAS_OP_N ? at(A, lda, r, c) : at(A, lda, c, r);
}
template <class T>
int gemm(int ta, int tb, int m, int n, int k, const T* alpha, const T* A, int lda, const T* B, int ldb, const T* beta,
         T* C, int ldc) {
  if (m < 0 || n < 0 || k < 0 || ldc < std::max(1, m) || lda < std::max(1, ta == CUBLAS_OP_N ? m : k) ||
      ldb < std::max(1, tb == CUBLAS_OP_N ? k : n))
    return 7;  // CUBLAS_STATUS_INVALID_VALUE
  for (int j = 0; j < n; ++j)
    for (int i = 0; i < m; ++i) {
      double s = 0;
      for (int p = 0; p < k; ++p) s += (double)op_at(A, lda, ta, i, p) * (double)op_at(B, ldb, tb, p, j);
      T& c = C[(size_t)j * ldc + i];
      c = (T)((double)*alpha * s + (*beta == 0 ? 0.0 : (double)*beta * (double)c));
    }
  return 0;
}
// Cholesky of the `uplo` triangle (LAPACK semantics: info = order of the first non-positive minor).
template <class T>
int potrf(int uplo, int n, T* A, int lda) {
  auto a = [&](int r, int c) -> T& {  // element of the referenced triangle
    return uplo == CUBLAS_FILL_MODE_LOWER ? A[(size_t)c * lda + r] : A[(size_t)r * lda + c];
  };
  for (int j = 0; j < n; ++j) {
    double d = a(j, j);
    for (int p = 0; p < j; ++p) d -= (double)a(j, p) * a(j, p);
    if (!(d > 0)) return j + 1;
    const double l = std::sqrt(d);
    a(j, j) = (T)l;
    for (int i = j + 1; i < n; ++i) {
      double v = a(i, j);
      for (int p = 0; p < j; ++p) v -= (double)a(i, p) * a(j, p);
      a(i, j) = (T)(v / l);
    }
  }
  return 0;
}
template <class T>
int geam(int ta, int tb, int m, int n, const T* alpha, const T* A, int lda, const T* beta, const T* B, int ldb, T* C,
         int ldc) {
  if (C == A || C == B) return 7;  // natgrad never uses the in-place forms
  for (int j = 0; j < n; ++j)
    for (int i = 0; i < m; ++i)
      C[(size_t)j * ldc + i] = *alpha * op_at(A, lda, ta, i, j) + (*beta == 0 ? (T)0 : *beta * op_at(B, ldb, tb, i, j));
  return 0;
}
template <class T>
int dgmm(int mode, int m, int n, const T* A, int lda, const T* x, int incx, T* C, int ldc) {
  if (A == C && lda != ldc) return 7;
  for (int j = 0; j < n; ++j)
    for (int i = 0; i < m; ++i)
      C[(size_t)j * ldc + i] = at(A, lda, i, j) * x[(size_t)(mode == CUBLAS_SIDE_LEFT ? i : j) * incx];
  return 0;
}
template <class T>
int potrs(int uplo, int n, int nrhs, const T* A, int lda, T* B, int ldb) {
  if (uplo != CUBLAS_FILL_MODE_LOWER || ldb < n) return 3;
  for (int j = 0; j < nrhs; ++j) {
    T* x = B + (size_t)j * ldb;
    for (int i = 0; i < n; ++i) {  // L y = b
      double v = x[i];
      for (int p = 0; p < i; ++p) v -= (double)at(A, lda, i, p) * x[p];
      x[i] = (T)(v / at(A, lda, i, i));
    }
    for (int i = n - 1; i >= 0; --i) {  // Lᵀ x = y
      double v = x[i];
      for (int p = i + 1; p < n; ++p) v -= (double)at(A, lda, p, i) * x[p];
      x[i] = (T)(v / at(A, lda, i, i));
    }
  }
  return 0;
}
// Cyclic Jacobi in double on the `uplo` triangle; eigenvalues ascending, eigenvectors in A's columns.
template <class T>
int syevd(int jobz, int uplo, int n, T* A, int lda, T* W, T* work, int lwork, int* info) {
  if (jobz != CUSOLVER_EIG_MODE_VECTOR || !work || lwork < 2 * n) return 3;
  std::vector<double> a((size_t)n * n), v((size_t)n * n, 0.0);
  for (int c = 0; c < n; ++c)
    for (int r = 0; r < n; ++r) {
      const bool lower = r >= c;
      const T x = (uplo == CUBLAS_FILL_MODE_LOWER) == lower ? at(A, lda, r, c) : at(A, lda, c, r);
      a[(size_t)c * n + r] = x;
    }
  for (int i = 0; i < n; ++i) v[(size_t)i * n + i] = 1;
  for (int sweep = 0; sweep < 100; ++sweep) {
    double off = 0;
    for (int q = 0; q < n; ++q)
      for (int p = 0; p < q; ++p) off += a[(size_t)q * n + p] * a[(size_t)q * n + p];
    if (off < 1e-30) break;
    for (int p = 0; p < n; ++p)
      for (int q = p + 1; q < n; ++q) {
        const double apq = a[(size_t)q * n + p];
        if (apq == 0) continue;
        const double theta = (a[(size_t)q * n + q] - a[(size_t)p * n + p]) / (2 * apq);
        const double t = (theta >= 0 ? 1 : -1) / (std::fabs(theta) + std::sqrt(theta * theta + 1));
        const double cs = 1 / std::sqrt(t * t + 1), sn = t * cs;
        for (int k = 0; k < n; ++k) {  // columns p, q
          const double akp = a[(size_t)p * n + k], akq = a[(size_t)q * n + k];
          a[(size_t)p * n + k] = cs * akp - sn * akq;
          a[(size_t)q * n + k] = sn * akp + cs * akq;
        }
        for (int k = 0; k < n; ++k) {  // rows p, q
          const double apk = a[(size_t)k * n + p], aqk = a[(size_t)k * n + q];
          a[(size_t)k * n + p] = cs * apk - sn * aqk;
          a[(size_t)k * n + q] = sn * apk + cs * aqk;
        }
        for (int k = 0; k < n; ++k) {
          const double vkp = v[(size_t)p * n + k], vkq = v[(size_t)q * n + k];
          v[(size_t)p * n + k] = cs * vkp - sn * vkq;
          v[(size_t)q * n + k] = sn * vkp + cs * vkq;
        }
      }
  }
  std::vector<int> order((size_t)n);
  for (int i = 0; i < n; ++i) order[(size_t)i] = i;
  std::sort(order.begin(), order.end(), [&](int x, int y) { return a[(size_t)x * n + x] < a[(size_t)y * n + y]; });
  for (int j = 0; j < n; ++j) {
    const int s = order[(size_t)j];
    W[j] = (T)a[(size_t)s * n + s];
    for (int r = 0; r < n; ++r) A[(size_t)j * lda + r] = (T)v[(size_t)s * n + r];
  }
  *info = 0;
  return 0;
}
}  // namespace

extern "C" {
// ---- driver ---------------------------------------------------------------------------------
CUresult cuInit(unsigned int) { return 0; }
CUresult cuDriverGetVersion(int* v) {
  *v = 13000;
  return 0;
}
CUresult cuDeviceGet(CUdevice* d, int ordinal) {
  *d = ordinal;
  return ordinal == 0 ? 0 : 101;
}
CUresult cuDeviceGetName(char* name, int len, CUdevice) {
  std::snprintf(name, (size_t)len, "natgrad mock GPU (CPU emulation)");
  return 0;
}
CUresult cuDeviceTotalMem_v2(size_t* bytes, CUdevice) {
  *bytes = (size_t)1 << 30;
  return 0;
}
CUresult cuDeviceGetAttribute(int* pi, int attrib, CUdevice) {
  *pi = attrib == CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR ? 9 : 0;
  return 0;
}
CUresult cuDevicePrimaryCtxRetain(CUcontext* ctx, CUdevice) {
  *ctx = (void*)0x1;
  return 0;
}
CUresult cuCtxSetCurrent(CUcontext) { return 0; }
CUresult cuModuleLoadDataEx(CUmodule* module, const void* image, unsigned int, int*, void**) {
  const std::string ptx((const char*)image);
  if (ptx.find(".version 7.0") == std::string::npos || ptx.find(".target sm_75") == std::string::npos) return 218;
  *module = (void*)0x2;
  return 0;
}
CUresult cuModuleGetFunction(CUfunction* f, CUmodule, const char* name) {
  auto it = emu::kernels().find(name);
  if (it == emu::kernels().end()) return 500;  // CUDA_ERROR_NOT_FOUND
  *f = (void*)&it->second;
  return 0;
}
CUresult cuLaunchKernel(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx,
                        unsigned int by, unsigned int bz, unsigned int shmem, cudaStream_t, void** params,
                        void** extra) {
  if (shmem != 0 || extra != nullptr) return 1;
  return emu::launch(*(const emu::Kernel*)f, {gx, gy, gz}, {bx, by, bz}, params);
}
CUresult cuGetErrorName(CUresult e, const char** s) {
  *s = e == 0 ? "CUDA_SUCCESS" : "CUDA_ERROR_MOCK";
  return 0;
}
CUresult cuGetErrorString(CUresult, const char** s) {
  *s = "mock";
  return 0;
}

// ---- runtime --------------------------------------------------------------------------------
cudaError_t cudaGetDeviceCount(int* n) {
  *n = 1;
  return 0;
}
cudaError_t cudaSetDevice(int d) { return d == 0 ? 0 : 101; }
cudaError_t cudaMalloc(void** p, size_t size) {
  if (const char* lim = std::getenv("NATGRAD_MOCK_MEMORY"))  // to test ERR_CUDA_OUT_OF_MEMORY
    if (size > (size_t)std::atoll(lim)) return cudaErrorMemoryAllocation;
  *p = std::aligned_alloc(256, (size + 255) / 256 * 256);
  return *p ? 0 : cudaErrorMemoryAllocation;
}
cudaError_t cudaFree(void* p) {
  std::free(p);
  return 0;
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t count, int kind, cudaStream_t) {
  if (kind < 1 || kind > 3) return 21;  // cudaErrorInvalidMemcpyDirection
  std::memcpy(dst, src, count);
  return 0;
}
cudaError_t cudaMemsetAsync(void* p, int v, size_t count, cudaStream_t) {
  std::memset(p, v, count);
  return 0;
}
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned int) {
  *s = (void*)0x3;
  return 0;
}
cudaError_t cudaStreamSynchronize(cudaStream_t) { return 0; }
cudaError_t cudaMemGetInfo(size_t* f, size_t* t) {
  *f = *t = (size_t)1 << 30;
  return 0;
}
cudaError_t cudaGetLastError(void) { return 0; }
const char* cudaGetErrorName(cudaError_t e) {
  return e == cudaErrorMemoryAllocation ? "cudaErrorMemoryAllocation" : "cudaErrorMock";
}
const char* cudaGetErrorString(cudaError_t) { return "mock"; }
cudaError_t cudaRuntimeGetVersion(int* v) {
  *v = 13000;
  return 0;
}
cudaError_t cudaDriverGetVersion(int* v) {
  *v = 13000;
  return 0;
}
cudaError_t cudaEventCreate(cudaEvent_t* e) {
  *e = new double(0);
  return 0;
}
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t) {
  *(double*)e = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
  return 0;
}
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t a, cudaEvent_t b) {
  *ms = (float)(*(double*)b - *(double*)a);
  return 0;
}

// ---- cuBLAS ---------------------------------------------------------------------------------
cublasStatus_t cublasCreate_v2(cublasHandle_t* h) {
  *h = (void*)0x4;
  return 0;
}
cublasStatus_t cublasGetVersion_v2(cublasHandle_t, int* v) {
  *v = 130000;
  return 0;
}
cublasStatus_t cublasSetStream_v2(cublasHandle_t, cudaStream_t) { return 0; }
cublasStatus_t cublasSetMathMode(cublasHandle_t, int mode) { return mode == 0 || mode == 3 ? 0 : 7; }
cublasStatus_t cublasSgemm_v2(cublasHandle_t, int ta, int tb, int m, int n, int k, const float* alpha, const float* A,
                              int lda, const float* B, int ldb, const float* beta, float* C, int ldc) {
  return gemm(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}
cublasStatus_t cublasDgemm_v2(cublasHandle_t, int ta, int tb, int m, int n, int k, const double* alpha, const double* A,
                              int lda, const double* B, int ldb, const double* beta, double* C, int ldc) {
  return gemm(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}
cublasStatus_t cublasSsyrk_v2(cublasHandle_t, int uplo, int trans, int n, int k, const float* alpha, const float* A,
                              int lda, const float* beta, float* C, int ldc) {
  for (int j = 0; j < n; ++j)
    for (int i = 0; i < n; ++i) {
      if (uplo == CUBLAS_FILL_MODE_UPPER ? i > j : i < j) continue;
      double s = 0;
      for (int p = 0; p < k; ++p)
        s += trans == CUBLAS_OP_N ? (double)at(A, lda, i, p) * at(A, lda, j, p)
                                  : (double)at(A, lda, p, i) * at(A, lda, p, j);
      float& c = C[(size_t)j * ldc + i];
      c = (float)(*alpha * s + (*beta == 0 ? 0.0 : (double)*beta * c));
    }
  return 0;
}
cublasStatus_t cublasSgeam(cublasHandle_t, int ta, int tb, int m, int n, const float* alpha, const float* A, int lda,
                           const float* beta, const float* B, int ldb, float* C, int ldc) {
  return geam(ta, tb, m, n, alpha, A, lda, beta, B, ldb, C, ldc);
}
cublasStatus_t cublasDgeam(cublasHandle_t, int ta, int tb, int m, int n, const double* alpha, const double* A, int lda,
                           const double* beta, const double* B, int ldb, double* C, int ldc) {
  return geam(ta, tb, m, n, alpha, A, lda, beta, B, ldb, C, ldc);
}
cublasStatus_t cublasSdgmm(cublasHandle_t, int mode, int m, int n, const float* A, int lda, const float* x, int incx,
                           float* C, int ldc) {
  return dgmm(mode, m, n, A, lda, x, incx, C, ldc);
}
cublasStatus_t cublasDdgmm(cublasHandle_t, int mode, int m, int n, const double* A, int lda, const double* x, int incx,
                           double* C, int ldc) {
  return dgmm(mode, m, n, A, lda, x, incx, C, ldc);
}
cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t, int ta, int tb, int m, int n, int k, const float* alpha,
                                         const float* A, int lda, long long sA, const float* B, int ldb, long long sB,
                                         const float* beta, float* C, int ldc, long long sC, int batch) {
  for (int b = 0; b < batch; ++b) {
    const int s = gemm(ta, tb, m, n, k, alpha, A + b * sA, lda, B + b * sB, ldb, beta, C + b * sC, ldc);
    if (s) return s;
  }
  return 0;
}
cublasStatus_t cublasStrsmBatched(cublasHandle_t, int side, int uplo, int trans, int diag, int m, int n,
                                  const float* alpha, const float* const A[], int lda, float* const B[], int ldb,
                                  int batch) {
  if (side != CUBLAS_SIDE_LEFT || uplo != CUBLAS_FILL_MODE_LOWER || trans != CUBLAS_OP_N ||
      diag != CUBLAS_DIAG_NON_UNIT)
    return 15;  // not emulated
  for (int b = 0; b < batch; ++b)
    for (int j = 0; j < n; ++j) {  // forward substitution, reading the lower triangle of A only
      float* x = B[b] + (size_t)j * ldb;
      for (int i = 0; i < m; ++i) {
        double v = (double)*alpha * x[i];
        for (int p = 0; p < i; ++p) v -= (double)at(A[b], lda, i, p) * x[p];
        x[i] = (float)(v / at(A[b], lda, i, i));
      }
    }
  return 0;
}

// ---- cuSOLVER -------------------------------------------------------------------------------
cusolverStatus_t cusolverGetVersion(int* v) {
  *v = 12000;
  return 0;
}
cusolverStatus_t cusolverDnCreate(cusolverDnHandle_t* h) {
  *h = (void*)0x5;
  return 0;
}
cusolverStatus_t cusolverDnSetStream(cusolverDnHandle_t, cudaStream_t) { return 0; }
cusolverStatus_t cusolverDnSpotrf_bufferSize(cusolverDnHandle_t, int, int n, float*, int, int* lw) {
  *lw = n;
  return 0;
}
cusolverStatus_t cusolverDnDpotrf_bufferSize(cusolverDnHandle_t, int, int n, double*, int, int* lw) {
  *lw = n;
  return 0;
}
cusolverStatus_t cusolverDnSpotrf(cusolverDnHandle_t, int uplo, int n, float* A, int lda, float* work, int lwork,
                                  int* info) {
  if (!work || lwork < n) return 3;
  *info = potrf(uplo, n, A, lda);
  return 0;
}
cusolverStatus_t cusolverDnDpotrf(cusolverDnHandle_t, int uplo, int n, double* A, int lda, double* work, int lwork,
                                  int* info) {
  if (!work || lwork < n) return 3;
  *info = potrf(uplo, n, A, lda);
  return 0;
}
cusolverStatus_t cusolverDnSpotrs(cusolverDnHandle_t, int uplo, int n, int nrhs, const float* A, int lda, float* B,
                                  int ldb, int* info) {
  *info = 0;
  return potrs(uplo, n, nrhs, A, lda, B, ldb);
}
cusolverStatus_t cusolverDnDpotrs(cusolverDnHandle_t, int uplo, int n, int nrhs, const double* A, int lda, double* B,
                                  int ldb, int* info) {
  *info = 0;
  return potrs(uplo, n, nrhs, A, lda, B, ldb);
}
cusolverStatus_t cusolverDnSsyevd_bufferSize(cusolverDnHandle_t, int, int, int n, const float*, int, const float*,
                                             int* lw) {
  *lw = 2 * n;
  return 0;
}
cusolverStatus_t cusolverDnDsyevd_bufferSize(cusolverDnHandle_t, int, int, int n, const double*, int, const double*,
                                             int* lw) {
  *lw = 2 * n;
  return 0;
}
cusolverStatus_t cusolverDnSsyevd(cusolverDnHandle_t, int jobz, int uplo, int n, float* A, int lda, float* W,
                                  float* work, int lwork, int* info) {
  return syevd(jobz, uplo, n, A, lda, W, work, lwork, info);
}
cusolverStatus_t cusolverDnDsyevd(cusolverDnHandle_t, int jobz, int uplo, int n, double* A, int lda, double* W,
                                  double* work, int lwork, int* info) {
  return syevd(jobz, uplo, n, A, lda, W, work, lwork, info);
}
cusolverStatus_t cusolverDnSpotrfBatched(cusolverDnHandle_t, int uplo, int n, float* Aarray[], int lda, int* info,
                                         int batch) {
  for (int b = 0; b < batch; ++b) info[b] = potrf(uplo, n, Aarray[b], lda);
  return 0;
}
}  // extern "C"
