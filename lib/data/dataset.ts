// A data set as every training loop, evaluation and loader of natgrad passes it: row-major inputs and
// targets of n samples, of the model's dtype (Float32Array, or Float64Array for a float64 model).
import type { Floats } from '../util/floats';

export interface Dataset {
  /** [n, inDim] row-major. */
  x: Floats;
  /** [n, targetWidth]: class indices (categorical), 0/1 (bernoulli) or values (gaussian); the same type as x. */
  y: Floats;
  n: number;
  inDim: number;
}

/** A float32 Dataset: what the CSV, MNIST and built-in loaders make (a float64 model takes Float64Array data). */
export interface Dataset32 extends Dataset {
  x: Float32Array;
  y: Float32Array;
}
