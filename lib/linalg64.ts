// Dense float64 linear algebra for the explain report (small matrices: P × N·k Jacobians, N·k-square
// kernels, k-square per-sample blocks). Row-major Float64Array throughout; written out plainly so that
// every number in the report can be traced to a textbook formula. Not for training-size problems.

/** ε₆₄ = 2⁻⁵², float64 machine epsilon. */
export const EPS64 = 2 ** -52;

/** C [m, n] = op(A) op(B); A [m, k] ([k, m] if ta), B [k, n] ([n, k] if tb). */
export function matmul(a: ArrayLike<number>, b: ArrayLike<number>, m: number, n: number, k: number, ta = false, tb = false): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let p = 0; p < k; p++) {
      const aip = ta ? a[p * m + i] : a[i * k + p];
      if (aip === 0) continue;
      const row = i * n;
      if (tb) for (let j = 0; j < n; j++) c[row + j] += aip * b[j * k + p];
      else {
        const brow = p * n;
        for (let j = 0; j < n; j++) c[row + j] += aip * b[brow + j];
      }
    }
  }
  return c;
}

/** y [m] = op(A) x; A [m, n] ([n, m] if ta). */
export function matvec(a: ArrayLike<number>, x: ArrayLike<number>, m: number, n: number, ta = false): Float64Array {
  const y = new Float64Array(m);
  if (!ta) {
    for (let i = 0; i < m; i++) {
      let s = 0;
      for (let j = 0; j < n; j++) s += a[i * n + j] * x[j];
      y[i] = s;
    }
  } else {
    for (let j = 0; j < n; j++) {
      const xj = x[j];
      if (xj === 0) continue;
      for (let i = 0; i < m; i++) y[i] += a[j * m + i] * xj;
    }
  }
  return y;
}

/** Aᵀ [n, m] of A [m, n]. */
export function transpose(a: ArrayLike<number>, m: number, n: number): Float64Array {
  const t = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) t[j * m + i] = a[i * n + j];
  return t;
}

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** Euclidean (Frobenius) norm. */
export function norm(a: ArrayLike<number>): number {
  return Math.sqrt(dot(a, a));
}

/** ‖a − b‖ / ‖b‖ (Frobenius); ‖a‖ when b = 0. */
export function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  for (let i = 0; i < b.length; i++) d += (a[i] - b[i]) ** 2;
  const nb = norm(b);
  return Math.sqrt(d) / (nb === 0 ? 1 : nb);
}

/** aᵀb / (‖a‖ ‖b‖). */
export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  return dot(a, b) / (norm(a) * norm(b));
}

/**
 * Symmetric eigendecomposition A [n, n] = V diag(values) Vᵀ by cyclic Jacobi rotations (accurate to
 * a few ε₆₄ relative to ‖A‖, high relative accuracy for graded matrices). vectors[r·n + c] = V[r, c].
 * Cost ~ 6 sweeps × 3n³: fine up to n of a few hundred.
 */
export function symEig(a: ArrayLike<number>, n: number): { values: Float64Array; vectors: Float64Array } {
  const m = Float64Array.from(a as ArrayLike<number>);
  // symmetrise (inputs formed as XᵀX are symmetric up to rounding)
  for (let i = 0; i < n; i++)
    for (let j = i + 1; j < n; j++) {
      const s = 0.5 * (m[i * n + j] + m[j * n + i]);
      m[i * n + j] = s;
      m[j * n + i] = s;
    }
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  for (let sweep = 0; sweep < 60; sweep++) {
    let off = 0;
    let total = 0;
    for (let i = 0; i < n; i++) {
      total += m[i * n + i] ** 2;
      for (let j = i + 1; j < n; j++) off += m[i * n + j] ** 2;
    }
    total += 2 * off;
    if (off === 0 || off <= 1e-32 * total) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = m[p * n + q];
        if (apq === 0) continue;
        const app = m[p * n + p];
        const aqq = m[q * n + q];
        // skip rotations below rounding of both diagonal entries (after the first sweeps)
        if (sweep > 3 && Math.abs(apq) < EPS64 * 1e-3 * Math.min(Math.abs(app), Math.abs(aqq))) {
          m[p * n + q] = m[q * n + p] = 0;
          continue;
        }
        const theta = (aqq - app) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let r = 0; r < n; r++) {
          const mrp = m[r * n + p];
          const mrq = m[r * n + q];
          m[r * n + p] = c * mrp - s * mrq;
          m[r * n + q] = s * mrp + c * mrq;
        }
        for (let r = 0; r < n; r++) {
          const mpr = m[p * n + r];
          const mqr = m[q * n + r];
          m[p * n + r] = c * mpr - s * mqr;
          m[q * n + r] = s * mpr + c * mqr;
        }
        for (let r = 0; r < n; r++) {
          const vrp = v[r * n + p];
          const vrq = v[r * n + q];
          v[r * n + p] = c * vrp - s * vrq;
          v[r * n + q] = s * vrp + c * vrq;
        }
      }
    }
  }
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) values[i] = m[i * n + i];
  return { values, vectors: v };
}

export interface PinvSolve {
  /** X [n, nrhs] = (A + dI)⁺ R. */
  x: Float64Array;
  /** Eigenvalues kept. */
  rank: number;
  /** Largest / smallest kept eigenvalue of A + dI (its condition number on the range used). */
  cond: number;
  /** Eigenvalues of A (not shifted), descending. */
  eigenvalues: Float64Array;
}

/**
 * (A + dI)⁺ R for symmetric positive semi-definite A [n, n], R [n, nrhs], by eigendecomposition:
 * eigenvalues e + d ≤ rcond·max(e + d) count as zero. Default rcond = n·ε₆₄, the rounding level of an
 * A assembled in float64.
 */
export function pinvSolve(a: ArrayLike<number>, n: number, r: ArrayLike<number>, nrhs = 1, d = 0, rcond = n * EPS64): PinvSolve {
  const { values, vectors } = symEig(a, n);
  const order = Array.from(values.keys()).sort((i, j) => values[j] - values[i]);
  const emax = n > 0 ? values[order[0]] + d : 0;
  const x = new Float64Array(n * nrhs);
  let rank = 0;
  let emin = Infinity;
  for (const idx of order) {
    const e = values[idx] + d;
    if (!(e > rcond * emax) || e <= 0) continue;
    rank++;
    emin = Math.min(emin, e);
    for (let c = 0; c < nrhs; c++) {
      let vr = 0;
      for (let q = 0; q < n; q++) vr += vectors[q * n + idx] * r[q * nrhs + c];
      const s = vr / e;
      for (let q = 0; q < n; q++) x[q * nrhs + c] += vectors[q * n + idx] * s;
    }
  }
  return { x, rank, cond: rank > 0 ? emax / emin : Infinity, eigenvalues: Float64Array.from(order, (i) => values[i]) };
}

/** X = (A + dI)⁻¹ R by Cholesky, A [n, n] symmetric positive definite, R [n, nrhs]. Throws if not positive definite. */
export function choleskySolve(a: ArrayLike<number>, n: number, r: ArrayLike<number>, nrhs = 1, d = 0): Float64Array {
  const l = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    let s = a[j * n + j] + d;
    for (let p = 0; p < j; p++) s -= l[j * n + p] ** 2;
    if (!(s > 0)) throw new RangeError(`choleskySolve: the matrix is not positive definite (pivot ${j + 1} is ${s})`);
    const ljj = (l[j * n + j] = Math.sqrt(s));
    for (let i = j + 1; i < n; i++) {
      let v = a[i * n + j];
      for (let p = 0; p < j; p++) v -= l[i * n + p] * l[j * n + p];
      l[i * n + j] = v / ljj;
    }
  }
  const x = Float64Array.from(r as ArrayLike<number>);
  for (let c = 0; c < nrhs; c++) {
    for (let i = 0; i < n; i++) {
      let v = x[i * nrhs + c];
      for (let p = 0; p < i; p++) v -= l[i * n + p] * x[p * nrhs + c];
      x[i * nrhs + c] = v / l[i * n + i];
    }
    for (let i = n - 1; i >= 0; i--) {
      let v = x[i * nrhs + c];
      for (let p = i + 1; p < n; p++) v -= l[p * n + i] * x[p * nrhs + c];
      x[i * nrhs + c] = v / l[i * n + i];
    }
  }
  return x;
}

/** A⁺ [n, m] of a general A [m, n], through the eigendecomposition of the smaller Gram matrix. */
export function pinv(a: ArrayLike<number>, m: number, n: number, rcond?: number): { x: Float64Array; rank: number } {
  if (m <= n) {
    // A⁺ = Aᵀ (A Aᵀ)⁺
    const aat = matmul(a, a, m, m, n, false, true);
    const { x: inv, rank } = pinvSolve(aat, m, identity(m), m, 0, rcond ?? m * EPS64);
    return { x: matmul(a, inv, n, m, m, true, false), rank };
  }
  // A⁺ = (AᵀA)⁺ Aᵀ
  const ata = matmul(a, a, n, n, m, true, false);
  const { x: inv, rank } = pinvSolve(ata, n, identity(n), n, 0, rcond ?? n * EPS64);
  return { x: matmul(inv, a, n, m, n, false, true), rank };
}

export function identity(n: number): Float64Array {
  const e = new Float64Array(n * n);
  for (let i = 0; i < n; i++) e[i * n + i] = 1;
  return e;
}

/**
 * Least-squares fit of log y = a + p·log x: the exponent p of y ∝ x^p, the coefficient e^a, R² of the fit,
 * and the points used. Points with non-positive x or y (or a non-finite y) are skipped.
 */
export function powerLawFit(xs: readonly number[], ys: readonly number[]): { exponent: number; coefficient: number; r2: number; points: number } {
  const px: number[] = [];
  const py: number[] = [];
  for (let i = 0; i < xs.length; i++)
    if (xs[i] > 0 && ys[i] > 0 && Number.isFinite(ys[i])) {
      px.push(Math.log(xs[i]));
      py.push(Math.log(ys[i]));
    }
  const n = px.length;
  if (n < 2) return { exponent: NaN, coefficient: NaN, r2: NaN, points: n };
  const mx = px.reduce((s, v) => s + v, 0) / n;
  const my = py.reduce((s, v) => s + v, 0) / n;
  let sxy = 0,
    sxx = 0,
    syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += (px[i] - mx) * (py[i] - my);
    sxx += (px[i] - mx) ** 2;
    syy += (py[i] - my) ** 2;
  }
  const p = sxy / sxx;
  return { exponent: p, coefficient: Math.exp(my - p * mx), r2: syy === 0 ? 1 : (sxy * sxy) / (sxx * syy), points: n };
}
