// A randomized Nyström preconditioner for (A + μI) x = b with A symmetric positive semi-definite, given
// only as products (Frangella, Tropp & Udell, "Randomized Nyström preconditioning", SIAM J. Matrix
// Anal. Appl. 44, 2023, Algorithms 2.1 and 5.1). In float64:
//
//   Ω [n, ℓ] with orthonormal random columns;  Y = A Ω  (ℓ products);  ν = √n·ε₃₂·‖Y‖_F (a shift: the
//   products are float32);  Y_ν = Y + νΩ;  G = Ωᵀ Y_ν;  B = Y_ν G^{-1/2};  B = U Σ Vᵀ (thin SVD)
//   Â = U Λ̂ Uᵀ ≈ A  with  Λ̂ = max(0, Σ² − ν)
//   P⁻¹ = (λ̂_ℓ + μ) U (Λ̂ + μI)⁻¹ Uᵀ + (I − U Uᵀ)
//
// P⁻¹ maps the top ℓ eigendirections of A + μI to about the ℓ-th eigenvalue's scale and leaves the rest,
// so conjugate gradients on the preconditioned system converge in iterations that depend on the spectrum
// beyond the ℓ-th eigenvalue rather than on κ(A + μI). G^{-1/2} and the SVD come from ℓ × ℓ symmetric
// eigendecompositions (G = Q Θ Qᵀ; BᵀB = V Σ² Vᵀ, U = B V Σ⁻¹). The random columns come from a fixed
// seed, so a solve is reproducible bit for bit.
import { symEig } from '../linalg64';
import type { Task } from '../task';
import { Rng } from '../util/random';

export interface NystromSketch {
  /** The ℓ′ ≤ ℓ kept columns of U, each [n] (orthonormal). */
  u: Float64Array[];
  /** Λ̂, descending: the approximate top eigenvalues of A. */
  lambda: Float64Array;
}

const EPS32 = 2 ** -23;

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** ℓ orthonormal random columns of length n (Gaussian, then modified Gram–Schmidt twice). */
function randomBasis(n: number, l: number, seed: number): Float64Array[] {
  const rng = new Rng(seed);
  const cols: Float64Array[] = [];
  for (let j = 0; j < l; j++) {
    const w = Float64Array.from({ length: n }, () => rng.normal());
    for (let pass = 0; pass < 2; pass++)
      for (const q of cols) {
        const c = dot(q, w);
        for (let i = 0; i < n; i++) w[i] -= c * q[i];
      }
    const norm = Math.sqrt(dot(w, w));
    for (let i = 0; i < n; i++) w[i] /= norm;
    cols.push(w);
  }
  return cols;
}

/** The rank-ℓ Nyström approximation of A (n × n) from ℓ products. */
export function* nystromSketch(apply: (v: Float64Array) => Task<Float64Array>, n: number, rank: number, seed = 0x5eed): Task<NystromSketch> {
  const l = Math.min(rank, n);
  const omega = randomBasis(n, l, seed);
  const y: Float64Array[] = [];
  for (const w of omega) y.push(Float64Array.from(yield* apply(w)));
  let fro = 0;
  for (const c of y) fro += dot(c, c);
  const nu = Math.sqrt(n) * EPS32 * Math.sqrt(fro);
  for (let j = 0; j < l; j++) for (let i = 0; i < n; i++) y[j][i] += nu * omega[j][i]; // Y_ν
  // G = Ωᵀ Y_ν (symmetrised) = Q Θ Qᵀ; G^{-1/2} = Q Θ^{-1/2} Qᵀ over the positive Θ
  const g = new Float64Array(l * l);
  for (let a = 0; a < l; a++) for (let b = 0; b <= a; b++) g[a * l + b] = g[b * l + a] = 0.5 * (dot(omega[a], y[b]) + dot(omega[b], y[a]));
  const ge = symEig(g, l);
  const thetaMax = Math.max(...ge.values);
  const gInvSqrt = new Float64Array(l * l);
  for (let k = 0; k < l; k++) {
    const t = ge.values[k];
    if (!(t > thetaMax * 1e-12)) continue;
    const s = 1 / Math.sqrt(t);
    for (let a = 0; a < l; a++) for (let b = 0; b < l; b++) gInvSqrt[a * l + b] += ge.vectors[a * l + k] * s * ge.vectors[b * l + k];
  }
  // B = Y_ν G^{-1/2} (columns), BᵀB = V Σ² Vᵀ, U = B V Σ⁻¹
  const bcols: Float64Array[] = [];
  for (let j = 0; j < l; j++) {
    const c = new Float64Array(n);
    for (let k = 0; k < l; k++) {
      const f = gInvSqrt[k * l + j];
      if (f !== 0) for (let i = 0; i < n; i++) c[i] += f * y[k][i];
    }
    bcols.push(c);
  }
  const btb = new Float64Array(l * l);
  for (let a = 0; a < l; a++) for (let b = 0; b <= a; b++) btb[a * l + b] = btb[b * l + a] = dot(bcols[a], bcols[b]);
  const be = symEig(btb, l);
  const order = Array.from(be.values.keys()).sort((p, q) => be.values[q] - be.values[p]);
  const u: Float64Array[] = [];
  const lambda: number[] = [];
  for (const k of order) {
    const s2 = be.values[k];
    const lam = s2 - nu;
    if (!(lam > 0)) continue; // below the shift: no information about A there
    const col = new Float64Array(n);
    const s = Math.sqrt(s2);
    for (let j = 0; j < l; j++) {
      const f = be.vectors[j * l + k] / s;
      if (f !== 0) for (let i = 0; i < n; i++) col[i] += f * bcols[j][i];
    }
    u.push(col);
    lambda.push(lam);
  }
  return { u, lambda: Float64Array.from(lambda) };
}

/** v ↦ P⁻¹ v for A + μI (see the header); the identity when the sketch kept nothing. */
export function nystromPreconditioner(sk: NystromSketch, mu: number): (v: Float64Array) => Float64Array {
  const k = sk.u.length;
  if (k === 0) return (v) => Float64Array.from(v);
  const last = sk.lambda[k - 1] + mu;
  return (v) => {
    const out = Float64Array.from(v);
    for (let j = 0; j < k; j++) {
      const uj = sk.u[j];
      const c = dot(uj, v);
      const f = (last / (sk.lambda[j] + mu) - 1) * c; // (λ̂_ℓ + μ)/(λ̂_j + μ)·c on u_j, minus the c·u_j that I − UUᵀ removes
      for (let i = 0; i < out.length; i++) out[i] += f * uj[i];
    }
    return out;
  };
}

/**
 * (Â + μI)⁻¹ b = U (Λ̂ + μI)⁻¹ Uᵀ b + (I − UUᵀ) b / μ: the solve with the sketch in place of A, an
 * approximation whose error the caller bounds from its residual (for A ⪰ 0, ‖x* − x̂‖ ≤ ‖b − (A + μI)x̂‖/μ).
 */
export function nystromSolve(sk: NystromSketch, mu: number, b: Float64Array): Float64Array {
  const out = Float64Array.from(b, (v) => v / mu);
  for (let j = 0; j < sk.u.length; j++) {
    const uj = sk.u[j];
    const c = dot(uj, b);
    const f = c / (sk.lambda[j] + mu) - c / mu;
    for (let i = 0; i < out.length; i++) out[i] += f * uj[i];
  }
  return out;
}
