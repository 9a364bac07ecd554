// NaturalGradient 'exact' against a dense float64 reference built in the test:
//   F_θ = (1/N) Σ_i G_i F_i G_iᵀ,  g_θ = (1/N) Σ_i G_i g_i,  n_θ = (F_θ + λI)⁺ g_θ
// with G from an analytic float64 Jacobian (itself checked against finite differences in nn.test.ts)
// and the pseudo-inverse from a Jacobi eigendecomposition (test/helpers/reference.ts).
//
// Tolerances. The library works in float32 (ε32 = 2⁻²³ ≈ 1.2e-7): the kernel SᵀS (or S Sᵀ) and the
// right-hand side carry relative rounding errors of order 10·ε32 (forward and backward passes through
// ≤ 3 hidden layers, dot products of ≤ 8 terms, rounding of seeds and u). A backward-stable solve turns a
// relative perturbation δ of its system into a relative error of at most ≈ κ·δ in the solution (first-order
// perturbation theory), κ being the condition number of the matrix actually solved on the range used:
//   kernel space:    (e_1 + λ)/(e_M + λ)   over the M = N·r largest eigenvalues of F_θ (0 beyond rank),
//   parameter space: (e_1 + λ)/(e_P + λ)   over all P eigenvalues,
//   λ = 0 (pinv):    e_1 / e_rank           on the range.
// So each comparison asserts  ‖n − n_ref‖/‖n_ref‖ ≤ (10 + κ)·ε32  (measured: 0.05–0.5 of it), and for
// λ ≥ 1e-3 on the default path also the contract 1e-4, on draws whose κ ≤ 5000 ("well-conditioned":
// κ·ε32 ≤ 6e-4, of which the measured fraction ≤ 0.5 leaves < 1e-4).
// λ = 0 has no damping to bound κ: random MLPs often reach κ ≥ 1e6 (docs/design.md §2), beyond what a float32
// kernel resolves — the pseudo-inverse then hinges on which eigenvalues fall under the cutoff
// size·ε32·e_1. The λ = 0 draws are therefore required to satisfy κ·size·ε32 ≤ 0.1, so that every genuine
// eigenvalue lies ≥ 10× above the cutoff and the rank is the reference's, and the (10 + κ)·ε32 bound is
// asserted (up to 2.4e-3 at the largest κ used here).
import { describe, expect, it } from 'vitest';
import { linear, NaturalGradient, sequential, tanh } from '../lib/index';
import { type Arch, denseNaturalGradient, forward64, grad64, fisher64, loss64, type Loss, numParams, outDim, relErr, targetWidth } from './helpers/reference';
import { buildModel, mlp, randomInputs, randomParams, randomTargets } from './helpers/models';

const EPS32 = 2 ** -23;
const LOSSES: Loss[] = ['gaussian', 'categorical', 'bernoulli'];
const kOf = (loss: Loss) => (loss === 'bernoulli' ? 1 : 3);
const rOf = (loss: Loss, k: number) => (loss === 'categorical' ? k - 1 : k);

/** Networks with 1, 2 and 3 hidden layers (input width 4) and k outputs. */
function archs(k: number): [string, Arch][] {
  return [
    ['1 hidden (tanh)', mlp([4, 8, k], 'tanh')],
    ['2 hidden (relu)', mlp([4, 6, 5, k], 'relu')],
    ['3 hidden (tanh, gelu, softplus)', [{ linear: [4, 5] }, 'tanh', { linear: [5, 5] }, 'gelu', { linear: [5, 4] }, 'softplus', { linear: [4, k] }]],
  ];
}

interface Problem {
  arch: Arch;
  theta: Float32Array;
  x: Float32Array;
  y: Float32Array;
  n: number;
  k: number;
  r: number;
  p: number;
}

/** A random problem with N·r ≈ ratio·P. */
function problem(loss: Loss, arch: Arch, ratio: number, seed: number): Problem {
  const k = outDim(arch);
  const r = rOf(loss, k);
  const p = numParams(arch);
  const n = Math.max(2, Math.round((ratio * p) / r));
  const d = typeof arch[0] === 'string' ? 0 : arch[0].linear[0];
  return { arch, theta: randomParams(arch, seed), x: randomInputs(n, d, 1000 + seed), y: randomTargets(loss, n, k, 2000 + seed), n, k, r, p };
}

function optimizer(pr: Problem, options: ConstructorParameters<typeof NaturalGradient>[1]): NaturalGradient<'float32'> {
  const model = buildModel(pr.arch);
  model.setParameters(pr.theta);
  return new NaturalGradient(model, options);
}

/** Condition number of the system solved in `space` (see the header). */
function condition(eigs: Float64Array, lambda: number, size: number): number {
  const e = (i: number) => (i < eigs.length ? Math.max(eigs[i], 0) : 0);
  return (e(0) + lambda) / (e(size - 1) + lambda);
}

describe('options and arguments', () => {
  const model = sequential([linear(2, 4), tanh(), linear(4, 3)]);
  const x = new Float32Array(4);

  it('rejects bad options, naming them', () => {
    expect(() => new NaturalGradient(model, { loss: 'poisson' as never })).toThrow(/option 'loss' must be 'gaussian', 'categorical' or 'bernoulli'/);
    expect(() => new NaturalGradient(model, {} as never)).toThrow(/option 'loss'/);
    expect(() => new NaturalGradient(model, { loss: 'gaussian', damping: -1 })).toThrow(/option 'damping' must be a finite number ≥ 0/);
    expect(() => new NaturalGradient(model, { loss: 'gaussian', lr: NaN })).toThrow(/option 'lr'/);
    expect(() => new NaturalGradient(model, { loss: 'gaussian', damping: '1' as never })).toThrow(TypeError);
    expect(() => new NaturalGradient(model, { loss: 'gaussian', precision: 'float16' as never })).toThrow(/option 'precision'/);
    expect(() => new NaturalGradient(model, { loss: 'gaussian', space: 'both' as never })).toThrow(/option 'space'/);
    expect(() => new NaturalGradient(model, { loss: 'gaussian', rcond: 0 })).toThrow(/option 'rcond'/);
    expect(() => new NaturalGradient(model, { loss: 'gaussian', dampening: 1 } as never)).toThrow(/unknown option 'dampening'/);
    expect(() => new NaturalGradient({} as never, { loss: 'gaussian' })).toThrow(TypeError);
    expect(() => new NaturalGradient(model, { loss: 'bernoulli' })).toThrow(/must be 1 for a bernoulli output/);
    expect(() => new NaturalGradient(sequential([linear(2, 1)]), { loss: 'categorical' })).toThrow(/must be ≥ 2 for a categorical output/);
    const opt = new NaturalGradient(model, { loss: 'gaussian' });
    expect(() => (opt.damping = -0.5)).toThrow(RangeError);
    expect(() => (opt.lr = Infinity)).toThrow(RangeError);
  });

  it("accepts the methods 'exact', 'per-sample' and 'chain' (the latter two: test/per_sample.test.ts, test/chain.test.ts)", () => {
    expect(new NaturalGradient(model, { loss: 'gaussian', method: 'per-sample' }).method).toBe('per-sample');
    expect(new NaturalGradient(model, { loss: 'gaussian', method: 'chain' }).method).toBe('chain');
    expect(() => new NaturalGradient(model, { loss: 'gaussian', method: 'newton' as never })).toThrow(
      /option 'method' must be 'exact' or 'per-sample' or 'chain'/
    );
    expect(new NaturalGradient(model, { loss: 'gaussian', method: 'exact' }).method).toBe('exact');
  });

  it("the exact solve's settings only with method 'exact': TypeScript refuses them elsewhere, and so does the constructor", () => {
    for (const method of ['per-sample', 'chain'] as const) {
      // @ts-expect-error precision is an option of method 'exact' only (ExactNaturalGradientOptions)
      expect(() => new NaturalGradient(model, { loss: 'gaussian', method, precision: 'float64' })).toThrow(
        new RegExp(
          `option 'precision' needs method 'exact' \\(method '${method}' takes only loss, lr, damping, method, adaptive, maxStepNorm, maxKL, lineSearch\\)`
        )
      );
      for (const [name, value] of Object.entries({ momentum: 0.5, rcond: 1e-6, space: 'kernel', assembly: 'dense', maxMemory: 1e9 })) {
        expect(() => new NaturalGradient(model, { loss: 'gaussian', method, [name]: value } as never)).toThrow(
          new RegExp(`option '${name}' needs method 'exact'`)
        );
      }
      // the common options are fine, and an exact-only option left undefined is no option
      const opt = new NaturalGradient(model, { loss: 'gaussian', method, lr: 0.5, damping: 0.1, adaptive: false, maxStepNorm: 1, maxKL: 1 });
      expect(opt.method).toBe(method);
      expect(new NaturalGradient(model, { loss: 'gaussian', method, precision: undefined } as never).method).toBe(method);
    }
    // with method 'exact' (or none) every option applies
    const exact = { loss: 'gaussian', momentum: 0.5, precision: 'float64', rcond: 1e-6, space: 'kernel', assembly: 'dense', maxMemory: 1e9 } as const;
    expect(new NaturalGradient(model, exact).method).toBe('exact');
    expect(new NaturalGradient(model, { ...exact, method: 'exact' }).method).toBe('exact');
  });

  it('checks x, y and batch, naming them', () => {
    const cat = new NaturalGradient(model, { loss: 'categorical' });
    expect(() => cat.direction(new Float32Array(3), Float32Array.of(0, 1), 2)).toThrow(/'x' must have length 4/);
    expect(() => cat.direction(x, Float32Array.of(0, 3), 2)).toThrow(/'y\[1\]' is 3; categorical targets must be class indices 0…2/);
    expect(() => cat.direction(x, Float32Array.of(0, 1.5), 2)).toThrow(RangeError);
    expect(() => cat.step(x, Float32Array.of(0), 2)).toThrow(/'y' must have length 2/);
    expect(() => cat.direction(x, [0, 1] as never, 2)).toThrow(TypeError);
    expect(() => cat.direction(x, Float32Array.of(0, 1), 0)).toThrow(/'batch' must be a positive integer/);
    const gauss = new NaturalGradient(model, { loss: 'gaussian' });
    expect(() => gauss.direction(x, new Float32Array(2), 2)).toThrow(/'y' must have length 6/);
    const bern = new NaturalGradient(sequential([linear(2, 1)]), { loss: 'bernoulli' });
    expect(() => bern.direction(x, Float32Array.of(1, 2), 2)).toThrow(/'y\[1\]' is 2; bernoulli targets must be 0 or 1/);
  });
});

describe('gradient and loss against float64 finite differences', () => {
  for (const loss of LOSSES) {
    it(loss, () => {
      const k = kOf(loss);
      const arch = archs(k)[2][1];
      const pr = problem(loss, arch, 0.5, 7);
      const opt = optimizer(pr, { loss });
      const { x, y, n, p } = pr;
      const tw = targetWidth(loss, k);
      const lossAt = (theta: ArrayLike<number>) => {
        const eta = forward64(arch, theta, x, n);
        let s = 0;
        for (let i = 0; i < n; i++) s += loss64(loss, eta.subarray(i * k, (i + 1) * k), y.subarray(i * tw, (i + 1) * tw));
        return s / n;
      };
      const theta = Float64Array.from(pr.theta);
      // Loss: the library evaluates η in float32 (relative error ≲ 1e-6, see nn.test.ts) and ℓ in float64.
      expect(Math.abs(opt.lossAt(x, y, n) - lossAt(theta))).toBeLessThan(1e-5 * (1 + lossAt(theta)));
      // Gradient vs central differences of the float64 loss, h = 1e-5: truncation ~h²·|L'''| ≈ 1e-10,
      // rounding ~ε64·L/h ≈ 1e-11. The float32 backprop is accurate to ~10·ε32 of the gradient's scale.
      const g = opt.gradient(x, y, n);
      const fd = new Float64Array(p);
      const h = 1e-5;
      for (let q = 0; q < p; q++) {
        const t0 = theta[q];
        theta[q] = t0 + h;
        const up = lossAt(theta);
        theta[q] = t0 - h;
        const dn = lossAt(theta);
        theta[q] = t0;
        fd[q] = (up - dn) / (2 * h);
      }
      expect(relErr(g, fd)).toBeLessThan(1e-5);
    });
  }
});

describe('direction against the dense float64 natural gradient', () => {
  for (const loss of LOSSES) {
    const k = kOf(loss);
    for (const [name, arch] of archs(k)) {
      for (const [regime, ratio] of [
        ['N·r < P', 0.4],
        ['N·r > P', 2],
      ] as const) {
        for (const lambda of [1e-3, 1]) {
          it(`${loss}, ${name}, ${regime}, λ = ${lambda}`, () => {
            const pr = problem(loss, arch, ratio, 10);
            const ref = denseNaturalGradient(arch, pr.theta, pr.x, pr.y, pr.n, loss, lambda);
            const m = pr.n * pr.r;
            const auto = pr.p < m ? 'parameter' : 'kernel';
            for (const space of ['auto', 'kernel', 'parameter'] as const) {
              const opt = optimizer(pr, { loss, damping: lambda, space });
              const d = opt.direction(pr.x, pr.y, pr.n);
              const solved = space === 'auto' ? auto : space;
              expect(opt.profile!.space).toBe(solved);
              expect(opt.profile!.solver).toBe('cholesky');
              const kappa = condition(ref.eigenvalues, lambda, solved === 'kernel' ? m : pr.p);
              const err = relErr(d, ref.direction);
              expect(err, `space ${space}: κ = ${kappa.toExponential(2)}`).toBeLessThanOrEqual((10 + kappa) * EPS32);
              if (space === 'auto') {
                expect(kappa, 'a well-conditioned draw').toBeLessThanOrEqual(5000);
                expect(err).toBeLessThanOrEqual(1e-4);
              }
            }
          });
        }
      }
    }
  }
});

describe('direction at λ = 0 (Moore–Penrose) against the dense float64 pseudo-inverse', () => {
  // [name, architecture, N·r / P]: well-conditioned draws (κ·size·ε32 ≤ 0.1 is asserted).
  // Above P only one hidden layer: deeper random MLPs with N·r > P have κ(F_θ) ≳ 1e6 at λ = 0.
  const CASES = (k: number): [string, Arch, number][] => [
    ['1 hidden (tanh), N·r < P', mlp([4, 8, k], 'tanh'), 0.2],
    ['2 hidden (relu), N·r < P', mlp([4, 6, 5, k], 'relu'), 0.2],
    ['3 hidden (tanh), N·r < P', mlp([4, 5, 5, 4, k], 'tanh'), 0.2],
    ['1 hidden (tanh), N·r > P', mlp([4, 3, k], 'tanh'), 2],
  ];
  const seed = 4;
  for (const loss of LOSSES) {
    for (const [name, arch, ratio] of CASES(kOf(loss))) {
      for (const precision of ['float32', 'float64'] as const) {
        it(`${loss}, ${name}, ${precision} factorisation`, () => {
          const pr = problem(loss, arch, ratio, seed);
          const ref = denseNaturalGradient(arch, pr.theta, pr.x, pr.y, pr.n, loss, 0);
          const opt = optimizer(pr, { loss, damping: 0, precision });
          const d = opt.direction(pr.x, pr.y, pr.n);
          const prof = opt.profile!;
          expect(prof.solver).toBe('pinv');
          expect(prof.space).toBe(pr.p < pr.n * pr.r ? 'parameter' : 'kernel');
          expect(ref.cond * prof.size * EPS32, `κ = ${ref.cond.toExponential(2)}`).toBeLessThanOrEqual(0.1);
          expect(prof.rank).toBe(ref.rank);
          expect(relErr(d, ref.direction)).toBeLessThanOrEqual((10 + ref.cond) * EPS32);
        });
      }
    }
  }
});

describe('same answer in kernel space, parameter space and with the dense Jacobian', () => {
  for (const loss of LOSSES) {
    it(loss, () => {
      const k = kOf(loss);
      for (const ratio of [0.4, 2]) {
        const pr = problem(loss, archs(k)[1][1], ratio, 5);
        const lambda = 1e-2;
        const ref = denseNaturalGradient(pr.arch, pr.theta, pr.x, pr.y, pr.n, loss, lambda);
        const m = pr.n * pr.r;
        const kappa = Math.max(condition(ref.eigenvalues, lambda, m), condition(ref.eigenvalues, lambda, pr.p));
        const layer = optimizer(pr, { loss, damping: lambda, space: 'kernel' }).direction(pr.x, pr.y, pr.n);
        const dense = optimizer(pr, { loss, damping: lambda, space: 'kernel', assembly: 'dense' }).direction(pr.x, pr.y, pr.n);
        const param = optimizer(pr, { loss, damping: lambda, space: 'parameter' }).direction(pr.x, pr.y, pr.n);
        // two float32 computations of the same quantity: each within (10 + κ)·ε32 of the truth
        expect(relErr(layer, dense)).toBeLessThanOrEqual(2 * (10 + kappa) * EPS32);
        expect(relErr(layer, param)).toBeLessThanOrEqual(2 * (10 + kappa) * EPS32);
      }
    });
  }
});

describe('function-space invariance at λ = 0 with N·k ≤ P', () => {
  // J [P, N·k] has full column rank, so n_θ = (F_θ)⁺ g_θ moves the outputs by Δη = Jᵀ n_θ with
  // F_i Δη_i = g_i for every sample: the step is the natural gradient in η, whatever the network.
  // (Softmax: F_i is singular, Δη_i = F_i⁺ g_i + c·1.) Residuals are relative to max ‖g_i‖, with the
  // same (10 + κ)·ε32 budget as the direction (Δη is J applied to it, with κ here the condition number of
  // JᵀFJ on its range).
  for (const loss of LOSSES) {
    const k = kOf(loss);
    for (const [name, arch] of [
      ['1 hidden', mlp([4, 8, k], 'tanh')],
      ['2 hidden', mlp([4, 6, 5, k], 'tanh')],
      ['3 hidden', mlp([4, 5, 5, 4, k], 'tanh')],
    ] as [string, Arch][]) {
      it(`${loss}, ${name}`, () => {
        const pr = problem(loss, arch, 0.2, 4);
        expect(pr.n * k).toBeLessThanOrEqual(pr.p);
        const ref = denseNaturalGradient(arch, pr.theta, pr.x, pr.y, pr.n, loss, 0);
        const d = optimizer(pr, { loss, damping: 0 }).direction(pr.x, pr.y, pr.n);
        const cols = pr.n * k;
        const eta = forward64(arch, pr.theta, pr.x, pr.n);
        const tw = targetWidth(loss, k);
        let worst = 0;
        let gmax = 0;
        for (let i = 0; i < pr.n; i++) {
          const dEta = Array.from({ length: k }, (_, j) => {
            let s = 0;
            for (let q = 0; q < pr.p; q++) s += ref.jac[q * cols + i * k + j] * d[q];
            return s;
          });
          const e = eta.subarray(i * k, (i + 1) * k);
          const f = fisher64(loss, e);
          const g = grad64(loss, e, pr.y.subarray(i * tw, (i + 1) * tw));
          for (let a = 0; a < k; a++) {
            let fa = 0;
            for (let b = 0; b < k; b++) fa += f[a * k + b] * dEta[b];
            worst = Math.max(worst, Math.abs(fa - g[a]));
            gmax = Math.max(gmax, Math.abs(g[a]));
          }
        }
        // preconditions: J Fᵢ-weighted has full rank N·r (smooth activations; relu draws can lose rank to
        // dead units) and the draw is well-conditioned in the λ = 0 sense above
        expect(ref.rank).toBe(pr.n * pr.r);
        expect(ref.cond * pr.n * pr.r * EPS32).toBeLessThanOrEqual(0.1);
        expect(worst / gmax).toBeLessThanOrEqual((10 + ref.cond) * EPS32);
      });
    }
  }

  it('one step with lr = 1 drives the linearised squared-loss residual to ~0', () => {
    const arch = mlp([4, 8, 8, 2], 'tanh'); // P = 130 > N·k = 26
    const pr = problem('gaussian', arch, 0.2, 1);
    const opt = optimizer(pr, { loss: 'gaussian', lr: 1, damping: 0, adaptive: false }); // the plain step, whatever the loss does
    const before = opt.model.getParameters();
    const eta0 = forward64(arch, before, pr.x, pr.n);
    const ref = denseNaturalGradient(arch, before, pr.x, pr.y, pr.n, 'gaussian', 0);
    const { loss } = opt.step(pr.x, pr.y, pr.n);
    expect(loss).toBeCloseTo(ref.loss, 5);
    const after = opt.model.getParameters();
    // linearised outputs: η + Jᵀ(θ' − θ); residual against y
    const cols = pr.n * pr.k;
    let res = 0;
    let res0 = 0;
    for (let c = 0; c < cols; c++) {
      let s = eta0[c];
      for (let q = 0; q < pr.p; q++) s += ref.jac[q * cols + c] * (after[q] - before[q]);
      res = Math.max(res, Math.abs(s - pr.y[c]));
      res0 = Math.max(res0, Math.abs(eta0[c] - pr.y[c]));
    }
    expect(ref.cond * pr.n * pr.k * EPS32).toBeLessThanOrEqual(0.1);
    // θ' − θ is −n_θ up to one float32 rounding of θ' (relative ε32 of ‖θ‖ ≈ 4.6, while ‖n_θ‖ ≈ 11 here),
    // which the 10·ε32 term of the budget covers
    expect(res / res0).toBeLessThanOrEqual((10 + ref.cond) * EPS32);
  });
});

describe('step, stepAsync and determinism', () => {
  const pr = problem('categorical', mlp([4, 6, 5, 3], 'relu'), 0.4, 3);

  it('direction leaves θ alone; step applies θ ← θ − lr·n and returns the loss before the step', () => {
    const opt = optimizer(pr, { loss: 'categorical', lr: 0.5, damping: 1e-3, adaptive: false }); // fixed λ, no rejection
    const theta0 = opt.model.getParameters();
    const n = opt.direction(pr.x, pr.y, pr.n);
    expect(Array.from(opt.model.getParameters())).toEqual(Array.from(theta0));
    // a descent direction: gᵀn = gᵀ(F_θ + λI)⁻¹g > 0
    const g = opt.gradient(pr.x, pr.y, pr.n);
    expect(g.reduce((s, v, q) => s + v * n[q], 0)).toBeGreaterThan(0);
    const loss0 = opt.lossAt(pr.x, pr.y, pr.n);
    const { loss } = opt.step(pr.x, pr.y, pr.n);
    expect(loss).toBe(loss0);
    const theta1 = opt.model.getParameters();
    for (let q = 0; q < theta0.length; q++) expect(theta1[q]).toBe(Math.fround(theta0[q] - 0.5 * n[q]));
  });

  it('is deterministic, and stepAsync is bit-identical to step', async () => {
    const a = optimizer(pr, { loss: 'categorical', damping: 1e-3 });
    const b = optimizer(pr, { loss: 'categorical', damping: 1e-3 });
    const da = a.direction(pr.x, pr.y, pr.n);
    const db = b.direction(pr.x, pr.y, pr.n);
    expect(Buffer.from(da.buffer).equals(Buffer.from(db.buffer))).toBe(true);
    const la = a.step(pr.x, pr.y, pr.n);
    const pending = b.stepAsync(pr.x, pr.y, pr.n);
    // the model is reserved while the step runs off the event loop
    expect(() => b.model.setParameters(b.model.getParameters())).toThrow(/in use by a pending NaturalGradient.stepAsync/);
    expect(() => b.direction(pr.x, pr.y, pr.n)).toThrow(/await it first/);
    const lb = await pending;
    expect(lb.loss).toBe(la.loss);
    const pa = a.model.getParameters();
    const pb = b.model.getParameters();
    expect(Buffer.from(pa.buffer).equals(Buffer.from(pb.buffer))).toBe(true);
    b.model.setParameters(pb); // released
  });

  it('stepAsync releases the model when it fails', async () => {
    const opt = optimizer(pr, { loss: 'categorical' });
    const theta = opt.model.getParameters();
    const bad = new Float32Array(pr.x.length).fill(1e30); // overflows float32 in the first layer
    // a numerical failure rejects the step (issue #5) rather than throwing: θ untouched, reason given
    const info = await opt.stepAsync(bad, pr.y, pr.n);
    expect(info).toMatchObject({ accepted: false, stepNorm: 0 });
    expect(info.reason).toMatch(/NaN|Infinity|overflow/); // here: A Aᵀ ~ 1e60 overflows in the kernel
    expect(opt.model.getParameters()).toEqual(theta);
    expect(() => opt.model.setParameters(opt.model.getParameters())).not.toThrow();
  });
});

describe('ill-posed damping', () => {
  it('falls back to the float64 eigendecomposition when Cholesky meets a non-positive pivot', () => {
    // N·r > P in kernel space: SᵀS has rank P < N·r, its other eigenvalues are float32 rounding noise
    // of either sign, and λ = 1e-12 cannot lift them: Cholesky fails. The pseudo-inverse of the damped
    // kernel with the float32 cutoff then gives (F_θ + λI)⁻¹ g_θ ≈ F_θ⁻¹ g_θ.
    const pr = problem('gaussian', mlp([4, 3, 3], 'tanh'), 2, 4);
    const lambda = 1e-12;
    const ref = denseNaturalGradient(pr.arch, pr.theta, pr.x, pr.y, pr.n, 'gaussian', lambda);
    const opt = optimizer(pr, { loss: 'gaussian', damping: lambda, space: 'kernel' });
    const d = opt.direction(pr.x, pr.y, pr.n);
    expect(opt.profile!.solver).toBe('pinv-fallback');
    expect(opt.profile!.rank).toBe(pr.p);
    // noise eigenvalues of the rank-deficient kernel mix with the genuine ones at the √M level:
    // measured ≈ 2·(10 + κ)·ε32 here, asserted within 10·(10 + κ)·ε32
    expect(relErr(d, ref.direction)).toBeLessThanOrEqual(10 * (10 + ref.cond) * EPS32);
  });
});
