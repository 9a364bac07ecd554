// The training loop shared by `natgrad train` and `natgrad demo`: one of three optimizers (exact
// natural gradient, Adam, SGD) on a data set, minibatches in a seeded random order each epoch
// (permutation(n, seed, epoch) of lib/data/batches, partial last batch dropped),
// evaluation on the train and test sets at fixed intervals, a budget in steps, epochs or seconds.
//
// Time is training time only: evaluation passes are not counted (they are the same for every optimizer).
//
// A run can continue from where another stopped (config.resume: the optimizer restored from a
// checkpoint, the step count, training seconds and earlier evaluations): the batch order is a function
// of (seed, epoch) alone, so a run resumed at step s with the optimizer's state at s takes exactly the
// steps the uninterrupted run took. hooks.onEpoch hands out what a checkpoint needs after each epoch.
import { type Floats, zerosLike } from '../util/floats';
import { checkTargets, distribution, type LossName, meanLoss, type OutputFamily } from '../distributions';
import type { Sequential } from '../nn/sequential';
import { permutation } from '../data/batches';
import type { Dataset } from '../data/dataset';
import { NaturalGradient, type NaturalGradientOptions } from '../optim/natural_gradient';
import { Adam } from '../optim/adam';
import { SGD } from '../optim/sgd';

export type OptimizerName = 'ngd' | 'adam' | 'sgd';
export const OPTIMIZERS: readonly OptimizerName[] = ['ngd', 'adam', 'sgd'];
/** Names for tables and legends. */
export const OPTIMIZER_LABEL: Record<OptimizerName, string> = { ngd: 'NGD', adam: 'Adam', sgd: 'SGD' };

export interface OptimizerSettings {
  lr: number;
  /** NGD: the (initial) damping λ. */
  damping?: number;
  /** SGD: momentum μ (default 0.9). */
  momentum?: number;
  /** NGD: further NaturalGradient options (adaptive, momentum, maxKL, …). */
  ngd?: Partial<NaturalGradientOptions>;
}

export interface Budget {
  steps?: number;
  epochs?: number;
  /** Training seconds (checked after every step). */
  seconds?: number;
}

/** The optimizers the loop drives. */
export type TrainOptimizer = NaturalGradient | Adam | SGD;

/** Where a resumed run starts: the state of an earlier run after `step` steps. */
export interface ResumeFrom {
  /** The optimizer in its saved state (e.g. from loadCheckpoint), training the model given to train(). */
  optimizer: TrainOptimizer;
  /** Steps taken so far (a whole number of epochs for the batch order to continue exactly; any count works). */
  step: number;
  /** Training seconds so far. Default 0. */
  seconds?: number;
  /** Rejected steps so far. Default 0. */
  rejected?: number;
  /** The earlier run's evaluations, kept at the start of the result's points. Default none (evaluated anew). */
  points?: Point[];
}

export interface RunConfig extends OptimizerSettings {
  /** The optimizer: by name, built from the settings above; or one already built on the model (the settings are then unused). */
  optimizer: OptimizerName | TrainOptimizer;
  batch: number;
  budget: Budget;
  /** Evaluate every this many steps (and at the end). Default: once per epoch, unless evalSeconds is given. */
  evalEvery?: number;
  /** Also evaluate each time this many more training seconds have passed. */
  evalSeconds?: number;
  /** Seed of the batch order. Default 0. */
  seed?: number;
  /** Epoch e's order of the training samples (a permutation of 0…n−1). Default permutation(n, seed, e). */
  order?: (epoch: number) => ArrayLike<number>;
  /** Continue an earlier run instead of starting one (the optimizer settings above are then unused). */
  resume?: ResumeFrom;
}

export interface Point {
  step: number;
  /** Epochs completed (fractional). */
  epoch: number;
  /** Training seconds so far. */
  time: number;
  trainLoss: number;
  testLoss: number;
  /** Fraction correct (categorical and bernoulli only). */
  trainAcc?: number;
  testAcc?: number;
  /** NGD: λ after the last step. */
  damping?: number;
}

export interface StepEvent {
  step: number;
  epoch: number;
  /** Index of the batch within its epoch (from 0) and batches per epoch. */
  batchIndex: number;
  batches: number;
  /** Loss of the batch before the step. */
  loss: number;
  damping?: number;
  accepted: boolean;
  /** Milliseconds of this step. */
  ms: number;
}

export interface RunResult {
  config: RunConfig;
  points: Point[];
  /** The last evaluation. */
  final: Point;
  steps: number;
  seconds: number;
  /** Set when training stopped early because the loss or the parameters stopped being finite. */
  diverged?: string;
  /** Steps the optimizer did not apply (NaN/Inf trials, rejected LM trials that ran out of retries). */
  rejected: number;
  /** trainAsync's stop() ended training early. */
  interrupted?: boolean;
}

/** After a completed epoch: everything needed to resume from here (see RunConfig.resume). */
export interface EpochEvent {
  /** Epochs completed. */
  epoch: number;
  step: number;
  seconds: number;
  rejected: number;
  /** The evaluations so far (this epoch's included when evaluations fall on epoch ends). */
  points: readonly Point[];
  optimizer: TrainOptimizer;
}

export interface Hooks {
  onStep?(e: StepEvent): void;
  onEval?(p: Point): void;
  /** Called after each completed epoch (after its evaluation), unless training diverged; returning false stops training there. */
  // biome-ignore lint/suspicious/noConfusingVoidType: a hook returns nothing, or false to stop
  onEpoch?(e: EpochEvent): void | boolean;
}

/** Minimal common surface of the three optimizers. */
interface Stepper {
  step(x: Floats, y: Floats, batch: number): { loss: number; accepted?: boolean; reason?: string };
}

/** An optimizer by name. */
export function makeOptimizer(name: OptimizerName, model: Sequential, loss: LossName, s: OptimizerSettings): TrainOptimizer {
  switch (name) {
    case 'ngd':
      return new NaturalGradient(model, { ...s.ngd, loss, lr: s.lr, ...(s.damping !== undefined ? { damping: s.damping } : {}) });
    case 'adam':
      return new Adam(model, { loss, lr: s.lr });
    case 'sgd':
      return new SGD(model, { loss, lr: s.lr, momentum: s.momentum ?? 0.9 });
  }
}

/** Mean loss and (for classification) accuracy of the model on a data set, in chunks of `chunk` samples. */
export function evaluate(model: Sequential, family: OutputFamily, d: Dataset, chunk = 2048): { loss: number; acc?: number } {
  const k = model.outDim;
  const tw = family.targetWidth(k);
  if (d.n === 0) return family.name === 'gaussian' ? { loss: NaN } : { loss: NaN, acc: NaN };
  let loss = 0,
    single = 0,
    correct = 0;
  for (let s = 0; s < d.n; s += chunk) {
    const m = Math.min(chunk, d.n - s);
    const eta = model.forward(d.x.subarray(s * d.inDim, (s + m) * d.inDim), m);
    const y = d.y.subarray(s * tw, (s + m) * tw);
    single = meanLoss(family, eta, y, m, k);
    loss += single * m;
    if (family.name === 'categorical') {
      for (let i = 0; i < m; i++) {
        let best = 0;
        for (let j = 1; j < k; j++) if (eta[i * k + j] > eta[i * k + best]) best = j;
        if (best === y[i]) correct++;
      }
    } else if (family.name === 'bernoulli') {
      for (let i = 0; i < m; i++) if ((eta[i] > 0 ? 1 : 0) === y[i]) correct++;
    }
  }
  loss = d.n > chunk ? loss / d.n : single; // one chunk: its meanLoss as it is (m·L/m can differ from L in the last bit)
  return family.name === 'gaussian' ? { loss } : { loss, acc: correct / d.n };
}

/**
 * Trains `model` (in place) on `train`, evaluating on `train` and `test`. With batch ≥ train.n every
 * step is a full-batch step (no shuffling). A partial last batch of an epoch is dropped, so that every
 * step has the same size (the natural-gradient kernel buffer is then reused).
 */
export function train(model: Sequential, loss: LossName, trainSet: Dataset, testSet: Dataset, config: RunConfig, hooks: Hooks = {}): RunResult {
  const run = trainSteps(model, loss, trainSet, testSet, config, hooks);
  let r = run.next(false);
  while (!r.done) r = run.next(false);
  return r.value;
}

/**
 * train() that lets the event loop run between steps (every ~50 ms of steps): timers, I/O and signal
 * handlers run while it trains. `stop()` is asked after each such pause; when it says true, training
 * stops after the current step and the result says `interrupted` (the CLI's Ctrl-C).
 */
export async function trainAsync(
  model: Sequential,
  loss: LossName,
  trainSet: Dataset,
  testSet: Dataset,
  config: RunConfig,
  hooks: Hooks = {},
  stop: () => boolean = () => false
): Promise<RunResult> {
  const run = trainSteps(model, loss, trainSet, testSet, config, hooks);
  let r = run.next(false);
  let last = performance.now();
  while (!r.done) {
    let halt = false;
    if (performance.now() - last >= 50) {
      await new Promise((resolve) => setImmediate(resolve));
      last = performance.now();
      halt = stop();
    }
    r = run.next(halt);
  }
  return r.value;
}

/**
 * The loop of train() and trainAsync(), as a generator: it yields after every step and stops when
 * next(true) says so. (~100 lines on purpose: one loop whose state — step, seconds, rejections, the
 * epoch's order, the next evaluation — is shared by the step, the evaluation schedule and the hooks;
 * split, it would travel between functions as a bag of mutable fields.)
 */
function* trainSteps(
  model: Sequential,
  loss: LossName,
  trainSet: Dataset,
  testSet: Dataset,
  config: RunConfig,
  hooks: Hooks
): Generator<void, RunResult, boolean> {
  const family = distribution(loss, 'train');
  const k = model.outDim;
  const tw = family.targetWidth(k);
  checkTargets(family, 'train', trainSet.y, trainSet.n, k, model.dtype);
  checkTargets(family, 'train', testSet.y, testSet.n, k, model.dtype);
  const batch = Math.min(config.batch, trainSet.n);
  const full = batch === trainSet.n;
  const batches = Math.floor(trainSet.n / batch);
  const { steps: maxSteps = Infinity, epochs: maxEpochs = Infinity, seconds: maxSeconds = Infinity } = config.budget;
  if (![maxSteps, maxEpochs, maxSeconds].some(Number.isFinite)) throw new RangeError('train: the budget needs steps, epochs or seconds');
  const evalEvery = config.evalEvery ?? (config.evalSeconds ? Infinity : batches);
  const evalSeconds = config.evalSeconds ?? Infinity;
  const resume = config.resume;
  if (resume !== undefined) {
    if (resume.optimizer.model !== model) throw new RangeError('train: resume.optimizer trains a different model than the one given');
    if (!Number.isSafeInteger(resume.step) || resume.step < 0) throw new RangeError(`train: resume.step must be a non-negative integer, got ${resume.step}`);
  }
  const opt: TrainOptimizer =
    resume?.optimizer ?? (typeof config.optimizer === 'string' ? makeOptimizer(config.optimizer, model, loss, config) : config.optimizer);
  if (opt.model !== model) throw new RangeError('train: config.optimizer trains a different model than the one given');
  const stepper: Stepper = opt;
  const damping = () => (opt instanceof NaturalGradient ? opt.damping : undefined);
  const seed = config.seed ?? 0;
  const xb = full ? trainSet.x : zerosLike(trainSet.x, batch * trainSet.inDim);
  const yb = full ? trainSet.y : zerosLike(trainSet.y, batch * tw);
  const points: Point[] = resume?.points ? resume.points.slice() : [];
  let step = resume?.step ?? 0,
    seconds = resume?.seconds ?? 0,
    rejected = resume?.rejected ?? 0;
  let nextEval = evalSeconds * (Math.floor(seconds / evalSeconds) + 1);
  let diverged: string | undefined;
  let interrupted = false;
  const point = (): Point => {
    let tr: { loss: number; acc?: number }, te: { loss: number; acc?: number };
    try {
      tr = evaluate(model, family, trainSet);
      te = evaluate(model, family, testSet);
    } catch (e) {
      if ((e as { code?: string }).code !== 'ERR_NON_FINITE') throw e;
      diverged ??= (e as Error).message;
      tr = te = { loss: NaN, ...(family.name === 'gaussian' ? {} : { acc: NaN }) };
    }
    const p: Point = {
      step,
      epoch: step / batches,
      time: seconds,
      trainLoss: tr.loss,
      testLoss: te.loss,
      ...(tr.acc !== undefined ? { trainAcc: tr.acc, testAcc: te.acc } : {}),
      ...(damping() !== undefined ? { damping: damping() } : {}),
    };
    points.push(p);
    hooks.onEval?.(p);
    return p;
  };
  if (points.length === 0) point();
  const orderOf = config.order ?? ((epoch: number) => permutation(trainSet.n, seed, epoch));
  let order: ArrayLike<number> | null = null;
  while (step < maxSteps && step / batches < maxEpochs && seconds < maxSeconds && !diverged) {
    const b = step % batches;
    if (!full) {
      // epoch e's order: the same for every optimizer (and computed afresh when a run resumes mid-epoch)
      if (b === 0 || order === null) order = orderOf(Math.floor(step / batches));
      for (let r = 0; r < batch; r++) {
        const i = order![b * batch + r];
        xb.set(trainSet.x.subarray(i * trainSet.inDim, (i + 1) * trainSet.inDim), r * trainSet.inDim);
        yb.set(trainSet.y.subarray(i * tw, (i + 1) * tw), r * tw);
      }
    }
    const t0 = performance.now();
    let res: { loss: number; accepted?: boolean; reason?: string };
    try {
      res = stepper.step(xb, yb, batch);
    } catch (e) {
      if ((e as { code?: string }).code !== 'ERR_NON_FINITE') throw e;
      diverged = (e as Error).message;
      break;
    }
    const ms = performance.now() - t0;
    seconds += ms / 1000;
    step++;
    const accepted = res.accepted ?? true;
    if (!accepted) rejected++;
    if (!Number.isFinite(res.loss)) diverged = `the batch loss is ${res.loss} at step ${step}`;
    hooks.onStep?.({ step, epoch: Math.ceil(step / batches), batchIndex: b, batches, loss: res.loss, damping: damping(), accepted, ms });
    if (step % evalEvery === 0 || seconds >= nextEval) {
      point();
      while (nextEval <= seconds) nextEval += evalSeconds;
    }
    if (step % batches === 0 && !diverged && hooks.onEpoch?.({ epoch: step / batches, step, seconds, rejected, points, optimizer: opt }) === false) break;
    if (yield) {
      interrupted = true;
      break;
    }
  }
  let final = points[points.length - 1];
  if (final.step !== step) final = point();
  if (!diverged && !Number.isFinite(final.trainLoss)) diverged = `the training loss is ${final.trainLoss}`;
  return { config, points, final, steps: step, seconds, rejected, ...(diverged ? { diverged } : {}), ...(interrupted ? { interrupted } : {}) };
}
