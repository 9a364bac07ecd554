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
import { pool2dBackward, pool2dForward } from '../linalg';
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
  const shape = [c, h, w, k] as const;
  return {
    outShape: [c, ho, wo],
    numParameters: 0,
    init() {},
    // the loops natively (native/cpu/pool2d.cc: 13 ms of a 65 ms step of bench:cnn's CNN in JavaScript)
    forward(_theta, x, n) {
      return { y: pool2dForward(mode, x, n, shape), cache: null };
    },
    // windows do not overlap (stride = size): each seed lands on its own input(s); the max's choice is found
    // again from the layer's input
    backward(_theta, x, _y, _cache, dy, n, r, needInput) {
      if (!needInput) return { dx: null, grads: null };
      return { dx: pool2dBackward(mode, x, dy, n, r, shape), grads: null };
    },
  };
}
