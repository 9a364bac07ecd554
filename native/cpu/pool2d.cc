// The pooling layers of lib/nn/pool2d.ts on inputs [C, H, W] with k × k windows at stride k, output
// Ho × Wo = ⌊H/k⌋ × ⌊W/k⌋:
//
//   forward:   max: y[c, py, px] = the first largest of x[c, k·py + u, k·px + v] (u, then v)
//              avg: y[c, py, px] = (Σ_(u,v) x[c, k·py + u, k·px + v]) / k²   (summed in float64, u then v)
//   backward:  every seed row q = (i, m) of sample i: dx_q (overwritten) holds dy_q[c, py, px] at the input
//              the max chose (found again from x_i), or dy_q[c, py, px] / k² on every input of the window.
//
// The windows do not overlap, so each input receives at most one value: the results are those of the
// JavaScript loops they replace, bit for bit. Native because those loops were 13 ms of a 65 ms step of
// bench:cnn's CNN (batch 64, r = 9). Work is split by fixed blocks of samples, each writing only its own.
#include <algorithm>
#include <cstdint>

#include "cpu_kernels.h"
#include "parallel.h"

namespace natgrad::cpu {

namespace {

// The offset in x_i (c·H·W) of the input the max pool chooses for output (c, py, px): the first largest.
template <class T>
int64_t chosen(const T* xi, const PoolGeometry& g, int64_t c, int64_t py, int64_t px) {
  int64_t at = -1;
  T best = 0;
  for (int64_t u = 0; u < g.k; ++u)
    for (int64_t v = 0; v < g.k; ++v) {
      const int64_t q = (c * g.h + py * g.k + u) * g.w + px * g.k + v;
      if (at < 0 || xi[q] > best) {
        best = xi[q];
        at = q;
      }
    }
  return at;
}

template <class T>
void forward_t(bool max, const T* x, int64_t n, const PoolGeometry& g, T* y) {
  const int64_t in = g.c * g.h * g.w, out = g.c * g.ho * g.wo;
  const double scale = 1.0 / (double)(g.k * g.k);
  parallel_blocks(n, in, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const T* xi = x + i * in;
      T* yi = y + i * out;
      for (int64_t c = 0; c < g.c; ++c)
        for (int64_t py = 0; py < g.ho; ++py)
          for (int64_t px = 0; px < g.wo; ++px) {
            T* o = yi + (c * g.ho + py) * g.wo + px;
            if (max) {
              *o = xi[chosen(xi, g, c, py, px)];
              continue;
            }
            double sum = 0;
            for (int64_t u = 0; u < g.k; ++u)
              for (int64_t v = 0; v < g.k; ++v) sum += (double)xi[(c * g.h + py * g.k + u) * g.w + px * g.k + v];
            *o = (T)(sum * scale);
          }
    }
  });
}

template <class T>
void backward_t(bool max, const T* x, const T* dy, int64_t n, int64_t r, const PoolGeometry& g, T* dx) {
  const int64_t in = g.c * g.h * g.w, out = g.c * g.ho * g.wo;
  const double scale = 1.0 / (double)(g.k * g.k);
  parallel_blocks(n, r * in, [&](int64_t i0, int64_t i1) {
    std::fill(dx + i0 * r * in, dx + i1 * r * in, T(0));
    for (int64_t i = i0; i < i1; ++i) {
      const T* xi = x + i * in;
      for (int64_t c = 0; c < g.c; ++c)
        for (int64_t py = 0; py < g.ho; ++py)
          for (int64_t px = 0; px < g.wo; ++px) {
            const int64_t o = (c * g.ho + py) * g.wo + px;
            if (max) {
              const int64_t at = chosen(xi, g, c, py, px);
              for (int64_t q = i * r; q < (i + 1) * r; ++q) dx[q * in + at] = dy[q * out + o];
              continue;
            }
            for (int64_t q = i * r; q < (i + 1) * r; ++q) {
              const T d = dy[q * out + o];
              const T s = d == 0 ? T(0) : (T)((double)d * scale);  // +0 for a zero seed, as the JavaScript loop
              for (int64_t u = 0; u < g.k; ++u)
                for (int64_t v = 0; v < g.k; ++v) dx[q * in + (c * g.h + py * g.k + u) * g.w + px * g.k + v] = s;
            }
          }
    }
  });
}

}  // namespace

void pool2d_forward(bool max, const float* x, int64_t n, const PoolGeometry& g, float* y) {
  forward_t(max, x, n, g, y);
}
void pool2d_forward(bool max, const double* x, int64_t n, const PoolGeometry& g, double* y) {
  forward_t(max, x, n, g, y);
}
void pool2d_backward(bool max, const float* x, const float* dy, int64_t n, int64_t r, const PoolGeometry& g,
                     float* dx) {
  backward_t(max, x, dy, n, r, g, dx);
}
void pool2d_backward(bool max, const double* x, const double* dy, int64_t n, int64_t r, const PoolGeometry& g,
                     double* dx) {
  backward_t(max, x, dy, n, r, g, dx);
}

}  // namespace natgrad::cpu
