// A fast check of the demo harness on tiny settings (the full demo is `npm run demo`).
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { main } from '../lib/cli';
import { loadMnist } from '../lib/data/mnist';
import { compare, comparisonSvg, formatComparison } from '../lib/demo/compare';
import { mnistProblem, type Problem, sincProblem } from '../lib/demo/problems';
import { evaluate, train } from '../lib/train/trainer';
import { categorical } from '../lib/distributions';
import { linear, sequential } from '../lib/nn';

describe('MNIST loader', () => {
  it('a fixed, stratified 8,000/2,000 split of the package digits, pixels in [0, 1]', () => {
    const { train: tr, test: te } = loadMnist();
    expect([tr.n, te.n, tr.inDim, tr.classes]).toEqual([8000, 2000, 784, 10]);
    expect(tr.x.length).toBe(8000 * 784);
    const counts = (y: Float32Array) => Array.from({ length: 10 }, (_, d) => y.filter((v) => v === d).length);
    const ct = counts(tr.y),
      ce = counts(te.y);
    // the package has 863 to 1127 images per digit; 80% of each goes to train
    for (let d = 0; d < 10; d++) expect(Math.abs(ct[d] - 4 * ce[d])).toBeLessThanOrEqual(5);
    expect(ct.reduce((a, b) => a + b) + ce.reduce((a, b) => a + b)).toBe(10000);
    let min = Infinity,
      max = -Infinity,
      sum = 0;
    for (const v of te.x) {
      min = Math.min(min, v);
      max = Math.max(max, v);
      sum += v;
    }
    expect([min, max]).toEqual([0, 1]);
    expect(sum / te.x.length).toBeGreaterThan(0.08); // ~13% of a digit image is ink
    expect(sum / te.x.length).toBeLessThan(0.2);
    // fixed: the same labels every time (the seeded order), and prefixes are views
    expect(Array.from(tr.y.subarray(0, 12))).toEqual([2, 9, 0, 1, 8, 3, 9, 3, 3, 1, 6, 3]);
    const small = loadMnist({ train: 100, test: 10 });
    expect(small.train.n).toBe(100);
    expect(small.train.x.buffer).toBe(tr.x.buffer);
    expect(() => loadMnist({ train: 9000 })).toThrow("option 'train' must be an integer in [1, 8000]");
  });
});

describe('trainer', () => {
  it('evaluate(): mean loss and accuracy by hand', () => {
    const model = sequential([linear(2, 2)], { seed: 0 });
    model.setParameters(new Float32Array([1, 0, 0, 1, 0, 0])); // η = x
    const d = { x: new Float32Array([2, 0, 0, 2, 1, 3]), y: new Float32Array([0, 0, 1]), n: 3, inDim: 2 };
    const r = evaluate(model, categorical, d, 2);
    const lse = (a: number, b: number) => Math.log(Math.exp(a) + Math.exp(b));
    expect(r.loss).toBeCloseTo((lse(2, 0) - 2 + lse(0, 2) - 0 + lse(1, 3) - 3) / 3, 6);
    expect(r.acc).toBeCloseTo(2 / 3, 12);
  });

  it('budgets in steps and epochs, evaluation points, deterministic batches', () => {
    const p = mnistProblem({ train: 200, test: 100 });
    const run = (optimizer: 'ngd' | 'adam', budget: { steps?: number; epochs?: number }) =>
      train(p.model(), 'categorical', p.train, p.test, { optimizer, lr: optimizer === 'ngd' ? 1 : 1e-3, batch: 50, budget, evalEvery: 2 });
    const a = run('adam', { steps: 5 });
    expect(a.steps).toBe(5);
    expect(a.points.map((q) => q.step)).toEqual([0, 2, 4, 5]);
    expect(a.points[3].epoch).toBeCloseTo(5 / 4, 12);
    const b = run('adam', { epochs: 2 });
    expect(b.steps).toBe(8);
    expect(run('adam', { steps: 5 }).final.trainLoss).toBe(a.final.trainLoss); // same seed, same batches
    const n = run('ngd', { steps: 4 });
    expect(n.final.trainLoss).toBeLessThan(n.points[0].trainLoss);
    expect(n.final.damping).toBeGreaterThan(0);
  });
});

/** The demo's problems on tiny settings with step budgets (deterministic, a few seconds). */
function tiny(p: Problem, steps: Record<string, number>, batch?: number): Problem {
  return {
    ...p,
    contenders: p.contenders.map((c) => ({
      ...c,
      batch: batch ?? c.batch,
      budget: { steps: steps[c.optimizer] },
      sweepBudget: { steps: Math.ceil(steps[c.optimizer] / 2) },
      evalEvery: 5,
      evalSeconds: undefined,
    })),
  };
}

describe('demo harness', () => {
  it('sinc: NGD fits far better than the best Adam and SGD of their sweeps, in fewer steps', () => {
    const cmp = compare(tiny(sincProblem({ steps: 30 }), { ngd: 30, adam: 150, sgd: 150 }));
    const [ngd, adam, sgd] = cmp.results;
    expect([ngd, adam, sgd].map((r) => r.contender.optimizer)).toEqual(['ngd', 'adam', 'sgd']);
    // the sweep's best is the lowest final training loss, and it is the one run with the full budget
    for (const r of [adam, sgd]) {
      const best = r.sweep.reduce((a, b) => (b.score < a.score ? b : a));
      expect(r.best.config.lr).toBe(best.lr);
      expect(r.best.steps).toBe(150);
      // every lr of the grid was tried, and the grid grew past an end where the best lay (lib/train/sweep.ts)
      const lrs = r.sweep.map((s) => s.lr);
      expect(lrs).toEqual(expect.arrayContaining(r.contender.lrs));
      if (!r.atEdge) expect(best.lr > Math.min(...lrs) && best.lr < Math.max(...lrs)).toBe(true);
    }
    const mse = (r: typeof ngd) => 2 * r.best.final.trainLoss;
    expect(mse(ngd)).toBeLessThan(1e-4);
    expect(mse(adam)).toBeGreaterThan(10 * mse(ngd));
    expect(mse(sgd)).toBeGreaterThan(10 * mse(ngd));
    const table = formatComparison(cmp);
    const lines = table.split('\n');
    expect(lines[2]).toMatch(/^optimizer +lr +batch +steps +time +train MSE +test MSE +steps→1e-4 +steps→1e-8$/);
    expect(lines[4]).toMatch(/^NGD +1 +200 +30 /);
    expect(lines[5]).toMatch(/^Adam /);
    expect(lines[6]).toMatch(/^SGD /);
    expect(table).toContain('lr sweep');
  });

  it('MNIST (tiny): every optimizer learns; the table and the SVG have every curve', () => {
    const cmp = compare(tiny(mnistProblem({ train: 300, test: 200 }), { ngd: 10, adam: 30, sgd: 30 }, 32));
    for (const r of cmp.results) {
      expect(r.best.diverged).toBeUndefined();
      expect(r.best.final.trainLoss).toBeLessThan(r.best.points[0].trainLoss);
      expect(r.best.final.testAcc).toBeGreaterThan(0.5); // from ~10% at the start
    }
    const table = formatComparison(cmp);
    expect(table).toMatch(/optimizer +lr +batch +steps +time +train loss +train acc +test loss +test acc +best test +time→93% +time→97%/);
    expect(table).toMatch(/\nNGD +[\d.e-]+ +32 +10 /);
    const sinc = compare(tiny(sincProblem({ steps: 5 }), { ngd: 5, adam: 10, sgd: 10 }));
    const svg = comparisonSvg([cmp, sinc]);
    expect(svg.match(/<path d=/g)).toHaveLength(12); // 3 optimizers × 2 panels × 2 problems
    expect(svg).toContain('mnist: test accuracy');
    expect(svg).toContain('sinc: training MSE');
  });
});

describe('natgrad demo (CLI)', () => {
  it('--only sinc --quick: prints the table, writes the SVG and the JSON', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'natgrad-demo-'));
    const out: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
    const write = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => (out.push(String(s)), true));
    try {
      const code = await main(['demo', '--only', 'sinc', '--quick', '--svg', join(dir, 'c.svg'), '--json', join(dir, 'runs.json')]);
      expect(code).toBe(0);
    } finally {
      log.mockRestore();
      write.mockRestore();
    }
    const text = out.join('\n');
    expect(text).toMatch(/optimizer +lr +batch +steps +time +train MSE +test MSE/);
    expect(text).toMatch(/\nNGD +1 +200 +20 /);
    expect(text).not.toContain('MNIST');
    expect(readFileSync(join(dir, 'c.svg'), 'utf8')).toContain('sinc: training MSE');
    const runs = JSON.parse(readFileSync(join(dir, 'runs.json'), 'utf8'));
    expect(runs.problems.map((p: { problem: string }) => p.problem)).toEqual(['sinc']);
    expect(runs.problems[0].results.map((r: { optimizer: string }) => r.optimizer)).toEqual(['ngd', 'adam', 'sgd']);
  });

  it('rejects unknown options', async () => {
    const err: string[] = [];
    const e = vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void err.push(a.join(' ')));
    try {
      expect(await main(['demo', '--fast'])).toBe(1);
    } finally {
      e.mockRestore();
    }
    expect(err.join('\n')).toMatch(/^natgrad demo: unknown option '--fast'/);
  });
});
