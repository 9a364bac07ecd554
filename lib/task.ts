// One code path, two drivers. The numerical pipelines (forward pass, output
// Jacobians, kernel assembly, solve) are written once as generators that *yield*
// each native kernel call instead of making it. `runSync` performs the calls with
// the synchronous kernels; `runAsync` awaits the `…Async` forms, which run on the
// libuv thread pool, so the event loop stays free. Both drivers execute the same
// calls on the same arrays in the same order, so their results are bit-identical.
import * as linalg from './linalg';
import type { Floats } from './native';

/** The kernels a task may yield: each runs as linalg[name] (sync) or linalg[name + 'Async']. */
type Name = 'gemm' | 'gram' | 'layerGramSum' | 'choleskySolve' | 'pinvSolve' | 'batchedGramInverse' | 'exactStep';

/** A native call, described rather than made. */
export interface Call {
  name: Name;
  args: readonly unknown[];
}

/** A computation that yields native calls and returns T. */
export type Task<T> = Generator<Call, T, unknown>;

function* call<R>(name: Name, args: readonly unknown[]): Task<R> {
  return (yield { name, args }) as R;
}

// Each kernel's task form takes linalg's arguments and is generic over the arrays' type like it
// (Float32Array, or Float64Array for the kernels with a float64 form).

/** C = alpha·op(A)·op(B) + beta·C (see linalg.gemm). */
export const gemmT = <T extends Floats = Float32Array>(a: T, b: T, m: number, n: number, k: number, opts?: linalg.GemmOptions<T>) =>
  call<T>('gemm', [a, b, m, n, k, opts]);
/** K = JᵀJ or J Jᵀ (see linalg.gram). */
export const gramT = <T extends Floats = Float32Array>(j: T, p: number, m: number, opts?: linalg.GramOptions<T>) => call<T>('gram', [j, p, m, opts]);
/** K = Σ_l (B_l B_lᵀ) ⊙ (expand_k(A_l A_lᵀ) + 1) (see linalg.layerGramSum). */
export const layerGramSumT = <T extends Floats = Float32Array>(bs: readonly T[], as: readonly T[], n: number, k: number, out?: T) =>
  call<T>('layerGramSum', [bs, as, n, k, out]);
/** X = (K + λI)⁻¹ R by Cholesky (see linalg.choleskySolve). */
export const choleskySolveT = <T extends Floats = Float32Array>(k: T, m: number, r: T, nrhs?: number, opts?: linalg.SolveOptions<T>) =>
  call<T>('choleskySolve', [k, m, r, nrhs, opts]);
/** X = (K + λI)⁺ R by eigendecomposition (see linalg.pinvSolve). */
export const pinvSolveT = <T extends Floats = Float32Array>(k: T, m: number, r: T, nrhs?: number, opts?: linalg.PinvOptions<T>) =>
  call<linalg.PinvResult<T>>('pinvSolve', [k, m, r, nrhs, opts]);
/** out[b] = (G_bᵀG_b + λI)⁻¹ (see linalg.batchedGramInverse). */
export const batchedGramInverseT = (...args: Parameters<typeof linalg.batchedGramInverse>) => call<Float32Array>('batchedGramInverse', args);
/** The device-resident exact step (see linalg.exactStep; CUDA backend only). */
export const exactStepT = (...args: Parameters<typeof linalg.exactStep>) => call<linalg.DeviceStepResult>('exactStep', args);

/** A task that makes no native call and returns `value` (a computation done on the calling thread, as a Task). */
// biome-ignore lint/correctness/useYield: a Task without native calls yields nothing, by definition
export function* valueTask<T>(value: T): Task<T> {
  return value;
}

type AnyFn = (...a: readonly unknown[]) => unknown;
const syncForm = (name: Name) => linalg[name] as AnyFn;
const asyncForm = (name: Name) => linalg[`${name}Async`] as AnyFn;

/** Runs a task on the calling thread. A failing call is thrown into the task (so its try/catch applies). */
export function runSync<T>(task: Task<T>): T {
  let step = task.next();
  while (!step.done) {
    let value: unknown;
    try {
      value = syncForm(step.value.name)(...step.value.args);
    } catch (e) {
      step = task.throw(e);
      continue;
    }
    step = task.next(value);
  }
  return step.value;
}

/** Runs a task with the asynchronous kernels: the heavy calls leave the event loop. */
export async function runAsync<T>(task: Task<T>): Promise<T> {
  let step = task.next();
  while (!step.done) {
    let value: unknown;
    try {
      value = await asyncForm(step.value.name)(...step.value.args);
    } catch (e) {
      step = task.throw(e);
      continue;
    }
    step = task.next(value);
  }
  return step.value;
}
