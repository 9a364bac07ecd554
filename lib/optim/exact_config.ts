// The settings of the exact solve (resolved from NaturalGradient's options) and the buffers it keeps.
import type { Floats } from '../util/floats';
import type { Precision } from '../linalg';

/** 'auto': parameter space (P × P) when P < N·r, else kernel space (N·r × N·r). Same answer. */
export type Space = 'auto' | 'kernel' | 'parameter';
/** Kernel-space assembly: 'layer' never forms the Jacobian; 'dense' forms S [P, N·r], then SᵀS. */
export type Assembly = 'layer' | 'dense';
/**
 * How the damped system is solved. 'cholesky': directly — the kernel formed and factored (at λ = 0 the
 * pseudo-inverse). 'cg': matrix-free conjugate gradients — the kernel is never formed; each iteration
 * is one product S(Sᵀv) or Sᵀ(S v) from the layer factors, O(N·P); needs λ > 0. 'nystrom-pcg': CG
 * preconditioned by a randomized rank-`sketchRank` Nyström approximation of the kernel (./nystrom.ts), for
 * small λ where plain CG needs many iterations. 'nystrom': the sketched solve itself, (Â + NλI)⁻¹ —
 * approximate, with a rigorous bound on its error in the profile (errorBound). 'auto': direct when its kernel and factor fit in the
 * memory available and the 32-bit BLAS limits, else CG (with λ > 0).
 */
export type Solver = 'auto' | 'cholesky' | 'cg' | 'nystrom-pcg' | 'nystrom';

export interface ExactConfig {
  /** λ ≥ 0. */
  damping: number;
  precision: Precision;
  /** Relative eigenvalue cutoff of the λ = 0 pseudo-inverse; undefined → size·ε₃₂ (ε₃₂ = 2⁻²³; the backend's default, native/policy.h). */
  rcond: number | undefined;
  space: Space;
  assembly: Assembly;
  /** Cap on the bytes one step may allocate (with NATGRAD_MAX_MEMORY / setMemoryLimit(): the smaller wins). */
  maxMemory?: number;
  solver: Solver;
  /**
   * CG: stop when the recurrence's relative residual reaches this. The true residual (in the profile) cannot
   * go below the float32 rounding of the products, about √N·6e-8 (1e-5 at N = 46k samples).
   */
  tolerance: number;
  /** CG: at most this many iterations. */
  maxIterations: number;
  /** 'nystrom-pcg': the rank ℓ of the sketch (ℓ products of the kernel, once per batch). */
  sketchRank: number;
  /** Residual losses, parameter space: the Gramian averaged over steps, G ← β·G₋ + (1 − β)·G (0: none). */
  gramianAverage: number;
}

/** Floats of S in one chunk of parameter-space assembly: 16 Mi (64 MiB), so S Sᵀ needs O(P² + 64 MiB), not P·N·r floats. */
export const S_CHUNK_FLOATS = 1 << 24;

/**
 * Buffers kept between calls. The kernel (N·r)² floats is reused when the size repeats, which saves
 * the page faults of a fresh allocation (~0.4 ms per MiB here: 8 ms at N·r = 2304) on every step.
 */
export interface Workspace {
  kernel: Floats | null;
  /** Iterations of the last CG solve, and the λ it solved at: solver 'auto's estimate of the next one's cost (./exact_size.ts). */
  cgIterations?: number;
  cgDamping?: number;
  /** The last step's (averaged) Gramian, for gramianAverage. */
  gramian?: Floats;
}
