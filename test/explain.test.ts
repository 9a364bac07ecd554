// natgrad explain: every claim's verdict is asserted from its measured number against the claim's
// threshold (never from its text), the report's float64 machinery is checked against the independent
// references of test/helpers/reference.ts, and the CLI runs the default problem in under 30 s.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { captureConsole } from './helpers/console';
import { main } from '../lib/cli';
import { compareTraining, explain, type ExplainReport, formatReport, NaturalGradient } from '../lib/index';
import type { Claim } from '../lib/explain/claim';
import { batch64, makeProblem } from '../lib/explain/problem';
import { chain64, perSample64 } from '../lib/explain/reference64';
import { type Arch, denseNaturalGradient, relErr } from './helpers/reference';

const EPS32 = 2 ** -23;
const byId = (r: ExplainReport, id: Claim['id']) => r.claims.find((c) => c.id === id)!;
const num = (c: Claim, key: string) => c.details[key] as number;

describe('explain(): the default problem (MLP 2-16-16-2 tanh, gaussian, N = 16)', () => {
  let report: ExplainReport;
  beforeAll(() => {
    report = explain();
  });

  it('describes the problem and the reference', () => {
    expect(report.problem).toMatchObject({ loss: 'gaussian', hidden: [16, 16], k: 2, r: 2, P: 354, batch: 16 });
    expect(report.exact.rank).toBe(32); // N·k = 32 ≤ P: F_θ has full rank N·k
    expect(report.claims.map((c) => c.id)).toEqual([
      'single-sample',
      'batch-average',
      'stacked-jacobian',
      'chain-layers',
      'chain-fan-out',
      'softmax-fisher',
      'minibatch-step',
      'float32-pinv',
      'cost',
    ]);
  });

  it("one sample: the proposal's formula equals F_θ⁺ g_θ to float64 rounding (holds)", () => {
    const c = byId(report, 'single-sample');
    expect(c.measured).toBeLessThan(1e-5);
    expect(c.verdict).toBe('holds');
    expect(num(c, 'rankG')).toBe(2); // full column rank: the proposal's assumption
  });

  it('batch: the average of per-sample steps is more than 10% off (fails); the stacked J is exact (holds)', () => {
    const avg = byId(report, 'batch-average');
    expect(avg.measured).toBeGreaterThan(0.1);
    expect(avg.verdict).toBe('fails');
    const st = byId(report, 'stacked-jacobian');
    expect(st.measured).toBeLessThan(1e-5);
    expect(st.verdict).toBe('holds');
    expect(num(st, 'size')).toBe(32);
  });

  it('chain through the layers fails, and the Greville condition that breaks is the second one', () => {
    const c = byId(report, 'chain-layers');
    expect(c.measured).toBeGreaterThan(0.1);
    expect(c.verdict).toBe('fails');
    // range(AᵀAB) ⊆ range(B) holds (B has full row rank) …
    expect(num(c, 'greville1_rangeAtAB_in_rangeB')).toBeLessThan(1e-10);
    // … range(BBᵀAᵀ) ⊆ range(Aᵀ) does not, and B⁺A⁺ alone is already off
    expect(num(c, 'greville2_rangeBBtAt_in_rangeAt')).toBeGreaterThan(0.1);
    expect(num(c, 'splitDifference')).toBeGreaterThan(0.1);
  });

  it('the fan-out over the batch fails, with both of its range conditions broken', () => {
    const c = byId(report, 'chain-fan-out');
    expect(c.measured).toBeGreaterThan(0.1);
    expect(c.verdict).toBe('fails');
    expect(num(c, 'greville1_rangeAtAB_in_rangeB')).toBeGreaterThan(0.1);
    expect(num(c, 'perSampleAverageDifference')).toBe(byId(report, 'batch-average').measured);
  });

  it('softmax: F_η has rank k − 1 (fails), and with F⁺ the step is the same in function space', () => {
    const c = byId(report, 'softmax-fisher');
    expect(c.measured).toBeLessThan(1e-12);
    expect(c.verdict).toBe('fails');
    expect(num(c, 'rankF')).toBe(2);
    expect(num(c, 'meanParameterDifferenceWithPinv')).toBeLessThan(1e-10);
    expect(num(c, 'thetaDifferenceWithPinv')).toBeGreaterThan(1e-3);
    expect(num(c, 'logitShiftSpread')).toBeLessThan(1e-10);
  });

  it('minibatch Moore–Penrose step: fits the minibatch exactly, is large, and hurts held-out loss; damping fixes it', () => {
    const c = byId(report, 'minibatch-step');
    const l0 = c.details['lambda=0'] as Record<string, number>;
    const l1 = c.details['lambda=0.1'] as Record<string, number>;
    expect(num(c, 'rank')).toBeLessThan(num(c, 'P') / 10); // N·k ≪ P
    expect(num(c, 'fitResidual')).toBeLessThan(1e-8); // F_i G_iᵀ δ = g_i for every sample of the minibatch
    expect(l0.batchLossLinearised).toBeLessThan(1e-12 * num(c, 'batchLossBefore')); // gaussian: exact fit of the linearisation
    expect(l0.stepOverTheta).toBeGreaterThan(1);
    expect(c.measured).toBe(l0.heldOutAfter / num(c, 'heldOutBefore'));
    expect(c.measured).toBeGreaterThan(1);
    expect(c.verdict).toBe('fails');
    expect(l1.heldOutAfter).toBeLessThan(num(c, 'heldOutBefore'));
    expect(l1.stepNorm).toBeLessThan(l0.stepNorm);
  });

  it('float32 at λ = 0 vs λ = 1e-3: the damped solve is within its (10 + κ)·ε32 budget', () => {
    const c = byId(report, 'float32-pinv');
    expect(c.verdict).toBe(c.measured < 1e-3 ? 'holds' : 'fails');
    expect(num(c, 'differenceAtLambda1e3')).toBeLessThanOrEqual((10 + num(c, 'condAtLambda1e3')) * EPS32);
  });

  it('cost: the verdict follows from the fitted exponents; times grow with N·r', () => {
    const c = byId(report, 'cost');
    const pts = report.cost!;
    expect(pts.map((p) => p.nk)).toEqual([64, 128, 256, 512, 1024, 2048]);
    expect(pts[pts.length - 1].exactMs).toBeGreaterThan(pts[0].exactMs);
    expect(Number.isFinite(c.measured)).toBe(true);
    expect(c.verdict).toBe(c.measured - num(c, 'exponentGradient') < 0.5 ? 'holds' : 'fails');
  });

  it('every equality claim’s verdict is its number against 1e-5', () => {
    for (const c of report.claims.filter((c) => c.rule === 'holds if < 1e-5')) expect(c.verdict).toBe(c.measured < 1e-5 ? 'holds' : 'fails');
  });

  it('the text report has a verdict line per claim and the answer', () => {
    const text = formatReport(report);
    expect(text.match(/ (HOLDS|FAILS)$/gm)?.length).toBe(report.claims.length);
    expect(text).toContain('Where is the mistake?');
    expect(report.answer.length).toBeGreaterThanOrEqual(3);
  });
});

describe("the report's float64 machinery against independent references", () => {
  // A small problem (P = 65) so that the dense P × P reference of test/helpers is quick.
  const hidden = [6, 5];
  const arch: Arch = [{ linear: [2, 6] }, 'tanh', { linear: [6, 5] }, 'tanh', { linear: [5, 2] }];
  const pr = makeProblem({ hidden, batch: 6, seed: 3 });
  const theta = Float32Array.from(pr.theta);
  const b = batch64(pr, pr.batch.x, pr.batch.y, pr.n);

  it('exact n_θ (kernel route, float64) = dense (F_θ)⁺ g_θ (parameter space, Jacobi)', () => {
    const dense = denseNaturalGradient(arch, theta, pr.batch.x, pr.batch.y, pr.n, 'gaussian', 0);
    expect(b.exact.rank).toBe(dense.rank);
    // two float64 pseudo-inverses of a matrix with condition number κ: ≲ κ·1e-15 apart
    expect(relErr(b.exact.direction, dense.direction)).toBeLessThan(Math.max(1e-9, dense.cond * 1e-14));
  });

  it("per-sample and chain (float64) = the library's float32 methods", () => {
    pr.model.setParameters(theta);
    for (const [method, ref] of [
      ['per-sample', perSample64(b.jac, b.out.v, pr.p, pr.n, pr.k, 0)],
      ['chain', chain64(pr.model, pr.theta, b.trace, b.out.v, 0)],
    ] as const) {
      const got = new NaturalGradient(pr.model, { loss: 'gaussian', damping: 0, method }).direction(pr.batch.x, pr.batch.y, pr.n);
      expect(relErr(got, ref), method).toBeLessThan(1e-4);
    }
  });

  it('the verdicts do not depend on the default problem: categorical and relu', () => {
    const r = explain({ loss: 'categorical', activation: 'relu', hidden: [12, 12], batch: 8, seed: 2, cost: false });
    expect(byId(r, 'batch-average').measured).toBeGreaterThan(0.1);
    expect(byId(r, 'chain-layers').measured).toBeGreaterThan(0.1);
    expect(byId(r, 'chain-fan-out').measured).toBeGreaterThan(0.1);
    // categorical: F_η singular, so the one-sample formula (with F⁺) is a different θ-step with the same Δp
    const one = byId(r, 'single-sample');
    expect(num(one, 'meanParameterDifference')).toBeLessThan(1e-8);
    expect(one.verdict).toBe(one.measured < 1e-5 ? 'holds' : 'fails');
    expect(r.cost).toBeNull();
  });

  it('rejects bad options, naming them', () => {
    expect(() => explain({ batch: 1 })).toThrow(/option 'batch' must be an integer 2…256/);
    expect(() => explain({ hidden: [] })).toThrow(/option 'hidden'/);
    expect(() => explain({ loss: 'poisson' as never })).toThrow(/option 'loss'/);
    expect(() => explain({ activation: 'swish' as never })).toThrow(/option 'activation'/);
    expect(() => explain({ hiden: [4] } as never)).toThrow(/unknown option 'hiden'/);
    expect(() => explain({ costBatches: [1, 2] })).toThrow(/option 'costBatches'/);
  });
});

describe('compareTraining', () => {
  it('runs every method on the same minibatches; exact reaches a lower training loss than chain', () => {
    const r = compareTraining({ steps: 60, evalEvery: 20 });
    expect(r.curves.map((c) => c.name)).toEqual(['exact', 'per-sample', 'chain', 'Adam']);
    for (const c of r.curves) {
      expect(c.steps).toEqual([0, 20, 40, 60]);
      expect(c.train[0]).toBe(r.curves[0].train[0]); // same initialisation
      expect(c.tried.length).toBeGreaterThan(1);
    }
    const final = (name: string) => r.curves.find((c) => c.name === name)!.train.at(-1)!;
    expect(final('exact')).toBeLessThan(final('chain'));
  });
});

describe('natgrad explain (CLI)', () => {
  const { out, err } = captureConsole();

  it('runs the default problem in under 30 s and prints the report', async () => {
    const t0 = performance.now();
    const code = await main(['explain']);
    const seconds = (performance.now() - t0) / 1000;
    expect(code).toBe(0);
    expect(seconds).toBeLessThan(30);
    const text = out.join('\n');
    expect(text.match(/ (HOLDS|FAILS)$/gm)?.length).toBe(9);
    expect(text).toContain('Where is the mistake?');
  });

  it('--json prints the data', async () => {
    expect(await main(['explain', '--json', '--no-cost', '--batch', '8', '--hidden', '8,8'])).toBe(0);
    const data = JSON.parse(out.join('\n')) as ExplainReport;
    expect(data.claims.length).toBe(8);
    expect(data.problem.batch).toBe(8);
  });

  it('--train writes an SVG and prints a table and a text chart', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'natgrad-explain-')), 'race.svg');
    expect(await main(['explain', '--train', '--steps', '20', '--svg', file])).toBe(0);
    expect(readFileSync(file, 'utf8')).toMatch(/^<svg[\s\S]*exact[\s\S]*per-sample[\s\S]*chain[\s\S]*Adam[\s\S]*<\/svg>\s*$/);
    const text = out.join('\n');
    expect(text).toMatch(/per-sample/);
    expect(text).toContain(`loss curves written to ${file}`);
  });

  it('bad options are one-line errors with the usage', async () => {
    expect(await main(['explain', '--batch', '1'])).toBe(1);
    expect(err.join('\n')).toMatch(/--batch must be ≥ 2/);
    expect(await main(['explain', '--steps', '5'])).toBe(1);
    expect(err.join('\n')).toMatch(/--steps goes with --train/);
    expect(await main(['explain', '--hidden', '8,x'])).toBe(1);
    expect(err.join('\n')).toMatch(/--hidden: each width must be an integer 1…256, got 'x'/);
  });
});
