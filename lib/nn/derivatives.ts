// Derivatives of a model's outputs with respect to its inputs — the value, the gradient and the
// Laplacian that physics-informed losses are written in — exact, by Taylor-mode forward propagation.
// Per sample, every layer's output h carries its gradient G = ∂h/∂x [w, d] and its Laplacian
// L = Δₓh = Σ_j ∂²h/∂x_j² [w]:
//
//   input:      h = x                G = I_d              L = 0
//   linear:     z = W h + b          G_z = W G            L_z = W L
//   activation: a = σ(z)             G_a = σ'(z) ⊙ G_z    L_a = σ'(z) ⊙ L_z + σ''(z) ⊙ Σ_j G_z[:, j]²
//
// (the chain rule to second order, with the d input directions summed as they go: one forward pass,
// no nested differentiation, no finite differences). Computed in float64 from θ and x as given; memory
// O(w·d) per sample, cost Σ_linear out·in·(d + 2) multiply-adds per sample.
import type { Floats } from '../util/floats';
import type { Structure } from './structure';

/** What model.derivatives() returns: η and its first and second derivatives in x, float64. */
export interface InputDerivatives {
  /** η [N, k]. */
  value: Float64Array;
  /** ∂η_j/∂x_c [N, k, d]: sample-major, then output, then input coordinate. */
  gradient: Float64Array;
  /** Δₓη_j = Σ_c ∂²η_j/∂x_c² [N, k]; null when `laplacian: false` was asked. */
  laplacian: Float64Array | null;
}

/**
 * The layer that keeps `model` from having a Laplacian (an activation without a second derivative, as
 * relu), with the reason, or null.
 */
export function notTwiceDifferentiable(model: Structure): string | null {
  for (let l = 0; l < model.layers.length; l++) {
    const layer = model.layers[l];
    if (layer.kind === 'activation' && layer.d2f === null)
      return `layers[${l}] is ${layer.name}, whose second derivative is not a function (a Dirac delta at its kink), so the Laplacian is not defined`;
  }
  return null;
}

/**
 * value [N, k], gradient [N, k, d] and (if `laplacian`) Laplacian [N, k] of the outputs with respect
 * to x [N, d], at parameters θ. The caller checks the arguments (Sequential.derivatives).
 */
export function inputDerivatives(model: Structure, theta: Floats, x: Floats, n: number, laplacian: boolean): InputDerivatives {
  const d = model.slots[0].layer.inFeatures;
  const k = model.outDim;
  let widest = d;
  for (const s of model.slots) widest = Math.max(widest, s.layer.outFeatures);
  // two sets of per-sample buffers, swapped by each linear layer
  let h = new Float64Array(widest);
  let g = new Float64Array(widest * d);
  let lap = new Float64Array(widest);
  let h2 = new Float64Array(widest);
  let g2 = new Float64Array(widest * d);
  let lap2 = new Float64Array(widest);
  const value = new Float64Array(n * k);
  const gradient = new Float64Array(n * k * d);
  const lapOut = laplacian ? new Float64Array(n * k) : null;
  for (let i = 0; i < n; i++) {
    // input: h = x_i, G = I, L = 0
    let w = d;
    g.fill(0, 0, d * d);
    for (let c = 0; c < d; c++) {
      h[c] = x[i * d + c];
      g[c * d + c] = 1;
      lap[c] = 0;
    }
    let s = 0;
    for (const layer of model.layers) {
      if (layer.kind === 'linear') {
        const { w: wt, b } = model.view(theta, model.slots[s++]);
        linearTaylor(wt, b, layer.inFeatures, layer.outFeatures, d, h, g, lap, h2, g2, lap2, laplacian);
        [h, h2] = [h2, h];
        [g, g2] = [g2, g];
        [lap, lap2] = [lap2, lap];
        w = layer.outFeatures;
      } else {
        activationTaylor(layer.f, layer.df, layer.d2f, w, d, h, g, lap, laplacian);
      }
    }
    for (let j = 0; j < k; j++) {
      value[i * k + j] = h[j];
      if (lapOut) lapOut[i * k + j] = lap[j];
    }
    gradient.set(g.subarray(0, k * d), i * k * d);
  }
  return { value, gradient, laplacian: lapOut };
}

/** z = W h + b, G_z = W G, L_z = W L for one sample (W [out, in] row-major). */
function linearTaylor(
  wt: Floats,
  b: Floats,
  inF: number,
  outF: number,
  d: number,
  h: Float64Array,
  g: Float64Array,
  lap: Float64Array,
  hOut: Float64Array,
  gOut: Float64Array,
  lapOut: Float64Array,
  laplacian: boolean
): void {
  gOut.fill(0, 0, outF * d);
  for (let o = 0; o < outF; o++) {
    let z = b[o];
    let l = 0;
    const row = o * inF;
    const go = o * d;
    for (let c = 0; c < inF; c++) {
      const wc = wt[row + c];
      z += wc * h[c];
      l += wc * lap[c];
      const gc = c * d;
      for (let j = 0; j < d; j++) gOut[go + j] += wc * g[gc + j];
    }
    hOut[o] = z;
    lapOut[o] = laplacian ? l : 0;
  }
}

/** a = σ(z), G ← σ'(z) ⊙ G, L ← σ'(z) ⊙ L + σ''(z) ⊙ Σ_j G[:, j]² for one sample, in place. */
function activationTaylor(
  f: (z: number) => number,
  df: (z: number) => number,
  d2f: ((z: number) => number) | null,
  w: number,
  d: number,
  h: Float64Array,
  g: Float64Array,
  lap: Float64Array,
  laplacian: boolean
): void {
  for (let c = 0; c < w; c++) {
    const z = h[c];
    const s1 = df(z);
    const gc = c * d;
    if (laplacian) {
      let sq = 0;
      for (let j = 0; j < d; j++) sq += g[gc + j] * g[gc + j];
      lap[c] = s1 * lap[c] + (d2f as (z: number) => number)(z) * sq;
    }
    for (let j = 0; j < d; j++) g[gc + j] *= s1;
    h[c] = f(z);
  }
}
