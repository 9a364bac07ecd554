// The one-call exact step on the CPU backend (native/cpu/exact_step.cc, lib/optim/exact_device.ts): a float32
// MLP's whole step in one native call, against the host pipeline of lib/optim/exact.ts (NATGRAD_DEVICE_STEP=0)
// and the dense float64 natural gradient of test/helpers/reference.ts.
//
// Tolerances as in natural_gradient.test.ts: each float32 pipeline is within (10 + κ)·ε32 of the float64
// direction, κ the condition number of the damped kernel it solves (κ = (e_1 + λ)/(e_M + λ) over the
// M = N·r largest eigenvalues of F_θ); two float32 computations of the same direction are then within twice
// that of each other. The one-call step and the host pipeline share every kernel but the output family's
// formulas (native/family.h against lib/distributions, both float64), so they differ by float32 roundings only.
import { afterEach, describe, expect, it } from 'vitest';
import { backend, conv2d, flatten, linear, NaturalGradient, sequential, setThreads, tanh } from '../lib/index';
import { exactStep } from '../lib/linalg';
import { buildModel, problem, type Problem } from './helpers/models';
import { type Arch, denseNaturalGradient, type Loss, relErr } from './helpers/reference';

const EPS32 = 2 ** -23;
const ONE_CALL = 'NATGRAD_DEVICE_STEP';

const THREADS = backend().threads;
afterEach(() => {
  delete process.env[ONE_CALL];
  setThreads(THREADS);
});

/** Runs f with the one-call step on (the default) or off (the host pipeline). */
function withOneCall<T>(on: boolean, f: () => T): T {
  if (on) delete process.env[ONE_CALL];
  else process.env[ONE_CALL] = '0';
  try {
    return f();
  } finally {
    delete process.env[ONE_CALL];
  }
}

function optimizer(pr: Problem, damping: number, lr = 1) {
  const model = buildModel(pr.arch);
  model.setParameters(pr.theta);
  return new NaturalGradient(model, { loss: pr.loss, damping, lr, adaptive: false });
}

const r = (loss: Loss, k: number) => (loss === 'categorical' ? k - 1 : k);
const condition = (eigs: Float64Array, lambda: number, size: number) => {
  const e = (i: number) => (i < eigs.length ? Math.max(eigs[i], 0) : 0);
  return (e(0) + lambda) / (e(size - 1) + lambda);
};

// Every activation and family; N·r < P (the kernel is the smaller system, where the one-call step runs).
const SETUPS: [Loss, Arch, number][] = [
  ['categorical', [{ linear: [6, 10] }, 'tanh', { linear: [10, 8] }, 'relu', { linear: [8, 4] }], 7],
  ['gaussian', [{ linear: [6, 9] }, 'gelu', { linear: [9, 7] }, 'softplus', { linear: [7, 3] }], 6],
  ['bernoulli', [{ linear: [6, 8] }, 'sigmoid', { linear: [8, 5] }, 'tanh', { linear: [5, 1] }], 12],
];

describe('the one-call step against the host pipeline and float64', () => {
  for (const [loss, arch, n] of SETUPS) {
    for (const lambda of [1e-3, 1, 0]) {
      it(`${loss}, λ = ${lambda}`, () => {
        const pr = problem(loss, arch, n, 3);
        const k = (arch[arch.length - 1] as { linear: [number, number] }).linear[1];
        const m = n * r(loss, k);
        const ref = denseNaturalGradient(arch, pr.theta, pr.x, pr.y, n, loss, lambda);
        const kappa = condition(ref.eigenvalues, lambda, m);
        // λ = 0: every genuine eigenvalue ≥ 10× the float32 cutoff M·ε32·e_1, so the rank is the reference's
        if (lambda === 0) expect(kappa * m * EPS32, `κ = ${kappa.toExponential(2)}`).toBeLessThanOrEqual(0.1);
        const run = (on: boolean) =>
          withOneCall(on, () => {
            const opt = optimizer(pr, lambda);
            const d = opt.direction(pr.x, pr.y, n);
            return { d, profile: opt.profile! };
          });
        const one = run(true);
        const host = run(false);
        expect(one.profile.fused).toBe(true);
        expect(one.profile.device).toBeUndefined(); // 'resident' is the GPU's
        expect(host.profile.fused).toBeUndefined();
        expect(one.profile.solver).toBe(lambda > 0 ? 'cholesky' : 'pinv');
        expect(one.profile.rank).toBe(host.profile.rank);
        if (lambda === 0) expect(one.profile.rank).toBe(ref.rank);
        for (const stage of ['forward', 'backprop', 'kernel', 'solve', 'update'] as const) expect(one.profile[stage]).toBeGreaterThanOrEqual(0);
        const bound = (10 + kappa) * EPS32;
        expect(relErr(one.d, ref.direction), `κ = ${kappa.toExponential(2)}`).toBeLessThanOrEqual(bound);
        expect(relErr(host.d, ref.direction)).toBeLessThanOrEqual(bound);
        expect(relErr(one.d, host.d)).toBeLessThanOrEqual(2 * bound);
      });
    }
  }

  it('a step: the loss, the quadratic model, the trial loss and θ after it as the host pipeline has them', () => {
    for (const [loss, arch, n] of SETUPS) {
      const pr = problem(loss, arch, n, 4);
      const step = (on: boolean) =>
        withOneCall(on, () => {
          const opt = optimizer(pr, 1e-2, 0.5);
          const info = opt.step(pr.x, pr.y, n);
          return { info, fused: opt.profile!.fused, theta: opt.model.getParameters() };
        });
      const one = step(true);
      const host = step(false);
      expect(one.fused).toBe(true);
      expect(one.info.accepted && host.info.accepted).toBe(true);
      // L(θ): float64 sums of the same float32 forward pass, the family's float64 formulas: a few ε32 apart
      expect(Math.abs(one.info.loss - host.info.loss)).toBeLessThanOrEqual(16 * EPS32 * Math.max(1, host.info.loss));
      // θ − lr·n, the predicted decrease and the loss there carry the directions' difference (measured
      // ≤ 3e-7 relative on these draws; the bounds leave ~30–300× of it)
      expect(relErr(one.theta, host.theta)).toBeLessThanOrEqual(1e-5);
      for (const f of ['predicted', 'trialLoss'] as const)
        expect(Math.abs(one.info[f]! - host.info[f]!), `${loss}: ${f}`).toBeLessThanOrEqual(1e-4 * Math.max(1, Math.abs(host.info[f]!)));
    }
  });

  it('stepAsync gives the bits of step()', async () => {
    const [loss, arch, n] = SETUPS[0];
    const pr = problem(loss, arch, n, 5);
    const a = optimizer(pr, 1e-2);
    const b = optimizer(pr, 1e-2);
    a.step(pr.x, pr.y, n);
    await b.stepAsync(pr.x, pr.y, n);
    expect(a.profile!.fused && b.profile!.fused).toBe(true);
    expect(Buffer.from(b.model.params.buffer).equals(Buffer.from(a.model.params.buffer))).toBe(true);
  });

  it("the same bits on 1 and 2 threads where every kernel it calls is thread-independent (natgrad's own gemm and Cholesky)", (ctx) => {
    const ti = backend().threadIndependent;
    if (!ti.includes('gemm') || !ti.includes('choleskySolve float32')) ctx.skip(); // OpenBLAS's threaded sgemm/potrf: not promised
    const [loss, arch] = SETUPS[0];
    const pr = problem(loss, arch, 40, 6); // N·r = 120 < P = 244: large enough for several tiles and tasks
    const dir = (threads: number) => {
      setThreads(threads);
      return optimizer(pr, 1e-3).direction(pr.x, pr.y, 40);
    };
    expect(Buffer.from(dir(1).buffer).equals(Buffer.from(dir(2).buffer))).toBe(true);
  });
});

describe('what the one-call step hands to the host pipeline', () => {
  it('a non-positive Cholesky pivot: the host answers with its float64 pseudo-inverse, as without the one-call step', () => {
    // one linear layer 2 → 1, gaussian, N = 20: K is 20 × 20 of rank ≤ 3, and λ = 1e-12 leaves it singular in float32
    const arch: Arch = [{ linear: [2, 1] }];
    const pr = problem('gaussian', arch, 20, 7);
    const theta = Float32Array.from(pr.theta);
    expect(() => exactStep([-1, 2, 1], 'gaussian', theta, pr.x, pr.y, 20, { damping: 1e-12 })).toThrow(
      expect.objectContaining({ code: 'ERR_NOT_POSITIVE_DEFINITE' })
    );
    const run = (on: boolean) =>
      withOneCall(on, () => {
        const model = buildModel(arch);
        model.setParameters(pr.theta);
        const opt = new NaturalGradient(model, { loss: 'gaussian', damping: 1e-12, space: 'kernel' }); // (P < N·r: 'auto' solves in parameter space)
        const d = opt.direction(pr.x, pr.y, 20);
        return { d, profile: opt.profile! };
      });
    const one = run(true);
    const host = run(false);
    expect(one.profile.solver).toBe('pinv-fallback');
    expect(one.profile.fused).toBeUndefined();
    expect(Buffer.from(one.d.buffer).equals(Buffer.from(host.d.buffer))).toBe(true);
  });

  it('an overflowing batch: rejected with the reason the host pipeline gives', () => {
    const [loss, arch, n] = SETUPS[0];
    const pr = problem(loss, arch, n, 8);
    const big = pr.x.map((v) => v * 1e30);
    const reason = (on: boolean) => withOneCall(on, () => optimizer(pr, 1e-3).step(big, pr.y, n).reason);
    const one = reason(true);
    expect(one).toMatch(/rejected at once/);
    expect(one).toBe(reason(false));
  });

  it('models and settings it does not cover take the host pipeline', () => {
    const [loss, arch, n] = SETUPS[0];
    const pr = problem(loss, arch, n, 9);
    const fusedWith = (options: Record<string, unknown>) => {
      const model = buildModel(pr.arch);
      model.setParameters(pr.theta);
      const opt = new NaturalGradient(model, { loss, damping: 1e-3, ...options });
      opt.direction(pr.x, pr.y, n);
      return opt.profile!.fused;
    };
    expect(fusedWith({})).toBe(true);
    expect(fusedWith({ space: 'parameter' })).toBeUndefined();
    expect(fusedWith({ precision: 'float64' })).toBeUndefined();
    expect(fusedWith({ assembly: 'dense' })).toBeUndefined();
    expect(fusedWith({ solver: 'cg' })).toBeUndefined();
    const cnn = sequential([conv2d(1, 2, 3), tanh(), flatten(), linear(8, 3)], { seed: 1, inputShape: [1, 4, 4] });
    const opt = new NaturalGradient(cnn, { loss: 'categorical', damping: 1e-3 });
    opt.direction(
      Float32Array.from({ length: 2 * 16 }, (_, i) => Math.sin(i)),
      new Float32Array([0, 2]),
      2
    );
    expect(opt.profile!.fused).toBeUndefined();
  });
});

describe('exactStep on the CPU backend: argument errors', () => {
  const L = [-1, 6, 10, 0, 10, 10, -1, 10, 4];
  const theta = new Float32Array(6 * 10 + 10 + 10 * 4 + 4).fill(0.1);
  const x = new Float32Array(3 * 6).fill(0.5);
  const y = new Float32Array([0, 1, 3]);
  const call = (over: { layers?: number[]; family?: 'gaussian' | 'categorical' | 'bernoulli'; theta?: Float32Array; y?: Float32Array }) => () =>
    exactStep(over.layers ?? L, over.family ?? 'categorical', over.theta ?? theta, x, over.y ?? y, 3, { damping: 0.1 });
  it('names the bad argument', () => {
    expect(call({})).not.toThrow();
    expect(call({ y: new Float32Array([0, 4, 1]) })).toThrow("exactStep: 'y[1]' is 4; categorical targets must be class indices 0…3");
    expect(call({ layers: [-1, 6, 10, -1, 9, 4] })).toThrow("exactStep: argument 'layers': layer 1 takes 9 inputs, but the layer before gives 10");
    expect(call({ family: 'bernoulli' })).toThrow("exactStep: the last layer's width 4 does not fit a bernoulli output (one logit)");
    expect(call({ theta: theta.subarray(1) })).toThrow(`exactStep: argument 'theta' must have length ${theta.length}, got ${theta.length - 1}`);
  });
});
