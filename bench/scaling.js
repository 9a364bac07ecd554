#!/usr/bin/env node
// node bench/scaling.js [--quick] [--sizes=8,16,…,512] [--reps=5] [--dense=32,256] [--out=FILE]
// (part of `npm run bench`; build first: npx tsc -p tsconfig.json)
//
// How one exact natural-gradient step scales with the batch, and what the layer trick saves.
// Model: MLP 784-256-256-10 (relu), categorical, λ = 1e-3 fixed (adaptive: false: one direction and
// the update θ ← θ − n_θ per step, no Levenberg–Marquardt trial), P = 269,322; the same inputs as
// bench/step.js (x from the LCG scaled to [−1, 1), y_i = 7i mod 10). N·k = 10·N; the kernel the step
// factors is N·r square, r = k − 1 = 9 (the categorical Fisher's rank).
//
// Every measurement runs in its own child process (peak memory needs a fresh process):
//  - time: the child's first step (cold: page faults, thread start, JIT) and then --reps more
//    (θ reset before each), median of those warm steps.
//  - peak memory: VmHWM of /proc/self/status during the first step, after resetting it
//    (/proc/self/clear_refs ← 5) just before. Reported three ways, all in MiB:
//      peak_mb          the child's peak resident memory during the step (absolute)
//      over_idle_mb     peak minus the resident memory of an idle child (node + natgrad's addon and
//                       OpenBLAS loaded, nothing else; measured at the start of the run) — the headline
//      step_delta_mb    peak minus the child's own resident memory just before the step (model and
//                       inputs excluded: what the step itself adds)
//  - sweep: the layer trick (assembly 'layer', the default) at N = 8 … 512; log-log fits of time and
//    peak memory against N·k over N ≥ 64 (the fit over all sizes beside it).
//  - layer trick vs materialised J: assembly 'dense' forms S = J·blockdiag(L_i) [P, N·r] and K = SᵀS.
//    At N = 256 (the target: layer peak ≤ 1/10 of dense) the dense step takes ~1 minute here, so it
//    is run once (first step: time and memory); the layer trick at N = 256 is compared cold to cold
//    (its first step) and warm. At N = 32 both get --reps warm steps, for a time ratio with repetitions.
'use strict';

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const u = require('./util');

const args = u.parseArgs(process.argv.slice(2), ['quick', 'sizes', 'reps', 'dense', 'out', 'child', 'idle', 'n', 'assembly'], 'bench/scaling.js');
const quick = !!args.quick;
const WIDTHS = [784, 256, 256, 10];
const K_OUT = 10;
const R = K_OUT - 1;
const DAMPING = 1e-3;
const FIT_FROM_N = quick ? 8 : 64;

const ng = require(path.join(u.root, 'dist', 'index.js'));

function problem(N, assembly) {
  const layers = [];
  for (let l = 0; l + 1 < WIDTHS.length; l++) {
    if (l > 0) layers.push(ng.relu());
    layers.push(ng.linear(WIDTHS[l], WIDTHS[l + 1]));
  }
  const model = ng.sequential(layers, { seed: 0 });
  const x = u.fill(N * WIDTHS[0], 1, 2);
  const y = Float32Array.from({ length: N }, (_, i) => (i * 7) % K_OUT);
  const opt = new ng.NaturalGradient(model, { loss: 'categorical', lr: 1, damping: DAMPING, adaptive: false, space: 'kernel', assembly });
  return { model, x, y, opt, theta0: model.getParameters() };
}

// ---- child modes ----
if (args.idle) {
  ng.backend(); // the addon and OpenBLAS are loaded by the require above; this touches them
  fs.writeSync(1, JSON.stringify({ rss: u.procStatus('VmRSS'), hwm: u.procStatus('VmHWM') }) + '\n');
  process.exit(0);
}
if (args.child) {
  const N = Number(args.n);
  const reps = Number(args.reps ?? 0);
  const { model, x, y, opt, theta0 } = problem(N, args.assembly);
  const before = u.procStatus('VmRSS');
  const reset = u.resetPeak();
  let t0 = performance.now();
  opt.step(x, y, N);
  const firstMs = performance.now() - t0;
  const peak = u.procStatus('VmHWM');
  const profile = { ...opt.profile };
  const times = [];
  for (let i = 0; i < reps; i++) {
    model.setParameters(theta0);
    t0 = performance.now();
    opt.step(x, y, N);
    times.push(performance.now() - t0);
  }
  fs.writeSync(1, JSON.stringify({ N, assembly: args.assembly, firstMs, times, before, peak, reset, profile }) + '\n');
  process.exit(0);
}

function child(extra) {
  const r = spawnSync(process.execPath, [__filename, ...extra], { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (r.status !== 0) throw new Error(`bench/scaling.js child ${extra.join(' ')} failed (status ${r.status}, signal ${r.signal}): ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

function measure(N, assembly, reps, idle) {
  const c = child(['--child', `--n=${N}`, `--assembly=${assembly}`, `--reps=${reps}`]);
  const warm = c.times.length ? u.median(c.times) : null;
  return {
    N,
    Nk: N * K_OUT,
    M: N * R,
    assembly,
    first_step_ms: u.round(c.firstMs, 1),
    median_ms: warm === null ? null : u.round(warm, 2),
    reps: c.times.length,
    times_ms: c.times.map((t) => u.round(t, 2)),
    peak_mb: u.round(c.peak / u.MB, 1),
    over_idle_mb: u.round((c.peak - idle) / u.MB, 1),
    step_delta_mb: u.round((c.peak - c.before) / u.MB, 1),
    peak_reset: c.reset,
    phases_ms: Object.fromEntries(['forward', 'backprop', 'kernel', 'solve', 'update'].map((k) => [k, u.round(c.profile[k], 1)])),
  };
}

async function main() {
  const mach = u.machine(ng);
  const sizes = args.sizes ? u.numberList(args.sizes) : quick ? [4, 8, 16, 32] : [8, 16, 32, 64, 128, 256, 512];
  const reps = Number(args.reps ?? (quick ? 3 : 5));
  const densePairs = args.dense ? u.numberList(args.dense) : quick ? [8, 16] : [32, 256];
  const targetN = densePairs[densePairs.length - 1];
  const started = Date.now();
  const idle = child(['--idle']);
  console.log(`scaling: MLP ${WIDTHS.join('-')} relu, categorical (r = ${R}), λ = ${DAMPING}; idle child: ${(idle.rss / u.MB).toFixed(1)} MiB resident`);

  const sweep = [];
  for (const N of sizes) {
    const m = measure(N, 'layer', reps, idle.rss);
    sweep.push(m);
    console.log(
      `  N=${String(N).padStart(3)} N·k=${String(m.Nk).padStart(4)}  step ${String(m.median_ms).padStart(8)} ms (first ${m.first_step_ms} ms, ${m.reps} reps)  peak +${m.over_idle_mb} MiB over idle (+${m.step_delta_mb} MiB over the child before the step)`
    );
  }
  const fitSet = sweep.filter((s) => s.N >= FIT_FROM_N);
  const fits = {
    time: {
      from_N: FIT_FROM_N,
      ...u.fitPowerLaw(
        fitSet.map((s) => s.Nk),
        fitSet.map((s) => s.median_ms)
      ),
    },
    time_all_sizes: u.fitPowerLaw(
      sweep.map((s) => s.Nk),
      sweep.map((s) => s.median_ms)
    ),
    memory_step_delta: {
      from_N: FIT_FROM_N,
      ...u.fitPowerLaw(
        fitSet.map((s) => s.Nk),
        fitSet.map((s) => s.step_delta_mb)
      ),
    },
    memory_over_idle: {
      from_N: FIT_FROM_N,
      ...u.fitPowerLaw(
        fitSet.map((s) => s.Nk),
        fitSet.map((s) => s.over_idle_mb)
      ),
    },
  };
  for (const f of Object.values(fits)) for (const k of ['exponent', 'r2']) f[k] = u.round(f[k], 3);
  console.log(`  fit over N ≥ ${FIT_FROM_N}: time ∝ (N·k)^${fits.time.exponent} (r² ${fits.time.r2}), step memory ∝ (N·k)^${fits.memory_step_delta.exponent}`);

  const pairs = [];
  for (const N of densePairs) {
    const isTarget = N === targetN;
    const dReps = isTarget ? 0 : reps;
    const layer = sweep.find((s) => s.N === N) ?? measure(N, 'layer', reps, idle.rss);
    const dense = measure(N, 'dense', dReps, idle.rss);
    const pair = {
      N,
      Nk: N * K_OUT,
      M: N * R,
      layer,
      dense,
      dense_over_layer: {
        time_cold: u.round(dense.first_step_ms / layer.first_step_ms, 1),
        ...(dense.median_ms !== null ? { time_warm: u.round(dense.median_ms / layer.median_ms, 1) } : {}),
        peak_over_idle: u.round(dense.over_idle_mb / layer.over_idle_mb, 1),
        step_delta: u.round(dense.step_delta_mb / Math.max(0.1, layer.step_delta_mb), 1),
      },
      note: isTarget
        ? 'dense: one step (the largest pair: ~a minute at N = 256 here); layer: first step and warm median'
        : `both: first step and ${reps} warm steps`,
    };
    pairs.push(pair);
    console.log(
      `  layer vs dense at N=${N}: time ${layer.first_step_ms} vs ${dense.first_step_ms} ms cold (${pair.dense_over_layer.time_cold}×)` +
        (pair.dense_over_layer.time_warm ? `, warm ${layer.median_ms} vs ${dense.median_ms} ms (${pair.dense_over_layer.time_warm}×)` : '') +
        `; peak over idle ${layer.over_idle_mb} vs ${dense.over_idle_mb} MiB (dense/layer ${pair.dense_over_layer.peak_over_idle}×), step delta ${layer.step_delta_mb} vs ${dense.step_delta_mb} MiB`
    );
  }
  const t = pairs.find((p) => p.N === targetN);
  const result = {
    bench: 'scaling',
    date: new Date().toISOString(),
    command: `node bench/scaling.js ${process.argv.slice(2).join(' ')}`.trim(),
    quick,
    machine: mach,
    model: {
      widths: WIDTHS,
      activation: 'relu',
      output: 'categorical',
      damping: DAMPING,
      adaptive: false,
      kernel_rows_per_sample: R,
      parameters: problem(1, 'layer').model.numParameters,
    },
    conventions: {
      time: 'one step (direction + update, fixed λ) in a child process: first step (cold), then median of `reps` warm steps with θ reset before each',
      memory:
        'VmHWM reset just before the first step; peak_mb absolute; over_idle_mb = peak − resident memory of an idle child with natgrad loaded (idle_rss_mb); step_delta_mb = peak − the child’s resident memory just before the step',
      fit: `least squares of log(y) on log(N·k) over N ≥ ${FIT_FROM_N}`,
    },
    idle_rss_mb: u.round(idle.rss / u.MB, 1),
    sweep,
    fits,
    layer_vs_dense: pairs,
    target: t
      ? {
          rule: `peak memory of the exact step with the layer trick ≤ 1/10 of the materialised-J version (784-256-256-10, N = ${targetN}; peak over an idle process)`,
          layer_mb: t.layer.over_idle_mb,
          dense_mb: t.dense.over_idle_mb,
          fraction: u.round(t.layer.over_idle_mb / t.dense.over_idle_mb, 4),
          fraction_step_delta: u.round(t.layer.step_delta_mb / t.dense.step_delta_mb, 4),
          met: t.layer.over_idle_mb <= t.dense.over_idle_mb / 10,
          at_target_size: targetN === 256,
        }
      : null,
    wall_s: u.round((Date.now() - started) / 1000, 1),
  };
  u.writeJson(u.outFile(args, 'scaling'), result);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
