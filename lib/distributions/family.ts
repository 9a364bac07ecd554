// The interface every output family implements. Each family is a distribution
// d(y | η) over a target y given the network output η ∈ R^k, seen through what the
// natural gradient needs per sample (all in float64):
//   ℓ = −log d(y | η),   g = ∇_η ℓ,   F = E_y[∇ℓ ∇ℓᵀ] (Fisher information of d at η),
// and a factor F = L Lᵀ with L [k, r] plus u ∈ R^r with L u = g. With these the
// batch natural gradient is n_θ = S (SᵀS + NλI)⁺ u for S = J · blockdiag(L_i)
// (docs/design.md §1); r is the rank of F, so the kernel is N·r square, not N·k.

import type { Floats } from '../util/floats';
export type LossName = 'gaussian' | 'categorical' | 'bernoulli';

export interface OutputFamily {
  readonly name: LossName;
  /** Target values per sample: k for gaussian, 1 (a class index or label) otherwise. */
  targetWidth(k: number): number;
  /** Throws a RangeError naming `what` when the family cannot have k outputs. */
  checkOutputs(fn: string, what: string, k: number): void;
  /** Throws a RangeError naming y[i] when sample i's target is invalid (y: the whole batch). */
  checkTarget(fn: string, y: Floats, i: number, k: number): void;
  /** r, the number of columns of L (the rank of F_η). */
  rank(k: number): number;
  /** out[k] = μ(η), the distribution's mean: η (gaussian), softmax(η) (categorical), σ(η) (bernoulli, P(y = 1)). */
  mean(eta: Float64Array, out: Float64Array): void;
  /** ℓ(η, y); eta [k], y [targetWidth]. */
  loss(eta: Float64Array, y: Floats): number;
  /** out[k] = g = ∇_η ℓ. */
  gradient(eta: Float64Array, y: Floats, out: Float64Array): void;
  /** out[k, k] = F_η (row-major). */
  fisher(eta: Float64Array, out: Float64Array): void;
  /**
   * The Fisher factor and the matching right-hand side:
   * lt[r, k] = Lᵀ (row m is column m of L, so lt[m·k + j] = L[j, m]) with L Lᵀ = F_η,
   * and u[r] with L u = g.
   */
  factor(eta: Float64Array, y: Floats, lt: Float64Array, u: Float64Array): void;
}
