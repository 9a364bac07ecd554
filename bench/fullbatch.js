#!/usr/bin/env node
// npm run bench:fullbatch [-- --seconds=20] [--n=100000] [--out=FILE]
//
// A full-batch fit of 100,000 points — the case where natural gradients pay off and one Gram matrix
// does not fit: y = sin(a·x) + ½·x₁x₂ + 0.3·cos(3x₃) on x ∈ [−1, 1]⁸ (a, x from a fixed LCG), MLP 8-64-64-1
// tanh (P = 4,801), gaussian loss. NGD takes full-batch steps (N·r = 100,000: solver 'auto' chooses how,
// the profile says which) for --seconds of training; Adam (minibatches of 1,000, epochs of a seeded
// shuffle) gets 20 × as long: a sweep of lr ∈ {1e-3, 3e-3, 1e-2} at 2 × --seconds each, then the best
// continued to 20 × --seconds in all. Reported: the train MSE (over all points) against training
// seconds for both, NGD's final MSE, Adam's best, and when (if) Adam reaches NGD's final MSE.
// Writes bench/results/fullbatch.json and .svg (a narrowed run: fullbatch.partial.json.tmp).
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const { compactJson, fill, machine, parseArgs } = require('./util');

const root = path.resolve(__dirname, '..');
const ng = require(path.join(root, 'dist', 'index.js'));
const svg = require(path.join(root, 'dist', 'plot', 'svg.js'));

const args = parseArgs(process.argv.slice(2), ['seconds', 'n', 'out'], 'bench/fullbatch.js');
const T = Number(args.seconds ?? 20);
const N = Number(args.n ?? 100000);
const D = 8;
const partial = args.seconds !== undefined || args.n !== undefined;

// the data: x uniform in [−1, 1]⁸, y a smooth function of it
const x = fill(N * D, 11, 2);
const a = fill(D, 12, 2);
const y = new Float32Array(N);
for (let i = 0; i < N; i++) {
  let ax = 0;
  for (let j = 0; j < D; j++) ax += a[j] * x[i * D + j];
  y[i] = Math.sin(ax) + 0.5 * x[i * D] * x[i * D + 1] + 0.3 * Math.cos(3 * x[i * D + 2]);
}
const model = () => ng.mlp(D, [64, 64], 1, 'tanh', { seed: 1 });
const mse = (m) => 2 * ng.evaluate(m, ng.gaussian, { x, y, n: N, inDim: D }).loss; // the gaussian loss is ½·squared error

function runNgd() {
  const m = model();
  const opt = new ng.NaturalGradient(m, { loss: 'gaussian', damping: 1e-3 });
  const curve = [{ seconds: 0, mse: mse(m) }];
  let seconds = 0;
  const solvers = new Set();
  while (seconds < T) {
    const t0 = performance.now();
    const info = opt.step(x, y, N);
    seconds += (performance.now() - t0) / 1000;
    if (opt.profile) solvers.add(`${opt.profile.solver} in ${opt.profile.space} space`);
    curve.push({ seconds, mse: 2 * info.lossAfter, accepted: info.accepted });
    console.log(`  NGD step ${curve.length - 1}: ${seconds.toFixed(1)} s, MSE ${(2 * info.lossAfter).toExponential(3)}${info.accepted ? '' : ' (rejected)'}`);
  }
  return { curve, solvers: [...solvers], final: curve[curve.length - 1].mse, seconds };
}

/** Adam at `lr` from the initial model for `budget` seconds, or continuing `state` (model, optimizer, epoch, batch). */
function runAdam(lr, budget, state) {
  const s = state ?? { m: model(), opt: null, epoch: 0, b: 0, seconds: 0, curve: [] };
  s.opt ??= new ng.Adam(s.m, { loss: 'gaussian', lr });
  if (s.curve.length === 0) s.curve.push({ seconds: 0, mse: mse(s.m) });
  const B = 1000;
  const xb = new Float32Array(B * D),
    yb = new Float32Array(B);
  let nextEval = s.seconds + Math.max(0.5, budget / 40);
  let order = ng.permutation(N, 0, s.epoch);
  const end = s.seconds + budget;
  while (s.seconds < end) {
    if (s.b * B + B > N) {
      s.epoch++;
      s.b = 0;
      order = ng.permutation(N, 0, s.epoch);
    }
    for (let r = 0; r < B; r++) {
      const i = order[s.b * B + r];
      xb.set(x.subarray(i * D, (i + 1) * D), r * D);
      yb[r] = y[i];
    }
    const t0 = performance.now();
    s.opt.step(xb, yb, B);
    s.seconds += (performance.now() - t0) / 1000;
    s.b++;
    if (s.seconds >= nextEval || s.seconds >= end) {
      s.curve.push({ seconds: s.seconds, mse: mse(s.m) });
      nextEval += Math.max(0.5, budget / 40);
    }
  }
  return s;
}

function main() {
  console.log(`bench:fullbatch — ${N} points, MLP ${D}-64-64-1 tanh, NGD for ${T} s, Adam for ${20 * T} s`);
  const ngd = runNgd();
  console.log(`NGD: MSE ${ngd.final.toExponential(3)} after ${ngd.seconds.toFixed(1)} s (${ngd.solvers.join(', ')})`);
  const sweep = [];
  for (const lr of [1e-3, 3e-3, 1e-2]) {
    const s = runAdam(lr, 2 * T);
    const last = s.curve[s.curve.length - 1].mse;
    sweep.push({ lr, mse: last, state: s });
    console.log(`  Adam lr ${lr}: MSE ${last.toExponential(3)} after ${s.seconds.toFixed(1)} s`);
  }
  const best = sweep.reduce((p, q) => (q.mse < p.mse ? q : p));
  const adam = runAdam(best.lr, 20 * T - best.state.seconds, best.state);
  const adamBest = Math.min(...adam.curve.map((p) => p.mse));
  const reach = adam.curve.find((p) => p.mse <= ngd.final);
  console.log(
    `Adam (lr ${best.lr}): best MSE ${adamBest.toExponential(3)} in ${adam.seconds.toFixed(0)} s; ` +
      (reach ? `reaches NGD's ${ngd.final.toExponential(2)} after ${reach.seconds.toFixed(1)} s` : `never reaches NGD's ${ngd.final.toExponential(2)}`)
  );
  const result = {
    bench: 'fullbatch',
    machine: machine(ng),
    problem: `full batch, ${N} points in [−1, 1]^${D}, y = sin(a·x) + ½x₁x₂ + 0.3cos(3x₃), MLP ${D}-64-64-1 tanh (P = ${model().numParameters})`,
    target: 'NGD reaches a train MSE that Adam does not reach in 20 × the time, in the same run',
    ngd: { seconds: ngd.seconds, final: ngd.final, solvers: ngd.solvers, steps: ngd.curve.length - 1, curve: ngd.curve },
    adam: {
      lr: best.lr,
      sweep: sweep.map(({ lr, mse }) => ({ lr, mse, seconds: 2 * T })),
      seconds: adam.seconds,
      best: adamBest,
      reachesNgd: reach ? reach.seconds : null,
      curve: adam.curve,
    },
  };
  const file = args.out ?? path.join(root, 'bench', 'results', partial ? 'fullbatch.partial.json.tmp' : 'fullbatch.json');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${compactJson(result)}\n`);
  const panel = {
    series: [
      { name: 'NGD (full batch)', x: ngd.curve.map((p) => p.seconds), y: ngd.curve.map((p) => p.mse) },
      { name: `Adam (lr ${best.lr}, batch 1000)`, x: adam.curve.map((p) => p.seconds), y: adam.curve.map((p) => p.mse), dash: true },
    ],
    options: { title: 'train MSE', xLabel: 'training seconds', yLabel: 'MSE', logY: true },
  };
  const svgFile = file.replace(/\.json(\.tmp)?$/, '.svg$1');
  fs.writeFileSync(svgFile, svg.lineCharts([panel], { title: `natgrad ${result.problem}` }));
  console.log(`wrote ${path.relative(process.cwd(), file)}, ${path.relative(process.cwd(), svgFile)}`);
}

main();
