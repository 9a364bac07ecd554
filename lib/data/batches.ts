// Mini-batch iteration: a seeded shuffle (the library's xoshiro128** Rng, lib/util/random.ts) and a
// generator of batches over row-major data x [n, inDim], y [n, yWidth].
//
//   for (const b of batches(x, y, n, { batchSize: 64, seed: 1, epoch })) opt.step(b.x, b.y, b.batch);
//
// Epoch e of seed s always visits the samples in the same order — permutation(n, s, e) — so a run
// resumed from a checkpoint (epoch, batch index) sees exactly the batches the uninterrupted run saw.
import { Rng } from '../util/random';
import { checkCount, describe } from '../util/validate';

/** A 32-bit finaliser (murmur3 fmix32). */
function fmix32(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** The Rng seed of (seed, epoch): a 53-bit hash, so that epochs and seeds give unrelated streams. */
function epochSeed(seed: number, epoch: number): number {
  const lo = seed >>> 0,
    hi = Math.floor(seed / 0x100000000) >>> 0;
  const elo = epoch >>> 0,
    ehi = Math.floor(epoch / 0x100000000) >>> 0;
  const a = fmix32(lo ^ fmix32(elo ^ 0x9e3779b9));
  const b = fmix32(hi ^ fmix32(ehi ^ fmix32(elo + 0x632be5ab)));
  return a * 0x200000 + (b & 0x1fffff);
}

function checkSeed(fn: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
    throw new RangeError(`${fn}: '${name}' must be a non-negative safe integer, got ${describe(v)}`);
  return v;
}

/**
 * A uniformly random permutation of 0…n−1 (Fisher–Yates, j = ⌊u·(i + 1)⌋ with 53-bit uniforms u),
 * reproducible from (seed, epoch) on every platform.
 */
export function permutation(n: number, seed = 0, epoch = 0): Uint32Array {
  const fn = 'permutation';
  checkCount(fn, 'n', n);
  const rng = new Rng(epochSeed(checkSeed(fn, 'seed', seed), checkSeed(fn, 'epoch', epoch)));
  const p = new Uint32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  return rng.shuffle(p);
}

export interface BatchOptions {
  /** Samples per batch (a positive integer). Required. */
  batchSize: number;
  /** Visit the samples in the order permutation(n, seed, epoch). Default true. */
  shuffle?: boolean;
  /** Default 0. */
  seed?: number;
  /** Which epoch's order (with shuffle). Default 0. */
  epoch?: number;
  /** Width of a row of x. Default x.length / n. */
  inDim?: number;
  /** Width of a row of y (the family's target width: outDim for gaussian, 1 otherwise). Default y.length / n. */
  yWidth?: number;
  /** Skip a last batch smaller than batchSize (every step then has the same size). Default false. */
  dropLast?: boolean;
}

export interface Batch {
  /** [batch, inDim]: a copy of the rows when shuffled, a view into the caller's x otherwise. */
  x: Float32Array;
  /** [batch, yWidth]: likewise. */
  y: Float32Array;
  /** Rows in this batch. */
  batch: number;
  /** Position of the batch in the epoch (from 0). */
  index: number;
  /** The sample indices in this batch, in order. */
  indices: Uint32Array;
}

/** Batches per epoch: ⌈n / batchSize⌉, or ⌊n / batchSize⌋ with dropLast. */
export function batchCount(n: number, batchSize: number, dropLast = false): number {
  checkCount('batchCount', 'n', n);
  checkCount('batchCount', 'batchSize', batchSize);
  return dropLast ? Math.floor(n / batchSize) : Math.ceil(n / batchSize);
}

function width(fn: string, name: string, arr: Float32Array, n: number, given: number | undefined): number {
  if (given !== undefined) {
    checkCount(fn, `options.${name}`, given);
    if (arr.length !== n * given) throw new RangeError(`${fn}: the data has length ${arr.length}, expected n × ${name} = ${n} × ${given}`);
    return given;
  }
  if (arr.length % n !== 0 || arr.length === 0) throw new RangeError(`${fn}: the data's length ${arr.length} is not a positive multiple of n = ${n}`);
  return arr.length / n;
}

/**
 * One epoch of mini-batches of (x [n, inDim], y [n, yWidth]). Arguments are checked before the first
 * batch is produced (the generator is created eagerly: errors throw at the call).
 */
export function batches(x: Float32Array, y: Float32Array, n: number, options: BatchOptions): Generator<Batch, void, undefined> {
  const fn = 'batches';
  if (!(x instanceof Float32Array)) throw new TypeError(`${fn}: 'x' must be a Float32Array, got ${describe(x)}`);
  if (!(y instanceof Float32Array)) throw new TypeError(`${fn}: 'y' must be a Float32Array, got ${describe(y)}`);
  checkCount(fn, 'n', n);
  if (typeof options !== 'object' || options === null) throw new TypeError(`${fn}: 'options' must be an object, got ${describe(options)}`);
  const known = ['batchSize', 'shuffle', 'seed', 'epoch', 'inDim', 'yWidth', 'dropLast'];
  for (const k of Object.keys(options)) if (!known.includes(k)) throw new RangeError(`${fn}: unknown option '${k}' (options: ${known.join(', ')})`);
  const size = checkCount(fn, 'options.batchSize', options.batchSize);
  const inDim = width(fn, 'inDim', x, n, options.inDim);
  const yWidth = width(fn, 'yWidth', y, n, options.yWidth);
  const shuffle = options.shuffle ?? true;
  if (typeof shuffle !== 'boolean') throw new TypeError(`${fn}: 'options.shuffle' must be a boolean, got ${describe(shuffle)}`);
  const dropLast = options.dropLast ?? false;
  if (typeof dropLast !== 'boolean') throw new TypeError(`${fn}: 'options.dropLast' must be a boolean, got ${describe(dropLast)}`);
  const seed = checkSeed(fn, 'options.seed', options.seed ?? 0);
  const epoch = checkSeed(fn, 'options.epoch', options.epoch ?? 0);
  const order = shuffle ? permutation(n, seed, epoch) : null;
  const count = batchCount(n, size, dropLast);
  return (function* () {
    for (let b = 0; b < count; b++) {
      const start = b * size;
      const m = Math.min(size, n - start);
      if (!order) {
        const indices = new Uint32Array(m);
        for (let i = 0; i < m; i++) indices[i] = start + i;
        yield {
          x: x.subarray(start * inDim, (start + m) * inDim),
          y: y.subarray(start * yWidth, (start + m) * yWidth),
          batch: m,
          index: b,
          indices,
        };
        continue;
      }
      const indices = order.slice(start, start + m);
      const xb = new Float32Array(m * inDim);
      const yb = new Float32Array(m * yWidth);
      for (let i = 0; i < m; i++) {
        const r = indices[i];
        xb.set(x.subarray(r * inDim, (r + 1) * inDim), i * inDim);
        yb.set(y.subarray(r * yWidth, (r + 1) * yWidth), i * yWidth);
      }
      yield { x: xb, y: yb, batch: m, index: b, indices };
    }
  })();
}
