// lib/linalg64.ts, the float64 algebra of the explain report and of the tests' references, held to its
// invariants (as Eigen's tests do): A = V Λ Vᵀ and VᵀV = I for the eigendecomposition, (A + dI)·X = R for
// the Cholesky solve and its refusal of a matrix that is not positive definite, the products against
// their definitions, the pseudo-inverse's rank and cutoff, and the power-law fit on exact data.
import { describe, expect, it } from 'vitest';
import { choleskySolve, matmul, matvec, norm, pinvSolve, powerLawFit, symEig, transpose } from '../lib/linalg64';
import { fromEigen64, orthogonal64, rng } from './linalg64';

const EPS = 2 ** -52;
const maxAbs = (a: ArrayLike<number>) => Math.max(...Array.from(a, Math.abs));
const diff = (a: ArrayLike<number>, b: ArrayLike<number>) => Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i])));

describe('lib/linalg64', () => {
  it('matmul, matvec and transpose follow their definitions, for every op', () => {
    const r = rng(3);
    const m = 4,
      n = 3,
      k = 5;
    const a = Float64Array.from({ length: m * k }, r),
      b = Float64Array.from({ length: k * n }, r);
    const c = matmul(a, b, m, n, k);
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) s += a[i * k + p] * b[p * n + j];
        expect(c[i * n + j]).toBeCloseTo(s, 14);
      }
    expect(diff(matmul(transpose(a, m, k), b, m, n, k, true), c)).toBeLessThan(1e-14);
    expect(diff(matmul(a, transpose(b, k, n), m, n, k, false, true), c)).toBeLessThan(1e-14);
    const x = Float64Array.from({ length: k }, r);
    expect(diff(matvec(a, x, m, k), matmul(a, x, m, 1, k))).toBeLessThan(1e-14);
    // Aᵀz for z [m], A [m, k]: y_j = Σ_i a_ij z_i
    const z = Float64Array.from({ length: m }, r);
    const atz = Float64Array.from({ length: k }, (_, jj) => {
      let s = 0;
      for (let ii = 0; ii < m; ii++) s += a[ii * k + jj] * z[ii];
      return s;
    });
    expect(diff(matvec(a, z, k, m, true), atz)).toBeLessThan(1e-14);
  });

  it.each([
    ['distinct', [9, 4, 1, 0.5, 1e-3, -2]],
    ['repeated and zero', [3, 3, 3, 0, 0, 1]],
    ['graded over 12 orders', [1e6, 1e3, 1, 1e-3, 1e-6, 1e-6]],
  ])('symEig (%s eigenvalues): A = VΛVᵀ and VᵀV = I to a few ε·‖A‖; the eigenvalues found', (_name, e) => {
    const n = e.length;
    const q = orthogonal64(n, rng(n + e.length));
    const a = fromEigen64(q, e, n);
    const { values, vectors } = symEig(a, n);
    // V Λ Vᵀ
    const back = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) for (let p = 0; p < n; p++) back[i * n + j] += vectors[i * n + p] * values[p] * vectors[j * n + p];
    expect(diff(back, a)).toBeLessThan(50 * n * EPS * maxAbs(a));
    const vtv = matmul(vectors, vectors, n, n, n, true);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) expect(Math.abs(vtv[i * n + j] - (i === j ? 1 : 0))).toBeLessThan(50 * n * EPS);
    const sorted = Array.from(values).sort((x, y) => y - x);
    const want = [...e].sort((x, y) => y - x);
    for (let i = 0; i < n; i++) expect(Math.abs(sorted[i] - want[i])).toBeLessThan(50 * n * EPS * maxAbs(e));
  });

  it('choleskySolve: (A + dI)·X = R for several right-hand sides; a matrix that is not positive definite is refused with its pivot', () => {
    const n = 6;
    const q = orthogonal64(n, rng(7));
    const a = fromEigen64(q, [5, 4, 3, 2, 1, 0.5], n);
    const r = Float64Array.from({ length: n * 2 }, rng(8));
    for (const d of [0, 0.25]) {
      const x = choleskySolve(a, n, r, 2, d);
      const ax = matmul(a, x, n, 2, n);
      for (let i = 0; i < n * 2; i++) ax[i] += d * x[i];
      expect(diff(ax, r)).toBeLessThan(100 * EPS * 10 * maxAbs(r)); // κ = 10
    }
    const indefinite = fromEigen64(q, [5, 4, 3, 2, 1, -0.5], n);
    expect(() => choleskySolve(indefinite, n, r, 2)).toThrow(/not positive definite \(pivot \d is/);
    expect(() => choleskySolve(indefinite, n, r, 2, 1)).not.toThrow(); // + I makes it positive definite
  });

  it('pinvSolve: the eigenvalues above the cutoff, the minimum-norm solution on their range', () => {
    const n = 5;
    const q = orthogonal64(n, rng(11));
    const a = fromEigen64(q, [4, 2, 1, 0, 0], n); // rank 3
    const r = matvec(a, Float64Array.from({ length: n }, rng(12)), n, n); // in the range
    const { x, rank, eigenvalues } = pinvSolve(a, n, r);
    expect(rank).toBe(3);
    expect(eigenvalues[0]).toBeCloseTo(4, 12);
    expect(diff(matvec(a, x, n, n), r)).toBeLessThan(1e-12 * norm(r));
    // minimum norm: x has no component along the null space (the last two columns of q)
    for (const c of [3, 4]) {
      let s = 0;
      for (let i = 0; i < n; i++) s += q[i * n + c] * x[i];
      expect(Math.abs(s)).toBeLessThan(1e-12 * norm(x));
    }
  });

  it('powerLawFit recovers y = 3·x² exactly, skipping non-positive points', () => {
    const xs = [0, 1, 2, 4, 8, -1],
      ys = xs.map((x) => 3 * x * x);
    const f = powerLawFit(xs, ys);
    expect(f.exponent).toBeCloseTo(2, 12);
    expect(f.coefficient).toBeCloseTo(3, 12);
    expect(f.r2).toBeCloseTo(1, 12);
    expect(f.points).toBe(4);
  });
});
