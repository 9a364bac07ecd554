// Levenberg–Marquardt damping (lib/optim/damping.ts) and NaturalGradient.step()'s trial / accept /
// reject logic: the rule itself, the predicted decrease against a dense float64 quadratic model,
// ρ = 1 where the model is exact, rejected steps leaving θ bit-identical and retried from the same
// kernel, NaN/Inf never applied, trust regions, sync/async identity.
import { describe, expect, it } from 'vitest';
import { linear, NaturalGradient, sequential, tanh, type ExactNaturalGradientOptions } from '../lib/index';
import { dampingFloor, dampingRule, LM_DEFAULTS, nextDamping, reductionRatio, rejectedDamping } from '../lib/optim/damping';
import { denseNaturalGradient } from './helpers/reference';
import { buildModel, mlp, randomInputs, randomParams, randomTargets } from './helpers/models';
import type { Arch, Loss } from './helpers/reference';

const rule = { ...LM_DEFAULTS };

describe('the Levenberg–Marquardt rule', () => {
  it('raises λ for ρ < 1/4 (and NaN), lowers it for ρ > 3/4, keeps it between, within [min, max]', () => {
    expect(nextDamping(rule, 1e-2, 0.1)).toBeCloseTo(1.5e-2, 15);
    expect(nextDamping(rule, 1e-2, -3)).toBeCloseTo(1.5e-2, 15);
    expect(nextDamping(rule, 1e-2, NaN)).toBeCloseTo(1.5e-2, 15);
    expect(nextDamping(rule, 1e-2, 0.5)).toBe(1e-2);
    expect(nextDamping(rule, 1e-2, 0.25)).toBe(1e-2);
    expect(nextDamping(rule, 1e-2, 0.75)).toBe(1e-2);
    expect(nextDamping(rule, 1e-2, 0.9)).toBeCloseTo((2 / 3) * 1e-2, 15);
    expect(nextDamping(rule, 1e-2, 5)).toBeCloseTo((2 / 3) * 1e-2, 15);
    expect(nextDamping(rule, rule.min, 0.9)).toBe(rule.min);
    expect(nextDamping(rule, rule.max, 0)).toBe(rule.max);
    expect(nextDamping(rule, 0, 0.9)).toBe(rule.min); // a start at λ = 0 enters the range
    expect(rejectedDamping(rule, 0)).toBe(rule.min);
    expect(rejectedDamping(rule, 2)).toBe(3);
    expect(rejectedDamping(rule, 2, 3)).toBe(2 * 1.5 ** 3); // escalates with the retry number
    expect(rejectedDamping(rule, rule.max)).toBe(rule.max);
  });

  it('the floor: raised to λ·increase (≤ max) by a step whose Cholesky fell back, never lowered', () => {
    expect(dampingFloor(rule, 0, 1e-6, true)).toBeCloseTo(1.5e-6, 20);
    expect(dampingFloor(rule, 0, 1e-6, false)).toBe(0);
    expect(dampingFloor(rule, 4e-6, 1e-6, true)).toBe(4e-6);
    expect(dampingFloor(rule, 4e-6, 1e-6, false)).toBe(4e-6);
    expect(dampingFloor(rule, 0, rule.max, true)).toBe(rule.max);
  });

  it('ρ is NaN when the model predicts no decrease or a loss is not finite', () => {
    expect(reductionRatio(1, 2)).toBe(0.5);
    expect(reductionRatio(-1, 2)).toBe(-0.5);
    expect(reductionRatio(1, 0)).toBeNaN();
    expect(reductionRatio(1, -1)).toBeNaN();
    expect(reductionRatio(NaN, 1)).toBeNaN();
    expect(reductionRatio(-Infinity, 1)).toBeNaN();
  });

  it('validates the adaptive option, naming the setting', () => {
    expect(dampingRule('f', false)).toBeNull();
    expect(dampingRule('f', true)).toEqual(LM_DEFAULTS);
    expect(dampingRule('f', undefined)).toEqual(LM_DEFAULTS);
    expect(dampingRule('f', { increase: 2 })).toEqual({ ...LM_DEFAULTS, increase: 2 });
    expect(() => dampingRule('f', { min: 0 })).toThrow(/'adaptive.min' must be a finite number > 0/);
    expect(() => dampingRule('f', { min: 1, max: 0.5 })).toThrow(/'adaptive.max' must be a finite number ≥ 1/);
    expect(() => dampingRule('f', { increase: 1 })).toThrow(/'adaptive.increase'/);
    expect(() => dampingRule('f', { decrease: 1 })).toThrow(/'adaptive.decrease' must be < 1/);
    expect(() => dampingRule('f', { lower: 0.8, upper: 0.5 })).toThrow(/'adaptive.upper'/);
    expect(() => dampingRule('f', { maxRetries: 1.5 })).toThrow(/'adaptive.maxRetries' must be a non-negative integer/);
    expect(() => dampingRule('f', { omega: 2 } as never)).toThrow(/unknown option 'omega'/);
    expect(() => dampingRule('f', 'yes')).toThrow(TypeError);
    const model = sequential([linear(2, 1)]);
    expect(() => new NaturalGradient(model, { loss: 'gaussian', adaptive: { decrease: 2 } })).toThrow(/NaturalGradient: 'adaptive.decrease'/);
    expect(() => new NaturalGradient(model, { loss: 'gaussian', maxKL: 0 })).toThrow(/option 'maxKL'/);
    expect(() => new NaturalGradient(model, { loss: 'gaussian', maxStepNorm: -1 })).toThrow(/option 'maxStepNorm'/);
    expect(() => new NaturalGradient(model, { loss: 'gaussian', momentum: 1 })).toThrow(/option 'momentum' must be < 1/);
  });
});

interface Problem {
  arch: Arch;
  loss: Loss;
  theta: Float32Array;
  x: Float32Array;
  y: Float32Array;
  n: number;
}
function problem(loss: Loss, arch: Arch, n: number, seed: number): Problem {
  const k = (arch[arch.length - 1] as { linear: [number, number] }).linear[1];
  const d = (arch[0] as { linear: [number, number] }).linear[0];
  return { arch, loss, theta: randomParams(arch, seed), x: randomInputs(n, d, 100 + seed), y: randomTargets(loss, n, k, 200 + seed), n };
}
function optimizer(pr: Problem, options: Omit<ExactNaturalGradientOptions, 'loss'>): NaturalGradient {
  const model = buildModel(pr.arch);
  model.setParameters(pr.theta);
  return new NaturalGradient(model, { loss: pr.loss, ...options });
}
const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};
/** vᵀ F v for dense F [P, P]. */
const quad = (f: Float64Array, v: ArrayLike<number>) => {
  const p = v.length;
  let s = 0;
  for (let i = 0; i < p; i++) for (let j = 0; j < p; j++) s += v[i] * f[i * p + j] * v[j];
  return s;
};

describe('the quadratic model and ρ', () => {
  const cases: [Loss, Arch, number, 'kernel' | 'parameter'][] = [
    ['gaussian', mlp([3, 5, 2], 'tanh'), 6, 'kernel'],
    ['gaussian', mlp([3, 5, 2], 'tanh'), 30, 'parameter'],
    ['categorical', mlp([3, 6, 3], 'relu'), 5, 'kernel'],
    ['categorical', mlp([3, 4, 3], 'gelu'), 40, 'parameter'],
    ['bernoulli', mlp([3, 5, 1], 'tanh'), 8, 'kernel'],
  ];
  for (const [loss, arch, n, space] of cases) {
    it(`predicted = lr·gᵀn − ½lr²·nᵀF_θn against dense float64 (${loss}, ${space} space)`, () => {
      const pr = problem(loss, arch, n, 11);
      const lr = 0.7,
        lambda = 1e-2;
      const opt = optimizer(pr, { lr, damping: lambda, adaptive: false, space });
      const nDir = opt.direction(pr.x, pr.y, pr.n);
      const ref = denseNaturalGradient(arch, pr.theta, pr.x, pr.y, pr.n, loss, lambda);
      const expected = lr * dot(ref.gTheta, nDir) - 0.5 * lr * lr * quad(ref.fTheta, nDir);
      const info = opt.step(pr.x, pr.y, pr.n);
      expect(info.accepted).toBe(true);
      expect(info.damping).toBe(lambda);
      expect(Math.abs(info.predicted - expected) / Math.abs(expected)).toBeLessThan(1e-4);
      expect(info.rho).toBeCloseTo((info.loss - info.lossAfter) / info.predicted, 12);
      expect(info.lossAfter).toBe(opt.lossAt(pr.x, pr.y, pr.n));
      expect(info.trialLoss).toBe(info.lossAfter);
    });
  }

  it('ρ = 1 where the quadratic model is exact (a linear model with the gaussian loss), for any step', () => {
    // η = W x + b is linear in θ, so L(θ + Δ) = L + gᵀΔ + ½ ΔᵀF_θΔ exactly (F_θ = JJᵀ/N is the Hessian)
    const x = randomInputs(10, 3, 5),
      y = randomTargets('gaussian', 10, 2, 6);
    for (const [lr, damping] of [
      [1, 1e-3],
      [0.3, 1],
      [1.7, 1e-2],
    ]) {
      const model = sequential([linear(3, 2)], { seed: 3 });
      const opt = new NaturalGradient(model, { loss: 'gaussian', lr, damping, adaptive: false });
      const info = opt.step(x, y, 10);
      expect(info.accepted).toBe(true);
      expect(Math.abs(info.rho - 1)).toBeLessThan(1e-3);
    }
  });
});

describe('accept, reject, retry', () => {
  const pr = problem('gaussian', mlp([2, 8, 1], 'tanh'), 12, 21);

  it('adapts λ from ρ on accepted steps, and the loss on the batch never increases', () => {
    const opt = optimizer(pr, { lr: 1, damping: 1e-1 });
    let prev = Infinity;
    for (let s = 0; s < 15; s++) {
      const lambda = opt.damping;
      const info = opt.step(pr.x, pr.y, pr.n);
      expect(info.loss).toBeLessThanOrEqual(prev);
      if (info.accepted) {
        expect(info.lossAfter).toBeLessThanOrEqual(info.loss);
        if (info.attempts === 1) expect(info.damping).toBe(lambda);
        expect(opt.damping).toBe(nextDamping(rule, info.damping, info.rho));
      }
      prev = info.lossAfter;
    }
    expect(opt.steps).toBeGreaterThan(10);
  });

  it('a rejected trial leaves θ bit-identical and is re-solved from the same kernel with λ·1.5^j at retry j', () => {
    const lr = 1; // from λ = 1e-3 the minimum-norm-like step overshoots on this draw (N = 12 < P = 33)
    const opt = optimizer(pr, { lr, damping: 1e-3 });
    const theta0 = opt.model.getParameters();
    const info = opt.step(pr.x, pr.y, pr.n);
    expect(info.attempts).toBe(4);
    expect(info.accepted).toBe(true);
    expect(info.damping).toBe(1e-3 * 1.5 * 1.5 ** 2 * 1.5 ** 3);
    // the applied step is exactly θ − lr·n(λ_final), n from a fresh solve at that λ
    const fresh = optimizer(pr, { lr, damping: info.damping, adaptive: false });
    const n = fresh.direction(pr.x, pr.y, pr.n);
    const expected = Float32Array.from(theta0, (t, i) => t - lr * n[i]);
    expect(Buffer.from(opt.model.getParameters().buffer).equals(Buffer.from(expected.buffer))).toBe(true);
    expect(info.lossAfter).toBeLessThanOrEqual(info.loss);
  });

  it('when every retry fails: accepted false, θ bit-identical, λ raised, a reason; later steps recover', () => {
    const opt = optimizer(pr, { lr: 1e4, damping: 1e-3, adaptive: { maxRetries: 2 } });
    const theta0 = opt.model.getParameters();
    const info = opt.step(pr.x, pr.y, pr.n);
    expect(info).toMatchObject({ accepted: false, stepNorm: 0, attempts: 3 });
    expect(info.lossAfter).toBe(info.loss);
    expect(info.trialLoss).toBeGreaterThan(info.loss);
    expect(info.reason).toMatch(/the loss would increase from .* \(3 attempts, last λ = 0.0033\d\); parameters unchanged/);
    expect(Buffer.from(opt.model.getParameters().buffer).equals(Buffer.from(theta0.buffer))).toBe(true);
    expect(opt.damping).toBeCloseTo(1e-3 * 1.5 ** 6, 15); // the next retry's λ carries over to the next step
    opt.lr = 1;
    expect(opt.step(pr.x, pr.y, pr.n).accepted).toBe(true);
  });

  it('adaptive: false keeps λ and applies a step that increases the loss', () => {
    const opt = optimizer(pr, { lr: 40, damping: 1e-3, adaptive: false });
    const info = opt.step(pr.x, pr.y, pr.n);
    expect(info.accepted).toBe(true);
    expect(info.attempts).toBe(1);
    expect(info.lossAfter).toBeGreaterThan(info.loss);
    expect(info.predicted).toBeLessThan(0); // lr·gᵀn < ½lr²·nᵀF_θn: the model itself predicts an increase
    expect(info.rho).toBeNaN();
    expect(opt.damping).toBe(1e-3);
  });

  it('a λ below what float32 resolves: a step whose Cholesky fell back raises the floor to λ·1.5, and λ stays at or above it though ρ ≈ 1; setting λ clears it', () => {
    // every input identical (as in test/faults.test.ts): the kernel has rank 2 of 16 and its Cholesky meets a
    // non-positive pivot at λ = 1e-9, where the float64 eigendecomposition answers ('pinv-fallback')
    const n = 16;
    const x = new Float32Array(n * 3).fill(0.5);
    const y = Float32Array.from({ length: n * 2 }, (_, i) => Math.cos(0.9 * i));
    const model = sequential([linear(3, 8), tanh(), linear(8, 2)], { seed: 3 });
    const low = { ...LM_DEFAULTS, min: 1e-16 };
    const opt = new NaturalGradient(model, { loss: 'gaussian', lr: 0.5, damping: 1e-9, adaptive: { min: 1e-16 } });
    let floor = 0;
    let lowered = 0; // fallback steps after which the rule alone (ρ > 3/4) would have lowered λ
    for (let s = 0; s < 5; s++) {
      const info = opt.step(x, y, n);
      expect(info).toMatchObject({ accepted: true, attempts: 1 });
      expect(opt.profile!.solver).toBe('pinv-fallback');
      floor = Math.max(floor, 1.5 * info.damping);
      const rule = nextDamping(low, info.damping, info.rho);
      if (rule < info.damping) lowered++;
      expect(opt.damping).toBe(Math.max(floor, rule));
      expect(opt.damping).toBeGreaterThan(info.damping);
    }
    expect(lowered).toBeGreaterThanOrEqual(3);
    // state() saves the floor and loadState restores it: a resumed optimizer continues bit-identically
    const saved = JSON.parse(JSON.stringify(opt.state()));
    expect(saved.dampingFloor).toBe(floor);
    const twin = sequential([linear(3, 8), tanh(), linear(8, 2)], { seed: 3 });
    twin.setParameters(model.getParameters());
    const resumed = NaturalGradient.fromState(twin, saved);
    for (let s = 0; s < 2; s++) {
      const a = opt.step(x, y, n),
        b = resumed.step(x, y, n);
      expect(b.damping).toBe(a.damping);
      expect(resumed.damping).toBe(opt.damping);
      expect(Buffer.from(twin.getParameters().buffer).equals(Buffer.from(model.getParameters().buffer))).toBe(true);
    }
    expect(() => NaturalGradient.fromState(twin, { ...saved, dampingFloor: -1 })).toThrow(/'state.dampingFloor' must be a finite number ≥ 0/);
    // a restored floor holds where the rule alone would lower λ: at λ = floor = 1e-3 the kernel factors and ρ > 3/4
    const high = NaturalGradient.fromState(twin, { ...saved, options: { ...saved.options, damping: 1e-3 }, dampingFloor: 1e-3 });
    const h = high.step(x, y, n);
    expect(high.profile!.solver).toBe('cholesky');
    expect(h.rho).toBeGreaterThan(0.75);
    expect(nextDamping(low, 1e-3, h.rho)).toBeLessThan(1e-3);
    expect(high.damping).toBe(1e-3);
    opt.damping = 1e-9; // an explicit λ clears the floor: the next step solves at it
    expect(opt.state().dampingFloor).toBeUndefined();
    const info = opt.step(x, y, n);
    expect(info.damping).toBe(1e-9);
    expect(opt.damping).toBeCloseTo(1.5e-9, 20); // and the fallback raises a fresh floor from there
  });

  it('never applies NaN/Inf: overflowing data or update → rejected with a reason, θ bit-identical; recovers on good data', () => {
    for (const adaptive of [true, false]) {
      const opt = optimizer(pr, { damping: 1e-2, adaptive });
      const theta0 = opt.model.getParameters();
      const same = () => Buffer.from(opt.model.getParameters().buffer).equals(Buffer.from(theta0.buffer));
      const huge = new Float32Array(pr.x.length).fill(3e38); // overflows the first layer
      const a = opt.step(huge, pr.y, pr.n);
      expect(a).toMatchObject({ accepted: false, stepNorm: 0 });
      expect(a.reason).toMatch(/overflow|Infinity|NaN/);
      expect(same()).toBe(true);
      opt.lr = Number.MAX_VALUE; // the update itself overflows float32
      const b = opt.step(pr.x, pr.y, pr.n);
      expect(b.accepted).toBe(false);
      expect(b.reason).toMatch(/would be (-)?Infinity|overflow/);
      expect(same()).toBe(true);
      opt.lr = 1;
      expect(opt.step(pr.x, pr.y, pr.n).accepted).toBe(true);
      // a NaN in the data is an argument error, named, before anything runs
      const nan = pr.x.slice();
      nan[3] = NaN;
      expect(() => opt.step(nan, pr.y, pr.n)).toThrow(/'x\[3\]' is NaN/);
    }
  });

  it('stepAsync is bit-identical to step, retries included', async () => {
    const a = optimizer(pr, { lr: 40, damping: 1e-3 });
    const b = optimizer(pr, { lr: 40, damping: 1e-3 });
    for (let s = 0; s < 4; s++) {
      const ia = a.step(pr.x, pr.y, pr.n);
      const ib = await b.stepAsync(pr.x, pr.y, pr.n);
      expect(ib).toEqual(ia);
    }
    expect(Buffer.from(a.model.getParameters().buffer).equals(Buffer.from(b.model.getParameters().buffer))).toBe(true);
    expect(b.damping).toBe(a.damping);
  });
});

describe('trust region', () => {
  const pr = problem('categorical', mlp([3, 6, 3], 'tanh'), 10, 31);

  it('maxStepNorm scales the step to ‖Δθ‖ ≤ r', () => {
    const free = optimizer(pr, { lr: 1, damping: 1e-3, adaptive: false }).step(pr.x, pr.y, pr.n);
    const r = free.stepNorm / 4;
    const opt = optimizer(pr, { lr: 1, damping: 1e-3, adaptive: false, maxStepNorm: r });
    const info = opt.step(pr.x, pr.y, pr.n);
    expect(info.scale).toBeCloseTo(0.25, 5);
    expect(info.stepNorm).toBeLessThanOrEqual(r * (1 + 1e-5));
    expect(info.stepNorm).toBeGreaterThan(r * (1 - 1e-5));
    expect(optimizer(pr, { lr: 1, damping: 1e-3, adaptive: false, maxStepNorm: 1e6 }).step(pr.x, pr.y, pr.n).scale).toBe(1);
  });

  it('maxKL scales the step to ½ ΔᵀF_θΔ ≤ κ (dense float64 check)', () => {
    const kappa = 1e-3;
    const opt = optimizer(pr, { lr: 1, damping: 1e-3, adaptive: false, maxKL: kappa });
    const theta0 = opt.model.getParameters();
    const ref = denseNaturalGradient(pr.arch, theta0, pr.x, pr.y, pr.n, 'categorical', 1e-3);
    const info = opt.step(pr.x, pr.y, pr.n);
    expect(info.scale).toBeLessThan(1);
    const delta = Float64Array.from(opt.model.getParameters(), (t, i) => t - theta0[i]);
    const kl = 0.5 * quad(ref.fTheta, delta);
    expect(Math.abs(kl - kappa) / kappa).toBeLessThan(1e-3); // θ rounding to float32
  });
});
