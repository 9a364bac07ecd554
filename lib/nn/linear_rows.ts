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
import { layerGram, rowsContract, rowsDot } from '../linalg';
import { gemmT, runSync, type Task } from '../task';
import { type Floats, type Scratch, scratchLike } from '../util/floats';
import { type LinearLayer, linearForward } from './layers';
import type { FactoredRows } from './module';

/**
 * out [(in + 1)·out] (W̄ then b̄) = Gᵀc for one linear layer: S̃_i = Σ_m c_(i,m) s_(i,m) [n, out] (rowsContract,
 * float64 sums), W̄ = S̃ᵀ A, b̄ = S̃ᵀ1. The products with S at the top level (./jacobian.ts, contract) and a
 * block's linear rows below share it; `work` keeps S̃'s buffer (under `key`) from one product to the next.
 */
export function* linearContract<T extends Floats>(
  layer: LinearLayer,
  s: T,
  a: T,
  n: number,
  r: number,
  c: Float64Array,
  out: T,
  work?: Scratch,
  key = 'contract'
): Task<T> {
  const { inFeatures: inF, outFeatures: outF } = layer;
  const nw = inF * outF;
  const nb = new Float64Array(outF);
  const st = rowsContract(s, c, n, r, nb, scratchLike(work, key, out, n * outF)); // S̃, nb = Σ_i S̃_i
  yield* gemmT(st, a, outF, inF, n, { transA: true, out: out.subarray(0, nw) }); // W̄ = S̃ᵀ A
  for (let o = 0; o < outF; o++) out[nw + o] = nb[o]; // b̄
  return out;
}

/**
 * out [n·r] += G v for one linear layer, v = (V_W, v_b) [(in + 1)·out]: z_i = V_W a_i + v_b (the layer's
 * forward pass with parameters v), then s_(i,m) · z_i (rowsDot, float64). Shared as linearContract is.
 */
export function* linearTimes<T extends Floats>(
  layer: LinearLayer,
  s: T,
  a: T,
  n: number,
  r: number,
  v: T,
  out: Float64Array,
  work?: Scratch,
  key = 'times'
): Task<Float64Array> {
  const { inFeatures: inF, outFeatures: outF } = layer;
  const nw = inF * outF;
  const z = yield* linearForward(layer, v.subarray(0, nw) as T, v.subarray(nw, nw + outF) as T, a, n, scratchLike(work, key, a, n * outF));
  return rowsDot(s, z, n, r, out);
}

/** The factored rows of a linear layer for seeds s [n·r, out] at its input a [n, in]. */
export function linearRows(layer: LinearLayer, s: Floats, a: Floats, n: number, r: number): FactoredRows {
  const { inFeatures: inF, outFeatures: outF } = layer;
  const nw = inF * outF;
  return {
    addGram(kernel) {
      layerGram(s, a, n, r, outF, inF, kernel); // kernel += (S Sᵀ) ⊙ (expand_r(A Aᵀ) + 1)
    },
    contract(c, out) {
      runSync(linearContract(layer, s, a, n, r, c instanceof Float64Array ? c : Float64Array.from(c), out));
    },
    addTimes(v, out) {
      runSync(linearTimes(layer, s, a, n, r, v, out));
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
