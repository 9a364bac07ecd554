// Per-sample output Jacobians of a sequential model, without the P × N·k Jacobian.
//
// Seeds: one row s_(i,m) ∈ R^k per (sample i, seed m), R = N·r rows in all. Back-
// propagating the seeds gives, at every linear layer z = W a + b, the matrix
//   B [R, out],  row (i, m) = s_(i,m)ᵀ ∂η_i/∂z_i.
// With the layer inputs A [N, in] this is all the parameter Jacobian holds:
//   ∂(s_(i,m)ᵀ η_i)/∂W[o, c] = B[(i,m), o] · A[i, c],   ∂(s_(i,m)ᵀ η_i)/∂b[o] = B[(i,m), o].
// Identity seeds (r = k) give J; seeds L_iᵀ give S = J · blockdiag(L_i).
// A module layer (./module.ts: conv2d, …) has no such factored form: its backward pass gives its block
// of S materialised, per row G [R, P_l], row (i, m) = ∂(s_(i,m)ᵀ η_i)/∂θ_l — or, for a layer whose rows
// are sparse (embedding), their own factored form (FactoredRows).
// The factors of a pass: one per linear slot (B), then one per module slot (G or FactoredRows; null
// without parameters).
import { type ActivationLayer, activationBackward, linearBackward, linearForward } from './layers';
import { isFactored, type LayerFactor, sizeOf } from './module';
import type { Structure, Trace } from './structure';
import { rowsContract } from '../linalg';
import { linearContract } from './linear_rows';
import { gemmT, type Task } from '../task';
import { type Floats, type Scratch, zerosLike } from '../util/floats';

/** The index of the first layer with parameters (the backward pass stops there). */
function firstParametric(model: Structure): number {
  let first = model.slots.length ? model.slots[0].index : model.layers.length;
  for (const m of model.modules) if (m.size > 0 && m.index < first) first = m.index;
  return first;
}

/**
 * The factors of every parametric layer from seeds [N·r, k]: B [N·r, out] per linear layer (indexed
 * like model.slots), then G [N·r, P_l] per module (index slots.length + j; null for one without
 * parameters). `seeds` is consumed (scaled in place by activations after the last linear layer).
 * Memory: N·r·(Σ widths + Σ module P_l) floats. Cost: one gemm [N·r, out]·[out, in] per linear layer
 * but the first, and each module's backward.
 */
export function* outputJacobians(model: Structure, theta: Floats, trace: Trace, seeds: Floats, r: number): Task<LayerFactor[]> {
  const { n, inputs } = trace;
  const rows = n * r;
  const nl = model.slots.length;
  const bs = new Array<LayerFactor>(nl + model.modules.length).fill(null);
  const first = firstParametric(model);
  let b = seeds;
  let width = model.outDim;
  let s = nl - 1;
  let j = model.modules.length - 1;
  for (let l = model.layers.length - 1; l >= first; l--) {
    const layer = model.layers[l];
    if (layer.kind === 'activation') {
      activationBackward(layer, inputs[l], b, n, r, width); // ∂/∂z = ∂/∂a ⊙ σ'(z)
    } else if (layer.kind === 'linear') {
      bs[s] = b;
      if (l > first) b = yield* linearBackward(layer, model.view(theta, model.slots[s]).w, b, rows); // ∂/∂a = ∂/∂z · W
      width = layer.inFeatures;
      s--;
    } else {
      const m = model.modules[j];
      const inSize = sizeOf(m.inShape);
      const { dx, grads } = m.bound.backward(theta.subarray(m.offset, m.offset + m.size), inputs[l], inputs[l + 1], trace.caches?.[l], b, n, r, l > first);
      if (m.size > 0)
        bs[nl + j] =
          m.bound.form === 'factored' && grads !== null && isFactored(grads)
            ? grads
            : checkLength(`layers[${l}] (${layer.name}).backward's grads`, grads as Floats | null, rows * m.size, `N·r × P_l = ${rows} × ${m.size}`);
      if (l > first) b = checkLength(`layers[${l}] (${layer.name}).backward's dx`, dx, rows * inSize, `N·r × inSize = ${rows} × ${inSize}`);
      width = inSize;
      j--;
    }
  }
  return bs;
}

/** `a` if it is an array of `length` numbers, else a TypeError naming it (a user's module returned the wrong thing). */
function checkLength(what: string, a: Floats | null, length: number, shape: string): Floats {
  if (!(a instanceof Float32Array || a instanceof Float64Array) || a.length !== length)
    throw new TypeError(
      `${what} must be a typed array of ${length} numbers (${shape}), got ${a === null ? 'null' : `${a?.constructor?.name} of ${a?.length}`}`
    );
  return a;
}

/**
 * The parameter Jacobian of the seeded outputs, materialised: S [P, N·r],
 * S[p, (i, m)] = ∂(s_(i,m)ᵀ η_i)/∂θ[p]. P·N·r floats: for small models, tests and the dense reference path.
 * Samples i0 … i1 − 1 only (default all): the columns of one chunk, [P, (i1 − i0)·r]. `out` (P·(i1 − i0)·r
 * floats of the trace's type), when given, is overwritten and returned: parameter-space assembly reuses one
 * chunk's buffer, which saves a fresh 64 MiB allocation's page faults per chunk.
 */
export function materialize(model: Structure, trace: Trace, bs: readonly LayerFactor[], r: number, i0 = 0, i1 = trace.n, out?: Floats): Floats {
  const { inputs } = trace;
  const nc = i1 - i0;
  const cols = nc * r;
  const total = model.numParameters * cols;
  if (total > 0x7fffffff)
    throw new RangeError(
      `the dense Jacobian would have P × N·r = ${model.numParameters} × ${cols} = ${total} elements, beyond the 32-bit BLAS limit 2147483647`
    );
  if (out && out.length !== total) throw new RangeError(`materialize: out has ${out.length} elements, S_c needs ${total}`);
  const s = out ?? zerosLike(trace.eta, total);
  model.slots.forEach((slot, k) => {
    const { inFeatures: inF, outFeatures: outF } = slot.layer;
    const a = inputs[slot.index];
    const b = bs[k] as Floats; // a linear slot's B
    // the chunk's A and B transposed, so that every row of S below is written from two contiguous rows:
    // at [c, i] = A[i0 + i, c], bt[o, q] = B[i0·r + q, o]
    const at = zerosLike(a, inF * nc);
    for (let i = 0; i < nc; i++) for (let c = 0; c < inF; c++) at[c * nc + i] = a[(i0 + i) * inF + c];
    const bt = zerosLike(b, outF * cols);
    for (let q = 0; q < cols; q++) for (let o = 0; o < outF; o++) bt[o * cols + q] = b[(i0 * r + q) * outF + o];
    for (let o = 0; o < outF; o++) {
      const bo = o * cols;
      // ∂/∂W[o, c] at column (i, m) = B[(i,m), o] · A[i, c]
      for (let c = 0; c < inF; c++) {
        const base = (slot.wOffset + o * inF + c) * cols;
        const ac = c * nc;
        if (r === 1) for (let i = 0; i < nc; i++) s[base + i] = at[ac + i] * bt[bo + i];
        else
          for (let i = 0; i < nc; i++) {
            const aic = at[ac + i];
            for (let m = 0; m < r; m++) s[base + i * r + m] = aic * bt[bo + i * r + m];
          }
      }
      // ∂/∂b[o] at column (i, m) = B[(i,m), o]
      s.set(bt.subarray(bo, bo + cols), (slot.bOffset + o) * cols);
    }
  });
  model.modules.forEach((m, j) => {
    const g = bs[model.slots.length + j];
    if (!g) return;
    if (isFactored(g)) {
      if (out) s.fill(0, m.offset * cols, (m.offset + m.size) * cols); // a factored scatter writes only its nonzeros
      return g.scatter(s, m.offset, cols, i0 * r, i1 * r);
    }
    // S[offset + p, (i, m)] = G[(i, m), p]: the rows of G become S's columns
    for (let q = 0; q < cols; q++) {
      const row = (i0 * r + q) * m.size;
      for (let p = 0; p < m.size; p++) s[(m.offset + p) * cols + q] = g[row + p];
    }
  });
  return s;
}

/**
 * out[P] = Σ_(i,m) c_(i,m) ∂(s_(i,m)ᵀ η_i)/∂θ = S c, layer by layer:
 *   B̃ [N, out],  B̃_i = Σ_m c_(i,m) B_(i,m);   W part = B̃ᵀ A,   b part = B̃ᵀ 1.
 * `c` is [N·r]. Cost: N·r·out per layer plus one gemm [out, N]·[N, in].
 */
export function* contract<T extends Floats>(
  model: Structure,
  trace: Trace,
  bs: readonly LayerFactor[],
  c: ArrayLike<number>,
  r: number,
  out: T,
  work?: Scratch
): Task<T> {
  const { n, inputs } = trace;
  const c64 = c instanceof Float64Array ? c : Float64Array.from(c);
  for (let s = 0; s < model.slots.length; s++) {
    const { layer, index, wOffset } = model.slots[s];
    // n_W = B̃ᵀA, n_b = B̃ᵀ1 with B̃_i = Σ_m c_(i,m) B_(i,m) (W then b: contiguous in θ)
    const size = (layer.inFeatures + 1) * layer.outFeatures;
    yield* linearContract(layer, bs[s] as T, inputs[index] as T, n, r, c64, out.subarray(wOffset, wOffset + size) as T, work, `contract ${s}`);
  }
  model.modules.forEach((m, j) => {
    const g = bs[model.slots.length + j];
    if (g && isFactored(g)) g.contract(c, out.subarray(m.offset, m.offset + m.size));
    else if (g) rowsContract(g as T, c64, 1, n * r, new Float64Array(m.size), out.subarray(m.offset, m.offset + m.size) as T); // Gᵀc = Σ_q c_q G[q, :]
  });
  return out;
}

/**
 * δη [N, k] = J v: the outputs' directional derivative along v [P] (laid out like θ) — the forward-mode
 * pass at the trace's point, per layer:
 *   linear:     δz = V_W a + v_b + W δa       (δa = 0 at the input x)
 *   activation: δa = σ'(z) ⊙ δz
 * Cost: two gemms [N, in]·[in, out] per linear layer (one for the first) and N·width per activation.
 */
export function* outputTangents(model: Structure, theta: Floats, trace: Trace, v: Floats): Task<Floats> {
  const { n, inputs } = trace;
  if (model.modules.length > 0) {
    const m = model.modules[0];
    throw new RangeError(
      `the matrix-free products (solver 'cg' or 'nystrom-pcg') are implemented for linear and activation layers; layers[${m.index}] is ${m.layer.name}: use solver 'cholesky' (the default for such models)`
    );
  }
  let dh: Floats | null = null; // δ of the current layer's input (null: zero)
  let s = 0;
  for (let l = 0; l < model.layers.length; l++) {
    const layer = model.layers[l];
    if (layer.kind === 'linear') {
      const slot = model.slots[s++];
      const dv = model.view(v, slot);
      const dz: Floats = yield* linearForward(layer, dv.w, dv.b, inputs[l], n); // V_W a + v_b
      if (dh) yield* gemmT(dh, model.view(theta, slot).w, n, layer.outFeatures, layer.inFeatures, { transB: true, beta: 1, out: dz }); // + W δa
      dh = dz;
    } else if (dh && layer.kind === 'activation') {
      activationTangent(layer, inputs[l], dh);
    }
  }
  return dh ?? zerosLike(trace.eta, n * model.outDim);
}

/** δa = σ'(z) ⊙ δz in place (z, δz [N, w]): the backward pass's kernel with one row per sample. */
function activationTangent(layer: ActivationLayer, z: Floats, dz: Floats): void {
  if (dz.length > 0) activationBackward(layer, z, dz, 1, 1, dz.length);
}
