// Output families and their batch forms. Shapes: η [N, k] (the model's dtype, one row per sample);
// y [N, targetWidth] of the same dtype; everything per sample is computed in float64.
import { bernoulli } from './bernoulli';
import { categorical } from './categorical';
import type { LossName, OutputFamily } from './family';
import { gaussian } from './gaussian';
import { checkDtype, type Dtype, type Floats, zeros } from '../util/floats';
import { describe } from '../util/validate';

export type { LossName, OutputFamily } from './family';
export { gaussian, categorical, bernoulli };

const FAMILIES: Record<LossName, OutputFamily> = { gaussian, categorical, bernoulli };

/** The family called `name`; RangeError naming option `what` otherwise. */
export function distribution(name: unknown, fn = 'distribution', what = "'loss'"): OutputFamily {
  if (typeof name !== 'string' || !Object.hasOwn(FAMILIES, name))
    throw new RangeError(`${fn}: ${what} must be 'gaussian', 'categorical' or 'bernoulli', got ${describe(name)}`);
  return FAMILIES[name as LossName];
}

/** Checks y [N, targetWidth]: an array of the model's dtype (default float32) of the right length whose entries are valid targets. */
export function checkTargets(fam: OutputFamily, fn: string, y: unknown, n: number, k: number, dtype: Dtype = 'float32'): asserts y is Floats {
  checkDtype(fn, 'y', y, dtype);
  const tw = fam.targetWidth(k);
  if (y.length !== n * tw)
    throw new RangeError(
      `${fn}: 'y' must have length ${n * tw} (${fam.name}: ${tw === 1 ? 'one target per sample' : `batch × outDim = ${n} × ${k}`}), got ${y.length}`
    );
  for (let i = 0; i < n; i++) fam.checkTarget(fn, y, i, k);
}

/** Calls f(i, η_i, y_i) for every sample, η_i widened to float64. */
function eachSample(fam: OutputFamily, eta: Floats, y: Floats, n: number, k: number, f: (i: number, e: Float64Array, yi: Floats) => void): void {
  const tw = fam.targetWidth(k);
  const e = new Float64Array(k);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < k; j++) e[j] = eta[i * k + j];
    f(i, e, y.subarray(i * tw, (i + 1) * tw));
  }
}

/** L = (1/N) Σ ℓ_i. */
export function meanLoss(fam: OutputFamily, eta: Floats, y: Floats, n: number, k: number): number {
  let s = 0;
  eachSample(fam, eta, y, n, k, (_i, e, yi) => (s += fam.loss(e, yi)));
  return s / n;
}

/** g [N, k]: g_i = ∇_η ℓ_i. */
export function gradients(fam: OutputFamily, eta: Floats, y: Floats, n: number, k: number): Float64Array {
  const g = new Float64Array(n * k);
  eachSample(fam, eta, y, n, k, (i, e, yi) => fam.gradient(e, yi, g.subarray(i * k, (i + 1) * k)));
  return g;
}

export interface FisherFactors {
  /** Columns of each L_i. */
  r: number;
  /** [N·r, k]: row (i, m) is column m of L_i — the seeds whose backpropagation gives S = J·blockdiag(L_i). */
  seeds: Floats;
  /** [N·r]: u_i with L_i u_i = g_i. */
  u: Floats;
}

/**
 * Per-sample Fisher factors of the batch, rounded to η's dtype for the kernels.
 * Throws RangeError (code ERR_NON_FINITE) if u overflows it, which in float32 needs a
 * logit gap beyond ~177 (u ~ 1/√p_y).
 */
export function fisherFactors(fam: OutputFamily, fn: string, eta: Floats, y: Floats, n: number, k: number): FisherFactors {
  const r = fam.rank(k);
  const dtype: Dtype = eta instanceof Float64Array ? 'float64' : 'float32';
  const seeds = zeros(dtype, n * r * k);
  const u = zeros(dtype, n * r);
  const lt = new Float64Array(r * k);
  const ui = new Float64Array(r);
  eachSample(fam, eta, y, n, k, (i, e, yi) => {
    fam.factor(e, yi, lt, ui);
    seeds.set(lt, i * r * k);
    for (let m = 0; m < r; m++) {
      const v = (u[i * r + m] = ui[m]);
      if (!Number.isFinite(v))
        throw Object.assign(
          new RangeError(
            `${fn}: sample ${i}: the natural-gradient right-hand side overflows ${dtype} (its observed outcome has probability ~0 under the model)`
          ),
          { code: 'ERR_NON_FINITE' }
        );
    }
  });
  return { r, seeds, u };
}
