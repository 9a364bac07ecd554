// Adam (Kingma & Ba 2015), a first-order baseline with the same API as NaturalGradient.
//
// With g_t = ∇_θ L on the batch, t counting accepted steps from 1:
//   m_t = β₁ m_{t−1} + (1 − β₁) g_t
//   v_t = β₂ v_{t−1} + (1 − β₂) g_t²
//   θ_t = θ_{t−1} − lr · (m_t / (1 − β₁ᵗ)) / (√(v_t / (1 − β₂ᵗ)) + ε)
// (PyTorch's torch.optim.Adam without weight decay.) m and v are kept in float64; θ is rounded to
// float32 once per step.
import type { Dtype, Floats } from '../util/floats';
import type { LossName } from '../distributions';
import { decodeF64, encodeF64 } from '../util/encode';
import type { Sequential } from '../nn/sequential';
import { checkNumber } from '../util/validate';
import { checkCount, checkStateFor, checkStateHeader } from './common';
import { FirstOrderOptimizer } from './first_order';
import type { ResidualLoss } from './residual_loss';

export interface AdamOptions {
  /** Output family: 'gaussian', 'categorical' or 'bernoulli' (as for NaturalGradient), or a residual loss (residualLoss(): step() then takes no data). Required. */
  loss: LossName | ResidualLoss;
  /** Step size. Default 1e-3. */
  lr?: number;
  /** Decay of the first moment, in [0, 1). Default 0.9. */
  beta1?: number;
  /** Decay of the second moment, in [0, 1). Default 0.999. */
  beta2?: number;
  /** Added to √v̂, > 0. Default 1e-8. */
  eps?: number;
}

const OPTION_NAMES = ['loss', 'lr', 'beta1', 'beta2', 'eps'];

/** A saved Adam state (JSON-safe; see Adam.state()). */
export interface AdamState {
  type: 'Adam';
  version: 1;
  options: Required<AdamOptions>;
  numParameters: number;
  /** Accepted steps so far. */
  t: number;
  /** m and v, base64 of their float64 little-endian bytes. */
  m: string;
  v: string;
}

function checkBeta(fn: string, name: string, v: unknown): number {
  const b = checkNumber(fn, `option '${name}'`, v, 0);
  if (b >= 1) throw new RangeError(`${fn}: option '${name}' must be < 1, got ${b}`);
  return b;
}

/**
 *   const opt = new Adam(model, { loss: 'gaussian', lr: 1e-3 });
 *   const { loss, accepted, stepNorm } = opt.step(x, y, batch);
 *
 * A step whose loss, gradient or updated parameters are NaN/Inf (or whose forward pass overflows) is
 * not applied: θ, m, v and t stay bit-identical and the result has accepted: false and a reason.
 */
export class Adam<D extends Dtype = Dtype> extends FirstOrderOptimizer<Required<AdamOptions>, AdamState, D> {
  protected opts: Required<AdamOptions>;
  private m: Float64Array;
  private v: Float64Array;
  private mNext: Float64Array;
  private vNext: Float64Array;

  constructor(model: Sequential<D>, options: AdamOptions) {
    const fn = 'Adam';
    super(fn, model, options, OPTION_NAMES);
    this.opts = {
      loss: this.loss,
      lr: checkNumber(fn, "option 'lr'", options.lr ?? 1e-3, 0),
      beta1: checkBeta(fn, 'beta1', options.beta1 ?? 0.9),
      beta2: checkBeta(fn, 'beta2', options.beta2 ?? 0.999),
      eps: checkNumber(fn, "option 'eps'", options.eps ?? 1e-8, 0, true),
    };
    const p = model.numParameters;
    this.m = new Float64Array(p);
    this.v = new Float64Array(p);
    this.mNext = new Float64Array(p);
    this.vNext = new Float64Array(p);
  }

  /** The optimizer's state, JSON-safe and lossless: loadState(state()) resumes bit-identically. */
  state(): AdamState {
    return {
      type: 'Adam',
      version: 1,
      options: { ...this.opts },
      numParameters: this.model.numParameters,
      t: this.t,
      m: encodeF64(this.m),
      v: encodeF64(this.v),
    };
  }
  /** Restores a state() of an Adam on a model of the same size (options included). */
  loadState(state: AdamState): void {
    const fn = 'Adam.loadState';
    checkStateFor(fn, this.model, state, 'Adam');
    const p = this.model.numParameters;
    const t = checkCount(fn, 'state.t', state.t);
    const probe = new Adam(this.model, state.options); // validates the options
    const m = decodeF64(fn, "'state.m'", state.m, p);
    const v = decodeF64(fn, "'state.v'", state.v, p);
    this.opts = probe.opts;
    this.t = t;
    this.m.set(m);
    this.v.set(v);
  }

  /** An Adam on `model` from a state(). */
  static fromState<D extends Dtype>(model: Sequential<D>, state: AdamState): Adam<D> {
    checkStateHeader('Adam.fromState', state, 'Adam', 1);
    const opt = new Adam(model, state.options);
    opt.loadState(state);
    return opt;
  }

  protected update(grad: Floats, theta: Floats, trial: Floats): void {
    const { lr, beta1: b1, beta2: b2, eps } = this.opts;
    const t = this.t + 1;
    const c1 = 1 - b1 ** t;
    const c2 = 1 - b2 ** t;
    const { m, v, mNext, vNext } = this;
    for (let i = 0; i < theta.length; i++) {
      const g = grad[i];
      const mi = (mNext[i] = b1 * m[i] + (1 - b1) * g);
      const vi = (vNext[i] = b2 * v[i] + (1 - b2) * g * g);
      trial[i] = theta[i] - (lr * (mi / c1)) / (Math.sqrt(vi / c2) + eps);
    }
  }

  protected commit(): void {
    [this.m, this.mNext] = [this.mNext, this.m];
    [this.v, this.vNext] = [this.vNext, this.v];
  }
}
