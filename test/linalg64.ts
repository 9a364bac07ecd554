// Float64 reference helpers for the kernel tests: seeded random matrices of a chosen spectrum, and the
// float64 algebra of lib/linalg64.ts. Row-major number[]/Float64Array.

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

// The float64 algebra itself is lib/linalg64.ts (test/linalg64.test.ts holds it to its invariants):
// C = op(A)·op(B), ‖·‖, ‖a − b‖/‖b‖, (K + λI)⁻¹ R by Cholesky (a RangeError when not positive definite).
export { choleskySolve as choleskySolve64, matmul as matmul64, norm, relDiff as relErr } from '../lib/linalg64';

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
