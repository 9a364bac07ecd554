// The parameter gradients of a linear functional of the input derivatives, per sample:
//   ∂/∂θ [ ūᵀu + Σ_j Ḡ_jᵀ ∂u/∂x_j + L̄ᵀΔu ]   (u = the model's outputs, ∇u, Δu as in ./derivatives.ts)
// for seeds (ū, Ḡ, L̄) given per sample — with the seeds ∂r/∂(u, ∇u, Δu) of a residual r(x, u, ∇u, Δu)
// this is the row ∇_θ r of the residual's Jacobian (the chain rule through r's arguments).
//
// Reverse mode through the Taylor-mode pass (./derivatives.ts), on its N·R rows (R = d + 2 per sample:
// value, d gradient rows, Laplacian), X̄ the adjoint of a stage:
//   linear z = W h + b (every row; b on the value row):
//     per sample i: W̄_i = Σ_t z̄_(i,t) h_(i,t)ᵀ,  b̄_i = z̄_(i,value);   h̄ = z̄ W (one gemm over all rows)
//   activation a = σ(z), G_a = σ'(z) G_z, L_a = σ'(z) L_z + σ''(z) q, q = Σ_j G_z,j² (per unit):
//     Ḡ_z,j = σ' Ḡ_a,j + 2 σ'' L̄_a G_z,j,   L̄_z = σ' L̄_a,
//     z̄ = σ' ā + σ'' (Σ_j Ḡ_a,j G_z,j + L̄_a L_z) + σ''' L̄_a q
//   or, carrying the diagonal D_a,j = σ' D_z,j + σ'' G_z,j² instead of L:
//     Ḡ_z,j = σ' Ḡ_a,j + 2 σ'' D̄_a,j G_z,j,   D̄_z,j = σ' D̄_a,j,
//     z̄ = σ' ā + σ'' Σ_j (Ḡ_a,j G_z,j + D̄_a,j D_z,j) + σ''' Σ_j D̄_a,j G_z,j²
// Cost: about twice the forward pass, plus Σ_linear out·in·R multiply-adds per sample for its own W̄_i
// (the per-sample gradients are what S is made of; 2·out·in for a first layer, whose input rows are
// known); a gradient summed over samples is one gemm per layer instead. In float64.
import { gemm } from '../linalg';
import type { Floats } from '../util/floats';
import type { TaylorPass } from './derivatives';
import type { Structure } from './structure';

/** Where the per-sample gradients go: rows row0 + i of Sᵀ [M, P] row-major (one per sample, zeroed), or their sum into grad [P]. */
export type GradientSink = { st: Floats; row0: number } | { grad: Float64Array };

/**
 * The backward pass of `pass` (n samples) from the seeds seedRows [N·R, k] — rows (i, 0) ū_i, (i, 1 + j)
 * the column j of Ḡ_i, then (i, R − 1) L̄_i, or ('diagonal') (i, 1 + d + j) the seed of ∂²u/∂x_j² — into `sink`. The model must be twice differentiable (σ''').
 */
export function taylorBackward(model: Structure, pass: TaylorPass, n: number, seedRows: Float64Array, sink: GradientSink): void {
  const { rows: R, stages, derivs, theta } = pass;
  const diag = pass.second === 'diagonal';
  const d = diag ? (R - 1) / 2 : R - 2;
  const layers = model.layers;
  const slotOf = new Map(model.slots.map((s) => [s.index, s]));
  let adj = seedRows;
  let width = model.outDim;
  for (let l = layers.length - 1; l >= 0; l--) {
    const layer = layers[l];
    const x = stages[l]; // this layer's input rows
    if (layer.kind === 'linear') {
      const slot = slotOf.get(l)!;
      const { inFeatures: inF, outFeatures: outF } = layer;
      if ('grad' in sink) {
        // Σ_i W̄_i = adjᵀ X over all rows; b̄ = Σ_i z̄_(i,value)
        const gw = gemm(adj, x, outF, inF, n * R, { transA: true });
        for (let q = 0; q < outF * inF; q++) sink.grad[slot.wOffset + q] += gw[q];
        for (let i = 0; i < n; i++) for (let o = 0; o < outF; o++) sink.grad[slot.bOffset + o] += adj[i * R * outF + o];
      } else {
        perSampleWeights(adj, x, n, R, inF, outF, slot.wOffset, slot.bOffset, model.numParameters, sink, l === 0);
      }
      if (l > 0) adj = gemm(adj, theta.subarray(slot.wOffset, slot.wOffset + outF * inF), n * R, inF, outF); // h̄ = z̄ W
      width = inF;
    } else if (layer.kind === 'activation') {
      const prev = new Float64Array(adj.length);
      const ds = derivs[l] as Float64Array; // σ', σ'', σ''' of the forward pass
      for (let i = 0; i < n; i++) {
        const base = i * R * width;
        const lapRow = base + (R - 1) * width;
        for (let c = 0; c < width; c++) {
          const e = (i * width + c) * 3;
          const s1 = ds[e];
          const s2 = ds[e + 1];
          const s3 = ds[e + 2];
          if (diag) {
            let t2 = 0; // Σ_j (Ḡ_a,j G_z,j + D̄_a,j D_z,j)
            let t3 = 0; // Σ_j D̄_a,j G_z,j²
            for (let j = 1; j <= d; j++) {
              const gi = base + j * width + c;
              const di = base + (d + j) * width + c;
              const g = x[gi];
              const db = adj[di];
              t2 += adj[gi] * g + db * x[di];
              t3 += db * g * g;
              prev[gi] = s1 * adj[gi] + 2 * s2 * db * g;
              prev[di] = s1 * db;
            }
            prev[base + c] = s1 * adj[base + c] + s2 * t2 + s3 * t3;
            continue;
          }
          const la = adj[lapRow + c];
          let q = 0;
          let gdot = 0;
          for (let j = 1; j <= d; j++) {
            const g = x[base + j * width + c];
            q += g * g;
            gdot += adj[base + j * width + c] * g;
            prev[base + j * width + c] = s1 * adj[base + j * width + c] + 2 * s2 * la * g;
          }
          prev[lapRow + c] = s1 * la;
          prev[base + c] = s1 * adj[base + c] + s2 * (gdot + la * x[lapRow + c]) + s3 * la * q;
        }
      }
      adj = prev;
    }
  }
}

/**
 * One linear layer's part of each sample's row of Sᵀ: W̄_i[o, c] = Σ_t z̄_(i,t,o) h_(i,t,c) (added, row by
 * row of the sample: both operands read contiguously), b̄_i[o] = z̄_(i,value,o).
 * On the input itself (`input`), whose Taylor rows are known — the value row x_i, gradient row j the
 * unit vector e_j, the second-derivative rows 0 (./derivatives.ts) — the sum has 2 terms, not R:
 *   W̄_i[o, c] = z̄_(i,value,o)·x_ic + z̄_(i,1+c,o)   (written: those rows of Sᵀ hold only zeros there).
 */
function perSampleWeights(
  adj: Float64Array,
  x: Float64Array,
  n: number,
  R: number,
  inF: number,
  outF: number,
  wOff: number,
  bOff: number,
  P: number,
  sink: { st: Floats; row0: number },
  input: boolean
): void {
  const { st, row0 } = sink;
  for (let i = 0; i < n; i++) {
    const row = (row0 + i) * P;
    if (input) {
      const a0 = i * R * outF; // the value row's adjoints; gradient row c's follow at a0 + (1 + c)·outF
      const x0 = i * R * inF; // x_i, the value row of the input stage
      for (let o = 0; o < outF; o++) {
        const av = adj[a0 + o];
        const w = row + wOff + o * inF;
        for (let c = 0; c < inF; c++) st[w + c] = av * x[x0 + c] + adj[a0 + (1 + c) * outF + o];
        st[row + bOff + o] = av;
      }
      continue;
    }
    for (let t = 0; t < R; t++) {
      const a0 = (i * R + t) * outF;
      const x0 = (i * R + t) * inF;
      for (let o = 0; o < outF; o++) {
        const a = adj[a0 + o];
        if (a === 0) continue;
        const w = row + wOff + o * inF;
        for (let c = 0; c < inF; c++) st[w + c] += a * x[x0 + c];
      }
    }
    for (let o = 0; o < outF; o++) st[row + bOff + o] = adj[i * R * outF + o];
  }
}
