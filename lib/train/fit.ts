// fit(): training in one call, as Keras and TensorFlow.js users know it — epochs of shuffled minibatches
// (the training loop of ./trainer.ts), a validation set (given, or a seeded fraction of the data), a
// learning-rate schedule, early stopping on the validation loss, callbacks, and a history per epoch.
//
//   const h = fit(model, { x, y, n, inDim }, { loss: 'categorical', epochs: 20, validation: 0.2,
//                                              earlyStopping: { patience: 3 } });
//   h.epochs.at(-1).valAccuracy
import { type Floats, zerosLike } from '../util/floats';
import type { Dataset } from '../data/dataset';
import { trainTestSplit } from '../data/split';
import type { LossName } from '../distributions';
import { NaturalGradient } from '../optim/natural_gradient';
import type { Sequential } from '../nn/sequential';
import { checkCount, checkNumber, describe } from '../util/validate';
import { makeOptimizer, type OptimizerName, type OptimizerSettings, type Point, type StepEvent, type TrainOptimizer, train } from './trainer';

export interface EarlyStopping {
  /** Epochs without improvement (by more than minDelta) before training stops. */
  patience: number;
  /** The smallest decrease that counts as an improvement. Default 0. */
  minDelta?: number;
  /** What must improve: 'valLoss' (default when there is validation data) or 'loss' (the training loss). */
  monitor?: 'valLoss' | 'loss';
  /** Put back the parameters of the best epoch at the end. Default true. */
  restoreBest?: boolean;
}

/** One epoch of the history. */
export interface EpochLog {
  /** 1, 2, … */
  epoch: number;
  /** Mean loss over the training set after the epoch (gaussian: ½·squared error per row). */
  loss: number;
  accuracy?: number;
  valLoss?: number;
  valAccuracy?: number;
  /** The learning rate the epoch ran with. */
  lr: number;
  /** NGD: λ after the epoch. */
  damping?: number;
  /** Training seconds so far (evaluations not counted). */
  seconds: number;
}

export interface FitCallbacks {
  /** After each epoch's evaluation; returning false stops training. */
  // biome-ignore lint/suspicious/noConfusingVoidType: a callback returns nothing, or false to stop
  onEpochEnd?(log: EpochLog): void | boolean;
  /** After every step. */
  onStep?(e: StepEvent): void;
}

export interface FitOptions extends Partial<OptimizerSettings> {
  loss: LossName;
  /** 'ngd' (the exact natural gradient, default), 'adam', 'sgd', or an optimizer already built on the model. */
  optimizer?: OptimizerName | TrainOptimizer;
  /** Default 10. */
  epochs?: number;
  /** Rows per step, capped at the training rows. Default 256 for 'ngd', 64 otherwise. */
  batchSize?: number;
  /** Validation data, or the fraction of `data` to hold out for it (seeded by `seed`). Default none. */
  validation?: Dataset | number;
  /** Seed of the validation split and of the batch order. Default 0. */
  seed?: number;
  /** The learning rate of each epoch from the second on: schedule(epoch, lr of the epoch before). */
  schedule?: (epoch: number, lr: number) => number;
  earlyStopping?: EarlyStopping;
  callbacks?: FitCallbacks;
}

export interface History {
  epochs: EpochLog[];
  /** True when early stopping (or a callback) ended training before `epochs`. */
  stopped: boolean;
  /** The epoch whose parameters the model holds at the end (the best one with earlyStopping.restoreBest). */
  kept: number;
  /** Set when training stopped because the loss or the parameters stopped being finite. */
  diverged?: string;
  optimizer: TrainOptimizer;
}

const DEFAULT_LR: Record<OptimizerName, number> = { ngd: 1, adam: 1e-3, sgd: 0.1 };

/** Trains `model` in place on `data` and returns the history of its epochs. */
export function fit(model: Sequential, data: Dataset, options: FitOptions): History {
  const fn = 'fit';
  if (typeof options !== 'object' || options === null) throw new TypeError(`${fn}: 'options' must be an object, got ${describe(options)}`);
  const epochs = checkCount(fn, 'epochs', options.epochs ?? 10);
  const seed = options.seed ?? 0;
  let trainSet = data;
  let valSet: Dataset = { x: zerosLike(data.x, 0), y: zerosLike(data.y, 0), n: 0, inDim: data.inDim };
  if (typeof options.validation === 'number') ({ train: trainSet, test: valSet } = trainTestSplit(data, options.validation, seed));
  else if (options.validation !== undefined) valSet = options.validation;
  const name = typeof options.optimizer === 'string' || options.optimizer === undefined ? (options.optimizer ?? 'ngd') : undefined;
  const batch = checkCount(fn, 'batchSize', options.batchSize ?? (name === 'ngd' || options.optimizer instanceof NaturalGradient ? 256 : 64));
  const es = options.earlyStopping;
  const monitor = es?.monitor ?? (valSet.n > 0 ? 'valLoss' : 'loss');
  if (es) {
    checkCount(fn, 'earlyStopping.patience', es.patience);
    if (monitor === 'valLoss' && valSet.n === 0) throw new RangeError(`${fn}: earlyStopping monitors 'valLoss' but there is no validation data`);
  }
  const minDelta = es ? checkNumber(fn, "'earlyStopping.minDelta'", es.minDelta ?? 0, 0) : 0;
  const lr = options.lr ?? (name ? DEFAULT_LR[name] : (options.optimizer as TrainOptimizer).lr);
  const opt = name ? makeOptimizer(name, model, options.loss, { ...options, lr }) : (options.optimizer as TrainOptimizer);
  if (!name && options.lr !== undefined) opt.lr = options.lr;
  const log: EpochLog[] = [];
  let best = Infinity,
    bestEpoch = 0,
    since = 0,
    stopped = false;
  let bestParams: Floats | null = null;
  let lastPoint: Point | undefined;
  const result = train(
    model,
    options.loss,
    trainSet,
    valSet,
    { optimizer: opt, lr, batch, budget: { epochs }, seed },
    {
      onStep: options.callbacks?.onStep,
      onEval: (p) => {
        lastPoint = p;
      },
      onEpoch: (e) => {
        const p = lastPoint!;
        const entry: EpochLog = {
          epoch: e.epoch,
          loss: p.trainLoss,
          ...(p.trainAcc !== undefined ? { accuracy: p.trainAcc } : {}),
          ...(valSet.n > 0 ? { valLoss: p.testLoss, ...(p.testAcc !== undefined ? { valAccuracy: p.testAcc } : {}) } : {}),
          lr: e.optimizer.lr,
          ...(p.damping !== undefined ? { damping: p.damping } : {}),
          seconds: e.seconds,
        };
        log.push(entry);
        const value = monitor === 'valLoss' ? p.testLoss : p.trainLoss;
        if (value < best - minDelta) {
          best = value;
          bestEpoch = e.epoch;
          since = 0;
          if (es && es.restoreBest !== false) bestParams = model.params.slice();
        } else since++;
        if (options.callbacks?.onEpochEnd?.(entry) === false || (es && since >= es.patience)) {
          stopped = e.epoch < epochs;
          return false;
        }
        if (options.schedule) e.optimizer.lr = options.schedule(e.epoch + 1, e.optimizer.lr); // the next epoch's
        return true;
      },
    }
  );
  let kept = log.length;
  if (bestParams && bestEpoch !== kept) {
    model.setParameters(bestParams);
    kept = bestEpoch;
  }
  return { epochs: log, stopped, kept, ...(result.diverged ? { diverged: result.diverged } : {}), optimizer: opt };
}
