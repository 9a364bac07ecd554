// Stochastic gradient descent with (heavy-ball or Nesterov) momentum, a first-order baseline with the
// same API as NaturalGradient. PyTorch's torch.optim.SGD without dampening or weight decay:
//   b_t = μ b_{t−1} + g_t            (b_1 = g_1)
//   θ_t = θ_{t−1} − lr · d_t,        d_t = b_t, or g_t + μ b_t with nesterov
// The buffer b is kept in float64; θ is rounded to float32 once per step.
import { checkTargets, distribution, LossName, OutputFamily } from '../distributions';
import { decodeF64, encodeF64 } from '../nn/encode';
import { Sequential } from '../nn/sequential';
import { runSync, Task } from '../nn/task';
import { checkNumber, describe } from '../nn/validate';
import { checkCount, checkOptions, checkStateFor, checkStateHeader, distance, firstNonFinite, lossAndGradient, rejectionReason, runLocked, StepInfo } from './common';

export interface SGDOptions {
  /** Output family: 'gaussian', 'categorical' or 'bernoulli'. Required. */
  loss: LossName;
  /** Step size. Default 0.01. */
  lr?: number;
  /** μ ∈ [0, 1). Default 0 (plain gradient descent). */
  momentum?: number;
  /** Nesterov momentum (needs momentum > 0). Default false. */
  nesterov?: boolean;
}

const OPTION_NAMES = ['loss', 'lr', 'momentum', 'nesterov'];

/** A saved SGD state (JSON-safe; see SGD.state()). */
export interface SGDState {
  type: 'SGD';
  version: 1;
  options: Required<SGDOptions>;
  numParameters: number;
  /** Accepted steps so far. */
  t: number;
  /** The momentum buffer b, base64 of its float64 little-endian bytes. */
  buffer: string;
}

/**
 *   const opt = new SGD(model, { loss: 'categorical', lr: 0.1, momentum: 0.9 });
 *   const { loss, accepted, stepNorm } = opt.step(x, y, batch);
 *
 * A step whose loss, gradient or updated parameters are NaN/Inf is not applied (θ and b bit-identical,
 * accepted: false with a reason).
 */
export class SGD {
  readonly model: Sequential;
  readonly loss: LossName;
  readonly family: OutputFamily;
  private opts: Required<SGDOptions>;
  private t = 0;
  private buf: Float64Array;
  private bufNext: Float64Array;

  constructor(model: Sequential, options: SGDOptions) {
    const fn = 'SGD';
    if (!(model instanceof Sequential)) throw new TypeError(`${fn}: 'model' must be a model from sequential(), got ${describe(model)}`);
    checkOptions(fn, options, OPTION_NAMES);
    this.model = model;
    this.family = distribution(options.loss, fn, "option 'loss'");
    this.loss = this.family.name;
    this.family.checkOutputs(fn, `the model's output width (outDim)`, model.outDim);
    const momentum = checkNumber(fn, "option 'momentum'", options.momentum ?? 0, 0);
    if (momentum >= 1) throw new RangeError(`${fn}: option 'momentum' must be < 1, got ${momentum}`);
    const nesterov = options.nesterov ?? false;
    if (typeof nesterov !== 'boolean') throw new TypeError(`${fn}: option 'nesterov' must be a boolean, got ${describe(nesterov)}`);
    if (nesterov && momentum === 0) throw new RangeError(`${fn}: option 'nesterov' needs option 'momentum' > 0`);
    this.opts = { loss: this.loss, lr: checkNumber(fn, "option 'lr'", options.lr ?? 0.01, 0), momentum, nesterov };
    this.buf = new Float64Array(model.numParameters);
    this.bufNext = new Float64Array(model.numParameters);
  }

  /** Step size (≥ 0); may be changed between steps. */
  get lr(): number {
    return this.opts.lr;
  }
  set lr(v: number) {
    this.opts.lr = checkNumber('SGD', "'lr'", v, 0);
  }
  /** Accepted steps so far. */
  get steps(): number {
    return this.t;
  }

  step(x: Float32Array, y: Float32Array, batch: number): StepInfo {
    this.checkArgs('step', x, y, batch);
    return runSync(this.stepTask(x, y, batch));
  }

  /** step() with the native calls off the event loop; bit-identical. The model is locked until it settles. */
  async stepAsync(x: Float32Array, y: Float32Array, batch: number): Promise<StepInfo> {
    this.checkArgs('stepAsync', x, y, batch);
    return runLocked(this.model, 'SGD.stepAsync', this.stepTask(x, y, batch));
  }

  state(): SGDState {
    return { type: 'SGD', version: 1, options: { ...this.opts }, numParameters: this.model.numParameters, t: this.t, buffer: encodeF64(this.buf) };
  }
  toJSON(): SGDState {
    return this.state();
  }

  loadState(state: SGDState): void {
    const fn = 'SGD.loadState';
    checkStateFor(fn, this.model, state, 'SGD');
    const p = this.model.numParameters;
    const t = checkCount(fn, 'state.t', state.t);
    const probe = new SGD(this.model, state.options);
    const buf = decodeF64(fn, "'state.buffer'", state.buffer, p);
    this.opts = probe.opts;
    this.t = t;
    this.buf.set(buf);
  }

  static fromState(model: Sequential, state: SGDState): SGD {
    checkStateHeader('SGD.fromState', state, 'SGD', 1);
    const opt = new SGD(model, state.options);
    opt.loadState(state);
    return opt;
  }

  private *stepTask(x: Float32Array, y: Float32Array, n: number): Task<StepInfo> {
    const theta = this.model.params;
    let loss: number, grad: Float32Array;
    try {
      ({ loss, grad } = yield* lossAndGradient(this.model, this.family, theta, x, y, n));
    } catch (e) {
      const reason = rejectionReason(e);
      if (reason === null) throw e;
      return { loss: NaN, accepted: false, stepNorm: 0, reason };
    }
    if (!Number.isFinite(loss)) return { loss, accepted: false, stepNorm: 0, reason: `the loss is ${loss}` };
    const bad = firstNonFinite(grad);
    if (bad >= 0) return { loss, accepted: false, stepNorm: 0, reason: `the gradient is not finite (entry ${bad} is ${grad[bad]})` };
    const { lr, momentum: mu, nesterov } = this.opts;
    const { buf, bufNext } = this;
    const first = this.t === 0;
    const trial = new Float32Array(theta.length);
    for (let i = 0; i < theta.length; i++) {
      const g = grad[i];
      const b = (bufNext[i] = first ? g : mu * buf[i] + g);
      trial[i] = theta[i] - lr * (nesterov ? g + mu * b : b);
    }
    const badT = firstNonFinite(trial);
    if (badT >= 0) return { loss, accepted: false, stepNorm: 0, reason: `the updated parameter ${badT} would be ${trial[badT]}` };
    const stepNorm = distance(trial, theta);
    theta.set(trial);
    this.buf = bufNext;
    this.bufNext = buf;
    this.t++;
    return { loss, accepted: true, stepNorm };
  }

  private checkArgs(method: string, x: unknown, y: unknown, batch: unknown): asserts x is Float32Array {
    const fn = `SGD.${method}`;
    this.model.checkUnlocked(fn);
    this.model.checkInput(fn, x, batch);
    checkTargets(this.family, fn, y, batch as number, this.model.outDim);
  }
}
