// Float64 references, written independently of lib/'s float32 pipeline: a sequential MLP, its
// Jacobian (analytic and by central differences), the three output families, and the dense natural
// gradient (its eigendecomposition is lib/linalg64's symEig, held to its invariants by
// test/linalg64.test.ts)
//   n_θ = (F_θ + λI)⁺ g_θ,  F_θ = (1/N) Σ_i G_i F_i G_iᵀ,  g_θ = (1/N) Σ_i G_i g_i.
// Parameter layout (the public contract): per linear layer W [out, in] row-major, then b [out].
import { symEig } from '../../lib/linalg64';

export type ActName = 'tanh' | 'relu' | 'sigmoid' | 'softplus' | 'gelu';
export type ArchLayer = { linear: [number, number] } | ActName;
export type Arch = ArchLayer[];
export type Loss = 'gaussian' | 'categorical' | 'bernoulli';

const C = Math.sqrt(2 / Math.PI);
const sig = (z: number) => 1 / (1 + Math.exp(-z));
export const ACT64: Record<ActName, { f: (z: number) => number; df: (z: number) => number }> = {
  tanh: { f: Math.tanh, df: (z) => 1 / Math.cosh(z) ** 2 },
  relu: { f: (z) => Math.max(0, z), df: (z) => (z > 0 ? 1 : 0) },
  sigmoid: { f: sig, df: (z) => sig(z) * (1 - sig(z)) },
  softplus: { f: (z) => (z < 30 ? Math.log1p(Math.exp(z)) : z + Math.log1p(Math.exp(-z))), df: sig },
  gelu: {
    f: (z) => 0.5 * z * (1 + Math.tanh(C * (z + 0.044715 * z ** 3))),
    df: (z) => {
      const u = C * (z + 0.044715 * z ** 3);
      const du = C * (1 + 3 * 0.044715 * z * z);
      return 0.5 * (1 + Math.tanh(u)) + (0.5 * z * du) / Math.cosh(u) ** 2;
    },
  },
};

export function numParams(arch: Arch): number {
  let p = 0;
  for (const l of arch) if (typeof l !== 'string') p += (l.linear[0] + 1) * l.linear[1];
  return p;
}
export function outDim(arch: Arch): number {
  let k = 0;
  for (const l of arch) if (typeof l !== 'string') k = l.linear[1];
  return k;
}

/** One sample through the network: returns each layer's input and the output η (float64). */
function forwardSample(arch: Arch, theta: ArrayLike<number>, x: ArrayLike<number>): number[][] {
  const hs: number[][] = [Array.from(x)];
  let off = 0;
  for (const l of arch) {
    const a = hs[hs.length - 1];
    if (typeof l === 'string') {
      hs.push(a.map(ACT64[l].f));
    } else {
      const [nin, nout] = l.linear;
      const z: number[] = [];
      for (let o = 0; o < nout; o++) {
        let s = theta[off + nout * nin + o];
        for (let c = 0; c < nin; c++) s += theta[off + o * nin + c] * a[c];
        z.push(s);
      }
      off += (nin + 1) * nout;
      hs.push(z);
    }
  }
  return hs;
}

function inDim(arch: Arch): number {
  for (const l of arch) if (typeof l !== 'string') return l.linear[0];
  throw new Error('no linear layer');
}

/** η [N, k] in float64. */
export function forward64(arch: Arch, theta: ArrayLike<number>, x: ArrayLike<number>, n: number): Float64Array {
  const d = inDim(arch);
  const k = outDim(arch);
  const eta = new Float64Array(n * k);
  for (let i = 0; i < n; i++) {
    const hs = forwardSample(arch, theta, Array.prototype.slice.call(x, i * d, (i + 1) * d) as number[]);
    eta.set(hs[hs.length - 1], i * k);
  }
  return eta;
}

/** G [P, N·k], G[p, (i, j)] = ∂η_ij/∂θ_p, by reverse mode per sample and per output (float64). */
export function jacobian64(arch: Arch, theta: ArrayLike<number>, x: ArrayLike<number>, n: number): Float64Array {
  const d = inDim(arch);
  const k = outDim(arch);
  const p = numParams(arch);
  const cols = n * k;
  const g = new Float64Array(p * cols);
  // offsets of each linear layer
  const offs: number[] = [];
  let off = 0;
  for (const l of arch) {
    offs.push(off);
    if (typeof l !== 'string') off += (l.linear[0] + 1) * l.linear[1];
  }
  for (let i = 0; i < n; i++) {
    const hs = forwardSample(arch, theta, Array.prototype.slice.call(x, i * d, (i + 1) * d) as number[]);
    for (let j = 0; j < k; j++) {
      let delta = new Array(k).fill(0);
      delta[j] = 1; // ∂η_j/∂(output)
      for (let li = arch.length - 1; li >= 0; li--) {
        const l = arch[li];
        const a = hs[li];
        if (typeof l === 'string') {
          delta = delta.map((v, c) => v * ACT64[l].df(a[c]));
        } else {
          const [nin, nout] = l.linear;
          const o0 = offs[li];
          for (let o = 0; o < nout; o++) {
            for (let c = 0; c < nin; c++) g[(o0 + o * nin + c) * cols + i * k + j] = delta[o] * a[c];
            g[(o0 + nout * nin + o) * cols + i * k + j] = delta[o];
          }
          const prev = new Array(nin).fill(0);
          for (let o = 0; o < nout; o++) for (let c = 0; c < nin; c++) prev[c] += delta[o] * theta[o0 + o * nin + c];
          delta = prev;
        }
      }
    }
  }
  return g;
}

/** G [P, N·k] by central differences of forward64 with step h. */
export function fdJacobian64(arch: Arch, theta: ArrayLike<number>, x: ArrayLike<number>, n: number, h = 1e-6): Float64Array {
  const p = numParams(arch);
  const cols = n * outDim(arch);
  const t = Float64Array.from(theta);
  const g = new Float64Array(p * cols);
  for (let q = 0; q < p; q++) {
    const t0 = t[q];
    t[q] = t0 + h;
    const up = forward64(arch, t, x, n);
    t[q] = t0 - h;
    const dn = forward64(arch, t, x, n);
    t[q] = t0;
    for (let c = 0; c < cols; c++) g[q * cols + c] = (up[c] - dn[c]) / (2 * h);
  }
  return g;
}

// ---- output families, float64, per sample ----

function softmax(eta: ArrayLike<number>): number[] {
  const mx = Math.max(...Array.from(eta));
  const e = Array.from(eta, (v) => Math.exp(v - mx));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

/** ℓ(η, y) for one sample; y is the sample's targets (k values for gaussian, 1 otherwise). */
export function loss64(loss: Loss, eta: ArrayLike<number>, y: ArrayLike<number>): number {
  if (loss === 'gaussian') {
    let s = 0;
    for (let j = 0; j < eta.length; j++) s += (y[j] - eta[j]) ** 2;
    return s / 2;
  }
  if (loss === 'categorical') return -Math.log(softmax(eta)[y[0]]);
  const p = sig(eta[0]);
  return -(y[0] * Math.log(p) + (1 - y[0]) * Math.log(1 - p));
}

/** ∇_η ℓ. */
export function grad64(loss: Loss, eta: ArrayLike<number>, y: ArrayLike<number>): number[] {
  if (loss === 'gaussian') return Array.from(eta, (v, j) => v - y[j]);
  if (loss === 'categorical') return softmax(eta).map((p, j) => p - (j === y[0] ? 1 : 0));
  return [sig(eta[0]) - y[0]];
}

/** F_η [k, k] row-major. */
export function fisher64(loss: Loss, eta: ArrayLike<number>): number[] {
  const k = eta.length;
  const f = new Array(k * k).fill(0);
  if (loss === 'gaussian') for (let j = 0; j < k; j++) f[j * k + j] = 1;
  else if (loss === 'categorical') {
    const p = softmax(eta);
    for (let a = 0; a < k; a++) for (let b = 0; b < k; b++) f[a * k + b] = (a === b ? p[a] : 0) - p[a] * p[b];
  } else {
    const p = sig(eta[0]);
    f[0] = p * (1 - p);
  }
  return f;
}

/** Targets per sample. */
export function targetWidth(loss: Loss, k: number): number {
  return loss === 'gaussian' ? k : 1;
}

// ---- dense linear algebra in float64 ----

/** Symmetric eigendecomposition by cyclic Jacobi (lib/linalg64.ts, held to A = VΛVᵀ, VᵀV = I by test/linalg64.test.ts). */
export { symEig };

export interface DenseNaturalGradient {
  /** n_θ = (F_θ + λI)⁺ g_θ. */
  direction: Float64Array;
  gTheta: Float64Array;
  /** F_θ [P, P]. */
  fTheta: Float64Array;
  /** Eigenvalues of F_θ, descending. */
  eigenvalues: Float64Array;
  /** How many eigenvalues of F_θ + λI the pseudo-inverse kept (all when λ > 0). */
  rank: number;
  /** Condition number of the solved operator on its kept range: (e_max + λ)/(e_min,kept + λ). */
  cond: number;
  /** G [P, N·k] (float64, analytic). */
  jac: Float64Array;
  loss: number;
}

/**
 * The dense float64 natural gradient. `cutoff`: eigenvalues of F_θ + λI at or below cutoff·max count
 * as zero (only matters at λ = 0; 1e-10 is far above float64 rounding ~1e-16 and far below the
 * smallest genuine eigenvalue of the well-conditioned draws used in the tests).
 */
export function denseNaturalGradient(
  arch: Arch,
  theta: ArrayLike<number>,
  x: ArrayLike<number>,
  y: ArrayLike<number>,
  n: number,
  loss: Loss,
  lambda: number,
  cutoff = 1e-10
): DenseNaturalGradient {
  return naturalGradientOf(jacobian64(arch, theta, x, n), forward64(arch, theta, x, n), y, n, outDim(arch), numParams(arch), loss, lambda, cutoff);
}

/** denseNaturalGradient from any model's float64 Jacobian jac [P, N·k] and outputs eta [N, k] (e.g. by central differences of an independent forward pass). */
export function naturalGradientOf(
  jac: Float64Array,
  eta: Float64Array,
  y: ArrayLike<number>,
  n: number,
  k: number,
  p: number,
  loss: Loss,
  lambda: number,
  cutoff = 1e-10
): DenseNaturalGradient {
  const cols = n * k;
  const tw = targetWidth(loss, k);
  const fTheta = new Float64Array(p * p);
  const gTheta = new Float64Array(p);
  let L = 0;
  const gi = new Float64Array(p * k); // G_i F_i, [P, k]
  for (let i = 0; i < n; i++) {
    const e = eta.subarray(i * k, (i + 1) * k);
    const yi = Array.prototype.slice.call(y, i * tw, (i + 1) * tw) as number[];
    L += loss64(loss, e, yi) / n;
    const f = fisher64(loss, e);
    const g = grad64(loss, e, yi);
    for (let q = 0; q < p; q++) {
      let s = 0;
      for (let j = 0; j < k; j++) {
        s += jac[q * cols + i * k + j] * g[j];
        let t = 0;
        for (let l = 0; l < k; l++) t += jac[q * cols + i * k + l] * f[l * k + j];
        gi[q * k + j] = t;
      }
      gTheta[q] += s / n;
    }
    for (let a = 0; a < p; a++)
      for (let b = 0; b < p; b++) {
        let s = 0;
        for (let j = 0; j < k; j++) s += gi[a * k + j] * jac[b * cols + i * k + j];
        fTheta[a * p + b] += s / n;
      }
  }
  const { values, vectors } = symEig(fTheta, p);
  const order = Array.from(values.keys()).sort((a, b) => values[b] - values[a]);
  const emax = values[order[0]] + lambda;
  const direction = new Float64Array(p);
  let rank = 0;
  let emin = Infinity;
  for (const idx of order) {
    const e = values[idx] + lambda;
    if (e <= cutoff * emax) continue;
    rank++;
    emin = Math.min(emin, e);
    let vg = 0;
    for (let q = 0; q < p; q++) vg += vectors[q * p + idx] * gTheta[q];
    for (let q = 0; q < p; q++) direction[q] += (vectors[q * p + idx] * vg) / e;
  }
  return {
    direction,
    gTheta,
    fTheta,
    eigenvalues: Float64Array.from(order, (i) => values[i]),
    rank,
    cond: emax / emin,
    jac,
    loss: L,
  };
}

/** F⁺ v for symmetric F [k, k] (float64, eigenvalues below k·1e-14·max dropped). */
export function pinvApply64(f: ArrayLike<number>, k: number, v: ArrayLike<number>): number[] {
  const { values, vectors } = symEig(f, k);
  const emax = Math.max(...Array.from(values));
  const out = new Array(k).fill(0);
  for (let e = 0; e < k; e++) {
    if (values[e] <= k * 1e-14 * emax) continue;
    let s = 0;
    for (let q = 0; q < k; q++) s += vectors[q * k + e] * v[q];
    for (let q = 0; q < k; q++) out[q] += (vectors[q * k + e] * s) / values[e];
  }
  return out;
}

// ---- small utilities ----

/** ‖a − b‖₂ / ‖b‖₂. */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / den);
}

/** max |a − b| / max |b|. */
export function maxRelErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return num / den;
}

/** Deterministic pseudo-random numbers for test data (mulberry32), independent of lib/. */
export function testRng(seed: number): { uniform(): number; normal(): number } {
  let s = seed >>> 0;
  const uniform = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    uniform,
    normal: () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform()),
  };
}
