// Residual losses (lib/optim/residual_loss.ts, residual_step.ts): the Jacobian rows ∇_θ r_j from the
// Taylor-mode backward pass against central differences of the residuals in θ (float64: h = 1e-6 gives
// truncation ~h²·r''' ≈ 1e-12 and rounding ~ε·|r|/h ≈ 1e-10·|r|, so 1e-7 of the largest entry is a
// bound any wrong term breaks), in both second-order modes, with the default finite-difference
// partials and with exact ones; the loss, the gradient and the Gauss–Newton direction against dense
// float64 algebra; the optimizers on them; and the failure cases.
import { describe, expect, it } from 'vitest';
import { Adam, linear, NaturalGradient, relu, residualLoss, type ResidualLoss, type ResidualSet, sequential, tanh, gelu } from '../lib/index';
import { choleskySolve64, matmul64, relErr } from './linalg64';

const PI = Math.PI;
function points(n: number, d: number, seed: number): Float64Array {
  let s = seed >>> 0;
  return Float64Array.from({ length: n * d }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  });
}

/** Checks S (from linearize) column by column against central differences of r(θ) (from evaluate). */
function checkRows(loss: ResidualLoss, model: ReturnType<typeof sequential>, weights: number[], sizes: number[]) {
  const theta = model.getParameters() as Float64Array;
  const { st: s, u, m, loss: L } = loss.linearize(model, theta);
  const P = theta.length;
  const { r, loss: L2 } = loss.evaluate(model, theta);
  expect(L).toBeCloseTo(L2, 14);
  const scale: number[] = [];
  sizes.forEach((n, set) => {
    for (let i = 0; i < n; i++) scale.push(Math.sqrt((m * weights[set]) / n));
  });
  for (let j = 0; j < m; j++) expect(u[j]).toBeCloseTo(scale[j] * r[j], 12);
  let err = 0;
  let big = 0;
  for (let p = 0; p < P; p++) {
    const h = 1e-6;
    const a = Float64Array.from(theta);
    a[p] += h;
    const rp = loss.evaluate(model, a).r;
    a[p] -= 2 * h;
    const rm = loss.evaluate(model, a).r;
    for (let j = 0; j < m; j++) {
      const fd = (scale[j] * (rp[j] - rm[j])) / (2 * h);
      err = Math.max(err, Math.abs(fd - s[j * P + p]));
      big = Math.max(big, Math.abs(fd));
    }
  }
  expect(err / big).toBeLessThan(1e-7);
  return { s: s as Float64Array, u: u as Float64Array, m, P };
}

describe('residual losses', () => {
  it("Poisson's residuals (Laplacian mode, two weighted sets): S's rows against finite differences in θ", () => {
    const model = sequential([linear(2, 6), tanh(), linear(6, 5), gelu(), linear(5, 1)], { seed: 1, dtype: 'float64' });
    const sets: ResidualSet[] = [
      { name: 'interior', points: points(9, 2, 1), residual: ({ x, laplacian }) => laplacian[0] + 2 * PI * PI * Math.sin(PI * x[0]) * Math.sin(PI * x[1]) },
      { name: 'boundary', points: points(4, 2, 2), residual: ({ x, u }) => u[0] - x[0] * x[1], weight: 3 },
    ];
    checkRows(residualLoss(sets), model, [1, 3], [9, 4]);
  });

  it("Burgers' u_t + u u_x − ν u_xx (diagonal mode, nonlinear): by finite-difference partials and by exact ones, both against θ-differences", () => {
    const model = sequential([linear(2, 7), tanh(), linear(7, 1)], { seed: 2, dtype: 'float64' });
    const nu = 0.01 / PI;
    const pts = points(10, 2, 3); // (x, t)
    const residual = ({ u, gradient, hessianDiagonal }: { u: Float64Array; gradient: Float64Array; hessianDiagonal: Float64Array }) =>
      gradient[1] + u[0] * gradient[0] - nu * hessianDiagonal[0];
    const fd = residualLoss([{ points: pts, residual }], { secondOrder: 'diagonal' });
    const a = checkRows(fd, model, [1], [10]);
    const exact = residualLoss(
      [
        {
          points: pts,
          residual,
          partials: (p, out) => {
            out.u[0] = p.gradient[0];
            out.gradient[0] = p.u[0];
            out.gradient[1] = 1;
            out.hessianDiagonal[0] = -nu;
          },
        },
      ],
      { secondOrder: 'diagonal' }
    );
    const b = checkRows(exact, model, [1], [10]);
    // the residual is quadratic in its arguments: central differences are exact up to rounding
    expect(relErr(a.s, b.s)).toBeLessThan(1e-9);
  });

  it('the loss, its gradient and the Gauss–Newton direction against dense float64 algebra; kernel, parameter space and CG agree', () => {
    const model = sequential([linear(1, 8), tanh(), linear(8, 1)], { seed: 3, dtype: 'float64' });
    const loss = residualLoss([
      { name: 'interior', points: points(12, 1, 4), residual: ({ x, laplacian }) => laplacian[0] + PI * PI * Math.sin(PI * x[0]) },
      { name: 'boundary', points: Float64Array.from([0, 1]), residual: ({ u }) => u[0], weight: 10 },
    ]);
    const theta = model.getParameters();
    const { st: s, u, m } = loss.linearize(model, theta);
    const P = theta.length;
    // g = (1/M) S u;  n = (S Sᵀ/M + λI)⁻¹ g
    const g = matmul64(s, u, P, 1, m, true).map((v) => v / m);
    const { grad, loss: L } = loss.gradient(model, theta);
    expect(relErr(grad, g)).toBeLessThan(1e-13);
    expect(L).toBeCloseTo(loss.evaluate(model, theta).loss, 13);
    const lambda = 1e-6;
    const F = matmul64(s, s, P, P, m, true, false).map((v, i) => v / m + (i % (P + 1) === 0 ? lambda : 0));
    const n64 = choleskySolve64(F, P, g);
    for (const options of [{ space: 'parameter' as const }, { space: 'kernel' as const }, { solver: 'cg' as const, tolerance: 1e-12, maxIterations: 2000 }]) {
      const opt = new NaturalGradient(model, { loss, damping: lambda, ...options });
      const d = opt.direction();
      // κ(F + λI) ≤ ~1e6 here: a backward-stable float64 solve is within κ·P·ε₆₄ ≈ 1e-8
      expect(relErr(d, n64), JSON.stringify(options)).toBeLessThan(1e-7);
    }
    expect(new NaturalGradient(model, { loss }).lossAt()).toBe(loss.evaluate(model, theta).loss);
    expect(relErr(new NaturalGradient(model, { loss }).gradient(), g)).toBeLessThan(1e-13);
  });

  it('a 1-D Poisson problem: NGD with the line search reaches a relative L2 error below 1e-6; Adam on the same loss decreases it', () => {
    // u'' = −π² sin(πx) on [0, 1], u(0) = u(1) = 0: u = sin(πx)
    const xs = Float64Array.from({ length: 30 }, (_, i) => (i + 0.5) / 30);
    const make = () => sequential([linear(1, 16), tanh(), linear(16, 1)], { seed: 4, dtype: 'float64' });
    const loss = residualLoss([
      { name: 'interior', points: xs, residual: ({ x, laplacian }) => laplacian[0] + PI * PI * Math.sin(PI * x[0]) },
      { name: 'boundary', points: Float64Array.from([0, 1]), residual: ({ u }) => u[0] },
    ]);
    const model = make();
    const opt = new NaturalGradient(model, { loss, damping: 1e-10, lineSearch: true, adaptive: false, momentum: 0.5 });
    for (let s = 0; s < 200; s++) expect(opt.step().accepted).toBe(true);
    const xt = Float64Array.from({ length: 101 }, (_, i) => i / 100);
    const ut = model.forward(xt, xt.length);
    expect(
      relErr(
        ut,
        xt.map((x) => Math.sin(PI * x))
      )
    ).toBeLessThan(1e-6);
    const adamModel = make();
    const adam = new Adam(adamModel, { loss, lr: 1e-3 });
    const before = adam.step().loss;
    let after = before;
    for (let s = 0; s < 50; s++) after = adam.step().loss;
    expect(after).toBeLessThan(before);
    // the state round-trips (with the loss passed again)
    const again = NaturalGradient.fromState(model, JSON.parse(JSON.stringify(opt.state())), loss);
    expect(again.state()).toEqual(opt.state());
  });

  it('gramianAverage β: the second step solves with β·G(θ₀) + (1 − β)·G(θ₁), the gradient at θ₁', () => {
    const xs = Float64Array.from({ length: 10 }, (_, i) => (i + 0.5) / 10);
    const loss = residualLoss([
      { name: 'interior', points: xs, residual: ({ x, laplacian }) => laplacian[0] + PI * PI * Math.sin(PI * x[0]) },
      { name: 'boundary', points: Float64Array.from([0, 1]), residual: ({ u }) => u[0] },
    ]);
    const model = sequential([linear(1, 4), tanh(), linear(4, 1)], { seed: 6, dtype: 'float64' });
    const lambda = 1e-3;
    const beta = 0.5;
    const opt = new NaturalGradient(model, { loss, damping: lambda, adaptive: false, gramianAverage: beta, space: 'parameter' });
    const th0 = model.getParameters();
    const l0 = loss.linearize(model, th0);
    opt.step();
    const th1 = model.getParameters();
    const l1 = loss.linearize(model, th1);
    opt.step();
    const th2 = model.getParameters();
    const P = th0.length;
    const m = l1.m;
    const g0 = matmul64(l0.st, l0.st, P, P, m, true, false);
    const g1 = matmul64(l1.st, l1.st, P, P, m, true, false);
    const F = g1.map((v, i) => (beta * g0[i] + (1 - beta) * v) / m + (i % (P + 1) === 0 ? lambda : 0));
    const g = matmul64(l1.st, l1.u, P, 1, m, true).map((v) => v / m);
    const n = choleskySolve64(F, P, g);
    // κ(F) ≲ 1e5 here: float64 solves agree within κ·P·ε₆₄ ≈ 1e-9
    expect(
      relErr(
        th1.map((v, i) => v - th2[i]),
        n
      )
    ).toBeLessThan(1e-8);
    expect(() => new NaturalGradient(model, { loss, gramianAverage: 1 })).toThrow(/'gramianAverage' must be < 1/);
  });

  it('stepAsync() on a residual loss is bit-identical to step()', async () => {
    const xs = Float64Array.from({ length: 12 }, (_, i) => (i + 0.5) / 12);
    const loss = residualLoss([
      { name: 'interior', points: xs, residual: ({ x, laplacian }) => laplacian[0] + PI * PI * Math.sin(PI * x[0]) },
      { name: 'boundary', points: Float64Array.from([0, 1]), residual: ({ u }) => u[0] },
    ]);
    const a = sequential([linear(1, 6), tanh(), linear(6, 1)], { seed: 5, dtype: 'float64' });
    const b = sequential([linear(1, 6), tanh(), linear(6, 1)], { seed: 5, dtype: 'float64' });
    const oa = new NaturalGradient(a, { loss, lineSearch: true, momentum: 0.5 });
    const ob = new NaturalGradient(b, { loss, lineSearch: true, momentum: 0.5 });
    for (let s = 0; s < 4; s++) expect(await ob.stepAsync()).toEqual(oa.step());
    expect(Buffer.from(b.params.buffer).equals(Buffer.from(a.params.buffer))).toBe(true);
  });

  it("the line search's kept Taylor passes: linearize() after evaluateTrial() equals a fresh loss's, bit for bit, also after the points or θ changed in place", () => {
    const model = sequential([linear(2, 5), tanh(), linear(5, 1)], { seed: 9, dtype: 'float64' });
    const mk = (pts: Float64Array) => residualLoss([{ name: 'interior', points: pts, residual: ({ x, laplacian, u }) => laplacian[0] + u[0] * u[0] - x[0] }]);
    const bits = (a: Float64Array | Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
    const pts = points(7, 2, 3);
    const loss = mk(pts);
    const theta = Float64Array.from(model.params);
    const other = theta.map((v) => v * 0.9);
    loss.evaluateTrial(model, other);
    loss.evaluateTrial(model, theta); // kept: the linearize below takes this pass
    const fresh = mk(Float64Array.from(pts)).linearize(model, theta);
    const kept = loss.linearize(model, theta);
    expect(bits(kept.st).equals(bits(fresh.st)) && bits(kept.u).equals(bits(fresh.u))).toBe(true);
    // points changed in place after the trial: the kept pass must not be used
    loss.evaluateTrial(model, theta);
    pts[3] += 0.25;
    const moved = mk(Float64Array.from(pts)).linearize(model, theta);
    expect(bits(loss.linearize(model, theta).st).equals(bits(moved.st))).toBe(true);
    expect(bits(moved.st).equals(bits(fresh.st))).toBe(false);
    // θ changed in place after the trial (the optimizer's own array): likewise
    const th = Float64Array.from(theta);
    loss.evaluateTrial(model, th);
    th[0] += 1e-3;
    expect(bits(loss.linearize(model, th).u).equals(bits(mk(Float64Array.from(pts)).linearize(model, th).u))).toBe(true);
  });

  it('refuses data arguments, models without σ′′′, points of the wrong type or shape, and bad options', () => {
    const pts = points(4, 2, 5);
    const loss = residualLoss([{ points: pts, residual: ({ laplacian }) => laplacian[0] }]);
    const m = sequential([linear(2, 3), tanh(), linear(3, 1)], { dtype: 'float64' });
    const opt = new NaturalGradient(m, { loss });
    expect(() => opt.step(new Float64Array(2), new Float64Array(1), 1)).toThrow(/residual loss, which holds its own points: call step\(\) without data/);
    expect(() => new NaturalGradient(sequential([linear(2, 3), relu(), linear(3, 1)], { dtype: 'float64' }), { loss })).toThrow(/layers\[1\] is relu/);
    expect(() => new NaturalGradient(sequential([linear(2, 3), tanh(), linear(3, 1)]), { loss })).toThrow(/must be a Float32Array, got Float64Array/);
    expect(() => new NaturalGradient(sequential([linear(3, 3), tanh(), linear(3, 1)], { dtype: 'float64' }), { loss })).toThrow(
      /not a positive number of points of dimension 3/
    );
    expect(() => new NaturalGradient(m, { loss, method: 'chain' })).toThrow(/float32 models only|method/);
    expect(() => residualLoss([])).toThrow(TypeError);
    expect(() => residualLoss([{ points: pts, residual: 1 as never }])).toThrow(/'residual' must be a function/);
    expect(() => residualLoss([{ points: pts, residual: () => 0, weight: -1 }])).toThrow(/'weight' must be a finite number ≥ 0/);
    expect(() => residualLoss([{ points: [1, 2] as never, residual: () => 0 }])).toThrow(/'points' must be a Float64Array/);
    expect(() => residualLoss([{ points: pts, residual: () => 0 }], { secondOrder: 'full' as never })).toThrow(/'secondOrder'/);
    expect(() => new NaturalGradient(m, { loss, lineSearch: -1 })).toThrow(/'lineSearch'/);
    expect(() => loss.setPoints('nope', pts)).toThrow(/no set 'nope'/);
    loss.setPoints(0, points(6, 2, 6));
    expect(loss.rows(2)).toBe(6);
    expect(opt.step().accepted).toBe(true);
  });
});
