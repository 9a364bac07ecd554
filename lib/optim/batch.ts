// The batch one step or direction works on: what assembleExact, exactDirection, perSampleDirection,
// chainDirection and linearizeExact all take, as one object instead of seven positional arguments.
import type { OutputFamily } from '../distributions';
import type { Sequential } from '../nn/sequential';

export interface StepBatch {
  /** The calling function's name, for errors ('NaturalGradient.step'). */
  readonly fn: string;
  readonly model: Sequential;
  /** The parameters θ to linearise at [P], laid out like model.params (a trial may differ from them). */
  readonly theta: Float32Array;
  readonly family: OutputFamily;
  /** Inputs x [N, inDim]. */
  readonly x: Float32Array;
  /** Targets y [N, targetWidth] (see the family). */
  readonly y: Float32Array;
  /** The batch size N. */
  readonly n: number;
}
