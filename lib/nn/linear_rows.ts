// A linear layer's per-row parameter gradients in factored form (./module.ts, FactoredRows), for a
// linear layer inside a residual block: row (i, m) of its G is (W̄, b̄) = (s_(i,m) a_iᵀ, s_(i,m)) with
// s [N·r, out] the seeds at its output and a [N, in] its input, so without forming G [N·r, (in + 1)·out]:
//
//   G Gᵀ = (S Sᵀ) ⊙ (expand_r(A Aᵀ) + 1)                  (the top level's layer kernel: native layerGram)
//   Gᵀc  = (S̃ᵀA, S̃ᵀ1),  S̃_i = Σ_m c_(i,m) s_(i,m)          (rowsContract, then one gemm)
//   G v  = s_(i,m) · (V_W a_i + v_b)                          (the forward pass with parameters v, then rowsDot)
//
// Memory: the seeds and the input, which the backward pass holds anyway (O(N·r·width)); a materialised
// G would be (in + 1)× the seeds.
import { gemm, layerGram, rowsContract, rowsDot } from '../linalg';
import { runSync } from '../task';
import type { Floats } from '../util/floats';
import { type LinearLayer, linearForward } from './layers';
import type { FactoredRows } from './module';

/** The factored rows of a linear layer for seeds s [n·r, out] at its input a [n, in]. */
export function linearRows(layer: LinearLayer, s: Floats, a: Floats, n: number, r: number): FactoredRows {
  const { inFeatures: inF, outFeatures: outF } = layer;
  const nw = inF * outF;
  return {
    addGram(kernel) {
      layerGram(s, a, n, r, outF, inF, kernel); // kernel += (S Sᵀ) ⊙ (expand_r(A Aᵀ) + 1)
    },
    contract(c, out) {
      const nb = new Float64Array(outF);
      const st = rowsContract(s, c instanceof Float64Array ? c : Float64Array.from(c), n, r, nb); // S̃ [n, out], nb = Σ_i S̃_i
      gemm(st, a, outF, inF, n, { transA: true, out: out.subarray(0, nw) }); // W̄ = S̃ᵀ A
      for (let o = 0; o < outF; o++) out[nw + o] = nb[o];
    },
    addTimes(v, out) {
      const z = runSync(linearForward(layer, v.subarray(0, nw), v.subarray(nw, nw + outF), a, n)); // V_W a_i + v_b
      rowsDot(s, z, n, r, out);
    },
    scatter(out, offset, cols, q0, q1) {
      for (let q = q0; q < q1; q++) {
        const a0 = Math.floor(q / r) * inF;
        for (let o = 0; o < outF; o++) {
          const so = s[q * outF + o];
          for (let c = 0; c < inF; c++) out[(offset + o * inF + c) * cols + (q - q0)] = so * a[a0 + c];
          out[(offset + nw + o) * cols + (q - q0)] = so;
        }
      }
    },
  };
}
