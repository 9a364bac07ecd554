// A small workload over every native entry point, for memory checkers (scripts/sanitize.sh
// valgrind): each kernel sync and async at small sizes (layerGramSum at N·k = 120: several tiles), into plain, offset, SharedArrayBuffer
// and resizable arrays, with X = R, every error path (argument errors, NaN input, not
// positive definite, an output transferred while pending), backendInfo/setThreads/
// selectBackend. Exits 1 if a result is off (it checks the kernels against simple
// identities), so that the checker's run also says the code did its work.
//   node scripts/sanitize-workload.js <addon.node> [rounds]
'use strict';
const addon = require(require('node:path').resolve(process.argv[2]));
const rounds = Number(process.argv[3] || 3);

let seed = 3;
const rand = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296 - 0.5;
const filled = (n, kind = 'plain') => {
  let a;
  if (kind === 'offset') a = new Float32Array(n + 3).subarray(2, 2 + n);
  else if (kind === 'shared') a = new Float32Array(new SharedArrayBuffer(4 * n));
  else if (kind === 'resizable') a = new Float32Array(new ArrayBuffer(4 * n, { maxByteLength: 8 * n }));
  else a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rand();
  return a;
};
function spd(m, kind) {
  const K = filled(m * m, kind);
  for (let i = 0; i < m; i++) for (let j = 0; j < i; j++) K[i * m + j] = K[j * m + i];
  for (let i = 0; i < m; i++) K[i * m + i] = m + 1;
  return K;
}
let failures = 0;
const check = (ok, what) => {
  if (!ok) {
    failures++;
    console.error('off:', what);
  }
};
const expectCode = (f, code) => {
  try {
    f();
    check(false, `expected ${code}`);
  } catch (e) {
    check(e.code === code, `expected ${code}, got ${e.code}: ${e.message}`);
  }
};
const expectReject = async (p, code) => {
  try {
    await p;
    check(false, `expected rejection ${code}`);
  } catch (e) {
    check(e.code === code, `expected rejection ${code}, got ${e.code}: ${e.message}`);
  }
};

async function round(kind) {
  const m = 5,
    n = 4,
    k = 3;
  // gemm: C = A·B, compared with a plain loop
  const A = filled(m * k, kind),
    B = filled(k * n, kind);
  const C = addon.gemm(false, false, m, n, k, 1, A, B, 0, filled(m * n, kind));
  const C2 = await addon.gemmAsync(false, false, m, n, k, 1, A, B, 0, filled(m * n, kind));
  let d = 0;
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let l = 0; l < k; l++) s += A[i * k + l] * B[l * n + j];
      d = Math.max(d, Math.abs(s - C[i * n + j]), Math.abs(s - C2[i * n + j]));
    }
  check(d < 1e-5, `gemm ${d}`);
  await addon.gemmAsync(true, true, k, k, m, 0.5, filled(m * k), filled(k * m), 1, filled(k * k, kind));
  // gram both layouts; layerGram accumulates
  const J = filled(7 * m, kind);
  const K1 = addon.gram(J, 7, m, false, false, filled(m * m));
  const K2 = await addon.gramAsync(J, m, 7, true, false, filled(7 * 7, kind));
  check(K1[1] === K1[m] && K2.length === 49, 'gram');
  // accumulate: K += JᵀJ in place, sync and async (K1 is symmetric: twice JᵀJ after one)
  const first = K1[1];
  addon.gram(J, 7, m, false, true, K1);
  await addon.gramAsync(J, m, 7, true, true, K2);
  check(K1[1] === K1[m] && Math.abs(K1[1] - 2 * first) <= 1e-5 * Math.abs(first) + 1e-6, 'gram accumulate');
  const N = 3,
    kk = 2,
    wo = 4,
    wi = 3;
  const Bl = filled(N * kk * wo, kind),
    Al = filled(N * wi, kind);
  const KL = new Float32Array(N * kk * N * kk);
  addon.layerGram(Bl, Al, N, kk, wo, wi, KL);
  const KL2 = await addon.layerGramAsync(Bl, Al, N, kk, wo, wi, new Float32Array(N * kk * N * kk));
  check(
    KL.every((v, i) => v === KL2[i]),
    'layerGram sync = async'
  );
  // layerGramSum: 3 layers, N·k = 120 > 96 (a full and a partial 96-wide tile on each side, three
  // tiles on the worker pool), against a float64 loop; sync = Promise bit for bit; K's old contents unused
  {
    const N = 40,
      k = 3,
      nk = N * k,
      widths = [
        [7, 5],
        [20, 3],
        [2, 9],
      ];
    const bs = widths.map(([wo]) => filled(nk * wo, kind)),
      as = widths.map(([, wi]) => filled(N * wi, kind));
    const S = addon.layerGramSum(bs, as, N, k, filled(nk * nk, kind).fill(NaN));
    const S2 = await addon.layerGramSumAsync(bs, as, N, k, filled(nk * nk, kind));
    check(
      S.every((v, i) => v === S2[i]),
      'layerGramSum sync = async'
    );
    let err = 0;
    for (
      let r = 0;
      r < nk;
      r += 7 // every 7th row: a float64 reference is slow under valgrind
    )
      for (let c = 0; c < nk; c++) {
        let ref = 0;
        widths.forEach(([wo, wi], l) => {
          let bb = 0,
            aa = 0;
          for (let o = 0; o < wo; o++) bb += bs[l][r * wo + o] * bs[l][c * wo + o];
          for (let q = 0; q < wi; q++) aa += as[l][Math.floor(r / k) * wi + q] * as[l][Math.floor(c / k) * wi + q];
          ref += bb * (aa + 1);
        });
        err = Math.max(err, Math.abs(S[r * nk + c] - ref), Math.abs(S[r * nk + c] - S[c * nk + r]));
      }
    check(err < 1e-5, `layerGramSum ${err}`);
    // errors: NaN in a layer (named), K overlapping a layer, a count mismatch; K transferred while pending
    const nan = Float32Array.from(bs[1]);
    nan[11] = NaN;
    expectCode(() => addon.layerGramSum([bs[0], nan], [as[0], as[1]], N, k, new Float32Array(nk * nk)), 'ERR_NON_FINITE');
    await expectReject(addon.layerGramSumAsync([bs[0], nan], [as[0], as[1]], N, k, new Float32Array(nk * nk)), 'ERR_NON_FINITE');
    const both = new Float32Array(N * 9 + nk * nk);
    expectCode(() => addon.layerGramSum(bs.slice(2), [both.subarray(0, N * 9)], N, k, both.subarray(N * 9 - 1, N * 9 - 1 + nk * nk)), 'ERR_OUT_OF_RANGE');
    await expectReject(addon.layerGramSumAsync(bs, as.slice(1), N, k, new Float32Array(nk * nk)), 'ERR_OUT_OF_RANGE');
    const lost = new Float32Array(nk * nk);
    const pendingSum = addon.layerGramSumAsync(bs, as, N, k, lost);
    structuredClone(lost.buffer, { transfer: [lost.buffer] });
    await expectReject(pendingSum, 'ERR_INVALID_STATE');
    // a layer transferred and collected while pending: the call works on its copy
    const b0 = Float32Array.from(bs[0]);
    const p3 = addon.layerGramSumAsync([b0, bs[1], bs[2]], as, N, k, new Float32Array(nk * nk));
    structuredClone(b0.buffer, { transfer: [b0.buffer] });
    if (global.gc) global.gc();
    const S3 = await p3;
    check(
      S3.every((v, i) => v === S[i]),
      'layerGramSum after transferring a layer'
    );
  }
  // solves: residual of K X = R; X = R allowed
  const K = spd(m, kind),
    R = filled(m * 2, kind);
  for (const prec of ['float32', 'float64']) {
    const X = addon.choleskySolve(K, m, R, 2, 0.5, prec, filled(m * 2));
    const X2 = await addon.choleskySolveAsync(K, m, R, 2, 0.5, prec, filled(m * 2, kind));
    check(
      X.every((v, i) => Math.abs(v - X2[i]) < 1e-6),
      `choleskySolve ${prec}`
    );
    const P = filled(m * 2);
    const rank = addon.pinvSolve(K, m, R, 2, 0, 0, prec, P);
    const rank2 = await addon.pinvSolveAsync(K, m, R, 2, 0.1, 1e-3, prec, filled(m * 2, kind));
    check(rank === m && rank2 === m, `pinvSolve rank ${rank} ${rank2}`);
  }
  const RR = Float32Array.from(R);
  await addon.choleskySolveAsync(K, m, RR, 2, 0, 'float32', RR);
  addon.choleskySolve(K, m, R, 2, 0, 'float64', R);
  const G = filled(4 * 6 * 3, kind);
  const inv = addon.batchedGramInverse(G, 4, 6, 3, 0.1, filled(4 * 9));
  const inv2 = await addon.batchedGramInverseAsync(G, 4, 6, 3, 0.1, filled(4 * 9, kind));
  check(
    inv.every((v, i) => v === inv2[i]),
    'batchedGramInverse sync = async'
  );
  // exactStep: a whole step of a small MLP (6-10-tanh-10-4, categorical, N = 12) in one call, λ > 0 and λ = 0,
  // sync and async; a rank-deficient kernel at λ ≈ 0 (not positive definite) and a bad label
  {
    const L = [-1, 6, 10, 0, 10, 10, -1, 10, 4],
      P = 6 * 10 + 10 + 10 * 4 + 4,
      Ns = 12;
    const th = filled(P, kind),
      xs = filled(Ns * 6, kind),
      ys = Float32Array.from({ length: Ns }, (_, i) => i % 4);
    const r1 = addon.exactStep(L, 'categorical', th, xs, ys, Ns, 0.01, 0, 0.5, null);
    const r2 = await addon.exactStepAsync(L, 'categorical', th, xs, ys, Ns, 0.01, 0, 0.5, filled(P, kind));
    check(r1.direction.every((v, i) => v === r2.direction[i]) && r1.trialLoss === r2.trialLoss, 'exactStep sync = async');
    check(r1.gn > 0 && Number.isFinite(r1.nFn) && r1.rank === -1, `exactStep gn ${r1.gn} rank ${r1.rank}`);
    const r0 = addon.exactStep(L, 'gaussian', th, xs, filled(Ns * 4), Ns, 0, 0, 0, null);
    check(r0.rank > 0 && r0.rank <= Ns * 4 && Number.isNaN(r0.trialLoss), `exactStep λ = 0 rank ${r0.rank}`);
    expectCode(() => addon.exactStep([-1, 2, 1], 'gaussian', filled(3), filled(40), filled(20), 20, 1e-12, 0, 0, null), 'ERR_NOT_POSITIVE_DEFINITE');
    await expectReject(
      addon.exactStepAsync(
        L,
        'categorical',
        th,
        xs,
        ys.map((v, i) => (i === 3 ? 9 : v)),
        Ns,
        0.01,
        0,
        0,
        null
      ),
      'ERR_OUT_OF_RANGE'
    );
  }
  // a conv2d layer's patches and input seeds, a pooling layer's passes (stride 2, padding 1; a 3 × 3 window)
  {
    const geo = [2, 7, 6, 3, 3, 2, 1],
      ho = 4,
      wo = 3;
    const x = filled(3 * 2 * 7 * 6, kind);
    const cols = addon.im2col(x, 3, geo, null);
    const cols2 = await addon.im2colAsync(x, 3, geo, filled(3 * ho * wo * 18, kind));
    check(cols.length === 3 * ho * wo * 18 && cols.every((v, i) => v === cols2[i]), 'im2col sync = async');
    const w = filled(4 * 18, kind),
      dy = filled(5 * 4 * ho * wo, kind);
    const dx = addon.conv2dInputSeeds(w, dy, 5, 4, geo, null);
    const dx2 = await addon.conv2dInputSeedsAsync(w, dy, 5, 4, geo, filled(5 * 84, kind));
    check(
      dx.every((v, i) => v === dx2[i]),
      'conv2dInputSeeds sync = async'
    );
    const theta = filled(4 * 18 + 4, kind);
    const cy = addon.conv2dForward(cols, theta, 3, 4, geo, null);
    const cy2 = await addon.conv2dForwardAsync(cols, theta, 3, 4, geo, filled(3 * 4 * ho * wo, kind));
    check(cy.length === 3 * 4 * ho * wo && cy.every((v, i) => v === cy2[i]), 'conv2dForward sync = async');
    const gdy = filled(3 * 2 * 4 * ho * wo, kind);
    const cg = addon.conv2dGradients(gdy, cols, 3, 2, 4, geo, null);
    const cg2 = await addon.conv2dGradientsAsync(gdy, cols, 3, 2, 4, geo, filled(6 * 76, kind));
    check(cg.length === 6 * 76 && cg.every((v, i) => v === cg2[i]), 'conv2dGradients sync = async');
    expectCode(() => addon.conv2dGradients(gdy, cols, 3, 2, 4, geo, filled(5, kind)), 'ERR_OUT_OF_RANGE');
    check(addon.allFinite(cy, cy.length) === true && (await addon.allFiniteAsync(cols, cols.length)) === true, 'allFinite on finite arrays');
    const nf = filled(5000, kind);
    nf[4321] = Number.NaN;
    expectCode(() => addon.allFinite(nf, nf.length), 'ERR_NON_FINITE');
    const y = addon.pool2dForward('max', x, 3, [2, 7, 6, 3], null);
    const px = await addon.pool2dBackwardAsync('avg', x, filled(3 * 2 * 2 * 4, kind), 3, 2, [2, 7, 6, 3], null);
    check(y.length === 3 * 2 * 2 * 2 && px.length === 6 * 84, 'pool2d shapes');
    expectCode(() => addon.im2col(x, 3, [2, 7, 6, 9, 3, 1, 0], null), 'ERR_OUT_OF_RANGE');
  }
  // error paths
  expectCode(() => addon.gemm(false, false, m, n, k, 1, A, B, 0, new Float32Array(1)), 'ERR_OUT_OF_RANGE');
  expectCode(() => addon.gram('x', 1, 1, false, false, new Float32Array(1)), 'ERR_INVALID_ARG_TYPE');
  expectCode(() => addon.gemm(false, false, 46341, 46341, 46341, 1, A, B, 0, C), 'ERR_OUT_OF_RANGE');
  const bad = filled(m * m);
  bad[7] = NaN;
  expectCode(() => addon.choleskySolve(bad, m, R, 2, 0, 'float32', filled(m * 2)), 'ERR_NON_FINITE');
  await expectReject(addon.pinvSolveAsync(bad, m, R, 2, 0, 0, 'float32', filled(m * 2)), 'ERR_NON_FINITE');
  const indefinite = spd(m);
  indefinite[0] = -1;
  expectCode(() => addon.choleskySolve(indefinite, m, R, 2, 0, 'float64', filled(m * 2)), 'ERR_NOT_POSITIVE_DEFINITE');
  await expectReject(addon.choleskySolveAsync(indefinite, m, R, 2, 0, 'float32', filled(m * 2)), 'ERR_NOT_POSITIVE_DEFINITE');
  await expectReject(addon.batchedGramInverseAsync(new Float32Array(2 * 1 * 3), 2, 1, 3, 0, filled(2 * 9)), 'ERR_NOT_POSITIVE_DEFINITE');
  await expectReject(addon.gramAsync(J, 7, m, false, false, new Float32Array(2)), 'ERR_OUT_OF_RANGE');
  // an output transferred, an input transferred and collected while pending
  const out = new Float32Array(m * n);
  const pending = addon.gemmAsync(false, false, m, n, k, 1, A, B, 0, out);
  structuredClone(out.buffer, { transfer: [out.buffer] });
  await expectReject(pending, 'ERR_INVALID_STATE');
  const A2 = Float32Array.from(A);
  const p2 = addon.gemmAsync(false, false, m, n, k, 1, A2, B, 0, new Float32Array(m * n));
  structuredClone(A2.buffer, { transfer: [A2.buffer] });
  if (global.gc) global.gc();
  const C3 = await p2;
  check(
    C3.every((v, i) => Math.abs(v - C[i]) < 1e-6),
    'gemm after transferring an input'
  );
}

async function main() {
  addon.backendInfo();
  addon.setThreads(2);
  addon.selectBackend('cpu');
  try {
    addon.selectBackend('cuda');
  } catch (e) {
    check(e.code === 'ERR_BACKEND_UNAVAILABLE', 'selectBackend cuda');
  }
  addon.selectBackend('cpu');
  for (let r = 0; r < rounds; r++) for (const kind of ['plain', 'offset', 'shared', 'resizable']) await round(kind);
  // many concurrent calls at once
  const all = [];
  for (let i = 0; i < 32; i++) all.push(addon.gemmAsync(false, false, 8, 8, 8, 1, filled(64), filled(64), 0, new Float32Array(64)));
  await Promise.all(all);
  console.log(failures ? `${failures} checks failed` : 'workload done: all checks passed');
  process.exitCode = failures ? 1 : 0;
}
main().catch((e) => {
  console.error(e);
  process.exitCode = 2;
});
