#!/usr/bin/env node
// npm run bench:step [-- --quick] [--sizes=64,256] [--naive=64,128] [--reps=5] [--out=FILE]
//
// One exact natural-gradient step (issue #3) for an MLP 784-256-256-10 (relu) with a
// categorical output, damping 1e-3, at N ∈ {64, 128, 256, 512}; writes
// bench/results/step.json (a narrowed run writes bench/results/step.partial.json.tmp).
//
// What is measured, in one run:
//  - step: opt.step() wall time with a fixed λ (adaptive: false: one solve, no rejection), and
//    its phases from opt.profile — forward (forward pass, loss, Fisher factors), backprop (the
//    N·r seeds through the layers), kernel (layerGramSum: every layer in one call), solve (Cholesky),
//    update (n_θ = S c layer by layer, the quadratic model gᵀn, nᵀF_θn, the trial forward pass
//    for the loss after the step, θ ← θ − lr·n_θ). Beside it opt.direction(), the same
//    pipeline without step()'s per-step bookkeeping.
//    The kernel is N·r square with r = k − 1 = 9: the categorical Fisher has rank k − 1 and
//    natgrad factors it exactly at that rank (lib/distributions/categorical.ts).
//  - floor: bench/step_floor.c, a plain C program calling the same static OpenBLAS directly
//    for the step's BLAS/LAPACK work only: per linear layer ssyrk(B Bᵀ, B [N·r, out]) and
//    ssyrk(A Aᵀ, A [N, in]), then spotrf + spotrs of the N·r kernel. step / floor is the
//    overhead of everything else (Hadamard products, copies, backprop, update, JS).
//    The floor and the step run alternately, one timed call each in turn, with a pause
//    between (OpenBLAS threads spin after a call), so machine noise hits both. Reported: the
//    medians of 9 repetitions (5 at N = 512) after 3 warm-ups each, and
//      ratio = median over repetitions of (step time / floor time) for the pair run back to back
//    (pairing cancels load drift on this shared machine), with the ratio of the medians and the
//    ratio of the best times (load only ever adds time) beside it.
//    Target: step ≤ 1.5 × floor at N = 256.
//  - naive: the same step with assembly 'dense' — S = J·blockdiag(L_i) materialised
//    [P, N·r], then K = SᵀS (one ssyrk over P = 269,322) and n_θ = S c (sgemv-like gemm).
//    One step, no warm-up (it is seconds to minutes of BLAS), in a child process; beside it
//    the layer trick's time is also that of one cold step in a child process, so the two
//    compare like for like (the warm in-process step above is faster).
//  - memory: peak resident memory (VmHWM) of a child process during one step, minus its
//    resident memory just before (model, inputs and the loaded addon), for the layer trick
//    and the dense path; and the analytic size of the dominant buffers.
// The environment is used as given (NATGRAD_THREADS, OPENBLAS_CORETYPE, …); the floor runs
// with natgrad's thread count; backend().blas names the kernel set OpenBLAS chose.
'use strict';

const { execFileSync, spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');

const root = path.resolve(__dirname, '..');
const ng = require(path.join(root, 'dist', 'index.js'));

const argValue = (name) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const list = (s) => s.split(',').filter(Boolean).map(Number);
const quick = process.argv.includes('--quick');

const WIDTHS = [784, 256, 256, 10];
const K_OUT = WIDTHS[WIDTHS.length - 1];
const R = K_OUT - 1; // rank of the categorical Fisher: kernel rows per sample
const DAMPING = 1e-3;
const SIZES = argValue('sizes') ? list(argValue('sizes')) : quick ? [64, 128] : [64, 128, 256, 512];
const NAIVE = argValue('naive') !== undefined ? list(argValue('naive')) : quick ? [64] : [64, 128, 256];
const REPS_OF = (N) => Number(argValue('reps') ?? (quick ? 3 : N >= 512 ? 5 : 9));
const partial = quick || ['sizes', 'naive', 'reps'].some((a) => argValue(a) !== undefined);
const SWITCH_PAUSE_MS = 150;
const WARMUP = 3;

// ---- the problem: deterministic inputs and targets ----
// x ← 1664525·x + 1013904223 (mod 2³²); value = (x >> 8)·2⁻²⁴ − 0.5, scaled to [−1, 1).
function fill(n, seed) {
  const a = new Float32Array(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(1664525, x) + 1013904223) >>> 0;
    a[i] = 2 * ((x >>> 8) * (1 / 16777216) - 0.5);
  }
  return a;
}
function problem(N, options = {}) {
  const layers = [];
  for (let l = 0; l + 1 < WIDTHS.length; l++) {
    if (l > 0) layers.push(ng.relu());
    layers.push(ng.linear(WIDTHS[l], WIDTHS[l + 1]));
  }
  const model = ng.sequential(layers, { seed: 0 });
  const x = fill(N * WIDTHS[0], 1);
  const y = Float32Array.from({ length: N }, (_, i) => (i * 7) % K_OUT);
  // adaptive: false — a fixed λ and no rejection: one solve per step, whatever the loss does
  const opt = new ng.NaturalGradient(model, { loss: 'categorical', lr: 1, damping: DAMPING, adaptive: false, ...options });
  return { model, x, y, opt, theta0: model.getParameters() };
}

const median = (a) => {
  const s = [...a].sort((p, q) => p - q);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const sleep = (ms) => new Promise((res) => setTimeout(res, ms));
const round = (v, d = 3) => Math.round(v * 10 ** d) / 10 ** d;
const MB = 1024 * 1024;

// ---- child mode: one step in a fresh process, for time of the dense path and peak memory ----
// Peak memory: VmHWM of /proc/self/status, reset just before the step (writing 5 to
// /proc/self/clear_refs), minus VmRSS at that moment. (getrusage's maxrss is no good here:
// Linux carries it across fork + exec from the parent, which may be larger.)
function procStatus(field) {
  const m = fs.readFileSync('/proc/self/status', 'utf8').match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'));
  return m ? Number(m[1]) * 1024 : NaN;
}
if (argValue('child')) {
  const N = Number(argValue('n'));
  const assembly = argValue('child');
  const { x, y, opt } = problem(N, { assembly, space: 'kernel' });
  const before = procStatus('VmRSS');
  let reset = true;
  try {
    fs.writeFileSync('/proc/self/clear_refs', '5');
  } catch {
    reset = false; // then VmHWM may include the start-up peak: the delta is a lower bound
  }
  const t0 = performance.now();
  opt.step(x, y, N);
  const ms = performance.now() - t0;
  const after = procStatus('VmHWM');
  process.stdout.write(JSON.stringify({ N, assembly, ms, profile: opt.profile, peakBefore: before, peakAfter: after, reset }) + '\n');
  process.exit(0);
}

function childStep(N, assembly) {
  const r = spawnSync(process.execPath, [__filename, `--child=${assembly}`, `--n=${N}`], { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (r.status !== 0) throw new Error(`child ${assembly} N=${N} failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

/** Dominant buffers (bytes) of one step, by path. */
function analyticMemory(N) {
  const M = N * R;
  const P = WIDTHS.slice(1).reduce((s, w, l) => s + (WIDTHS[l] + 1) * w, 0);
  const bRows = WIDTHS.slice(1).reduce((s, w) => s + w, 0); // B̂ per linear layer: M × out
  // K, plus one M² native scratch buffer (the solver's copy of K: native/cpu/scratch.h; layerGramSum
  // has no M² intermediate), plus the backpropagated B̂ and the seeds.
  const common = 4 * (2 * M * M + M * bRows + M * K_OUT);
  return {
    P,
    M,
    layer: { bytes: common, terms: 'K and one native scratch: 2·M²; B̂: M·Σout' },
    dense: { bytes: common + 4 * P * M, terms: 'S: P·M; K and the solver copy: 2·M²; B̂: M·Σout' },
  };
}

// ---- the floor program ----
function buildFloor() {
  const ob = (what) => execFileSync(process.execPath, [path.join(root, 'scripts', 'openblas.js'), what], { encoding: 'utf8' }).trim();
  const out = path.join(root, 'build', 'bench-step-floor');
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const args = ['-O2', path.join(root, 'bench', 'step_floor.c'), `-I${ob('include')}`, ...ob('link').split('\n'), '-lpthread', '-lm', '-o', out];
  console.log(`building the floor: cc ${args.map((a) => path.relative(root, a) || a).join(' ')}`);
  execFileSync('cc', args, { stdio: 'inherit', cwd: root });
  return out;
}

function startFloor(exe) {
  const child = spawn(exe, [], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = readline.createInterface({ input: child.stdout });
  const waiting = [];
  lines.on('line', (l) => waiting.shift()?.(JSON.parse(l)));
  const ask = (cmd) =>
    new Promise((resolve, reject) => {
      waiting.push((o) => (o.error ? reject(new Error(`step_floor: ${o.error}`)) : resolve(o)));
      child.stdin.write(cmd + '\n');
    });
  return { ask, close: () => child.stdin.end('quit\n') };
}

async function main() {
  const loadAtStart = os.loadavg();
  const info = ng.backend();
  console.log(`natgrad ${info.name}: ${info.blas}, ${info.threads} threads${info.note ? `\n  note: ${info.note}` : ''}`);
  const floor = startFloor(buildFloor());
  const finfo = await floor.ask(`threads ${info.threads}`);
  const steps = [];
  for (const N of SIZES) {
    const { model, x, y, opt, theta0 } = problem(N);
    const runStep = () => {
      model.setParameters(theta0);
      const t0 = performance.now();
      const { loss } = opt.step(x, y, N);
      return { ms: performance.now() - t0, loss, profile: { ...opt.profile } };
    };
    const runDirection = () => {
      model.setParameters(theta0);
      const t0 = performance.now();
      opt.direction(x, y, N);
      return { ms: performance.now() - t0, profile: { ...opt.profile } };
    };
    const runFloor = () => floor.ask(`floor ${N} ${R} ${WIDTHS.join(' ')}`);
    // warm-up: JIT of the JS loops, first touch of buffers, OpenBLAS thread start
    for (let i = 0; i < WARMUP; i++) {
      runStep();
      runDirection();
      await runFloor();
    }
    const s = [];
    const f = [];
    const dir = [];
    const reps = REPS_OF(N);
    for (let i = 0; i < reps; i++) {
      // one floor, one step, one direction per repetition, the order rotating so that none always runs first
      const order = ['floor', 'step', 'direction'];
      for (let j = 0; j < 3; j++) {
        const side = order[(i + j) % 3];
        await sleep(SWITCH_PAUSE_MS);
        if (side === 'floor') f.push(await runFloor());
        else if (side === 'step') s.push(runStep());
        else dir.push(runDirection());
      }
    }
    const phase = (name) => round(median(s.map((r) => r.profile[name])));
    const stepMs = median(s.map((r) => r.ms));
    const floorMs = 1000 * median(f.map((r) => r.seconds));
    const row = {
      N,
      M: N * R,
      P: model.numParameters,
      loss: s[0].loss,
      step_ms: round(stepMs),
      phases_ms: {
        forward: phase('forward'),
        backprop: phase('backprop'),
        forward_backprop: round(median(s.map((r) => r.profile.forward + r.profile.backprop))),
        kernel: phase('kernel'),
        solve: phase('solve'),
        update: phase('update'),
      },
      solver: s[0].profile.solver,
      // opt.direction(): the same pipeline without step()'s per-step extras (issue #5: the trial
      // forward pass for the loss after the step, the quadratic model gᵀn and nᵀF_θn, the checks)
      direction_ms: round(median(dir.map((r) => r.ms))),
      direction_ratio: round(median(dir.map((r, i) => r.ms / (1000 * f[i].seconds)))),
      floor_ms: round(floorMs),
      floor_parts_ms: {
        ssyrk_B: WIDTHS.slice(1).map((_, l) => round(1000 * median(f.map((r) => r.ssyrk_B[l])))),
        ssyrk_A: WIDTHS.slice(1).map((_, l) => round(1000 * median(f.map((r) => r.ssyrk_A[l])))),
        spotrf: round(1000 * median(f.map((r) => r.spotrf))),
        spotrs: round(1000 * median(f.map((r) => r.spotrs))),
      },
      ratio: round(median(s.map((r, i) => r.ms / (1000 * f[i].seconds)))),
      ratio_of_medians: round(stepMs / floorMs),
      // load from other processes only ever adds time: the best times are the least disturbed
      ratio_of_best: round(Math.min(...s.map((r) => r.ms)) / (1000 * Math.min(...f.map((r) => r.seconds)))),
      reps,
      samples_ms: { step: s.map((r) => round(r.ms, 1)), direction: dir.map((r) => round(r.ms, 1)), floor: f.map((r) => round(1000 * r.seconds, 1)) },
    };
    steps.push(row);
    const p = row.phases_ms;
    console.log(
      `N=${String(N).padStart(3)} M=${row.M}: step ${row.step_ms.toFixed(1)} ms (forward ${p.forward.toFixed(1)}, backprop ${p.backprop.toFixed(1)}, ` +
        `kernel ${p.kernel.toFixed(1)}, solve ${p.solve.toFixed(1)}, update ${p.update.toFixed(1)}) | floor ${row.floor_ms.toFixed(1)} ms | ` +
        `ratio ${row.ratio.toFixed(2)} (of medians ${row.ratio_of_medians.toFixed(2)}, of best ${row.ratio_of_best.toFixed(2)}) | ` +
        `direction ${row.direction_ms.toFixed(1)} ms, ratio ${row.direction_ratio.toFixed(2)}`
    );
  }
  floor.close();

  // Memory of the layer trick and the dense path, and the time of the dense path, in child processes.
  const comparison = [];
  for (const N of [...new Set([...SIZES, ...NAIVE])].sort((a, b) => a - b)) {
    const mem = analyticMemory(N);
    const layer = childStep(N, 'layer');
    const entry = {
      N,
      M: mem.M,
      layer: {
        step_ms: round(layer.ms),
        peak_rss_delta_mb: round((layer.peakAfter - layer.peakBefore) / MB, 1),
        analytic_mb: round(mem.layer.bytes / MB, 1),
        analytic_terms: mem.layer.terms,
      },
    };
    if (NAIVE.includes(N)) {
      await sleep(SWITCH_PAUSE_MS);
      const dense = childStep(N, 'dense');
      const pr = dense.profile;
      entry.dense = {
        step_ms: round(dense.ms),
        phases_ms: {
          forward_backprop: round(pr.forward + pr.backprop),
          materialize_and_gram: round(pr.kernel),
          solve: round(pr.solve),
          update: round(pr.update),
        },
        peak_rss_delta_mb: round((dense.peakAfter - dense.peakBefore) / MB, 1),
        analytic_mb: round(mem.dense.bytes / MB, 1),
        analytic_terms: mem.dense.terms,
      };
      entry.dense_over_layer = {
        time: round(dense.ms / layer.ms, 1),
        memory: round(dense.peakAfter - dense.peakBefore) / Math.max(1, layer.peakAfter - layer.peakBefore),
      };
      entry.dense_over_layer.memory = round(entry.dense_over_layer.memory, 1);
    } else {
      entry.dense = {
        skipped: `not in --naive (would materialise S: ${round((4 * mem.P * mem.M) / MB / 1024, 2)} GiB and run an ssyrk of ${round((mem.M * mem.M * mem.P) / 1e12, 2)} Tflop)`,
      };
    }
    comparison.push(entry);
    console.log(
      `N=${String(N).padStart(3)}: layer trick ${entry.layer.step_ms.toFixed(0)} ms, +${entry.layer.peak_rss_delta_mb} MB peak` +
        (entry.dense.step_ms !== undefined
          ? ` | dense J then JᵀJ ${entry.dense.step_ms.toFixed(0)} ms, +${entry.dense.peak_rss_delta_mb} MB peak`
          : ` | dense: skipped`)
    );
  }

  const at256 = steps.find((s) => s.N === 256);
  const result = {
    bench: 'step',
    date: new Date().toISOString(),
    command: `npm run bench:step${process.argv.length > 2 ? ' -- ' + process.argv.slice(2).join(' ') : ''}`,
    machine: require('./util').machine(ng),
    backend: { name: info.name, blas: info.blas, threads: info.threads, note: info.note },
    floor_program: {
      build: 'cc -O2 bench/step_floor.c <openblas include> <static libopenblas.a> -lpthread -lm',
      corename: finfo.corename,
      config: finfo.config,
      threads: finfo.threads,
    },
    model: { widths: WIDTHS, activation: 'relu', output: 'categorical', damping: DAMPING, kernel_rows_per_sample: R, parameters: steps[0]?.P },
    target: at256 ? { rule: 'step ≤ 1.5 × floor at N = 256 (ratio: median of paired ratios)', ratio: at256.ratio, met: at256.ratio <= 1.5 } : null,
    // other work on this shared machine (1, 5, 15-minute load averages; 2 cores): timings are only as quiet as these
    load_average: { start: loadAtStart.map((v) => round(v, 2)), end: os.loadavg().map((v) => round(v, 2)) },
    steps,
    layer_vs_dense: comparison,
  };
  const file = argValue('out') ? path.resolve(argValue('out')) : path.join(root, 'bench', 'results', partial ? 'step.partial.json.tmp' : 'step.json');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, require('./util').compactJson(result) + '\n');
  console.log(`wrote ${path.relative(root, file)}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
