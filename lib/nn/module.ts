// A layer with its own forward pass and the backward pass of a batch of seeds: the interface behind
// conv2d, the pools and flatten — and the one a user implements for a layer of their own. natgrad
// then computes the exact natural gradient through it with no more code from the user: the layer's
// per-sample parameter gradients are rows of S (docs/design.md §1), its block of the kernel is
// G_l G_lᵀ, and the seeds it passes to its input carry the chain rule on.
//
// The contract, per sample i with input x_i (the row-major flattening of inShape) and output y_i:
//   forward:   y_i = f(x_i; θ_l)
//   backward:  for seed rows s_(i,m) ∈ R^{outSize} (m = 0 … r − 1, sample-major: row i·r + m),
//                dx_(i,m) = s_(i,m)ᵀ ∂y_i/∂x_i      [N·r, inSize]   (only when asked: needInput)
//                g_(i,m)  = s_(i,m)ᵀ ∂y_i/∂θ_l      [N·r, numParameters]
// Samples must not interact (no batch statistics, no randomness): the natural gradient is built from
// per-sample Jacobians (BatchNorm and dropout are refused for that reason: ./refused.ts). Arrays are of the model's
// dtype (Float32Array or Float64Array); the layer allocates its outputs with zerosLike().
import type { Floats } from '../util/floats';

/**
 * A module's per-row parameter gradients in a factored form, for layers whose rows are sparse or
 * structured (embedding: each row lives in one row of its [vocab, dim] table): what the exact step
 * needs of G [M, P_l] (M = N·r), without forming it.
 */
export interface FactoredRows {
  /** kernel [M, M] += G Gᵀ. */
  addGram(kernel: Floats): void;
  /** out [P_l] = Gᵀ c for c [M]. */
  contract(c: ArrayLike<number>, out: Floats): void;
  /** out [M] += G v for v [P_l]. */
  addTimes(v: Floats, out: Float64Array): void;
  /** Writes rows q0 … q1 − 1 of G as columns of S: out[(offset + p)·cols + (q − q0)] = G[q, p] (where G is nonzero; the rest untouched). */
  scatter(out: Floats, offset: number, cols: number, q0: number, q1: number): void;
}

/** What a parametric layer's backward pass leaves for the kernel: B (linear), G or its factored form (modules), null (none). */
export type LayerFactor = Floats | FactoredRows | null;

/** A factor in factored form (not an array). */
export function isFactored(f: LayerFactor): f is FactoredRows {
  return f !== null && !(f instanceof Float32Array || f instanceof Float64Array);
}

/** A module bound to its input shape: what the model calls. */
export interface BoundModule {
  /** The per-sample output shape. */
  readonly outShape: readonly number[];
  /** P_l, the layer's parameters (0 for a layer without). */
  readonly numParameters: number;
  /** 'factored': backward returns its grads as FactoredRows (embedding); default 'materialized' (G [N·r, P_l]). */
  readonly form?: 'factored' | 'materialized';
  /** A factored form's scratch, in elements, while its block of the kernel is formed for n samples of r rows (for the step's memory check). */
  workElements?(n: number, r: number): number;
  /** The layer's initial parameters written into theta [numParameters], drawing from normal() (standard normal). */
  init(theta: Floats, normal: () => number): void;
  /** y [n, outSize] for x [n, inSize] at θ_l [numParameters]; `cache` (anything) comes back to backward(). */
  forward(theta: Floats, x: Floats, n: number): { y: Floats; cache?: unknown };
  /**
   * The backward pass of seed rows dy [n·r, outSize] at the forward pass's x, y and cache: dx [n·r,
   * inSize] when needInput (else null), and the per-row parameter gradients grads [n·r, numParameters]
   * (null when numParameters is 0; FactoredRows for a layer of form 'factored').
   */
  backward(
    theta: Floats,
    x: Floats,
    y: Floats,
    cache: unknown,
    dy: Floats,
    n: number,
    r: number,
    needInput: boolean
  ): { dx: Floats | null; grads: Floats | FactoredRows | null };
}

/** A layer of this kind before it knows its input shape: sequential() binds it. */
export interface ModuleLayer {
  readonly kind: 'module';
  /** A name for messages and `profile` (e.g. 'conv2d'). */
  readonly name: string;
  /** Binds the layer to a per-sample input shape; throws RangeError (naming the shape) if it does not suit the layer. */
  bind(inShape: readonly number[]): BoundModule;
  /** How toJSON() writes the layer (built-in layers); a user's layer without it makes toJSON() throw. */
  readonly json?: { type: string; [key: string]: unknown };
}

/** The number of values of a shape. */
export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}
