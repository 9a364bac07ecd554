// SPRING momentum (lib/optim/spring.ts):
//   n_k = argmin_n ‖Sᵀn − u‖² + Nλ‖n − μ n_{k−1}‖²  ⇔  (F_θ + λI) n_k = g_θ + λμ n_{k−1}
//       = μ n_{k−1} + S (SᵀS + NλI)⁻¹ (u − μ Sᵀ n_{k−1}).
// Checked against a dense float64 solve of the normal equations (F_θ, g_θ from test/helpers/reference.ts)
// and against the objective itself, in kernel and parameter space, with layer and dense assembly.
import { describe, expect, it } from 'vitest';
import type { NaturalGradient, Sequential } from '../lib/index';
import { decodeF32 } from '../lib/util/encode';
import { linearizeExact } from '../lib/optim/exact';
import { sTransposeTimes } from '../lib/optim/s_products';
import { runSync } from '../lib/task';
import { gaussian } from '../lib/distributions';
import { choleskySolve64 } from './linalg64';
import { type Arch, denseNaturalGradient, jacobian64, type Loss, relErr } from './helpers/reference';
import { buildModel, mlp, randomParams, exactOptimizer, problem } from './helpers/models';

const setup = problem;
const optimizer = exactOptimizer;
/** The direction of the last accepted step, from the optimizer's saved state. */
const previous = (opt: NaturalGradient) => decodeF32('test', 'previous', opt.state().previous);
const same = (a: Float32Array, b: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

describe('SPRING momentum', () => {
  it('μ = 0 is the plain step, bit for bit; with μ > 0 the first step (no n₋) is the plain step too', () => {
    const pr = setup('categorical', mlp([3, 6, 3], 'tanh'), 8, 1);
    const plain = optimizer(pr, { damping: 1e-2, lr: 0.5 });
    const zero = optimizer(pr, { damping: 1e-2, lr: 0.5, momentum: 0 });
    const spring = optimizer(pr, { damping: 1e-2, lr: 0.5, momentum: 0.8 });
    const first = plain.step(pr.x, pr.y, pr.n);
    expect(zero.step(pr.x, pr.y, pr.n)).toEqual(first);
    expect(spring.step(pr.x, pr.y, pr.n)).toEqual(first);
    expect(same(spring.model.params, plain.model.params)).toBe(true);
    for (let s = 0; s < 3; s++) expect(zero.step(pr.x, pr.y, pr.n)).toEqual(plain.step(pr.x, pr.y, pr.n));
    expect(same(zero.model.params, plain.model.params)).toBe(true);
    expect(plain.state().previous).toBeNull(); // μ = 0 keeps no history
    // the second SPRING step differs
    spring.step(pr.x, pr.y, pr.n);
    expect(same(spring.model.params, zero.model.params)).toBe(false);
  });

  const cases: [Loss, Arch, number, 'kernel' | 'parameter', 'layer' | 'dense'][] = [
    ['gaussian', mlp([3, 5, 2], 'tanh'), 6, 'kernel', 'layer'],
    ['gaussian', mlp([3, 5, 2], 'tanh'), 6, 'kernel', 'dense'],
    ['gaussian', mlp([3, 4, 2], 'tanh'), 25, 'parameter', 'layer'],
    ['categorical', mlp([3, 6, 3], 'relu'), 7, 'kernel', 'layer'],
    ['categorical', mlp([2, 4, 3], 'gelu'), 30, 'parameter', 'layer'],
    ['bernoulli', mlp([3, 5, 1], 'tanh'), 9, 'kernel', 'layer'],
  ];
  for (const [loss, arch, n, space, assembly] of cases) {
    it(`is the minimiser of ‖Sᵀn − u‖² + Nλ‖n − μn₋‖² (${loss}, ${space} space, ${assembly}; dense float64)`, () => {
      const pr = setup(loss, arch, n, 7);
      const lambda = 3e-2,
        mu = 0.7,
        lr = 0.3;
      const opt = optimizer(pr, { damping: lambda, lr, momentum: mu, adaptive: false, space, assembly });
      opt.step(pr.x, pr.y, pr.n);
      const prev = previous(opt);
      const theta1 = opt.model.getParameters();
      opt.step(pr.x, pr.y, pr.n);
      const nk = previous(opt);
      // dense float64 at θ1: (F_θ + λI) n = g_θ + λμ n₋
      const ref = denseNaturalGradient(arch, theta1, pr.x, pr.y, pr.n, loss, lambda);
      const p = theta1.length;
      const rhs = Float64Array.from(ref.gTheta, (g, i) => g + lambda * mu * prev[i]);
      const nref = choleskySolve64(ref.fTheta, p, rhs, 1, lambda);
      expect(relErr(nk, nref)).toBeLessThan(1e-4);
      // the objective / N: q(n) = nᵀF_θn − 2gᵀn + λ‖n − μn₋‖² (= (1/N)‖Sᵀn − u‖² + λ‖n − μn₋‖² − (1/N)‖u‖²)
      const q = (v: ArrayLike<number>) => {
        let s = 0;
        for (let i = 0; i < p; i++) {
          let fv = 0;
          for (let j = 0; j < p; j++) fv += ref.fTheta[i * p + j] * v[j];
          s += v[i] * fv - 2 * ref.gTheta[i] * v[i] + lambda * (v[i] - mu * prev[i]) ** 2;
        }
        return s;
      };
      const qmin = q(nref);
      // q(n) − q_min = (n − n*)ᵀ(F_θ + λI)(n − n*) ≥ 0: the library's n is within float32 rounding of the minimum …
      expect(q(nk) - qmin).toBeLessThan(1e-6 * Math.abs(qmin) + 1e-12);
      // … and any perturbation, including the plain step, costs more
      const plainN = Float64Array.from(ref.direction);
      expect(q(plainN)).toBeGreaterThan(qmin);
      for (let t = 0; t < 5; t++) {
        const e = Float64Array.from(nref, (v, i) => v + 1e-3 * Math.sin(7 * i + t) * (Math.abs(v) + 1e-2));
        expect(q(e)).toBeGreaterThan(qmin);
      }
      // and it is not the plain direction
      expect(relErr(nref, ref.direction)).toBeGreaterThan(1e-3);
    });
  }

  it('Sᵀv is the Jacobian-vector product (gaussian: S = J) against float64', () => {
    const arch = mlp([3, 5, 4, 2], 'tanh');
    const pr = setup('gaussian', arch, 5, 3);
    const model: Sequential = buildModel(arch);
    model.setParameters(pr.theta);
    const v = randomParams(arch, 99);
    const lin = runSync(linearizeExact({ fn: 't', model, theta: model.params, family: gaussian, x: pr.x, y: pr.y, n: pr.n }));
    const stv = runSync(sTransposeTimes(lin, v));
    const jac = jacobian64(arch, pr.theta, pr.x, pr.n); // [P, N·k]
    const cols = pr.n * 2;
    const ref = new Float64Array(cols);
    for (let q = 0; q < v.length; q++) for (let c = 0; c < cols; c++) ref[c] += jac[q * cols + c] * v[q];
    expect(relErr(stv, ref)).toBeLessThan(1e-5);
  });

  it('a rejected step drops the momentum; retries are plain damped steps', () => {
    const pr = setup('gaussian', mlp([2, 8, 1], 'tanh'), 12, 21);
    const opt = optimizer(pr, { damping: 1e-1, lr: 0.5, momentum: 0.9, adaptive: { maxRetries: 1 } });
    expect(opt.step(pr.x, pr.y, pr.n).accepted).toBe(true);
    expect(opt.state().previous).not.toBeNull();
    opt.lr = 1e4;
    expect(opt.step(pr.x, pr.y, pr.n).accepted).toBe(false);
    expect(opt.state().previous).toBeNull();
    // a step accepted after retries: θ − lr·n with n the plain damped direction at the final λ
    const theta1 = opt.model.getParameters();
    const state = opt.state();
    let found = false;
    for (const lr of [1, 2, 4, 8, 16, 32]) {
      const a = optimizer({ ...pr, theta: theta1 }, { damping: 1e-1, lr: 0.5, momentum: 0.9 });
      a.step(pr.x, pr.y, pr.n); // builds a momentum history …
      const theta2 = a.model.getParameters();
      a.lr = lr;
      const info = a.step(pr.x, pr.y, pr.n); // … which the retries must ignore
      if (!(info.accepted && info.attempts > 1)) continue;
      const plain = optimizer({ ...pr, theta: theta2 }, { damping: info.damping, lr, adaptive: false });
      const n = plain.direction(pr.x, pr.y, pr.n);
      const expected = Float32Array.from(theta2, (t, i) => t - lr * n[i]);
      expect(same(a.model.params, expected)).toBe(true);
      found = true;
      break;
    }
    expect(found).toBe(true);
    expect(state.previous).toBeNull();
  });

  it('converges faster than without momentum on a small regression (same λ, lr)', () => {
    const pr = setup('gaussian', mlp([2, 10, 1], 'tanh'), 40, 5);
    const run = (mu: number) => {
      const opt = optimizer(pr, { damping: 1e-1, lr: 0.5, momentum: mu, adaptive: false });
      let last = 0;
      for (let s = 0; s < 20; s++) last = opt.step(pr.x, pr.y, pr.n).lossAfter;
      return last;
    };
    expect(run(0.5)).toBeLessThan(run(0));
  });
});
