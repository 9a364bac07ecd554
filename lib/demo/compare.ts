// NGD vs Adam vs SGD on a Problem: a small learning-rate sweep per optimizer, the best run of each,
// a side-by-side table and the curves (SVG panels, text charts).
import { lineCharts, type Panel, type Series } from '../plot/svg';
import type { Contender, Problem } from './problems';
import { sweepLr } from '../train/sweep';
import { OPTIMIZER_LABEL, type Point, type RunResult, type StepEvent, train } from '../train/trainer';

export interface SweepEntry {
  lr: number;
  /** Final training loss of the sweep run (Infinity if it diverged). */
  score: number;
  diverged?: string;
}

export interface ContenderResult {
  contender: Contender;
  sweep: SweepEntry[];
  best: RunResult;
  /** Seconds spent on the sweep runs that are not `best`. */
  sweepSeconds: number;
  /** The best lr is still at the edge of the range tried (after extending it twice), or every run diverged. */
  atEdge?: boolean;
}

export interface Comparison {
  problem: Problem;
  results: ContenderResult[];
}

export interface CompareHooks {
  /** Called before each run: sweep (with its lr) or final. */
  onRun?(c: Contender, lr: number, phase: 'sweep' | 'final'): void;
  onRunDone?(c: Contender, lr: number, phase: 'sweep' | 'final', r: RunResult): void;
  onStep?(c: Contender, e: StepEvent): void;
}

const sameBudget = (a: Contender) => a.sweepBudget === undefined || JSON.stringify(a.sweepBudget) === JSON.stringify(a.budget);

/** Runs the sweep and the final run of every contender. Every run starts from the same initial model. */
export function compare(problem: Problem, hooks: CompareHooks = {}): Comparison {
  const results: ContenderResult[] = [];
  for (const c of problem.contenders) {
    const run = (lr: number, phase: 'sweep' | 'final') => {
      hooks.onRun?.(c, lr, phase);
      const budget = phase === 'sweep' && c.sweepBudget ? c.sweepBudget : c.budget;
      const r = train(
        problem.model(),
        problem.loss,
        problem.train,
        problem.test,
        {
          optimizer: c.optimizer,
          lr,
          batch: c.batch,
          damping: c.damping,
          momentum: c.momentum,
          ngd: c.ngd,
          budget,
          evalEvery: c.evalEvery,
          evalSeconds: c.evalSeconds,
          seed: 0,
        },
        { onStep: hooks.onStep && ((e) => hooks.onStep!(c, e)) }
      );
      hooks.onRunDone?.(c, lr, phase, r);
      return r;
    };
    const sweep: SweepEntry[] = [];
    const runs: RunResult[] = [];
    if (c.lrs.length === 1) {
      // nothing to choose: the one lr is run once with the full budget
      const r = run(c.lrs[0], 'final');
      sweep.push({ lr: c.lrs[0], score: score(r), ...(r.diverged ? { diverged: r.diverged } : {}) });
      results.push({ contender: c, sweep, best: r, sweepSeconds: 0 });
      continue;
    }
    // the grid, extended past an edge where the best lies (lib/train/sweep.ts)
    const sw = sweepLr(c.lrs, (lr) => run(lr, 'sweep'), score);
    for (const s of sw.runs) {
      runs.push(s.result);
      sweep.push({ lr: s.lr, score: s.score, ...(s.result.diverged ? { diverged: s.result.diverged } : {}) });
    }
    let sweepSeconds = runs.reduce((s, r) => s + r.seconds, 0);
    let best = sw.best.result;
    if (!sameBudget(c)) best = run(sw.best.lr, 'final');
    else sweepSeconds -= best.seconds;
    results.push({ contender: c, sweep, best, sweepSeconds, ...(sw.atEdge ? { atEdge: true } : {}) });
  }
  return { problem, results };
}

/** The sweep criterion: final training loss, Infinity for a diverged or non-finite run. */
function score(r: RunResult): number {
  return r.diverged || !Number.isFinite(r.final.trainLoss) ? Infinity : r.final.trainLoss;
}

/** The first evaluation point where f holds, or undefined. */
export function firstPoint(r: RunResult, f: (p: Point) => boolean): Point | undefined {
  return r.points.find(f);
}

// ---- the table ----

const fmtLr = (v: number) => (v >= 0.01 && v < 1000 ? String(Number(v.toPrecision(3))) : v.toExponential(0).replace('e-', 'e-'));
const fmtExp = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '—' : v.toExponential(2));
const fmtPct = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '—' : `${(100 * v).toFixed(2)}%`);
const fmtS = (v: number | undefined) => (v === undefined ? '—' : `${v.toFixed(1)} s`);

function table(rows: string[][], right: boolean[]): string {
  const w = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  const line = (r: string[]) =>
    r
      .map((s, c) => (right[c] ? s.padStart(w[c]) : s.padEnd(w[c])))
      .join('  ')
      .trimEnd();
  return [line(rows[0]), w.map((n) => '-'.repeat(n)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

/** The side-by-side table of a comparison, with the sweep below it. */
export function formatComparison(cmp: Comparison): string {
  const { problem, results } = cmp;
  const classif = problem.loss !== 'gaussian';
  const head = ['optimizer', 'lr', 'batch', 'steps', 'time'];
  const accT = problem.accuracyTargets ?? [];
  const mseT = problem.mseTargets ?? [];
  if (classif) head.push('train loss', 'train acc', 'test loss', 'test acc', 'best test', ...accT.map((a) => `time→${(100 * a).toFixed(0)}%`));
  else head.push('train MSE', 'test MSE', ...mseT.map((m) => `steps→${m.toExponential(0)}`));
  const rows = [head];
  for (const { contender: c, best } of results) {
    const f = best.final;
    const row = [
      OPTIMIZER_LABEL[c.optimizer] + (best.diverged ? ' (diverged)' : ''),
      fmtLr(best.config.lr),
      String(c.batch),
      String(best.steps),
      fmtS(best.seconds),
    ];
    if (classif) {
      const bestAcc = Math.max(...best.points.map((p) => p.testAcc ?? -Infinity));
      row.push(
        fmtExp(f.trainLoss),
        fmtPct(f.trainAcc),
        fmtExp(f.testLoss),
        fmtPct(f.testAcc),
        fmtPct(bestAcc),
        ...accT.map((a) => fmtS(firstPoint(best, (p) => (p.testAcc ?? 0) >= a)?.time))
      );
    } else {
      // gaussian loss = ½ squared error: MSE = 2 L
      row.push(fmtExp(2 * f.trainLoss), fmtExp(2 * f.testLoss), ...mseT.map((m) => String(firstPoint(best, (p) => 2 * p.trainLoss <= m)?.step ?? '—')));
    }
    rows.push(row);
  }
  const right = head.map((_, i) => i > 0);
  const sweeps = results
    .map(({ contender: c, sweep, best, atEdge }) => {
      const what = c.sweepBudget && JSON.stringify(c.sweepBudget) !== JSON.stringify(c.budget) ? ` (${budgetText(c.sweepBudget)} each)` : '';
      const list = sweep
        .map(
          (s) =>
            `${fmtLr(s.lr)}${s.lr === best.config.lr ? '*' : ''} → ${s.diverged ? 'diverged' : classif ? s.score.toFixed(4) : (2 * s.score).toExponential(1)}`
        )
        .join(', ');
      return `  ${OPTIMIZER_LABEL[c.optimizer].padEnd(4)} ${list}${what}${atEdge ? ' (the best is at the edge of the range tried)' : ''}`;
    })
    .join('\n');
  const damping = (c: Contender) =>
    c.optimizer !== 'ngd' ? '' : c.ngd?.adaptive === false ? `, λ = ${c.damping ?? 1e-3} fixed` : `, λ₀ = ${c.damping ?? 1e-3} (Levenberg–Marquardt)`;
  const budgets = results
    .map(({ contender: c }) => `${OPTIMIZER_LABEL[c.optimizer]} ${budgetText(c.budget)}${damping(c)}${c.momentum ? `, momentum ${c.momentum}` : ''}`)
    .join('; ');
  return [
    `${problem.title} — ${problem.modelText}`,
    `budgets: ${budgets}`,
    table(rows, right),
    `lr sweep (final training ${classif ? 'loss' : 'MSE'}; * = best, shown above; a best at an end of the grid extends it):`,
    sweeps,
  ].join('\n');
}

function budgetText(b: { steps?: number; epochs?: number; seconds?: number }): string {
  const parts: string[] = [];
  if (b.steps !== undefined) parts.push(`${b.steps} steps`);
  if (b.epochs !== undefined) parts.push(`${b.epochs} epochs`);
  if (b.seconds !== undefined) parts.push(`${Number(b.seconds.toFixed(1))} s`);
  return parts.join(' or ');
}

// ---- the curves ----

/** SVG panels of a comparison: classification → test accuracy and train loss vs time; regression → train MSE vs step. */
export function comparisonPanels(cmp: Comparison): Panel[] {
  const { problem, results } = cmp;
  const label = (r: ContenderResult) => `${OPTIMIZER_LABEL[r.contender.optimizer]} (lr ${fmtLr(r.best.config.lr)})`;
  if (problem.loss === 'gaussian') {
    const series: Series[] = results.map((r) => ({ name: label(r), x: r.best.points.map((p) => p.step), y: r.best.points.map((p) => 2 * p.trainLoss) }));
    const test: Series[] = results.map((r) => ({
      name: `${label(r)} test`,
      x: r.best.points.map((p) => p.step),
      y: r.best.points.map((p) => 2 * p.testLoss),
      dash: true,
    }));
    return [
      { series, options: { title: `${problem.name}: training MSE`, xLabel: 'step', yLabel: 'MSE', logY: true, logX: false } },
      { series: test, options: { title: `${problem.name}: test MSE`, xLabel: 'step', yLabel: 'MSE', logY: true } },
    ];
  }
  const loss: Series[] = results.map((r) => ({ name: label(r), x: r.best.points.map((p) => p.time), y: r.best.points.map((p) => p.trainLoss) }));
  const acc: Series[] = results.map((r) => ({ name: label(r), x: r.best.points.map((p) => p.time), y: r.best.points.map((p) => 100 * (p.testAcc ?? NaN)) }));
  // the accuracy axis starts 10 points below the lowest final accuracy (rounded down to 10): the early climb from ~10% is cut off
  const finals = results.map((r) => 100 * (r.best.final.testAcc ?? 0)).filter(Number.isFinite);
  const accFloor = Math.max(0, Math.min(80, 10 * Math.floor(Math.min(...finals) / 10) - 10));
  return [
    { series: loss, options: { title: `${problem.name}: training loss`, xLabel: 'training seconds', yLabel: 'cross-entropy', logY: true } },
    { series: acc, options: { title: `${problem.name}: test accuracy`, xLabel: 'training seconds', yLabel: 'test accuracy (%)', yMin: accFloor, yMax: 100 } },
  ];
}

/** One SVG with two panels per comparison (a row each). */
export function comparisonSvg(cmps: Comparison[], title = 'natgrad demo: NGD vs Adam vs SGD'): string {
  return lineCharts(cmps.flatMap(comparisonPanels), { columns: 2, title });
}
