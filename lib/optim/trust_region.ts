// The trust region of a natural-gradient step: the factor s ∈ (0, 1] that shortens the step
// Δ = −lr·s·n so that it respects the caller's bounds (NaturalGradient's maxStepNorm and maxKL):
//   ‖Δ‖ = lr·s·‖n‖ ≤ maxStepNorm                              → s ≤ maxStepNorm / (lr·‖n‖)
//   KL ≈ ½ ΔᵀF_θΔ = ½ (lr·s)²·nᵀF_θ n ≤ maxKL                 → s ≤ √(maxKL / (½ (lr·s₀)²·nᵀF_θ n))·s₀
// (the KL divergence of the model's output distribution to second order; s₀ the norm bound's factor).

import type { Floats } from '../util/floats';

/** ‖a‖₂ (accumulated in float64). */
function norm(a: Floats): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return Math.sqrt(s);
}

/** s for direction n with nᵀF_θ n = nFn at learning rate lr (1 when no bound binds). */
export function stepScale(lr: number, n: Floats, nFn: number, maxStepNorm: number | undefined, maxKL: number | undefined): number {
  let s = 1;
  if (maxStepNorm !== undefined) {
    const len = lr * norm(n);
    if (len > maxStepNorm) s = maxStepNorm / len;
  }
  if (maxKL !== undefined) {
    const kl = 0.5 * (lr * s) ** 2 * nFn; // ½ ΔᵀF_θΔ
    if (kl > maxKL) s *= Math.sqrt(maxKL / kl);
  }
  return s;
}
