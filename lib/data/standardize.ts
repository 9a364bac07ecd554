// Input standardization: x' = (x − mean) / std per column, with the statistics of the training rows
// (std the population standard deviation; a constant column has std 1, so it is only centred). The
// statistics travel with a model bundle, which applies them to raw inputs before predicting.

export interface Standardizer {
  mean: number[];
  std: number[];
}

/** The column statistics of x [n, d] (float64 sums). */
export function fitStandardizer(x: Floats, n: number, d: number): Standardizer {
  const mean = new Float64Array(d),
    sq = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let c = 0; c < d; c++) mean[c] += x[i * d + c];
  for (let c = 0; c < d; c++) mean[c] /= n;
  for (let i = 0; i < n; i++) for (let c = 0; c < d; c++) sq[c] += (x[i * d + c] - mean[c]) ** 2;
  return { mean: Array.from(mean), std: Array.from(sq, (s) => Math.sqrt(s / n) || 1) };
}

/** (x − mean) / std for every row of x [n, d], into `out` (default: a new array). */
export function applyStandardizer<T extends Floats>(s: Standardizer, x: T, n: number, d: number, out: T = zerosLike(x, n * d)): T {
  if (s.mean.length !== d || s.std.length !== d) throw new RangeError(`standardize: the statistics have ${s.mean.length} columns, the inputs ${d}`);
  for (let i = 0; i < n; i++) for (let c = 0; c < d; c++) out[i * d + c] = (x[i * d + c] - s.mean[c]) / s.std[c];
  return out;
}
import { type Floats, zerosLike } from '../util/floats';
