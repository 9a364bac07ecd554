// Gaussian with mean η and unit covariance: y ∈ R^k.
//   ℓ = ½‖y − η‖²  (the constant ½k·log 2π is dropped),   g = η − y,   F = I,
// so L = I (r = k) and u = g.
import type { Floats } from '../util/floats';
import type { OutputFamily } from './family';
import { checkCount } from '../util/validate';

export const gaussian: OutputFamily = Object.freeze({
  name: 'gaussian' as const,
  targetWidth: (k: number) => k,
  checkOutputs(fn: string, what: string, k: number) {
    checkCount(fn, what, k);
  },
  checkTarget(fn: string, y: Floats, i: number, k: number) {
    for (let j = 0; j < k; j++) {
      const v = y[i * k + j];
      if (!Number.isFinite(v)) throw new RangeError(`${fn}: 'y[${i * k + j}]' is ${v}; gaussian targets must be finite`);
    }
  },
  rank: (k: number) => k,
  mean(eta: Float64Array, out: Float64Array) {
    out.set(eta); // μ = η
  },
  loss(eta: Float64Array, y: Floats): number {
    let s = 0;
    for (let j = 0; j < eta.length; j++) s += (y[j] - eta[j]) ** 2;
    return 0.5 * s;
  },
  gradient(eta: Float64Array, y: Floats, out: Float64Array): void {
    for (let j = 0; j < eta.length; j++) out[j] = eta[j] - y[j];
  },
  fisher(eta: Float64Array, out: Float64Array): void {
    const k = eta.length;
    out.fill(0);
    for (let j = 0; j < k; j++) out[j * k + j] = 1;
  },
  factor(eta: Float64Array, y: Floats, lt: Float64Array, u: Float64Array): void {
    const k = eta.length;
    lt.fill(0);
    for (let j = 0; j < k; j++) {
      lt[j * k + j] = 1; // L = I
      u[j] = eta[j] - y[j]; // u = g
    }
  },
});
