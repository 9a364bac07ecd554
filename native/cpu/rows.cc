// The per-sample row contractions of the products with S (lib/optim/s_products.ts), for B [N·r, w]
// holding r rows per sample (row i·r + m):
//   rows_contract:  Bc[i, :] = Σ_m c[i·r + m] · B[i·r + m, :],   sum[:] = Σ_i Bc[i, :]
//                   (S c's first half: a layer's n_W = Bcᵀ A, n_b = sum)
//   rows_dot:       out[i·r + m] += B[i·r + m, :] · Z[i, :]
//                   (Sᵀv's last half: Z_i = V_W a_i + v_b)
// Both accumulate in float64 (c, sum and out are float64 whatever B's type); Bc is rounded once to B's
// type. Native because in JavaScript these N·r·w multiply-adds were a step's slowest loops after
// the matrix products (1.2 M of them per product for 784-256-256-10 at N = 256, r = 9), and a
// full-batch CG iteration's (N = 100,000).
//
// Work is split among natgrad's threads by fixed blocks of samples, whatever the thread count: each
// block's part of `sum` is its own float64 partial, and the partials are added in block order, so the
// bits do not depend on the thread count.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "clones.h"
#include "cpu_kernels.h"
#include "parallel.h"

namespace natgrad::cpu {

namespace {

constexpr int64_t kBlockElements = int64_t(1) << 15;  // ≥ 32k multiply-adds per block of samples
// From this many elements a pass is long enough (≳ 0.5 ms) to park OpenBLAS's spinning threads first
// (parallel.h): measured at N = 100,000 × 64 just after a threaded sgemm, rows_dot took 17 ms unparked,
// 5 ms alone. Shorter passes leave them be (the next sgemm would pay to start them again).
constexpr int64_t kParkElements = int64_t(1) << 20;

// Samples per block: a fixed function of the shape only (never of the thread count).
int64_t block_samples(int64_t N, int64_t r, int64_t w) {
  return std::max<int64_t>(1, std::min(N, kBlockElements / std::max<int64_t>(1, r * w)));
}

template <class T>
NATGRAD_CLONES_AVX512_HASWELL void contract_block(const T* B, const double* c, int64_t i0, int64_t i1, int64_t r,
                                                  int64_t w, double* acc, T* Bc, double* part) {
  for (int64_t o = 0; o < w; ++o) part[o] = 0;
  for (int64_t i = i0; i < i1; ++i) {
    for (int64_t o = 0; o < w; ++o) acc[o] = 0;
    for (int64_t m = 0; m < r; ++m) {
      const double cm = c[i * r + m];
      if (cm == 0) continue;
      const T* __restrict row = B + (i * r + m) * w;
      for (int64_t o = 0; o < w; ++o) acc[o] += cm * (double)row[o];
    }
    T* __restrict out = Bc + i * w;
    for (int64_t o = 0; o < w; ++o) {
      out[o] = (T)acc[o];
      part[o] += acc[o];
    }
  }
}

// Each row's dot product in 8 partial sums (element o into sum o mod 8), added pairwise at the end: a fixed
// order, so the bits do not depend on the thread count, and one the compiler vectorises (a single running sum
// is a chain of dependent adds: 4 cycles per element, measured 0.6–1.1 ms for 2304 × 256 against 0.1 here).
template <class T>
NATGRAD_CLONES_AVX512_HASWELL void dot_block(const T* B, const T* Z, int64_t i0, int64_t i1, int64_t r, int64_t w,
                                             double* out) {
  constexpr int64_t V = 8;
  for (int64_t i = i0; i < i1; ++i) {
    const T* __restrict z = Z + i * w;
    for (int64_t m = 0; m < r; ++m) {
      const T* __restrict row = B + (i * r + m) * w;
      double s[V] = {0, 0, 0, 0, 0, 0, 0, 0};
      int64_t o = 0;
      for (; o + V <= w; o += V)
        for (int64_t j = 0; j < V; ++j) s[j] += (double)row[o + j] * (double)z[o + j];
      for (int64_t j = 0; o < w; ++o, ++j) s[j] += (double)row[o] * (double)z[o];
      out[i * r + m] += ((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7]));
    }
  }
}

template <class T>
void contract(const T* B, const double* c, int64_t N, int64_t r, int64_t w, T* Bc, double* sum) {
  const int64_t per = block_samples(N, r, w), blocks = (N + per - 1) / per;
  std::vector<double> parts(blocks * w);
  if (N * r * w >= kParkElements) park_openblas_threads();
  const auto run = [&](int64_t b) {
    std::vector<double> acc(w);
    contract_block(B, c, b * per, std::min(N, (b + 1) * per), r, w, acc.data(), Bc, parts.data() + b * w);
  };
  if (blocks == 1)
    run(0);
  else
    parallel_for(blocks, run);
  for (int64_t o = 0; o < w; ++o) sum[o] = 0;
  for (int64_t b = 0; b < blocks; ++b)
    for (int64_t o = 0; o < w; ++o) sum[o] += parts[b * w + o];
}

template <class T>
void dot(const T* B, const T* Z, int64_t N, int64_t r, int64_t w, double* out) {
  const int64_t per = block_samples(N, r, w), blocks = (N + per - 1) / per;
  if (N * r * w >= kParkElements) park_openblas_threads();
  const auto run = [&](int64_t b) { dot_block(B, Z, b * per, std::min(N, (b + 1) * per), r, w, out); };
  if (blocks == 1)
    run(0);
  else
    parallel_for(blocks, run);
}

}  // namespace

void rows_contract(const float* B, const double* c, int64_t N, int64_t r, int64_t w, float* Bc, double* sum) {
  contract(B, c, N, r, w, Bc, sum);
}
void rows_contract(const double* B, const double* c, int64_t N, int64_t r, int64_t w, double* Bc, double* sum) {
  contract(B, c, N, r, w, Bc, sum);
}
void rows_dot(const float* B, const float* Z, int64_t N, int64_t r, int64_t w, double* out) { dot(B, Z, N, r, w, out); }
void rows_dot(const double* B, const double* Z, int64_t N, int64_t r, int64_t w, double* out) {
  dot(B, Z, N, r, w, out);
}

}  // namespace natgrad::cpu
