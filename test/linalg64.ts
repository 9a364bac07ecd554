// Float64 reference linear algebra for the kernel tests, written out plainly so a
// reader can check it against the textbook. Row-major number[]/Float64Array.

/** Deterministic uniform [0, 1) generator (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal samples (Box–Muller), as float32. */
export function randn(n: number, r: () => number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = Math.max(r(), 1e-12);
    out[i] = scale * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r());
  }
  return out;
}

/** C[m,n] = op(A)·op(B) in float64. */
export function matmul64(a: ArrayLike<number>, b: ArrayLike<number>, m: number, n: number, k: number, ta = false, tb = false): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let p = 0; p < k; p++) {
      const aip = ta ? a[p * m + i] : a[i * k + p];
      if (aip === 0) continue;
      for (let j = 0; j < n; j++) c[i * n + j] += aip * (tb ? b[j * k + p] : b[p * n + j]);
    }
  }
  return c;
}

/** Frobenius norm. */
export function norm(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return Math.sqrt(s);
}

/** ‖a − b‖ / ‖b‖ (Frobenius). */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d += (a[i] - b[i]) ** 2;
  const nb = norm(b);
  return Math.sqrt(d) / (nb === 0 ? 1 : nb);
}

/** Solve (K + λI) X = R in float64 by Cholesky; K [m,m], R [m,nrhs]. Throws if not SPD. */
export function choleskySolve64(k: ArrayLike<number>, m: number, r: ArrayLike<number>, nrhs: number, lambda = 0): Float64Array {
  const l = new Float64Array(m * m);
  for (let j = 0; j < m; j++) {
    let d = k[j * m + j] + lambda;
    for (let p = 0; p < j; p++) d -= l[j * m + p] ** 2;
    if (!(d > 0)) throw new Error(`reference: not positive definite at column ${j + 1}`);
    l[j * m + j] = Math.sqrt(d);
    for (let i = j + 1; i < m; i++) {
      let v = k[i * m + j];
      for (let p = 0; p < j; p++) v -= l[i * m + p] * l[j * m + p];
      l[i * m + j] = v / l[j * m + j];
    }
  }
  const x = Float64Array.from(r as ArrayLike<number>);
  for (let c = 0; c < nrhs; c++) {
    for (let i = 0; i < m; i++) {
      let v = x[i * nrhs + c];
      for (let p = 0; p < i; p++) v -= l[i * m + p] * x[p * nrhs + c];
      x[i * nrhs + c] = v / l[i * m + i];
    }
    for (let i = m - 1; i >= 0; i--) {
      let v = x[i * nrhs + c];
      for (let p = i + 1; p < m; p++) v -= l[p * m + i] * x[p * nrhs + c];
      x[i * nrhs + c] = v / l[i * m + i];
    }
  }
  return x;
}

/** A random m×m orthogonal matrix (Gram–Schmidt on a Gaussian matrix, twice for accuracy). */
export function orthogonal64(m: number, r: () => number): Float64Array {
  const q = Float64Array.from(randn(m * m, r));
  for (let pass = 0; pass < 2; pass++) {
    for (let j = 0; j < m; j++) {
      for (let p = 0; p < j; p++) {
        let d = 0;
        for (let i = 0; i < m; i++) d += q[i * m + j] * q[i * m + p];
        for (let i = 0; i < m; i++) q[i * m + j] -= d * q[i * m + p];
      }
      let s = 0;
      for (let i = 0; i < m; i++) s += q[i * m + j] ** 2;
      s = Math.sqrt(s);
      for (let i = 0; i < m; i++) q[i * m + j] /= s;
    }
  }
  return q;
}

/** K = Q diag(e) Qᵀ in float64. */
export function fromEigen64(q: Float64Array, e: ArrayLike<number>, m: number): Float64Array {
  const k = new Float64Array(m * m);
  for (let i = 0; i < m; i++)
    for (let j = i; j < m; j++) {
      let v = 0;
      for (let p = 0; p < m; p++) v += q[i * m + p] * e[p] * q[j * m + p];
      k[i * m + j] = v;
      k[j * m + i] = v;
    }
  return k;
}

export function f32(a: ArrayLike<number>): Float32Array {
  return Float32Array.from(a as ArrayLike<number>);
}
