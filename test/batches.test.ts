// lib/data/batches.ts: seeded permutations and one epoch of mini-batches.
import { describe, expect, it } from 'vitest';
import { batchCount, batches, permutation } from '../lib/index';

describe('permutation', () => {
  it('is a permutation, reproducible from (seed, epoch), different across seeds and epochs', () => {
    const p = permutation(1000, 7, 3);
    expect(Array.from(p).sort((a, b) => a - b)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(permutation(1000, 7, 3)).toEqual(p);
    expect(permutation(1000, 7, 4)).not.toEqual(p);
    expect(permutation(1000, 8, 3)).not.toEqual(p);
    expect(permutation(1000, 2 ** 40 + 7, 3)).not.toEqual(p); // high bits of the seed count
    expect(permutation(1)).toEqual(Uint32Array.of(0));
  });

  it('pins the stream (xoshiro128** via lib/util/random.ts): a change of order is a breaking change', () => {
    expect(Array.from(permutation(10, 0, 0))).toEqual(Array.from(permutation(10)));
    expect(Array.from(permutation(10, 0, 0))).toEqual([5, 6, 7, 2, 4, 3, 1, 8, 9, 0]);
  });

  it('is uniform: each position sees each value about equally often', () => {
    const n = 5,
      trials = 4000;
    const counts = new Float64Array(n * n);
    for (let t = 0; t < trials; t++) {
      const p = permutation(n, 1, t);
      for (let i = 0; i < n; i++) counts[i * n + p[i]]++;
    }
    // each cell ~ Binomial(4000, 1/5): mean 800, sd ≈ 25; 5 sd = 125
    for (const c of counts) expect(Math.abs(c - trials / n)).toBeLessThan(125);
  });

  it('rejects bad arguments', () => {
    expect(() => permutation(0)).toThrow(/'n' must be a positive integer/);
    expect(() => permutation(3, -1)).toThrow(/'seed' must be a non-negative safe integer/);
    expect(() => permutation(3, 0, 1.5)).toThrow(/'epoch'/);
  });
});

describe('batches', () => {
  const n = 10,
    inDim = 3;
  const x = Float32Array.from({ length: n * inDim }, (_, i) => i);
  const y = Float32Array.from({ length: n }, (_, i) => 100 + i);

  it('shuffled: copies of the rows in permutation order, every sample once, a short last batch', () => {
    const order = permutation(n, 5, 2);
    const got = [...batches(x, y, n, { batchSize: 4, seed: 5, epoch: 2 })];
    expect(got.map((b) => b.batch)).toEqual([4, 4, 2]);
    expect(got.map((b) => b.index)).toEqual([0, 1, 2]);
    const seen = got.flatMap((b) => Array.from(b.indices));
    expect(seen).toEqual(Array.from(order));
    for (const b of got) {
      b.indices.forEach((r, i) => {
        expect(Array.from(b.x.subarray(i * inDim, (i + 1) * inDim))).toEqual([r * 3, r * 3 + 1, r * 3 + 2]);
        expect(b.y[i]).toBe(100 + r);
      });
      expect(b.x.buffer).not.toBe(x.buffer);
    }
    expect(batchCount(n, 4)).toBe(3);
  });

  it('dropLast skips the short batch; unshuffled batches are views in order', () => {
    expect([...batches(x, y, n, { batchSize: 4, dropLast: true })].map((b) => b.batch)).toEqual([4, 4]);
    expect(batchCount(n, 4, true)).toBe(2);
    const plain = [...batches(x, y, n, { batchSize: 3, shuffle: false })];
    expect(plain.map((b) => Array.from(b.indices))).toEqual([[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]);
    expect(plain[1].x.buffer).toBe(x.buffer);
    expect(Array.from(plain[1].x)).toEqual([9, 10, 11, 12, 13, 14, 15, 16, 17]);
    expect(Array.from(plain[3].y)).toEqual([109]);
  });

  it('infers or checks the row widths; checks its arguments eagerly', () => {
    const y2 = new Float32Array(2 * n);
    expect([...batches(x, y2, n, { batchSize: 5, yWidth: 2 })][0].y.length).toBe(10);
    expect(() => batches(x, y, n, { batchSize: 4, inDim: 4 })).toThrow(/length 30, expected n × inDim = 10 × 4/);
    expect(() => batches(x, new Float32Array(15), n, { batchSize: 4 })).toThrow(/not a positive multiple of n = 10/);
    expect(() => batches(x, y, n, { batchSize: 0 })).toThrow(/'options.batchSize' must be a positive integer/);
    expect(() => batches(x, y, n, { batchSize: 2, shuffle: 'yes' as never })).toThrow(TypeError);
    expect(() => batches(x, y, n, { batchSize: 2, size: 3 } as never)).toThrow(/unknown option 'size'/);
    expect(() => batches([1] as never, y, n, { batchSize: 2 })).toThrow(TypeError);
  });
});
