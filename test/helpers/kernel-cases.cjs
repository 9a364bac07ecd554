// The kernel tests' small cases as one plain script, for a binary that vitest cannot host: the
// linux-arm64 prebuild under qemu-aarch64 with Debian 12's arm64 Node 18, and the linux-x64 prebuild
// inside the Debian 11 root (test/prebuilds.test.ts). Plain CommonJS, no dependencies.
//   node kernel-cases.cjs <natgrad.node>
// Every kernel (both forms of gemm's transposes, gram's two layouts, layerGram, layerGramSum, the
// Cholesky and eigen solves in float32 and float64, batchedGramInverse) on small inputs against a
// float64 reference computed here, each with the same error bound as test/kernels.test.ts: a sum of
// p float32 products errs by at most about p·u·Σ|terms| (u = 2⁻²⁴); a solve by a multiple of u·κ.
// Prints {backend, cases: [{name, err, bound}]} as JSON; exits 1 if any case is outside its bound or
// a bad input is not refused.
'use strict';
const addon = require(process.argv[2]);
const u = 2 ** -24;

let seed = 2024;
const uniform = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32 - 0.5;
const rand = (n) => Float32Array.from({ length: n }, uniform);

/** C[m,n] = op(A)·op(B) in float64; A is [m,k] (or [k,m] when ta), B [k,n] (or [n,k] when tb), row-major. */
function matmul64(a, b, m, n, k, ta, tb) {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += (ta ? a[p * m + i] : a[i * k + p]) * (tb ? b[j * k + p] : b[p * n + j]);
      c[i * n + j] = s;
    }
  return c;
}
const abs = (x) => Float64Array.from(x, Math.abs);
const norm = (x) => Math.sqrt(x.reduce((s, v) => s + v * v, 0));
const diffNorm = (x, y) => Math.sqrt(x.reduce((s, v, i) => s + (v - y[i]) ** 2, 0));

/** x = (K + λI)⁻¹ R in float64 (Cholesky), K [m,m], R [m, nrhs] row-major. */
function solve64(k, m, r, nrhs, lambda) {
  const l = Float64Array.from(k);
  for (let i = 0; i < m; i++) l[i * m + i] += lambda;
  for (let j = 0; j < m; j++) {
    for (let p = 0; p < j; p++) l[j * m + j] -= l[j * m + p] ** 2;
    l[j * m + j] = Math.sqrt(l[j * m + j]);
    for (let i = j + 1; i < m; i++) {
      for (let p = 0; p < j; p++) l[i * m + j] -= l[i * m + p] * l[j * m + p];
      l[i * m + j] /= l[j * m + j];
    }
  }
  const x = Float64Array.from(r);
  for (let c = 0; c < nrhs; c++) {
    for (let i = 0; i < m; i++) {
      for (let p = 0; p < i; p++) x[i * nrhs + c] -= l[i * m + p] * x[p * nrhs + c];
      x[i * nrhs + c] /= l[i * m + i];
    }
    for (let i = m - 1; i >= 0; i--) {
      for (let p = i + 1; p < m; p++) x[i * nrhs + c] -= l[p * m + i] * x[p * nrhs + c];
      x[i * nrhs + c] /= l[i * m + i];
    }
  }
  return x;
}

const cases = [];
const record = (name, got, ref, bound) => cases.push({ name, err: diffNorm(got, ref), bound });

// gemm: C = α·op(A)·op(B) + β·C, every transpose, β = 0 and β = 1
for (const [ta, tb] of [
  [false, false],
  [true, false],
  [false, true],
  [true, true],
]) {
  const m = 37,
    n = 29,
    k = 53,
    alpha = 0.75;
  const a = rand(m * k),
    b = rand(k * n),
    c0 = rand(m * n);
  const ref = matmul64(a, b, m, n, k, ta, tb).map((v, i) => alpha * v + c0[i]);
  const scale = norm(matmul64(abs(a), abs(b), m, n, k, ta, tb).map((v, i) => alpha * v + Math.abs(c0[i])));
  const got = addon.gemm(ta, tb, m, n, k, alpha, a, b, 1, Float32Array.from(c0));
  record(`gemm ta=${ta} tb=${tb}`, got, ref, (k + 2) * u * scale);
}
// gram: K = JᵀJ (J [P, M]) and J Jᵀ (samples-major J [M, P])
for (const samplesMajor of [false, true]) {
  const p = 61,
    m = 23;
  const j = rand(p * m);
  const ref = samplesMajor ? matmul64(j, j, m, m, p, false, true) : matmul64(j, j, m, m, p, true, false);
  const scale = norm(samplesMajor ? matmul64(abs(j), abs(j), m, m, p, false, true) : matmul64(abs(j), abs(j), m, m, p, true, false));
  record(`gram samplesMajor=${samplesMajor}`, addon.gram(j, p, m, samplesMajor, false, null), ref, (p + 1) * u * scale);
}
// layerGram and layerGramSum: K (+)= Σ_l (B_l B_lᵀ) ⊙ (expand_k(A_l A_lᵀ) + 1)
{
  const n = 9,
    k = 3,
    nk = n * k,
    widths = [
      [7, 5],
      [4, 11],
    ];
  const bs = widths.map(([wo]) => rand(nk * wo)),
    as = widths.map(([, wi]) => rand(n * wi));
  const layerRef = (b, a, wo, wi, absolute) => {
    const f = absolute ? abs : (x) => x;
    const bb = matmul64(f(b), f(b), nk, nk, wo, false, true),
      aa = matmul64(f(a), f(a), n, n, wi, false, true);
    return bb.map((v, xy) => v * (aa[Math.floor(Math.floor(xy / nk) / k) * n + Math.floor((xy % nk) / k)] + 1));
  };
  const one = addon.layerGram(bs[0], as[0], n, k, 7, 5, new Float32Array(nk * nk));
  record('layerGram', one, layerRef(bs[0], as[0], 7, 5, false), (7 + 5 + 4) * u * norm(layerRef(bs[0], as[0], 7, 5, true)));
  const sum = addon.layerGramSum(bs, as, n, k, null);
  const ref = layerRef(bs[0], as[0], 7, 5, false).map((v, i) => v + layerRef(bs[1], as[1], 4, 11, false)[i]);
  const scale = norm(layerRef(bs[0], as[0], 7, 5, true).map((v, i) => v + layerRef(bs[1], as[1], 4, 11, true)[i]));
  record('layerGramSum', sum, ref, (11 + 7 + 8) * u * scale);
}
// choleskySolve and pinvSolve: (K + λI)⁻¹ R for a Wishart K = JᵀJ, J [90, 40] uniform(±½): its eigenvalues lie
// in 90/12·(1 ± √(40/90))² ≈ [0.8, 21] (Marchenko–Pastur), so κ ≲ 30. A float32 solve errs by ≲ c·m·u·κ
// (c = 4); with the factorisation in float64 only the float32 result's rounding is left (≲ 4u).
{
  const m = 40,
    p = 90,
    nrhs = 3,
    lambda = 0.05;
  const j = rand(p * m);
  const k64 = matmul64(j, j, m, m, p, true, false);
  const k = Float32Array.from(k64),
    r = rand(m * nrhs);
  const ref = solve64(k, m, r, nrhs, lambda);
  const scale = norm(ref);
  for (const precision of ['float32', 'float64']) {
    const bound = (precision === 'float32' ? 4 * m * 30 : 4) * u * scale;
    record(`choleskySolve ${precision}`, addon.choleskySolve(k, m, r, nrhs, lambda, precision, null), ref, bound);
    const pinv = addon.pinvSolve(k, m, r, nrhs, lambda, 0, precision, null);
    record(`pinvSolve ${precision}`, pinv.x, ref, bound);
    if (pinv.rank !== m) cases.push({ name: `pinvSolve ${precision} rank`, err: Math.abs(pinv.rank - m), bound: 0.5 });
  }
}
// batchedGramInverse: (G_bᵀG_b + λI)⁻¹ per batch entry; G_b [12, 4] uniform(±½): eigenvalues of G_bᵀG_b in
// about (1 ± √(4/12))² = [0.18, 2.5], so κ(G_bᵀG_b + 0.1) ≲ 15, error ≲ 4·k·u·κ
{
  const batch = 6,
    rows = 12,
    k = 4,
    lambda = 0.1;
  const g = rand(batch * rows * k);
  const got = addon.batchedGramInverse(g, batch, rows, k, lambda, null);
  const ref = new Float64Array(batch * k * k),
    eye = new Float32Array(k * k);
  for (let i = 0; i < k; i++) eye[i * k + i] = 1;
  for (let b = 0; b < batch; b++) {
    const gb = g.subarray(b * rows * k, (b + 1) * rows * k);
    ref.set(solve64(Float32Array.from(matmul64(gb, gb, k, k, rows, true, false)), k, eye, k, lambda), b * k * k);
  }
  record('batchedGramInverse', got, ref, 4 * k * 15 * u * norm(ref));
}
// the failure cases: a bad size and a non-positive-definite matrix are refused with their codes
const refusals = [];
try {
  addon.gemm(false, false, 2, 2, 2, 1, new Float32Array(3), new Float32Array(4), 0, null);
  refusals.push('gemm with a short A was not refused');
} catch (e) {
  if (e.code !== 'ERR_OUT_OF_RANGE' && e.code !== 'ERR_INVALID_ARG_VALUE') refusals.push(`gemm short A: code ${e.code} (${e.message})`);
}
try {
  addon.choleskySolve(new Float32Array([1, 2, 2, 1]), 2, new Float32Array(2), 1, 0, 'float32', null);
  refusals.push('an indefinite K was not refused');
} catch (e) {
  if (e.code !== 'ERR_NOT_POSITIVE_DEFINITE') refusals.push(`indefinite K: code ${e.code} (${e.message})`);
}

const failed = cases.filter((c) => !(c.err <= c.bound));
const info = addon.backendInfo();
console.log(
  JSON.stringify({
    backend: { blas: info.blas, kernels: info.kernels, threads: info.threads, note: info.note },
    arch: process.arch,
    node: process.version,
    cases,
    refusals,
  })
);
if (failed.length || refusals.length) {
  for (const c of failed) console.error(`natgrad kernel-cases: ${c.name}: error ${c.err} > bound ${c.bound}`);
  for (const r of refusals) console.error(`natgrad kernel-cases: ${r}`);
  process.exit(1);
}
