// The CUDA functions natgrad uses, declared by hand and resolved at run time with
// dlopen/dlsym, so that the addon builds without any CUDA header or library and
// loads on machines without them (issue #7).
//
// Every prototype below is transcribed from the official headers (cuda.h and
// cuda_runtime_api.h of CUDA 13.0, cublas_api.h of cuBLAS 13.0, cusolverDn.h of
// cuSOLVER 11.7 / CUDA 12.6); those prototypes have been unchanged since CUDA 11.
// Opaque handles are void*, C enums are int (both ABI-identical on the platforms
// natgrad builds for), and enum values are restated as constants with the header
// they come from. `_v2` names are the exported symbols behind the headers'
// #define cublasCreate cublasCreate_v2 etc.
//
// The table is an X-macro, one line per function: X(library, return type, name,
// (parameters)). test/cuda.test.ts reads these lines to build stub libraries.
#pragma once
#include <cstddef>
#include <string>

namespace natgrad::cuda {

using CUresult = int;          // cuda.h: enum cudaError_enum
using cudaError_t = int;       // driver_types.h: enum cudaError
using cublasStatus_t = int;    // cublas_api.h
using cusolverStatus_t = int;  // cusolver_common.h
using CUdevice = int;          // cuda.h: typedef int CUdevice_v1
using CUcontext = void*;
using CUmodule = void*;
using CUfunction = void*;
using cudaStream_t = void*;  // == CUstream
using cudaEvent_t = void*;
using cublasHandle_t = void*;
using cusolverDnHandle_t = void*;

// cuda.h
constexpr CUresult CUDA_SUCCESS = 0;
constexpr CUresult CUDA_ERROR_OUT_OF_MEMORY = 2;
constexpr CUresult CUDA_ERROR_NO_DEVICE = 100;
constexpr CUresult CUDA_ERROR_UNSUPPORTED_PTX_VERSION = 222;
constexpr int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75;
constexpr int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76;
constexpr int CU_JIT_ERROR_LOG_BUFFER = 5;             // CUjit_option
constexpr int CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES = 6;  // CUjit_option
// driver_types.h
constexpr cudaError_t cudaSuccess = 0;
constexpr cudaError_t cudaErrorMemoryAllocation = 2;
constexpr cudaError_t cudaErrorInsufficientDriver = 35;
constexpr cudaError_t cudaErrorNoDevice = 100;
constexpr int cudaMemcpyHostToDevice = 1;  // enum cudaMemcpyKind
constexpr int cudaMemcpyDeviceToHost = 2;
constexpr int cudaMemcpyDeviceToDevice = 3;
constexpr unsigned cudaStreamNonBlocking = 0x01;
// cublas_api.h
constexpr cublasStatus_t CUBLAS_STATUS_SUCCESS = 0;
constexpr cublasStatus_t CUBLAS_STATUS_ALLOC_FAILED = 3;
constexpr int CUBLAS_OP_N = 0;  // cublasOperation_t
constexpr int CUBLAS_OP_T = 1;
constexpr int CUBLAS_FILL_MODE_LOWER = 0;  // cublasFillMode_t
constexpr int CUBLAS_FILL_MODE_UPPER = 1;
constexpr int CUBLAS_SIDE_LEFT = 0;  // cublasSideMode_t
constexpr int CUBLAS_SIDE_RIGHT = 1;
constexpr int CUBLAS_DIAG_NON_UNIT = 0;        // cublasDiagType_t
constexpr int CUBLAS_DEFAULT_MATH = 0;         // cublasMath_t: no reduced-precision inputs for float32
constexpr int CUBLAS_TF32_TENSOR_OP_MATH = 3;  // cublasMath_t: float32 GEMMs may round inputs to TF32
// cusolver_common.h
constexpr cusolverStatus_t CUSOLVER_STATUS_SUCCESS = 0;
constexpr cusolverStatus_t CUSOLVER_STATUS_ALLOC_FAILED = 2;
constexpr int CUSOLVER_EIG_MODE_VECTOR = 1;  // cusolverEigMode_t

// clang-format off
#define NATGRAD_CUDA_FUNCTIONS(X) \
  X(driver, CUresult, cuInit, (unsigned int flags)) \
  X(driver, CUresult, cuDriverGetVersion, (int* driverVersion)) \
  X(driver, CUresult, cuDeviceGet, (CUdevice* device, int ordinal)) \
  X(driver, CUresult, cuDeviceGetName, (char* name, int len, CUdevice dev)) \
  X(driver, CUresult, cuDeviceTotalMem_v2, (size_t* bytes, CUdevice dev)) \
  X(driver, CUresult, cuDeviceGetAttribute, (int* pi, int attrib, CUdevice dev)) \
  X(driver, CUresult, cuDevicePrimaryCtxRetain, (CUcontext* pctx, CUdevice dev)) \
  X(driver, CUresult, cuCtxSetCurrent, (CUcontext ctx)) \
  X(driver, CUresult, cuModuleLoadDataEx, (CUmodule* module, const void* image, unsigned int numOptions, int* options, void** optionValues)) \
  X(driver, CUresult, cuModuleGetFunction, (CUfunction* hfunc, CUmodule hmod, const char* name)) \
  X(driver, CUresult, cuLaunchKernel, (CUfunction f, unsigned int gridDimX, unsigned int gridDimY, unsigned int gridDimZ, unsigned int blockDimX, unsigned int blockDimY, unsigned int blockDimZ, unsigned int sharedMemBytes, cudaStream_t hStream, void** kernelParams, void** extra)) \
  X(driver, CUresult, cuGetErrorName, (CUresult error, const char** pStr)) \
  X(driver, CUresult, cuGetErrorString, (CUresult error, const char** pStr)) \
  X(cudart, cudaError_t, cudaGetDeviceCount, (int* count)) \
  X(cudart, cudaError_t, cudaSetDevice, (int device)) \
  X(cudart, cudaError_t, cudaMalloc, (void** devPtr, size_t size)) \
  X(cudart, cudaError_t, cudaFree, (void* devPtr)) \
  X(cudart, cudaError_t, cudaMemcpyAsync, (void* dst, const void* src, size_t count, int kind, cudaStream_t stream)) \
  X(cudart, cudaError_t, cudaMemsetAsync, (void* devPtr, int value, size_t count, cudaStream_t stream)) \
  X(cudart, cudaError_t, cudaStreamCreateWithFlags, (cudaStream_t* pStream, unsigned int flags)) \
  X(cudart, cudaError_t, cudaStreamSynchronize, (cudaStream_t stream)) \
  X(cudart, cudaError_t, cudaMemGetInfo, (size_t* free, size_t* total)) \
  X(cudart, cudaError_t, cudaGetLastError, (void)) \
  X(cudart, const char*, cudaGetErrorName, (cudaError_t error)) \
  X(cudart, const char*, cudaGetErrorString, (cudaError_t error)) \
  X(cudart, cudaError_t, cudaRuntimeGetVersion, (int* runtimeVersion)) \
  X(cudart, cudaError_t, cudaDriverGetVersion, (int* driverVersion)) \
  X(cudart, cudaError_t, cudaEventCreate, (cudaEvent_t* event)) \
  X(cudart, cudaError_t, cudaEventRecord, (cudaEvent_t event, cudaStream_t stream)) \
  X(cudart, cudaError_t, cudaEventElapsedTime, (float* ms, cudaEvent_t start, cudaEvent_t end)) \
  X(cublas, cublasStatus_t, cublasCreate_v2, (cublasHandle_t* handle)) \
  X(cublas, cublasStatus_t, cublasGetVersion_v2, (cublasHandle_t handle, int* version)) \
  X(cublas, cublasStatus_t, cublasSetStream_v2, (cublasHandle_t handle, cudaStream_t streamId)) \
  X(cublas, cublasStatus_t, cublasSetMathMode, (cublasHandle_t handle, int mode)) \
  X(cublas, cublasStatus_t, cublasSgemm_v2, (cublasHandle_t handle, int transa, int transb, int m, int n, int k, const float* alpha, const float* A, int lda, const float* B, int ldb, const float* beta, float* C, int ldc)) \
  X(cublas, cublasStatus_t, cublasDgemm_v2, (cublasHandle_t handle, int transa, int transb, int m, int n, int k, const double* alpha, const double* A, int lda, const double* B, int ldb, const double* beta, double* C, int ldc)) \
  X(cublas, cublasStatus_t, cublasSgeam, (cublasHandle_t handle, int transa, int transb, int m, int n, const float* alpha, const float* A, int lda, const float* beta, const float* B, int ldb, float* C, int ldc)) \
  X(cublas, cublasStatus_t, cublasDgeam, (cublasHandle_t handle, int transa, int transb, int m, int n, const double* alpha, const double* A, int lda, const double* beta, const double* B, int ldb, double* C, int ldc)) \
  X(cublas, cublasStatus_t, cublasSdgmm, (cublasHandle_t handle, int mode, int m, int n, const float* A, int lda, const float* x, int incx, float* C, int ldc)) \
  X(cublas, cublasStatus_t, cublasDdgmm, (cublasHandle_t handle, int mode, int m, int n, const double* A, int lda, const double* x, int incx, double* C, int ldc)) \
  X(cublas, cublasStatus_t, cublasSgemmStridedBatched, (cublasHandle_t handle, int transa, int transb, int m, int n, int k, const float* alpha, const float* A, int lda, long long int strideA, const float* B, int ldb, long long int strideB, const float* beta, float* C, int ldc, long long int strideC, int batchCount)) \
  X(cublas, cublasStatus_t, cublasStrsmBatched, (cublasHandle_t handle, int side, int uplo, int trans, int diag, int m, int n, const float* alpha, const float* const A[], int lda, float* const B[], int ldb, int batchCount)) \
  X(cusolver, cusolverStatus_t, cusolverGetVersion, (int* version)) \
  X(cusolver, cusolverStatus_t, cusolverDnCreate, (cusolverDnHandle_t* handle)) \
  X(cusolver, cusolverStatus_t, cusolverDnSetStream, (cusolverDnHandle_t handle, cudaStream_t streamId)) \
  X(cusolver, cusolverStatus_t, cusolverDnSpotrf_bufferSize, (cusolverDnHandle_t handle, int uplo, int n, float* A, int lda, int* Lwork)) \
  X(cusolver, cusolverStatus_t, cusolverDnDpotrf_bufferSize, (cusolverDnHandle_t handle, int uplo, int n, double* A, int lda, int* Lwork)) \
  X(cusolver, cusolverStatus_t, cusolverDnSpotrf, (cusolverDnHandle_t handle, int uplo, int n, float* A, int lda, float* Workspace, int Lwork, int* devInfo)) \
  X(cusolver, cusolverStatus_t, cusolverDnDpotrf, (cusolverDnHandle_t handle, int uplo, int n, double* A, int lda, double* Workspace, int Lwork, int* devInfo)) \
  X(cusolver, cusolverStatus_t, cusolverDnSpotrs, (cusolverDnHandle_t handle, int uplo, int n, int nrhs, const float* A, int lda, float* B, int ldb, int* devInfo)) \
  X(cusolver, cusolverStatus_t, cusolverDnDpotrs, (cusolverDnHandle_t handle, int uplo, int n, int nrhs, const double* A, int lda, double* B, int ldb, int* devInfo)) \
  X(cusolver, cusolverStatus_t, cusolverDnSsyevd_bufferSize, (cusolverDnHandle_t handle, int jobz, int uplo, int n, const float* A, int lda, const float* W, int* lwork)) \
  X(cusolver, cusolverStatus_t, cusolverDnDsyevd_bufferSize, (cusolverDnHandle_t handle, int jobz, int uplo, int n, const double* A, int lda, const double* W, int* lwork)) \
  X(cusolver, cusolverStatus_t, cusolverDnSsyevd, (cusolverDnHandle_t handle, int jobz, int uplo, int n, float* A, int lda, float* W, float* work, int lwork, int* info)) \
  X(cusolver, cusolverStatus_t, cusolverDnDsyevd, (cusolverDnHandle_t handle, int jobz, int uplo, int n, double* A, int lda, double* W, double* work, int lwork, int* info)) \
  X(cusolver, cusolverStatus_t, cusolverDnSpotrfBatched, (cusolverDnHandle_t handle, int uplo, int n, float* Aarray[], int lda, int* infoArray, int batchSize))
// clang-format on

// The resolved table. Every pointer is non-null once load_api() succeeded.
struct Api {
#define NATGRAD_CUDA_MEMBER(lib, ret, name, params) ret(*name) params = nullptr;
  NATGRAD_CUDA_FUNCTIONS(NATGRAD_CUDA_MEMBER)
#undef NATGRAD_CUDA_MEMBER
  // Where each library was found (full paths, or the soname when the system loader found it).
  std::string driver_path, cudart_path, cublas_path, cusolver_path;
};

// Loads libcuda.so.1, libcudart, libcublas and libcusolver and resolves every
// symbol above; the result (success or failure) is computed once per process.
// Returns nullptr with `reason` saying precisely what is missing and where it
// was looked for. Libraries are never closed.
const Api* load_api(std::string* reason);

// The folders searched, in order (for messages and tests): NATGRAD_CUDA_PATH
// alone when it is set; otherwise CUDA_PATH, LD_LIBRARY_PATH, the Python
// nvidia-* wheels' folders and the usual install folders.
std::string describe_search_path();

}  // namespace natgrad::cuda
