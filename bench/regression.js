#!/usr/bin/env node
// node bench/regression.js [--quick] [--seeds=0,1,2,3,4] [--adam-steps=10000] [--lrs=1e-4,…]
// (build first: npx tsc -p tsconfig.json)
//
// Issue #5's regression target: sin(10x)/(10x) on 200 evenly spaced points of [−1, 1] (lib/demo/sinc.ts,
// the same data as `natgrad demo`), MLP 1-20-20-1 tanh (P = 481), gaussian loss, full batch.
//   - NGD: NaturalGradient with its defaults (exact, lr = 1, λ₀ = 1e-3, Levenberg–Marquardt damping on),
//     up to 200 steps, for each seed; reported: the first step whose MSE ≤ 1e-8, the MSE after 200
//     steps, directions solved (steps + retries after rejected trials), wall time.
//   - Adam: 10,000 full-batch steps (β = 0.9/0.999, ε = 1e-8) from the same initialisation (seed 0) for
//     each learning rate of a sweep; reported: final and best MSE per lr, the best lr, wall time.
// MSE = (1/N) Σ (y − η)² = 2 L (L = (1/N) Σ ½(y − η)²). Writes bench/results/regression.json
// (bench/results/regression.partial.json.tmp for a narrowed run).
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const ng = require('../dist/index.js');
const { sincData } = require('../dist/demo/sinc.js');

const args = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a);
    if (!m) throw new Error(`bench/regression: unknown argument ${a}`);
    return [m[1], m[2] ?? 'true'];
  })
);
const quick = args.quick === 'true';
const list = (s) => s.split(',').map(Number);
const seeds = list(args.seeds ?? (quick ? '0' : '0,1,2,3,4'));
const adamSteps = Number(args['adam-steps'] ?? (quick ? 2000 : 10000));
const lrs = list(args.lrs ?? (quick ? '1e-3,1e-2' : '1e-4,3e-4,1e-3,3e-3,1e-2,3e-2,1e-1'));
const narrowed = quick || args.seeds || args['adam-steps'] || args.lrs;
const NGD_STEPS = 200,
  TARGET = 1e-8;

const data = sincData(200);
const makeModel = (seed) => ng.sequential([ng.linear(1, 20), ng.tanh(), ng.linear(20, 20), ng.tanh(), ng.linear(20, 1)], { seed });
const mse = (loss) => 2 * loss;
const fmt = (v) => v.toExponential(2);

function runNgd(seed) {
  const model = makeModel(seed);
  const opt = new ng.NaturalGradient(model, { loss: 'gaussian' });
  const curve = [mse(opt.lossAt(data.x, data.y, data.n))];
  let hit = null,
    solves = 0,
    rejected = 0;
  const t0 = performance.now();
  for (let s = 1; s <= NGD_STEPS; s++) {
    const info = opt.step(data.x, data.y, data.n);
    solves += info.attempts;
    if (!info.accepted) rejected++;
    curve.push(mse(info.lossAfter));
    if (hit === null && mse(info.lossAfter) <= TARGET) hit = s;
  }
  const seconds = (performance.now() - t0) / 1000;
  return { seed, stepsToTarget: hit, finalMse: curve[curve.length - 1], solves, rejectedSteps: rejected, finalDamping: opt.damping, seconds, curve };
}

function runAdam(lr) {
  const model = makeModel(0);
  const opt = new ng.Adam(model, { loss: 'gaussian', lr });
  let best = Infinity,
    rejected = 0;
  const curve = [];
  const t0 = performance.now();
  for (let s = 1; s <= adamSteps; s++) {
    const info = opt.step(data.x, data.y, data.n);
    if (!info.accepted) rejected++;
    best = Math.min(best, mse(info.loss));
    if (s % 100 === 0 || s === 1) curve.push([s - 1, mse(info.loss)]);
  }
  const finalMse = mseOf(model);
  best = Math.min(best, finalMse);
  const seconds = (performance.now() - t0) / 1000;
  curve.push([adamSteps, finalMse]);
  return { lr, finalMse, bestMse: best, rejectedSteps: rejected, seconds, curve };
}

/** (1/N) Σ (y − η)², η by a forward pass (float32), accumulated in float64. */
function mseOf(model) {
  const eta = model.forward(data.x, data.n);
  let s = 0;
  for (let i = 0; i < data.n; i++) s += (data.y[i] - eta[i]) ** 2;
  return s / data.n;
}

const started = performance.now();
console.log(`sinc(10x), N = ${data.n}, MLP 1-20-20-1 tanh (P = ${makeModel(0).numParameters}), full batch; backend ${ng.backend().name}`);
console.log(`NGD (defaults: exact, lr 1, λ₀ 1e-3, Levenberg–Marquardt), ${NGD_STEPS} steps:`);
const ngd = seeds.map((seed) => {
  const r = runNgd(seed);
  console.log(
    `  seed ${seed}: MSE ≤ 1e-8 at step ${r.stepsToTarget ?? '—'}, MSE after ${NGD_STEPS}: ${fmt(r.finalMse)}, ${r.solves} solves, ${r.rejectedSteps} rejected, ${r.seconds.toFixed(2)} s`
  );
  return r;
});
console.log(`Adam, ${adamSteps} steps, seed 0:`);
const adam = lrs.map((lr) => {
  const r = runAdam(lr);
  console.log(`  lr ${lr}: final MSE ${fmt(r.finalMse)}, best ${fmt(r.bestMse)}, ${r.seconds.toFixed(1)} s`);
  return r;
});
const bestAdam = adam.reduce((a, b) => (b.finalMse < a.finalMse ? b : a));
const hits = ngd.map((r) => r.stepsToTarget).filter((h) => h !== null);
const summary = {
  ngdSeedsReachingTarget: `${hits.length}/${ngd.length}`,
  ngdStepsToTarget: { min: Math.min(...hits), max: Math.max(...hits), median: hits.sort((a, b) => a - b)[Math.floor(hits.length / 2)] },
  ngdSeed0: { stepsToTarget: ngd[0].stepsToTarget, seconds: ngd[0].seconds },
  adamBestLr: bestAdam.lr,
  adamBestFinalMse: bestAdam.finalMse,
  adamSteps,
  ratioAdamOverTarget: bestAdam.finalMse / TARGET,
  wallSeconds: (performance.now() - started) / 1000,
};
console.log(
  `summary: NGD reaches MSE ≤ 1e-8 on ${summary.ngdSeedsReachingTarget} seeds in ${summary.ngdStepsToTarget.min}–${summary.ngdStepsToTarget.max} steps; ` +
    `Adam's best lr ${bestAdam.lr} ends at MSE ${fmt(bestAdam.finalMse)} after ${adamSteps} steps (${summary.ratioAdamOverTarget.toExponential(1)} × the target); ` +
    `${summary.wallSeconds.toFixed(0)} s in all`
);
const result = {
  bench: 'regression',
  command: `node bench/regression.js${process.argv.length > 2 ? ' ' + process.argv.slice(2).join(' ') : ''}`,
  date: new Date().toISOString(),
  machine: require('./util').machine(ng),
  problem: {
    data: 'sin(10x)/(10x), 200 points evenly spaced on [-1, 1]',
    model: 'MLP 1-20-20-1 tanh',
    parameters: makeModel(0).numParameters,
    loss: 'gaussian',
    batch: 'full',
    target: TARGET,
  },
  summary,
  ngd,
  adam,
};
const out = path.join(__dirname, 'results', narrowed ? 'regression.partial.json.tmp' : 'regression.json');
fs.mkdirSync(path.dirname(out), { recursive: true });
fs.writeFileSync(out, require('./util').compactJson(result) + '\n');
console.log(`wrote ${path.relative(process.cwd(), out)}`);
