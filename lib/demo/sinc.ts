// Built-in regression data: y = sin(10x)/(10x) on [−1, 1] — smooth, but with enough
// curvature spread that first-order methods crawl on it.
import { type Dtype, type Floats, zeros } from '../util/floats';

export interface RegressionData {
  x: Floats; // [n, 1]
  y: Floats; // [n, 1]
  n: number;
}

/** n evenly spaced samples of sinc(10x) on [−1, 1], in float32 (default) or float64. */
export function sincData(n = 200, dtype: Dtype = 'float32'): RegressionData {
  const x = zeros(dtype, n),
    y = zeros(dtype, n);
  for (let i = 0; i < n; i++) {
    const t = n === 1 ? 0 : -1 + (2 * i) / (n - 1);
    x[i] = t;
    y[i] = t === 0 ? 1 : Math.sin(10 * t) / (10 * t);
  }
  return { x, y, n };
}
