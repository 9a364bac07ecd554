// NaturalGradient: θ ← θ − lr · n_θ with n_θ = (F_θ + λI)⁺ g_θ computed exactly
// (see ./exact.ts for how, DESIGN.md §1 for what).
import { checkTargets, distribution, gradients, LossName, meanLoss, OutputFamily } from '../distributions';
import { contract, outputJacobians } from '../nn/jacobian';
import { Sequential } from '../nn/sequential';
import { runAsync, runSync, Task } from '../nn/task';
import { checkNumber, describe } from '../nn/validate';
import type { Precision } from '../linalg';
import { Assembly, ExactConfig, exactDirection, ExactResult, Space, StepProfile, Workspace } from './exact';
import { perSampleDirection } from './per_sample';
import { chainDirection, checkChainModel } from './chain';

export type { StepProfile, Space, Assembly } from './exact';

/**
 * 'exact': the batch natural gradient (F_θ + λI)⁺ g_θ. The other two are the seed's proposal, kept
 * runnable so that it can be measured (`natgrad explain`); they are NOT the natural gradient of a batch:
 * - 'per-sample': (1/N) Σ_i G_i (G_iᵀG_i + λI)⁻¹ F_i⁺ g_i (./per_sample.ts);
 * - 'chain': the seed's natural chain rule n_x = G (GᵀG + λI)⁻¹ n_y applied op by op in the backward
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
  /** λ ≥ 0. 0 means the Moore–Penrose pseudo-inverse F_θ⁺ g_θ. Default 1e-3. */
  damping?: number;
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
}

const OPTION_NAMES = ['loss', 'lr', 'damping', 'method', 'precision', 'rcond', 'space', 'assembly'];

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
 *   const { loss } = opt.step(x, y, batch);    // θ ← θ − lr·(F_θ + λI)⁺ g_θ
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
  /** Timings and solver of the last direction/step (see StepProfile), null before the first. */
  profile: StepProfile | null = null;
  private readonly config: ExactConfig;
  private lrValue: number;
  /** The kernel buffer, kept between calls ((N·r)² floats; see Workspace). */
  private readonly workspace: Workspace = { kernel: null };

  constructor(model: Sequential, options: NaturalGradientOptions) {
    const fn = 'NaturalGradient';
    if (!(model instanceof Sequential)) throw new TypeError(`${fn}: 'model' must be a model from sequential(), got ${describe(model)}`);
    if (typeof options !== 'object' || options === null) throw new TypeError(`${fn}: 'options' must be an object, got ${describe(options)}`);
    for (const key of Object.keys(options))
      if (!OPTION_NAMES.includes(key)) throw new RangeError(`${fn}: unknown option '${key}' (options: ${OPTION_NAMES.join(', ')})`);
    this.model = model;
    this.family = distribution(options.loss, fn, "option 'loss'");
    this.loss = this.family.name;
    this.family.checkOutputs(fn, `the model's output width (outDim)`, model.outDim);
    this.method = oneOf(fn, 'method', options.method, ['exact', 'per-sample', 'chain'], 'exact');
    if (this.method === 'chain') checkChainModel(model, fn);
    this.lrValue = checkNumber(fn, "option 'lr'", options.lr ?? 1, 0);
    this.config = {
      damping: checkNumber(fn, "option 'damping'", options.damping ?? 1e-3, 0),
      precision: oneOf(fn, 'precision', options.precision, ['float32', 'float64'], 'float32'),
      rcond: options.rcond === undefined ? undefined : checkNumber(fn, "option 'rcond'", options.rcond, 0, true),
      space: oneOf(fn, 'space', options.space, ['auto', 'kernel', 'parameter'], 'auto'),
      assembly: oneOf(fn, 'assembly', options.assembly, ['layer', 'dense'], 'layer'),
    };
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

  /** θ ← θ − lr·n_θ. Returns the loss L = (1/N) Σ ℓ_i before the step. */
  step(x: Float32Array, y: Float32Array, batch: number): { loss: number } {
    this.checkArgs('step', x, y, batch);
    const res = runSync(this.task('step', this.model.params, x, y, batch));
    this.apply(res);
    return { loss: res.loss };
  }

  /**
   * step() with every native call on the libuv pool; bit-identical to step(). The model is locked until
   * the promise settles (setParameters, step, direction and another stepAsync on it throw meanwhile).
   */
  async stepAsync(x: Float32Array, y: Float32Array, batch: number): Promise<{ loss: number }> {
    this.checkArgs('stepAsync', x, y, batch);
    this.model.lock(`NaturalGradient.stepAsync`);
    try {
      const res = await runAsync(this.task('stepAsync', this.model.params, x, y, batch));
      this.apply(res);
      return { loss: res.loss };
    } finally {
      this.model.unlock();
    }
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

  private task(fn: string, theta: Float32Array, x: Float32Array, y: Float32Array, batch: number): Task<ExactResult> {
    if (this.method === 'per-sample') return perSampleDirection(this.model, theta, this.family, `NaturalGradient.${fn}`, x, y, batch, this.config);
    if (this.method === 'chain') return chainDirection(this.model, theta, this.family, `NaturalGradient.${fn}`, x, y, batch, this.config);
    return exactDirection(this.model, theta, this.family, `NaturalGradient.${fn}`, x, y, batch, this.config, this.workspace);
  }

  private apply(res: ExactResult): void {
    const t0 = performance.now();
    const theta = this.model.params;
    const n = res.direction;
    const lr = this.lrValue;
    for (let i = 0; i < theta.length; i++) theta[i] -= lr * n[i]; // θ ← θ − lr·n_θ
    res.profile.update += performance.now() - t0;
    res.profile.total += performance.now() - t0;
    this.profile = res.profile;
  }

  private checkArgs(method: string, x: unknown, y: unknown, batch: unknown): asserts x is Float32Array {
    const fn = `NaturalGradient.${method}`;
    this.model.checkUnlocked(fn);
    this.model.checkInput(fn, x, batch);
    checkTargets(this.family, fn, y, batch as number, this.model.outDim);
  }
}
