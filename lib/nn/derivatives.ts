// Derivatives of a model's outputs with respect to its inputs — the value, the gradient and the
// Laplacian that physics-informed losses are written in — exact, by Taylor-mode forward propagation.
// Each sample carries R rows through the network, over a layer's units: its value h, the d
// directional derivatives G_j = ∂h/∂x_j, and either the Laplacian L = Δh = Σ_j ∂²h/∂x_j² (mode
// 'laplacian', R = d + 2) or the d diagonal second derivatives D_j = ∂²h/∂x_j² (mode 'diagonal',
// R = 2d + 1: for residuals such as Burgers' that need u_xx alone):
//
//   input:      h = x                G_j = e_j            L = 0                          D_j = 0
//   linear:     z = W h + b          G_z,j = W G_j        L_z = W L                      D_z,j = W D_j
//   activation: a = σ(z)             G_a,j = σ' ⊙ G_z,j   L_a = σ' ⊙ L_z + σ'' ⊙ Σ_j G_z,j²   D_a,j = σ' ⊙ D_z,j + σ'' ⊙ G_z,j²
//
// (the chain rule to second order, with the d input directions summed as they go: one forward pass,
// no nested differentiation, no finite differences). A linear layer is one gemm over all N·R rows
// (Z = X Wᵀ, then + b on the value rows); an activation is elementwise per sample. In float64
// (OpenBLAS's dgemm) from θ and x as given; memory N·R·width per layer kept (for the θ-derivatives of
// ./derivative_jacobian.ts).
import { gemm } from '../linalg';
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
  const other = noInputDerivatives(model);
  if (other) return other;
  for (let l = 0; l < model.layers.length; l++) {
    const layer = model.layers[l];
    if (layer.kind === 'activation' && layer.d2f === null)
      return `layers[${l}] is ${layer.name}, whose second derivative is not a function (a Dirac delta at its kink), so the Laplacian is not defined`;
  }
  return null;
}

/** The layer for which input derivatives are not implemented (a module: conv2d, a pool, …), with the reason, or null. */
export function noInputDerivatives(model: Structure): string | null {
  const m = model.modules[0];
  return m ? `layers[${m.index}] is ${m.layer.name}: input derivatives are implemented for linear layers and smooth activations only` : null;
}

/** Which second derivatives the Taylor pass carries: their sum (the Laplacian) or each of the d. */
export type SecondOrder = 'laplacian' | 'diagonal';

/** The Taylor rows of one forward pass: stages[l] is the input of layers[l], [N·R, width] (stages[L]: the output). */
export interface TaylorPass {
  /** Rows per sample: value, d gradient rows, then 1 Laplacian row ('laplacian') or d second-derivative rows ('diagonal'). */
  readonly rows: number;
  readonly second: SecondOrder;
  readonly stages: Float64Array[];
  /** Per activation layer l: σ', σ'', σ''' at its N·width inputs, interleaved [N·width, 3] (for the backward pass). */
  readonly derivs: (Float64Array | null)[];
  /** θ in float64 (the gemms' operand). */
  readonly theta: Float64Array;
}

/**
 * The Taylor-mode forward pass of x [N, d] at θ (laplacian false: the second-derivative rows stay 0,
 * for models without σ''; second: which of them, default the Laplacian).
 */
export function taylorForward(model: Structure, theta: Floats, x: Floats, n: number, laplacian: boolean, second: SecondOrder = 'laplacian'): TaylorPass {
  const other = noInputDerivatives(model);
  if (other) throw new RangeError(other);
  const d = model.slots[0].layer.inFeatures;
  const diag = second === 'diagonal';
  const R = diag ? 2 * d + 1 : d + 2;
  const th = theta instanceof Float64Array ? theta : Float64Array.from(theta);
  const x64 = x instanceof Float64Array ? x : Float64Array.from(x);
  let h: Float64Array = new Float64Array(n * R * d);
  for (let i = 0; i < n; i++) {
    const base = i * R * d;
    for (let c = 0; c < d; c++) {
      h[base + c] = x64[i * d + c]; // value row
      h[base + (1 + c) * d + c] = 1; // gradient row j = c: e_c
    }
  }
  const stages = [h];
  const derivs: (Float64Array | null)[] = [];
  const sv = new Float64Array(4);
  let width = d;
  let s = 0;
  for (const layer of model.layers) {
    if (layer.kind === 'linear') {
      const slot = model.slots[s++];
      const { inFeatures: inF, outFeatures: outF } = layer;
      const w = th.subarray(slot.wOffset, slot.wOffset + outF * inF);
      // every row times Wᵀ; on the input itself only the value rows need the gemm (G_z,j = W e_j, the
      // column j of W; the second-derivative rows stay 0): a (d+2)-th of the flops, and OpenBLAS is
      // slow at an inner dimension as small as d
      const z = stages.length === 1 ? inputLinear(x64, w, n, R, inF, outF) : gemm(h, w, n * R, outF, inF, { transB: true });
      for (let i = 0; i < n; i++) {
        const row = i * R * outF; // the value row gets + b
        for (let o = 0; o < outF; o++) z[row + o] += th[slot.bOffset + o];
      }
      h = z;
      width = outF;
      derivs.push(null);
    } else if (layer.kind === 'activation') {
      const a = new Float64Array(h.length);
      const ds = new Float64Array(n * width * 3);
      for (let i = 0; i < n; i++) {
        const base = i * R * width;
        const lapRow = base + (R - 1) * width;
        for (let c = 0; c < width; c++) {
          layer.series(h[base + c], sv);
          const s1 = sv[1];
          const s2 = laplacian ? sv[2] : 0;
          const e = (i * width + c) * 3;
          ds[e] = s1;
          ds[e + 1] = s2;
          ds[e + 2] = laplacian ? sv[3] : 0;
          let q = 0;
          for (let j = 1; j <= d; j++) {
            const g = h[base + j * width + c];
            q += g * g;
            a[base + j * width + c] = s1 * g;
            if (diag) {
              const dj = base + (d + j) * width + c; // D_j's row
              a[dj] = s1 * h[dj] + s2 * g * g;
            }
          }
          a[base + c] = sv[0];
          if (!diag) a[lapRow + c] = s1 * h[lapRow + c] + s2 * q;
        }
      }
      h = a;
      derivs.push(ds);
    }
    stages.push(h);
  }
  return { rows: R, second, stages, derivs, theta: th };
}

/** A linear layer's Taylor rows on the input x [n, d]: value rows x_i Wᵀ (one gemm), gradient rows j the column j of W, the rest 0 (b is the caller's). */
function inputLinear(x: Float64Array, w: Float64Array, n: number, R: number, d: number, outF: number): Float64Array {
  const v = gemm(x, w, n, outF, d, { transB: true });
  const z = new Float64Array(n * R * outF);
  for (let i = 0; i < n; i++) {
    const base = i * R * outF;
    z.set(v.subarray(i * outF, (i + 1) * outF), base);
    for (let j = 0; j < d; j++) {
      const g = base + (1 + j) * outF;
      for (let o = 0; o < outF; o++) z[g + o] = w[o * d + j];
    }
  }
  return z;
}

/**
 * value [N, k], gradient [N, k, d] and (if `laplacian`) Laplacian [N, k] of the outputs with respect
 * to x [N, d], at parameters θ. The caller checks the arguments (Sequential.derivatives).
 */
export function inputDerivatives(model: Structure, theta: Floats, x: Floats, n: number, laplacian: boolean): InputDerivatives {
  const d = model.slots[0].layer.inFeatures;
  const k = model.outDim;
  const { rows: R, stages } = taylorForward(model, theta, x, n, laplacian);
  const out = stages[stages.length - 1]; // [N·R, k]
  const value = new Float64Array(n * k);
  const gradient = new Float64Array(n * k * d);
  const lap = laplacian ? new Float64Array(n * k) : null;
  for (let i = 0; i < n; i++) {
    const base = i * R * k;
    for (let o = 0; o < k; o++) {
      value[i * k + o] = out[base + o];
      for (let j = 0; j < d; j++) gradient[(i * k + o) * d + j] = out[base + (1 + j) * k + o];
      if (lap) lap[i * k + o] = out[base + (R - 1) * k + o];
    }
  }
  return { value, gradient, laplacian: lap };
}
