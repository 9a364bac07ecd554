// Levenberg–Marquardt adaptation of the damping λ (Marquardt 1963; Nocedal & Wright, Numerical
// Optimization, Alg. 4.1; Martens 2010, "Deep learning via Hessian-free optimization", §4.1).
//
// After a trial step Δ = −lr·n from θ, compare the actual decrease of the loss with the decrease the
// local quadratic model predicts,
//   m(Δ) = L(θ) + g_θᵀΔ + ½ ΔᵀF_θΔ     (the undamped Fisher: Gauss–Newton for the gaussian family),
//   predicted = m(0) − m(Δ) = lr·gᵀn − ½ lr²·nᵀF_θ n,
//   ρ = (L(θ) − L(θ + Δ)) / predicted,
// and update
//   ρ < lower (default 1/4), or ρ not a number:  λ ← min(λ_max, max(λ·increase, λ_min))
//   ρ > upper (default 3/4):                     λ ← max(λ_min, λ·decrease)
//   otherwise:                                   λ ← min(λ_max, max(λ, λ_min))
// A trial whose loss increases by a FINITE amount is rejected: θ is left as it was and the direction
// is solved again with more damping, escalating like Nielsen's ν-doubling: the j-th retry of a step
// uses λ ← min(λ_max, max(λ·increaseʲ, λ_min)) (so 1.5, 1.5³, 1.5⁶, … times the first λ with the
// default 3/2), up to maxRetries times; if all fail, the next step starts from the raised λ.
// Only a finite increase is evidence for raising λ. A non-finite loss — of the batch at θ
// or of the trial — or a non-finite kernel, direction or trial, or a failed solve, defines no ρ and
// says nothing about the quadratic model (a batch with x = 1e30 overflows at every λ): the step is
// rejected at once, with λ and every other state bit-identical (NaturalGradient's stepTask;
// docs/optimizer.md, "A bad batch").
// With n = (F_θ + λI)⁻¹g and lr = 1, predicted = ½ nᵀF_θ n + λ‖n‖² > 0.
// A floor below which the rule does not go: an accepted step whose damped Cholesky met a non-positive
// pivot (profile.solver 'pinv-fallback': λ below what the kernel's precision, float32 or float64, resolves)
// raises it to min(λ_max, λ·increase), and every later λ is at least the floor:
//   λ ← max(floor, λ from the rule above)
// At such a λ the fallback's float64 eigendecomposition drops every eigenvalue below its cutoff
// (m·ε·e_max), a damping far above λ, at ~12× a Cholesky's cost (0.85 s against 0.07 s a step at
// m = 2,048); without the floor the rule lowered λ again at once (ρ ≈ 1) and every later step fell back.
// bench:fullbatch (minibatches of 2,048, 20 s): 67 steps to MSE 1.27e-7 without it, 172 steps to
// 1.67e-8 with it. The damping setter clears the floor; state() saves it and loadState restores it.
import { checkNumber, checkOptions, describe } from '../util/validate';

/**
 * Settings of the Levenberg–Marquardt rule. Besides them, an accepted step whose Cholesky fell back to
 * the eigendecomposition (profile.solver 'pinv-fallback') raises a floor under λ to λ·increase;
 * setting `damping` clears it (docs/optimizer.md).
 */
export interface LevenbergMarquardtOptions {
  /** λ_min > 0. Default 1e-7. */
  min?: number;
  /** λ_max ≥ λ_min. Default 1e6. */
  max?: number;
  /** ρ below this raises λ. Default 0.25. */
  lower?: number;
  /** ρ above this lowers λ. Default 0.75. */
  upper?: number;
  /** Factor > 1 applied when ρ < lower and on a rejected trial. Default 3/2 (Martens 2010). */
  increase?: number;
  /** Factor in (0, 1) applied when ρ > upper. Default 2/3 (Martens 2010). */
  decrease?: number;
  /** Re-solves with more damping after a rejected trial, per step (≥ 0). Default 8 (λ up to 1.5³⁶ ≈ 2·10⁶ ×). */
  maxRetries?: number;
}

export type DampingRule = Required<LevenbergMarquardtOptions>;

export const LM_DEFAULTS: Readonly<DampingRule> = Object.freeze({
  min: 1e-7,
  max: 1e6,
  lower: 0.25,
  upper: 0.75,
  increase: 1.5,
  decrease: 2 / 3,
  maxRetries: 8,
});

const NAMES = Object.keys(LM_DEFAULTS);

/** The rule for an `adaptive` option: false → null (fixed λ); true/undefined → defaults; an object → defaults overridden. */
export function dampingRule(fn: string, v: unknown): DampingRule | null {
  if (v === false) return null;
  if (v === undefined || v === true) return { ...LM_DEFAULTS };
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new TypeError(`${fn}: option 'adaptive' must be a boolean or an object of Levenberg–Marquardt settings, got ${describe(v)}`);
  checkOptions(`${fn}: option 'adaptive'`, v, NAMES);
  const o = { ...LM_DEFAULTS, ...(v as LevenbergMarquardtOptions) };
  const lbl = (k: string) => `'adaptive.${k}'`;
  checkNumber(fn, lbl('min'), o.min, 0, true);
  checkNumber(fn, lbl('max'), o.max, o.min);
  checkNumber(fn, lbl('lower'), o.lower, 0);
  checkNumber(fn, lbl('upper'), o.upper, o.lower);
  checkNumber(fn, lbl('increase'), o.increase, 1, true);
  checkNumber(fn, lbl('decrease'), o.decrease, 0, true);
  if (o.decrease >= 1) throw new RangeError(`${fn}: ${lbl('decrease')} must be < 1, got ${o.decrease}`);
  if (typeof o.maxRetries !== 'number' || !Number.isSafeInteger(o.maxRetries) || o.maxRetries < 0)
    throw new RangeError(`${fn}: ${lbl('maxRetries')} must be a non-negative integer, got ${describe(o.maxRetries)}`);
  return o;
}

const clamp = (rule: DampingRule, v: number) => Math.min(rule.max, Math.max(rule.min, v));

/** λ after an accepted trial with ratio ρ (see the header). */
export function nextDamping(rule: DampingRule, damping: number, rho: number): number {
  if (!(rho >= rule.lower)) return clamp(rule, damping * rule.increase); // also NaN
  if (rho > rule.upper) return clamp(rule, damping * rule.decrease);
  return clamp(rule, damping);
}

/** The floor after an accepted step solved at `damping` (see the header): raised past it when its Cholesky fell back. */
export function dampingFloor(rule: DampingRule, floor: number, damping: number, fellBack: boolean): number {
  return fellBack ? Math.max(floor, Math.min(rule.max, damping * rule.increase)) : floor;
}

/** λ for the `retry`-th retry (1, 2, …) after a rejected trial that used `damping`. */
export function rejectedDamping(rule: DampingRule, damping: number, retry = 1): number {
  return clamp(rule, damping * rule.increase ** retry);
}

/**
 * The decrease the local quadratic model predicts for the step Δ = −eff·n (eff = lr·s):
 *   L(θ) − m(θ + Δ) = eff·gᵀn − ½·eff²·nᵀF_θ n
 * (m(θ + Δ) = L(θ) + gᵀΔ + ½ΔᵀF_θΔ). The denominator of ρ.
 */
export function predictedDecrease(eff: number, gn: number, nFn: number): number {
  return eff * gn - 0.5 * eff * eff * nFn;
}

/**
 * ρ = actual / predicted decrease. NaN when the prediction is not a positive number (the model
 * promises no decrease: the ratio says nothing) or the actual decrease is not finite.
 */
export function reductionRatio(actual: number, predicted: number): number {
  if (!(predicted > 0) || !Number.isFinite(predicted) || !Number.isFinite(actual)) return NaN;
  return actual / predicted;
}
