// The settings of the exact solve (resolved from NaturalGradient's options) and the buffers it keeps.
import type { Precision } from '../linalg';

/** 'auto': parameter space (P × P) when P < N·r, else kernel space (N·r × N·r). Same answer. */
export type Space = 'auto' | 'kernel' | 'parameter';
/** Kernel-space assembly: 'layer' never forms the Jacobian; 'dense' forms S [P, N·r], then SᵀS. */
export type Assembly = 'layer' | 'dense';

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
}

/**
 * Buffers kept between calls. The kernel (N·r)² floats is reused when the size repeats, which saves
 * the page faults of a fresh allocation (~0.4 ms per MiB here: 8 ms at N·r = 2304) on every step.
 */
export interface Workspace {
  kernel: Float32Array | null;
}
