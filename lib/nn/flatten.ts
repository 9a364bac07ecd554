// flatten(): [C, H, W] (any shape) → [C·H·W]. Row-major storage makes it the identity on the numbers:
// y = x, ∂(s·y)/∂x = s. No parameters. Needed before a linear layer, which takes flat inputs.
import type { BoundModule, ModuleLayer } from './module';
import { sizeOf } from './module';

/** flatten(): the per-sample shape becomes one axis of the same values. */
export function flatten(): ModuleLayer {
  return Object.freeze({
    kind: 'module' as const,
    name: 'flatten()',
    json: { type: 'flatten' },
    bind: (inShape: readonly number[]): BoundModule => ({
      outShape: [sizeOf(inShape)],
      numParameters: 0,
      init() {},
      forward: (_theta, x) => ({ y: x }),
      backward: (_theta, _x, _y, _cache, dy, _n, _r, needInput) => ({ dx: needInput ? dy : null, grads: null }),
    }),
  });
}
