#!/usr/bin/env node
// node bench/training.js [--quick] [--reps=5] [--out=FILE]
// (part of `npm run bench`; build first: npx tsc -p tsconfig.json)
//
// Training efficiency: wall time (training time only, as the demo counts it) for NGD and Adam to
// reach a target loss on the demo's two problems, with the demo's own code (dist/demo: the problems,
// the lr sweep of compare(), the training loop train()).
//
//  1. The demo's lr sweep picks each optimizer's learning rate: compare() on the problem with its
//     NGD and Adam contenders (SGD left out), every sweep run with the contender's sweep budget
//     (MNIST: 2 s of training per lr; sinc: the full step budget, 200 NGD / 2,000 Adam steps).
//  2. The chosen configuration is trained --reps times (default 5) from the same initial parameters
//     and batch order (the trajectories are identical; only the clock differs), evaluated every
//     ~0.1 s of training (MNIST) or every few steps (sinc); the first run goes on to the demo's
//     budget for the curve, the others stop at the primary target. Reported: median training seconds
//     and the steps to each target (the first evaluation at or below it); null if not reached within
//     the demo's budget.
//  Targets (fixed beforehand): sinc — training MSE ≤ 1e-4 (primary), 1e-6, 1e-8; MNIST — mean
//  training cross-entropy on the 8,000 training digits ≤ 0.2 (primary), 0.3, 0.1, and test accuracy
//  ≥ 93% beside them.
'use strict';

const path = require('node:path');
const u = require('./util');

const args = u.parseArgs(process.argv.slice(2), ['quick', 'reps', 'out'], 'bench/training.js');
const quick = !!args.quick;
const REPS = Number(args.reps ?? (quick ? 2 : 5));

const dist = (p) => require(path.join(u.root, 'dist', p));
const ng = dist('index.js');
const { sincProblem, mnistProblem } = dist('demo/problems.js');
const { compare } = dist('demo/compare.js');
const { train } = dist('train/trainer.js');

const STOP = Symbol('target reached');

const SETUPS = [
  {
    name: 'sinc',
    make: () => (quick ? sincProblem({ n: 50, steps: 30 }) : sincProblem()),
    // gaussian: loss = ½ MSE
    metric: { name: 'training MSE', of: (p) => 2 * p.trainLoss, below: true },
    targets: [1e-4, 1e-6, 1e-8],
    evalEvery: { ngd: 1, adam: 5 },
  },
  {
    name: 'mnist',
    make: () => (quick ? mnistProblem({ train: 1000, test: 500, timeScale: 0.1 }) : mnistProblem()),
    metric: { name: 'training cross-entropy', of: (p) => p.trainLoss, below: true },
    targets: [0.2, 0.3, 0.1],
    accuracy: 0.93,
    evalSeconds: quick ? 0.05 : 0.1,
    curveSeconds: quick ? 1 : 6,
  },
];

function timeTo(points, f) {
  const p = points.find(f);
  return p ? { seconds: u.round(p.time, 3), step: p.step } : null;
}

async function main() {
  const mach = u.machine(ng);
  const started = Date.now();
  const problems = [];
  for (const setup of SETUPS) {
    const t0 = Date.now();
    const problem = setup.make();
    const contenders = problem.contenders.filter((c) => c.optimizer === 'ngd' || c.optimizer === 'adam');
    // 1. the demo's sweep (sweep budget only: the best sweep run is the result)
    const sweepProblem = { ...problem, contenders: contenders.map((c) => ({ ...c, budget: c.sweepBudget ?? c.budget })) };
    const cmp = compare(sweepProblem);
    console.log(`training: ${problem.title}, ${problem.modelText}`);
    const primary = setup.targets[0];
    const hit = (t) => (p) => setup.metric.of(p) <= t;
    const out = {
      name: setup.name,
      title: problem.title,
      model: problem.modelText,
      metric: setup.metric.name,
      targets: setup.targets,
      primary_target: primary,
      optimizers: [],
    };
    if (setup.accuracy) out.accuracy_target = setup.accuracy;
    for (const r of cmp.results) {
      const c = contenders.find((o) => o.optimizer === r.contender.optimizer); // the demo's contender, with its full budget
      const lr = r.best.config.lr;
      const budget = c.budget;
      const msPerStep = (1000 * r.best.seconds) / Math.max(1, r.best.steps);
      const evalEvery = setup.evalEvery ? setup.evalEvery[c.optimizer] : Math.max(1, Math.round((1000 * setup.evalSeconds) / msPerStep));
      const runs = [];
      for (let rep = 0; rep < REPS; rep++) {
        const points = [];
        const curveRun = rep === 0;
        const runBudget = curveRun && setup.curveSeconds ? { seconds: Math.min(budget.seconds ?? Infinity, setup.curveSeconds) } : budget;
        const onEval = (p) => {
          points.push(p);
          if (!curveRun && hit(primary)(p)) throw STOP;
        };
        let res = null;
        try {
          res = train(
            problem.model(),
            problem.loss,
            problem.train,
            problem.test,
            { optimizer: c.optimizer, lr, batch: c.batch, damping: c.damping, momentum: c.momentum, budget: runBudget, evalEvery, seed: 0 },
            { onEval }
          );
        } catch (e) {
          if (e !== STOP) throw e;
        }
        runs.push({ points, res, budget: runBudget });
      }
      const perTarget = setup.targets.map((t) => {
        const hits = runs.map((rn) => timeTo(rn.points, hit(t)));
        // runs after the first stop at the primary target: a secondary target below it is only seen in the first run
        const seen = hits.filter(Boolean);
        return {
          target: t,
          reached: seen.length > 0,
          step: seen.length ? seen[0].step : null,
          median_seconds: seen.length ? u.round(u.median(seen.map((h) => h.seconds)), 3) : null,
          seconds: seen.map((h) => h.seconds),
          reps: seen.length,
        };
      });
      const first = runs[0];
      const entry = {
        optimizer: c.optimizer,
        label: c.optimizer === 'ngd' ? 'NGD' : 'Adam',
        lr,
        batch: c.batch,
        ...(c.damping !== undefined ? { damping: c.damping } : {}),
        sweep: r.sweep.map((s) => ({ lr: s.lr, score: s.score, ...(s.diverged ? { diverged: true } : {}) })),
        budget,
        eval_every_steps: evalEvery,
        ms_per_step: u.round(msPerStep, 3),
        targets: perTarget,
        ...(setup.accuracy ? { accuracy: timeTo(first.points, (p) => (p.testAcc ?? 0) >= setup.accuracy) } : {}),
        curve: first.points.map((p) => ({
          t: u.round(p.time, 3),
          step: p.step,
          value: setup.metric.of(p),
          ...(p.testAcc !== undefined ? { testAcc: p.testAcc } : {}),
        })),
        final: first.points.length ? setup.metric.of(first.points[first.points.length - 1]) : null,
      };
      out.optimizers.push(entry);
      const pt = perTarget[0];
      console.log(
        `  ${entry.label.padEnd(4)} lr ${lr}: ${setup.metric.name} ≤ ${primary} ` +
          (pt.reached ? `after ${pt.median_seconds} s (step ${pt.step}; median of ${pt.reps})` : `not reached within ${JSON.stringify(budget)}`) +
          `; ${entry.ms_per_step} ms/step`
      );
    }
    const [a, b] = ['ngd', 'adam'].map((o) => out.optimizers.find((e) => e.optimizer === o)?.targets[0]);
    out.ngd_over_adam_time = a?.reached && b?.reached ? u.round(a.median_seconds / b.median_seconds, 3) : null;
    out.wall_s = u.round((Date.now() - t0) / 1000, 1);
    problems.push(out);
  }
  const result = {
    bench: 'training',
    date: new Date().toISOString(),
    command: `node bench/training.js ${process.argv.slice(2).join(' ')}`.trim(),
    quick,
    machine: mach,
    conventions: {
      code: "the demo's: dist/demo/problems.js (problems, contenders), dist/demo/compare.js (lr sweep), dist/train/trainer.js (training loop)",
      time: 'training seconds as train() counts them (optimizer steps only; evaluation and batch assembly excluded)',
      lr: "the demo's sweep (compare() with each contender's sweep budget): lowest final training loss",
      reps: `${REPS} runs of the chosen configuration from the same initial parameters and batch order; median seconds to target (the first evaluation at or below it)`,
    },
    problems,
    wall_s: u.round((Date.now() - started) / 1000, 1),
  };
  u.writeJson(u.outFile(args, 'training'), result);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
