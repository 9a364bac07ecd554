// The elementwise pieces of natgrad's CUDA backend that cuBLAS/cuSOLVER do not
// cover. This file is NOT compiled into the addon: native/cuda/gen_ptx.sh turns
// it into PTX (nvcc -ptx -arch=compute_75), lowers the PTX ISA version so that
// drivers older than the nvcc that made it can JIT it, checks it with ptxas and
// embeds it in kernels_ptx.h, which is committed. The addon loads that PTX at
// run time with the driver API (cuModuleLoadDataEx); building natgrad needs
// neither nvcc nor CUDA headers.
//
// Conventions: matrices are column-major with leading dimension n (a row-major
// symmetric matrix is the same buffer). "Upper" means row ≤ column in that
// column-major view. Every kernel takes plain int / long long / float / double /
// pointer arguments (the host passes them through cuLaunchKernel's void*[]).

#define TILE 32
#define ROWS 8  // blockDim = (TILE, ROWS)

// K[n,n]: strictly-lower ← upperᵀ, so that K is exactly symmetric.
// grid (T, T), T = ⌈n/32⌉; block (32, 8). Block (x = J, y = I) writes tile (I, J)
// of the lower part (I ≥ J) from tile (J, I) of the upper part, through shared
// memory so that both the reads and the writes are coalesced.
extern "C" __global__ void ng_mirror_upper(float* K, int n) {
  __shared__ float t[TILE][TILE + 1];
  const int I = blockIdx.y, J = blockIdx.x;
  if (I < J) return;
  const int r0 = J * TILE, c0 = I * TILE;  // source tile: rows r0.., columns c0..
  for (int j = threadIdx.y; j < TILE; j += ROWS) {
    const int r = r0 + threadIdx.x, c = c0 + j;
    if (r < n && c < n) t[j][threadIdx.x] = K[(long long)c * n + r];
  }
  __syncthreads();
  // destination (R, C) = source (C, R): R = c0 + x, C = r0 + j
  for (int j = threadIdx.y; j < TILE; j += ROWS) {
    const int R = c0 + threadIdx.x, C = r0 + j;
    if (R < n && C < n && R > C) K[(long long)C * n + R] = t[threadIdx.x][j];
  }
}

// layerGram's Hadamard step: K[nk,nk] += H with
//   H[r,c] = BB[min,max] · (AA[s(min), s(max)] + 1),  s(i) = i / k,
// reading only the upper triangles of BB [nk,nk] and AA [N,N] (as the CPU
// kernel does) and adding H to both triangles of K (one rounded addition per
// element, h = bb·(aa + 1) as on the CPU). grid (T, T), block (32, 8): block
// (x = J, y = I) with I ≤ J computes the upper tile (I, J) of H into shared
// memory, adds it to K's tile (I, J) and its transpose to K's tile (J, I).
extern "C" __global__ void ng_layer_hadamard(float* K, const float* BB, const float* AA, int nk, int k, int N) {
  __shared__ float h[TILE][TILE + 1];
  const int I = blockIdx.y, J = blockIdx.x;
  if (I > J) return;
  const int r0 = I * TILE, c0 = J * TILE;
  for (int j = threadIdx.y; j < TILE; j += ROWS) {
    const int r = r0 + threadIdx.x, c = c0 + j;
    float v = 0.0f;
    if (r < nk && c < nk && r <= c) {
      const int s = r / k, t = c / k;  // s ≤ t
      v = BB[(long long)c * nk + r] * (AA[(long long)t * N + s] + 1.0f);
    }
    h[j][threadIdx.x] = v;  // h[c - c0][r - r0]
  }
  __syncthreads();
  for (int j = threadIdx.y; j < TILE; j += ROWS) {  // K[r,c] += H[r,c], r ≤ c
    const int r = r0 + threadIdx.x, c = c0 + j;
    if (r < nk && c < nk && r <= c) K[(long long)c * nk + r] += h[j][threadIdx.x];
  }
  for (int j = threadIdx.y; j < TILE; j += ROWS) {  // K[R,C] += H[C,R], C < R
    const int R = c0 + threadIdx.x, C = r0 + j;
    if (R < nk && C < nk && C < R) K[(long long)C * nk + R] += h[threadIdx.x][j];
  }
}

// A_b[i,i] += v for i < n, b < batch; A_b = A + b·stride, leading dimension ld.
extern "C" __global__ void ng_add_diagonal_f32(float* A, int n, int ld, long long stride, int batch, float v) {
  const long long total = (long long)n * batch;
  for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < total;
       e += (long long)gridDim.x * blockDim.x) {
    const long long b = e / n, i = e - b * n;
    A[b * stride + i * (ld + 1)] += v;
  }
}

extern "C" __global__ void ng_add_diagonal_f64(double* A, int n, int ld, long long stride, int batch, double v) {
  const long long total = (long long)n * batch;
  for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < total;
       e += (long long)gridDim.x * blockDim.x) {
    const long long b = e / n, i = e - b * n;
    A[b * stride + i * (ld + 1)] += v;
  }
}

// A_b [k,k] (b < batch, A_b = A + b·k²): strictly-lower ← upperᵀ, for the small
// matrices of batchedGramInverse.
extern "C" __global__ void ng_mirror_upper_batched(float* A, int k, int batch) {
  const long long kk = (long long)k * k, total = kk * batch;
  for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < total;
       e += (long long)gridDim.x * blockDim.x) {
    const long long b = e / kk, rem = e - b * kk;
    const int c = (int)(rem / k), r = (int)(rem - (long long)c * k);  // element (r, c) at A_b[c·k + r]
    if (r > c) A[e] = A[b * kk + (long long)r * k + c];
  }
}

extern "C" __global__ void ng_f32_to_f64(double* dst, const float* src, long long n) {
  for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < n; e += (long long)gridDim.x * blockDim.x)
    dst[e] = (double)src[e];
}

extern "C" __global__ void ng_f64_to_f32(float* dst, const double* src, long long n) {
  for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < n; e += (long long)gridDim.x * blockDim.x)
    dst[e] = (float)src[e];
}
