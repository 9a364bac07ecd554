// What Adam and SGD share: the constructor's model/loss checks, lr and steps, step()/stepAsync(), and
// the guarded step itself: g = ∇_θ L on the batch, trial = θ − (the optimizer's update), applied only
// when the loss, g and the trial are finite (otherwise θ and the optimizer's buffers stay
// bit-identical and the result says why). A subclass writes the update and its next buffers in
// update(), and swaps them in in commit().
import { type ArrayOf, type Dtype, type Floats, zerosLike } from '../util/floats';
import type { LossName, OutputFamily } from '../distributions';
import type { Sequential } from '../nn/sequential';
import { runSync, type Task } from '../task';
import { checkNumber } from '../util/validate';
import {
  checkOptimizerArgs,
  checkStepArgs,
  distance,
  firstNonFinite,
  largestInput,
  lossAndGradient,
  parameterName,
  rejectionOrThrow,
  runLocked,
  type StepInfo,
} from './common';

export abstract class FirstOrderOptimizer<O extends { loss: LossName; lr: number }, S, D extends Dtype = Dtype> {
  readonly model: Sequential<D>;
  readonly loss: LossName;
  readonly family: OutputFamily;
  /** Accepted steps so far. */
  protected t = 0;
  protected abstract opts: O;

  /** Checks the model, the option names and the loss ('name' is the class name, for errors). */
  protected constructor(
    private readonly name: string,
    model: Sequential<D>,
    options: { loss: LossName },
    optionNames: readonly string[]
  ) {
    this.family = checkOptimizerArgs(name, model, options, optionNames);
    this.model = model;
    this.loss = this.family.name;
  }

  /** Step size (≥ 0); may be changed between steps (a schedule). */
  get lr(): number {
    return this.opts.lr;
  }
  set lr(v: number) {
    this.opts.lr = checkNumber(this.name, "'lr'", v, 0);
  }
  /** Accepted steps so far. */
  get steps(): number {
    return this.t;
  }

  /** One step on the batch x [batch, inDim], y (see the family), arrays of the model's dtype. */
  step(x: ArrayOf<D>, y: ArrayOf<D>, batch: number): StepInfo {
    checkStepArgs(`${this.name}.step`, this.model, this.family, x, y, batch);
    return runSync(this.stepTask(x, y, batch));
  }

  /** step() with the native calls off the event loop; bit-identical. The model is locked until it settles. */
  async stepAsync(x: ArrayOf<D>, y: ArrayOf<D>, batch: number): Promise<StepInfo> {
    checkStepArgs(`${this.name}.stepAsync`, this.model, this.family, x, y, batch);
    return runLocked(this.model, `${this.name}.stepAsync`, this.stepTask(x, y, batch));
  }

  /** The optimizer's state, JSON-safe and lossless. */
  abstract state(): S;
  toJSON(): S {
    return this.state();
  }

  /** trial[i] = θ[i] − (this optimizer's update for g, at step t + 1); the next buffers are written aside. */
  protected abstract update(grad: Floats, theta: Floats, trial: Floats): void;
  /** The step is applied: make the next buffers current. */
  protected abstract commit(): void;

  /**
   * A non-finite forward pass, loss, gradient or trial rejects the step before update()'s buffers are
   * swapped in: θ, the moments/buffers and t stay bit-identical, so one bad batch leaves no trace
   * (a gradient of Infinity would otherwise sit in Adam's v, or SGD's buffer, for good).
   */
  private *stepTask(x: Floats, y: Floats, n: number): Task<StepInfo> {
    const theta = this.model.params;
    const reject = (loss: number, what: string): StepInfo => ({
      loss,
      accepted: false,
      stepNorm: 0,
      reason: `${what}; parameters and optimizer state unchanged`,
    });
    let loss: number, grad: Floats;
    try {
      ({ loss, grad } = yield* lossAndGradient(this.model, this.family, theta, x, y, n));
    } catch (e) {
      const reason = rejectionOrThrow(e);
      return reject(NaN, `${reason}; ${largestInput(x, n)}`);
    }
    if (!Number.isFinite(loss)) return reject(loss, `the loss on this batch is ${loss}; ${largestInput(x, n)}`);
    const bad = firstNonFinite(grad);
    if (bad >= 0) return reject(loss, `the gradient is not finite (entry ${bad}, ${parameterName(this.model, bad)}, is ${grad[bad]}); ${largestInput(x, n)}`);
    const trial = zerosLike(theta);
    this.update(grad, theta, trial);
    const badT = firstNonFinite(trial);
    if (badT >= 0) return reject(loss, `the updated parameter ${badT} would be ${trial[badT]} (${parameterName(this.model, badT)})`);
    const stepNorm = distance(trial, theta);
    theta.set(trial);
    this.commit();
    this.t++;
    return { loss, accepted: true, stepNorm };
  }
}
