// A residual block: y = x + f(x), f the chain of its layers (linear layers, activations, modules, other
// residual blocks), f's output shape equal to its input's. Backward, for seed rows s:
//
//   ∂(s·y)/∂θ_f = ∂(s·f(x))/∂θ_f   (f's own backward, layer by layer),   ∂(s·y)/∂x = s + ∂(s·f(x))/∂x.
//
// Inside a block every layer runs as a module (./module.ts). The block's rows are factored
// (FactoredRows): the concatenation of its layers' rows, each part kept in its own form — a linear
// layer's as its seeds and input (./linear_rows.ts: the top level's layer kernel), a factored module's
// as its own FactoredRows, another module's as its materialised G [N·r, P_l] — so its kernel block is
// the sum of theirs, and no linear layer's G [N·r, (in + 1)·out] is formed (memory O(N·r·width)).
// Parameters: the inner layers' in order (linear: W [out, in], then b).
import { gemm, gram, rowsContract, rowsDot } from '../linalg';
import { runSync } from '../task';
import { type Floats, zerosLike } from '../util/floats';
import { describe } from '../util/validate';
import { type ActivationLayer, activationBackward, activationForward, type Layer, type LinearLayer, linearForward } from './layers';
import { linearRows } from './linear_rows';
import type { BoundModule, FactoredRows, ModuleLayer } from './module';
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
    form: 'factored',
    // the block's scratch beyond its parts' own: the materialised G of its unfactored modules, and its factored modules' scratch
    workElements: (n, r) => steps.reduce((acc, s) => acc + (s.bound.form === 'factored' ? (s.bound.workElements?.(n, r) ?? 0) : n * r * s.size), 0),
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
      const parts: BlockPart[] = [];
      let g = dy;
      for (let k = steps.length - 1; k >= 0; k--) {
        const s = steps[k];
        const need = k > 0 || needInput;
        const out = s.bound.backward(theta.subarray(s.offset, s.offset + s.size), xs[k], xs[k + 1], caches[k], g, n, r, need);
        if (s.size > 0 && out.grads) parts.push({ offset: s.offset, size: s.size, rows: out.grads });
        if (need) g = out.dx as Floats;
      }
      const grads = p > 0 ? blockRows(parts, rows) : null;
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
    form: 'factored',
    init(theta, normal) {
      const std = gain / Math.sqrt(inF);
      for (let q = 0; q < nw; q++) theta[q] = std * normal();
      theta.fill(0, nw, nw + outF);
    },
    forward(theta, x, n) {
      return { y: runSync(linearForward(layer, theta.subarray(0, nw), theta.subarray(nw, nw + outF), x, n)) }; // the top level's z = W a + b
    },
    backward(theta, x, _y, _cache, dy, n, r, needInput) {
      const dx = needInput ? gemm(dy, theta.subarray(0, nw), n * r, inF, outF) : null; // s W
      return { dx, grads: linearRows(layer, dy, x, n, r) }; // (W̄, b̄) = (s aᵀ, s), factored
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

/** One parametric layer of a block: its parameters' place in the block's, and its rows (factored, or G [N·r, size]). */
interface BlockPart {
  offset: number;
  size: number;
  rows: FactoredRows | Floats;
}

/** The block's rows [N·r, P_block] as the concatenation of its parts' (each in its own form). */
function blockRows(parts: readonly BlockPart[], rows: number): FactoredRows {
  return {
    addGram(kernel) {
      for (const { size, rows: g } of parts) {
        if (isFactored(g)) g.addGram(kernel);
        else {
          const gg = gram(g, size, rows, { layout: 'MP' }); // G Gᵀ [N·r, N·r]
          for (let q = 0; q < kernel.length; q++) kernel[q] += gg[q];
        }
      }
    },
    contract(c, out) {
      for (const { offset, size, rows: g } of parts) {
        const o = out.subarray(offset, offset + size);
        if (isFactored(g)) g.contract(c, o);
        else rowsContract(g, c instanceof Float64Array ? c : Float64Array.from(c), 1, rows, new Float64Array(size), o); // Gᵀc
      }
    },
    addTimes(v, out) {
      for (const { offset, size, rows: g } of parts) {
        if (isFactored(g)) g.addTimes(v.subarray(offset, offset + size), out);
        else rowsDot(g, v.subarray(offset, offset + size), 1, rows, out); // G v
      }
    },
    scatter(out, offset, cols, q0, q1) {
      for (const { offset: at, size, rows: g } of parts) {
        if (isFactored(g)) g.scatter(out, offset + at, cols, q0, q1);
        else for (let q = q0; q < q1; q++) for (let k = 0; k < size; k++) out[(offset + at + k) * cols + (q - q0)] = g[q * size + k];
      }
    },
  };
}
