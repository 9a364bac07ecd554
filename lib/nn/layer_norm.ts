// Layer normalisation over the last axis (Ba, Kiros & Hinton 2016), per sample and per position:
//
//   μ = mean_f x_f,  σ² = mean_f (x_f − μ)²  (biased),  x̂_f = (x_f − μ)/√(σ² + eps),  y_f = γ_f x̂_f + β_f
//
// Parameters γ [features] (starting at 1), then β [features] (starting at 0). Backward, for a seed row s
// of sample i (every position p of the last axis's groups):
//
//   ∂(s·y)/∂γ_f = Σ_p s_pf x̂_pf,   ∂(s·y)/∂β_f = Σ_p s_pf,
//   ∂(s·y)/∂x_pf = (g_pf − mean_f g_p − x̂_pf · mean_f (g_p ⊙ x̂_p)) / √(σ_p² + eps),   g = s ⊙ γ.
//
// Per sample, so samples do not interact (unlike BatchNorm): the natural gradient stays defined.
// Statistics in float64.
import { zerosLike } from '../util/floats';
import { checkCount, checkOptions, describe } from '../util/validate';
import type { BoundModule, ModuleLayer } from './module';
import { sizeOf } from './module';

export interface LayerNormOptions {
  /** Added to σ² before the square root. Default 1e-5. */
  eps?: number;
}

/** layerNorm(features, { eps = 1e-5 }): normalises the last axis (of length `features`) of each sample, then scales by γ and shifts by β. */
export function layerNorm(features: number, options: LayerNormOptions = {}): ModuleLayer {
  const fn = 'layerNorm';
  const f = checkCount(fn, 'features', features);
  checkOptions(fn, options, ['eps']);
  const eps = options.eps ?? 1e-5;
  if (typeof eps !== 'number' || !(eps > 0) || !Number.isFinite(eps))
    throw new RangeError(`${fn}: option 'eps' must be a finite number > 0, got ${describe(eps)}`);
  const name = `layerNorm(${f})`;
  return Object.freeze({
    kind: 'module' as const,
    name,
    json: { type: 'layerNorm', features: f, eps },
    bind: (inShape: readonly number[]) => bindLayerNorm(name, f, eps, inShape),
  });
}

function bindLayerNorm(name: string, f: number, eps: number, inShape: readonly number[]): BoundModule {
  if (inShape[inShape.length - 1] !== f) throw new RangeError(`${name} normalises a last axis of ${f}, but its input has shape [${inShape.join(', ')}]`);
  const size = sizeOf(inShape);
  const groups = size / f; // positions per sample
  return {
    outShape: inShape.slice(),
    numParameters: 2 * f,
    init(theta) {
      theta.fill(1, 0, f);
      theta.fill(0, f, 2 * f);
    },
    forward(theta, x, n) {
      const y = zerosLike(x, n * size);
      const xhat = new Float64Array(n * size);
      const rstd = new Float64Array(n * groups);
      for (let g = 0; g < n * groups; g++) {
        const o = g * f;
        let mu = 0;
        for (let j = 0; j < f; j++) mu += x[o + j];
        mu /= f;
        let v = 0;
        for (let j = 0; j < f; j++) v += (x[o + j] - mu) ** 2;
        const rs = 1 / Math.sqrt(v / f + eps);
        rstd[g] = rs;
        for (let j = 0; j < f; j++) {
          const h = (x[o + j] - mu) * rs;
          xhat[o + j] = h;
          y[o + j] = theta[j] * h + theta[f + j];
        }
      }
      return { y, cache: { xhat, rstd } };
    },
    backward(theta, _x, _y, cache, dy, n, r, needInput) {
      const { xhat, rstd } = cache as { xhat: Float64Array; rstd: Float64Array };
      const rows = n * r;
      const grads = zerosLike(dy, rows * 2 * f);
      const dx = needInput ? zerosLike(dy, rows * size) : null;
      const gv = new Float64Array(f);
      for (let q = 0; q < rows; q++) {
        const i = Math.floor(q / r);
        const gq = q * 2 * f;
        for (let p = 0; p < groups; p++) {
          const o = q * size + p * f; // this row's seeds at position p
          const xo = (i * groups + p) * f; // the sample's x̂ at position p
          let m1 = 0;
          let m2 = 0;
          for (let j = 0; j < f; j++) {
            const s = dy[o + j];
            grads[gq + j] += s * xhat[xo + j];
            grads[gq + f + j] += s;
            gv[j] = s * theta[j];
            m1 += gv[j];
            m2 += gv[j] * xhat[xo + j];
          }
          if (!dx) continue;
          m1 /= f;
          m2 /= f;
          const rs = rstd[i * groups + p];
          for (let j = 0; j < f; j++) dx[o + j] = (gv[j] - m1 - xhat[xo + j] * m2) * rs;
        }
      }
      return { dx, grads };
    },
  };
}
