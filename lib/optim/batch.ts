// The batch one step or direction works on: what assembleExact, exactDirection, perSampleDirection,
// chainDirection and linearizeExact all take, as one object instead of seven positional arguments.
import type { Floats } from '../util/floats';
import type { OutputFamily } from '../distributions';
import type { Sequential } from '../nn/sequential';

export interface StepBatch {
  /** The calling function's name, for errors ('NaturalGradient.step'). */
  readonly fn: string;
  readonly model: Sequential;
  /** The parameters θ to linearise at [P], laid out like model.params (a trial may differ from them). */
  readonly theta: Floats;
  readonly family: OutputFamily;
  /** Inputs x [N, inDim]. */
  readonly x: Floats;
  /** Targets y [N, targetWidth] (see the family). */
  readonly y: Floats;
  /** The batch size N. */
  readonly n: number;
}
