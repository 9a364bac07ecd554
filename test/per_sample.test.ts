// NaturalGradient method 'per-sample' — the proposal's formula applied per sample and averaged:
//   n = (1/N) Σ_i G_i (G_iᵀG_i + λI)⁻¹ F_i⁺ g_i
// against a float64 reference built here from the analytic float64 Jacobian of test/helpers/reference.ts
// (G_i = columns (i, ·) of J), the float64 F_i and g_i, and a Jacobi pseudo-inverse of F_i.
//
// Tolerances: the library assembles G_iᵀG_i from float32 backpropagation (relative rounding ~10·ε32)
// and inverts it in float32 (batched Cholesky); the result's relative error is then ≲ (10 + κ)·ε32 with
// κ the largest condition number of the G_iᵀG_i + λI (the same first-order perturbation bound as in
// natural_gradient.test.ts). F_i⁺ g_i is computed in float64 by both.
import { describe, expect, it } from 'vitest';
import { linear, NaturalGradient, relu, sequential } from '../lib/index';
import {
  type Arch,
  denseNaturalGradient,
  fisher64,
  forward64,
  grad64,
  jacobian64,
  type Loss,
  numParams,
  outDim,
  relErr,
  pinvApply64,
  symEig,
  targetWidth,
} from './helpers/reference';
import { buildModel, mlp, randomInputs, randomParams, randomTargets } from './helpers/models';

const EPS32 = 2 ** -23;
const LOSSES: Loss[] = ['gaussian', 'categorical', 'bernoulli'];
const kOf = (loss: Loss) => (loss === 'bernoulli' ? 1 : 3);

/** Solves the k × k system A c = b in float64 by Gaussian elimination with partial pivoting. */
function solve(a: number[], k: number, b: number[]): number[] {
  const m = a.slice();
  const x = b.slice();
  for (let c = 0; c < k; c++) {
    let piv = c;
    for (let r = c + 1; r < k; r++) if (Math.abs(m[r * k + c]) > Math.abs(m[piv * k + c])) piv = r;
    for (let q = 0; q < k; q++) [m[c * k + q], m[piv * k + q]] = [m[piv * k + q], m[c * k + q]];
    [x[c], x[piv]] = [x[piv], x[c]];
    for (let r = c + 1; r < k; r++) {
      const f = m[r * k + c] / m[c * k + c];
      for (let q = c; q < k; q++) m[r * k + q] -= f * m[c * k + q];
      x[r] -= f * x[c];
    }
  }
  for (let r = k - 1; r >= 0; r--) {
    let s = x[r];
    for (let q = r + 1; q < k; q++) s -= m[r * k + q] * x[q];
    x[r] = s / m[r * k + r];
  }
  return x;
}

/** The proposal's per-sample average in float64, and the largest condition number of the G_iᵀG_i + λI. */
function reference(arch: Arch, theta: Float32Array, x: Float32Array, y: Float32Array, n: number, loss: Loss, lambda: number) {
  const k = outDim(arch);
  const p = numParams(arch);
  const cols = n * k;
  const jac = jacobian64(arch, theta, x, n); // [P, N·k]
  const eta = forward64(arch, theta, x, n);
  const tw = targetWidth(loss, k);
  const out = new Float64Array(p);
  let kappa = 0;
  for (let i = 0; i < n; i++) {
    const e = eta.subarray(i * k, (i + 1) * k);
    const v = pinvApply64(fisher64(loss, e), k, grad64(loss, e, y.subarray(i * tw, (i + 1) * tw))); // F_i⁺ g_i
    const gram: number[] = new Array(k * k).fill(0); // G_iᵀG_i + λI
    for (let a = 0; a < k; a++)
      for (let b = 0; b < k; b++) {
        let s = a === b ? lambda : 0;
        for (let q = 0; q < p; q++) s += jac[q * cols + i * k + a] * jac[q * cols + i * k + b];
        gram[a * k + b] = s;
      }
    const ev = symEig(gram, k).values;
    kappa = Math.max(kappa, Math.max(...Array.from(ev)) / Math.min(...Array.from(ev)));
    const c = solve(gram, k, v); // (G_iᵀG_i + λI)⁻¹ F_i⁺ g_i
    for (let q = 0; q < p; q++) {
      let s = 0;
      for (let j = 0; j < k; j++) s += jac[q * cols + i * k + j] * c[j];
      out[q] += s / n;
    }
  }
  return { direction: out, kappa, jac, eta };
}

function setup(arch: Arch, loss: Loss, n: number, seed: number) {
  const k = outDim(arch);
  const d = (arch[0] as { linear: [number, number] }).linear[0];
  const theta = randomParams(arch, seed);
  const x = randomInputs(n, d, 100 + seed);
  const y = randomTargets(loss, n, k, 200 + seed);
  const model = buildModel(arch);
  model.setParameters(theta);
  return { theta, x, y, model, k };
}

describe("'per-sample' against a float64 reference of (1/N) Σ G_i (G_iᵀG_i + λI)⁻¹ F_i⁺ g_i", () => {
  for (const loss of LOSSES) {
    const k = kOf(loss);
    for (const [name, arch] of [
      ['1 hidden (tanh)', mlp([4, 8, k], 'tanh')],
      ['2 hidden (relu)', mlp([4, 6, 5, k], 'relu')],
    ] as [string, Arch][]) {
      for (const lambda of [0, 1e-3, 1]) {
        it(`${loss}, ${name}, λ = ${lambda}`, () => {
          const n = 9;
          const { theta, x, y, model } = setup(arch, loss, n, 3);
          const ref = reference(arch, theta, x, y, n, loss, lambda);
          const d = new NaturalGradient(model, { loss, damping: lambda, method: 'per-sample' }).direction(x, y, n);
          expect(relErr(d, ref.direction), `κ = ${ref.kappa.toExponential(2)}`).toBeLessThanOrEqual((10 + ref.kappa) * EPS32);
          expect(ref.kappa, 'a well-conditioned draw').toBeLessThan(1e4);
        });
      }
    }
  }
});

describe("'per-sample' equals 'exact' for one sample", () => {
  // N = 1, G [P, k] of full column rank (the last layer's bias alone gives rank k) and F_η invertible:
  // the proposal's derivation is right, G (GᵀG)⁻¹ F_η⁻¹ g_η = F_θ⁺ g_θ. Both at λ = 0 ('exact' in float64).
  for (const loss of ['gaussian', 'bernoulli'] as Loss[]) {
    for (const [name, arch] of [
      ['1 hidden', mlp([4, 8, kOf(loss)], 'tanh')],
      ['3 hidden', mlp([4, 6, 5, 4, kOf(loss)], 'tanh')],
    ] as [string, Arch][]) {
      it(`${loss}, ${name}`, () => {
        for (const seed of [1, 2, 3]) {
          const { theta, x, y, model } = setup(arch, loss, 1, seed);
          const ref = reference(arch, theta, x, y, 1, loss, 0);
          const exact = new NaturalGradient(model, { loss, damping: 0, precision: 'float64' }).direction(x, y, 1);
          const seedRule = new NaturalGradient(model, { loss, damping: 0, method: 'per-sample' }).direction(x, y, 1);
          // the float64 reference of the proposal's formula is the float64 exact answer…
          const dense = denseNaturalGradient(arch, theta, x, y, 1, loss, 0);
          expect(relErr(ref.direction, dense.direction)).toBeLessThan(1e-9);
          // …and both float32 methods are within their rounding budget of it
          expect(relErr(seedRule, dense.direction)).toBeLessThanOrEqual((10 + ref.kappa) * EPS32);
          expect(relErr(exact, dense.direction)).toBeLessThanOrEqual((10 + dense.cond) * EPS32);
        }
      });
    }
  }

  it('categorical (F_η singular): same step in function space, not the minimum-norm θ', () => {
    // With F⁺ for the singular softmax Fisher the proposal's step n_s and F_θ⁺ g_θ satisfy the same
    // equation F_η Gᵀ n = g_η, so they move the predicted probabilities identically to first order
    // (Δp = F_η Gᵀ n), but n_s is not in range(F_θ): it differs from the minimum-norm step by a
    // vector that shifts all logits by the same amount.
    const arch = mlp([4, 8, 3], 'tanh');
    const { theta, x, y, model } = setup(arch, 'categorical', 1, 5);
    const ref = reference(arch, theta, x, y, 1, 'categorical', 0);
    const dense = denseNaturalGradient(arch, theta, x, y, 1, 'categorical', 0);
    const seedRule = new NaturalGradient(model, { loss: 'categorical', damping: 0, method: 'per-sample' }).direction(x, y, 1);
    expect(relErr(seedRule, ref.direction)).toBeLessThanOrEqual((10 + ref.kappa) * EPS32);
    expect(relErr(ref.direction, dense.direction)).toBeGreaterThan(1e-3); // a different θ-step
    const p = numParams(arch);
    const f = fisher64('categorical', ref.eta);
    const dp = (nv: ArrayLike<number>) => {
      const de = [0, 1, 2].map((j) => {
        let s = 0;
        for (let q = 0; q < p; q++) s += ref.jac[q * 3 + j] * nv[q];
        return s;
      });
      return [0, 1, 2].map((a) => f[a * 3] * de[0] + f[a * 3 + 1] * de[1] + f[a * 3 + 2] * de[2]);
    };
    expect(relErr(dp(ref.direction), dp(dense.direction))).toBeLessThan(1e-9); // float64: same Δp
    // the difference Δη is a common logit shift: all entries equal
    const diff = new Float64Array(p).map((_, q) => ref.direction[q] - dense.direction[q]);
    const de = [0, 1, 2].map((j) => diff.reduce((s, v, q) => s + ref.jac[q * 3 + j] * v, 0));
    expect(Math.max(...de) - Math.min(...de)).toBeLessThan(1e-9 * Math.max(...de.map(Math.abs)));
  });
});

describe("'per-sample' is not the batch natural gradient", () => {
  it('differs from exact by more than 10% on a batch (λ = 0, float64 references)', () => {
    const arch = mlp([4, 8, 8, 2], 'tanh');
    const { theta, x, y } = setup(arch, 'gaussian', 12, 7);
    const ref = reference(arch, theta, x, y, 12, 'gaussian', 0);
    const dense = denseNaturalGradient(arch, theta, x, y, 12, 'gaussian', 0);
    expect(relErr(ref.direction, dense.direction)).toBeGreaterThan(0.1);
  });
});

describe("'per-sample': step, stepAsync, errors", () => {
  const arch = mlp([4, 6, 5, 3], 'relu');
  const n = 7;

  it('step applies θ ← θ − lr·n; stepAsync is bit-identical; repeated calls are deterministic', async () => {
    const a = setup(arch, 'categorical', n, 4);
    const b = setup(arch, 'categorical', n, 4);
    const oa = new NaturalGradient(a.model, { loss: 'categorical', lr: 0.5, method: 'per-sample', adaptive: false });
    const ob = new NaturalGradient(b.model, { loss: 'categorical', lr: 0.5, method: 'per-sample', adaptive: false });
    const da = oa.direction(a.x, a.y, n);
    expect(Buffer.from(da.buffer).equals(Buffer.from(oa.direction(a.x, a.y, n).buffer))).toBe(true);
    const theta0 = a.model.getParameters();
    const loss0 = oa.lossAt(a.x, a.y, n);
    const { loss } = oa.step(a.x, a.y, n);
    expect(loss).toBe(loss0); // the loss before the step
    const theta1 = a.model.getParameters();
    for (let q = 0; q < theta0.length; q++) expect(theta1[q]).toBe(Math.fround(theta0[q] - 0.5 * da[q]));
    const lb = await ob.stepAsync(b.x, b.y, n);
    expect(lb.loss).toBe(loss);
    expect(Buffer.from(b.model.getParameters().buffer).equals(Buffer.from(theta1.buffer))).toBe(true);
    expect(oa.profile?.size).toBe(3);
  });

  it('a singular G_iᵀG_i at λ = 0 names the sample and the remedy', () => {
    // η = relu(z): a sample with every z_j < 0 has G_i = 0
    const model = sequential([linear(2, 2), relu()], { seed: 0 });
    model.setParameters(Float32Array.from([1, 0, 0, 1, 0, 0])); // z = x
    const x = Float32Array.from([1, 2, -1, -3]); // sample 1 has z < 0
    const y = Float32Array.from([0, 0, 0, 0]);
    const opt = new NaturalGradient(model, { loss: 'gaussian', damping: 0, method: 'per-sample' });
    let err: (Error & { code?: string; index?: number }) | undefined;
    try {
      opt.direction(x, y, 2);
    } catch (e) {
      err = e as typeof err;
    }
    expect(err?.message).toMatch(/NaturalGradient.direction: method 'per-sample': G_iᵀG_i \+ λI of sample 1 is singular .*use damping > 0/);
    expect(err?.code).toBe('ERR_NOT_POSITIVE_DEFINITE');
    const d = new NaturalGradient(model, { loss: 'gaussian', damping: 1e-3, method: 'per-sample' }).direction(x, y, 2);
    expect(d.every(Number.isFinite)).toBe(true);
  });
});
