// Float64 twins of everything the report compares, for a natgrad Sequential model whose parameters
// are widened to float64. Independent of the float32 library paths (no native calls): the dense
// per-sample Jacobians G_i, the exact natural gradient n_θ = (F_θ + λI)⁺ g_θ, the proposal's per-sample and
// stacked formulas, and the proposal's chain rule op by op. Sizes are the report's: P of a few hundred,
// N·k of a few dozen.
//
// Layouts: θ [P] as in the model (per linear layer W [out, in] row-major, then b [out]);
// J [P, N·k] with column (i, j) = ∂η_ij/∂θ, so G_i = J[:, i·k … i·k + k − 1].
import type { OutputFamily } from '../distributions';
import type { ActivationLayer, LinearLayer } from '../nn/layers';
import type { Sequential } from '../nn/sequential';
import { choleskySolve, EPS64, matmul, pinvSolve, symEig } from '../linalg64';

/** One forward pass in float64: inputs[l] [N, width] is the input of layers[l]; eta [N, k]. */
export interface Trace64 {
  n: number;
  inputs: Float64Array[];
  eta: Float64Array;
}

export function forward64(model: Sequential, theta: ArrayLike<number>, x: ArrayLike<number>, n: number): Trace64 {
  let h = Float64Array.from(x as ArrayLike<number>);
  const inputs: Float64Array[] = [h];
  let s = 0;
  for (const layer of model.layers) {
    if (layer.kind === 'linear') {
      const slot = model.slots[s++];
      const { inFeatures: inF, outFeatures: outF } = layer as LinearLayer; // explain's models are MLPs
      const z = new Float64Array(n * outF);
      for (let i = 0; i < n; i++)
        for (let o = 0; o < outF; o++) {
          let acc = theta[slot.bOffset + o];
          for (let c = 0; c < inF; c++) acc += theta[slot.wOffset + o * inF + c] * h[i * inF + c];
          z[i * outF + o] = acc;
        }
      h = z;
    } else {
      h = h.map((layer as ActivationLayer).f);
    }
    inputs.push(h);
  }
  return { n, inputs, eta: inputs[inputs.length - 1] };
}

/**
 * ∂(δᵀ h)/∂θ [P] for one sample i, where h = inputs[cut] is the input of layers[cut] (cut =
 * layers.length: the output η) and δ the seed: reverse mode through layers[cut − 1 … 0].
 */
export function backprop64(model: Sequential, theta: ArrayLike<number>, trace: Trace64, i: number, cut: number, seed: ArrayLike<number>): Float64Array {
  const grad = new Float64Array(model.numParameters);
  let delta = Float64Array.from(seed as ArrayLike<number>);
  let s = model.slots.filter((sl) => sl.index < cut).length - 1;
  for (let l = cut - 1; l >= 0; l--) {
    const layer = model.layers[l];
    const z = trace.inputs[l];
    const w = delta.length;
    if (layer.kind === 'activation') {
      for (let c = 0; c < w; c++) delta[c] *= layer.df(z[i * w + c]);
      continue;
    }
    const slot = model.slots[s--];
    const { inFeatures: inF, outFeatures: outF } = layer as LinearLayer; // explain's models are MLPs
    const prev = new Float64Array(inF);
    for (let o = 0; o < outF; o++) {
      const d = delta[o];
      grad[slot.bOffset + o] += d;
      for (let c = 0; c < inF; c++) {
        grad[slot.wOffset + o * inF + c] += d * z[i * inF + c];
        prev[c] += d * theta[slot.wOffset + o * inF + c];
      }
    }
    delta = prev;
  }
  return grad;
}

/** J [P, N·k]: column (i, j) = ∂η_ij/∂θ. */
export function jacobian64(model: Sequential, theta: ArrayLike<number>, trace: Trace64): Float64Array {
  const { n } = trace;
  const k = model.outDim;
  const p = model.numParameters;
  const cols = n * k;
  const jac = new Float64Array(p * cols);
  const e = new Float64Array(k);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < k; j++) {
      e.fill(0);
      e[j] = 1;
      const g = backprop64(model, theta, trace, i, model.layers.length, e);
      for (let q = 0; q < p; q++) jac[q * cols + i * k + j] = g[q];
    }
  return jac;
}

/** G_i [P, k] out of J [P, N·k]. */
export function sampleJacobian(jac: Float64Array, p: number, n: number, k: number, i: number): Float64Array {
  const g = new Float64Array(p * k);
  const cols = n * k;
  for (let q = 0; q < p; q++) for (let j = 0; j < k; j++) g[q * k + j] = jac[q * cols + i * k + j];
  return g;
}

/** Per-sample output quantities in float64. */
export interface Outputs64 {
  /** (1/N) Σ ℓ_i. */
  loss: number;
  /** g_i = ∇_η ℓ_i, [N, k]. */
  g: Float64Array;
  /** F_i, [N, k, k]. */
  f: Float64Array;
  /** v_i = F_i⁺ g_i (the proposal's n_η), [N, k], by eigendecomposition of F_i with cutoff k·ε₆₄·max. */
  v: Float64Array;
}

export function outputs64(fam: OutputFamily, eta: Float64Array, y: Float32Array, n: number, k: number): Outputs64 {
  const tw = fam.targetWidth(k);
  const g = new Float64Array(n * k);
  const f = new Float64Array(n * k * k);
  const v = new Float64Array(n * k);
  let loss = 0;
  for (let i = 0; i < n; i++) {
    const e = eta.subarray(i * k, (i + 1) * k);
    const yi = y.subarray(i * tw, (i + 1) * tw);
    loss += fam.loss(e, yi);
    fam.gradient(e, yi, g.subarray(i * k, (i + 1) * k));
    fam.fisher(e, f.subarray(i * k * k, (i + 1) * k * k));
    v.set(pinvSolve(f.subarray(i * k * k, (i + 1) * k * k), k, g.subarray(i * k, (i + 1) * k)).x, i * k);
  }
  return { loss: loss / n, g, f, v };
}

/** (1/N) Σ ℓ_i at θ, in float64. */
export function loss64(model: Sequential, fam: OutputFamily, theta: ArrayLike<number>, x: ArrayLike<number>, y: Float32Array, n: number): number {
  const eta = forward64(model, theta, x, n).eta;
  const k = model.outDim;
  const tw = fam.targetWidth(k);
  let s = 0;
  for (let i = 0; i < n; i++) s += fam.loss(eta.subarray(i * k, (i + 1) * k), y.subarray(i * tw, (i + 1) * tw));
  return s / n;
}

export interface Exact64 {
  /** n_θ = (F_θ + λI)⁺ g_θ [P]. */
  direction: Float64Array;
  /** Rank kept (= rank F_θ when λ = 0). */
  rank: number;
  /** Condition number of F_θ + λI on the range kept. */
  cond: number;
  /** Eigenvalues of SᵀS/N (= the nonzero eigenvalues of F_θ), descending. */
  eigenvalues: Float64Array;
}

/**
 * The exact natural gradient in float64, through the kernel: with F_i = L_i L_iᵀ (L_i = V_i √Λ_i over the
 * eigenvalues of F_i above k·ε₆₄·max) and S = J·blockdiag(L_i), F_θ = SSᵀ/N and g_θ = S u/N with
 * L_i u_i = g_i, so n_θ = S (SᵀS + NλI)⁺ u (at λ = 0: (Sᵀ)⁺ u = F_θ⁺ g_θ). Pseudo-inverse cutoff:
 * eigenvalues of SᵀS + NλI below size·ε₆₄·max.
 */
export function exact64(jac: Float64Array, out: Outputs64, p: number, n: number, k: number, lambda: number): Exact64 {
  const cols = n * k;
  const sCols: Float64Array[] = []; // columns of S, each [P]
  const u: number[] = [];
  for (let i = 0; i < n; i++) {
    const { values, vectors } = symEig(out.f.subarray(i * k * k, (i + 1) * k * k), k);
    const emax = Math.max(...values);
    for (let e = 0; e < k; e++) {
      if (!(values[e] > k * EPS64 * emax)) continue;
      const sq = Math.sqrt(values[e]);
      // column of L_i: √e · v_e; u entry: v_eᵀ g_i / √e
      const col = new Float64Array(p);
      for (let q = 0; q < p; q++) {
        let acc = 0;
        for (let j = 0; j < k; j++) acc += jac[q * cols + i * k + j] * vectors[j * k + e];
        col[q] = acc * sq;
      }
      let ug = 0;
      for (let j = 0; j < k; j++) ug += vectors[j * k + e] * out.g[i * k + j];
      sCols.push(col);
      u.push(ug / sq);
    }
  }
  const m = sCols.length;
  const kern = new Float64Array(m * m);
  for (let a = 0; a < m; a++)
    for (let b = a; b < m; b++) {
      let acc = 0;
      const ca = sCols[a],
        cb = sCols[b];
      for (let q = 0; q < p; q++) acc += ca[q] * cb[q];
      kern[a * m + b] = kern[b * m + a] = acc;
    }
  const sol = pinvSolve(kern, m, u, 1, n * lambda);
  const direction = new Float64Array(p);
  for (let a = 0; a < m; a++) {
    const c = sol.x[a];
    const col = sCols[a];
    for (let q = 0; q < p; q++) direction[q] += col[q] * c;
  }
  return { direction, rank: sol.rank, cond: sol.cond, eigenvalues: sol.eigenvalues.map((e) => e / n) };
}

/** The proposal's formula for one sample: G (GᵀG + λI)⁻¹ v, G [P, k]; also κ(GᵀG + λI) and rank G. */
export function proposalSample64(
  g: Float64Array,
  p: number,
  k: number,
  v: ArrayLike<number>,
  lambda: number
): { direction: Float64Array; cond: number; rank: number } {
  const gtg = matmul(g, g, k, k, p, true, false);
  const ev = symEig(gtg, k).values;
  const emax = Math.max(...ev);
  const rank = ev.filter((e) => e > k * EPS64 * emax).length;
  const c = choleskySolve(gtg, k, v, 1, lambda);
  return { direction: matmul(g, c, p, 1, k), cond: (emax + lambda) / (Math.min(...ev) + lambda), rank };
}

/** The proposal's formula per sample, averaged: (1/N) Σ_i G_i (G_iᵀG_i + λI)⁻¹ v_i. */
export function perSample64(jac: Float64Array, v: Float64Array, p: number, n: number, k: number, lambda: number): Float64Array {
  const out = new Float64Array(p);
  for (let i = 0; i < n; i++) {
    const d = proposalSample64(sampleJacobian(jac, p, n, k, i), p, k, v.subarray(i * k, (i + 1) * k), lambda).direction;
    for (let q = 0; q < p; q++) out[q] += d[q] / n;
  }
  return out;
}

/**
 * The proposal's formula with the stacked J [P, N·k]: J (JᵀJ)⁻¹ v (v = (F_i⁺ g_i)_i stacked), the inverse
 * taken literally, by Cholesky of JᵀJ (a route independent of exact64's eigendecomposition); κ(JᵀJ).
 * Throws if JᵀJ is not positive definite (J without full column rank).
 */
export function stacked64(jac: Float64Array, v: Float64Array, p: number, n: number, k: number): { direction: Float64Array; cond: number } {
  const m = n * k;
  const kern = matmul(jac, jac, m, m, p, true, false); // JᵀJ
  const ev = symEig(kern, m).values;
  const c = choleskySolve(kern, m, v);
  return { direction: matmul(jac, c, p, 1, m), cond: Math.max(...ev) / Math.min(...ev) };
}

/**
 * The proposal's chain rule op by op in float64 (the definitions of lib/optim/chain.ts): n_η,i = v_i;
 * activation n_z = σ' n_a / (σ'² + λ); linear (W, b, a) jointly, m = ((‖a‖² + 1 + λ) I + W Wᵀ)⁻¹ n_z
 * (W Wᵀ left out in the first layer, whose input is data), n_W^(i) = m aᵀ, n_b^(i) = m, n_a = Wᵀ m;
 * fan-out n = Σ_i n^(i) / (N + λ).
 */
export function chain64(model: Sequential, theta: ArrayLike<number>, trace: Trace64, v: Float64Array, lambda: number): Float64Array {
  const { n } = trace;
  const out = new Float64Array(model.numParameters);
  for (let i = 0; i < n; i++) {
    let nv = Float64Array.from(v.subarray(i * model.outDim, (i + 1) * model.outDim));
    let s = model.slots.length - 1;
    for (let l = model.layers.length - 1; l >= 0 && s >= 0; l--) {
      const layer = model.layers[l];
      const a = trace.inputs[l];
      const w = nv.length;
      if (layer.kind === 'activation') {
        for (let c = 0; c < w; c++) {
          const d = layer.df(a[i * w + c]);
          nv[c] = d * d + lambda > 0 ? (d * nv[c]) / (d * d + lambda) : 0;
        }
        continue;
      }
      const slot = model.slots[s];
      const { inFeatures: inF, outFeatures: outF } = layer as LinearLayer; // explain's models are MLPs
      const W = (o: number, c: number) => theta[slot.wOffset + o * inF + c];
      let ca = 1;
      for (let c = 0; c < inF; c++) ca += a[i * inF + c] ** 2;
      const gram = new Float64Array(outF * outF);
      for (let o = 0; o < outF; o++)
        for (let q = 0; q < outF; q++) {
          let acc = o === q ? ca : 0;
          if (s > 0) for (let c = 0; c < inF; c++) acc += W(o, c) * W(q, c);
          gram[o * outF + q] = acc;
        }
      const m = choleskySolve(gram, outF, nv, 1, lambda);
      for (let o = 0; o < outF; o++) {
        for (let c = 0; c < inF; c++) out[slot.wOffset + o * inF + c] += m[o] * a[i * inF + c];
        out[slot.bOffset + o] += m[o];
      }
      if (s > 0) {
        const na = new Float64Array(inF);
        for (let o = 0; o < outF; o++) for (let c = 0; c < inF; c++) na[c] += W(o, c) * m[o];
        nv = na;
      }
      s--;
    }
  }
  for (let q = 0; q < out.length; q++) out[q] /= n + lambda;
  return out;
}
