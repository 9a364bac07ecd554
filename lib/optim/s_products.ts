// The two products with S = J·blockdiag(L_i) [P, N·r] that every solve needs without forming S
// (docs/design.md §1): S c [P] (a direction from kernel coefficients) and Sᵀv [N·r] (a Jacobian-vector
// product). Each has two exact forms; which is cheaper depends on r, the rank of the output Fisher:
//
//   by layer (r = 1):  S c:  B̃_i = Σ_m c_(i,m) B_(i,m) per linear layer, then n_W = B̃ᵀA, n_b = B̃ᵀ1
//                      Sᵀv:  (Sᵀv)_(i,m) = Σ_layers B_(i,m) · (V_W a_i + v_b)
//                      N·r·width multiply-adds per layer on top of one gemm.
//   by seeds (r > 1):  S c = ∂/∂θ Σ_i w_iᵀη_i with w_i = Σ_m c_(i,m) s_(i,m): the r seeds of a sample
//                      combined first, then one backpropagation of N rows (not N·r)
//                      Sᵀv:  (Sᵀv)_(i,m) = s_(i,m)ᵀ (J_i v): one forward-mode pass of N rows
//                      (../nn/jacobian.ts, outputTangents), then N·r·k multiply-adds.
// Both are linear in c (v), so the forms agree up to float32 rounding. By seeds costs one more gemm per
// layer on N rows and saves the N·r·width multiply-adds of the by-layer form; at r = 9 (categorical,
// 10 classes) that is 1.2 M multiply-adds of 1.6 M for 784-256-256-10 at N = 256.
import { type Floats, type Scratch, toDtype, zerosLike } from '../util/floats';
import { contract, outputJacobians, outputTangents } from '../nn/jacobian';
import { isFactored, type LayerFactor } from '../nn/module';
import type { Sequential, Trace } from '../nn/sequential';
import { rowsDot } from '../linalg';
import { linearTimes } from '../nn/linear_rows';
import { gemmT, type Task } from '../task';

/** What the products read: the model at θ, the forward pass, the seeds s_(i,m) [N·r, k] (unconsumed) and their backpropagation. */
export interface SeededBatch {
  readonly model: Sequential;
  readonly theta: Floats;
  readonly trace: Trace;
  /** B per linear layer ([N·r, out]), then G per module ([N·r, P_l] or null): see outputJacobians. */
  readonly bs: readonly LayerFactor[];
  /** [N·r, k]: row (i, m) is column m of L_i. */
  readonly seeds: Floats;
  readonly r: number;
  /**
   * Sᵀ itself [M, P] row-major, for a system that has no layer factors (a residual loss: ./residual_step.ts);
   * the products are then gemms with it, and trace, bs and seeds are not read.
   */
  readonly denseT?: Floats;
  /** The products' intermediate buffers, reused from one product to the next (an iterative solve makes many). */
  readonly work?: Scratch;
}

/** out [P] = S c for c [N·r]. */
export function* sTimes(b: SeededBatch, c: ArrayLike<number>, out: Floats): Task<Floats> {
  const { model, theta, trace, bs, seeds, r } = b;
  if (b.denseT) return yield* gemmT(b.denseT, toDtype(model.dtype, c), model.numParameters, 1, b.denseT.length / model.numParameters, { transA: true, out });
  if (r === 1 || model.modules.length > 0) return yield* contract(model, trace, bs, c, r, out, b.work); // modules: their G rows, not a second backward
  const { n } = trace;
  const k = model.outDim;
  const w = combineSeeds(seeds, c, n, r, k); // w_i = Σ_m c_(i,m) s_(i,m)
  const bw = yield* outputJacobians(model, theta, trace, w, 1); // B̃ per layer [N, out]
  return yield* contract(model, trace, bw, new Float64Array(n).fill(1), 1, out, b.work);
}

/** Sᵀv [N·r] (float64) for v [P] laid out like θ. */
export function* sTransposeTimes(b: SeededBatch, v: Floats): Task<Float64Array> {
  const { model, theta, trace, bs, seeds, r } = b;
  if (b.denseT) {
    const P = model.numParameters;
    return Float64Array.from(yield* gemmT(b.denseT, v, b.denseT.length / P, 1, P));
  }
  if (r === 1 || model.modules.length > 0) return yield* byLayerTranspose(model, trace, bs, r, v, b.work); // modules: their G rows
  const { n } = trace;
  const k = model.outDim;
  const de = yield* outputTangents(model, theta, trace, v); // J_i v [N, k]
  return seedDots(seeds, de, n, r, k);
}

/** w [N, k]: w_i = Σ_m c_(i,m) s_(i,m), accumulated in float64. */
function combineSeeds(seeds: Floats, c: ArrayLike<number>, n: number, r: number, k: number): Floats {
  const w = zerosLike(seeds, n * k);
  const acc = new Float64Array(k);
  for (let i = 0; i < n; i++) {
    acc.fill(0);
    for (let m = 0; m < r; m++) {
      const cm = c[i * r + m];
      const row = (i * r + m) * k;
      for (let j = 0; j < k; j++) acc[j] += cm * seeds[row + j];
    }
    w.set(acc, i * k);
  }
  return w;
}

/** out [N·r]: out_(i,m) = s_(i,m) · de_i (float64). */
function seedDots(seeds: Floats, de: Floats, n: number, r: number, k: number): Float64Array {
  const out = new Float64Array(n * r);
  for (let i = 0; i < n; i++) {
    for (let m = 0; m < r; m++) {
      const row = (i * r + m) * k;
      let acc = 0;
      for (let j = 0; j < k; j++) acc += seeds[row + j] * de[i * k + j];
      out[i * r + m] = acc;
    }
  }
  return out;
}

/**
 * Sᵀv by layer: (Sᵀv)_(i,m) = Σ_layers B_(i,m) · (V_W a_i + v_b), one gemm [N, in]·[in, out] and
 * N·r·out multiply-adds per linear layer; plus G_(i,m) · v_l per module (N·r·P_l).
 */
export function* byLayerTranspose(model: Sequential, trace: Trace, bs: readonly LayerFactor[], r: number, v: Floats, work?: Scratch): Task<Float64Array> {
  const { n, inputs } = trace;
  const out = new Float64Array(n * r);
  for (let l = 0; l < model.slots.length; l++) {
    const { layer, index, wOffset } = model.slots[l];
    const vl = v.subarray(wOffset, wOffset + (layer.inFeatures + 1) * layer.outFeatures); // (V_W, v_b): contiguous in θ
    yield* linearTimes(layer, bs[l] as Floats, inputs[index], n, r, vl, out, work, `transpose ${l}`); // out_(i,m) += B_(i,m)·(V_W a_i + v_b)
  }
  model.modules.forEach((m, j) => {
    const g = bs[model.slots.length + j];
    if (g && isFactored(g)) g.addTimes(v.subarray(m.offset, m.offset + m.size), out);
    else if (g) rowsDot(g, v.subarray(m.offset, m.offset + m.size), 1, n * r, out); // out_q += G_q · v_l
  });
  return out;
}
