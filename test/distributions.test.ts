// Output families: loss, ∇η ℓ, Fisher information and its factor, in float64,
// against independent formulas (test/helpers/reference.ts), finite differences,
// and the definition F = E_y[∇ℓ ∇ℓᵀ].
import { describe, expect, it } from 'vitest';
import { bernoulli, categorical, distribution, gaussian, type OutputFamily } from '../lib/index';
import { checkTargets, fisherFactors } from '../lib/distributions';
import { fisher64, grad64, loss64, type Loss, symEig, testRng } from './helpers/reference';

const EPS64 = 2 ** -52;

/** Per-sample evaluations of a family at η (float64) for target y. */
function at(fam: OutputFamily, eta: number[], y: number[]) {
  const k = eta.length;
  const e = Float64Array.from(eta);
  const yy = Float32Array.from(y);
  const g = new Float64Array(k);
  fam.gradient(e, yy, g);
  const f = new Float64Array(k * k);
  fam.fisher(e, f);
  const r = fam.rank(k);
  const lt = new Float64Array(r * k);
  const u = new Float64Array(r);
  fam.factor(e, yy, lt, u);
  return { loss: fam.loss(e, yy), g, f, lt, u, r };
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/** Random cases: logits of moderate size, and valid targets. */
function cases(name: Loss, k: number): { eta: number[]; y: number[] }[] {
  const rng = testRng(k * 31 + name.length);
  return Array.from({ length: 20 }, () => {
    const eta = Array.from({ length: k }, () => 3 * rng.normal());
    const y =
      name === 'gaussian'
        ? Array.from(Float32Array.from({ length: k }, () => rng.normal())) // targets are float32
        : name === 'categorical'
          ? [Math.floor(rng.uniform() * k)]
          : [rng.uniform() < 0.5 ? 0 : 1];
    return { eta, y };
  });
}

const FAMILIES: [Loss, OutputFamily, number[]][] = [
  ['gaussian', gaussian, [1, 3, 5]],
  ['categorical', categorical, [2, 3, 7]],
  ['bernoulli', bernoulli, [1]],
];

describe.each(FAMILIES)('%s', (name, fam, ks) => {
  it('is what distribution(name) returns', () => {
    expect(distribution(name)).toBe(fam);
  });

  for (const k of ks) {
    it(`k = ${k}: loss, gradient and Fisher match the reference formulas; the gradient matches finite differences`, () => {
      for (const { eta, y } of cases(name, k)) {
        const s = at(fam, eta, y);
        // Same quantities in float64 by different formulas: agreement to a few hundred ε64.
        expect(Math.abs(s.loss - loss64(name, eta, y))).toBeLessThan(1e-13 * (1 + Math.abs(s.loss)));
        const g = grad64(name, eta, y);
        g.forEach((v, j) => expect(Math.abs(s.g[j] - v)).toBeLessThan(1e-14));
        fisher64(name, eta).forEach((v, j) => expect(Math.abs(s.f[j] - v)).toBeLessThan(1e-14));
        // Central differences of the family's own loss, h = 1e-5: truncation h²|ℓ'''|/6 ≲ 1e-10, rounding ε64|ℓ|/h ≲ 1e-10.
        const h = 1e-5;
        for (let j = 0; j < k; j++) {
          const up = eta.slice();
          const dn = eta.slice();
          up[j] += h;
          dn[j] -= h;
          const fd = (fam.loss(Float64Array.from(up), Float32Array.from(y)) - fam.loss(Float64Array.from(dn), Float32Array.from(y))) / (2 * h);
          expect(Math.abs(s.g[j] - fd)).toBeLessThan(1e-8);
        }
      }
    });

    it(`k = ${k}: F is the Fisher information E_y[∇ℓ ∇ℓᵀ] (or E_y[∇²ℓ] for the gaussian)`, () => {
      for (const { eta } of cases(name, k).slice(0, 5)) {
        const e = Float64Array.from(eta);
        const f = new Float64Array(k * k);
        fam.fisher(e, f);
        const want = new Float64Array(k * k);
        if (name === 'gaussian') {
          // ℓ is quadratic in η: the Hessian by central differences of the gradient is exact up to rounding
          const y = Float32Array.from({ length: k }, (_, j) => j / k);
          const gp = new Float64Array(k);
          const gm = new Float64Array(k);
          for (let a = 0; a < k; a++) {
            const up = e.slice();
            const dn = e.slice();
            up[a] += 0.5;
            dn[a] -= 0.5;
            fam.gradient(up, y, gp);
            fam.gradient(dn, y, gm);
            for (let b = 0; b < k; b++) want[a * k + b] = gp[b] - gm[b];
          }
        } else {
          // discrete y: the expectation is a finite sum over outcomes, weighted by d(y | η) = e^{−ℓ}
          const outcomes = name === 'categorical' ? k : 2;
          const g = new Float64Array(k);
          for (let c = 0; c < outcomes; c++) {
            const y = Float32Array.of(c);
            const prob = Math.exp(-fam.loss(e, y));
            fam.gradient(e, y, g);
            for (let a = 0; a < k; a++) for (let b = 0; b < k; b++) want[a * k + b] += prob * g[a] * g[b];
          }
        }
        for (let i = 0; i < k * k; i++) expect(Math.abs(f[i] - want[i])).toBeLessThan(1e-14);
      }
    });

    it(`k = ${k}: the factor L [k, r] has L Lᵀ = F, full column rank r = rank F, and L u = g`, () => {
      for (const { eta, y } of cases(name, k)) {
        const { f, g, lt, u, r } = at(fam, eta, y);
        expect(r).toBe(name === 'categorical' ? k - 1 : k);
        // L Lᵀ[a, b] = Σ_m L[a, m] L[b, m] with L[a, m] = lt[m·k + a]
        for (let a = 0; a < k; a++)
          for (let b = 0; b < k; b++) {
            let s = 0;
            for (let m = 0; m < r; m++) s += lt[m * k + a] * lt[m * k + b];
            expect(Math.abs(s - f[a * k + b])).toBeLessThan(50 * EPS64);
          }
        for (let a = 0; a < k; a++) {
          let s = 0;
          for (let m = 0; m < r; m++) s += lt[m * k + a] * u[m];
          // u can be large when some p_j is small (u ~ g/√p): compare relative to ‖u‖·max|L|
          expect(Math.abs(s - g[a])).toBeLessThan(50 * EPS64 * (1 + maxAbs(u)));
        }
        // rank: LᵀL [r, r] = diag-free Gram of the columns; its smallest eigenvalue is bounded away from 0
        const ltl = new Float64Array(r * r);
        for (let m = 0; m < r; m++) for (let q = 0; q < r; q++) for (let a = 0; a < k; a++) ltl[m * r + q] += lt[m * k + a] * lt[q * k + a];
        const { values } = symEig(ltl, r);
        expect(Math.min(...values)).toBeGreaterThan(1e-12 * Math.max(...values));
      }
    });
  }
});

describe('categorical', () => {
  it('keeps its digits when one class dominates: g_y = p_y − 1 = −Σ_{j≠y} p_j', () => {
    const e = Float64Array.of(40, 0, 0);
    const g = new Float64Array(3);
    categorical.gradient(e, Float32Array.of(0), g);
    const want = -2 / (Math.exp(40) + 2);
    expect(Math.abs(g[0] - want)).toBeLessThan(1e-15 * Math.abs(want));
  });

  it('is finite and consistent for extreme logits (p_y underflowing to 0 gives that sample no pull)', () => {
    // p = softmax(1000, 0, −1000): p_1 = e^{−1000} = 0 in float64
    const s = at(categorical, [1000, 0, -1000], [1]);
    expect(s.loss).toBeCloseTo(1000, 9);
    expect(Array.from(s.lt).every(Number.isFinite)).toBe(true);
    expect(Array.from(s.u).every(Number.isFinite)).toBe(true);
    // L u = (g projected onto what F can represent) = 0: the step ignores a sample the model deems impossible
    for (let a = 0; a < 3; a++) {
      let v = 0;
      for (let m = 0; m < 2; m++) v += s.lt[m * 3 + a] * s.u[m];
      expect(Math.abs(v)).toBeLessThan(1e-12);
    }
    // a merely tiny p_y (logit gap 60) still gets the exact factor: u ~ 1/√p_y is large but L u = g
    const t = at(categorical, [60, 0, 0], [2]);
    let lu = 0;
    for (let m = 0; m < 2; m++) lu += t.lt[m * 3 + 2] * t.u[m];
    expect(Math.abs(lu - t.g[2])).toBeLessThan(1e-12);
  });
});

describe('bernoulli', () => {
  it('is stable for large |η|', () => {
    expect(at(bernoulli, [800], [0]).loss).toBe(800);
    expect(at(bernoulli, [800], [1]).loss).toBe(0);
    expect(at(bernoulli, [-800], [1]).loss).toBe(800);
    // g = p − y with 1 − p = σ(−η): at η = 40, y = 1, g = −e^{−40}/(1 + e^{−40}) keeps its digits
    const g = at(bernoulli, [40], [1]).g[0];
    expect(Math.abs(g + Math.exp(-40) / (1 + Math.exp(-40)))).toBeLessThan(1e-15 * Math.exp(-40));
    // F = σ(η)σ(−η) keeps its digits too, and is 0 only where it underflows; the sample then has u = 0
    expect(at(bernoulli, [40], [0]).f[0]).toBeCloseTo(Math.exp(-40), 30);
    const s = at(bernoulli, [800], [0]);
    expect([s.f[0], s.lt[0], s.u[0]]).toEqual([0, 0, 0]);
  });
});

describe('batch helpers', () => {
  it('checkTargets validates type, length and values, naming y', () => {
    const fn = 'test';
    expect(() => checkTargets(categorical, fn, [0, 1] as unknown, 2, 3)).toThrow(TypeError);
    expect(() => checkTargets(categorical, fn, new Float32Array(3), 2, 3)).toThrow(/'y' must have length 2/);
    expect(() => checkTargets(categorical, fn, Float32Array.of(0, 3), 2, 3)).toThrow(/'y\[1\]' is 3; categorical targets must be class indices 0…2/);
    expect(() => checkTargets(categorical, fn, Float32Array.of(0.5, 1), 2, 3)).toThrow(/'y\[0\]' is 0.5/);
    expect(() => checkTargets(categorical, fn, Float32Array.of(-1, 1), 2, 3)).toThrow(RangeError);
    expect(() => checkTargets(bernoulli, fn, Float32Array.of(0, 0.5), 2, 1)).toThrow(/'y\[1\]' is 0.5; bernoulli targets must be 0 or 1/);
    expect(() => checkTargets(gaussian, fn, new Float32Array(5), 2, 3)).toThrow(/'y' must have length 6 \(gaussian: batch × outDim = 2 × 3\)/);
    expect(() => checkTargets(gaussian, fn, Float32Array.of(0, NaN), 1, 2)).toThrow(/'y\[1\]' is NaN/);
    expect(() => checkTargets(categorical, fn, Float32Array.of(2, 0), 2, 3)).not.toThrow();
    expect(() => distribution('poisson')).toThrow(/'loss' must be 'gaussian', 'categorical' or 'bernoulli', got 'poisson'/);
  });

  it('fisherFactors stacks per-sample seeds Lᵢᵀ [N·r, k] and u [N·r]', () => {
    const eta = Float32Array.of(0.5, -1, 2, 0, 0, 0);
    const y = Float32Array.of(2, 0);
    const { r, seeds, u } = fisherFactors(categorical, 'test', eta, y, 2, 3);
    expect(r).toBe(2);
    expect(seeds.length).toBe(2 * 2 * 3);
    expect(u.length).toBe(4);
    for (let i = 0; i < 2; i++) {
      const s = at(categorical, Array.from(eta.subarray(i * 3, i * 3 + 3)), [y[i]]);
      expect(Array.from(seeds.subarray(i * 6, i * 6 + 6))).toEqual(Array.from(Float32Array.from(s.lt)));
      expect(Array.from(u.subarray(i * 2, i * 2 + 2))).toEqual(Array.from(Float32Array.from(s.u)));
    }
  });
});
