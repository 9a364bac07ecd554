// A convolution's per-row parameter gradients, in either form (./conv2d.ts chooses per layer).
//
// Row q = (i, m) of G (sample i, seed m) is, with s_(q,p) ∈ R^out the seed at output position p and
// a_(i,p) ∈ R^{C·kh·kw} the patch there (im2col):
//
//   G_q = [ Σ_p s_(q,p) a_(i,p)ᵀ  (∂/∂W, [out, C·kh·kw]),  Σ_p s_(q,p)  (∂/∂b) ]
//
// materialised: G [N·r, P_l] (native conv2dGradients, ./conv2d.ts), and the kernel block G Gᵀ (P_l wide);
// factored: never formed — the kernel block is the same sum over pairs of positions as the linear layer's
// product, position by position:
//
//   (G Gᵀ)[q, q'] = Σ_{p, p'} (s_(q,p) · s_(q',p')) (a_(i,p) · a_(i',p') + 1),
//
// Σ over Ho·Wo × Ho·Wo position pairs of out- and C·kh·kw-wide dot products instead of one P_l-wide dot
// product: cheaper when the output map is small (Ho·Wo ≤ 4 or so: a network's last convolutions).
// The cost model (convForm) compares the two per M² of kernel (M = N·r; the forms scale alike in M).
import { conv2dGradients, gemm } from '../linalg';
import type { ConvGeometry } from '../native';
import { type Floats, zerosLike } from '../util/floats';
import type { FactoredRows } from './module';

/** A convolution's shape as its rows see it: out channels, patch length C·kh·kw, output positions Ho·Wo. */
export interface ConvShape {
  cout: number;
  ckk: number;
  hw: number;
  /** C·H·W: one sample's input. */
  inSize: number;
}

/**
 * What one JavaScript multiply-add of the factored form's position-pair sum costs, in BLAS multiply-adds:
 * measured on a 2-core Intel Xeon (AVX-512), 1.5 ns for a JavaScript s += b·(a + 1) over Float32Arrays
 * against 0.011–0.014 ns per multiply-add of a 1024³ gemm: 107–143.
 */
const JS_COST = 128;

/** The longest materialised row 'auto' allows, in multiples of the layer's larger activation (see convForm). */
const MAX_ROW_RATIO = 4;

/**
 * 'factored' when its multiply-adds per M² of kernel — BLAS: Ho·Wo²·(out + C·kh·kw) for the two position-pair
 * products, JavaScript: Ho·Wo² for their sum (weighted JS_COST) — are fewer than the materialised form's
 * P_l / 2 (G Gᵀ, one triangle), else 'materialized' — unless a materialised row (P_l numbers) would be
 * more than MAX_ROW_RATIO times the layer's larger activation (C·H·W in, out·Ho·Wo out): then 'factored'
 * whatever the flops, so that a step's memory stays O(N·r·width). (G_l is N·r × P_l, where the backward
 * pass already holds N·r × each activation; the factored form adds N·r × out·Ho·Wo and one block.)
 */
export function convForm(s: ConvShape): 'factored' | 'materialized' {
  const p = s.cout * s.ckk + s.cout;
  if (p > MAX_ROW_RATIO * Math.max(s.inSize, s.cout * s.hw)) return 'factored';
  const pairs = s.hw * s.hw;
  return pairs * (s.cout + s.ckk + JS_COST) < p / 2 ? 'factored' : 'materialized';
}

/** Samples per block of the factored Gram (addGram): its BB block [per·r·Ho·Wo, N·r·Ho·Wo] then holds at most max(M², r·Ho·Wo²·M) elements. */
function samplesPerBlock(s: ConvShape, n: number): number {
  return Math.max(1, Math.floor(n / (s.hw * s.hw)));
}

/** The factored form's scratch while its Gram is formed: the seeds position-major, one block of BB and of AA. */
export function convFactoredElements(s: ConvShape, n: number, r: number): number {
  const per = samplesPerBlock(s, n);
  return n * r * s.hw * s.cout + per * r * s.hw * n * r * s.hw + per * s.hw * n * s.hw;
}

/** G in factored form: the seeds dy [n·r, out·Ho·Wo] and the patches cols [n·Ho·Wo, C·kh·kw] of the layer's geometry (im2col's). */
export function convRows(s: ConvShape, geometry: ConvGeometry, dy: Floats, cols: Floats, n: number, r: number): FactoredRows {
  const { cout, ckk, hw } = s;
  const rows = n * r;
  const nw = cout * ckk;
  // the seeds position-major: bt[(q·Ho·Wo + p)·out + o] = s_(q,p)[o], rows of one sample contiguous
  const bt = zerosLike(dy, rows * hw * cout);
  for (let q = 0; q < rows; q++)
    for (let o = 0; o < cout; o++) {
      const src = (q * cout + o) * hw;
      for (let p = 0; p < hw; p++) bt[(q * hw + p) * cout + o] = dy[src + p];
    }
  return {
    addGram(kernel) {
      // by blocks of samples I (rows q of I against all rows): BB = bt_I btᵀ and AA = cols_I colsᵀ, then the
      // position-pair sum; a block holds at most max(M², r·Ho·Wo²·M) floats of BB
      const per = samplesPerBlock(s, n);
      for (let i0 = 0; i0 < n; i0 += per) {
        const i1 = Math.min(n, i0 + per);
        const bb = gemm(bt.subarray(i0 * r * hw * cout, i1 * r * hw * cout), bt, (i1 - i0) * r * hw, rows * hw, cout, { transB: true });
        const aa = gemm(cols.subarray(i0 * hw * ckk, i1 * hw * ckk), cols, (i1 - i0) * hw, n * hw, ckk, { transB: true });
        const wb = rows * hw;
        const wa = n * hw;
        for (let q = i0 * r; q < i1 * r; q++) {
          const ia = (Math.floor(q / r) - i0) * hw;
          const qb = (q - i0 * r) * hw;
          for (let q2 = 0; q2 < rows; q2++) {
            const ja = Math.floor(q2 / r) * hw;
            let sum = 0;
            for (let p = 0; p < hw; p++) {
              const b0 = (qb + p) * wb + q2 * hw;
              const a0 = (ia + p) * wa + ja;
              for (let p2 = 0; p2 < hw; p2++) sum += bb[b0 + p2] * (aa[a0 + p2] + 1);
            }
            kernel[q * rows + q2] += sum;
          }
        }
      }
    },
    contract(c, out) {
      // Gᵀc: Bc[(i, p), o] = Σ_m c_(i,m) s_((i,m),p)[o], then n_W = Bcᵀ cols and n_b = Σ_(i,p) Bc
      const bc = zerosLike(dy, n * hw * cout);
      for (let q = 0; q < rows; q++) {
        const cq = c[q];
        if (cq === 0) continue;
        const i = Math.floor(q / r);
        for (let t = 0; t < hw * cout; t++) bc[i * hw * cout + t] += cq * bt[q * hw * cout + t];
      }
      out.set(gemm(bc, cols, cout, ckk, n * hw, { transA: true }), 0);
      for (let o = 0; o < cout; o++) {
        let sb = 0;
        for (let t = 0; t < n * hw; t++) sb += bc[t * cout + o];
        out[nw + o] = sb;
      }
    },
    addTimes(v, out) {
      // G v: V = cols·W_vᵀ + b_v [n·Ho·Wo, out] (the layer's forward pass with parameters v), then per row Σ_(p,o) s·V
      const vv = gemm(cols, v.subarray(0, nw), n * hw, cout, ckk, { transB: true });
      for (let q = 0; q < rows; q++) {
        const i = Math.floor(q / r);
        let sum = 0;
        for (let p = 0; p < hw; p++) for (let o = 0; o < cout; o++) sum += bt[(q * hw + p) * cout + o] * (vv[(i * hw + p) * cout + o] + v[nw + o]);
        out[q] += sum;
      }
    },
    scatter(out, offset, width, q0, q1) {
      // the rows of samples ⌊q0/r⌋ … ⌈q1/r⌉ materialised (native conv2dGradients, as the other form), then transposed
      const i0 = Math.floor(q0 / r),
        i1 = Math.ceil(q1 / r);
      const P = nw + cout;
      const g = conv2dGradients(dy.subarray(i0 * r * cout * hw, i1 * r * cout * hw), cols.subarray(i0 * hw * ckk, i1 * hw * ckk), i1 - i0, r, cout, geometry);
      for (let q = q0; q < q1; q++) {
        const row = (q - i0 * r) * P;
        for (let k = 0; k < P; k++) out[(offset + k) * width + (q - q0)] = g[row + k];
      }
    },
  };
}
