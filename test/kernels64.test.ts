// The float64 forms of the kernels (every array of a call a Float64Array: gemm, gram, layerGram,
// layerGramSum, choleskySolve, pinvSolve) against float64 references written in lib/linalg64.ts.
// Tolerances are a priori float64 bounds — u = 2⁻⁵³, a sum of k products within k·u·Σ|terms|, a
// backward-stable solve within ~M·u·κ in its forward error — with the same invariants as the float32
// tests (K ≈ JᵀJ, (K + λI)X ≈ R, the pseudo-inverse's rank), and the failure cases: mixed types,
// a kernel without a float64 form, NaN named at its index, overlapping outputs.
import { describe, expect, it } from 'vitest';
import {
  batchedGramInverse,
  choleskySolve,
  choleskySolveAsync,
  gemm,
  gemmAsync,
  gram,
  layerGram,
  layerGramSum,
  layerGramSumAsync,
  pinvSolve,
} from '../lib/index';
import { choleskySolve64, fromEigen64, matmul64, orthogonal64, relErr, rng } from './linalg64';

const u = 2 ** -53;
const R = rng(20261207);
const randn64 = (n: number) => {
  const a = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const v = Math.max(R(), 1e-300);
    a[i] = Math.sqrt(-2 * Math.log(v)) * Math.cos(2 * Math.PI * R());
  }
  return a;
};
const bits = (a: Float64Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

describe('float64 kernels', () => {
  it('gemm: every transpose, alpha, beta, into a given out; the Promise form gives the same bits', async () => {
    for (const [m, n, k] of [
      [1, 1, 1],
      [13, 7, 29],
      [97, 33, 250],
    ] as const) {
      for (const ta of [false, true])
        for (const tb of [false, true]) {
          const a = randn64(m * k);
          const b = randn64(k * n);
          const c0 = randn64(m * n);
          const out = Float64Array.from(c0);
          const c = gemm(a, b, m, n, k, { transA: ta, transB: tb, alpha: 0.7, beta: -1.3, out });
          expect(c).toBe(out);
          expect(c).toBeInstanceOf(Float64Array);
          const ab = matmul64(a, b, m, n, k, ta, tb);
          const ref = Float64Array.from(ab, (v, i) => 0.7 * v - 1.3 * c0[i]);
          const absRef = matmul64(a.map(Math.abs), b.map(Math.abs), m, n, k, ta, tb);
          // |error| ≤ (k + 2)·u·(|α|·|A||B| + |β||C|) element-wise
          for (let i = 0; i < m * n; i++) expect(Math.abs(c[i] - ref[i])).toBeLessThanOrEqual((k + 2) * u * (0.7 * absRef[i] + 1.3 * Math.abs(c0[i])) + 1e-300);
          const again = await gemmAsync(a, b, m, n, k, { transA: ta, transB: tb });
          expect(bits(again).equals(bits(gemm(a, b, m, n, k, { transA: ta, transB: tb })))).toBe(true);
        }
    }
  });

  it('gram: JᵀJ and J Jᵀ, exactly symmetric, against float64 products', () => {
    const P = 40;
    const M = 23;
    const j = randn64(P * M);
    const k = gram(j, P, M);
    expect(k).toBeInstanceOf(Float64Array);
    const ref = matmul64(j, j, M, M, P, true, false);
    expect(relErr(k, ref)).toBeLessThan(P * u * 4);
    for (let r = 0; r < M; r++) for (let c = 0; c < M; c++) expect(k[r * M + c]).toBe(k[c * M + r]);
    const kt = gram(j, M, P, { layout: 'MP' }); // the same numbers as J [P, M] in layout 'MP': K = J Jᵀ [P, P]
    expect(relErr(kt, matmul64(j, j, P, P, M, false, true))).toBeLessThan(M * u * 4);
    // accumulate: K += JᵀJ, twice the product on top of itself
    const twice = gram(j, P, M, { out: k.slice(), accumulate: true });
    expect(
      relErr(
        twice,
        ref.map((v) => 2 * v)
      )
    ).toBeLessThan(P * u * 4);
    for (let r = 0; r < M; r++) for (let c = 0; c < M; c++) expect(twice[r * M + c]).toBe(twice[c * M + r]);
  });

  it('layerGram and layerGramSum: Σ_l (B Bᵀ) ⊙ (expand_k(A Aᵀ) + 1), against the sum written out', async () => {
    const N = 7;
    const k = 3;
    const NK = N * k;
    const widths = [
      [5, 4],
      [9, 2],
    ];
    const bs = widths.map(([wo]) => randn64(NK * wo));
    const as = widths.map(([, wi]) => randn64(N * wi));
    const ref = new Float64Array(NK * NK);
    widths.forEach(([wo, wi], l) => {
      const bb = matmul64(bs[l], bs[l], NK, NK, wo, false, true);
      const aa = matmul64(as[l], as[l], N, N, wi, false, true);
      for (let r = 0; r < NK; r++) for (let c = 0; c < NK; c++) ref[r * NK + c] += bb[r * NK + c] * (aa[Math.floor(r / k) * N + Math.floor(c / k)] + 1);
    });
    const sum = layerGramSum(bs, as, N, k);
    expect(sum).toBeInstanceOf(Float64Array);
    expect(relErr(sum, ref)).toBeLessThan(40 * u);
    expect(bits(await layerGramSumAsync(bs, as, N, k)).equals(bits(sum))).toBe(true);
    const acc = new Float64Array(NK * NK);
    widths.forEach(([wo, wi], l) => layerGram(bs[l], as[l], N, k, wo, wi, acc));
    expect(relErr(acc, ref)).toBeLessThan(40 * u);
  });

  it('choleskySolve: (K + λI)X = R to float64 accuracy at κ = 1e8 (float32 could not: κ·u₃₂ ≈ 6)', async () => {
    const M = 60;
    const e = Array.from({ length: M }, (_, i) => 10 ** (-8 * (i / (M - 1)))); // κ = 1e8
    const K = fromEigen64(orthogonal64(M, R), e, M);
    const x0 = randn64(M * 2);
    const rhs = matmul64(K, x0, M, 2, M);
    const x = choleskySolve(K, M, rhs, 2);
    expect(x).toBeInstanceOf(Float64Array);
    // forward error ≲ c·M·u·κ: 60·1.1e-16·1e8 ≈ 7e-7; allow 10×
    expect(relErr(x, x0)).toBeLessThan(10 * M * u * 1e8);
    expect(relErr(x, choleskySolve64(K, M, rhs, 2))).toBeLessThan(10 * M * u * 1e8);
    expect(bits(await choleskySolveAsync(K, M, rhs, 2)).equals(bits(x))).toBe(true);
    // in place: X may be R
    const r2 = Float64Array.from(rhs);
    expect(choleskySolve(K, M, r2, 2, { out: r2 })).toBe(r2);
    expect(bits(r2).equals(bits(x))).toBe(true);
    // damping λ: (K + λI)X = R
    const xd = choleskySolve(K, M, rhs, 2, { damping: 0.5 });
    const kd = Float64Array.from(K, (v, i) => (i % (M + 1) === 0 ? v + 0.5 : v));
    expect(relErr(matmul64(kd, xd, M, 2, M), rhs)).toBeLessThan(10 * M * u);
  });

  it('pinvSolve: the default cutoff is M·ε₆₄ for float64 K — it keeps eigenvalues float32 could not tell from zero', () => {
    const M = 30;
    // eigenvalues 1 … 1e-9, and three exact zeros
    const e = Array.from({ length: M }, (_, i) => (i < M - 3 ? 10 ** (-9 * (i / (M - 4))) : 0));
    const K = fromEigen64(orthogonal64(M, R), e, M);
    const rhs = randn64(M);
    const { x, rank } = pinvSolve(K, M, rhs);
    expect(x).toBeInstanceOf(Float64Array);
    expect(rank).toBe(M - 3); // 1e-9 > M·ε₆₄ = 6.7e-15 is kept; M·ε₃₂ = 3.6e-6 would drop most
    // K K⁺ r = the projection of r on the range: K x ≈ P r, and x ⊥ null space
    const kx = matmul64(K, x, M, 1, M);
    const kkx = matmul64(K, kx, M, 1, M);
    const kr = matmul64(K, rhs, M, 1, M);
    expect(relErr(kkx, kr)).toBeLessThan(1e-6); // K(Kx) = Kr in exact arithmetic; error ~ κ·M·u with κ = 1e9
  });

  it('the Promise form on SharedArrayBuffer-backed and offset Float64Array views: the same bits as the sync form', async () => {
    const a = randn64(6 * 5);
    const b = randn64(5 * 4);
    const want = gemm(a, b, 6, 4, 5);
    const shared: Float64Array = new Float64Array(new SharedArrayBuffer(a.byteLength));
    shared.set(a);
    const base = new Float64Array(b.length + 3).fill(Number.NaN);
    base.set(b, 2);
    const out: Float64Array = new Float64Array(new SharedArrayBuffer(want.byteLength));
    const got = await gemmAsync(shared, base.subarray(2, 2 + b.length), 6, 4, 5, { out });
    expect(got).toBe(out);
    expect(bits(got).equals(bits(want))).toBe(true);
  });

  it('refuses mixed types, float64 for a float32-only kernel, NaN (naming the index) and overlapping outputs', () => {
    expect(() => gemm(new Float64Array(4), new Float32Array(4) as unknown as Float64Array, 2, 2, 2)).toThrow(
      /argument 'B' must be a Float64Array like 'A', got Float32Array/
    );
    expect(() => choleskySolve(new Float32Array([2]), 1, new Float64Array([1]) as unknown as Float32Array, 1)).toThrow(TypeError);
    expect(() => gram(new Float64Array(4), 2, 2, { out: new Float32Array(4) as unknown as Float64Array })).toThrow(/must be a Float64Array like 'J'/);
    expect(() => batchedGramInverse(new Float64Array(4) as unknown as Float32Array, 1, 2, 2)).toThrow(/has no float64 form/);
    const bad = new Float64Array([1, 2, Number.NaN, 4]);
    try {
      gemm(bad, new Float64Array(4), 2, 2, 2);
      expect.unreachable();
    } catch (e) {
      expect((e as Error).message).toMatch(/argument 'A' contains NaN at index 2/);
      expect((e as { code?: string }).code).toBe('ERR_NON_FINITE');
    }
    expect(() => gemm(new Float64Array([1, 2, 3, Number.NEGATIVE_INFINITY]), new Float64Array(4), 2, 2, 2)).toThrow(/Infinity at index 3/);
    const buf = new Float64Array(8);
    expect(() => gemm(buf.subarray(0, 4), new Float64Array(4), 2, 2, 2, { out: buf.subarray(2, 6) })).toThrow(/must not overlap/);
    // a float64 call may use scale factors beyond float32's range
    const big = gemm(new Float64Array([1]), new Float64Array([1]), 1, 1, 1, { alpha: 1e300 });
    expect(big[0]).toBe(1e300);
  });
});
