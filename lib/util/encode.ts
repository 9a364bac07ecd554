// Lossless text encodings of typed arrays for checkpoints: base64 of the little-endian
// IEEE-754 bytes (float32 or float64), so that decode(encode(a)) is bit-identical —
// NaN payloads and −0 included — on every platform.
import { describe } from './validate';

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function bytesOf(a: Float32Array | Float64Array): Buffer {
  const buf = Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  if (LITTLE_ENDIAN) return buf;
  const copy = Buffer.from(buf);
  if (a instanceof Float32Array) copy.swap32();
  else copy.swap64();
  return copy;
}

/** base64 of the little-endian float32 bytes of `a`. */
export function encodeF32(a: Float32Array): string {
  return bytesOf(a).toString('base64');
}
/** base64 of the little-endian float64 bytes of `a`. */
export function encodeF64(a: Float64Array): string {
  return bytesOf(a).toString('base64');
}

function decode(fn: string, what: string, s: unknown, bytes: number, length: number | undefined): Buffer {
  if (typeof s !== 'string') throw new TypeError(`${fn}: ${what} must be a base64 string, got ${describe(s)}`);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4 !== 0) throw new RangeError(`${fn}: ${what} is not valid base64`);
  const buf = Buffer.from(s, 'base64');
  if (buf.length % bytes !== 0) throw new RangeError(`${fn}: ${what} holds ${buf.length} bytes, not a whole number of ${bytes}-byte values`);
  if (length !== undefined && buf.length !== length * bytes) throw new RangeError(`${fn}: ${what} holds ${buf.length / bytes} values, expected ${length}`);
  if (!LITTLE_ENDIAN) {
    if (bytes === 4) buf.swap32();
    else buf.swap64();
  }
  return buf;
}

/** Inverse of encodeF32; `length` (if given) is the expected number of values. */
export function decodeF32(fn: string, what: string, s: unknown, length?: number): Float32Array {
  const buf = decode(fn, what, s, 4, length);
  const out = new Float32Array(buf.length / 4);
  new Uint8Array(out.buffer).set(buf);
  return out;
}
/** Inverse of encodeF64. */
export function decodeF64(fn: string, what: string, s: unknown, length?: number): Float64Array {
  const buf = decode(fn, what, s, 8, length);
  const out = new Float64Array(buf.length / 8);
  new Uint8Array(out.buffer).set(buf);
  return out;
}

/** base64 of the little-endian bytes of a float32 or float64 array (its own width). */
export function encodeFloats(a: Float32Array | Float64Array): string {
  return bytesOf(a).toString('base64');
}
/** Inverse of encodeFloats for an array of `dtype`. */
export function decodeFloats(dtype: 'float32' | 'float64', fn: string, what: string, s: unknown, length?: number): Float32Array | Float64Array {
  return dtype === 'float64' ? decodeF64(fn, what, s, length) : decodeF32(fn, what, s, length);
}
