#!/usr/bin/env node
// node bench/alternatives.js [--quick] [--sizes=256,1024,2048] [--reps=5] [--cap=20] [--skip-over=15] [--full] [--out=FILE]
// (part of `npm run bench`; build first: npx tsc -p tsconfig.json)
//
// The exact natural-gradient direction computed by natgrad, and by what a Node user would pick
// instead: ml-matrix, and TensorFlow.js (tfjs-core) on its WebAssembly backend (XNNPACK, SIMD) and on
// its pure-JS CPU backend. The same direction for the same MLP, batch and loss:
//
//   n_θ = (F_θ + λI)⁻¹ g_θ = J (JᵀJ + NλI)⁻¹ g        (gaussian output: F_i = I, g_i = η_i − y_i)
//
// MLP 32-32-32-8 (tanh), gaussian loss, λ = 1e-3 (fixed), inputs and targets from the LCG of
// bench/util.js, N = M/8 samples for a kernel of size M = N·k. P = 2,376 ≥ M at every size, so the
// kernel route (an M × M system) is the right one for every side; a larger P only slows the JS
// alternatives further (their JᵀJ costs P·M² multiply-adds, natgrad's per-layer kernel M²·Σwidths).
//
// What each side is timed doing:
//  - natgrad: opt.direction(x, y, N) from the raw batch: forward pass, the Jacobian's backpropagated
//    factors, the kernel of all layers (layerGramSum), Cholesky, the contraction n = J c. With the default
//    BLAS thread count and again with 1 thread (the JS alternatives use one core).
//  - the alternatives start from J already materialised (natgrad's model.jacobian, not timed: its
//    time is reported beside) and from g; timed: K = JᵀJ, K + NλI, the solve, n = J c.
//      ml-matrix:  Jᵀ.mmul(J), CholeskyDecomposition(K).solve(g), J.mmul(c)        (float64)
//      tfjs-wasm:  matMul(transpose(J), J), CG in tfjs ops, matMul(J, c)            (float32)
//      tfjs-cpu:   the same on the pure-JS backend                                  (float32)
//    tfjs has no Cholesky, LU or triangular solve (tf.linalg offers qr, gramSchmidt, bandPart), so it
//    solves by conjugate gradients written in tfjs ops (matMul K·p per iteration, two scalars read
//    back), to ‖r‖ ≤ 1e-6‖g‖. The transpose is explicit: matMul(J, J, transposeA=true) is ~20× slower
//    on the wasm backend here. In Node the wasm backend runs one thread (no multithreaded wasm build
//    is loaded outside browsers with cross-origin isolation); it loads its .wasm from node_modules
//    (setWasmPaths to the package's dist/ folder: no network). Both in production mode
//    (tf.enableProdMode()). Not included: @tensorflow/tfjs-node, whose install script downloads
//    libtensorflow from outside the npm registry.
//  Every alternative's direction is checked against natgrad's (relative error ≤ 1e-3) before timing.
//
// Then one row on the demo's MNIST MLP (784-128-10 relu, P = 101,770, its initialisation) at N·k = 1030
// (103 MNIST digits, one-hot targets, gaussian loss): P ≫ N·k, the regime natgrad is built for. There J
// is 400 MiB, tfjs-wasm's K alone ~20 s a call (1 repetition under --cap), and ml-matrix and tfjs-cpu
// are predicted (K from the small model × the P ratio + its solve: minutes) instead of run. --no-wide
// leaves the row out (so does --sizes).
//
// Repetitions: natgrad 2 warm-up calls, then 7 timed. An alternative gets one warm-up call at a size
// when a call takes under 2 s (at larger sizes the previous size warmed its JIT), then up to --reps
// (default 5) timed calls, fewer when they would exceed --cap seconds (default 20) for that size: the
// count is in the JSON (`reps`). An alternative whose call is predicted to take over --skip-over
// seconds (default 15) at a size — its time at the previous size × (size ratio)², a lower bound since
// its K costs P·M² and its solve up to M³ — is not run there (ml-matrix and tfjs-cpu at N·k = 2048:
// ~1 minute a call here); the JSON keeps the prediction, and the target's "fastest alternative" is
// only declared when no skipped alternative could be faster. --full runs everything.
// Reported: medians; speedup = alternative / natgrad.
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const u = require('./util');

const args = u.parseArgs(
  process.argv.slice(2),
  ['quick', 'sizes', 'reps', 'cap', 'skip-over', 'full', 'out', 'ng-child', 'm', 'wide', 'no-wide'],
  'bench/alternatives.js'
);
const quick = !!args.quick;
const SIZES = args.sizes ? u.numberList(args.sizes) : quick ? [128, 256] : [256, 1024, 2048];
const REPS = Number(args.reps ?? (quick ? 3 : 5));
const CAP_S = Number(args.cap ?? (quick ? 3 : 20));
const SKIP_OVER_S = args.full ? Infinity : Number(args['skip-over'] ?? (quick ? 5 : 15));
const NG_WARMUP = 2;
const NG_REPS = quick ? 5 : 7;
const WARM_IF_UNDER_S = 2;
const WIDTHS = [32, 32, 32, 8];
const K_OUT = WIDTHS[WIDTHS.length - 1];
const DAMPING = 1e-3;
const CG_TOL = 1e-6;
const AGREE = 1e-3;

const { spawnSync } = require('node:child_process');
const ng = require(path.join(u.root, 'dist', 'index.js'));
let Matrix, CholeskyDecomposition, tf;
function loadAlternatives() {
  ({ Matrix, CholeskyDecomposition } = require('ml-matrix'));
  tf = require('@tensorflow/tfjs-core');
  require('@tensorflow/tfjs-backend-cpu');
  const tfwasm = require('@tensorflow/tfjs-backend-wasm');
  tfwasm.setWasmPaths(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm')) + path.sep);
  tf.enableProdMode(); // what a user tuning for speed does: no debug checks (and no banner suggesting tfjs-node)
}

/** natgrad's direction for a problem { model, x, y, N }, timed with the default thread count and with 1 thread. */
function natgradTimes({ model, x, y, N }) {
  const threads = ng.backend().threads;
  const opt = new ng.NaturalGradient(model, { loss: 'gaussian', damping: DAMPING, adaptive: false });
  const timeNatgrad = () => {
    for (let i = 0; i < NG_WARMUP; i++) opt.direction(x, y, N);
    const t = [];
    for (let i = 0; i < NG_REPS; i++) t.push(u.ms(() => opt.direction(x, y, N))[0]);
    return t;
  };
  const reference = opt.direction(x, y, N);
  const { space, solver } = opt.profile;
  const times = timeNatgrad();
  ng.setThreads(1);
  const times1 = timeNatgrad();
  ng.setThreads(threads);
  return { model, x, y, N, reference, space, solver, threads, times, times1 };
}

// Child mode: natgrad alone (run with another OPENBLAS_CORETYPE, which OpenBLAS reads when it loads).
if (args['ng-child']) {
  const r = natgradTimes(args.wide ? wideProblem() : problem(Number(args.m) / K_OUT));
  // writeSync: process.stdout.write to a pipe is asynchronous, and exit() would cut a long line short
  fs.writeSync(1, JSON.stringify({ blas: ng.backend().blas, threads: r.threads, times: r.times, times1: r.times1, direction: Array.from(r.reference) }) + '\n');
  process.exit(0);
}

/** The OpenBLAS core type natgrad's backend note advises for this CPU (null when OpenBLAS recognised it). */
function advisedCoretype() {
  if (process.env.OPENBLAS_CORETYPE) return null;
  const m = /OPENBLAS_CORETYPE=(\w+)/.exec(ng.backend().note ?? '');
  return m ? m[1] : null;
}

// The demo's MNIST model (lib/demo/problems.ts: MLP 784-128-10 relu, its initialisation) on the first
// WIDE_N training digits, with one-hot targets and the gaussian loss (the alternatives implement F = I
// only): P = 101,770 ≫ N·k, the regime natgrad is built for. One row at N·k = 1030.
function wideProblem() {
  const WIDE_N = 103;
  const { mnistProblem } = require(path.join(u.root, 'dist', 'demo', 'problems.js'));
  const demo = mnistProblem({ train: WIDE_N, test: 1 });
  const model = demo.model();
  const k = model.outDim;
  const y = new Float32Array(WIDE_N * k);
  for (let i = 0; i < WIDE_N; i++) y[i * k + demo.train.y[i]] = 1;
  return {
    model,
    x: demo.train.x.slice(0, WIDE_N * demo.train.inDim),
    y,
    N: WIDE_N,
    label: `${demo.modelText.split(',')[0]} (mnistProblem().model()), ${WIDE_N} MNIST training digits, one-hot targets, gaussian loss`,
  };
}

function problem(N) {
  const layers = [];
  for (let l = 0; l + 1 < WIDTHS.length; l++) {
    if (l > 0) layers.push(ng.tanh());
    layers.push(ng.linear(WIDTHS[l], WIDTHS[l + 1]));
  }
  const model = ng.sequential(layers, { seed: 0 });
  const x = u.fill(N * WIDTHS[0], 1, 2);
  const y = u.fill(N * K_OUT, 2, 2);
  return { model, x, y, N };
}

// ---- the alternatives: (J [P, M] row-major Float32Array, g [M], P, M, shift = Nλ) → { n, phases } ----

function mlMatrixSetup(J, P, M) {
  const Jm = new Matrix(P, M);
  for (let p = 0; p < P; p++) {
    const row = Jm.data[p];
    for (let j = 0; j < M; j++) row[j] = J[p * M + j];
  }
  return { Jm };
}
function mlMatrixRun({ Jm }, g, M, shift) {
  const t0 = performance.now();
  const K = Jm.transpose().mmul(Jm);
  for (let i = 0; i < M; i++) K.set(i, i, K.get(i, i) + shift);
  const t1 = performance.now();
  const chol = new CholeskyDecomposition(K);
  if (!chol.isPositiveDefinite()) throw new Error('ml-matrix: K + NλI is not positive definite');
  const c = chol.solve(Matrix.columnVector(Array.from(g)));
  const t2 = performance.now();
  const n = Jm.mmul(c).getColumn(0);
  const t3 = performance.now();
  return { n, phases: { kernel: t1 - t0, solve: t2 - t1, contract: t3 - t2 }, solver: 'Cholesky (ml-matrix, float64)' };
}

function tfSetup(J, P, M, g) {
  return { J: tf.tensor2d(J, [P, M]), g: tf.tensor2d(Float32Array.from(g), [M, 1]) };
}
function tfDispose(s) {
  s.J.dispose();
  s.g.dispose();
}
/** Conjugate gradients on K c = g in tfjs ops, to ‖r‖ ≤ tol·‖g‖. */
function tfCg(K, g, M, tol) {
  let x = tf.zerosLike(g);
  let r = g.clone();
  let p = g.clone();
  let rs = tf.tidy(() => tf.sum(tf.square(r))).dataSync()[0];
  const stop = tol * tol * rs;
  let it = 0;
  while (rs > stop && it < 10 * M) {
    const [xn, rn, pAp] = tf.tidy(() => {
      const Ap = tf.matMul(K, p);
      const pap = tf.sum(tf.mul(p, Ap)).dataSync()[0];
      const a = rs / pap;
      return [tf.add(x, tf.mul(p, a)), tf.sub(r, tf.mul(Ap, a)), pap];
    });
    if (!(pAp > 0)) throw new Error(`CG: pᵀKp = ${pAp} at iteration ${it}`);
    x.dispose();
    r.dispose();
    x = xn;
    r = rn;
    const rsNew = tf.tidy(() => tf.sum(tf.square(r))).dataSync()[0];
    const pn = tf.tidy(() => tf.add(r, tf.mul(p, rsNew / rs)));
    p.dispose();
    p = pn;
    rs = rsNew;
    it++;
  }
  r.dispose();
  p.dispose();
  return { c: x, iterations: it, residual: Math.sqrt(rs / (stop / (tol * tol))) };
}
function tfRun(s, M, shift) {
  const t0 = performance.now();
  const K = tf.tidy(() => tf.add(tf.matMul(tf.transpose(s.J), s.J), tf.mul(tf.eye(M), shift)));
  const t1 = performance.now();
  const { c, iterations, residual } = tfCg(K, s.g, M, CG_TOL);
  const t2 = performance.now();
  const nT = tf.matMul(s.J, c);
  const n = nT.dataSync();
  const t3 = performance.now();
  K.dispose();
  c.dispose();
  nT.dispose();
  return {
    n,
    phases: { kernel: t1 - t0, solve: t2 - t1, contract: t3 - t2 },
    solver: `CG in tfjs ops (${iterations} iterations, relative residual ${residual.toExponential(1)})`,
    cg_iterations: iterations,
  };
}

const ALTERNATIVES = [
  { name: 'ml-matrix', package: 'ml-matrix', backend: null, setup: mlMatrixSetup, run: (s, g, M, shift) => mlMatrixRun(s, g, M, shift), dispose: () => {} },
  {
    name: 'tfjs-wasm',
    package: '@tensorflow/tfjs-backend-wasm',
    backend: 'wasm',
    setup: tfSetup,
    run: (s, _g, M, shift) => tfRun(s, M, shift),
    dispose: tfDispose,
  },
  {
    name: 'tfjs-cpu',
    package: '@tensorflow/tfjs-backend-cpu',
    backend: 'cpu',
    setup: tfSetup,
    run: (s, _g, M, shift) => tfRun(s, M, shift),
    dispose: tfDispose,
  },
];

/** The installed version of a package (its package.json, found above its main file: some packages do not export ./package.json). */
function version(pkg) {
  try {
    let dir = path.dirname(require.resolve(pkg));
    while (!fs.existsSync(path.join(dir, 'package.json')) || JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')).name !== pkg) {
      const up = path.dirname(dir);
      if (up === dir) return null;
      dir = up;
    }
    return JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')).version;
  } catch {
    return null;
  }
}

async function main() {
  loadAlternatives();
  const mach = u.machine(ng);
  const threads = mach.backend.threads;
  const coretype = advisedCoretype();
  console.log(
    `alternatives: MLP ${WIDTHS.join('-')} tanh, gaussian, λ = ${DAMPING}; sizes N·k = ${SIZES.join(', ')}; natgrad ${mach.backend.blas}, ${threads} threads`
  );
  const started = Date.now();
  const rows = [];
  const last = {}; // alternative → { M, ms } of its last measured size
  /**
   * One row: natgrad (default threads, 1 thread, and with the advised OPENBLAS_CORETYPE in a child
   * process), then every alternative from J and g, unless predict(name) (ms, a lower bound) is over --skip-over.
   */
  async function measureRow(prob, childArgs, predict, predictText) {
    const { model, x, y, N, reference, space, solver, times: ngTimes, times1: ng1Times } = natgradTimes(prob);
    const P = model.numParameters;
    const M = N * model.outDim;
    const ngMs = u.median(ngTimes);
    const ng1Ms = u.median(ng1Times);
    let tuned = null;
    if (coretype) {
      const c = spawnSync(process.execPath, [__filename, '--ng-child', ...childArgs], {
        encoding: 'utf8',
        env: { ...process.env, OPENBLAS_CORETYPE: coretype },
        maxBuffer: 1 << 26,
      });
      if (c.status !== 0) throw new Error(`natgrad child with OPENBLAS_CORETYPE=${coretype} failed: ${c.stderr}`);
      const t = JSON.parse(c.stdout.trim().split('\n').pop());
      tuned = {
        env: `OPENBLAS_CORETYPE=${coretype}`,
        blas: t.blas,
        threads: t.threads,
        median_ms: u.round(u.median(t.times)),
        times_ms: t.times.map((v) => u.round(v, 2)),
        median_1thread_ms: u.round(u.median(t.times1)),
        relative_error_to_as_given: u.relativeError(t.direction, reference),
      };
    }
    // J and g for the alternatives
    const jTimes = [];
    let J;
    for (let i = 0; i < 3; i++) {
      const [t, j] = u.ms(() => model.jacobian(x, N));
      jTimes.push(t);
      J = j;
    }
    const eta = model.forward(x, N);
    const g = new Float64Array(M);
    for (let i = 0; i < M; i++) g[i] = eta[i] - y[i];
    const shift = N * DAMPING;
    const row = {
      M,
      N,
      P,
      ...(prob.label ? { problem: prob.label } : {}),
      natgrad: { threads, blas: mach.backend.blas, median_ms: u.round(ngMs), times_ms: ngTimes.map((t) => u.round(t, 2)), space, solver },
      natgrad_1thread: { threads: 1, median_ms: u.round(ng1Ms), times_ms: ng1Times.map((t) => u.round(t, 2)) },
      ...(tuned ? { natgrad_tuned: tuned } : {}),
      jacobian_ms: u.round(u.median(jTimes)),
      alternatives: [],
    };
    console.log(
      `N·k=${M} (N=${N}, P=${P}): natgrad ${ngMs.toFixed(1)} ms (${threads} threads), ${ng1Ms.toFixed(1)} ms (1 thread)` +
        (tuned ? `; with ${tuned.env}: ${tuned.median_ms} ms, ${tuned.median_1thread_ms} ms (1 thread)` : '') +
        `; J by model.jacobian ${row.jacobian_ms} ms (not counted for the alternatives)`
    );
    for (const alt of ALTERNATIVES) {
      const predicted = predict(alt.name, M, P);
      if (predicted > SKIP_OVER_S * 1000) {
        row.alternatives.push({
          name: alt.name,
          version: version(alt.package),
          skipped: true,
          predicted_ms: u.round(predicted, 0),
          predicted_speedup: u.round(predicted / ngMs, 1),
          reason: `predicted ≥ ${(predicted / 1000).toFixed(0)} s a call (${predictText(alt.name, M, P)}) > --skip-over ${SKIP_OVER_S} s`,
        });
        console.log(
          `  ${alt.name.padEnd(10)} skipped: predicted ≥ ${(predicted / 1000).toFixed(1)} s a call (natgrad ≥ ${(predicted / ngMs).toFixed(0)}× faster); --full runs it`
        );
        continue;
      }
      if (alt.backend) {
        await tf.setBackend(alt.backend);
        await tf.ready();
      }
      const s = alt.setup(J, P, M, g);
      try {
        // first call: correctness (and warm-up when cheap)
        const [t0, first] = u.ms(() => alt.run(s, g, M, shift));
        const err = u.relativeError(first.n, reference);
        const times = [];
        const phases = [];
        const results = [first];
        if (t0 >= WARM_IF_UNDER_S * 1000) {
          times.push(t0); // slow: the first call is a timed repetition (the previous size warmed the JIT)
          phases.push(first.phases);
        }
        let spent = times.reduce((a, b) => a + b, 0);
        while (times.length < REPS && (times.length === 0 || spent + spent / times.length <= CAP_S * 1000)) {
          const [t, r] = u.ms(() => alt.run(s, g, M, shift));
          times.push(t);
          phases.push(r.phases);
          results.push(r);
          spent += t;
        }
        const med = u.median(times);
        const entry = {
          name: alt.name,
          version: version(alt.package),
          agrees: err <= AGREE,
          relative_error: err,
          solver: first.solver,
          ...(first.cg_iterations !== undefined ? { cg_iterations: first.cg_iterations } : {}),
          reps: times.length,
          warmup: t0 < WARM_IF_UNDER_S * 1000,
          median_ms: u.round(med),
          times_ms: times.map((t) => u.round(t, 1)),
          phases_ms: Object.fromEntries(['kernel', 'solve', 'contract'].map((k) => [k, u.round(u.median(phases.map((p) => p[k])), 1)])),
          speedup: u.round(med / ngMs, 1),
          speedup_vs_1thread: u.round(med / ng1Ms, 1),
          ...(tuned ? { speedup_tuned: u.round(med / tuned.median_ms, 1) } : {}),
        };
        row.alternatives.push(entry);
        console.log(
          `  ${alt.name.padEnd(10)} ${med.toFixed(1).padStart(9)} ms  (${entry.reps} reps; K ${entry.phases_ms.kernel} + solve ${entry.phases_ms.solve} + n ${entry.phases_ms.contract} ms; ${first.solver}) ` +
            `rel. error ${err.toExponential(1)}${entry.agrees ? '' : ' DISAGREES'}  → natgrad ${entry.speedup}× faster (${entry.speedup_vs_1thread}× on 1 thread${tuned ? `, ${entry.speedup_tuned}× with ${tuned.env}` : ''})`
        );
      } finally {
        alt.dispose(s);
      }
    }
    const ok = row.alternatives.filter((a) => a.agrees);
    const fastest = ok.length ? ok.reduce((a, b) => (a.median_ms <= b.median_ms ? a : b)) : null;
    // a skipped alternative's prediction is a lower bound on its time: the fastest is certain when every bound is above it
    const certain = fastest !== null && row.alternatives.filter((a) => a.skipped).every((a) => a.predicted_ms > fastest.median_ms);
    row.fastest_alternative =
      fastest && certain
        ? {
            name: fastest.name,
            median_ms: fastest.median_ms,
            speedup: fastest.speedup,
            speedup_vs_1thread: fastest.speedup_vs_1thread,
            ...(tuned ? { speedup_tuned: fastest.speedup_tuned } : {}),
          }
        : null;
    return row;
  }

  for (const M of SIZES) {
    if (M % K_OUT) throw new Error(`--sizes: N·k = ${M} is not a multiple of k = ${K_OUT}`);
    const row = await measureRow(
      problem(M / K_OUT),
      [`--m=${M}`],
      (name, m) => (last[name] ? last[name].ms * (m / last[name].M) ** 2 : 0),
      (name, m) => `${last[name].ms.toFixed(0)} ms at N·k = ${last[name].M} × (${m}/${last[name].M})²`
    );
    for (const a of row.alternatives) if (!a.skipped) last[a.name] = { M, ms: a.median_ms };
    rows.push(row);
  }

  // The demo's MNIST MLP: the alternatives' time is predicted from the small model at the nearest size
  // (× P ratio × size ratio²: their K costs P·M²), and the slow ones are not run.
  let wide = null;
  if (!quick && !args['no-wide'] && !args.sizes) {
    const base = rows.reduce((a, b) => (Math.abs(b.M - 1030) < Math.abs(a.M - 1030) ? b : a));
    // K (P·M²) scales with P, the solve (M² per CG iteration, or M³) does not: predicted = K·(P ratio)·(M ratio)² + solve·(M ratio)²
    const parts = (name) => {
      const a = base.alternatives.find((v) => v.name === name);
      if (!a) return { k: 0, solve: 0 };
      return a.skipped ? { k: a.predicted_ms, solve: 0 } : { k: a.phases_ms.kernel, solve: a.phases_ms.solve };
    };
    const prob = wideProblem();
    console.log(`${prob.label}:`);
    wide = await measureRow(
      prob,
      ['--wide'],
      (name, m, P) => (parts(name).k * (P / base.P) + parts(name).solve) * (m / base.M) ** 2,
      (name, m, P) =>
        `K ${parts(name).k.toFixed(0)} ms for P = ${base.P} at N·k = ${base.M} × ${(P / base.P).toFixed(1)} (P ratio), + solve ${parts(name).solve.toFixed(0)} ms, × (${m}/${base.M})²`
    );
  }
  const big = rows.filter((r) => r.M >= 1024 && r.fastest_alternative);
  const result = {
    bench: 'alternatives',
    date: new Date().toISOString(),
    command: `node bench/alternatives.js ${process.argv.slice(2).join(' ')}`.trim(),
    quick,
    machine: mach,
    problem: {
      model: `MLP ${WIDTHS.join('-')} tanh`,
      loss: 'gaussian',
      damping: DAMPING,
      direction: 'n_θ = J (JᵀJ + NλI)⁻¹ g  (= (F_θ + λI)⁻¹ g_θ)',
      inputs: 'x, y from the LCG of bench/util.js (seeds 1, 2), in [−1, 1)',
    },
    versions: {
      'ml-matrix': version('ml-matrix'),
      '@tensorflow/tfjs-core': version('@tensorflow/tfjs-core'),
      '@tensorflow/tfjs-backend-wasm': version('@tensorflow/tfjs-backend-wasm'),
      '@tensorflow/tfjs-backend-cpu': version('@tensorflow/tfjs-backend-cpu'),
    },
    conventions: {
      natgrad: 'opt.direction(x, y, N) from the raw batch (forward, backprop of the factors, layerGramSum, Cholesky, n = J c); median of 7 after 2 warm-ups',
      alternatives:
        'from J (natgrad model.jacobian, untimed; jacobian_ms) and g: K = JᵀJ, + NλI, solve, n = J c; median of `reps` (≤ --reps, fewer when over --cap seconds)',
      skipped: `not run where the predicted time (previous size × size ratio², a lower bound) exceeds ${SKIP_OVER_S} s a call; predicted_ms kept`,
      speedup:
        'alternative median / natgrad median (speedup_vs_1thread: natgrad on 1 BLAS thread; speedup_tuned: natgrad in a child process with the OPENBLAS_CORETYPE that natgrad’s backend note advises for this CPU, when it advises one)',
      agreement: `relative error of the alternative's n_θ to natgrad's ≤ ${AGREE} (CG stops at relative residual ${CG_TOL})`,
      tfjs_lacks:
        'Cholesky, LU, triangular solve, any linear solver (tf.linalg has qr, gramSchmidt, bandPart only); a symmetric rank-k update; a multithreaded wasm build in Node',
      tfjs_wasm_threads: 1,
    },
    target: {
      rule: 'natgrad ≥ 30× faster than the fastest JS alternative at N·k ≥ 1024',
      measured: big.map((r) => ({
        M: r.M,
        fastest: r.fastest_alternative.name,
        speedup: r.fastest_alternative.speedup,
        speedup_vs_1thread: r.fastest_alternative.speedup_vs_1thread,
        ...(r.natgrad_tuned ? { speedup_tuned: r.fastest_alternative.speedup_tuned } : {}),
      })),
      met: big.length ? big.every((r) => r.fastest_alternative.speedup >= 30) : null,
      tuned_env: coretype ? `OPENBLAS_CORETYPE=${coretype}` : null,
      met_tuned: coretype && big.length ? big.every((r) => r.fastest_alternative.speedup_tuned >= 30) : null,
    },
    results: rows,
    wide,
    wall_s: u.round((Date.now() - started) / 1000, 1),
  };
  u.writeJson(u.outFile(args, 'alternatives'), result);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
