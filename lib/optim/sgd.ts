// Stochastic gradient descent with (heavy-ball or Nesterov) momentum, a first-order baseline with the
// same API as NaturalGradient. PyTorch's torch.optim.SGD without dampening or weight decay:
//   b_t = μ b_{t−1} + g_t            (b_1 = g_1)
//   θ_t = θ_{t−1} − lr · d_t,        d_t = b_t, or g_t + μ b_t with nesterov
// The buffer b is kept in float64; θ is rounded to float32 once per step.
import type { Dtype, Floats } from '../util/floats';
import type { LossName } from '../distributions';
import { decodeF64, encodeF64 } from '../util/encode';
import type { Sequential } from '../nn/sequential';
import { checkNumber, describe } from '../util/validate';
import { checkCount, checkStateFor, checkStateHeader } from './common';
import { FirstOrderOptimizer } from './first_order';
import type { ResidualLoss } from './residual_loss';

export interface SGDOptions {
  /** Output family: 'gaussian', 'categorical' or 'bernoulli' (as for NaturalGradient), or a residual loss (residualLoss(): step() then takes no data). Required. */
  loss: LossName | ResidualLoss;
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
export class SGD<D extends Dtype = Dtype> extends FirstOrderOptimizer<Required<SGDOptions>, SGDState, D> {
  protected opts: Required<SGDOptions>;
  private buf: Float64Array;
  private bufNext: Float64Array;

  constructor(model: Sequential<D>, options: SGDOptions) {
    const fn = 'SGD';
    super(fn, model, options, OPTION_NAMES);
    const momentum = checkNumber(fn, "option 'momentum'", options.momentum ?? 0, 0);
    if (momentum >= 1) throw new RangeError(`${fn}: option 'momentum' must be < 1, got ${momentum}`);
    const nesterov = options.nesterov ?? false;
    if (typeof nesterov !== 'boolean') throw new TypeError(`${fn}: option 'nesterov' must be a boolean, got ${describe(nesterov)}`);
    if (nesterov && momentum === 0) throw new RangeError(`${fn}: option 'nesterov' needs option 'momentum' > 0`);
    this.opts = { loss: this.loss, lr: checkNumber(fn, "option 'lr'", options.lr ?? 0.01, 0), momentum, nesterov };
    this.buf = new Float64Array(model.numParameters);
    this.bufNext = new Float64Array(model.numParameters);
  }

  state(): SGDState {
    return { type: 'SGD', version: 1, options: { ...this.opts }, numParameters: this.model.numParameters, t: this.t, buffer: encodeF64(this.buf) };
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

  static fromState<D extends Dtype>(model: Sequential<D>, state: SGDState): SGD<D> {
    checkStateHeader('SGD.fromState', state, 'SGD', 1);
    const opt = new SGD(model, state.options);
    opt.loadState(state);
    return opt;
  }

  protected update(grad: Floats, theta: Floats, trial: Floats): void {
    const { lr, momentum: mu, nesterov } = this.opts;
    const { buf, bufNext } = this;
    const first = this.t === 0;
    for (let i = 0; i < theta.length; i++) {
      const g = grad[i];
      const b = (bufNext[i] = first ? g : mu * buf[i] + g);
      trial[i] = theta[i] - lr * (nesterov ? g + mu * b : b);
    }
  }

  protected commit(): void {
    [this.buf, this.bufNext] = [this.bufNext, this.buf];
  }
}
