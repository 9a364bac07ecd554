// A residual block: y = x + f(x), f the chain of its layers (linear layers, activations, modules, other
// residual blocks), f's output shape equal to its input's. Backward, for seed rows s:
//
//   ∂(s·y)/∂θ_f = ∂(s·f(x))/∂θ_f   (f's own backward, layer by layer),   ∂(s·y)/∂x = s + ∂(s·f(x))/∂x.
//
// Inside a block every layer runs as a module (./module.ts): a linear layer's per-row gradients are
// materialised (W̄ = s aᵀ, b̄ = s), not factored as at the top level, so the block's kernel block is
// G G ᵀ of its [N·r, P_block] rows. Parameters: the inner layers' in order (linear: W [out, in], then b).
import { gemm } from '../linalg';
import { runSync } from '../task';
import { type Floats, zerosLike } from '../util/floats';
import { describe } from '../util/validate';
import { type ActivationLayer, activationBackward, activationForward, type Layer, type LinearLayer, linearForward } from './layers';
import type { BoundModule, ModuleLayer } from './module';
import { isFactored, sizeOf } from './module';

/** residual(layers): y = x + f(x), f = the layers in order; f must keep the shape of its input. */
export function residual(layers: readonly Layer[]): ModuleLayer {
  if (!Array.isArray(layers) || layers.length === 0) throw new TypeError(`residual: 'layers' must be a non-empty array of layers, got ${describe(layers)}`);
  layers.forEach((l, k) => {
    if (typeof l !== 'object' || l === null || (l.kind !== 'linear' && l.kind !== 'activation' && l.kind !== 'module'))
      throw new TypeError(`residual: 'layers[${k}]' is not a natgrad layer, got ${describe(l)}`);
  });
  const inner = layers.map((l) =>
    l.kind === 'linear' ? { type: 'linear', in: l.inFeatures, out: l.outFeatures } : l.kind === 'activation' ? { type: 'activation', name: l.name } : l.json
  );
  const name = `residual([${layers.map((l) => (l.kind === 'linear' ? `linear(${l.inFeatures}, ${l.outFeatures})` : l.kind === 'activation' ? l.name : l.name)).join(', ')}])`;
  return Object.freeze({
    kind: 'module' as const,
    name,
    // saveable when every inner layer is
    ...(inner.every((j) => j !== undefined) ? { json: { type: 'residual', layers: inner } } : {}),
    bind: (inShape: readonly number[]) => bindResidual(name, layers, inShape),
  });
}

function bindResidual(name: string, layers: readonly Layer[], inShape: readonly number[]): BoundModule {
  let shape = inShape.slice();
  let p = 0;
  const steps = layers.map((layer, k) => {
    let bound: BoundModule;
    if (layer.kind === 'linear') {
      if (shape.length !== 1 || shape[0] !== layer.inFeatures)
        throw new RangeError(`${name}: layers[${k}] is linear(${layer.inFeatures}, ${layer.outFeatures}) but its input has shape [${shape.join(', ')}]`);
      const next = layers[k + 1];
      bound = linearStep(layer, next?.kind === 'activation' ? next.gain : 1);
    } else if (layer.kind === 'activation') {
      bound = activationStep(layer, shape);
    } else {
      bound = layer.bind(shape);
    }
    const step = { bound, offset: p, size: bound.numParameters };
    p += step.size;
    shape = bound.outShape.slice();
    return step;
  });
  if (shape.length !== inShape.length || shape.some((v, i) => v !== inShape[i]))
    throw new RangeError(`${name}: f's output shape [${shape.join(', ')}] must equal its input's [${inShape.join(', ')}] (y = x + f(x))`);
  const size = sizeOf(inShape);
  return {
    outShape: inShape.slice(),
    numParameters: p,
    init(theta, normal) {
      for (const s of steps) s.bound.init(theta.subarray(s.offset, s.offset + s.size), normal);
    },
    forward(theta, x, n) {
      const xs: Floats[] = [x];
      const caches: unknown[] = [];
      let h = x;
      for (const s of steps) {
        const out = s.bound.forward(theta.subarray(s.offset, s.offset + s.size), h, n);
        caches.push(out.cache);
        h = out.y;
        xs.push(h);
      }
      const y = zerosLike(x, n * size);
      for (let q = 0; q < y.length; q++) y[q] = x[q] + h[q];
      return { y, cache: { xs, caches } };
    },
    backward(theta, _x, _y, cache, dy, n, r, needInput) {
      const { xs, caches } = cache as { xs: Floats[]; caches: unknown[] };
      const rows = n * r;
      const grads = p > 0 ? zerosLike(dy, rows * p) : null;
      let g = dy;
      for (let k = steps.length - 1; k >= 0; k--) {
        const s = steps[k];
        const need = k > 0 || needInput;
        const out = s.bound.backward(theta.subarray(s.offset, s.offset + s.size), xs[k], xs[k + 1], caches[k], g, n, r, need);
        const gs = out.grads;
        if (grads && gs && isFactored(gs)) {
          // factored rows (embedding, a factored conv2d): written out as the block's [N·r, P_block] rows
          const t = zerosLike(dy, s.size * rows);
          gs.scatter(t, 0, rows, 0, rows);
          for (let k2 = 0; k2 < s.size; k2++) for (let q = 0; q < rows; q++) grads[q * p + s.offset + k2] = t[k2 * rows + q];
        } else if (grads && gs) {
          const g2 = gs as Floats;
          for (let q = 0; q < rows; q++) grads.set(g2.subarray(q * s.size, (q + 1) * s.size), q * p + s.offset);
        }
        if (need) g = out.dx as Floats;
      }
      if (!needInput) return { dx: null, grads };
      const dx = zerosLike(dy, rows * size);
      for (let q = 0; q < dx.length; q++) dx[q] = dy[q] + g[q]; // s + ∂(s·f)/∂x
      return { dx, grads };
    },
  };
}

/** A linear layer inside a block: z = W a + b; per row W̄ = s aᵢᵀ, b̄ = s; ∂/∂a = s W. Initialised as at the top level (N(0, gain²/in), b = 0). */
function linearStep(layer: LinearLayer, gain: number): BoundModule {
  const { inFeatures: inF, outFeatures: outF } = layer;
  const nw = inF * outF;
  return {
    outShape: [outF],
    numParameters: nw + outF,
    init(theta, normal) {
      const std = gain / Math.sqrt(inF);
      for (let q = 0; q < nw; q++) theta[q] = std * normal();
      theta.fill(0, nw, nw + outF);
    },
    forward(theta, x, n) {
      return { y: runSync(linearForward(layer, theta.subarray(0, nw), theta.subarray(nw, nw + outF), x, n)) }; // the top level's z = W a + b
    },
    backward(theta, x, _y, _cache, dy, n, r, needInput) {
      const rows = n * r;
      const P = nw + outF;
      const grads = zerosLike(dy, rows * P);
      for (let q = 0; q < rows; q++) {
        const a0 = Math.floor(q / r) * inF;
        for (let o = 0; o < outF; o++) {
          const s = dy[q * outF + o];
          grads[q * P + nw + o] = s;
          if (s === 0) continue;
          const w0 = q * P + o * inF;
          for (let c = 0; c < inF; c++) grads[w0 + c] = s * x[a0 + c];
        }
      }
      const dx = needInput ? gemm(dy, theta.subarray(0, nw), rows, inF, outF) : null; // s W
      return { dx, grads };
    },
  };
}

/** An activation inside a block: a = σ(z) elementwise; ∂/∂z = s ⊙ σ'(z). */
function activationStep(layer: ActivationLayer, shape: readonly number[]): BoundModule {
  const size = sizeOf(shape);
  return {
    outShape: shape.slice(),
    numParameters: 0,
    init() {},
    forward: (_theta, x) => ({ y: activationForward(layer, x) }),
    backward(_theta, x, _y, _cache, dy, n, r, needInput) {
      if (!needInput) return { dx: null, grads: null };
      const dx = dy.slice(); // the top level's in-place step, on a copy: dy belongs to the caller
      activationBackward(layer, x, dx, n, r, size);
      return { dx, grads: null };
    },
  };
}
