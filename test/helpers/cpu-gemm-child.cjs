// Child process of test/cpu_gemm.test.ts: NATGRAD_CPU_GEMM is read once when the addon loads, so each
// setting runs in its own process. Computes a few kernels on inputs made by `inputs()` (also used by
// the parent for its float64 references) and prints the results as JSON (float32 bits in base64).
'use strict';

/** Deterministic inputs: a Wishart K for choleskySolve, one with a negative pivot at order 200, and layer factors. */
function inputs() {
  let s = 12345;
  const uniform = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32 - 0.5;
  const m = 300,
    p = 420;
  const j = Float32Array.from({ length: p * m }, () => uniform() / Math.sqrt(p));
  const k = new Float32Array(m * m); // JᵀJ in float64, rounded
  for (let a = 0; a < m; a++)
    for (let b = 0; b <= a; b++) {
      let v = 0;
      for (let q = 0; q < p; q++) v += j[q * m + a] * j[q * m + b];
      k[a * m + b] = k[b * m + a] = v;
    }
  const rhs = Float32Array.from({ length: m * 2 }, uniform);
  const l = new Float64Array(m * m); // unit lower triangular; K = L D Lᵀ with D[199] = −1
  for (let a = 0; a < m; a++) {
    l[a * m + a] = 1;
    for (let b = 0; b < a; b++) l[a * m + b] = (0.3 * uniform()) / Math.sqrt(m);
  }
  const indefinite = new Float32Array(m * m);
  for (let a = 0; a < m; a++)
    for (let b = 0; b < m; b++) {
      let v = 0;
      for (let q = 0; q <= Math.min(a, b); q++) v += l[a * m + q] * l[b * m + q] * (q === 199 ? -1 : 1);
      indefinite[a * m + b] = v;
    }
  const n = 70,
    kk = 3,
    widths = [
      [40, 21],
      [9, 41],
    ];
  const bs = widths.map(([wo]) => Float32Array.from({ length: n * kk * wo }, uniform));
  const as = widths.map(([, wi]) => Float32Array.from({ length: n * wi }, uniform));
  const gm = 150,
    gn = 130,
    gk = 300; // gemm C = 0.5·Aᵀ·B − C₀ with A [gk, gm], B [gk, gn]
  const ga = Float32Array.from({ length: gk * gm }, uniform),
    gb = Float32Array.from({ length: gk * gn }, uniform);
  const gc = Float32Array.from({ length: gm * gn }, uniform);
  return { m, k, rhs, damping: 1e-3, indefinite, n, kk, widths, bs, as, gemm: { m: gm, n: gn, k: gk, a: ga, b: gb, c: gc } };
}

if (require.main === module) {
  const a = require(process.env.NATGRAD_ADDON);
  const b64 = (x) => Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString('base64');
  const inp = inputs();
  const x = a.choleskySolve(inp.k, inp.m, inp.rhs, 2, inp.damping, 'float32', new Float32Array(inp.m * 2));
  let failure = null;
  try {
    a.choleskySolve(inp.indefinite, inp.m, new Float32Array(inp.m), 1, 0, 'float32', new Float32Array(inp.m));
  } catch (e) {
    failure = { code: e.code, column: e.column };
  }
  const nk = inp.n * inp.kk;
  const kern = a.layerGramSum(inp.bs, inp.as, inp.n, inp.kk, new Float32Array(nk * nk));
  const g = inp.gemm;
  const c = a.gemm(true, false, g.m, g.n, g.k, 0.5, g.a, g.b, -1, Float32Array.from(g.c));
  process.stdout.write(JSON.stringify({ kernels: a.backendInfo().kernels, x: b64(x), failure, kern: b64(kern), gemm: b64(c) }));
}

module.exports = { inputs };
