// The two element types of a model: float32 (the default: the fast kernels, half the memory) and
// float64 (precision science: fits to errors float32 cannot represent). A model's parameters, inputs,
// activations, Jacobians, kernels and solves all have its type; these helpers allocate and check by it.
import { describe } from './validate';

export type Dtype = 'float32' | 'float64';
/** An array of a model's element type. */
export type Floats = Float32Array | Float64Array;

/** The dtype of an array. */
export function dtypeOf(a: Floats): Dtype {
  return a instanceof Float64Array ? 'float64' : 'float32';
}

/** The typed-array class name of a dtype, for messages. */
export function arrayName(dtype: Dtype): string {
  return dtype === 'float64' ? 'Float64Array' : 'Float32Array';
}

/** n zeros of the dtype. */
export function zeros(dtype: Dtype, n: number): Floats {
  return dtype === 'float64' ? new Float64Array(n) : new Float32Array(n);
}

/** n zeros of the same type as `a` (default its length). */
export function zerosLike<T extends Floats>(a: T, n: number = a.length): T {
  return (a instanceof Float64Array ? new Float64Array(n) : new Float32Array(n)) as T;
}

/**
 * Buffers an iterative solve reuses from one product to the next, by name: at N = 100,000 a fresh
 * N × 64 float32 array costs more to fault in and zero than the pass that fills it (~8 ms each).
 */
export type Scratch = Map<string, Floats>;

/** `work`'s buffer of that name when it has n elements of `like`'s type, else a new one (kept there); zeros only when new. */
export function scratchLike<T extends Floats>(work: Scratch | undefined, name: string, like: T, n: number): T {
  const have = work?.get(name);
  if (have && have.length === n && have.constructor === like.constructor) return have as T;
  const fresh = zerosLike(like, n);
  work?.set(name, fresh);
  return fresh;
}

/** The values of `src` (any numbers) rounded to the dtype. */
export function toDtype(dtype: Dtype, src: ArrayLike<number>): Floats {
  return dtype === 'float64' ? Float64Array.from(src) : Float32Array.from(src);
}

/** Throws a TypeError unless `v` is a typed array of the dtype: no silent conversion between float32 and float64. */
export function checkDtype(fn: string, name: string, v: unknown, dtype: Dtype): asserts v is Floats {
  const ok = dtype === 'float64' ? v instanceof Float64Array : v instanceof Float32Array;
  if (ok) return;
  const other = dtype === 'float64' ? v instanceof Float32Array : v instanceof Float64Array;
  throw new TypeError(
    `${fn}: '${name}' must be a ${arrayName(dtype)}, got ${describe(v)}` +
      (other ? ` (the model is ${dtype}: convert with ${arrayName(dtype)}.from(…) if that is what you mean)` : '')
  );
}

/** The typed array of a dtype: Float32Array for 'float32', Float64Array for 'float64' (Floats for Dtype). */
export type ArrayOf<D extends Dtype> = D extends 'float64' ? Float64Array : Float32Array;

/** A dtype option: 'float32' (default) or 'float64'; a RangeError naming the option otherwise. */
export function checkDtypeOption(fn: string, v: unknown): Dtype {
  if (v === undefined) return 'float32';
  if (v === 'float32' || v === 'float64') return v;
  throw new RangeError(`${fn}: option 'dtype' must be 'float32' or 'float64', got ${describe(v)}`);
}
