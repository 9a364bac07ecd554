#!/usr/bin/env node
// npm run bench:cnn [-- --seconds=N] [--quick]
//
// Issue #16's target: a small CNN on the built-in MNIST digits (8,000 train / 2,000 test, the demo's
// split), NGD vs Adam (best of a small sweep) on the same architecture: "NGD ≥ 97.5% test, and at
// Adam's best accuracy sooner than Adam". Writes bench/results/cnn.json (--quick or a non-default
// --seconds: bench/results/cnn.partial.json.tmp).
//
// Model: conv2d(1, 8, 3) → relu → maxPool2d(2) → conv2d(8, 16, 3) → relu → maxPool2d(2) → flatten →
// linear(400, 10), inputShape [1, 28, 28] (5,258 parameters), categorical loss, seed 1; the same
// initial parameters and batch order (seed 0) for every run. Each run trains for --seconds of training
// time; train and test accuracy are evaluated every 2 s of training time (not counted). Reported per
// run: steps, ms/step, best test accuracy and when, and the training time to each threshold. Before the
// runs: the cost of one step of each configuration, and NGD's phases and kernel forms (profile.layers).
'use strict';

const path = require('node:path');
const { machine, parseArgs, runSummary, timeSteps, writeResult } = require('./util');

const root = path.join(__dirname, '..');
const ng = require(path.join(root, 'dist', 'index.js'));
const { mnistProblem } = require(path.join(root, 'dist', 'demo', 'problems.js'));
const { train } = require(path.join(root, 'dist', 'train', 'trainer.js'));

const args = parseArgs(process.argv.slice(2), ['seconds', 'quick'], 'bench/cnn.js');
const quick = args.quick !== undefined;
const seconds = args.seconds !== undefined ? Number(args.seconds) : quick ? 10 : 120;
if (!(seconds > 0)) throw new Error('bench/cnn.js: --seconds must be a positive number');
const partial = quick || seconds !== 120;

const THRESHOLDS = [0.9, 0.95, 0.96, 0.97, 0.975, 0.98, 0.985];
const TARGET = 0.975;

const cnn = () =>
  ng.sequential([ng.conv2d(1, 8, 3), ng.relu(), ng.maxPool2d(2), ng.conv2d(8, 16, 3), ng.relu(), ng.maxPool2d(2), ng.flatten(), ng.linear(400, 10)], {
    seed: 1,
    inputShape: [1, 28, 28],
  });

// NGD at three batch sizes (λ = 1 fixed, lr 1); Adam at two learning rates and the two smaller batch sizes
const configs = [
  { name: 'NGD b64 λ=1 fixed', optimizer: 'ngd', batch: 64, lr: 1, damping: 1, ngd: { adaptive: false } },
  ...(quick
    ? []
    : [
        { name: 'NGD b32 λ=1 fixed', optimizer: 'ngd', batch: 32, lr: 1, damping: 1, ngd: { adaptive: false } },
        { name: 'NGD b128 λ=1 fixed', optimizer: 'ngd', batch: 128, lr: 1, damping: 1, ngd: { adaptive: false } },
      ]),
  { name: 'Adam b64 lr 1e-3', optimizer: 'adam', batch: 64, lr: 1e-3 },
  ...(quick
    ? []
    : [
        { name: 'Adam b64 lr 3e-3', optimizer: 'adam', batch: 64, lr: 3e-3 },
        { name: 'Adam b32 lr 1e-3', optimizer: 'adam', batch: 32, lr: 1e-3 },
      ]),
];

const problem = mnistProblem();
console.log(`bench:cnn — ${problem.title}, CNN conv8-pool-conv16-pool-linear10 (P = ${cnn().numParameters}); ${seconds} s of training per run`);

// One step's cost on the first batch: 3 warm-up steps, then 10 timed.
const stepCost = [];
for (const c of configs) {
  const model = cnn();
  const x = problem.train.x.subarray(0, c.batch * 784);
  const y = problem.train.y.subarray(0, c.batch);
  const opt =
    c.optimizer === 'ngd'
      ? new ng.NaturalGradient(model, { loss: 'categorical', lr: c.lr, damping: c.damping, ...c.ngd })
      : new ng.Adam(model, { loss: 'categorical', lr: c.lr });
  const { ms, phasesMs } = timeSteps(opt, x, y, c.batch, 3, 10);
  const entry = {
    name: c.name,
    msPerStep: +ms.toFixed(1),
    ...(opt.profile
      ? {
          kernelSize: opt.profile.size,
          space: opt.profile.space,
          solver: opt.profile.solver,
          phasesMs,
          layers: opt.profile.layers,
        }
      : {}),
  };
  stepCost.push(entry);
  console.log(
    `step cost: ${c.name}: ${ms.toFixed(1)} ms${
      entry.phasesMs
        ? ` (${entry.space} ${entry.kernelSize}², ${entry.solver}; ${Object.entries(entry.phasesMs)
            .map(([k, v]) => `${k} ${v}`)
            .join(', ')} ms)`
        : ''
    }`
  );
}

const runs = [];
for (const c of configs) {
  const r = train(cnn(), 'categorical', problem.train, problem.test, require('./util').trainOptions(c, seconds, 2));
  const run = {
    ...runSummary(c, r, THRESHOLDS, 3),
    final: { trainLoss: r.final.trainLoss, trainAcc: r.final.trainAcc, testAcc: r.final.testAcc },
    ...(r.diverged ? { diverged: r.diverged } : {}),
    curve: r.points.map((p) => ({ t: +p.time.toFixed(2), step: p.step, trainLoss: p.trainLoss, testAcc: p.testAcc })),
  };
  runs.push(run);
  const fmt = (v) => (v === null ? '—' : v.toFixed(1));
  console.log(
    `${c.name.padEnd(20)} ${String(r.steps).padStart(6)} steps ${run.msPerStep.toFixed(1).padStart(7)} ms/step  best test ${(100 * run.bestTestAcc).toFixed(2)}% at ${run.bestAt.toFixed(1)} s  ` +
      `s→ ${THRESHOLDS.map((t) => `${(100 * t).toFixed(1)}%:${fmt(run.secondsToTestAcc[t.toFixed(3)])}`).join(' ')}`
  );
}

// the verdict: NGD ≥ 97.5%, and at Adam's best accuracy sooner than Adam
const ngd = runs.filter((r) => r.optimizer === 'ngd');
const adam = runs.filter((r) => r.optimizer === 'adam');
const bestOf = (rs) => rs.reduce((a, r) => (r.bestTestAcc > a.bestTestAcc ? r : a));
const adamBest = bestOf(adam);
const ngdBest = bestOf(ngd);
const timeTo = (r, acc) => r.curve.find((p) => p.testAcc >= acc)?.t ?? null;
const ngdToAdamBest = Math.min(...ngd.map((r) => timeTo(r, adamBest.bestTestAcc) ?? Infinity));
const verdict = {
  target: `NGD ≥ ${100 * TARGET}% test accuracy, and at Adam's best test accuracy sooner than Adam`,
  ngdBestTestAcc: ngdBest.bestTestAcc,
  ngdBestRun: ngdBest.name,
  adamBestTestAcc: adamBest.bestTestAcc,
  adamBestRun: adamBest.name,
  adamSecondsToItsBest: adamBest.bestAt,
  ngdSecondsToAdamBest: Number.isFinite(ngdToAdamBest) ? ngdToAdamBest : null,
  met: ngdBest.bestTestAcc >= TARGET && Number.isFinite(ngdToAdamBest) && ngdToAdamBest < adamBest.bestAt,
};
console.log(
  `\ntarget (${verdict.target}): ${verdict.met ? 'MET' : 'MISSED'} — best test accuracy NGD ${(100 * verdict.ngdBestTestAcc).toFixed(2)}% (${verdict.ngdBestRun}), ` +
    `Adam ${(100 * verdict.adamBestTestAcc).toFixed(2)}% (${verdict.adamBestRun}) after ${verdict.adamSecondsToItsBest.toFixed(1)} s; ` +
    `NGD at that accuracy: ${verdict.ngdSecondsToAdamBest === null ? 'never' : `${verdict.ngdSecondsToAdamBest.toFixed(1)} s`}`
);

const result = {
  bench: 'cnn',
  command: `npm run bench:cnn${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
  machine: machine(ng),
  problem: {
    title: problem.title,
    model: 'conv2d(1,8,3) relu maxPool2d(2) conv2d(8,16,3) relu maxPool2d(2) flatten linear(400,10)',
    train: problem.train.n,
    test: problem.test.n,
  },
  secondsPerRun: seconds,
  thresholds: THRESHOLDS,
  verdict,
  stepCost,
  runs,
};
writeResult('cnn', partial, result);
