// Concurrency (issue #8): many stepAsync calls on different models at once give, bit for bit,
// what the same steps give one after another with step(); two asynchronous calls on the same
// model are not interleaved: while one is pending the model is locked and every other call that
// reads or writes θ throws (or rejects) with "… in use by a pending …; await it first".
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  Adam,
  gemmAsync,
  layerGramAsync,
  linear,
  NaturalGradient,
  type LossName,
  type NaturalGradientOptions,
  saveCheckpoint,
  SGD,
  sequential,
  type Sequential,
  tanh,
  relu,
} from '../lib/index';

const bits = (a: Float32Array | Float64Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('hex');
let seed = 17;
const rnd = () => (seed = (Math.imul(1664525, seed) + 1013904223) >>> 0) / 4294967296 - 0.5;
const filled = (n: number, scale = 1) => Float32Array.from({ length: n }, () => rnd() * scale);

const N = 24;
const X = filled(N * 4, 2);
const targets = {
  gaussian: filled(N * 3),
  categorical: Float32Array.from({ length: N }, (_, i) => (X[i * 4] > 0 ? 1 : 0) + (X[i * 4 + 1] > 0 ? 1 : 0)),
  bernoulli: Float32Array.from({ length: N }, (_, i) => (X[i * 4 + 2] > 0 ? 1 : 0)),
};
interface Spec {
  name: string;
  outDim: number;
  options: NaturalGradientOptions;
  act?: typeof tanh;
}
const SPECS: Spec[] = [
  { name: 'exact categorical', outDim: 3, options: { loss: 'categorical' } },
  { name: 'exact gaussian, momentum 0.5', outDim: 3, options: { loss: 'gaussian', momentum: 0.5 } },
  { name: 'exact bernoulli, maxKL', outDim: 1, options: { loss: 'bernoulli', maxKL: 0.05 } },
  { name: 'exact parameter space, float64', outDim: 3, options: { loss: 'gaussian', space: 'parameter', precision: 'float64' } },
  { name: 'exact λ = 0 (pinv), fixed', outDim: 3, options: { loss: 'categorical', damping: 0, adaptive: false, lr: 0.3 } },
  { name: 'per-sample', outDim: 3, options: { loss: 'gaussian', method: 'per-sample', damping: 0.1 } },
  { name: 'chain', outDim: 3, options: { loss: 'gaussian', method: 'chain', damping: 0.1 } },
  { name: 'exact relu', outDim: 3, options: { loss: 'categorical' }, act: relu },
];
function build(spec: Spec, i: number): { net: Sequential; opt: NaturalGradient; y: Float32Array } {
  const act = spec.act ?? tanh;
  const net = sequential([linear(4, 12), act(), linear(12, spec.outDim)], { seed: 100 + i });
  return { net, opt: new NaturalGradient(net, spec.options), y: targets[spec.options.loss as LossName] };
}
const STEPS = 4;

describe('stepAsync on different models at once', () => {
  it(`${SPECS.length} models × ${STEPS} steps, all in flight together (with unrelated kernel calls): bit-identical to step() one after another`, async () => {
    // sequential reference
    const want = SPECS.map((spec, i) => {
      const { net, opt, y } = build(spec, i);
      const infos = [];
      for (let s = 0; s < STEPS; s++) infos.push(opt.step(X, y, N));
      return { infos, theta: bits(net.params), state: JSON.stringify(opt.state()) };
    });
    // every chain started at once; they interleave at every native call
    const runs = SPECS.map((spec, i) => build(spec, i));
    const noise: Promise<unknown>[] = [];
    for (let j = 0; j < 16; j++) {
      const a = filled(64 * 64);
      noise.push(gemmAsync(a, a, 64, 64, 64), layerGramAsync(filled(48 * 8), filled(24 * 5), 24, 2, 8, 5, new Float32Array(48 * 48)));
    }
    const got = await Promise.all(
      runs.map(async ({ net, opt, y }) => {
        const infos = [];
        for (let s = 0; s < STEPS; s++) infos.push(await opt.stepAsync(X, y, N));
        return { infos, theta: bits(net.params), state: JSON.stringify(opt.state()) };
      })
    );
    await Promise.all(noise);
    // a failed step's reason names the kernel form that failed ('pinvSolveAsync' there, 'pinvSolve' here)
    const sameForm = (infos: object[]) => infos.map((info) => JSON.parse(JSON.stringify(info).replace(/(\w)Async\b/g, '$1')));
    SPECS.forEach((spec, i) => {
      expect(sameForm(got[i].infos), spec.name).toEqual(sameForm(want[i].infos));
      expect(got[i].theta, spec.name).toBe(want[i].theta);
      expect(got[i].state, spec.name).toBe(want[i].state);
      expect(
        got[i].infos.some((info) => info.accepted),
        spec.name
      ).toBe(true);
    });
  });

  it('Adam and SGD stepAsync on many models at once: bit-identical to sequential step()', async () => {
    for (const Opt of [Adam, SGD]) {
      const make = (i: number) => {
        const net = sequential([linear(4, 12), tanh(), linear(12, 3)], { seed: 200 + i });
        return { net, opt: new Opt(net, { loss: 'categorical' }) };
      };
      const want = [0, 1, 2, 3, 4, 5].map((i) => {
        const { net, opt } = make(i);
        const infos = [0, 1, 2].map(() => opt.step(X, targets.categorical, N));
        return { infos, theta: bits(net.params) };
      });
      const got = await Promise.all(
        [0, 1, 2, 3, 4, 5].map(async (i) => {
          const { net, opt } = make(i);
          const infos = [];
          for (let s = 0; s < 3; s++) infos.push(await opt.stepAsync(X, targets.categorical, N));
          return { infos, theta: bits(net.params) };
        })
      );
      expect(got).toEqual(want);
    }
  });
});

describe('two asynchronous calls on the same model', () => {
  const busy = /in use by a pending NaturalGradient\.stepAsync; await it first/;

  it('the second stepAsync is rejected with a clear error; the first completes as step() would; then the model is free', async () => {
    const ref = build(SPECS[0], 0);
    const want = ref.opt.step(X, ref.y, N);
    const { net, opt, y } = build(SPECS[0], 0);
    const first = opt.stepAsync(X, y, N);
    await expect(opt.stepAsync(X, y, N)).rejects.toThrow(busy);
    expect(await first).toEqual(want);
    expect(bits(net.params)).toBe(bits(ref.net.params));
    expect(opt.steps).toBe(1);
    await expect(opt.stepAsync(X, y, N)).resolves.toMatchObject({ loss: expect.any(Number) });
  });

  it('while one is pending, every other call that reads or writes θ throws instead of interleaving', async () => {
    const { net, opt, y } = build(SPECS[0], 0);
    const other = new NaturalGradient(net, { loss: 'categorical' });
    const adam = new Adam(net, { loss: 'categorical' });
    const before = bits(net.params);
    const pending = opt.stepAsync(X, y, N);
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'natgrad-lock-')), 'model.ckpt');
    const attempts: [string, () => unknown][] = [
      ['step', () => opt.step(X, y, N)],
      ['direction', () => opt.direction(X, y, N)],
      ['gradient', () => opt.gradient(X, y, N)],
      ['lossAt', () => opt.lossAt(X, y, N)],
      ['another optimizer on the model', () => other.step(X, y, N)],
      ['Adam on the model', () => adam.step(X, y, N)],
      ['setParameters', () => net.setParameters(new Float32Array(net.numParameters))],
      ['loadState', () => opt.loadState(opt.state())],
      ['saveCheckpoint', () => saveCheckpoint(file, { model: net, optimizer: opt })],
    ];
    for (const [what, f] of attempts) expect(f, what).toThrow(/in use by a pending NaturalGradient\.stepAsync; await it first/);
    await expect(other.stepAsync(X, y, N)).rejects.toThrow(busy);
    await expect(adam.stepAsync(X, y, N)).rejects.toThrow(busy);
    expect(bits(net.params), 'nothing touched θ while the step was pending').toBe(before);
    const info = await pending;
    expect(info.accepted).toBe(true);
    expect(fs.existsSync(file)).toBe(false);
    // free again
    saveCheckpoint(file, { model: net, optimizer: opt });
    expect(fs.existsSync(file)).toBe(true);
    expect(other.step(X, y, N).loss).toBeGreaterThan(0);
  });

  it('a stepAsync that ends in a rejection (non-finite data path) also releases the model', async () => {
    const net = sequential([linear(4, 8), linear(8, 3)], { seed: 1 });
    const opt = new NaturalGradient(net, { loss: 'categorical' });
    const info = await opt.stepAsync(new Float32Array(N * 4).fill(3e38), targets.categorical, N);
    expect(info.accepted).toBe(false);
    expect((await opt.stepAsync(X, targets.categorical, N)).accepted).toBe(true);
  });
});
