// A learning-rate sweep whose best value is never left at the edge of what was tried: after the grid,
// while the best lr is the smallest or the largest tried, one more lr beyond it is run (one grid spacing
// further: the ratio of neighbouring grid values, 3 for a grid of one), up to `extend` times. A sweep
// whose best sits at an edge only says that the range was too narrow; this one reports an interior best,
// or says (atEdge) that it stopped at an edge after the extensions.

export interface SweepRun<R> {
  lr: number;
  result: R;
  /** Lower is better; Infinity for a run that diverged. */
  score: number;
}

export interface Sweep<R> {
  /** Every run, in lr order. */
  runs: SweepRun<R>[];
  /** The best run. */
  best: SweepRun<R>;
  /** The best is still the smallest or largest lr tried (after `extend` extensions), or every run diverged. */
  atEdge: boolean;
}

export function sweepLr<R>(grid: readonly number[], run: (lr: number) => R, score: (r: R) => number, extend = 2): Sweep<R> {
  if (grid.length === 0) throw new RangeError('sweepLr: the grid is empty');
  const lrs = [...grid].sort((a, b) => a - b);
  const factor = lrs.length > 1 ? lrs[1] / lrs[0] : 3;
  const runs: SweepRun<R>[] = lrs.map((lr) => {
    const result = run(lr);
    return { lr, result, score: score(result) };
  });
  const bestOf = () => runs.reduce((b, r) => (r.score < b.score ? r : b));
  const edge = () => {
    const b = bestOf();
    if (!Number.isFinite(b.score)) return 0;
    return b === runs[0] ? -1 : b === runs[runs.length - 1] ? 1 : 0;
  };
  for (let e = 0; e < extend && lrs.length > 1 && edge() !== 0; e++) {
    const side = edge();
    const lr = Number((side < 0 ? runs[0].lr / factor : runs[runs.length - 1].lr * factor).toPrecision(3)); // 0.0333, not 0.03333333333333334
    const result = run(lr);
    const r = { lr, result, score: score(result) };
    if (side < 0) runs.unshift(r);
    else runs.push(r);
  }
  const best = bestOf();
  return { runs, best, atEdge: !Number.isFinite(best.score) || (runs.length > 1 && edge() !== 0) };
}
