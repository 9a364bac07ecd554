// A 2-D convolution layer's data movements (lib/nn/conv2d.ts), for inputs [C, H, W], kernel kh × kw, stride s,
// zero padding pad, output Ho × Wo (Ho = ⌊(H + 2·pad − kh)/s⌋ + 1):
//
//   im2col:       cols[(i·Ho·Wo + p), (c·kh + u)·kw + v] = x[i, c, s·p_y + u − pad, s·p_x + v − pad]  (0 outside):
//                 every sample's patches, which the forward pass and the gradients below multiply;
//   input seeds:  for each seed row q with dy_q [out, Ho·Wo] at the layer's output, the seeds at its input
//                 dx_q = col2im(Wᵀ dy_q), col2im the adjoint of im2col:
//                 dx_q[c, y, x] = Σ_(u,v,p: s·p_y + u − pad = y, s·p_x + v − pad = x) (Wᵀ dy_q)[(c·kh + u)·kw + v, p];
//   forward:      y_i[o, p] = b[o] + Σ_k W[o, k] · cols_i[p, k]   (y_i = b + W · cols_iᵀ, [out, Ho·Wo]: one product
//                 a sample, written in the layer's output layout, no [N·Ho·Wo, out] intermediate to transpose);
//   gradients:    G_q = [ Σ_p dy_q[o, p] · cols_i[p, k]  (∂/∂W, [out, C·kh·kw]),  Σ_p dy_q[o, p]  (∂/∂b) ]
//                 for each seed row q = (i, m) of sample i: the per-row gradients [N·r, out·C·kh·kw + out],
//                 one product dy_i [r·out, Ho·Wo] · cols_i a sample, the bias sums in float64 (8 partial sums).
//
// Each pixel's contributions are added in the order v, then u (the JavaScript loop's order before this).
// float32 products run on natgrad's gemm_nt, single-threaded inside the caller's block of samples; float64
// ones are plain loops summing over the inner index in order.
// Native because these loops were most of a small CNN's step in V8 (bench:cnn: 37 of 80 ms at batch 64,
// r = 9), and fused because Wᵀ dy for all N·r rows at once was a 20 MB intermediate (5 M floats for
// conv2d(8, 16, 3) on 13 × 13) and a transposed copy of dy. Work is split by fixed blocks of samples (rows),
// each writing only its own, so the bits do not depend on the thread count.
#include <algorithm>
#include <cstdint>

#include <vector>

#include "clones.h"
#include "cpu_kernels.h"
#include "gemm_nt.h"
#include "parallel.h"

namespace natgrad::cpu {

namespace {

// The output columns px whose input column s·px + v − pad lies inside the image: [lo, hi).
void inside(const ConvGeometry& g, int64_t v, int64_t* lo, int64_t* hi) {
  *lo = std::max<int64_t>(0, (g.pad - v + g.stride - 1) / g.stride);
  if (g.pad - v <= 0) *lo = 0;
  *hi = std::min<int64_t>(g.wo, (g.w - 1 + g.pad - v) / g.stride + 1);
  if (g.w - 1 + g.pad - v < 0) *hi = 0;
}

template <class T>
void im2col_t(const T* x, int64_t n, const ConvGeometry& g, T* cols) {
  const int64_t hw = g.ho * g.wo, ckk = g.c * g.kh * g.kw, image = g.c * g.h * g.w;
  parallel_blocks(n, hw * ckk, [&](int64_t i0, int64_t i1) {
    std::fill(cols + i0 * hw * ckk, cols + i1 * hw * ckk, T(0));
    for (int64_t i = i0; i < i1; ++i) {
      const T* xi = x + i * image;
      for (int64_t py = 0; py < g.ho; ++py)
        for (int64_t c = 0; c < g.c; ++c)
          for (int64_t u = 0; u < g.kh; ++u) {
            const int64_t yy = py * g.stride + u - g.pad;
            if (yy < 0 || yy >= g.h) continue;
            for (int64_t v = 0; v < g.kw; ++v) {
              int64_t lo, hi;
              inside(g, v, &lo, &hi);
              const T* src = xi + (c * g.h + yy) * g.w + v - g.pad;
              T* dst = cols + (i * hw + py * g.wo) * ckk + (c * g.kh + u) * g.kw + v;
              for (int64_t px = lo; px < hi; ++px) dst[px * ckk] = src[px * g.stride];
            }
          }
    }
  });
}

// dc [ckk, hw] = Wᵀ · dy_q for one seed row q: dy_q [cout, hw], W [cout, ckk]. float32: natgrad's gemm_nt
// (single-threaded at this size, inside the caller's task); float64: the sum over o in order.
void patch_seeds(const float* w, const float* dy, int64_t cout, int64_t ckk, int64_t hw, float* dc) {
  // column-major C [hw, ckk] (= row-major dc) = A·Bᵀ, A(p, o) = dy[o·hw + p], B(k, o) = w[o·ckk + k]
  gemm_nt(hw, ckk, cout, 1.0f, View{dy, 1, hw}, View{w, 1, ckk}, 0.0f, dc, hw);
}
void patch_seeds(const double* w, const double* dy, int64_t cout, int64_t ckk, int64_t hw, double* dc) {
  std::fill(dc, dc + ckk * hw, 0.0);
  for (int64_t o = 0; o < cout; ++o)
    for (int64_t k = 0; k < ckk; ++k) {
      const double wk = w[o * ckk + k];
      const double* d = dy + o * hw;
      double* c = dc + k * hw;
      for (int64_t p = 0; p < hw; ++p) c[p] += wk * d[p];
    }
}

// dx_q += the patches' seeds dc [ckk, hw] scattered onto the image (im2col's adjoint for one row), adding each
// pixel's contributions in the order v, then u.
template <class T>
void scatter_patches(const T* dc, const ConvGeometry& g, T* dx) {
  const int64_t hw = g.ho * g.wo;
  for (int64_t v = 0; v < g.kw; ++v) {
    int64_t lo, hi;
    inside(g, v, &lo, &hi);
    if (lo >= hi) continue;
    for (int64_t c = 0; c < g.c; ++c)
      for (int64_t u = 0; u < g.kh; ++u) {
        const T* d = dc + ((c * g.kh + u) * g.kw + v) * hw;
        for (int64_t py = 0; py < g.ho; ++py) {
          const int64_t yy = py * g.stride + u - g.pad;
          if (yy < 0 || yy >= g.h) continue;
          T* out = dx + (c * g.h + yy) * g.w + v - g.pad;
          const T* in = d + py * g.wo;
          for (int64_t px = lo; px < hi; ++px) out[px * g.stride] += in[px];
        }
      }
  }
}

template <class T>
void input_seeds_t(const T* w, const T* dy, int64_t rows, int64_t cout, const ConvGeometry& g, T* dx) {
  const int64_t hw = g.ho * g.wo, ckk = g.c * g.kh * g.kw, image = g.c * g.h * g.w;
  parallel_blocks(rows, image + hw * ckk, [&](int64_t q0, int64_t q1) {
    std::vector<T> dc((size_t)(ckk * hw));  // one row's patch seeds, reused along the block
    std::fill(dx + q0 * image, dx + q1 * image, T(0));
    for (int64_t q = q0; q < q1; ++q) {
      patch_seeds(w, dy + q * cout * hw, cout, ckk, hw, dc.data());
      scatter_patches(dc.data(), g, dx + q * image);
    }
  });
}

// C (column-major [m, n], ldc) = β·C + A·Bᵀ for the strided views of gemm_nt.h, A [m, k], B [n, k]: float32 by
// gemm_nt, float64 by the dot products summed in order.
void product(int64_t m, int64_t n, int64_t k, View A, View B, float beta, float* C, int64_t ldc) {
  gemm_nt(m, n, k, 1.0f, A, B, beta, C, ldc);
}
struct View64 {
  const double* p;
  int64_t rs, cs;
};
void product(int64_t m, int64_t n, int64_t k, View64 A, View64 B, double beta, double* C, int64_t ldc) {
  for (int64_t j = 0; j < n; ++j)
    for (int64_t i = 0; i < m; ++i) {
      double sum = 0;
      for (int64_t t = 0; t < k; ++t) sum += A.p[i * A.rs + t * A.cs] * B.p[j * B.rs + t * B.cs];
      C[i + j * ldc] = beta == 0 ? sum : C[i + j * ldc] + sum;
    }
}
View view(const float* p, int64_t rs, int64_t cs) { return View{p, rs, cs}; }
View64 view(const double* p, int64_t rs, int64_t cs) { return View64{p, rs, cs}; }

template <class T>
void forward_t(const T* cols, const T* theta, int64_t n, int64_t cout, const ConvGeometry& g, T* y) {
  const int64_t hw = g.ho * g.wo, ckk = g.c * g.kh * g.kw;
  const T* b = theta + cout * ckk;
  parallel_blocks(n, hw * (ckk + cout), [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      T* yi = y + i * cout * hw;
      for (int64_t o = 0; o < cout; ++o) std::fill(yi + o * hw, yi + (o + 1) * hw, b[o]);
      // column-major C [hw, cout] = row-major y_i [cout, hw]: C(p, o) += Σ_k cols_i[p, k] · W[o, k]
      product(hw, cout, ckk, view(cols + i * hw * ckk, ckk, 1), view(theta, ckk, 1), 1, yi, hw);
    }
  });
}

// Σ_p x[p] in float64, in 8 partial sums (element p into sum p mod 8) added pairwise at the end: a fixed order
// the compiler vectorises (one running sum would be a chain of dependent adds, as in rows.cc's rows_dot).
template <class T>
NATGRAD_CLONES_AVX512_HASWELL double row_sum(const T* __restrict x, int64_t len) {
  constexpr int64_t V = 8;
  double s[V] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t p = 0;
  for (; p + V <= len; p += V)
    for (int64_t j = 0; j < V; ++j) s[j] += (double)x[p + j];
  for (int64_t j = 0; p < len; ++p, ++j) s[j] += (double)x[p];
  return ((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7]));
}

template <class T>
void gradients_t(const T* dy, const T* cols, int64_t n, int64_t r, int64_t cout, const ConvGeometry& g, T* grads) {
  const int64_t hw = g.ho * g.wo, ckk = g.c * g.kh * g.kw, nw = cout * ckk, P = nw + cout, rows = r * cout;
  parallel_blocks(n, r * (cout * hw + P), [&](int64_t i0, int64_t i1) {
    // one product a sample, its r·cout seed rows at once (the long side on gemm_nt's 32-row A panels):
    // column-major C [r·cout, ckk]: C(t, k) = Σ_p dy_i[t, p] · cols_i[p, k], then each row's [cout, ckk] copied out
    std::vector<T> c((size_t)(rows * ckk));
    for (int64_t i = i0; i < i1; ++i) {
      const T* di = dy + i * rows * hw;  // dy_i [r·cout, hw]
      product(rows, ckk, hw, view(di, hw, 1), view(cols + i * hw * ckk, 1, ckk), 0, c.data(), rows);
      for (int64_t m = 0; m < r; ++m) {
        T* gq = grads + (i * r + m) * P;
        for (int64_t o = 0; o < cout; ++o) {
          const int64_t t = m * cout + o;
          for (int64_t k = 0; k < ckk; ++k) gq[o * ckk + k] = c[t + k * rows];
          gq[nw + o] = (T)row_sum(di + t * hw, hw);
        }
      }
    }
  });
}

}  // namespace

void conv2d_forward(const float* cols, const float* theta, int64_t n, int64_t cout, const ConvGeometry& g, float* y) {
  forward_t(cols, theta, n, cout, g, y);
}
void conv2d_forward(const double* cols, const double* theta, int64_t n, int64_t cout, const ConvGeometry& g,
                    double* y) {
  forward_t(cols, theta, n, cout, g, y);
}
void conv2d_gradients(const float* dy, const float* cols, int64_t n, int64_t r, int64_t cout, const ConvGeometry& g,
                      float* grads) {
  gradients_t(dy, cols, n, r, cout, g, grads);
}
void conv2d_gradients(const double* dy, const double* cols, int64_t n, int64_t r, int64_t cout, const ConvGeometry& g,
                      double* grads) {
  gradients_t(dy, cols, n, r, cout, g, grads);
}

void im2col(const float* x, int64_t n, const ConvGeometry& g, float* cols) { im2col_t(x, n, g, cols); }
void im2col(const double* x, int64_t n, const ConvGeometry& g, double* cols) { im2col_t(x, n, g, cols); }
void conv2d_input_seeds(const float* w, const float* dy, int64_t rows, int64_t cout, const ConvGeometry& g, float* dx) {
  input_seeds_t(w, dy, rows, cout, g, dx);
}
void conv2d_input_seeds(const double* w, const double* dy, int64_t rows, int64_t cout, const ConvGeometry& g,
                        double* dx) {
  input_seeds_t(w, dy, rows, cout, g, dx);
}

}  // namespace natgrad::cpu
