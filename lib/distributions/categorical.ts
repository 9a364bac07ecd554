// Categorical with logits η ∈ R^k (k ≥ 2): y ∈ {0, …, k−1}, p = softmax(η).
//   ℓ = logsumexp(η) − η_y,   g = p − e_y,   F = diag(p) − ppᵀ.
// F is singular: F·1 = 0 (the logits are defined up to a common shift), rank k − 1.
// It is handled exactly, with no jitter, by a closed-form factor of rank k − 1:
//
//   F = diag(√p) (I − √p √pᵀ) diag(√p)          (since diag(√p) √p = p)
//     = diag(√p) Q Qᵀ diag(√p)  =  L Lᵀ,   L = diag(√p) Q   [k, k−1],
//
// where Q [k, k−1] is an orthonormal basis of √p^⊥ (I − √p√pᵀ = Q Qᵀ as ‖√p‖ = 1).
// Q is the Householder reflector H = I − v vᵀ/(1 + √p_t), v = √p + e_t, with its
// column t removed, t = argmax p: H√p = −e_t, so the other columns of H span √p^⊥;
// √p_t ≥ 1/√k keeps the division safe.
// The right-hand side: g ⊥ 1, so w = g ⊘ √p is ⊥ √p and Q Qᵀ w = w; hence
//   u = Qᵀ w  gives  L u = diag(√p) Q Qᵀ w = diag(√p) w = g.
// Underflow: p_j = 0 in float64 (a logit ~745 below the largest) has √p_j = 0;
// then w_j := 0, which projects g onto what F can represent.
import type { Floats } from '../util/floats';
import type { OutputFamily } from './family';

/** p = softmax(η) and logsumexp(η), shifted by max η against overflow. */
function softmax(eta: Float64Array, p: Float64Array): number {
  let mx = -Infinity;
  for (let j = 0; j < eta.length; j++) mx = Math.max(mx, eta[j]);
  let s = 0;
  for (let j = 0; j < eta.length; j++) s += p[j] = Math.exp(eta[j] - mx);
  for (let j = 0; j < eta.length; j++) p[j] /= s;
  return mx + Math.log(s);
}

/** out = p − e_y, with p_y − 1 written as −Σ_{j≠y} p_j so that it keeps its digits when p_y ≈ 1. */
function gradInto(p: Float64Array, y: number, out: Float64Array): void {
  let rest = 0;
  for (let j = 0; j < p.length; j++) {
    out[j] = p[j];
    if (j !== y) rest += p[j];
  }
  out[y] = -rest;
}

let scratch = new Float64Array(0);
function work(k: number): Float64Array {
  if (scratch.length < 3 * k) scratch = new Float64Array(3 * k);
  return scratch;
}

export const categorical: OutputFamily = Object.freeze({
  name: 'categorical' as const,
  targetWidth: () => 1,
  checkOutputs(fn: string, what: string, k: number) {
    if (!Number.isSafeInteger(k) || k < 2) throw new RangeError(`${fn}: ${what} must be ≥ 2 for a categorical output (one logit per class), got ${k}`);
  },
  checkTarget(fn: string, y: Floats, i: number, k: number) {
    const v = y[i];
    if (!Number.isInteger(v) || v < 0 || v >= k) throw new RangeError(`${fn}: 'y[${i}]' is ${v}; categorical targets must be class indices 0…${k - 1}`);
  },
  rank: (k: number) => k - 1,
  mean(eta: Float64Array, out: Float64Array) {
    softmax(eta, out); // μ = softmax(η)
  },
  loss(eta: Float64Array, y: Floats): number {
    let mx = -Infinity;
    for (let j = 0; j < eta.length; j++) mx = Math.max(mx, eta[j]);
    let s = 0;
    for (let j = 0; j < eta.length; j++) s += Math.exp(eta[j] - mx);
    return mx - eta[y[0]] + Math.log(s); // logsumexp(η) − η_y, without cancelling max η against η_y after adding log s (large logits)
  },
  gradient(eta: Float64Array, y: Floats, out: Float64Array): void {
    const p = work(eta.length).subarray(0, eta.length);
    softmax(eta, p);
    gradInto(p, y[0], out);
  },
  fisher(eta: Float64Array, out: Float64Array): void {
    const k = eta.length;
    const p = work(k).subarray(0, k);
    softmax(eta, p);
    for (let a = 0; a < k; a++) for (let b = 0; b < k; b++) out[a * k + b] = (a === b ? p[a] : 0) - p[a] * p[b];
  },
  factor(eta: Float64Array, y: Floats, lt: Float64Array, u: Float64Array): void {
    const k = eta.length;
    const ws = work(k);
    const p = ws.subarray(0, k);
    const sp = ws.subarray(k, 2 * k);
    const w = ws.subarray(2 * k, 3 * k);
    softmax(eta, p);
    gradInto(p, y[0], w); // w = g, then ⊘ √p
    let t = 0;
    for (let j = 0; j < k; j++) {
      sp[j] = Math.sqrt(p[j]);
      w[j] = sp[j] > 0 ? w[j] / sp[j] : 0;
      if (p[j] > p[t]) t = j;
    }
    // v = √p + e_t;  H[:, l] = e_l − v · v_l / (1 + √p_t);  vᵀw = √pᵀw + w_t
    const d = 1 + sp[t];
    let vw = w[t];
    for (let j = 0; j < k; j++) vw += sp[j] * w[j];
    let m = 0;
    for (let l = 0; l < k; l++) {
      if (l === t) continue;
      const c = sp[l] / d; // v_l / (1 + √p_t), v_l = √p_l for l ≠ t
      // row m of Lᵀ = (diag(√p) H[:, l])ᵀ: entry j = √p_j (δ_jl − v_j c)
      for (let j = 0; j < k; j++) {
        const vj = j === t ? sp[j] + 1 : sp[j];
        lt[m * k + j] = sp[j] * ((j === l ? 1 : 0) - vj * c);
      }
      u[m] = w[l] - c * vw; // H[:, l]ᵀ w
      m++;
    }
  },
});
