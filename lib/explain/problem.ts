// The report's problem: a seeded MLP at its initialisation, a minibatch and held-out data of the
// built-in set, and everything of the minibatch in float64 that the claims share.
import { distribution, type LossName, type OutputFamily } from '../distributions';
import { ACTIVATION_NAMES, type ActivationName, isActivationName, mlp, type Sequential } from '../nn';
import { type BuiltinDataset, builtinData, builtinOutputs } from './data';
import { type Exact64, exact64, forward64, jacobian64, type Outputs64, outputs64, type Trace64 } from './reference64';

export interface ProblemOptions {
  /** Hidden widths. Default [16, 16]. */
  hidden?: number[];
  /** Hidden activation. Default 'tanh'. */
  activation?: ActivationName;
  /** Minibatch size N. Default 16. */
  batch?: number;
  /** Output family. Default 'gaussian' (k = 2 outputs); 'categorical' has k = 3, 'bernoulli' k = 1. */
  loss?: LossName;
  /** Seed of the data and of the initialisation. Default 0. */
  seed?: number;
  /** Held-out points for the minibatch-step claim. Default 512. */
  heldOut?: number;
}

/** The report's problem: a model at its seeded initialisation, a minibatch and held-out data. */
export interface Problem {
  loss: LossName;
  family: OutputFamily;
  hidden: number[];
  activation: ActivationName;
  seed: number;
  model: Sequential;
  /** θ at initialisation, widened to float64. */
  theta: Float64Array;
  batch: BuiltinDataset;
  heldOut: BuiltinDataset;
  k: number;
  p: number;
  n: number;
}

/** Checks the options (RangeError/TypeError naming the option) and builds the problem. */
export function makeProblem(options: ProblemOptions = {}, fn = 'explain'): Problem {
  const known = ['hidden', 'activation', 'batch', 'loss', 'seed', 'heldOut'];
  const o = options as Record<string, unknown>;
  const hidden = options.hidden ?? [16, 16];
  if (!Array.isArray(hidden) || hidden.length < 1 || !hidden.every((h) => Number.isSafeInteger(h) && h >= 1 && h <= 256))
    throw new RangeError(`${fn}: option 'hidden' must be a non-empty list of widths 1…256, got ${JSON.stringify(o.hidden)}`);
  const activation = options.activation ?? 'tanh';
  if (!isActivationName(activation))
    throw new RangeError(`${fn}: option 'activation' must be one of ${ACTIVATION_NAMES.join(', ')}, got ${JSON.stringify(o.activation)}`);
  const family = distribution(options.loss ?? 'gaussian', fn, "option 'loss'");
  const n = options.batch ?? 16;
  if (!Number.isSafeInteger(n) || n < 2 || n > 256) throw new RangeError(`${fn}: option 'batch' must be an integer 2…256, got ${JSON.stringify(o.batch)}`);
  const seed = options.seed ?? 0;
  if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`${fn}: option 'seed' must be a non-negative integer, got ${JSON.stringify(o.seed)}`);
  const held = options.heldOut ?? 512;
  if (!Number.isSafeInteger(held) || held < 1) throw new RangeError(`${fn}: option 'heldOut' must be a positive integer, got ${JSON.stringify(o.heldOut)}`);
  const k = builtinOutputs(family.name);
  const model = mlp(2, hidden, k, activation, { seed });
  if (model.numParameters > 20000)
    throw new RangeError(`${fn}: the report forms dense float64 Jacobians; keep P ≤ 20000 (this MLP has P = ${model.numParameters})`);
  for (const key of Object.keys(o)) if (!known.includes(key) && o[key] !== undefined) throw new RangeError(`${fn}: unknown option '${key}'`);
  return {
    loss: family.name,
    family,
    hidden: hidden.slice(),
    activation,
    seed,
    model,
    theta: Float64Array.from(model.params),
    batch: builtinData(family.name, n, 1000 + seed),
    heldOut: builtinData(family.name, held, 2000 + seed),
    k,
    p: model.numParameters,
    n,
  };
}

/** Everything of the minibatch in float64, computed once and shared by the claims. */
export interface Batch64 {
  trace: Trace64;
  jac: Float64Array;
  out: Outputs64;
  /** The exact n_θ at λ = 0. */
  exact: Exact64;
}

export function batch64(pr: Problem, x: Float32Array, y: Float32Array, n: number): Batch64 {
  const trace = forward64(pr.model, pr.theta, x, n);
  const jac = jacobian64(pr.model, pr.theta, trace);
  const out = outputs64(pr.family, trace.eta, y, n, pr.k);
  return { trace, jac, out, exact: exact64(jac, out, pr.p, n, pr.k, 0) };
}
