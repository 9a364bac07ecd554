// The natural-chain-rule proposal's natural gradient, one sample at a time, averaged over the batch (method 'per-sample').
//
// The seed derives, for ONE sample with G = ∂η/∂θ [P, k] of full column rank,
//
//   F_θ⁺ g_θ = G (GᵀG)⁻¹ F_η⁻¹ g_η,
//
// which is right (docs/design.md §2, and `natgrad explain` measures it). This method applies that formula
// to every sample and averages, with λ ≥ 0 added to each k × k Gram matrix:
//
//   n = (1/N) Σ_i G_i (G_iᵀG_i + λI)⁻¹ F_i⁺ g_i.
//
// It is the natural-chain-rule proposal, NOT the natural gradient of the batch: the batch Fisher is a sum,
// F_θ = (1/N) Σ_i G_i F_i G_iᵀ, and the pseudo-inverse of a sum is not the sum of the pseudo-inverses.
// It agrees with 'exact' (λ = 0) for N = 1 when F_η is invertible (gaussian, bernoulli).
//
// How it is computed, without the P × N·k Jacobian:
//  1. forward pass; v_i = F_i⁺ g_i ∈ R^k in float64 from the family's factor F_i = L_i L_iᵀ
//     (L_i [k, r] of full column rank r, L_i u_i = g_i):  F_i⁺ g_i = (L_iᵀ)⁺ u_i = L_i (L_iᵀL_i)⁻¹ u_i;
//  2. backpropagate identity seeds: at each linear layer l, B_l [N·k, out_l], row (i, j) = ∂η_ij/∂z_l;
//  3. per-sample Gram matrices from a compressed factor. With B_il ∈ R^{out_l × k} the columns
//     (i, ·) of B_l transposed (B_il[o, j] = ∂η_ij/∂z_l,o) and a_il the layer's input, the rows of G_i
//     belonging to layer l are B_il[o, ·]·a_il,c for W_l[o, c] and B_il[o, ·] for b_l[o], so
//       G_iᵀG_i = Σ_l (‖a_il‖² + 1) B_ilᵀ B_il.
//     Hence G̃_i = [√(‖a_il‖² + 1) B_il] stacked over l ([Σ_l out_l, k]) has G̃_iᵀG̃_i = G_iᵀG_i, and
//     the native batchedGramInverse turns G̃ [N, Σ out, k] into (G_iᵀG_i + λI)⁻¹ [N, k, k] (batched
//     Cholesky, float32) without the P·k entries of any G_i;
//  4. c_i = (1/N) (G_iᵀG_i + λI)⁻¹ v_i, and n = Σ_i G_i c_i is contracted layer by layer
//     (n_W = B̃ᵀ A, n_b = B̃ᵀ 1 with B̃_i = Σ_j c_ij B_(i,j)).
// Cost: the backpropagation of N·k seeds, N·k²·Σ out for the Gram matrices, N·k³/3 for the inverses.
import type { Floats } from '../util/floats';
import { fisherFactors, meanLoss, type OutputFamily } from '../distributions';
import { choleskySolve, pinvSolve } from '../linalg64';
import { contract, outputJacobians } from '../nn/jacobian';
import { batchedGramInverseT, type Task } from '../task';
import type { StepBatch } from './batch';
import type { ExactResult } from './exact';

/** Options of the proposal's methods ('per-sample' and 'chain'). */
export interface SeedConfig {
  /** λ ≥ 0, added to every local Gram matrix that the method inverts. */
  damping: number;
}

/**
 * v [N, k] (float64): v_i = F_i⁺ g_i, the natural gradient of ℓ_i in η (the proposal's n_η), for
 * η [N, k] and targets y. Computed from the family's factor F_i = L_i L_iᵀ, L_i u_i = g_i:
 *   F_i⁺ g_i = L_i (L_iᵀ L_i)⁻¹ u_i
 * (Cholesky of the r × r matrix L_iᵀL_i; a symmetric-eigen pseudo-inverse where it is singular, e.g.
 * a bernoulli logit so large that p(1 − p) = 0, which gives v_i = 0).
 * Examples: gaussian v = η − y; bernoulli v = (p − y)/(p(1 − p)); categorical v = (1/k − e_y)/p_y.
 */
export function outputNaturalGradients(fam: OutputFamily, fn: string, eta: Floats, y: Floats, n: number, k: number): Float64Array {
  const { r, seeds, u } = fisherFactors(fam, fn, eta, y, n, k); // seeds row (i, m) = column m of L_i
  const v = new Float64Array(n * k);
  const m = new Float64Array(r * r);
  const ui = new Float64Array(r);
  for (let i = 0; i < n; i++) {
    const lt = seeds.subarray(i * r * k, (i + 1) * r * k); // Lᵀ [r, k]
    for (let a = 0; a < r; a++) {
      ui[a] = u[i * r + a];
      for (let b = 0; b < r; b++) {
        let s = 0;
        for (let j = 0; j < k; j++) s += lt[a * k + j] * lt[b * k + j];
        m[a * r + b] = s; // (LᵀL)[a, b]
      }
    }
    let w: Float64Array;
    try {
      w = choleskySolve(m, r, ui);
    } catch {
      w = pinvSolve(m, r, ui).x;
    }
    for (let j = 0; j < k; j++) {
      let s = 0;
      for (let a = 0; a < r; a++) s += lt[a * k + j] * w[a];
      v[i * k + j] = s; // v = L w
    }
  }
  return v;
}

/** Identity seeds [N·k, k]: row (i, j) = e_j, so backpropagation gives ∂η_ij/∂z at every layer. */
export function identitySeeds(n: number, k: number): Float32Array {
  const s = new Float32Array(n * k * k);
  for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) s[(i * k + j) * k + j] = 1;
  return s;
}

/**
 * Rethrows a batchedGramInverse failure (code ERR_NOT_POSITIVE_DEFINITE, with the failing matrix as
 * `index`) naming the method, the matrix and the remedy; `template` names the matrix, '{i}' its index.
 */
export function rethrowGram(e: unknown, fn: string, template: string): never {
  const err = e as { code?: string; index?: number; column?: number } | null;
  if (err?.code === 'ERR_NOT_POSITIVE_DEFINITE') {
    const what = template.replace('{i}', String(err.index));
    const msg = `${fn}: ${what} is singular (not positive definite at column ${err.column}); use damping > 0`;
    throw Object.assign(new Error(msg), { code: err.code, index: err.index, column: err.column });
  }
  throw e;
}

const now = () => performance.now();

/** The 'per-sample' direction (see the header) for the batch x [N, inDim], y at parameters θ. */
export function* perSampleDirection(batch: StepBatch, cfg: SeedConfig): Task<ExactResult> {
  const { model, theta, family: fam, fn, x, y, n } = batch;
  const k = model.outDim;
  const p = model.numParameters;
  const t0 = now();
  const trace = yield* model.forwardTask(theta, x, n);
  const loss = meanLoss(fam, trace.eta, y, n, k);
  const v = outputNaturalGradients(fam, fn, trace.eta, y, n, k); // v_i = F_i⁺ g_i
  const t1 = now();
  const bs = yield* outputJacobians(model, theta, trace, identitySeeds(n, k), k); // B_l [N·k, out_l]
  const t2 = now();
  // G̃ [N, R, k], R = Σ_l out_l: G̃_i[(l, o), j] = √(‖a_il‖² + 1) · B_l[(i, j), o]
  const rows = model.slots.reduce((s, slot) => s + slot.layer.outFeatures, 0);
  const gt = new Float32Array(n * rows * k);
  let r0 = 0;
  model.slots.forEach((slot, l) => {
    const { inFeatures: inF, outFeatures: outF } = slot.layer;
    const a = trace.inputs[slot.index];
    const b = bs[l];
    for (let i = 0; i < n; i++) {
      let s = 1;
      for (let c = 0; c < inF; c++) s += a[i * inF + c] * a[i * inF + c];
      const scale = Math.sqrt(s);
      const base = i * rows * k;
      for (let j = 0; j < k; j++) {
        const brow = (i * k + j) * outF;
        for (let o = 0; o < outF; o++) gt[base + (r0 + o) * k + j] = scale * (b as Floats)[brow + o];
      }
    }
    r0 += outF;
  });
  const t3 = now();
  let inv: Float32Array;
  try {
    inv = yield* batchedGramInverseT(gt, n, rows, k, { damping: cfg.damping }); // (G_iᵀG_i + λI)⁻¹ [N, k, k]
  } catch (e) {
    rethrowGram(e, fn, "method 'per-sample': G_iᵀG_i + λI of sample {i}");
  }
  // c_i = (1/N) (G_iᵀG_i + λI)⁻¹ v_i
  const c = new Float32Array(n * k);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < k; j++) {
      let s = 0;
      for (let l = 0; l < k; l++) s += inv[i * k * k + j * k + l] * v[i * k + l];
      c[i * k + j] = s / n;
    }
  }
  const t4 = now();
  const direction = yield* contract(model, trace, bs, c, k, new Float32Array(p)); // Σ_i G_i c_i
  const t5 = now();
  return {
    direction,
    loss,
    profile: {
      forward: t1 - t0,
      backprop: t2 - t1,
      kernel: t3 - t2,
      solve: t4 - t3,
      update: t5 - t4,
      total: t5 - t0,
      space: 'kernel',
      assembly: 'layer',
      size: k,
      solver: 'cholesky',
    },
  };
}
