// What Adam and SGD share: the constructor's model/loss checks, lr and steps, step()/stepAsync(), and
// the guarded step itself: g = ∇_θ L on the batch, trial = θ − (the optimizer's update), applied only
// when the loss, g and the trial are finite (otherwise θ and the optimizer's buffers stay
// bit-identical and the result says why). A subclass writes the update and its next buffers in
// update(), and swaps them in in commit().
import { type ArrayOf, type Dtype, type Floats, toDtype, zerosLike } from '../util/floats';
import { ResidualLoss } from './residual_loss';
import type { LossName, OutputFamily } from '../distributions';
import type { Sequential } from '../nn/sequential';
import { runSync, type Task, valueTask } from '../task';
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

export abstract class FirstOrderOptimizer<O extends { loss: LossName | ResidualLoss; lr: number }, S, D extends Dtype = Dtype> {
  readonly model: Sequential<D>;
  /** The output family's name ('gaussian' for a residual loss). */
  readonly loss: LossName;
  /** The residual loss when the objective is one (residualLoss(): step() then takes no data), else null. */
  readonly residual: ResidualLoss | null;
  readonly family: OutputFamily;
  /** Accepted steps so far. */
  protected t = 0;
  protected abstract opts: O;

  /** Checks the model, the option names and the loss ('name' is the class name, for errors). */
  protected constructor(
    private readonly name: string,
    model: Sequential<D>,
    options: { loss: LossName | ResidualLoss },
    optionNames: readonly string[]
  ) {
    const residual = (options as { loss?: unknown } | null)?.loss instanceof ResidualLoss ? (options.loss as ResidualLoss) : null;
    this.family = checkOptimizerArgs(name, model, residual ? { ...options, loss: 'gaussian' } : options, optionNames);
    this.model = model;
    this.residual = residual;
    if (residual) residual.check(name, model);
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

  /** One step on the batch x [batch, inDim], y (see the family), arrays of the model's dtype — or, with a residual loss, no arguments. */
  step(): StepInfo;
  step(x: ArrayOf<D>, y: ArrayOf<D>, batch: number): StepInfo;
  step(x?: ArrayOf<D>, y?: ArrayOf<D>, batch?: number): StepInfo {
    return runSync(this.stepTask(this.gradientOf('step', x, y, batch)));
  }

  /** step() with the native calls off the event loop; bit-identical. The model is locked until it settles. */
  async stepAsync(): Promise<StepInfo>;
  async stepAsync(x: ArrayOf<D>, y: ArrayOf<D>, batch: number): Promise<StepInfo>;
  async stepAsync(x?: ArrayOf<D>, y?: ArrayOf<D>, batch?: number): Promise<StepInfo> {
    const grad = this.gradientOf('stepAsync', x, y, batch);
    return runLocked(this.model, `${this.name}.stepAsync`, this.stepTask(grad));
  }

  /** The checked arguments as a task giving L(θ) and g_θ at θ, and what to name when they are not finite. */
  private gradientOf(
    method: string,
    x: unknown,
    y: unknown,
    batch: unknown
  ): { at: (theta: Floats) => Task<{ loss: number; grad: Floats }>; where: () => string } {
    const fn = `${this.name}.${method}`;
    const { model, family, residual } = this;
    if (residual) {
      model.checkUnlocked(fn);
      if (x !== undefined || y !== undefined || batch !== undefined)
        throw new TypeError(`${fn}: the loss is a residual loss, which holds its own points: call ${method}() without data (loss.setPoints() changes them)`);
      residual.check(fn, model);
      return {
        at(theta) {
          const { loss, grad } = residual.gradient(model, theta); // on the calling thread (small models)
          return valueTask({ loss, grad: toDtype(model.dtype, grad) });
        },
        where: () => 'the residual loss at the current parameters',
      };
    }
    checkStepArgs(fn, model, family, x, y, batch);
    const n = batch as number;
    return { at: (theta) => lossAndGradient(model, family, theta, x, y as Floats, n), where: () => largestInput(x, n) };
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
  private *stepTask(objective: { at: (theta: Floats) => Task<{ loss: number; grad: Floats }>; where: () => string }): Task<StepInfo> {
    const theta = this.model.params;
    const reject = (loss: number, what: string): StepInfo => ({
      loss,
      accepted: false,
      stepNorm: 0,
      reason: `${what}; parameters and optimizer state unchanged`,
    });
    let loss: number, grad: Floats;
    try {
      ({ loss, grad } = yield* objective.at(theta));
    } catch (e) {
      const reason = rejectionOrThrow(e);
      return reject(NaN, `${reason}; ${objective.where()}`);
    }
    if (!Number.isFinite(loss)) return reject(loss, `the loss on this batch is ${loss}; ${objective.where()}`);
    const bad = firstNonFinite(grad);
    if (bad >= 0) return reject(loss, `the gradient is not finite (entry ${bad}, ${parameterName(this.model, bad)}, is ${grad[bad]}); ${objective.where()}`);
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
