// Pieces shared by the optimizers (NaturalGradient, Adam, SGD): option checks, the
// loss-and-gradient task, the guard that keeps NaN/Inf out of the parameters, and the
// fields every step() reports.
import { type Floats, toDtype, zeros } from '../util/floats';
import { checkTargets, distribution, gradients, type LossName, meanLoss, type OutputFamily } from '../distributions';
import { contract, outputJacobians } from '../nn/jacobian';
import { Sequential } from '../nn/sequential';
import { runAsync, type Task } from '../task';
import { checkOptions, describe } from '../util/validate';

/** What every optimizer's step() returns. */
export interface StepInfo {
  /** L(θ) = (1/N) Σ ℓ_i on the batch, before the step (NaN if it could not be computed). */
  loss: number;
  /** Whether θ changed. When false, θ is bit-identical to before the call and `reason` says why. */
  accepted: boolean;
  /** ‖Δθ‖₂ of the applied change (float64 sum over the float32 differences); 0 when not accepted. */
  stepNorm: number;
  /** Why the step was not applied (only when accepted is false). */
  reason?: string;
}

/** An optimizer constructor's common checks (fn: the class name): the model, the option names, and the loss for the model's output width. Returns the output family. */
export function checkOptimizerArgs(fn: string, model: unknown, options: unknown, names: readonly string[]): OutputFamily {
  if (!(model instanceof Sequential)) throw new TypeError(`${fn}: 'model' must be a model from sequential(), got ${describe(model)}`);
  checkOptions(fn, options, names);
  const family = distribution(options.loss as LossName, fn, "option 'loss'");
  family.checkOutputs(fn, `the model's output width (outDim)`, model.outDim);
  return family;
}

/** The arguments of a step-like call (fn: 'Class.method'): the model unlocked, x [batch, inDim], y for the family. */
export function checkStepArgs(fn: string, model: Sequential, family: OutputFamily, x: unknown, y: unknown, batch: unknown): asserts x is Floats {
  model.checkUnlocked(fn);
  model.checkInput(fn, x, batch);
  checkTargets(family, fn, y, batch as number, model.outDim, model.dtype);
}

/** The first index of a non-finite entry, or −1. */
export function firstNonFinite(a: ArrayLike<number>): number {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) return i;
  return -1;
}

/** ‖a − b‖₂ accumulated in float64. */
export function distance(a: Floats, b: Floats): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    s += d * d;
  }
  return Math.sqrt(s);
}

/** float32's largest finite value: the kernels and activations are float32. */
export const F32_MAX = 3.4028234663852886e38;

const fmt = (v: number) => (Number.isFinite(v) ? v.toPrecision(3) : String(v));

/** θ entry q by name: "layers[2].weight[3, 0]" or "layers[2].bias[3]". */
export function parameterName(model: Sequential, q: number): string {
  for (const { index, layer, wOffset, bOffset } of model.slots) {
    const { inFeatures: inW, outFeatures: outW } = layer;
    if (q >= wOffset && q < bOffset) return `layers[${index}].weight[${Math.floor((q - wOffset) / inW)}, ${(q - wOffset) % inW}]`;
    if (q >= bOffset && q < bOffset + outW) return `layers[${index}].bias[${q - bOffset}]`;
  }
  for (const m of model.modules) if (q >= m.offset && q < m.offset + m.size) return `layers[${m.index}] (${m.layer.name}) parameter ${q - m.offset}`;
  return `parameter ${q}`;
}

/**
 * The batch's largest input in words, for the reason of a rejected step: "the batch's largest |x| is
 * 1.00e+30 (x[96]: sample 32, feature 0)". Only on a failure path (O(N·inDim)).
 */
export function largestInput(x: Floats, batch: number): string {
  let at = 0;
  for (let i = 1; i < x.length; i++) if (Math.abs(x[i]) > Math.abs(x[at])) at = i;
  const width = x.length / batch;
  return `the batch's largest |x| is ${fmt(Math.abs(x[at]))} (x[${at}]: sample ${Math.floor(at / width)}, feature ${at % width})`;
}

/**
 * A numerical failure that rejects a step rather than throwing: a forward pass that overflows
 * float32, a right-hand side that overflows (code ERR_NON_FINITE), a factorisation that fails
 * (ERR_NOT_POSITIVE_DEFINITE, ERR_LAPACK). Argument errors (TypeError, bad shapes) are not.
 */
export function rejectionReason(e: unknown): string | null {
  const code = (e as { code?: unknown } | null)?.code;
  if (code === 'ERR_NON_FINITE' || code === 'ERR_NOT_POSITIVE_DEFINITE' || code === 'ERR_LAPACK') return (e as Error).message;
  return null;
}

/** rejectionReason(e) for a failure that rejects the step; anything else (an argument error) is rethrown. */
export function rejectionOrThrow(e: unknown): string {
  const reason = rejectionReason(e);
  if (reason === null) throw e;
  return reason;
}

/** L(θ) and g_θ = ∇_θ L = (1/N) Σ_i G_i g_i (backpropagating g_i, one row per sample). */
export function* lossAndGradient(
  model: Sequential,
  family: OutputFamily,
  theta: Floats,
  x: Floats,
  y: Floats,
  n: number
): Task<{ loss: number; grad: Floats }> {
  const k = model.outDim;
  const trace = yield* model.forwardTask(theta, x, n);
  const loss = meanLoss(family, trace.eta, y, n, k);
  const seeds = toDtype(model.dtype, gradients(family, trace.eta, y, n, k)); // row i = g_iᵀ
  const bs = yield* outputJacobians(model, theta, trace, seeds, 1);
  const grad = yield* contract(model, trace, bs, new Float64Array(n).fill(1 / n), 1, zeros(model.dtype, model.numParameters));
  return { loss, grad };
}

/** L at parameters θ (a forward pass on the batch). */
export function* lossTask(model: Sequential, family: OutputFamily, theta: Floats, x: Floats, y: Floats, n: number): Task<number> {
  const trace = yield* model.forwardTask(theta, x, n);
  return meanLoss(family, trace.eta, y, n, model.outDim);
}

/** Checks a saved optimizer state's type and version. */
export function checkStateHeader(fn: string, state: unknown, type: string, version: number): asserts state is Record<string, unknown> {
  if (typeof state !== 'object' || state === null) throw new TypeError(`${fn}: 'state' must be an object, got ${describe(state)}`);
  const s = state as Record<string, unknown>;
  if (s.type !== type) throw new RangeError(`${fn}: 'state' is the state of ${describe(s.type)}, expected a state of type '${type}'`);
  if (s.version !== version) throw new RangeError(`${fn}: 'state.version' is ${describe(s.version)}; this version of natgrad reads version ${version}`);
}

/**
 * The checks every optimizer's loadState() starts with: the model is not busy with a stepAsync, the
 * state has the right type and version, and it was saved for a model with as many parameters.
 */
export function checkStateFor(fn: string, model: Sequential, state: unknown, type: string): asserts state is Record<string, unknown> {
  model.checkUnlocked(fn);
  checkStateHeader(fn, state, type, 1);
  const p = model.numParameters;
  if (state.numParameters !== p) throw new RangeError(`${fn}: the state is for ${describe(state.numParameters)} parameters, the model has ${p}`);
}

/** A step counter read from a state: a non-negative integer. */
export function checkCount(fn: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new RangeError(`${fn}: '${name}' must be a non-negative integer, got ${describe(v)}`);
  return v;
}

/**
 * Runs a step task with the asynchronous kernels while the model is locked, so that a second
 * stepAsync, step, setParameters… on the same model throws instead of interleaving with it.
 */
export async function runLocked<T>(model: Sequential, fn: string, task: Task<T>): Promise<T> {
  model.lock(fn);
  try {
    return await runAsync(task);
  } finally {
    model.unlock();
  }
}
