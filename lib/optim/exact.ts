// The exact batch natural gradient (DESIGN.md §1):
//
//   n_θ = (F_θ + λI)⁺ g_θ,   F_θ = (1/N) J F Jᵀ,   g_θ = (1/N) J g.
//
// With F_i = L_i L_iᵀ (L_i [k, r], r = rank F_i) and S = J·blockdiag(L_i) [P, N·r],
// F_θ = (1/N) S Sᵀ and g_θ = (1/N) S u where L_i u_i = g_i. Two equivalent solves:
//
//   kernel space (N·r ≤ P):    n_θ = S c,  (SᵀS + NλI) c = u          — push-through identity
//   parameter space (P < N·r): (S Sᵀ + NλI) n_θ = S u                  — multiply both sides by N
//
// and at λ = 0 the pseudo-inverse: S (SᵀS)⁺ u = (Sᵀ)⁺ u = (S Sᵀ)⁺ S u, so the two agree there too.
//
// Kernel space never forms S: SᵀS = Σ_layers (B Bᵀ) ⊙ (expand_r(A Aᵀ) + 1) (layerGram), where B are
// the seeds Lᵢᵀ backpropagated to each linear layer's output, and S c is contracted layer by layer
// (n_W = B̃ᵀ A, n_b = B̃ᵀ 1, B̃_i = Σ_m c_(i,m) B_(i,m)). Memory O(N·r·width + (N·r)²).
import { fisherFactors, meanLoss, OutputFamily } from '../distributions';
import { contract, materialize, outputJacobians } from '../nn/jacobian';
import type { Sequential } from '../nn/sequential';
import { choleskySolveT, gemmT, gramT, layerGramT, pinvSolveT, Task } from '../nn/task';
import type { Precision } from '../linalg';

/** float32 machine epsilon 2⁻²³: the kernels are assembled in float32. */
export const EPS32 = 2 ** -23;

export type Space = 'auto' | 'kernel' | 'parameter';
export type Assembly = 'layer' | 'dense';

export interface ExactConfig {
  /** λ ≥ 0. */
  damping: number;
  precision: Precision;
  /** Relative eigenvalue cutoff of the λ = 0 pseudo-inverse; undefined → size·EPS32. */
  rcond: number | undefined;
  space: Space;
  assembly: Assembly;
}

/** Where the time of one direction went (milliseconds) and how it was solved. */
export interface StepProfile {
  /** Forward pass, loss, Fisher factors. */
  forward: number;
  /** Backpropagation of the N·r seeds to every linear layer. */
  backprop: number;
  /** Kernel (SᵀS, kernel space) or S Sᵀ and S u (parameter space). */
  kernel: number;
  solve: number;
  /** n_θ = S c (kernel space) and, for a step, θ ← θ − lr·n_θ. */
  update: number;
  total: number;
  space: 'kernel' | 'parameter';
  assembly: Assembly;
  /** Size of the solved system: N·r in kernel space, P in parameter space. */
  size: number;
  /** 'cholesky', 'pinv', or 'pinv-fallback' (Cholesky found the damped system not numerically positive definite). */
  solver: 'cholesky' | 'pinv' | 'pinv-fallback';
  /** Eigenvalues kept by the pseudo-inverse (pinv solvers only). */
  rank?: number;
}

/**
 * Buffers kept between calls. The kernel (N·r)² floats is reused when the size repeats, which saves
 * the page faults of a fresh allocation (~0.4 ms per MiB here: 8 ms at N·r = 2304) on every step.
 */
export interface Workspace {
  kernel: Float32Array | null;
}

export interface ExactResult {
  /** n_θ [P]. */
  direction: Float32Array;
  /** L(θ) before any step. */
  loss: number;
  profile: StepProfile;
}

const now = () => performance.now();

/**
 * (K + dI)⁻¹ R for symmetric positive semi-definite K [m, m] (R [m]): Cholesky when d > 0, else the
 * pseudo-inverse with cutoff rcond·max e. If Cholesky meets a non-positive pivot (d below the rounding
 * of K), the eigendecomposition is used instead, in float64, with the same cutoff.
 */
function* solve(k: Float32Array, m: number, rhs: Float32Array, d: number, cfg: ExactConfig) {
  const rcond = cfg.rcond ?? m * EPS32;
  let solver: StepProfile['solver'] = 'pinv';
  if (d > 0) {
    try {
      const x = yield* choleskySolveT(k, m, rhs, 1, { damping: d, precision: cfg.precision });
      return { x, solver: 'cholesky' as const, rank: undefined };
    } catch (e) {
      if ((e as { code?: string }).code !== 'ERR_NOT_POSITIVE_DEFINITE') throw e;
      solver = 'pinv-fallback';
    }
  }
  const precision = solver === 'pinv-fallback' ? 'float64' : cfg.precision;
  const { x, rank } = yield* pinvSolveT(k, m, rhs, 1, { damping: d, rcond, precision });
  return { x, solver, rank };
}

/** n_θ for the batch (x [N, inDim], y [N, targetWidth]) at parameters θ (a Float32Array laid out like model.params). */
export function* exactDirection(
  model: Sequential,
  theta: Float32Array,
  fam: OutputFamily,
  fn: string,
  x: Float32Array,
  y: Float32Array,
  n: number,
  cfg: ExactConfig,
  ws: Workspace
): Task<ExactResult> {
  const k = model.outDim;
  const p = model.numParameters;
  const t0 = now();
  const trace = yield* model.forwardTask(theta, x, n);
  const loss = meanLoss(fam, trace.eta, y, n, k);
  const { r, seeds, u } = fisherFactors(fam, fn, trace.eta, y, n, k); // F_i = L_i L_iᵀ, L_i u_i = g_i
  const t1 = now();
  const bs = yield* outputJacobians(model, theta, trace, seeds, r); // B = L_iᵀ ∂η_i/∂z per linear layer
  const t2 = now();
  const m = n * r;
  const space = cfg.space === 'auto' ? (p < m ? 'parameter' : 'kernel') : cfg.space;
  const d = n * cfg.damping; // F_θ + λI = (1/N)(S Sᵀ + NλI)
  let direction: Float32Array;
  let t3: number, t4: number;
  let sol: { x: Float32Array; solver: StepProfile['solver']; rank: number | undefined };
  if (space === 'kernel') {
    let s: Float32Array | undefined;
    let kernel: Float32Array;
    if (cfg.assembly === 'layer') {
      // SᵀS = Σ_layers (B Bᵀ) ⊙ (expand_r(A Aᵀ) + 1), accumulated into a zeroed kernel
      kernel = ws.kernel?.length === m * m ? ws.kernel.fill(0) : (ws.kernel = new Float32Array(m * m));
      for (let l = 0; l < model.slots.length; l++) {
        const { index, layer } = model.slots[l];
        yield* layerGramT(bs[l], trace.inputs[index], n, r, layer.outFeatures, layer.inFeatures, kernel);
      }
    } else {
      s = materialize(model, trace, bs, r); // S [P, N·r]
      kernel = yield* gramT(s, p, m); // SᵀS
    }
    t3 = now();
    sol = yield* solve(kernel, m, u, d, cfg); // c = (SᵀS + NλI)⁺ u
    t4 = now();
    direction = s
      ? yield* gemmT(s, sol.x, p, 1, m) // n_θ = S c
      : yield* contract(model, trace, bs, sol.x, r, new Float32Array(p)); // n_θ = S c, layer by layer
  } else {
    const s = materialize(model, trace, bs, r); // S [P, N·r]
    const kernel = yield* gramT(s, m, p, { layout: 'MP' }); // S Sᵀ [P, P]
    const rhs = yield* gemmT(s, u, p, 1, m); // S u
    t3 = now();
    sol = yield* solve(kernel, p, rhs, d, cfg); // n_θ = (S Sᵀ + NλI)⁺ S u
    t4 = now();
    direction = sol.x;
  }
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
      space,
      assembly: space === 'kernel' ? cfg.assembly : 'dense',
      size: space === 'kernel' ? m : p,
      solver: sol.solver,
      ...(sol.rank !== undefined ? { rank: sol.rank } : {}),
    },
  };
}
