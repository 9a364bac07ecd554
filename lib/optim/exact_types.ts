// The data the exact natural gradient passes between its stages (./exact.ts, ./exact_cg.ts): the
// linearisation of a batch, the assembled system, a solution and where the time went.
import type { LayerFactor } from '../nn/module';
import type { Floats } from '../util/floats';
import type { Sequential, Trace } from '../nn/sequential';
import type { Assembly } from './exact_config';
import type { NystromSketch } from './nystrom';
import type { SeededBatch } from './s_products';

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
  /**
   * 'cholesky', 'pinv', 'pinv-fallback' (Cholesky found the damped system not numerically positive
   * definite), 'cg' (matrix-free conjugate gradients: ./exact_cg.ts), 'nystrom-pcg' (the same, with a
   * Nyström preconditioner: ./nystrom.ts) or 'nystrom' (the sketched solve, approximate: see errorBound).
   */
  solver: 'cholesky' | 'pinv' | 'pinv-fallback' | 'cg' | 'nystrom-pcg' | 'nystrom';
  /** Eigenvalues kept by the pseudo-inverse (pinv solvers only). */
  rank?: number;
  /** CG: iterations, the relative residual ‖b − A x‖/‖b‖ reached (computed afresh at the end), and whether it reached the tolerance. */
  iterations?: number;
  /** 'nystrom-pcg', 'nystrom': the rank of the sketch (columns kept). */
  sketchRank?: number;
  /** 'nystrom' (approximate): a rigorous bound on the solve's relative error ‖x* − x̂‖/‖x̂‖, from its residual. */
  errorBound?: number;
  residual?: number;
  converged?: boolean;
  /**
   * Models with module layers (conv2d, …): how each parametric layer's block of the kernel was formed —
   * 'factored' ((B Bᵀ) ⊙ (A Aᵀ + 1), a linear layer) or 'materialized' (G_l G_lᵀ from the per-sample
   * gradients G_l [N·r, P_l], a module) — with its parameter count.
   */
  layers?: { index: number; name: string; form: 'factored' | 'materialized'; parameters: number }[];
  /**
   * true: the whole step ran in one native call (the backend's exactStep, ./exact_device.ts), with no
   * JavaScript between its stages; forward … update are then the native call's times of its stages.
   */
  fused?: boolean;
  /**
   * 'resident': that call ran on the GPU (the CUDA backend: one upload of θ, x, y and one download of n_θ),
   * and `upload` is the time to bring θ, x and y over.
   */
  device?: 'resident';
  upload?: number;
}

export interface ExactResult {
  /** n_θ [P]. */
  direction: Floats;
  /** L(θ) before any step. */
  loss: number;
  profile: StepProfile;
}

/**
 * Everything of one batch that does not depend on λ: the forward pass, the Fisher factors, the
 * backpropagated B's and the assembled kernel. solveExact() turns it into a direction for any λ (and
 * momentum) at the cost of one solve, which is what a rejected Levenberg–Marquardt step retries with.
 */
export interface ExactSystem extends SeededBatch {
  /** The calling function's name, for errors ('NaturalGradient.step'). */
  readonly fn: string;
  readonly model: Sequential;
  readonly trace: Trace;
  /** B per linear layer ([N·r, out], see outputJacobians). */
  readonly bs: readonly LayerFactor[];
  /** Batch size N, rank r of the output Fisher, M = N·r, P. */
  readonly n: number;
  readonly r: number;
  readonly m: number;
  readonly p: number;
  readonly space: 'kernel' | 'parameter';
  readonly assembly: Assembly;
  /** Kernel space: SᵀS [M, M]. Parameter space: S Sᵀ [P, P]. Not modified by the solves. Empty when iterative. */
  readonly kernel: Floats;
  /** Solved by conjugate gradients (./exact_cg.ts): the kernel was not formed. */
  readonly iterative: boolean;
  /** CG: the last solution, the start of a retry at another λ; the Nyström sketch of the kernel (λ-independent, made once). */
  readonly warm: { x: Float64Array | null; sketch?: NystromSketch };
  /** S [P, M] when it was materialised (dense assembly or parameter space). */
  readonly s: Floats | undefined;
  /** u [M] (L_i u_i = g_i): g_θ = (1/N) S u. */
  readonly u: Floats;
  /** S u [P] (parameter space only). */
  readonly su: Floats | undefined;
  /** L(θ). */
  readonly loss: number;
  /** Milliseconds spent on the forward pass, the backpropagation and the kernel. */
  readonly times: { forward: number; backprop: number; kernel: number };
}

/** SPRING's momentum term (see ./spring.ts): μ and the previous direction n_{k−1} [P]. */
export interface MomentumTerm {
  mu: number;
  previous: Floats;
}

export interface ExactSolution {
  /** n [P]. */
  direction: Floats;
  solver: StepProfile['solver'];
  rank: number | undefined;
  /** CG only (see StepProfile). */
  iterations?: number;
  sketchRank?: number;
  errorBound?: number;
  residual?: number;
  converged?: boolean;
  /** gᵀn = (1/N) uᵀ(Sᵀn), float64. */
  gn: number;
  /** nᵀF_θ n = (1/N) ‖Sᵀn‖², float64 (undamped Fisher). */
  nFn: number;
  /** Milliseconds in the solve, and in forming n from its coefficients. */
  times: { solve: number; update: number };
  /** The one-call step (./exact_device.ts): the mean loss at θ − eff·n, computed natively with the direction. */
  trial?: { eff: number; loss: number };
}

/** The linearisation of one batch at θ: forward pass, loss, Fisher factors, backpropagated B's. */
export interface Linearization extends SeededBatch {
  readonly trace: Trace;
  readonly bs: readonly LayerFactor[];
  readonly r: number;
  /** u [N·r] (L_i u_i = g_i). */
  readonly u: Floats;
  readonly loss: number;
  readonly times: { forward: number; backprop: number };
}
