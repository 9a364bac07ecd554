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
import { batchOf, dataObjective, methodDirection, type NaturalStepInfo, type NaturalStepState, naturalStep, type StepObjective } from './natural_step';
import { ResidualLoss } from './residual_loss';
import { residualObjective } from './residual_step';

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
  /** The options, with `damping` the current λ (loss 'residual' for a residual loss, which the state does not hold: pass it again). */
  options: Omit<NaturalGradientOptions, 'loss'> & { loss: LossName | 'residual' };
  numParameters: number;
  /** Accepted steps so far. */
  steps: number;
  /** SPRING's previous direction n_{k−1}, base64 of its little-endian bytes (the model's dtype); null when none. */
  previous: string | null;
  /** The Levenberg–Marquardt rule's floor under λ (see LevenbergMarquardtOptions), when one is set; absent: none. */
  dampingFloor?: number;
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
  /** The output family's name ('gaussian' for a residual loss: ½ r² is its loss on r with target 0). */
  readonly loss: LossName;
  /** The residual loss when the objective is one (residualLoss()), else null. */
  readonly residual: ResidualLoss | null;
  readonly method: NaturalGradientMethod;
  readonly family: OutputFamily;
  private readonly options: NaturalGradientOptions;
  /** What a step reads and changes: the resolved settings, λ, SPRING's n₋, the count, the profile. */
  private readonly st: NaturalStepState;

  constructor(model: Sequential<D>, options: NaturalGradientOptions) {
    const fn = 'NaturalGradient';
    const residual = (options as { loss?: unknown } | null)?.loss instanceof ResidualLoss ? (options.loss as ResidualLoss) : null;
    this.family = checkOptimizerArgs(fn, model, residual ? { ...options, loss: 'gaussian' } : options, OPTION_NAMES);
    this.model = model;
    this.residual = residual;
    if (residual) residual.check(fn, model);
    if (!residual && (options as { gramianAverage?: number }).gramianAverage)
      throw new RangeError(`${fn}: option 'gramianAverage' applies to residual losses (residualLoss()), not to loss '${this.family.name}'`);
    this.loss = this.family.name;
    const settings = resolveOptions(fn, options);
    this.method = settings.method;
    if (this.method !== 'exact' && model.dtype === 'float64')
      throw new RangeError(
        `${fn}: method '${this.method}' (the natural-chain-rule proposal) works on float32 models only; a float64 model takes method 'exact'`
      );
    if (this.method !== 'exact' && model.modules.length > 0) {
      const m = model.modules[0];
      throw new RangeError(
        `${fn}: method '${this.method}' (the natural-chain-rule proposal) is defined for MLPs of linear layers and activations; layers[${m.index}] is ${m.layer.name}: use method 'exact'`
      );
    }
    if (this.method === 'chain') checkChainModel(model, fn);
    this.options = { ...options, loss: residual ?? this.loss };
    const { family, method } = this;
    this.st = { model, family, method, settings, workspace: { kernel: null }, previous: null, accepted: 0, dampingFloor: 0, searchK: 0, profile: null };
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
  /** λ ≥ 0. Setting it also clears the Levenberg–Marquardt rule's floor (see LevenbergMarquardtOptions). */
  get damping(): number {
    return this.st.settings.config.damping;
  }
  set damping(v: number) {
    this.st.settings.config.damping = checkNumber('NaturalGradient', "'damping'", v, 0);
    this.st.dampingFloor = 0;
  }

  /** n_θ [P] = (F_θ + λI)⁺ g_θ for x [batch, inDim], y (see the family) — or, with a residual loss, no arguments; parameters untouched. */
  direction(): ArrayOf<D>;
  direction(x: ArrayOf<D>, y: ArrayOf<D>, batch: number): ArrayOf<D>;
  direction(x?: ArrayOf<D>, y?: ArrayOf<D>, batch?: number): ArrayOf<D> {
    if (this.residual) return this.residualDirection(x);
    this.checkArgs('direction', x, y, batch);
    const res = runSync(methodDirection(this.st, batchOf(this.st, 'direction', this.model.params, x, y as Floats, batch as number)));
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
  step(): NaturalStepInfo;
  step(x: ArrayOf<D>, y: ArrayOf<D>, batch: number): NaturalStepInfo;
  step(x?: ArrayOf<D>, y?: ArrayOf<D>, batch?: number): NaturalStepInfo {
    return runSync(naturalStep(this.st, 'step', this.objective('step', x, y, batch)));
  }

  /**
   * step() with every native call on the libuv pool; bit-identical to step(). The model is locked until
   * the promise settles (setParameters, step, direction and another stepAsync on it throw meanwhile).
   */
  async stepAsync(): Promise<NaturalStepInfo>;
  async stepAsync(x: ArrayOf<D>, y: ArrayOf<D>, batch: number): Promise<NaturalStepInfo>;
  async stepAsync(x?: ArrayOf<D>, y?: ArrayOf<D>, batch?: number): Promise<NaturalStepInfo> {
    const obj = this.objective('stepAsync', x, y, batch);
    return runLocked(this.model, 'NaturalGradient.stepAsync', naturalStep(this.st, 'stepAsync', obj));
  }

  /** What step() minimises: the batch's loss under the family, or the residual loss (which takes no data). */
  private objective(method: string, x: unknown, y: unknown, batch: unknown): StepObjective {
    if (this.residual) {
      this.model.checkUnlocked(`NaturalGradient.${method}`);
      if (x !== undefined || y !== undefined || batch !== undefined)
        throw new TypeError(
          `NaturalGradient.${method}: the loss is a residual loss, which holds its own points: call ${method}() without data (loss.setPoints() changes them)`
        );
      return residualObjective(this.residual, this.model);
    }
    this.checkArgs(method, x, y, batch);
    return dataObjective(this.st, x, y as Floats, batch as number);
  }

  /** direction() of a residual loss: stage 1 and one solve at the current λ. */
  private residualDirection(x: unknown): ArrayOf<D> {
    const obj = this.objective('direction', x, undefined, undefined);
    const info = { loss: NaN } as NaturalStepInfo;
    const st = this.st;
    return runSync(
      (function* (): Task<Floats> {
        const sys = yield* obj.linearize(st, 'direction', info);
        if ('reject' in sys) throw Object.assign(new RangeError(`NaturalGradient.direction: ${sys.reject}`), { code: 'ERR_NON_FINITE' });
        const sol = yield* sys.solveAt(st.settings.config.damping, undefined);
        st.profile = sys.profile(sol);
        return sol.direction;
      })()
    ) as ArrayOf<D>;
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
      options: { ...this.options, loss: this.residual ? 'residual' : this.loss, lr: this.lr, damping: this.damping },
      numParameters: this.model.numParameters,
      steps: this.st.accepted,
      previous: this.st.previous ? encodeFloats(this.st.previous) : null,
      ...(this.st.dampingFloor > 0 ? { dampingFloor: this.st.dampingFloor } : {}),
    };
  }
  toJSON(): NaturalGradientState {
    return this.state();
  }

  /** Restores a state() (λ and its floor, lr, momentum and step count; the options must be those this optimizer was built with, except lr and damping). */
  loadState(state: NaturalGradientState): void {
    const fn = 'NaturalGradient.loadState';
    checkStateFor(fn, this.model, state, 'NaturalGradient');
    const p = this.model.numParameters;
    if ((state.options?.loss === 'residual') !== (this.residual !== null))
      throw new RangeError(
        `${fn}: the state was saved ${state.options?.loss === 'residual' ? 'with' : 'without'} a residual loss, this optimizer has ${this.residual ? 'one' : 'none'}`
      );
    const options = (this.residual ? { ...state.options, loss: this.residual } : state.options) as NaturalGradientOptions;
    const probe = new NaturalGradient(this.model, options); // validates the options
    const mine = this.signature();
    const theirs = probe.signature();
    if (mine !== theirs)
      throw new RangeError(
        `${fn}: the state was saved with options ${theirs}, this optimizer has ${mine} (lr and damping aside); use NaturalGradient.fromState`
      );
    const steps = checkCount(fn, 'state.steps', state.steps);
    const floor = state.dampingFloor === undefined ? 0 : checkNumber(fn, "'state.dampingFloor'", state.dampingFloor, 0);
    const previous = state.previous === null ? null : decodeFloats(this.model.dtype, fn, "'state.previous'", state.previous, p);
    this.st.settings.lr = probe.lr;
    this.st.settings.config.damping = probe.damping;
    this.st.dampingFloor = floor;
    this.st.accepted = steps;
    this.st.previous = previous;
  }

  /** The resolved settings that must match for loadState (all but lr and λ). */
  private signature(): string {
    return optionsSignature(this.loss, this.st.settings);
  }

  /** A NaturalGradient on `model` from a state(). */
  static fromState<D extends Dtype>(model: Sequential<D>, state: NaturalGradientState, residual?: ResidualLoss): NaturalGradient<D> {
    checkStateHeader('NaturalGradient.fromState', state, 'NaturalGradient', 1);
    if (state.options?.loss === 'residual' && !residual)
      throw new TypeError("NaturalGradient.fromState: the state's loss is a residual loss: pass it as the third argument");
    const opt = new NaturalGradient(model, (residual ? { ...state.options, loss: residual } : state.options) as NaturalGradientOptions);
    opt.loadState(state);
    return opt;
  }

  /** g_θ [P] = ∇_θ L = (1/N) Σ_i G_i g_i, by backpropagating g_i (one row per sample). */
  gradient(): ArrayOf<D>;
  gradient(x: ArrayOf<D>, y: ArrayOf<D>, batch: number): ArrayOf<D>;
  gradient(x?: ArrayOf<D>, y?: ArrayOf<D>, batch?: number): ArrayOf<D> {
    if (this.residual) {
      this.objective('gradient', x, y, batch);
      return toDtype(this.model.dtype, this.residual.gradient(this.model, this.model.params).grad) as ArrayOf<D>;
    }
    this.checkArgs('gradient', x, y, batch);
    const { model, family } = this;
    const [yb, n] = [y as Floats, batch as number];
    const k = model.outDim;
    return runSync(
      (function* (): Task<Floats> {
        const trace = yield* model.forwardTask(model.params, x, n);
        const seeds = toDtype(model.dtype, gradients(family, trace.eta, yb, n, k)); // row i = g_iᵀ
        const bs = yield* outputJacobians(model, model.params, trace, seeds, 1);
        return yield* contract(model, trace, bs, new Float64Array(n).fill(1 / n), 1, zeros(model.dtype, model.numParameters));
      })()
    ) as ArrayOf<D>;
  }

  /** L = (1/N) Σ ℓ_i at the current parameters. */
  lossAt(): number;
  lossAt(x: ArrayOf<D>, y: ArrayOf<D>, batch: number): number;
  lossAt(x?: ArrayOf<D>, y?: ArrayOf<D>, batch?: number): number {
    if (this.residual) {
      this.objective('lossAt', x, y, batch);
      return this.residual.evaluate(this.model, this.model.params).loss;
    }
    this.checkArgs('lossAt', x, y, batch);
    return meanLoss(this.family, this.model.forward(x, batch as number), y as Floats, batch as number, this.model.outDim);
  }

  private checkArgs(method: string, x: unknown, y: unknown, batch: unknown): asserts x is Floats {
    checkStepArgs(`NaturalGradient.${method}`, this.model, this.family, x, y, batch);
  }
}
