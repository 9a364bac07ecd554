// Argument checks shared by the models, the output families and the optimizers.
// Every failure names the function and the argument: TypeError for a wrong kind
// of value, RangeError for a right kind with a wrong size or value.

/** A short description of a value for error messages. */
export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (ArrayBuffer.isView(v)) return `${v.constructor.name}(${(v as unknown as ArrayLike<unknown>).length ?? v.byteLength})`;
  if (Array.isArray(v)) return `Array(${v.length})`;
  if (typeof v === 'string') return `'${v}'`;
  if (typeof v === 'object') return 'an object';
  return String(v);
}

/** A positive safe integer. */
export function checkCount(fn: string, name: string, v: unknown): number {
  if (typeof v !== 'number') throw new TypeError(`${fn}: '${name}' must be a number, got ${describe(v)}`);
  if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`${fn}: '${name}' must be a positive integer, got ${v}`);
  return v;
}

/** A Float32Array of exactly `length` elements, all finite. */
export function checkF32(fn: string, name: string, v: unknown, length: number, what: string): Float32Array {
  if (!(v instanceof Float32Array)) throw new TypeError(`${fn}: '${name}' must be a Float32Array, got ${describe(v)}`);
  return checkFinite(fn, name, v, length, what);
}

/** The length and finiteness checks of checkF32 for an array whose type was checked already (a Float64Array of a float64 model). */
export function checkFinite<T extends Float32Array | Float64Array>(fn: string, name: string, v: T, length: number, what: string): T {
  if (v.length !== length) throw new RangeError(`${fn}: '${name}' must have length ${length} (${what}), got ${v.length}`);
  for (let i = 0; i < length; i++) {
    if (!Number.isFinite(v[i])) throw new RangeError(`${fn}: '${name}[${i}]' is ${v[i]}; every entry must be finite`);
  }
  return v;
}

/** A finite number ≥ min (> min when strict). `label` names the argument as it should read, e.g. "option 'lr'". */
export function checkNumber(fn: string, label: string, v: unknown, min: number, strict = false): number {
  if (typeof v !== 'number') throw new TypeError(`${fn}: ${label} must be a number, got ${describe(v)}`);
  if (!Number.isFinite(v) || (strict ? v <= min : v < min))
    throw new RangeError(`${fn}: ${label} must be a finite number ${strict ? '>' : '≥'} ${min}, got ${v}`);
  return v;
}

/** Throws unless `options` is an object whose keys are all in `names`. */
export function checkOptions(fn: string, options: unknown, names: readonly string[]): asserts options is Record<string, unknown> {
  if (typeof options !== 'object' || options === null) throw new TypeError(`${fn}: 'options' must be an object, got ${describe(options)}`);
  for (const key of Object.keys(options)) if (!names.includes(key)) throw new RangeError(`${fn}: unknown option '${key}' (options: ${names.join(', ')})`);
}
