// NaturalGradient: θ ← θ − lr · n_θ with n_θ = (F_θ + λI)⁺ g_θ computed exactly
// (see ./exact.ts for how, docs/design.md §1 for what).
import { gradients, type LossName, meanLoss, type OutputFamily } from '../distributions';
import { decodeF32, encodeF32 } from '../util/encode';
import { contract, outputJacobians } from '../nn/jacobian';
import type { Sequential } from '../nn/sequential';
import { runSync, type Task } from '../task';
import { checkNumber, describe } from '../util/validate';
import type { Precision } from '../linalg';
import {
  checkCount,
  checkOptimizerArgs,
  checkStateFor,
  checkStateHeader,
  checkStepArgs,
  distance,
  F32_MAX,
  firstNonFinite,
  largestInput,
  lossTask,
  parameterName,
  rejectionOrThrow,
  runLocked,
  type StepInfo,
} from './common';
import { type DampingRule, dampingRule, type LevenbergMarquardtOptions, nextDamping, predictedDecrease, reductionRatio, rejectedDamping } from './damping';
import { stepScale } from './trust_region';
import {
  type Assembly,
  assembleExact,
  checkExactSize,
  type ExactConfig,
  exactDirection,
  type ExactResult,
  type ExactSolution,
  type ExactSystem,
  type Linearization,
  linearizeExact,
  type MomentumTerm,
  profileOf,
  solveExact,
  type Space,
  type StepProfile,
  type Workspace,
} from './exact';
import { applyTranspose, previousDirection } from './spring';
import { perSampleDirection } from './per_sample';
import { chainDirection, checkChainModel } from './chain';

export type { StepProfile, Space, Assembly } from './exact';
export type { LevenbergMarquardtOptions } from './damping';

/**
 * 'exact': the batch natural gradient (F_θ + λI)⁺ g_θ. The other two are the natural-chain-rule proposal, kept
 * runnable so that it can be measured (`natgrad explain`); they are NOT the natural gradient of a batch:
 * - 'per-sample': (1/N) Σ_i G_i (G_iᵀG_i + λI)⁻¹ F_i⁺ g_i (./per_sample.ts);
 * - 'chain': the natural chain rule of the proposal n_x = G (GᵀG + λI)⁻¹ n_y applied op by op in the backward
 *   pass — linear layers, activations, the fan-out of each weight over the batch (./chain.ts).
 * For these two, λ = `damping` is added to every local Gram matrix they invert, and the options
 * precision, rcond, space and assembly (which concern the exact solve) are not used.
 */
export type NaturalGradientMethod = 'exact' | 'per-sample' | 'chain';

export interface NaturalGradientOptions {
  /** Output family: 'gaussian' (η = mean), 'categorical' (η = logits), 'bernoulli' (η = logit). Required. */
  loss: LossName;
  /** Step size; θ ← θ − lr·n_θ. Default 1. */
  lr?: number;
  /**
   * λ ≥ 0. 0 means the Moore–Penrose pseudo-inverse F_θ⁺ g_θ. Default 1e-3. With `adaptive` (the
   * default) this is the starting value, which the Levenberg–Marquardt rule then moves within [min, max].
   */
  damping?: number;
  /**
   * Levenberg–Marquardt adaptation of λ and rejection of steps that increase the loss (see
   * ./damping.ts and docs/optimizer.md). true (default): the default settings; an object: settings
   * overriding them; false: λ stays fixed and every finite step is applied.
   */
  adaptive?: boolean | LevenbergMarquardtOptions;
  /**
   * SPRING momentum μ ∈ [0, 1) (./spring.ts): n_k = argmin ‖Sᵀn − u‖² + Nλ‖n − μ n_{k−1}‖². Default 0.
   * Needs method 'exact'.
   */
  momentum?: number;
  /** Trust region on the step: ‖Δθ‖₂ ≤ maxStepNorm (the step is scaled down to it). Default none. */
  maxStepNorm?: number;
  /** Trust region on the predicted KL divergence: ½ ΔᵀF_θΔ ≤ maxKL (the step is scaled down to it). Default none. */
  maxKL?: number;
  /** Default 'exact'. */
  method?: NaturalGradientMethod;
  /** Precision of the factorisation (the kernel itself is float32). Default 'float32'. */
  precision?: Precision;
  /**
   * Pseudo-inverse cutoff (λ = 0): eigenvalues below rcond·max are dropped. Default size·2⁻²³, the
   * float32 rounding level of an assembled kernel of that size.
   */
  rcond?: number;
  /** 'auto' (default): parameter space (P × P) when P < N·r, else kernel space (N·r × N·r). Same answer. */
  space?: Space;
  /** Kernel-space assembly: 'layer' (default; never forms the Jacobian) or 'dense' (forms S [P, N·r], then SᵀS: for comparison). */
  assembly?: Assembly;
  /**
   * Cap on the bytes one exact step may allocate (kernel, factor, layer work, S). Every step compares
   * what it needs with the memory available (the cgroup limit where there is one, else free memory)
   * and this cap (and NATGRAD_MAX_MEMORY / setMemoryLimit(): the smallest wins) before allocating,
   * and throws ERR_OUT_OF_MEMORY naming the bytes, leaving the optimizer unchanged. Default: none.
   */
  maxMemory?: number;
}

const OPTION_NAMES = [
  'loss',
  'lr',
  'damping',
  'method',
  'precision',
  'rcond',
  'space',
  'assembly',
  'adaptive',
  'momentum',
  'maxStepNorm',
  'maxKL',
  'maxMemory',
];

/** What NaturalGradient.step() returns. */
export interface NaturalStepInfo extends StepInfo {
  /** L at the parameters after the call: of the applied step, or equal to `loss` when rejected. */
  lossAfter: number;
  /** λ of the last direction tried (the applied one when accepted). The λ for the next step is opt.damping. */
  damping: number;
  /** ρ = actual / predicted decrease of the last trial (NaN when not computable). */
  rho: number;
  /** Decrease predicted by the quadratic model for the last trial: lr·s·gᵀn − ½(lr·s)²·nᵀF_θn. */
  predicted: number;
  /** L at the last trial parameters (= lossAfter when accepted; NaN if no trial was evaluated). */
  trialLoss: number;
  /** Directions solved: 1 + the retries after rejected trials (0 when the batch failed before any solve). */
  attempts: number;
  /** Trust-region factor s ∈ (0, 1] of the last trial: Δ = −lr·s·n (1 without maxStepNorm/maxKL). */
  scale: number;
}

/** A saved NaturalGradient state (JSON-safe; see NaturalGradient.state()). */
export interface NaturalGradientState {
  type: 'NaturalGradient';
  version: 1;
  /** The options, with `damping` the current λ. */
  options: NaturalGradientOptions;
  numParameters: number;
  /** Accepted steps so far. */
  steps: number;
  /** SPRING's previous direction n_{k−1}, base64 of its float32 little-endian bytes; null when none. */
  previous: string | null;
}

/** A step's λ-independent part (stage 1) and how to solve it at any λ. */
interface StepSystem {
  lin: Linearization;
  sys: ExactSystem | undefined;
  solveAt: (lambda: number, momentum: MomentumTerm | undefined) => Task<ExactSolution>;
  profile: (sol: ExactSolution) => StepProfile;
}

/** One attempt's outcome (stage 2): the solution, its direction n, the trust region's s, θ − lr·s·n and its loss. */
interface StepTrial {
  sol: ExactSolution;
  n: Float32Array;
  s: number;
  trial: Float32Array;
  after: number;
  /** When the direction was ready: the trial and the commit count as the profile's 'update'. */
  t0: number;
}

const fmt = (v: number) => (Number.isFinite(v) ? v.toPrecision(3) : String(v));

/**
 * Which linear layer's block of the Fisher kernel overflows float32, in words, or null. A layer adds
 * (B Bᵀ) ⊙ (A Aᵀ + 1) (docs/design.md §1): its diagonal entry for sample i is ‖b_(i,m)‖²·(‖a_i‖² + 1),
 * and A Aᵀ alone overflows when ‖a_i‖² does (then even B = 0, a saturated activation, gives 0·∞ = NaN).
 * Failure path only: O(N·r·Σ widths).
 */
function kernelOverflow(model: Sequential, lin: Linearization): string | null {
  const { n } = lin.trace;
  const { r } = lin;
  for (let l = 0; l < model.slots.length; l++) {
    const { index, layer } = model.slots[l];
    const { inFeatures: inW, outFeatures: outW } = layer;
    const a = lin.trace.inputs[index];
    const b = lin.bs[l];
    const name = `layers[${index}] = linear(${inW}, ${outW})`;
    for (let i = 0; i < n; i++) {
      let aa = 0;
      for (let j = 0; j < inW; j++) aa += a[i * inW + j] * a[i * inW + j];
      if (!(aa <= F32_MAX))
        return `${name} receives an input of norm ${fmt(Math.sqrt(aa))} at sample ${i}, whose products a·a (${fmt(aa)}) overflow float32 (largest ${fmt(F32_MAX)})`;
      for (let m = 0; m < r; m++) {
        let bb = 0;
        for (let o = 0; o < outW; o++) bb += b[(i * r + m) * outW + o] ** 2;
        const entry = bb * (aa + 1);
        if (!(entry <= F32_MAX))
          return (
            `at sample ${i} the output Jacobian backpropagated to ${name} (norm ${fmt(Math.sqrt(bb))}) times its input ` +
            `(norm ${fmt(Math.sqrt(aa))}) gives a kernel entry of ${fmt(entry)}, which overflows float32 (largest ${fmt(F32_MAX)})`
          );
      }
    }
  }
  return null;
}

function oneOf<T extends string>(fn: string, name: string, v: unknown, allowed: readonly T[], dflt: T): T {
  if (v === undefined) return dflt;
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v))
    throw new RangeError(`${fn}: option '${name}' must be ${allowed.map((a) => `'${a}'`).join(' or ')}, got ${describe(v)}`);
  return v as T;
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
 * Shapes: x [batch, inDim]; y [batch, outDim] (gaussian) or [batch] (class indices for categorical,
 * 0/1 for bernoulli); all Float32Array. Cost per step: the backpropagation of N·r seeds (r = rank of
 * the output Fisher: k, k − 1 for categorical, 1 for bernoulli), one layerGram per linear layer and an
 * (N·r)³/3 Cholesky — or, when P < N·r, a P × P solve instead. Memory: O(N·r·Σ widths + (N·r)²); the
 * (N·r)² kernel buffer is kept between calls and reused while the batch size stays the same.
 */
export class NaturalGradient {
  readonly model: Sequential;
  readonly loss: LossName;
  readonly method: NaturalGradientMethod;
  readonly family: OutputFamily;
  /** Timings and solver of the last direction() or accepted step() (see StepProfile; a rejected step leaves it as it was), null before the first. */
  profile: StepProfile | null = null;
  private readonly config: ExactConfig;
  private lrValue: number;
  /** null: fixed λ. */
  private readonly rule: DampingRule | null;
  private readonly options: NaturalGradientOptions;
  private readonly mu: number;
  private readonly maxStepNorm: number | undefined;
  private readonly maxKL: number | undefined;
  /** SPRING's n_{k−1} (the applied step / −lr), null before the first step or after a failed one. */
  private previous: Float32Array | null = null;
  private accepted = 0;
  /** The kernel buffer, kept between calls ((N·r)² floats; see Workspace). */
  private readonly workspace: Workspace = { kernel: null };

  constructor(model: Sequential, options: NaturalGradientOptions) {
    const fn = 'NaturalGradient';
    this.family = checkOptimizerArgs(fn, model, options, OPTION_NAMES);
    this.model = model;
    this.loss = this.family.name;
    this.method = oneOf(fn, 'method', options.method, ['exact', 'per-sample', 'chain'], 'exact');
    if (this.method === 'chain') checkChainModel(model, fn);
    this.lrValue = checkNumber(fn, "option 'lr'", options.lr ?? 1, 0);
    this.config = {
      damping: checkNumber(fn, "option 'damping'", options.damping ?? 1e-3, 0),
      precision: oneOf(fn, 'precision', options.precision, ['float32', 'float64'], 'float32'),
      rcond: options.rcond === undefined ? undefined : checkNumber(fn, "option 'rcond'", options.rcond, 0, true),
      space: oneOf(fn, 'space', options.space, ['auto', 'kernel', 'parameter'], 'auto'),
      assembly: oneOf(fn, 'assembly', options.assembly, ['layer', 'dense'], 'layer'),
      maxMemory: options.maxMemory === undefined ? undefined : checkNumber(fn, "option 'maxMemory'", options.maxMemory, 1),
    };
    this.rule = dampingRule(fn, options.adaptive);
    this.mu = checkNumber(fn, "option 'momentum'", options.momentum ?? 0, 0);
    if (this.mu >= 1) throw new RangeError(`${fn}: option 'momentum' must be < 1, got ${this.mu}`);
    if (this.mu > 0 && this.method !== 'exact') throw new RangeError(`${fn}: option 'momentum' needs method 'exact'`);
    this.maxStepNorm = options.maxStepNorm === undefined ? undefined : checkNumber(fn, "option 'maxStepNorm'", options.maxStepNorm, 0, true);
    this.maxKL = options.maxKL === undefined ? undefined : checkNumber(fn, "option 'maxKL'", options.maxKL, 0, true);
    this.options = { ...options, loss: this.loss };
  }

  /** Step size (≥ 0). */
  get lr(): number {
    return this.lrValue;
  }
  set lr(v: number) {
    this.lrValue = checkNumber('NaturalGradient', "'lr'", v, 0);
  }
  /** λ ≥ 0. */
  get damping(): number {
    return this.config.damping;
  }
  set damping(v: number) {
    this.config.damping = checkNumber('NaturalGradient', "'damping'", v, 0);
  }

  /** n_θ [P] = (F_θ + λI)⁺ g_θ for x [batch, inDim], y (see the family); parameters untouched. */
  direction(x: Float32Array, y: Float32Array, batch: number): Float32Array {
    this.checkArgs('direction', x, y, batch);
    const res = runSync(this.task('direction', this.model.params, x, y, batch));
    this.profile = res.profile;
    return res.direction;
  }

  /**
   * One step θ ← θ − lr·s·n (n the natural gradient, with SPRING momentum if enabled; s the
   * trust-region factor). With `adaptive` (default) the trial is evaluated on the batch, rejected if
   * the loss increases (θ untouched, re-solved with more damping, up to maxRetries), and λ is updated
   * from ρ. A NaN/Inf loss, forward pass, kernel, direction or trial is never applied: the step is
   * rejected at once with a reason, and θ, λ, the momentum, the step count and `profile` stay
   * bit-identical (a bad batch is no evidence about λ). See NaturalStepInfo and docs/optimizer.md.
   */
  step(x: Float32Array, y: Float32Array, batch: number): NaturalStepInfo {
    this.checkArgs('step', x, y, batch);
    return runSync(this.stepTask('step', x, y, batch));
  }

  /**
   * step() with every native call on the libuv pool; bit-identical to step(). The model is locked until
   * the promise settles (setParameters, step, direction and another stepAsync on it throw meanwhile).
   */
  async stepAsync(x: Float32Array, y: Float32Array, batch: number): Promise<NaturalStepInfo> {
    this.checkArgs('stepAsync', x, y, batch);
    return runLocked(this.model, 'NaturalGradient.stepAsync', this.stepTask('stepAsync', x, y, batch));
  }

  /** Accepted steps so far. */
  get steps(): number {
    return this.accepted;
  }

  /** The optimizer's state, JSON-safe and lossless: loadState(state()) resumes bit-identically. */
  state(): NaturalGradientState {
    return {
      type: 'NaturalGradient',
      version: 1,
      options: { ...this.options, lr: this.lrValue, damping: this.config.damping },
      numParameters: this.model.numParameters,
      steps: this.accepted,
      previous: this.previous ? encodeF32(this.previous) : null,
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
    const previous = state.previous === null ? null : decodeF32(fn, "'state.previous'", state.previous, p);
    this.lrValue = probe.lrValue;
    this.config.damping = probe.config.damping;
    this.accepted = steps;
    this.previous = previous;
  }

  /** The resolved settings that must match for loadState (all but lr and λ). */
  private signature(): string {
    const { precision, rcond, space, assembly } = this.config;
    return JSON.stringify({
      loss: this.loss,
      method: this.method,
      precision,
      rcond: rcond ?? null,
      space,
      assembly,
      adaptive: this.rule ?? false,
      momentum: this.mu,
      maxStepNorm: this.maxStepNorm ?? null,
      maxKL: this.maxKL ?? null,
    });
  }

  /** A NaturalGradient on `model` from a state(). */
  static fromState(model: Sequential, state: NaturalGradientState): NaturalGradient {
    checkStateHeader('NaturalGradient.fromState', state, 'NaturalGradient', 1);
    const opt = new NaturalGradient(model, state.options);
    opt.loadState(state);
    return opt;
  }

  /** g_θ [P] = ∇_θ L = (1/N) Σ_i G_i g_i, by backpropagating g_i (one row per sample). */
  gradient(x: Float32Array, y: Float32Array, batch: number): Float32Array {
    this.checkArgs('gradient', x, y, batch);
    const { model, family } = this;
    const k = model.outDim;
    return runSync(
      (function* (): Task<Float32Array> {
        const trace = yield* model.forwardTask(model.params, x, batch);
        const seeds = Float32Array.from(gradients(family, trace.eta, y, batch, k)); // row i = g_iᵀ
        const bs = yield* outputJacobians(model, model.params, trace, seeds, 1);
        return yield* contract(model, trace, bs, new Float32Array(batch).fill(1 / batch), 1, new Float32Array(model.numParameters));
      })()
    );
  }

  /** L = (1/N) Σ ℓ_i at the current parameters. */
  lossAt(x: Float32Array, y: Float32Array, batch: number): number {
    this.checkArgs('lossAt', x, y, batch);
    return meanLoss(this.family, this.model.forward(x, batch), y, batch, this.model.outDim);
  }

  private task(fn: string, theta: Float32Array, x: Float32Array, y: Float32Array, batch: number, cfg: ExactConfig = this.config): Task<ExactResult> {
    if (this.method === 'per-sample') return perSampleDirection(this.model, theta, this.family, `NaturalGradient.${fn}`, x, y, batch, cfg);
    if (this.method === 'chain') return chainDirection(this.model, theta, this.family, `NaturalGradient.${fn}`, x, y, batch, cfg);
    return exactDirection(this.model, theta, this.family, `NaturalGradient.${fn}`, x, y, batch, cfg, this.workspace);
  }

  /**
   * The step of step()/stepAsync(), as a task: trial, evaluation, Levenberg–Marquardt, commit.
   *
   * What a failure does depends on what it says about λ (docs/optimizer.md, "A bad batch"):
   * - a FINITE loss increase at the trial is evidence that the quadratic model does not hold that far:
   *   the direction is solved again with more damping (λ·increaseʲ, up to maxRetries), and if every
   *   attempt fails the next step starts from the raised λ and without SPRING's history;
   * - anything not finite — the batch's forward pass or loss at θ, the Fisher factors, the kernel, the
   *   right-hand side, the direction, the trial parameters or the trial's loss — and a failed
   *   factorisation reject the step at once: it is no evidence about λ (a batch with x = 1e30
   *   overflows whatever the damping; retrying only drove λ up by 1.5³⁶), so θ, λ, the momentum, the
   *   step count and the profile stay bit-identical. (After finite increases on earlier attempts of
   *   the same call, those increases are the evidence, and λ is raised for them as above.)
   */
  private *stepTask(method: string, x: Float32Array, y: Float32Array, batch: number): Task<NaturalStepInfo> {
    const fn = `NaturalGradient.${method}`;
    const { rule } = this;
    let lambda = this.config.damping;
    const info: NaturalStepInfo = {
      loss: NaN,
      lossAfter: NaN,
      damping: lambda,
      rho: NaN,
      predicted: NaN,
      trialLoss: NaN,
      accepted: false,
      stepNorm: 0,
      attempts: 0,
      scale: 1,
    };
    /** λ for the next step after finite loss increases on this call's attempts (undefined: none yet). */
    let raised: number | undefined;
    const tries = () => (info.attempts > 1 ? ` (${info.attempts} attempts, last λ = ${lambda.toPrecision(3)})` : '');
    /** A step rejected on the evidence of finite loss increases: λ raised, momentum dropped. */
    const rejectRaised = (reason: string): NaturalStepInfo => {
      info.lossAfter = info.loss;
      info.reason = `${reason}${tries()}; parameters unchanged`;
      this.config.damping = raised!;
      this.previous = null; // momentum does not survive a failed step
      return info;
    };
    /** A step rejected at once on a non-finite value or failed solve: nothing changes (unless earlier attempts of this call were finite increases). */
    const rejectAtOnce = (reason: string): NaturalStepInfo => {
      if (raised !== undefined) return rejectRaised(reason);
      info.lossAfter = info.loss;
      info.reason = `${reason}; rejected at once: parameters, λ and the optimizer's state unchanged`;
      return info;
    };
    // Stage 1, once: the λ-independent part (a retry with more damping costs one solve and one forward pass).
    const system = yield* this.linearizeStep(fn, method, x, y, batch, info);
    if ('reject' in system) return rejectAtOnce(system.reject);
    let momentum: MomentumTerm | undefined = this.mu > 0 && this.previous ? { mu: this.mu, previous: this.previous } : undefined;
    const retries = rule ? rule.maxRetries : 0;
    for (;;) {
      info.attempts++;
      info.damping = lambda;
      info.rho = info.predicted = info.trialLoss = NaN;
      info.scale = 1;
      // Stage 2: the direction at λ and its trial
      const trial = yield* this.trialStep(system, lambda, momentum, x, y, batch, info);
      if ('reject' in trial) return rejectAtOnce(trial.reject);
      // Stage 3: Levenberg–Marquardt — a finite increase is evidence for more damping
      if (rule && trial.after > info.loss) {
        const next = rejectedDamping(rule, lambda, info.attempts);
        raised = next;
        if (info.attempts > retries || next === lambda) return rejectRaised(`the loss would increase from ${info.loss} to ${trial.after}`);
        lambda = next;
        momentum = undefined; // retries are plain damped steps: a large λ must shrink the step, not pull it to μ n₋
        continue;
      }
      // Stage 4: commit
      return this.commitStep(system, trial, lambda, info);
    }
  }

  /**
   * A step's stage 1: the forward pass and loss at θ, the Fisher factors and backpropagation, and (exact)
   * the assembled kernel — everything that does not depend on λ — with the solver for a given λ; or the
   * reason the batch is rejected at once (a non-finite loss, kernel or failed assembly).
   */
  private *linearizeStep(
    fn: string,
    method: string,
    x: Float32Array,
    y: Float32Array,
    batch: number,
    info: NaturalStepInfo
  ): Task<StepSystem | { reject: string }> {
    const { model, family } = this;
    const theta = model.params;
    let lin: Linearization | undefined;
    let sys: ExactSystem | undefined;
    if (this.method === 'exact') checkExactSize(fn, model, family, batch, this.config, this.workspace, method === 'stepAsync'); // before any work
    try {
      lin = yield* linearizeExact(model, theta, family, fn, x, y, batch);
      info.loss = lin.loss;
      if (!Number.isFinite(lin.loss)) return { reject: `the loss on this batch is ${lin.loss}; ${largestInput(x, batch)}` };
      if (this.method === 'exact') {
        const s = (sys = yield* assembleExact(model, theta, family, fn, x, y, batch, this.config, this.workspace, lin));
        return { lin, sys, solveAt: (l, mom) => solveExact(s, l, this.config, mom), profile: (sol) => profileOf(s, sol) };
      }
      // Other methods give only a direction; gᵀn and nᵀF_θ n come from the linearisation.
      const li = lin;
      let last: StepProfile;
      const solveAt = function* (this: NaturalGradient, l: number): Task<ExactSolution> {
        const res = yield* this.task(method, theta, x, y, batch, { ...this.config, damping: l });
        last = res.profile;
        const stn = yield* applyTranspose(model, li.trace, li.bs, li.r, res.direction);
        let gn = 0,
          nFn = 0;
        for (let i = 0; i < stn.length; i++) {
          gn += li.u[i] * stn[i];
          nFn += stn[i] * stn[i];
        }
        return {
          direction: res.direction,
          solver: res.profile.solver,
          rank: res.profile.rank,
          gn: gn / batch,
          nFn: nFn / batch,
          times: { solve: 0, update: 0 },
        };
      }.bind(this);
      return { lin, sys, solveAt, profile: () => last };
    } catch (e) {
      const reason = rejectionOrThrow(e);
      return { reject: this.batchFailure(reason, x, batch, lin, sys) };
    }
  }

  /**
   * A step's stage 2, one attempt at damping λ: the direction n (checked finite), the trust region's
   * factor s, the predicted decrease, θ − lr·s·n (checked finite) and the loss there, with ρ; or the
   * reason the step is rejected at once. Fills info's scale, predicted, trialLoss and rho as it goes.
   */
  private *trialStep(
    system: StepSystem,
    lambda: number,
    momentum: MomentumTerm | undefined,
    x: Float32Array,
    y: Float32Array,
    batch: number,
    info: NaturalStepInfo
  ): Task<StepTrial | { reject: string }> {
    const { model, family } = this;
    const theta = model.params;
    let sol: ExactSolution;
    try {
      sol = yield* system.solveAt(lambda, momentum);
    } catch (e) {
      const reason = rejectionOrThrow(e);
      return { reject: this.batchFailure(reason, x, batch, system.lin, system.sys) };
    }
    const t0 = performance.now();
    const n = sol.direction;
    const bad = firstNonFinite(n);
    if (bad >= 0)
      return {
        reject: this.batchFailure(
          `the natural-gradient direction is not finite (its entry for ${parameterName(model, bad)} is ${n[bad]})`,
          x,
          batch,
          system.lin,
          system.sys
        ),
      };
    const s = stepScale(this.lrValue, n, sol.nFn, this.maxStepNorm, this.maxKL); // the trust region (./trust_region.ts)
    const eff = this.lrValue * s;
    info.scale = s;
    info.predicted = predictedDecrease(eff, sol.gn, sol.nFn); // the quadratic model (./damping.ts)
    const trial = new Float32Array(theta.length);
    for (let i = 0; i < theta.length; i++) trial[i] = theta[i] - eff * n[i]; // θ − lr·s·n
    const badT = firstNonFinite(trial);
    if (badT >= 0)
      return {
        reject:
          `the updated parameter ${badT} would be ${trial[badT]} (${parameterName(model, badT)}: lr·s = ${eff.toPrecision(3)} ` +
          `times its direction entry ${n[badT].toPrecision(3)} overflows float32)`,
      };
    let after: number;
    try {
      after = info.trialLoss = yield* lossTask(model, family, trial, x, y, batch);
    } catch (e) {
      const reason = rejectionOrThrow(e);
      return { reject: this.overshoot(reason, info.loss) };
    }
    info.rho = reductionRatio(info.loss - after, info.predicted);
    if (!Number.isFinite(after)) return { reject: this.overshoot(`the loss after the step would be ${after}`, info.loss) };
    return { sol, n, s, trial, after, t0 };
  }

  /** A step's stage 4: θ ← the trial, λ for the next step from ρ, SPRING's n₋, the count and the profile. */
  private commitStep(system: StepSystem, t: StepTrial, lambda: number, info: NaturalStepInfo): NaturalStepInfo {
    const theta = this.model.params;
    info.stepNorm = distance(t.trial, theta);
    theta.set(t.trial);
    info.accepted = true;
    info.lossAfter = t.after;
    if (this.rule) this.config.damping = nextDamping(this.rule, lambda, info.rho);
    if (this.mu > 0) this.previous = previousDirection(t.n, t.s);
    this.accepted++;
    // the trial's forward pass and the commit count as 'update'
    const prof = system.profile(t.sol);
    const dt = performance.now() - t.t0;
    this.profile = { ...prof, update: prof.update + dt, total: prof.total + dt };
    return info;
  }

  /**
   * The reason for a rejection on a non-finite value of the batch at θ, in the batch's terms: what
   * failed, which layer's kernel block overflows float32 (when that is why), and the batch's largest
   * input. Runs only on the failure path.
   */
  private batchFailure(what: string, x: Float32Array, batch: number, lin: Linearization | undefined, sys: ExactSystem | undefined): string {
    const culprit = lin ? kernelOverflow(this.model, lin) : null;
    const input = largestInput(x, batch);
    if (sys !== undefined && firstNonFinite(sys.kernel) >= 0) {
      const kernel = `the batch's Fisher kernel (${sys.space === 'kernel' ? 'SᵀS' : 'S Sᵀ'}, float32) is not finite`;
      return `${kernel}: ${culprit ?? 'no single layer accounts for it'}; ${input} (${what})`;
    }
    return culprit ? `${what}; ${culprit}; ${input}` : `${what}; ${input}`;
  }

  /** The reason for a rejection whose trial parameters give a non-finite loss. */
  private overshoot(what: string, loss: number): string {
    return (
      `the trial step overshoots: at θ − lr·s·n, ${what}, while the loss at θ is ${loss}; a non-finite trial loss ` +
      `is no evidence about λ: lower lr or set maxStepNorm/maxKL if this repeats`
    );
  }

  private checkArgs(method: string, x: unknown, y: unknown, batch: unknown): asserts x is Float32Array {
    checkStepArgs(`NaturalGradient.${method}`, this.model, this.family, x, y, batch);
  }
}
