// One code path, two drivers. The numerical pipelines (forward pass, output
// Jacobians, kernel assembly, solve) are written once as generators that *yield*
// each native kernel call instead of making it. `runSync` performs the calls with
// the synchronous kernels; `runAsync` awaits the `…Async` forms, which run on the
// libuv thread pool, so the event loop stays free. Both drivers execute the same
// calls on the same arrays in the same order, so their results are bit-identical.
import {
  batchedGramInverse,
  batchedGramInverseAsync,
  choleskySolve,
  choleskySolveAsync,
  gemm,
  gemmAsync,
  gram,
  gramAsync,
  layerGramSum,
  layerGramSumAsync,
  pinvSolve,
  pinvSolveAsync,
  type PinvResult,
} from './linalg';

interface Calls {
  gemm: [Parameters<typeof gemm>, Float32Array];
  gram: [Parameters<typeof gram>, Float32Array];
  layerGramSum: [Parameters<typeof layerGramSum>, Float32Array];
  choleskySolve: [Parameters<typeof choleskySolve>, Float32Array];
  pinvSolve: [Parameters<typeof pinvSolve>, PinvResult];
  batchedGramInverse: [Parameters<typeof batchedGramInverse>, Float32Array];
}
type Name = keyof Calls;

/** A native call, described rather than made. */
export interface Call {
  name: Name;
  args: readonly unknown[];
}

/** A computation that yields native calls and returns T. */
export type Task<T> = Generator<Call, T, unknown>;

function* call<N extends Name>(name: N, args: Calls[N][0]): Task<Calls[N][1]> {
  return (yield { name, args }) as Calls[N][1];
}

/** C = alpha·op(A)·op(B) + beta·C (see linalg.gemm). */
export const gemmT = (...args: Parameters<typeof gemm>) => call('gemm', args);
/** K = JᵀJ or J Jᵀ (see linalg.gram). */
export const gramT = (...args: Parameters<typeof gram>) => call('gram', args);
/** K = Σ_l (B_l B_lᵀ) ⊙ (expand_k(A_l A_lᵀ) + 1) (see linalg.layerGramSum). */
export const layerGramSumT = (...args: Parameters<typeof layerGramSum>) => call('layerGramSum', args);
/** X = (K + λI)⁻¹ R by Cholesky (see linalg.choleskySolve). */
export const choleskySolveT = (...args: Parameters<typeof choleskySolve>) => call('choleskySolve', args);
/** X = (K + λI)⁺ R by eigendecomposition (see linalg.pinvSolve). */
export const pinvSolveT = (...args: Parameters<typeof pinvSolve>) => call('pinvSolve', args);
/** out[b] = (G_bᵀG_b + λI)⁻¹ (see linalg.batchedGramInverse). */
export const batchedGramInverseT = (...args: Parameters<typeof batchedGramInverse>) => call('batchedGramInverse', args);

type AnyFn = (...a: readonly unknown[]) => unknown;
const SYNC: Record<Name, AnyFn> = {
  gemm: gemm as AnyFn,
  gram: gram as AnyFn,
  layerGramSum: layerGramSum as AnyFn,
  choleskySolve: choleskySolve as AnyFn,
  pinvSolve: pinvSolve as AnyFn,
  batchedGramInverse: batchedGramInverse as AnyFn,
};
const ASYNC: Record<Name, AnyFn> = {
  gemm: gemmAsync as AnyFn,
  gram: gramAsync as AnyFn,
  layerGramSum: layerGramSumAsync as AnyFn,
  choleskySolve: choleskySolveAsync as AnyFn,
  pinvSolve: pinvSolveAsync as AnyFn,
  batchedGramInverse: batchedGramInverseAsync as AnyFn,
};

/** Runs a task on the calling thread. A failing call is thrown into the task (so its try/catch applies). */
export function runSync<T>(task: Task<T>): T {
  let step = task.next();
  while (!step.done) {
    let value: unknown;
    try {
      value = SYNC[step.value.name](...step.value.args);
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
      value = await ASYNC[step.value.name](...step.value.args);
    } catch (e) {
      step = task.throw(e);
      continue;
    }
    step = task.next(value);
  }
  return step.value;
}
