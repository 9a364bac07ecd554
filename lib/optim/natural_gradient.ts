// NaturalGradient: θ ← θ − lr · n_θ with n_θ = (F_θ + λI)⁺ g_θ computed exactly
// (see ./exact.ts for how, docs/design.md §1 for what).
import { type ArrayOf, type Dtype, type Floats, toDtype, zeros } from '../util/floats';
import { gradients, type LossName, meanLoss, type OutputFamily } from '../distributions';
import { contract, outputJacobians } from '../nn/jacobian';
import type { Sequential } from '../nn/sequential';
import { runSync, type Task } from '../task';
import { decodeFloats, encodeFloats } from '../util/encode';
import { checkNumber } from '../util/validate';
import { checkChainModel } from './chain';
import { checkCount, checkOptimizerArgs, checkStateFor, checkStateHeader, checkStepArgs, runLocked } from './common';
import type { StepProfile } from './exact';
import { type NaturalGradientMethod, type NaturalGradientOptions, OPTION_NAMES, optionsSignature, resolveOptions } from './natural_options';
import { batchOf, methodDirection, type NaturalStepInfo, type NaturalStepState, naturalStep } from './natural_step';

export type { LevenbergMarquardtOptions } from './damping';
export type { Assembly, Space, StepProfile } from './exact';
export type { NaturalStepInfo } from './natural_step';
export type {
  CommonNaturalGradientOptions,
  ExactNaturalGradientOptions,
  NaturalGradientMethod,
  NaturalGradientOptions,
  ProposalNaturalGradientOptions,
} from './natural_options';

/** A saved NaturalGradient state (JSON-safe; see NaturalGradient.state()). */
export interface NaturalGradientState {
  type: 'NaturalGradient';
  version: 1;
  /** The options, with `damping` the current λ. */
  options: NaturalGradientOptions;
  numParameters: number;
  /** Accepted steps so far. */
  steps: number;
  /** SPRING's previous direction n_{k−1}, base64 of its little-endian bytes (the model's dtype); null when none. */
  previous: string | null;
}

/**
 * The exact natural-gradient optimizer for a sequential model:
 *
 *   const opt = new NaturalGradient(model, { loss: 'categorical', lr: 1, damping: 1e-3 });
 *   const { loss, lossAfter, accepted } = opt.step(x, y, batch);    // θ ← θ − lr·(F_θ + λI)⁺ g_θ
 *
 * By default λ adapts by the Levenberg–Marquardt rule and a step that would raise the batch loss is
 * rejected and re-solved with more damping (one extra solve and forward pass each, the kernel is
 * reused); options add SPRING momentum and a trust region. See docs/optimizer.md.
 *
 * Shapes: x [batch, inDim]; y [batch, outDim] (gaussian) or [batch] — class indices for categorical,
 * 0/1 for bernoulli; all of the model's dtype (Float32Array, or Float64Array for a float64 model:
 * every array of the step is then float64). Cost per step: the backpropagation of N·r seeds (r = rank of
 * the output Fisher: k, k − 1 for categorical, 1 for bernoulli), one layerGram per linear layer and an
 * (N·r)³/3 Cholesky — or, when P < N·r, a P × P solve instead. Memory: O(N·r·Σ widths + (N·r)²); the
 * (N·r)² kernel buffer is kept between calls and reused while the batch size stays the same.
 */
export class NaturalGradient<D extends Dtype = Dtype> {
  readonly model: Sequential<D>;
  readonly loss: LossName;
  readonly method: NaturalGradientMethod;
  readonly family: OutputFamily;
  private readonly options: NaturalGradientOptions;
  /** What a step reads and changes: the resolved settings, λ, SPRING's n₋, the count, the profile. */
  private readonly st: NaturalStepState;

  constructor(model: Sequential<D>, options: NaturalGradientOptions) {
    const fn = 'NaturalGradient';
    this.family = checkOptimizerArgs(fn, model, options, OPTION_NAMES);
    this.model = model;
    this.loss = this.family.name;
    const settings = resolveOptions(fn, options);
    this.method = settings.method;
    if (this.method !== 'exact' && model.dtype === 'float64')
      throw new RangeError(
        `${fn}: method '${this.method}' (the natural-chain-rule proposal) works on float32 models only; a float64 model takes method 'exact'`
      );
    if (this.method === 'chain') checkChainModel(model, fn);
    this.options = { ...options, loss: this.loss };
    const { family, method } = this;
    this.st = { model, family, method, settings, workspace: { kernel: null }, previous: null, accepted: 0, profile: null };
  }

  /** Timings and solver of the last direction() or accepted step() (see StepProfile; a rejected step leaves it as it was), null before the first. */
  get profile(): StepProfile | null {
    return this.st.profile;
  }

  /** Step size (≥ 0). */
  get lr(): number {
    return this.st.settings.lr;
  }
  set lr(v: number) {
    this.st.settings.lr = checkNumber('NaturalGradient', "'lr'", v, 0);
  }
  /** λ ≥ 0. */
  get damping(): number {
    return this.st.settings.config.damping;
  }
  set damping(v: number) {
    this.st.settings.config.damping = checkNumber('NaturalGradient', "'damping'", v, 0);
  }

  /** n_θ [P] = (F_θ + λI)⁺ g_θ for x [batch, inDim], y (see the family); parameters untouched. */
  direction(x: ArrayOf<D>, y: ArrayOf<D>, batch: number): ArrayOf<D> {
    this.checkArgs('direction', x, y, batch);
    const res = runSync(methodDirection(this.st, batchOf(this.st, 'direction', this.model.params, x, y, batch)));
    this.st.profile = res.profile;
    return res.direction as ArrayOf<D>;
  }

  /**
   * One step θ ← θ − lr·s·n (n the natural gradient, with SPRING momentum if enabled; s the
   * trust-region factor). With `adaptive` (default) the trial is evaluated on the batch, rejected if
   * the loss increases (θ untouched, re-solved with more damping, up to maxRetries), and λ is updated
   * from ρ. A NaN/Inf loss, forward pass, kernel, direction or trial is never applied: the step is
   * rejected at once with a reason, and θ, λ, the momentum, the step count and `profile` stay
   * bit-identical (a bad batch is no evidence about λ). See NaturalStepInfo and docs/optimizer.md.
   */
  step(x: ArrayOf<D>, y: ArrayOf<D>, batch: number): NaturalStepInfo {
    this.checkArgs('step', x, y, batch);
    return runSync(naturalStep(this.st, 'step', x, y, batch));
  }

  /**
   * step() with every native call on the libuv pool; bit-identical to step(). The model is locked until
   * the promise settles (setParameters, step, direction and another stepAsync on it throw meanwhile).
   */
  async stepAsync(x: ArrayOf<D>, y: ArrayOf<D>, batch: number): Promise<NaturalStepInfo> {
    this.checkArgs('stepAsync', x, y, batch);
    return runLocked(this.model, 'NaturalGradient.stepAsync', naturalStep(this.st, 'stepAsync', x, y, batch));
  }

  /** Accepted steps so far. */
  get steps(): number {
    return this.st.accepted;
  }

  /** The optimizer's state, JSON-safe and lossless: loadState(state()) resumes bit-identically. */
  state(): NaturalGradientState {
    return {
      type: 'NaturalGradient',
      version: 1,
      options: { ...this.options, lr: this.lr, damping: this.damping },
      numParameters: this.model.numParameters,
      steps: this.st.accepted,
      previous: this.st.previous ? encodeFloats(this.st.previous) : null,
    };
  }
  toJSON(): NaturalGradientState {
    return this.state();
  }

  /** Restores a state() (λ, lr, momentum and step count; the options must be those this optimizer was built with, except lr and damping). */
  loadState(state: NaturalGradientState): void {
    const fn = 'NaturalGradient.loadState';
    checkStateFor(fn, this.model, state, 'NaturalGradient');
    const p = this.model.numParameters;
    const probe = new NaturalGradient(this.model, state.options); // validates the options
    const mine = this.signature();
    const theirs = probe.signature();
    if (mine !== theirs)
      throw new RangeError(
        `${fn}: the state was saved with options ${theirs}, this optimizer has ${mine} (lr and damping aside); use NaturalGradient.fromState`
      );
    const steps = checkCount(fn, 'state.steps', state.steps);
    const previous = state.previous === null ? null : decodeFloats(this.model.dtype, fn, "'state.previous'", state.previous, p);
    this.st.settings.lr = probe.lr;
    this.st.settings.config.damping = probe.damping;
    this.st.accepted = steps;
    this.st.previous = previous;
  }

  /** The resolved settings that must match for loadState (all but lr and λ). */
  private signature(): string {
    return optionsSignature(this.loss, this.st.settings);
  }

  /** A NaturalGradient on `model` from a state(). */
  static fromState<D extends Dtype>(model: Sequential<D>, state: NaturalGradientState): NaturalGradient<D> {
    checkStateHeader('NaturalGradient.fromState', state, 'NaturalGradient', 1);
    const opt = new NaturalGradient(model, state.options);
    opt.loadState(state);
    return opt;
  }

  /** g_θ [P] = ∇_θ L = (1/N) Σ_i G_i g_i, by backpropagating g_i (one row per sample). */
  gradient(x: ArrayOf<D>, y: ArrayOf<D>, batch: number): ArrayOf<D> {
    this.checkArgs('gradient', x, y, batch);
    const { model, family } = this;
    const k = model.outDim;
    return runSync(
      (function* (): Task<Floats> {
        const trace = yield* model.forwardTask(model.params, x, batch);
        const seeds = toDtype(model.dtype, gradients(family, trace.eta, y, batch, k)); // row i = g_iᵀ
        const bs = yield* outputJacobians(model, model.params, trace, seeds, 1);
        return yield* contract(model, trace, bs, new Float64Array(batch).fill(1 / batch), 1, zeros(model.dtype, model.numParameters));
      })()
    ) as ArrayOf<D>;
  }

  /** L = (1/N) Σ ℓ_i at the current parameters. */
  lossAt(x: ArrayOf<D>, y: ArrayOf<D>, batch: number): number {
    this.checkArgs('lossAt', x, y, batch);
    return meanLoss(this.family, this.model.forward(x, batch), y, batch, this.model.outDim);
  }

  private checkArgs(method: string, x: unknown, y: unknown, batch: unknown): asserts x is Floats {
    checkStepArgs(`NaturalGradient.${method}`, this.model, this.family, x, y, batch);
  }
}
