// Numerical faults (issue #8): a singular Fisher (all inputs identical; a dead ReLU layer), one
// that is not numerically positive definite after damping, overflowing logits, NaN/Inf in the
// data. The optimizer must never apply a non-finite step: either it takes a finite step, or it
// rejects with a reason and θ bit-identical (compared byte for byte), and the next good batch
// is accepted. NaN/Inf in x or y is an invalid argument: it throws, naming the entry, before
// anything runs (docs/optimizer.md, "NaN / Inf").
import { describe, expect, it } from 'vitest';
import { Adam, distribution, linear, NaturalGradient, relu, SGD, sequential, type Sequential, tanh } from '../lib/index';

const bits = (a: Float32Array | Float64Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('hex');
let seed = 5;
const rnd = () => (seed = (Math.imul(1664525, seed) + 1013904223) >>> 0) / 4294967296 - 0.5;
const filled = (n: number, scale = 1) => Float32Array.from({ length: n }, () => rnd() * scale);

const N = 16;
const X = filled(N * 3),
  Y = filled(N * 2),
  Y2 = filled(N * 2); // Y2: other targets, so that a model already fitted to Y has a step to take
const identical = new Float32Array(N * 3).fill(0.5);
const mlp = () => sequential([linear(3, 8), tanh(), linear(8, 2)], { seed: 3 });
/** Every hidden unit of the ReLU layer is off for every input (bias −100): its Jacobian is 0. */
function deadRelu(): Sequential {
  const net = sequential([linear(3, 8), relu(), linear(8, 2)], { seed: 3 });
  const p = Float32Array.from(net.params);
  p.fill(-100, 24, 32); // b₁ (W₁ is [8, 3] at 0…23)
  net.setParameters(p);
  return net;
}

type Info = { accepted: boolean; reason?: string; loss: number; stepNorm: number; lossAfter?: number };
/** Runs a step and checks the invariant: finite θ, and either a finite accepted step or a rejection with θ untouched. */
function checkedStep(net: Sequential, step: () => Info): Info {
  const before = bits(net.params);
  const info = step();
  expect(net.params.every(Number.isFinite)).toBe(true);
  if (info.accepted) {
    expect(Number.isFinite(info.stepNorm)).toBe(true);
  } else {
    expect(info.reason, 'a rejected step says why').toMatch(/\S/);
    expect(bits(net.params), 'a rejected step leaves θ bit-identical').toBe(before);
    expect(info.stepNorm).toBe(0);
  }
  return info;
}
function recovers(net: Sequential, opt: { step(x: Float32Array, y: Float32Array, n: number): Info }, x = X, y = Y) {
  const before = bits(net.params);
  const info = opt.step(x, y, N);
  expect(info.accepted, info.reason).toBe(true);
  expect(bits(net.params)).not.toBe(before);
  expect(net.params.every(Number.isFinite)).toBe(true);
}

describe('a singular Fisher', () => {
  for (const [what, make, x] of [
    ['all inputs identical', mlp, identical],
    ['a dead ReLU layer', deadRelu, X],
  ] as const) {
    it(`${what}: rank k = 2 of P = ${make().numParameters}; every λ gives a finite step or a reasoned rejection, then good data trains`, () => {
      for (const damping of [0, 1e-30, 1e-12, 1e-6, 1e-3]) {
        for (const precision of ['float32', 'float64'] as const) {
          const net = make();
          const opt = new NaturalGradient(net, { loss: 'gaussian', damping, precision });
          const info = checkedStep(net, () => opt.step(x, Y, N));
          // the kernel is singular: λ = 0 takes the pseudo-inverse, and it keeps rank k
          if (damping === 0) expect(opt.profile).toMatchObject({ solver: 'pinv', rank: 2 });
          if (info.accepted) expect(info.lossAfter).toBeLessThanOrEqual(info.loss); // adaptive: never uphill
          recovers(net, opt, X, Y2);
        }
      }
    });
  }

  it('not positive definite after damping (λ = 1e-12, float32): Cholesky fails, the float64 eigendecomposition takes over, the step is finite', () => {
    for (const make of [mlp, deadRelu]) {
      const net = make();
      const opt = new NaturalGradient(net, { loss: 'gaussian', damping: 1e-12, adaptive: false });
      checkedStep(net, () => opt.step(make === mlp ? identical : X, Y, N));
      expect(opt.profile).toMatchObject({ solver: 'pinv-fallback', rank: 2 });
    }
  });

  it('stepAsync on a singular Fisher gives the bits of step()', async () => {
    const a = mlp(),
      b = mlp();
    const oa = new NaturalGradient(a, { loss: 'gaussian', damping: 1e-12 });
    const ob = new NaturalGradient(b, { loss: 'gaussian', damping: 1e-12 });
    const ia = oa.step(identical, Y, N);
    const ib = await ob.stepAsync(identical, Y, N);
    expect(ib).toEqual(ia);
    expect(bits(b.params)).toBe(bits(a.params));
  });
});

describe('overflowing logits', () => {
  const cat = distribution('categorical');
  it('logits beyond exp() range (±1e4) and huge ones (1e17): the loss is the exact logsumexp(η) − η_y', () => {
    const loss = (eta: number[], y: number) => cat.loss(Float64Array.from(eta), Float32Array.of(y));
    expect(loss([1e4, 0, -1e4], 0)).toBe(0);
    expect(loss([1e4, 0, -1e4], 1)).toBe(1e4);
    expect(loss([1e4, 1e4, -1e4], 2)).toBeCloseTo(2e4 + Math.LN2, 9);
    // max η and η_y are cancelled before log Σ is added: 1e17 + log 2 would round to 1e17
    expect(loss([1e17, 1e17, 0], 0)).toBeCloseTo(Math.LN2, 15);
    expect(loss([3e38, 3e38, 3e38], 1)).toBeCloseTo(Math.log(3), 15);
  });

  it('a step with logits of ±1e4 (categorical) is finite', () => {
    const net = sequential([linear(3, 8), tanh(), linear(8, 3)], { seed: 3 });
    const p = Float32Array.from(net.params);
    p.set([1e4, 0, -1e4], p.length - 3); // output biases
    net.setParameters(p);
    const y = Float32Array.from({ length: N }, (_, i) => i % 3);
    const opt = new NaturalGradient(net, { loss: 'categorical' });
    const info = checkedStep(net, () => opt.step(X, y, N));
    expect(Number.isFinite(info.loss)).toBe(true);
  });

  // every input 3e38: the first layer's output overflows float32
  const huge = new Float32Array(N * 3).fill(3e38);
  const yc = Float32Array.from({ length: N }, (_, i) => i % 3);
  const linearNet = () => sequential([linear(3, 8), linear(8, 3)], { seed: 3 });

  it('a forward pass that overflows float32: NaturalGradient rejects (sync and async) with the reason, θ bit-identical, then trains on good data', async () => {
    for (const useAsync of [false, true]) {
      const net = linearNet();
      const opt = new NaturalGradient(net, { loss: 'categorical' });
      const before = bits(net.params);
      const info = useAsync ? await opt.stepAsync(huge, yc, N) : opt.step(huge, yc, N);
      expect(info.accepted).toBe(false);
      expect(info.reason).toMatch(/Infinity .*overflowed float32/);
      expect(bits(net.params)).toBe(before);
      expect(opt.steps).toBe(0);
      recovers(net, opt, X, yc);
      expect(opt.steps).toBe(1);
    }
  });

  it('a kernel that overflows float32 (one input 1e20; the forward pass is finite): rejected with a reason, θ bit-identical', () => {
    const x = Float32Array.from(X);
    x[4] = 1e20;
    const net = linearNet();
    const opt = new NaturalGradient(net, { loss: 'categorical' });
    const info = checkedStep(net, () => opt.step(x, yc, N));
    expect(Number.isFinite(info.loss)).toBe(true);
    expect(info.accepted).toBe(false);
    expect(info.reason).toMatch(/NaN|Infinity/);
    recovers(net, opt, X, yc);
  });

  it('Adam and SGD reject a non-finite forward pass too, θ and their state untouched', () => {
    for (const Opt of [Adam, SGD]) {
      const net = linearNet();
      const opt = new Opt(net, { loss: 'categorical' });
      const state = JSON.stringify(opt.state());
      const info = checkedStep(net, () => opt.step(huge, yc, N));
      expect(info.accepted).toBe(false);
      expect(info.reason).toMatch(/overflowed float32|not finite|Infinity|NaN/);
      expect(JSON.stringify(opt.state())).toBe(state);
      recovers(net, opt, X, yc);
    }
  });
});

describe('NaN or Inf in the data', () => {
  const cases: [string, Float32Array, Float32Array, 'gaussian' | 'categorical', RegExp][] = [];
  const xn = Float32Array.from(X);
  xn[5] = NaN;
  cases.push(['NaN in x', xn, Y, 'gaussian', /'x\[5\]' is NaN/]);
  const xi = Float32Array.from(X);
  xi[7] = -Infinity;
  cases.push(['-Infinity in x', xi, Y, 'gaussian', /'x\[7\]' is -Infinity/]);
  const yn = Float32Array.from(Y);
  yn[3] = NaN;
  cases.push(['NaN in y (gaussian)', X, yn, 'gaussian', /'y\[3\]' is NaN/]);
  const yl = Float32Array.from({ length: N }, (_, i) => i % 2);
  yl[2] = NaN;
  cases.push(['NaN label (categorical)', X, yl, 'categorical', /'y\[2\]' is NaN/]);

  for (const [what, x, y, loss, message] of cases) {
    it(`${what}: step and stepAsync throw naming the entry, θ and the optimizer untouched, the model not left locked; good data then trains`, async () => {
      const net = mlp();
      const opt = new NaturalGradient(net, { loss });
      const before = bits(net.params),
        state = JSON.stringify(opt.state());
      expect(() => opt.step(x, y, N)).toThrow(message);
      await expect(opt.stepAsync(x, y, N)).rejects.toThrow(message);
      expect(bits(net.params)).toBe(before);
      expect(JSON.stringify(opt.state())).toBe(state);
      const good = loss === 'categorical' ? Float32Array.from({ length: N }, (_, i) => i % 2) : Y;
      const info = await opt.stepAsync(X, good, N);
      expect(info.accepted).toBe(true);
      for (const Opt of [Adam, SGD]) {
        const other = new Opt(mlp(), { loss });
        expect(() => other.step(x, y, N)).toThrow(message);
      }
    });
  }
});
