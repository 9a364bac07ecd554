// What the Jacobian code needs of a model: its layers, where each linear layer's and each module's
// parameters sit in θ, and the activations of a forward pass. Sequential implements it; lib/nn/jacobian.ts depends on this
// file only, so the model and its Jacobians do not import each other.
import type { Floats } from '../util/floats';
import type { Layer, LinearLayer } from './layers';
import type { BoundModule, ModuleLayer } from './module';

/** Where a linear layer's parameters sit in θ. */
export interface LinearSlot {
  /** Index in `layers`. */
  readonly index: number;
  readonly layer: LinearLayer;
  /** Offset of W [out, in] in θ; b [out] follows at wOffset + out·in. */
  readonly wOffset: number;
  readonly bOffset: number;
}

/** Where a module layer (./module.ts) sits: bound to its input shape, its parameters at θ[offset … offset + size). */
export interface ModuleSlot {
  /** Index in `layers`. */
  readonly index: number;
  readonly layer: ModuleLayer;
  readonly bound: BoundModule;
  /** The per-sample input shape it was bound to. */
  readonly inShape: readonly number[];
  readonly offset: number;
  readonly size: number;
}

/**
 * The activations of one forward pass: inputs[l] is the input of layers[l]
 * ([N, width]); inputs[layers.length] is η [N, outDim].
 */
export interface Trace {
  readonly n: number;
  readonly inputs: readonly Floats[];
  readonly eta: Floats;
  /** caches[l]: what module layer l's forward pass kept for its backward pass. */
  readonly caches?: readonly unknown[];
}

/** The layer structure of a model, as the Jacobian code reads it. */
export interface Structure {
  readonly layers: readonly Layer[];
  /** Output width k = dim η. */
  readonly outDim: number;
  /** P, the number of parameters. */
  readonly numParameters: number;
  /** The linear layers and their place in θ. */
  readonly slots: readonly LinearSlot[];
  /** The module layers and their place in θ. */
  readonly modules: readonly ModuleSlot[];
  /** Views of one linear layer's W [out, in] and b [out] inside θ. */
  view<T extends Floats>(theta: T, slot: LinearSlot): { w: T; b: T };
}
