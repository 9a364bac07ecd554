// Per-sample output Jacobians of a sequential model, without the P × N·k Jacobian.
//
// Seeds: one row s_(i,m) ∈ R^k per (sample i, seed m), R = N·r rows in all. Back-
// propagating the seeds gives, at every linear layer z = W a + b, the matrix
//   B [R, out],  row (i, m) = s_(i,m)ᵀ ∂η_i/∂z_i.
// With the layer inputs A [N, in] this is all the parameter Jacobian holds:
//   ∂(s_(i,m)ᵀ η_i)/∂W[o, c] = B[(i,m), o] · A[i, c],   ∂(s_(i,m)ᵀ η_i)/∂b[o] = B[(i,m), o].
// Identity seeds (r = k) give J; seeds L_iᵀ give S = J · blockdiag(L_i).
import { type ActivationLayer, activationBackward, linearBackward, linearForward } from './layers';
import type { Structure, Trace } from './structure';
import { gemmT, type Task } from '../task';
import { type Floats, zerosLike } from '../util/floats';

/**
 * B [N·r, out] for each linear layer (indexed like model.slots), from seeds [N·r, k].
 * `seeds` is consumed (scaled in place by activations after the last linear layer).
 * Memory: N·r·(Σ widths) floats. Cost: one gemm [N·r, out]·[out, in] per linear layer but the first.
 */
export function* outputJacobians(model: Structure, theta: Floats, trace: Trace, seeds: Floats, r: number): Task<Floats[]> {
  const { n, inputs } = trace;
  const rows = n * r;
  const bs = new Array<Floats>(model.slots.length);
  let b = seeds;
  let width = model.outDim;
  let s = model.slots.length - 1;
  for (let l = model.layers.length - 1; l >= 0 && s >= 0; l--) {
    const layer = model.layers[l];
    if (layer.kind === 'activation') {
      activationBackward(layer, inputs[l], b, n, r, width); // ∂/∂z = ∂/∂a ⊙ σ'(z)
    } else {
      bs[s] = b;
      if (s > 0) b = yield* linearBackward(layer, model.view(theta, model.slots[s]).w, b, rows); // ∂/∂a = ∂/∂z · W
      width = layer.inFeatures;
      s--;
    }
  }
  return bs;
}

/**
 * The parameter Jacobian of the seeded outputs, materialised: S [P, N·r],
 * S[p, (i, m)] = ∂(s_(i,m)ᵀ η_i)/∂θ[p]. P·N·r floats: for small models, tests and the dense reference path.
 * Samples i0 … i1 − 1 only (default all): the columns of one chunk, [P, (i1 − i0)·r].
 */
export function materialize(model: Structure, trace: Trace, bs: readonly Floats[], r: number, i0 = 0, i1 = trace.n): Floats {
  const { inputs } = trace;
  const cols = (i1 - i0) * r;
  const total = model.numParameters * cols;
  if (total > 0x7fffffff)
    throw new RangeError(
      `the dense Jacobian would have P × N·r = ${model.numParameters} × ${cols} = ${total} elements, beyond the 32-bit BLAS limit 2147483647`
    );
  const out = zerosLike(trace.eta, total);
  const bcol = zerosLike(trace.eta, cols);
  model.slots.forEach((slot, s) => {
    const { inFeatures: inF, outFeatures: outF } = slot.layer;
    const a = inputs[slot.index];
    const b = bs[s];
    for (let o = 0; o < outF; o++) {
      for (let q = 0; q < cols; q++) bcol[q] = b[(i0 * r + q) * outF + o]; // B[:, o] for samples i0 … i1 − 1
      // ∂/∂W[o, c] at column (i, m) = B[(i,m), o] · A[i, c]
      for (let c = 0; c < inF; c++) {
        const base = (slot.wOffset + o * inF + c) * cols;
        for (let i = i0; i < i1; i++) {
          const aic = a[i * inF + c];
          for (let m = 0; m < r; m++) out[base + (i - i0) * r + m] = aic * bcol[(i - i0) * r + m];
        }
      }
      // ∂/∂b[o] at column (i, m) = B[(i,m), o]
      out.set(bcol, (slot.bOffset + o) * cols);
    }
  });
  return out;
}

/**
 * out[P] = Σ_(i,m) c_(i,m) ∂(s_(i,m)ᵀ η_i)/∂θ = S c, layer by layer:
 *   B̃ [N, out],  B̃_i = Σ_m c_(i,m) B_(i,m);   W part = B̃ᵀ A,   b part = B̃ᵀ 1.
 * `c` is [N·r]. Cost: N·r·out per layer plus one gemm [out, N]·[N, in].
 */
export function* contract<T extends Floats>(model: Structure, trace: Trace, bs: readonly Floats[], c: ArrayLike<number>, r: number, out: T): Task<T> {
  const { n, inputs } = trace;
  for (let s = 0; s < model.slots.length; s++) {
    const slot = model.slots[s];
    const { inFeatures: inF, outFeatures: outF } = slot.layer;
    const bt = zerosLike(out, n * outF);
    const nb = new Float64Array(outF);
    contractRows(bs[s], c, n, r, outF, bt, nb);
    // n_W [out, in] = B̃ᵀ [out, N] · A [N, in]
    yield* gemmT(bt, inputs[slot.index], outF, inF, n, { transA: true, out: out.subarray(slot.wOffset, slot.wOffset + outF * inF) });
    // n_b [out] = B̃ᵀ 1
    for (let o = 0; o < outF; o++) out[slot.bOffset + o] = nb[o];
  }
  return out;
}

/**
 * bt [N, out]: B̃_i = Σ_m c_(i,m) B_(i,m) (accumulated in float64), and nb [out] = Σ_i B̃_i.
 * (A plain function, not part of the generator, so that V8 can optimise its loops on the first call.)
 */
function contractRows(b: Floats, c: ArrayLike<number>, n: number, r: number, outF: number, bt: Floats, nb: Float64Array): void {
  const acc = new Float64Array(outF);
  for (let i = 0; i < n; i++) {
    acc.fill(0);
    for (let m = 0; m < r; m++) {
      const cm = c[i * r + m];
      if (cm === 0) continue;
      const row = (i * r + m) * outF;
      for (let o = 0; o < outF; o++) acc[o] += cm * b[row + o];
    }
    for (let o = 0; o < outF; o++) {
      bt[i * outF + o] = acc[o];
      nb[o] += acc[o];
    }
  }
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
    } else if (dh) {
      activationTangent(layer, inputs[l], dh);
    }
  }
  return dh ?? zerosLike(trace.eta, n * model.outDim);
}

/** δa = σ'(z) ⊙ δz in place (z, δz [N, w]); a plain function, so that V8 optimises its loop on the first call. */
function activationTangent(layer: ActivationLayer, z: Floats, dz: Floats): void {
  const df = layer.df;
  for (let q = 0; q < dz.length; q++) dz[q] *= df(z[q]);
}
