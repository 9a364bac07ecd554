#!/usr/bin/env node
// npm run bench:native [-- --quick]
//
// natgrad's CPU kernels against a ceiling: bench/ceiling.c, a plain C program
// that does the same work by calling the same static OpenBLAS directly, on
// bit-identical inputs (the LCG below is also in ceiling.c; checksums of the
// outputs are compared). The two run alternately, one timed call each in turn,
// so that noise on this machine hits both; what is reported is the median of
// the repetitions after one warm-up call each, and the ratio
//   ratio = median over repetitions of (ceiling time / natgrad time) for the two calls made
//           back to back (≈ natgrad GFLOP/s / ceiling GFLOP/s; pairing cancels load drift),
// with the ratios of the two medians and of the two minimums also written to the JSON.
// Target (issue #2): ratio ≥ 0.90 for every kernel at M ≥ 1024; a tiny sync call ≤ 2 µs.
//
// FLOP conventions (GFLOP/s = flops / median seconds / 1e9):
//   gram          K = JᵀJ, J [P,M]:   M²·P   (the full symmetric product, although ssyrk forms one triangle)
//   layerGram     N·k = M:            M²·widthOut + N²·widthIn (the two Gram products, same convention)
//   choleskySolve K [M,M], nrhs = 1:  M³/3 + 2·M²·nrhs (potrf + potrs)
//   pinvSolve     K [M,M], nrhs = 1:  4·M³ + 4·M²·nrhs (nominal: syevd with eigenvectors ≈ 4/3·M³ to
//                                     tridiagonal form + 2·M³ back-transformation + divide and conquer;
//                                     a convention — the ratio to the ceiling is exact either way)
//   batchedGramInverse batch = M, G_b [rows, k]: M·(rows·k² + k³) (syrk + potrf + potri per matrix)
//   gemm          [M,M]·[M,M]:        2·M³
// The ceiling of each kernel is the whole job in plain C (gram: ssyrk + a tiled
// mirror to full symmetric; layerGram: two ssyrk + the Hadamard accumulation as a
// plain tiled loop; choleskySolve: copy + spotrf + spotrs; pinvSolve: copy + ssyevd (workspace
// sized once) + cutoff + two sgemm; batchedGramInverse: per matrix ssyrk + spotrf + spotri +
// mirror, one LAPACK call sequence per matrix — the straightforward C loop; gemm: one sgemm) — the loops are the
// straightforward ones natgrad's kernels started from, so natgrad can beat them
// where its own passes are better; "bare BLAS", the ceiling's BLAS/LAPACK calls
// alone, is reported beside it as the stricter figure. The ceiling allocates its buffers once per shape
// outside the timed region; natgrad gets preallocated outputs too (the `out`
// arrays of the API), and whatever scratch it needs is its own business, as are
// the addon's argument checks (every input is scanned for NaN/Infinity, which
// the ceiling does not do: about 0.2 ms per MiB on the benchmark machine).
//
// Sizes: M ∈ {256, 1024, 2048, 4096}, P = 10,000 for gram; layerGram with k = 8
// (so that N = M/8 is whole), widthOut = widthIn = 256; choleskySolve with nrhs = 1,
// damping 1e-3 on a diagonally dominant K; pinvSolve the same K and R (M ≤ 2048 unless
// --sizes names larger: ~10 s a call at 4096); batchedGramInverse M matrices G_b [512, 10]
// (the shape of the per-sample factor of a 784-256-256-10 MLP), damping 1e-3; gemm M×M×M. Repetitions: as many as fit in ~2 s per
// side, 7 to 31; 5 for a call over 1 s (gram at M ≥ 2048 with OpenBLAS's generic
// kernels: ~3 s a call at M = 4096). --quick: M ∈ {256, 1024}, 5 to 9 repetitions.
// The environment is used as given (OPENBLAS_CORETYPE, NATGRAD_THREADS, …); the
// ceiling runs with natgrad's thread count. Call overhead: gram 1×1 and gemm 1×1×1,
// sync (median over 200 batches of 1000 calls) and Promise form (100 batches of
// 1000 awaited calls), minus the same BLAS call timed in C; gemm 1×1×1 in both forms too, and
// promise_minus_sync_ns = Promise form − sync form per call (the cost of going off the event loop).
// Options: --quick, --only=gram,layerGram,choleskySolve,pinvSolve,batchedGramInverse,gemm,overhead,
// --sizes=…, --out=FILE, --pause=MS, --max-reps=N.
'use strict';

const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');

const root = path.resolve(__dirname, '..');
const ng = require(path.join(root, 'dist', 'index.js'));
const { native } = require(path.join(root, 'dist', 'native.js'));

const argValue = (name) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const quick = process.argv.includes('--quick');
// --sizes=1024,4096 and --only=layerGram,gram narrow a run (for working on one kernel);
// a narrowed run writes bench/results/kernels.partial.json.tmp (git-ignored) instead of kernels.json (the
// file `npm run bench`'s kernels section writes too: one file, whichever command made it).
const SIZES = argValue('sizes')?.split(',').map(Number) ?? (quick ? [256, 1024] : [256, 1024, 2048, 4096]);
const ONLY = argValue('only')?.split(',');
const partial = ONLY !== undefined || argValue('sizes') !== undefined;
// --out=FILE writes the JSON there instead (e.g. for a run with OPENBLAS_CORETYPE set by hand).
const OUT = argValue('out');
const P = 10000;
const LAYER = { k: 8, widthOut: 256, widthIn: 256 };
const DAMPING = 1e-3;
const NRHS = 1;
const PINV_MAX_M = 2048; // unless --sizes is given
const BGI = { rows: 512, k: 10 };
// Repetitions: enough timed calls of each side for about REP_BUDGET_S seconds (from the
// warm-up call), at least MIN_REPS and at most MAX_REPS; gram at M = 4096 gets MIN_REPS_SLOW.
const MIN_REPS = quick ? 5 : 7;
// --max-reps=N caps it (bench/run.js: 9, to keep the whole suite within its time budget).
const MAX_REPS = Math.max(quick ? 5 : 7, Number(argValue('max-reps') ?? (quick ? 9 : 31)));
const MIN_REPS_SLOW = 5;
const REP_BUDGET_S = quick ? 0.5 : 2;
function repsFor(warmupSeconds) {
  if (warmupSeconds > 1) return MIN_REPS_SLOW;
  return Math.max(MIN_REPS, Math.min(MAX_REPS, Math.floor(REP_BUDGET_S / warmupSeconds)));
}
// OpenBLAS worker threads spin (sched_yield) for about 2^28 TSC cycles after a call
// before they sleep (~120 ms of a busy core, measured here); wait that out before
// the other process runs.
// --pause=MS shortens it (bench/run.js --quick: a smoke run, where the figures do not matter).
const SWITCH_PAUSE_MS = Number(argValue('pause') ?? 200);

// ---- deterministic inputs: the same generator as fill() in bench/ceiling.c ----
// x ← 1664525·x + 1013904223 (mod 2³²); value = (x >> 8)·2⁻²⁴ − 0.5 (exact in float32).
function fill(n, seed) {
  const a = new Float32Array(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(1664525, x) + 1013904223) >>> 0;
    a[i] = (x >>> 8) * (1 / 16777216) - 0.5;
  }
  return a;
}
function fillSpd(M, seed) {
  const K = new Float32Array(M * M);
  let x = seed >>> 0;
  for (let i = 0; i < M; i++) {
    for (let j = i; j < M; j++) {
      x = (Math.imul(1664525, x) + 1013904223) >>> 0;
      let v = Math.fround((x >>> 8) * (1 / 16777216) - 0.5);
      if (i === j) v = Math.fround(v + M);
      K[i * M + j] = v;
      K[j * M + i] = v;
    }
  }
  return K;
}
const SEED = { J: 1, B: 2, A: 3, K: 4, R: 5, G: 6, GA: 7, GB: 8 };
function checksum(a) {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * (1 + (i % 7));
  return s;
}

// ---- the ceiling program ----
function buildCeiling() {
  const exe = path.join(root, 'build', 'bench-ceiling');
  const src = path.join(__dirname, 'ceiling.c');
  const ob = (what) => execFileSync(process.execPath, [path.join(root, 'scripts', 'openblas.js'), what], { encoding: 'utf8' }).trim();
  fs.mkdirSync(path.dirname(exe), { recursive: true });
  const args = ['-O2', src, `-I${ob('include')}`, ...ob('link').split('\n'), '-lpthread', '-lm', '-o', exe];
  console.log(`building the ceiling: cc ${args.map((a) => path.relative(root, a) || a).join(' ')}`);
  execFileSync('cc', args, { stdio: 'inherit', cwd: root });
  return exe;
}

class Ceiling {
  constructor(exe) {
    this.proc = spawn(exe, [], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.waiting = [];
    this.exited = null;
    readline.createInterface({ input: this.proc.stdout }).on('line', (line) => {
      const w = this.waiting.shift();
      if (w) w.resolve(JSON.parse(line));
    });
    this.proc.on('exit', (code, signal) => {
      this.exited = `ceiling exited (code ${code}, signal ${signal})`;
      for (const w of this.waiting.splice(0)) w.reject(new Error(this.exited));
    });
  }
  cmd(line) {
    if (this.exited) return Promise.reject(new Error(this.exited));
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.proc.stdin.write(line + '\n');
    });
  }
  async close() {
    if (!this.exited) this.proc.stdin.end('quit\n');
    await new Promise((r) => (this.exited ? r() : this.proc.on('exit', r)));
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
};
const seconds = (fn) => {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
};

// One kernel at one size: a warm-up call on each side (also the correctness
// check), then `n` timed calls each, alternating which side goes first.
async function compare(ceiling, spec) {
  const { natgradCall, ceilingCmd, checksumAfterWarmup } = spec;
  await sleep(SWITCH_PAUSE_MS);
  const warmupSeconds = seconds(natgradCall);
  const ours = checksumAfterWarmup();
  await sleep(SWITCH_PAUSE_MS);
  const warm = await ceiling.cmd(ceilingCmd);
  const n = repsFor(Math.max(warmupSeconds, warm.seconds));
  const natgrad = [];
  const ceil = [];
  const blas = [];
  for (let r = 0; r < n; r++) {
    const order = r % 2 === 0 ? ['natgrad', 'ceiling'] : ['ceiling', 'natgrad'];
    for (const side of order) {
      await sleep(SWITCH_PAUSE_MS);
      if (side === 'natgrad') {
        natgrad.push(seconds(natgradCall));
      } else {
        const c = await ceiling.cmd(ceilingCmd);
        ceil.push(c.seconds);
        blas.push(c.blas_seconds);
      }
    }
  }
  return { natgrad, ceil, blas, checksum: { natgrad: ours, ceiling: warm.checksum } };
}

function summarise(kernel, M, shape, flops, m) {
  const tn = median(m.natgrad);
  const tc = median(m.ceil);
  const tb = median(m.blas);
  const rel = Math.abs(m.checksum.natgrad - m.checksum.ceiling) / Math.max(1e-30, Math.abs(m.checksum.ceiling));
  return {
    kernel,
    M,
    ...shape,
    flops,
    reps: m.natgrad.length,
    natgrad: { median_s: tn, min_s: Math.min(...m.natgrad), times_s: m.natgrad, gflops: flops / tn / 1e9 },
    ceiling: { median_s: tc, min_s: Math.min(...m.ceil), times_s: m.ceil, gflops: flops / tc / 1e9 },
    bare_blas: { median_s: tb, gflops: flops / tb / 1e9 },
    // headline: median over repetitions of ceiling/natgrad for the two calls made
    // back to back (cancels load drift on a shared machine); ratio of medians beside it
    ratio: median(m.natgrad.map((t, i) => m.ceil[i] / t)),
    ratio_of_medians: tc / tn,
    ratio_of_minimums: Math.min(...m.ceil) / Math.min(...m.natgrad),
    ratio_vs_bare_blas: median(m.natgrad.map((t, i) => m.blas[i] / t)),
    checksum: { ...m.checksum, identical: m.checksum.natgrad === m.checksum.ceiling, relative_difference: rel },
  };
}

async function benchGram(ceiling, M) {
  const J = fill(P * M, SEED.J);
  const K = new Float32Array(M * M);
  const m = await compare(ceiling, {
    natgradCall: () => ng.gram(J, P, M, { out: K }),
    checksumAfterWarmup: () => checksum(K),
    ceilingCmd: `gram ${P} ${M}`,
  });
  return summarise('gram', M, { P }, M * M * P, m);
}

async function benchLayerGram(ceiling, M) {
  const { k, widthOut, widthIn } = LAYER;
  const N = M / k;
  const B = fill(M * widthOut, SEED.B);
  const A = fill(N * widthIn, SEED.A);
  const K = new Float32Array(M * M);
  await ceiling.cmd(`layergram ${N} ${k} ${widthOut} ${widthIn}`); // allocate and fill the inputs…
  await ceiling.cmd('layergram_reset'); // …and start from K = 0 like natgrad
  const m = await compare(ceiling, {
    natgradCall: () => ng.layerGram(B, A, N, k, widthOut, widthIn, K),
    checksumAfterWarmup: () => checksum(K),
    ceilingCmd: `layergram ${N} ${k} ${widthOut} ${widthIn}`,
  });
  return summarise('layerGram', M, { N, k, widthOut, widthIn }, M * M * widthOut + N * N * widthIn, m);
}

async function benchCholesky(ceiling, M) {
  const K = fillSpd(M, SEED.K);
  const R = fill(M * NRHS, SEED.R);
  const X = new Float32Array(M * NRHS);
  const m = await compare(ceiling, {
    natgradCall: () => ng.choleskySolve(K, M, R, NRHS, { damping: DAMPING, out: X }),
    checksumAfterWarmup: () => checksum(X),
    ceilingCmd: `chol ${M} ${NRHS} ${DAMPING}`,
  });
  return summarise('choleskySolve', M, { nrhs: NRHS, damping: DAMPING }, (M * M * M) / 3 + 2 * M * M * NRHS, m);
}

async function benchPinv(ceiling, M) {
  const K = fillSpd(M, SEED.K);
  const R = fill(M * NRHS, SEED.R);
  const X = new Float32Array(M * NRHS);
  const m = await compare(ceiling, {
    natgradCall: () => ng.pinvSolve(K, M, R, NRHS, { damping: DAMPING, out: X }),
    checksumAfterWarmup: () => checksum(X),
    ceilingCmd: `pinv ${M} ${NRHS} ${DAMPING}`,
  });
  return summarise('pinvSolve', M, { nrhs: NRHS, damping: DAMPING }, 4 * M * M * M + 4 * M * M * NRHS, m);
}

async function benchBatchedGramInverse(ceiling, M) {
  const { rows, k } = BGI;
  const G = fill(M * rows * k, SEED.G);
  const out = new Float32Array(M * k * k);
  const m = await compare(ceiling, {
    natgradCall: () => ng.batchedGramInverse(G, M, rows, k, { damping: DAMPING, out }),
    checksumAfterWarmup: () => checksum(out),
    ceilingCmd: `bgi ${M} ${rows} ${k} ${DAMPING}`,
  });
  return summarise('batchedGramInverse', M, { batch: M, rows, k, damping: DAMPING }, M * (rows * k * k + k * k * k), m);
}

async function benchGemm(ceiling, M) {
  const A = fill(M * M, SEED.GA);
  const B = fill(M * M, SEED.GB);
  const C = new Float32Array(M * M);
  const m = await compare(ceiling, {
    natgradCall: () => ng.gemm(A, B, M, M, M, { out: C }),
    checksumAfterWarmup: () => checksum(C),
    ceilingCmd: `gemm ${M} ${M} ${M}`,
  });
  return summarise('gemm', M, { n: M, k: M }, 2 * M * M * M, m);
}

// JS→native overhead: median over batches of `batch` back-to-back calls of the
// per-call time (ns), after a warm-up; ≥ 100k calls for the sync forms.
function perCallSync(fn, batches, batch) {
  for (let i = 0; i < 20000; i++) fn();
  const per = [];
  for (let b = 0; b < batches; b++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < batch; i++) fn();
    per.push(Number(process.hrtime.bigint() - t0) / batch);
  }
  return { median_ns: median(per), min_ns: Math.min(...per), calls: batches * batch };
}
async function perCallAsync(fn, batches, batch) {
  for (let i = 0; i < 2000; i++) await fn();
  const per = [];
  for (let b = 0; b < batches; b++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < batch; i++) await fn();
    per.push(Number(process.hrtime.bigint() - t0) / batch);
  }
  return { median_ns: median(per), min_ns: Math.min(...per), calls: batches * batch };
}

async function benchOverhead(ceiling) {
  const j = new Float32Array([0.5]);
  const k = new Float32Array(1);
  const a = new Float32Array([0.5]);
  const b = new Float32Array([0.25]);
  const c = new Float32Array(1);
  const syncBatches = quick ? 100 : 200;
  const asyncBatches = quick ? 20 : 100;
  await sleep(SWITCH_PAUSE_MS);
  const bare = await ceiling.cmd(`tiny ${quick ? 200000 : 1000000}`);
  await sleep(SWITCH_PAUSE_MS);
  const out = {
    gram_1x1_addon_sync: perCallSync(() => native.gram(j, 1, 1, false, false, k), syncBatches, 1000),
    gram_1x1_sync: perCallSync(() => ng.gram(j, 1, 1, { out: k }), syncBatches, 1000),
    gemm_1x1x1_sync: perCallSync(() => ng.gemm(a, b, 1, 1, 1, { out: c }), syncBatches, 1000),
    gram_1x1_async: await perCallAsync(() => ng.gramAsync(j, 1, 1, { out: k }), asyncBatches, 1000),
    gemm_1x1x1_async: await perCallAsync(() => ng.gemmAsync(a, b, 1, 1, 1, { out: c }), asyncBatches, 1000),
    bare_blas_ns: { gram_1x1: bare.gram_ns, gemm_1x1x1: bare.gemm_ns },
  };
  // the call's own cost: total per call minus the BLAS call it wraps (measured in C)
  out.gram_1x1_sync.overhead_ns = out.gram_1x1_sync.median_ns - bare.gram_ns;
  out.gram_1x1_addon_sync.overhead_ns = out.gram_1x1_addon_sync.median_ns - bare.gram_ns;
  out.gemm_1x1x1_sync.overhead_ns = out.gemm_1x1x1_sync.median_ns - bare.gemm_ns;
  out.gram_1x1_async.overhead_ns = out.gram_1x1_async.median_ns - bare.gram_ns;
  out.gemm_1x1x1_async.overhead_ns = out.gemm_1x1x1_async.median_ns - bare.gemm_ns;
  out.promise_minus_sync_ns = {
    gram_1x1: out.gram_1x1_async.median_ns - out.gram_1x1_sync.median_ns,
    gemm_1x1x1: out.gemm_1x1x1_async.median_ns - out.gemm_1x1x1_sync.median_ns,
  };
  return out;
}

const fmt = (x, d = 2) => x.toFixed(d);
function printTable(rows, overhead) {
  const head = ['kernel', 'M', 'reps', 'natgrad ms', 'GFLOP/s', 'ceiling ms', 'GFLOP/s', 'ratio', 'ratio(min)', 'bare BLAS GFLOP/s', 'vs bare', 'same result'];
  const lines = rows.map((r) => [
    r.kernel,
    String(r.M),
    String(r.reps),
    fmt(r.natgrad.median_s * 1e3, 1),
    fmt(r.natgrad.gflops, 1),
    fmt(r.ceiling.median_s * 1e3, 1),
    fmt(r.ceiling.gflops, 1),
    fmt(r.ratio, 3) + (r.M >= 1024 ? (r.ratio >= 0.9 ? ' ok' : ' LOW') : ''),
    fmt(r.ratio_of_minimums, 3),
    fmt(r.bare_blas.gflops, 1),
    fmt(r.ratio_vs_bare_blas, 3),
    r.checksum.identical ? 'bitwise' : `rel ${r.checksum.relative_difference.toExponential(1)}`,
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const row = (cells) => cells.map((c, i) => (i < 1 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ');
  console.log('\n' + row(head));
  console.log(w.map((n) => '-'.repeat(n)).join('  '));
  for (const l of lines) console.log(row(l));
  if (!overhead) return;
  console.log('\ncall overhead (median ns per call; BLAS part measured in C subtracted in "overhead"):');
  for (const [name, v] of Object.entries(overhead)) {
    if (name === 'bare_blas_ns' || name === 'promise_minus_sync_ns') continue;
    console.log(
      `  ${name.padEnd(22)} ${fmt(v.median_ns, 0).padStart(7)} ns/call (fastest batch ${fmt(v.min_ns, 0)})  overhead ${fmt(v.overhead_ns, 0).padStart(7)} ns  (${v.calls} calls)`
    );
  }
  console.log(`  bare BLAS in C: ssyrk 1×1 ${fmt(overhead.bare_blas_ns.gram_1x1, 0)} ns, sgemm 1×1×1 ${fmt(overhead.bare_blas_ns.gemm_1x1x1, 0)} ns`);
  const pm = overhead.promise_minus_sync_ns;
  console.log(`  Promise form − sync form: gram 1×1 ${fmt(pm.gram_1x1, 0)} ns, gemm 1×1×1 ${fmt(pm.gemm_1x1x1, 0)} ns per call`);
}

async function main() {
  const info = ng.backend();
  const exe = buildCeiling();
  const ceiling = new Ceiling(exe);
  const cinfo = await ceiling.cmd(`threads ${info.threads}`);
  console.log(`natgrad: ${info.name}, ${info.blas}, ${info.threads} threads; ceiling: ${cinfo.corename}, ${cinfo.threads} threads`);
  if (info.note) console.log(`note: ${info.note}`);
  const loadBefore = os.loadavg();
  if (loadBefore[0] > os.cpus().length / 2)
    console.log(
      `warning: load average ${loadBefore.map((l) => l.toFixed(2)).join(' ')} on ${os.cpus().length} cores — other work will disturb the figures (ratios less so)`
    );
  const started = Date.now();
  const rows = [];
  try {
    for (const [name, fn] of [
      ['gram', benchGram],
      ['layerGram', benchLayerGram],
      ['choleskySolve', benchCholesky],
      ['pinvSolve', benchPinv],
      ['batchedGramInverse', benchBatchedGramInverse],
      ['gemm', benchGemm],
    ]) {
      if (ONLY && !ONLY.includes(name)) continue;
      for (const M of SIZES) {
        if (name === 'pinvSolve' && M > PINV_MAX_M && argValue('sizes') === undefined) continue;
        const r = await fn(ceiling, M);
        await ceiling.cmd('free');
        rows.push(r);
        console.log(
          `${name.padEnd(13)} M=${String(M).padStart(4)}  natgrad ${fmt(r.natgrad.gflops, 1)} GFLOP/s  ceiling ${fmt(r.ceiling.gflops, 1)} GFLOP/s  ratio ${fmt(r.ratio, 3)}`
        );
      }
    }
    const overhead = ONLY && !ONLY.includes('overhead') ? null : await benchOverhead(ceiling);
    const big = rows.filter((r) => r.M >= 1024);
    const targets = {
      kernels_at_least_90pct_of_ceiling_from_M1024: big.length ? big.every((r) => r.ratio >= 0.9) : null,
      lowest_ratio_from_M1024: big.length ? Math.min(...big.map((r) => r.ratio)) : null,
      tiny_sync_call_at_most_2us: overhead ? overhead.gram_1x1_sync.median_ns <= 2000 && overhead.gemm_1x1x1_sync.median_ns <= 2000 : null,
    };
    const result = {
      date: new Date().toISOString(),
      command: `node bench/native.js ${process.argv.slice(2).join(' ')}`.trim(),
      quick,
      node: process.version,
      platform: `${process.platform}-${process.arch}`,
      machine: require('./util').machine(ng),
      load_average: { before: loadBefore, after: os.loadavg() },
      backend: { name: info.name, blas: info.blas, threads: info.threads, note: info.note, kernels: info.kernels },
      natgrad_kernels: info.kernels,
      ceiling: {
        build: 'cc -O2 bench/ceiling.c <openblas include> <static libopenblas.a> -lpthread -lm',
        corename: cinfo.corename,
        config: cinfo.config,
        threads: cinfo.threads,
      },
      env: {
        OPENBLAS_CORETYPE: process.env.OPENBLAS_CORETYPE ?? null,
        NATGRAD_CPU_GEMM: process.env.NATGRAD_CPU_GEMM ?? null,
        NATGRAD_THREADS: process.env.NATGRAD_THREADS ?? null,
        OPENBLAS_NUM_THREADS: process.env.OPENBLAS_NUM_THREADS ?? null,
      },
      conventions: {
        ratio:
          'median over repetitions of ceiling seconds / natgrad seconds, the two calls made back to back (≈ natgrad GFLOP/s / ceiling GFLOP/s); ratio_of_medians and ratio_of_minimums beside it; target ≥ 0.9 at M ≥ 1024',
        gram_flops: 'M²·P (full symmetric product)',
        layerGram_flops: '(N·k)²·widthOut + N²·widthIn',
        choleskySolve_flops: 'M³/3 + 2·M²·nrhs',
        pinvSolve_flops: '4·M³ + 4·M²·nrhs (nominal for syevd with eigenvectors; the ratio is exact)',
        batchedGramInverse_flops: 'M·(rows·k² + k³), M = batch, rows = 512, k = 10',
        gemm_flops: '2·M³ (square)',
        ceilings:
          'gram: ssyrk + tiled mirror; layerGram: 2 ssyrk + tiled Hadamard; choleskySolve: copy + spotrf + spotrs; pinvSolve: copy + ssyevd (workspace sized once) + cutoff + 2 sgemm; batchedGramInverse: per matrix ssyrk + spotrf + spotri + mirror; gemm: one sgemm',
        ceiling: 'the same job in plain C over the same static OpenBLAS, buffers allocated outside the timed region; bare_blas = its BLAS/LAPACK calls alone',
        timing: 'one warm-up call each, then alternating timed calls; median',
      },
      results: rows,
      overhead,
      targets,
      wall_s: (Date.now() - started) / 1000,
    };
    const outFile = OUT ? path.resolve(OUT) : path.join(__dirname, 'results', partial ? 'kernels.partial.json.tmp' : 'kernels.json');
    fs.mkdirSync(path.dirname(outFile), { recursive: true });
    fs.writeFileSync(outFile, require('./util').compactJson(result) + '\n');
    printTable(rows, overhead);
    const verdict = (ok) => (ok === null ? 'not measured' : ok ? 'met' : 'NOT met');
    console.log(
      `\ntargets: every kernel ≥ 90% of the ceiling at M ≥ 1024: ${verdict(targets.kernels_at_least_90pct_of_ceiling_from_M1024)}` +
        (big.length ? ` (lowest ${fmt(targets.lowest_ratio_from_M1024, 3)})` : '') +
        `; tiny sync call ≤ 2 µs: ${verdict(targets.tiny_sync_call_at_most_2us)}`
    );
    console.log(`wrote ${path.relative(root, outFile)} (${fmt(result.wall_s, 0)} s)`);
  } finally {
    await ceiling.close();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
