// A seeded train/test split: the rows in the order of a random permutation (Rng(seed).shuffle), the last
// ⌊fraction·n⌋ of them the test set. The same (data, fraction, seed) always gives the same split.
import { Rng } from '../util/random';
import { zerosLike } from '../util/floats';
import type { Dataset } from './dataset';

/** The rows `rows` of d, in that order (copies, of d's type). */
export function takeRows<D extends Dataset>(d: D, rows: ArrayLike<number>): D {
  const tw = d.y.length / d.n;
  const x = zerosLike(d.x, rows.length * d.inDim),
    y = zerosLike(d.y, rows.length * tw);
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    x.set(d.x.subarray(r * d.inDim, (r + 1) * d.inDim), i * d.inDim);
    y.set(d.y.subarray(r * tw, (r + 1) * tw), i * tw);
  }
  return { x, y, n: rows.length, inDim: d.inDim } as D;
}

/** { train, test } with ⌊fraction·n⌋ test rows (fraction in [0, 1)); fraction 0 keeps every row in train, in order. */
export function trainTestSplit<D extends Dataset>(d: D, fraction: number, seed = 0): { train: D; test: D } {
  if (!(fraction >= 0 && fraction < 1)) throw new RangeError(`trainTestSplit: 'fraction' must be in [0, 1), got ${fraction}`);
  const nTest = Math.floor(fraction * d.n);
  if (nTest >= d.n) throw new RangeError(`trainTestSplit: a fraction of ${fraction} leaves no training rows (${d.n} rows)`);
  const perm = Array.from({ length: d.n }, (_, i) => i);
  if (nTest > 0) new Rng(seed).shuffle(perm);
  return { train: takeRows(d, perm.slice(0, d.n - nTest)), test: takeRows(d, perm.slice(d.n - nTest)) };
}
