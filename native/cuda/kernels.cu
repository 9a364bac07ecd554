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

#include "../family.h"

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

// ---- the device-resident exact step (exact_step in cuda_backend.cc) ----------------------------
// Row-major [N, w] arrays are column-major [w, N] here: sample i's values are a contiguous column.

// a[e] = 1 for e < n (the ones vector of the bias gradients)
extern "C" __global__ void ng_fill_f32(float* a, long long n, float v) {
  for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < n; e += (long long)gridDim.x * blockDim.x)
    a[e] = v;
}

// Z [w, N] += b (each column): the linear layer's bias, z_i = W a_i + b.
extern "C" __global__ void ng_add_bias(float* Z, const float* b, int w, long long total) {
  for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < total;
       e += (long long)gridDim.x * blockDim.x)
    Z[e] += b[e % w];
}

// The activations of lib/nn/layers.ts, σ and σ' side by side (kind: 0 tanh, 1 relu, 2 sigmoid, 3 softplus,
// 4 gelu, the order of NATGRAD_ACTIVATIONS in cuda_backend.cc). Float32 arithmetic (the CPU evaluates them in
// float64 and rounds once: the two differ by a few units in the last place).
__device__ float ng_logistic(float z) {
  if (z >= 0.0f) return 1.0f / (1.0f + expf(-z));
  const float e = expf(z);
  return e / (1.0f + e);
}
#define NG_GELU_C 0.7978845608028654f  // √(2/π)
#define NG_GELU_A 0.044715f
__device__ float ng_act(int kind, float z) {
  switch (kind) {
    case 0: return tanhf(z);                                   // tanh
    case 1: return z > 0.0f ? z : 0.0f;                        // relu
    case 2: return ng_logistic(z);                             // sigmoid
    case 3: return fmaxf(z, 0.0f) + log1pf(expf(-fabsf(z)));  // softplus = max(z, 0) + log1p(e^{−|z|})
    default: return 0.5f * z * (1.0f + tanhf(NG_GELU_C * (z + NG_GELU_A * z * z * z)));  // gelu (tanh form)
  }
}
__device__ float ng_dact(int kind, float z) {
  switch (kind) {
    case 0: {
      const float t = tanhf(z);
      return 1.0f - t * t;  // tanh' = 1 − tanh²
    }
    case 1: return z > 0.0f ? 1.0f : 0.0f;                 // relu' (0 at the kink, as on the CPU)
    case 2: return ng_logistic(z) * ng_logistic(-z);       // σ' = σ(z)σ(−z)
    case 3: return ng_logistic(z);                         // softplus' = σ
    default: {                                             // gelu' = ½(1 + t) + ½ z (1 − t²) c (1 + 3a z²)
      const float t = tanhf(NG_GELU_C * (z + NG_GELU_A * z * z * z));
      return 0.5f * (1.0f + t) + 0.5f * z * (1.0f - t * t) * NG_GELU_C * (1.0f + 3.0f * NG_GELU_A * z * z);
    }
  }
}

// a = σ(z) elementwise (n elements)
extern "C" __global__ void ng_activation_forward(float* a, const float* z, long long n, int kind) {
  for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < n; e += (long long)gridDim.x * blockDim.x)
    a[e] = ng_act(kind, z[e]);
}

// B [w, N·r] (row (i, m) of the row-major seeds is column i·r + m): B[c, i·r + m] *= σ'(z[c, i]), z [w, N]
// (∂/∂z = ∂/∂a ⊙ σ'(z), every seed of sample i scaled by its derivatives).
extern "C" __global__ void ng_activation_backward(float* B, const float* z, int w, int r, long long total, int kind) {
  for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < total;
       e += (long long)gridDim.x * blockDim.x) {
    const long long col = e / w, c = e - col * w, i = col / r;
    B[e] *= ng_dact(kind, z[i * w + c]);
  }
}

// The output family at η [k, N], one thread per sample i (../family.h: the formulas of lib/distributions, in
// float64, shared with the CPU backend): loss[i] = ℓ(η_i, y_i); with seeds: the rows of L_iᵀ (F_i = L_i L_iᵀ)
// into seeds [k, N·r] at columns i·r + m, and u_i [r] with L_i u_i = g_i. y: [k, N] (gaussian) or [N];
// work [k, N] float64 holds p (categorical). bad: the lowest sample whose u is not finite.
extern "C" __global__ void ng_family(int family, const float* eta, const float* y, int N, int k, float* seeds,
                                     float* u, double* loss, double* work, int* bad) {
  const int r = family == 0 ? k : family == 1 ? k - 1 : 1;
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < N; i += (long long)gridDim.x * blockDim.x) {
    bool not_finite = false;
    loss[i] = ng_family_sample(family, eta + i * k, y + (family == 0 ? i * k : i), k, seeds ? seeds + i * r * k : nullptr,
                               seeds ? u + i * r : nullptr, work + i * k, &not_finite);
    if (not_finite) atomicMin(bad, (int)i);
  }
}

// out[0] = Σ_i v[i] (float64), or Σ_i a[i]·b[i] when v is null: one block of 256 threads.
extern "C" __global__ void ng_sum_f64(const double* v, const float* a, const float* b, long long n, double* out) {
  __shared__ double s[256];
  double acc = 0;
  for (long long i = threadIdx.x; i < n; i += blockDim.x) acc += v ? v[i] : (double)a[i] * (double)b[i];
  s[threadIdx.x] = acc;
  __syncthreads();
  for (int h = 128; h > 0; h >>= 1) {
    if ((int)threadIdx.x < h) s[threadIdx.x] += s[threadIdx.x + h];
    __syncthreads();
  }
  if (threadIdx.x == 0) out[0] = s[0];
}
