// Adam and SGD: the update formulas against a float64 reference driven by the dense float64 gradient
// (test/helpers/reference.ts), sync/async identity, NaN/Inf rejection with θ bit-identical, state round-trip.
import { describe, expect, it } from 'vitest';
import { Adam, linear, SGD, sequential, tanh } from '../lib/index';
import { denseNaturalGradient, relErr } from './helpers/reference';
import { buildModel, mlp, randomInputs, randomParams, randomTargets } from './helpers/models';

const ARCH = mlp([3, 6, 2], 'tanh');
function problem(seed = 1) {
  const n = 8;
  const model = buildModel(ARCH);
  model.setParameters(randomParams(ARCH, seed));
  return { model, x: randomInputs(n, 3, 100 + seed), y: randomTargets('gaussian', n, 2, 200 + seed), n };
}
const gradAt = (theta: Float32Array, x: Float32Array, y: Float32Array, n: number) => denseNaturalGradient(ARCH, theta, x, y, n, 'gaussian', 1).gTheta;

describe('Adam', () => {
  it('follows m, v, bias corrections and ε (float64 reference, 4 steps)', () => {
    const { model, x, y, n } = problem();
    const lr = 1e-2,
      b1 = 0.8,
      b2 = 0.95,
      eps = 1e-6;
    const opt = new Adam(model, { loss: 'gaussian', lr, beta1: b1, beta2: b2, eps });
    const p = model.numParameters;
    const m = new Float64Array(p),
      v = new Float64Array(p);
    for (let t = 1; t <= 4; t++) {
      const before = model.getParameters();
      const g = gradAt(before, x, y, n);
      const expected = new Float64Array(p);
      for (let i = 0; i < p; i++) {
        m[i] = b1 * m[i] + (1 - b1) * g[i];
        v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
        expected[i] = -(lr * m[i]) / (1 - b1 ** t) / (Math.sqrt(v[i] / (1 - b2 ** t)) + eps);
      }
      const info = opt.step(x, y, n);
      expect(info.accepted).toBe(true);
      const after = model.getParameters();
      const delta = Float64Array.from(after, (a, i) => a - before[i]);
      // float32 gradient (~1e-6 relative) and θ rounding (ulp ≈ 6e-8·|θ| ≪ lr) bound the difference
      expect(relErr(delta, expected)).toBeLessThan(1e-4);
      expect(info.stepNorm).toBeCloseTo(Math.hypot(...delta), 12);
      expect(opt.steps).toBe(t);
    }
  });

  it('first step moves every parameter by ≈ lr (the sign of its gradient)', () => {
    const { model, x, y, n } = problem(2);
    const before = model.getParameters();
    const g = gradAt(before, x, y, n);
    new Adam(model, { loss: 'gaussian', lr: 1e-3 }).step(x, y, n);
    const after = model.getParameters();
    for (let i = 0; i < before.length; i++) {
      if (Math.abs(g[i]) < 1e-4) continue;
      expect((after[i] - before[i]) / -Math.sign(g[i])).toBeCloseTo(1e-3, 6);
    }
  });

  it('stepAsync is bit-identical to step and locks the model', async () => {
    const a = problem(3),
      b = problem(3);
    const oa = new Adam(a.model, { loss: 'gaussian', lr: 0.05 });
    const ob = new Adam(b.model, { loss: 'gaussian', lr: 0.05 });
    for (let s = 0; s < 3; s++) {
      const ia = oa.step(a.x, a.y, a.n);
      const pending = ob.stepAsync(b.x, b.y, b.n);
      expect(() => ob.step(b.x, b.y, b.n)).toThrow(/in use by a pending Adam.stepAsync/);
      expect(() => b.model.setParameters(b.model.getParameters())).toThrow(/await it first/);
      const ib = await pending;
      expect(ib).toEqual(ia);
    }
    expect(b.model.getParameters()).toEqual(a.model.getParameters());
  });

  it('never applies a NaN/Inf: overflowing forward pass, infinite update; θ and state untouched, then recovers', () => {
    const model = sequential([linear(1, 4), tanh(), linear(4, 1)]);
    const opt = new Adam(model, { loss: 'gaussian', lr: 0.01 });
    const x = Float32Array.of(0.5, -1),
      y = Float32Array.of(0.2, 0.1);
    opt.step(x, y, 2);
    const theta = model.getParameters();
    const state = JSON.stringify(opt.state());
    // |x| ~ 3e38: W x overflows float32 in the forward pass
    const info = opt.step(Float32Array.of(3e38, -3e38), y, 2);
    expect(info).toMatchObject({ accepted: false, stepNorm: 0 });
    expect(info.reason).toMatch(/overflowed float32/);
    expect(model.getParameters()).toEqual(theta);
    expect(JSON.stringify(opt.state())).toBe(state);
    // an infinite learning rate gives an infinite update
    opt.lr = Number.MAX_VALUE;
    const inf = opt.step(x, y, 2);
    expect(inf.accepted).toBe(false);
    expect(inf.reason).toMatch(/updated parameter \d+ would be (-)?Infinity/);
    expect(model.getParameters()).toEqual(theta);
    opt.lr = 0.01;
    expect(opt.step(x, y, 2).accepted).toBe(true);
    expect(opt.steps).toBe(2);
  });

  it('rejects bad options, naming them', () => {
    const model = sequential([linear(2, 1)]);
    expect(() => new Adam(model, { loss: 'gaussian', beta1: 1 })).toThrow(/option 'beta1' must be < 1/);
    expect(() => new Adam(model, { loss: 'gaussian', beta2: -0.1 })).toThrow(/option 'beta2'/);
    expect(() => new Adam(model, { loss: 'gaussian', eps: 0 })).toThrow(/option 'eps' must be a finite number > 0/);
    expect(() => new Adam(model, { loss: 'gaussian', lr: -1 })).toThrow(/option 'lr'/);
    expect(() => new Adam(model, { loss: 'gaussian', momentum: 0.9 } as never)).toThrow(/unknown option 'momentum'/);
    expect(() => new Adam({} as never, { loss: 'gaussian' })).toThrow(TypeError);
    expect(() => new Adam(model, { loss: 'gaussian' }).step(new Float32Array(3), new Float32Array(1), 1)).toThrow(/'x' must have length 2/);
  });

  it('state() → loadState() resumes bit-identically', () => {
    const a = problem(4),
      b = problem(4);
    const oa = new Adam(a.model, { loss: 'gaussian', lr: 0.02, beta1: 0.85 });
    for (let s = 0; s < 3; s++) oa.step(a.x, a.y, a.n);
    b.model.setParameters(a.model.getParameters());
    const ob = Adam.fromState(b.model, JSON.parse(JSON.stringify(oa)));
    expect(ob.lr).toBe(0.02);
    for (let s = 0; s < 3; s++) expect(ob.step(b.x, b.y, b.n)).toEqual(oa.step(a.x, a.y, a.n));
    expect(b.model.getParameters()).toEqual(a.model.getParameters());
    expect(() => ob.loadState({ ...oa.state(), numParameters: 3 })).toThrow(/for 3 parameters/);
    expect(() => ob.loadState({ ...oa.state(), type: 'SGD' } as never)).toThrow(/expected a state of type 'Adam'/);
    expect(() => ob.loadState({ ...oa.state(), m: 'AAAA' })).toThrow(/'state.m' holds 0 values|whole number/);
  });
});

describe('SGD', () => {
  for (const nesterov of [false, true]) {
    it(`follows the momentum buffer${nesterov ? ' (Nesterov)' : ''} (float64 reference, 4 steps)`, () => {
      const { model, x, y, n } = problem(5);
      const lr = 0.1,
        mu = 0.7;
      const opt = new SGD(model, { loss: 'gaussian', lr, momentum: mu, nesterov });
      const p = model.numParameters;
      const b = new Float64Array(p);
      for (let t = 1; t <= 4; t++) {
        const before = model.getParameters();
        const g = gradAt(before, x, y, n);
        const expected = new Float64Array(p);
        for (let i = 0; i < p; i++) {
          b[i] = t === 1 ? g[i] : mu * b[i] + g[i];
          expected[i] = -lr * (nesterov ? g[i] + mu * b[i] : b[i]);
        }
        expect(opt.step(x, y, n).accepted).toBe(true);
        const delta = Float64Array.from(model.getParameters(), (a, i) => a - before[i]);
        expect(relErr(delta, expected)).toBeLessThan(1e-5);
      }
    });
  }

  it('plain SGD is θ ← θ − lr·g; async identical; state round-trip; bad options', async () => {
    const a = problem(6),
      b = problem(6);
    const g = gradAt(a.model.getParameters(), a.x, a.y, a.n);
    const before = a.model.getParameters();
    const oa = new SGD(a.model, { loss: 'gaussian', lr: 0.5 });
    const ob = new SGD(b.model, { loss: 'gaussian', lr: 0.5 });
    expect(await ob.stepAsync(b.x, b.y, b.n)).toEqual(oa.step(a.x, a.y, a.n));
    const delta = Float64Array.from(a.model.getParameters(), (v, i) => v - before[i]);
    expect(
      relErr(
        delta,
        g.map((v) => -0.5 * v)
      )
    ).toBeLessThan(1e-5);
    const c = problem(6);
    c.model.setParameters(a.model.getParameters());
    const oc = SGD.fromState(c.model, JSON.parse(JSON.stringify(oa)));
    expect(oc.step(c.x, c.y, c.n)).toEqual(oa.step(a.x, a.y, a.n));
    expect(c.model.getParameters()).toEqual(a.model.getParameters());
    const model = sequential([linear(2, 1)]);
    expect(() => new SGD(model, { loss: 'gaussian', momentum: 1 })).toThrow(/option 'momentum' must be < 1/);
    expect(() => new SGD(model, { loss: 'gaussian', nesterov: true })).toThrow(/'nesterov' needs option 'momentum' > 0/);
    expect(() => new SGD(model, { loss: 'gaussian', nesterov: 1 as never })).toThrow(TypeError);
  });

  it('rejects an overflowing step, θ untouched', () => {
    const { model, x, y, n } = problem(7);
    const opt = new SGD(model, { loss: 'gaussian', lr: 3e38 });
    const theta = model.getParameters();
    const info = opt.step(x, y, n);
    expect(info.accepted).toBe(false);
    expect(info.reason).toMatch(/would be (-)?Infinity/);
    expect(model.getParameters()).toEqual(theta);
    expect(opt.steps).toBe(0);
  });
});
