// Bernoulli with logit η (k = 1): y ∈ {0, 1}, p = σ(η) = 1/(1 + e^{−η}).
//   ℓ = softplus(η) − yη,   g = p − y,   F = p(1 − p) = σ(η)σ(−η),
// L = √F (r = 1), u = g / L.
// Saturation: F is computed as σ(η)σ(−η), accurate to relative ε at any η, and is
// 0 in float64 only when |η| ≳ 745. There the Fisher cannot carry the gradient
// (g ∉ range F numerically): such a sample gets L = 0 and u = 0 and contributes
// nothing to the step (it still counts in the loss).
import type { Floats } from '../util/floats';
import type { OutputFamily } from './family';

function logistic(z: number): number {
  if (z >= 0) return 1 / (1 + Math.exp(-z));
  const e = Math.exp(z);
  return e / (1 + e);
}

/** g = p − y, with 1 − p written as σ(−η) so that it keeps its digits when p ≈ 1. */
function grad(eta: number, y: number): number {
  return y === 1 ? -logistic(-eta) : logistic(eta);
}

export const bernoulli: OutputFamily = Object.freeze({
  name: 'bernoulli' as const,
  targetWidth: () => 1,
  checkOutputs(fn: string, what: string, k: number) {
    if (k !== 1) throw new RangeError(`${fn}: ${what} must be 1 for a bernoulli output (one logit per sample), got ${k}`);
  },
  checkTarget(fn: string, y: Floats, i: number) {
    const v = y[i];
    if (v !== 0 && v !== 1) throw new RangeError(`${fn}: 'y[${i}]' is ${v}; bernoulli targets must be 0 or 1`);
  },
  rank: () => 1,
  mean(eta: Float64Array, out: Float64Array) {
    out[0] = logistic(eta[0]); // μ = σ(η) = P(y = 1)
  },
  // softplus(η) − yη = max(η, 0) + log1p(e^{−|η|}) − yη, finite for every finite η
  loss(eta: Float64Array, y: Floats): number {
    const z = eta[0];
    return Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z))) - y[0] * z;
  },
  gradient(eta: Float64Array, y: Floats, out: Float64Array): void {
    out[0] = grad(eta[0], y[0]);
  },
  fisher(eta: Float64Array, out: Float64Array): void {
    out[0] = logistic(eta[0]) * logistic(-eta[0]);
  },
  factor(eta: Float64Array, y: Floats, lt: Float64Array, u: Float64Array): void {
    const l = Math.sqrt(logistic(eta[0]) * logistic(-eta[0]));
    lt[0] = l;
    u[0] = l > 0 ? grad(eta[0], y[0]) / l : 0; // L u = g
  },
});
