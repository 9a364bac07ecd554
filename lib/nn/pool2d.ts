// 2-D pooling on [C, H, W] over size × size windows with stride = size (no padding; a remainder row or
// column is dropped, as PyTorch's default):
//
//   max:  y[c, p] = x[c, a(p)],  a(p) = the window's first position of its largest value
//         ∂(s·y)/∂x[c, q] = Σ_{p: a(p) = q} s[c, p]          (the seed goes to the chosen input)
//   avg:  y[c, p] = (1/size²) Σ_{q ∈ window(p)} x[c, q]
//         ∂(s·y)/∂x[c, q] = s[c, p(q)] / size²
//
// No parameters. A max-pool is piecewise linear: at ties (equal values in a window) the first one
// wins, and the derivative is that of the piece chosen.
import { zerosLike } from '../util/floats';
import { checkCount } from '../util/validate';
import type { BoundModule, ModuleLayer } from './module';

/** maxPool2d(size): the largest value of each size × size window (stride = size). */
export function maxPool2d(size: number): ModuleLayer {
  return pool('max', checkCount('maxPool2d', 'size', size));
}

/** avgPool2d(size): the mean of each size × size window (stride = size). */
export function avgPool2d(size: number): ModuleLayer {
  return pool('avg', checkCount('avgPool2d', 'size', size));
}

function pool(mode: 'max' | 'avg', k: number): ModuleLayer {
  const name = `${mode}Pool2d(${k})`;
  return Object.freeze({
    kind: 'module' as const,
    name,
    json: { type: `${mode}Pool2d`, size: k },
    bind: (inShape: readonly number[]) => bindPool(name, mode, k, inShape),
  });
}

function bindPool(name: string, mode: 'max' | 'avg', k: number, inShape: readonly number[]): BoundModule {
  if (inShape.length !== 3) throw new RangeError(`${name} needs inputs of shape [C, H, W], got [${inShape.join(', ')}]`);
  const [c, h, w] = inShape;
  const ho = Math.floor(h / k);
  const wo = Math.floor(w / k);
  if (ho < 1 || wo < 1) throw new RangeError(`${name}: the window ${k}×${k} does not fit the input ${h}×${w}`);
  const inSize = c * h * w;
  const outSize = c * ho * wo;
  const scale = 1 / (k * k);
  return {
    outShape: [c, ho, wo],
    numParameters: 0,
    init() {},
    forward(_theta, x, n) {
      const y = zerosLike(x, n * outSize);
      const arg = mode === 'max' ? new Int32Array(n * outSize) : null; // the chosen input of each output
      for (let i = 0; i < n; i++)
        for (let ch = 0; ch < c; ch++)
          for (let py = 0; py < ho; py++)
            for (let px = 0; px < wo; px++) {
              const out = i * outSize + (ch * ho + py) * wo + px;
              let best = -Infinity;
              let at = -1;
              let sum = 0;
              for (let u = 0; u < k; u++)
                for (let v = 0; v < k; v++) {
                  const q = (ch * h + py * k + u) * w + px * k + v;
                  const val = x[i * inSize + q];
                  sum += val;
                  if (val > best || at < 0) {
                    best = val;
                    at = q;
                  }
                }
              y[out] = mode === 'max' ? best : sum * scale;
              if (arg) arg[out] = at;
            }
      return { y, cache: arg };
    },
    backward(_theta, _x, _y, cache, dy, n, r, needInput) {
      if (!needInput) return { dx: null, grads: null };
      const rows = n * r;
      const dx = zerosLike(dy, rows * inSize);
      const arg = cache as Int32Array | null;
      if (arg) {
        // windows do not overlap (stride = size): each output's seed lands on its own input, so one write per seed;
        // the chosen input looked up once per sample and output, for its r rows
        for (let i = 0; i < n; i++)
          for (let o = 0; o < outSize; o++) {
            const at = arg[i * outSize + o];
            for (let q = i * r; q < (i + 1) * r; q++) dx[q * inSize + at] = dy[q * outSize + o];
          }
        return { dx, grads: null };
      }
      for (let q = 0; q < rows; q++) {
        for (let o = 0; o < outSize; o++) {
          const s = dy[q * outSize + o];
          if (s === 0) continue;
          const ch = Math.floor(o / (ho * wo));
          const py = Math.floor((o % (ho * wo)) / wo);
          const px = o % wo;
          for (let u = 0; u < k; u++) for (let v = 0; v < k; v++) dx[q * inSize + (ch * h + py * k + u) * w + px * k + v] += s * scale;
        }
      }
      return { dx, grads: null };
    },
  };
}
