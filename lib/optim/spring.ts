// SPRING momentum for the exact natural gradient (Goldshlager, Abrahamsen & Lin, "A Kaczmarz-inspired
// approach to accelerate the optimization of neural network wavefunctions", 2024), in this library's
// conventions (docs/design.md §1: F_θ = (1/N) S Sᵀ, g_θ = (1/N) S u, S = J·blockdiag(L_i) [P, N·r]).
//
// The damped natural gradient is a regularised least-squares solution:
//   n = (F_θ + λI)⁻¹ g_θ = argmin_n ‖Sᵀn − u‖² + Nλ ‖n‖²
// (normal equations: S(Sᵀn − u) + Nλ n = 0 ⇔ (S Sᵀ/N + λI) n = S u/N). SPRING regularises towards
// the previous direction, decayed by μ, instead of towards 0:
//   n_k = argmin_n ‖Sᵀn − u‖² + Nλ ‖n − μ n_{k−1}‖²
//       ⇔ (F_θ + λI) n_k = g_θ + λμ n_{k−1}.
// Writing n_k = μ n_{k−1} + d turns it into the plain problem for d with the residual shifted by
// −μ Sᵀn_{k−1}, whose push-through solution lies in the kernel space:
//   n_k = μ n_{k−1} + S (SᵀS + NλI)⁻¹ (u − μ Sᵀ n_{k−1})
// (parameter space: (S Sᵀ + NλI) d = S u − μ S Sᵀ n_{k−1}; λ = 0: the pseudo-inverse, i.e. the
// minimum-norm d). The momentum thus stays in the Fisher geometry: along directions the batch
// determines (range of S) the step is still the natural-gradient fit of the residual u; μ n_{k−1}
// carries over only what the damping term weighs. μ = 0 is the plain step, bit for bit. Sᵀ n_{k−1} is
// a Jacobian-vector product (./s_products.ts) —
// so the solve costs nothing extra beyond it.

import { type Floats, zerosLike } from '../util/floats';

/** SPRING's right-hand side: u − μ·Sᵀn₋ (kernel space; parameter space: S u − μ·S Sᵀ n₋), in u's dtype. */
export function springRhs(u: Floats, mu: number, stPrev: ArrayLike<number>): Floats {
  const out = zerosLike(u);
  for (let i = 0; i < u.length; i++) out[i] = u[i] - mu * stPrev[i];
  return out;
}

/** n ← n + μ·n₋, in place: SPRING's momentum term added to the solved part of the direction. */
export function addMomentum(direction: Floats, mu: number, previous: Floats): void {
  for (let q = 0; q < direction.length; q++) direction[q] += mu * previous[q];
}

/** The n₋ the next step starts from: the direction as applied, s·n (s: the trust region's factor). */
export function previousDirection(n: Floats, s: number): Floats {
  return s === 1 ? n : n.map((v: number) => v * s);
}
