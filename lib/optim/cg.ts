// Conjugate gradients for A x = b with A symmetric positive definite, given only as a product v ↦ A v
// (a Task: the products run native kernels). In float64:
//
//   r₀ = b − A x₀,  p₀ = r₀
//   αₖ = rₖᵀrₖ / pₖᵀA pₖ,   xₖ₊₁ = xₖ + αₖ pₖ,   rₖ₊₁ = rₖ − αₖ A pₖ
//   βₖ = rₖ₊₁ᵀrₖ₊₁ / rₖᵀrₖ,   pₖ₊₁ = rₖ₊₁ + βₖ pₖ
//
// With a preconditioner M: zₖ = M⁻¹rₖ, p₀ = z₀, αₖ = rₖᵀzₖ / pₖᵀA pₖ, βₖ = rₖ₊₁ᵀzₖ₊₁ / rₖᵀzₖ, pₖ₊₁ = zₖ₊₁ + βₖ pₖ
// (without one, z = r and it is the plain method, bit for bit).
//
// stopped when ‖rₖ‖ ≤ tol·‖b‖ or after maxIterations. The recurrence's rₖ drifts from b − A xₖ when the
// products are inexact (here they are float32-accurate), so the true relative residual ‖b − A x‖/‖b‖ is
// computed once at the end (one more product) and reported as `residual`: that is the number to trust.
import type { Task } from '../task';

export interface CgOptions {
  /** Stop when the recurrence's residual is ≤ tol·‖b‖. */
  tol: number;
  maxIterations: number;
  /** Starting point (default 0): a warm start from a nearby system's solution. */
  x0?: Float64Array;
  /** z = M⁻¹ r for a preconditioner M ≈ A (symmetric positive definite): preconditioned CG. */
  precondition?: (r: Float64Array) => Float64Array;
}

export interface CgResult {
  x: Float64Array;
  iterations: number;
  /** ‖b − A x‖ / ‖b‖, computed from a fresh product. */
  residual: number;
  /** The recurrence reached tol within maxIterations. */
  converged: boolean;
}

const dot = (a: Float64Array, b: Float64Array) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};

export function* conjugateGradient(apply: (v: Float64Array) => Task<Float64Array>, b: Float64Array, o: CgOptions): Task<CgResult> {
  const n = b.length;
  const bNorm = Math.sqrt(dot(b, b));
  const x = o.x0 ? Float64Array.from(o.x0) : new Float64Array(n);
  if (bNorm === 0) return { x: new Float64Array(n), iterations: 0, residual: 0, converged: true };
  const r = Float64Array.from(b);
  if (o.x0) {
    const ax = yield* apply(x);
    for (let i = 0; i < n; i++) r[i] -= ax[i];
  }
  const precondition = o.precondition ?? ((v: Float64Array) => v);
  let z = precondition(r);
  const p = Float64Array.from(z);
  let rr = dot(r, r);
  let rz = dot(r, z);
  let k = 0;
  const goal = (o.tol * bNorm) ** 2;
  while (rr > goal && k < o.maxIterations) {
    const ap = yield* apply(p);
    const pap = dot(p, ap);
    if (!(pap > 0)) break; // A is not positive definite along p (or NaN): stop, the residual says how far it got
    const alpha = rz / pap;
    for (let i = 0; i < n; i++) {
      x[i] += alpha * p[i];
      r[i] -= alpha * ap[i];
    }
    rr = dot(r, r);
    z = precondition(r);
    const next = dot(r, z);
    const beta = next / rz;
    rz = next;
    for (let i = 0; i < n; i++) p[i] = z[i] + beta * p[i];
    k++;
  }
  const converged = rr <= goal;
  const ax = yield* apply(x);
  let res = 0;
  for (let i = 0; i < n; i++) res += (b[i] - ax[i]) ** 2;
  return { x, iterations: k, residual: Math.sqrt(res) / bNorm, converged };
}
