// float64 models (sequential(layers, { dtype: 'float64' })) end to end, against the float64 references of
// test/helpers/reference.ts, with float64 bounds.
//
// Tolerances. In float64 (ε₆₄ = 2⁻⁵² ≈ 2.2e-16) the forward pass and the Jacobian are sums of ≤ 8 products
// per layer: relative errors of order 10·ε₆₄. The exact direction solves a system whose kernel carries
// relative rounding errors of order (P + M)·ε₆₄ (sums over P parameters or M = N·r kernel rows), which a
// backward-stable solve turns into at most ≈ κ times that in the direction (κ: the condition number of
// the matrix actually solved; docs/design.md §2). The reference itself (a dense P × P eigendecomposition)
// is accurate to κ_P·P·ε₆₄ only, κ_P = (e_1 + λ)/(e_P + λ) over all P eigenvalues — 1/λ-large when F_θ
// is singular (N·r < P) — so the bound uses the larger of the two. Each comparison asserts
// (10 + κ)·(P + M)·ε₆₄ — and at
// λ = 1e-8, where κ reaches 1e5–1e7, that bound is far below what float32 can reach (κ·ε₃₂ ≥ 1e-2): the
// test runs the float32 model too and asserts it is worse by orders of magnitude.
import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Adam, linear, loadCheckpoint, NaturalGradient, SGD, Sequential, saveCheckpoint, sequential, tanh } from '../lib/index';
import { buildModel, mlp, problem } from './helpers/models';
import { type Arch, denseNaturalGradient, forward64, jacobian64, type Loss, numParams, outDim, relErr } from './helpers/reference';

const EPS64 = 2 ** -52;

/** The float64 model of an architecture at the float32-rounded parameters `theta`. */
function model64(arch: Arch, theta: Float32Array): Sequential<'float64'> {
  const f32 = buildModel(arch);
  const m = sequential(f32.layers, { dtype: 'float64' });
  m.setParameters(Float64Array.from(theta));
  return m;
}

/** The optimizer tests' problem (test/helpers/models.ts) with its data also as Float64Arrays. */
function problem64(loss: Loss, arch: Arch, n: number, seed: number) {
  const pr = problem(loss, arch, n, seed);
  return { ...pr, x64: Float64Array.from(pr.x), y64: Float64Array.from(pr.y), k: outDim(arch), p: numParams(arch) };
}

/** κ of the solved matrix from F_θ's eigenvalues (descending), λ, and the size of the space solved in. */
function condition(eigenvalues: Float64Array, lambda: number, size: number): number {
  const e = Array.from(eigenvalues).slice(0, size);
  while (e.length < size) e.push(0);
  return (Math.max(e[0], 0) + lambda) / (Math.max(e[e.length - 1], 0) + lambda);
}

describe('float64 models', () => {
  it('dtype float64: θ, the forward pass and the Jacobian in double, against float64 references', () => {
    const arch = mlp([3, 7, 5, 2], 'tanh');
    const pr = problem64('gaussian', arch, 6, 1);
    const m = model64(arch, pr.theta);
    expect(m.dtype).toBe('float64');
    expect(m.params).toBeInstanceOf(Float64Array);
    expect(m.getParameters()).toBeInstanceOf(Float64Array);
    const eta = m.forward(pr.x64, pr.n);
    expect(eta).toBeInstanceOf(Float64Array);
    expect(relErr(eta, forward64(arch, pr.theta, pr.x64, pr.n))).toBeLessThan(100 * EPS64);
    const jac = m.jacobian(pr.x64, pr.n);
    expect(jac).toBeInstanceOf(Float64Array);
    expect(relErr(jac, jacobian64(arch, pr.theta, pr.x64, pr.n))).toBeLessThan(100 * EPS64);
    // the same seed draws the same initial parameters; float32 holds them rounded
    const a = sequential([linear(4, 6), tanh(), linear(6, 1)], { seed: 7 });
    const b = sequential([linear(4, 6), tanh(), linear(6, 1)], { seed: 7, dtype: 'float64' });
    expect(Array.from(a.params)).toEqual(Array.from(b.params, Math.fround));
    expect(b.params.some((v, i) => v !== a.params[i])).toBe(true);
  });

  it('no silent conversion: a float32 model refuses Float64Array data and the reverse, naming the argument', () => {
    const m32 = sequential([linear(2, 3), tanh(), linear(3, 1)]);
    const m64 = sequential([linear(2, 3), tanh(), linear(3, 1)], { dtype: 'float64' });
    expect(() => m32.forward(new Float64Array(2) as never, 1)).toThrow(/forward: 'x' must be a Float32Array, got Float64Array\(2\) \(the model is float32/);
    expect(() => m64.forward(new Float32Array(2) as never, 1)).toThrow(/forward: 'x' must be a Float64Array, got Float32Array\(2\) \(the model is float64/);
    expect(() => m64.setParameters(new Float32Array(m64.numParameters) as never)).toThrow(TypeError);
    expect(() => m64.forward(new Float64Array([0, Number.NaN]), 1)).toThrow(/'x\[1\]' is NaN/);
    const opt = new NaturalGradient(m64, { loss: 'gaussian' });
    expect(() => opt.step(new Float64Array(2), new Float32Array(1) as never, 1)).toThrow(/'y' must be a Float64Array, got Float32Array/);
    expect(() => new Adam(m64, { loss: 'gaussian' }).step(new Float32Array(2) as never, new Float64Array(1), 1)).toThrow(TypeError);
    expect(() => sequential([linear(2, 1)], { dtype: 'float16' as never })).toThrow(/option 'dtype' must be 'float32' or 'float64', got 'float16'/);
    // the natural-chain-rule proposal's methods are float32 only
    expect(() => new NaturalGradient(m64, { loss: 'gaussian', method: 'chain' })).toThrow(/float32 models only/);
    expect(() => new NaturalGradient(m64, { loss: 'gaussian', method: 'per-sample' })).toThrow(/float32 models only/);
  });

  const CASES: [Loss, Arch, number][] = [
    ['gaussian', mlp([4, 8, 2], 'tanh'), 12], // N·k = 24 < P = 58: F_θ singular
    ['categorical', mlp([4, 6, 5, 3], 'gelu'), 50], // N·r = 100 > P = 83: F_θ has full rank
    ['bernoulli', mlp([3, 5, 1], 'softplus'), 40], // N = 40 > P = 26: F_θ has full rank
  ];
  for (const [loss, arch, n] of CASES) {
    for (const lambda of [1, 1e-3, 1e-8]) {
      it(`the exact direction, ${loss} ${arch.length > 3 ? '2 hidden' : '1 hidden'}, λ = ${lambda}: within (10 + κ)·(P + M)·ε₆₄ of the dense float64 one`, () => {
        const pr = problem64(loss, arch, n, 5);
        const ref = denseNaturalGradient(arch, pr.theta, pr.x64, pr.y64, n, loss, lambda, 1e-14);
        const m = model64(arch, pr.theta);
        for (const space of ['kernel', 'parameter'] as const) {
          const opt = new NaturalGradient(m, { loss, damping: lambda, space });
          const d = opt.direction(pr.x64, pr.y64, n);
          expect(d).toBeInstanceOf(Float64Array);
          const size = opt.profile!.size;
          const kappa = Math.max(condition(ref.eigenvalues, lambda, size), condition(ref.eigenvalues, lambda, pr.p));
          const err = relErr(d, ref.direction);
          expect(err, `${space}: κ = ${kappa.toExponential(2)}`).toBeLessThanOrEqual((10 + kappa) * (pr.p + size) * EPS64);
          const rows = n * (loss === 'categorical' ? pr.k - 1 : pr.k); // N·r
          if (lambda === 1e-8 && space === 'parameter' && rows > pr.p) {
            // where F_θ has full rank (the reference is then accurate): float32 cannot — the same
            // model in float32 is off by orders of magnitude more
            const m32 = buildModel(arch);
            m32.setParameters(pr.theta);
            const d32 = new NaturalGradient(m32, { loss, damping: lambda, space }).direction(pr.x, pr.y, n);
            expect(relErr(d32, ref.direction), `float32 at κ = ${kappa.toExponential(2)}`).toBeGreaterThan(1000 * err);
          }
        }
      });
    }
  }

  it('λ = 0: the Moore–Penrose direction keeps eigenvalues down to size·ε₆₄ (float32 cuts at size·ε₃₂)', () => {
    const arch = mlp([4, 8, 1], 'tanh');
    const pr = problem64('gaussian', arch, 20, 8);
    const ref = denseNaturalGradient(arch, pr.theta, pr.x64, pr.y64, pr.n, 'gaussian', 0, 1e-13);
    const m = model64(arch, pr.theta);
    const opt = new NaturalGradient(m, { loss: 'gaussian', damping: 0, adaptive: false });
    const d = opt.direction(pr.x64, pr.y64, pr.n);
    expect(opt.profile!.solver).toBe('pinv');
    expect(opt.profile!.rank).toBe(ref.rank);
    expect(relErr(d, ref.direction)).toBeLessThanOrEqual((10 + ref.cond) * (pr.p + pr.n) * EPS64);
  });

  it('conjugate gradients in float64 reach a residual float32 products cannot (1e-12)', () => {
    const arch = mlp([4, 8, 1], 'tanh');
    const pr = problem64('gaussian', arch, 30, 9);
    const ref = denseNaturalGradient(arch, pr.theta, pr.x64, pr.y64, pr.n, 'gaussian', 1e-2, 1e-14);
    const opt = new NaturalGradient(model64(arch, pr.theta), { loss: 'gaussian', damping: 1e-2, solver: 'cg', tolerance: 1e-12, maxIterations: 500 });
    const d = opt.direction(pr.x64, pr.y64, pr.n);
    expect(opt.profile!.converged).toBe(true);
    expect(opt.profile!.residual!).toBeLessThanOrEqual(1e-12);
    expect(relErr(d, ref.direction)).toBeLessThan(1e-8);
  });

  it('steps: NaturalGradient (with SPRING), Adam and SGD; stepAsync bit-identical; state and model JSON round trips in float64', async () => {
    const arch = mlp([2, 6, 1], 'tanh');
    const pr = problem64('gaussian', arch, 16, 3);
    const a = model64(arch, pr.theta);
    const b = model64(arch, pr.theta);
    const oa = new NaturalGradient(a, { loss: 'gaussian', damping: 1e-3, momentum: 0.5 });
    const ob = new NaturalGradient(b, { loss: 'gaussian', damping: 1e-3, momentum: 0.5 });
    for (let s = 0; s < 3; s++) {
      const ia = oa.step(pr.x64, pr.y64, pr.n);
      const ib = await ob.stepAsync(pr.x64, pr.y64, pr.n);
      expect(ia).toEqual(ib);
      expect(ia.accepted).toBe(true);
      expect(ia.lossAfter).toBeLessThan(ia.loss);
    }
    expect(Buffer.from(a.params.buffer).equals(Buffer.from(b.params.buffer))).toBe(true);
    // the optimizer's state (SPRING's n₋ as float64 bytes) and the model round-trip losslessly
    const c = Sequential.fromJSON(JSON.parse(JSON.stringify(a))) as Sequential<'float64'>;
    expect(c.dtype).toBe('float64');
    expect(Buffer.from(c.params.buffer).equals(Buffer.from(a.params.buffer))).toBe(true);
    const oc = NaturalGradient.fromState(c, JSON.parse(JSON.stringify(oa.state())));
    expect(oc.step(pr.x64, pr.y64, pr.n)).toEqual(oa.step(pr.x64, pr.y64, pr.n));
    expect(Buffer.from(c.params.buffer).equals(Buffer.from(a.params.buffer))).toBe(true);
    // first-order optimizers on a float64 model
    for (const opt of [new Adam(model64(arch, pr.theta), { loss: 'gaussian', lr: 1e-2 }), new SGD(model64(arch, pr.theta), { loss: 'gaussian', lr: 1e-2 })]) {
      const info = opt.step(pr.x64, pr.y64, pr.n);
      expect(info.accepted).toBe(true);
      expect(opt.model.params).toBeInstanceOf(Float64Array);
    }
    // the gradient against the dense float64 one
    const ref = denseNaturalGradient(arch, pr.theta, pr.x64, pr.y64, pr.n, 'gaussian', 1);
    const g = new NaturalGradient(model64(arch, pr.theta), { loss: 'gaussian' }).gradient(pr.x64, pr.y64, pr.n);
    expect(relErr(g, ref.gTheta)).toBeLessThan(100 * EPS64 * pr.p);
  });

  it('checkpoints: a float64 model with its NaturalGradient (SPRING) and Adam resume bit-identically', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'natgrad-f64-'));
    try {
      const arch = mlp([2, 5, 1], 'tanh');
      const pr = problem64('gaussian', arch, 10, 4);
      for (const make of [
        (m: Sequential<'float64'>) => new NaturalGradient(m, { loss: 'gaussian', damping: 1e-3, momentum: 0.5 }),
        (m: Sequential<'float64'>) => new Adam(m, { loss: 'gaussian', lr: 1e-2 }),
      ]) {
        const ref = make(model64(arch, pr.theta));
        const run = make(model64(arch, pr.theta));
        for (let s = 0; s < 3; s++) {
          ref.step(pr.x64, pr.y64, pr.n);
          run.step(pr.x64, pr.y64, pr.n);
        }
        const file = path.join(dir, 'f64.ckpt');
        saveCheckpoint(file, { model: run.model, optimizer: run });
        const loaded = loadCheckpoint(file);
        expect(loaded.model.dtype).toBe('float64');
        for (let s = 0; s < 3; s++) expect(loaded.optimizer!.step(pr.x64 as never, pr.y64 as never, pr.n)).toEqual(ref.step(pr.x64, pr.y64, pr.n));
        expect(Buffer.from(loaded.model.params.buffer).equals(Buffer.from(ref.model.params.buffer))).toBe(true);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('sinc(10x) on 200 points (the demo problem): NGD in float64 goes below 1e-10 MSE', () => {
    // float32 stalls near 2e-9 here (its kernel's rounding spoils ρ, and λ climbs; the demo prints both)
    const n = 200;
    const x = Float64Array.from({ length: n }, (_, i) => -1 + (2 * i) / (n - 1));
    const y = x.map((t) => (t === 0 ? 1 : Math.sin(10 * t) / (10 * t)));
    const m = sequential([linear(1, 20), tanh(), linear(20, 20), tanh(), linear(20, 1)], { seed: 0, dtype: 'float64' });
    const opt = new NaturalGradient(m, { loss: 'gaussian', lr: 1, damping: 1e-3, adaptive: { min: 1e-14 } });
    let mse = Infinity;
    for (let s = 0; s < 500 && mse > 1e-10; s++) mse = 2 * opt.step(x, y, n).lossAfter;
    expect(mse).toBeLessThan(1e-10);
  });
});
