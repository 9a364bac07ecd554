// The training comparison of `natgrad explain --train`: the exact natural gradient, the proposal's two
// methods ('per-sample', 'chain') and Adam on the same problem, from the same initialisation, with
// the same minibatch sequence and the same step budget. Each method gets a small step-size grid and
// keeps its best setting (lowest final training loss), so no method loses to a badly chosen lr.
// The optimizers are data (TrainMethod): add one by appending to the list.
import type { LossName } from '../distributions';
import { Rng } from '../util/random';
import type { Sequential } from '../nn/sequential';
import { Adam } from '../optim/adam';
import { NaturalGradient } from '../optim/natural_gradient';
import { lineCharts, type Series } from '../plot/svg';
import { textChart } from '../plot/text';
import { mlp } from '../nn';
import { makeProblem, type ProblemOptions } from './problem';
import { sweepLr } from '../train/sweep';
import { train, type TrainOptimizer } from '../train/trainer';
import { builtinData } from './data';

export interface TrainMethod {
  /** Legend name. */
  name: string;
  /** Step sizes to try; the best (lowest final training loss) is kept. */
  lrs: number[];
  /** A human-readable description of the fixed settings. */
  settings: string;
  make(model: Sequential, loss: LossName, lr: number): TrainOptimizer;
}

/** Natural-gradient methods: Levenberg–Marquardt adaptive λ from 1e-3 (the library default). */
function natural(method: 'exact' | 'per-sample' | 'chain'): TrainMethod {
  return {
    name: method,
    lrs: [1, 0.3, 0.1],
    settings: `NaturalGradient method '${method}', damping 1e-3 (adaptive, Levenberg–Marquardt)`,
    make: (model, loss, lr) => new NaturalGradient(model, { loss, lr, damping: 1e-3, method }),
  };
}

/** exact, per-sample, chain and Adam. */
export function defaultMethods(): TrainMethod[] {
  return [
    natural('exact'),
    natural('per-sample'),
    natural('chain'),
    {
      name: 'Adam',
      lrs: [1e-3, 3e-3, 1e-2, 3e-2],
      settings: 'Adam, β = (0.9, 0.999), ε = 1e-8',
      make: (model, loss, lr) => new Adam(model, { loss, lr }),
    },
  ];
}

export interface TrainOptions extends ProblemOptions {
  /** Steps per run. Default 200. */
  steps?: number;
  /** Training points (minibatches are drawn from them). Default 256. */
  trainSize?: number;
  /** Evaluate every this many steps. Default 10. */
  evalEvery?: number;
  /** The methods to compare. Default defaultMethods(). */
  methods?: TrainMethod[];
}

export interface TrainCurve {
  name: string;
  settings: string;
  /** The step size kept, and the final training loss of every step size tried. */
  lr: number;
  tried: { lr: number; finalTrain: number }[];
  /** The kept step size is still at an end of the range tried (after extending it twice). */
  atEdge?: boolean;
  /** Evaluation points: step, full training-set loss, held-out loss. */
  steps: number[];
  train: number[];
  heldOut: number[];
  /** Steps not applied (rejected by Levenberg–Marquardt or non-finite). */
  rejected: number;
  /** Wall-clock seconds of the kept run's steps (evaluations excluded). */
  seconds: number;
}

export interface TrainReport {
  problem: string;
  loss: LossName;
  batch: number;
  steps: number;
  trainSize: number;
  heldOut: number;
  curves: TrainCurve[];
}

/** Runs every method on the problem and returns their loss curves. */
export function compareTraining(options: TrainOptions = {}): TrainReport {
  const { steps = 200, trainSize = 256, evalEvery = 10, methods = defaultMethods(), ...problem } = options;
  for (const [name, v, min] of [
    ['steps', steps, 1],
    ['trainSize', trainSize, 2],
    ['evalEvery', evalEvery, 1],
  ] as const)
    if (!Number.isSafeInteger(v) || v < min) throw new RangeError(`explain --train: option '${name}' must be an integer ≥ ${min}, got ${JSON.stringify(v)}`);
  const pr = makeProblem(problem, 'explain --train');
  const trainSet = builtinData(pr.loss, trainSize, 4000 + pr.seed);
  if (pr.n > trainSize) throw new RangeError(`explain --train: the batch (${pr.n}) is larger than the training set (${trainSize})`);
  // one minibatch sequence for everyone: a fresh permutation per epoch, all from one seeded stream
  const rng = new Rng(5000 + pr.seed);
  const perms: Uint32Array[] = [];
  const order = (epoch: number) => {
    while (perms.length <= epoch) perms.push(rng.shuffle(Uint32Array.from({ length: trainSize }, (_, i) => i)));
    return perms[epoch];
  };
  const curves: TrainCurve[] = [];
  for (const m of methods) {
    const runOne = (lr: number): TrainCurve => {
      const model = mlp(2, pr.hidden, pr.k, pr.activation, { seed: pr.seed });
      // the training loop of natgrad train and the demo (lib/train/trainer.ts), with this sequence of minibatches
      const run = train(model, pr.loss, trainSet, pr.heldOut, { optimizer: m.make(model, pr.loss, lr), lr, batch: pr.n, budget: { steps }, evalEvery, order });
      const finite = (v: number) => (Number.isFinite(v) ? v : NaN);
      return {
        name: m.name,
        settings: m.settings,
        lr,
        tried: [],
        steps: run.points.map((p) => p.step),
        train: run.points.map((p) => finite(p.trainLoss)),
        heldOut: run.points.map((p) => finite(p.testLoss)),
        rejected: run.rejected,
        seconds: run.seconds,
      };
    };
    // the step-size grid, extended past an edge where the best lies (lib/train/sweep.ts)
    const final = (c: TrainCurve) => c.train[c.train.length - 1];
    const sw = sweepLr(m.lrs, runOne, (c) => (Number.isFinite(final(c)) ? final(c) : Infinity));
    const best = sw.best.result;
    best.tried = sw.runs.map((r) => ({ lr: r.lr, finalTrain: final(r.result) }));
    if (sw.atEdge) best.atEdge = true;
    curves.push(best);
  }
  const widths = [2, ...pr.hidden, pr.k].join('-');
  return {
    problem: `MLP ${widths} (${pr.activation}), P = ${pr.p}, ${pr.loss} loss, built-in data: ${trainSize} training / ${pr.heldOut.n} held-out points, minibatch ${pr.n}, ${steps} steps, seed ${pr.seed}`,
    loss: pr.loss,
    batch: pr.n,
    steps,
    trainSize,
    heldOut: pr.heldOut.n,
    curves,
  };
}

function series(report: TrainReport, which: 'train' | 'heldOut'): Series[] {
  return report.curves.map((c) => ({ name: `${c.name} (lr ${c.lr})`, x: c.steps, y: c[which].map((v) => (v > 0 ? v : NaN)) }));
}

/** The loss curves as one SVG document (training and held-out loss side by side, log y). */
export function trainingSvg(report: TrainReport): string {
  return lineCharts(
    [
      { series: series(report, 'train'), options: { title: 'training loss', xLabel: 'step', yLabel: 'loss', logY: true } },
      { series: series(report, 'heldOut'), options: { title: 'held-out loss', xLabel: 'step', yLabel: 'loss', logY: true } },
    ],
    { columns: 2, title: `natgrad explain --train: ${report.problem}` }
  );
}

/** A table of the final losses and a text chart of the training loss. */
export function formatTraining(report: TrainReport): string {
  const out: string[] = [];
  out.push(`natgrad explain --train — ${report.problem}`);
  out.push('');
  out.push('  method       lr      final train   final held-out   rejected   seconds   (lr tried: final train)');
  for (const c of report.curves) {
    const tried = c.tried.map((t) => `${t.lr}: ${Number.isFinite(t.finalTrain) ? t.finalTrain.toExponential(2) : 'diverged'}`).join(', ');
    out.push(
      `  ${c.name.padEnd(11)}  ${String(c.lr).padEnd(6)}  ${c.train[c.train.length - 1].toExponential(3).padStart(11)}   ${c.heldOut[c.heldOut.length - 1]
        .toExponential(3)
        .padStart(14)}   ${String(c.rejected).padStart(8)}   ${c.seconds.toFixed(2).padStart(7)}   (${tried})`
    );
  }
  out.push('');
  for (const c of report.curves)
    out.push(
      `  ${c.name}: ${c.settings}; lr from {${c.tried.map((t) => t.lr).join(', ')}}, the lowest final training loss` +
        (c.atEdge ? ' (at an end of the range tried)' : '')
    );
  out.push('  same initialisation, same minibatch sequence, same number of steps for every run');
  out.push('');
  out.push(textChart(series(report, 'train'), { width: 64, height: 14, logY: true, title: 'training loss (full training set) per step', xLabel: 'step' }));
  return out.join('\n');
}
