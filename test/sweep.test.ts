// The learning-rate sweep of the demo and of explain --train (lib/train/sweep.ts): a best at an end of the
// grid extends the grid one spacing further, up to twice, and says when it stopped at an edge anyway.
import { describe, expect, it } from 'vitest';
import { sweepLr } from '../lib/train/sweep';

/** A score with its minimum at lr = m (log-distance), and the lrs it was asked for. */
function scorer(m: number) {
  const asked: number[] = [];
  return { asked, run: (lr: number) => (asked.push(lr), Math.abs(Math.log(lr / m))) };
}

describe('sweepLr', () => {
  it('an interior best: the grid alone, nothing extended', () => {
    const s = scorer(0.3);
    const r = sweepLr([1, 0.3, 0.1], s.run, (v) => v);
    expect(s.asked).toEqual([0.1, 0.3, 1]);
    expect(r.best.lr).toBe(0.3);
    expect(r.atEdge).toBe(false);
  });

  it('a best at the small end extends downward until it is interior', () => {
    const s = scorer(0.05);
    const r = sweepLr([1, 0.3, 0.1], s.run, (v) => v);
    expect(s.asked).toEqual([0.1, 0.3, 1, 0.0333, 0.0111]);
    expect(r.runs.map((x) => x.lr)).toEqual([0.0111, 0.0333, 0.1, 0.3, 1]);
    expect(r.best.lr).toBe(0.0333);
    expect(r.atEdge).toBe(false);
  });

  it('a best still at an end after two extensions says so', () => {
    const s = scorer(100);
    const r = sweepLr([0.001, 0.003, 0.01, 0.03], s.run, (v) => v);
    expect(s.asked.slice(4)).toEqual([0.09, 0.27]);
    expect(r.best.lr).toBe(0.27);
    expect(r.atEdge).toBe(true);
  });

  it('every run diverged (Infinity): no extension, atEdge; a grid of one is run once', () => {
    const r = sweepLr(
      [1, 0.1],
      () => Infinity,
      (v) => v
    );
    expect(r.runs).toHaveLength(2);
    expect(r.atEdge).toBe(true);
    const one = scorer(5);
    expect(sweepLr([1], one.run, (v) => v).runs).toHaveLength(1);
    expect(one.asked).toEqual([1]);
    expect(() =>
      sweepLr(
        [],
        () => 0,
        (v) => v
      )
    ).toThrow(/empty/);
  });
});
