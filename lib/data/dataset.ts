// A data set as every training loop, evaluation and loader of natgrad passes it: row-major inputs and
// targets of n samples.

export interface Dataset {
  /** [n, inDim] row-major. */
  x: Float32Array;
  /** [n, targetWidth]: class indices (categorical), 0/1 (bernoulli) or values (gaussian). */
  y: Float32Array;
  n: number;
  inDim: number;
}
