// The layers of a sequential model. Each layer keeps its forward map and its
// derivative side by side. Shapes are row-major with one row per sample:
// an activation of width w for a batch of N is [N, w].
//
// Backpropagation here carries *per-sample output Jacobians*, not a gradient:
// B is [R, w] with R = N·r rows ordered (i, m) sample-major, row (i, m) being
// ∂(s_(i,m)ᵀ η_i)/∂h_i for a seed vector s_(i,m) ∈ R^k and the layer's output h_i.
// A linear layer maps it by B W, an activation by a row-wise product with σ'(z_i).
import { activationBackward as nativeBackward, activationForward as nativeForward } from '../linalg';
import { gemmT, type Task } from '../task';
import { type Floats, zerosLike } from '../util/floats';
import { checkCount } from '../util/validate';
import type { ModuleLayer } from './module';

/** z = W a + b, W [outFeatures, inFeatures], b [outFeatures]. */
export interface LinearLayer {
  readonly kind: 'linear';
  readonly inFeatures: number;
  readonly outFeatures: number;
}

export type ActivationName = 'tanh' | 'relu' | 'sigmoid' | 'softplus' | 'gelu';

/** a = σ(z), elementwise. */
export interface ActivationLayer {
  readonly kind: 'activation';
  readonly name: ActivationName;
  /** σ(z) in float64. */
  readonly f: (z: number) => number;
  /** σ'(z) in float64. */
  readonly df: (z: number) => number;
  /** σ''(z) in float64, or null where σ has no second derivative as a function (relu: a Dirac delta at 0). */
  readonly d2f: ((z: number) => number) | null;
  /** σ'''(z) in float64 (null with d2f): the θ-derivative of a Laplacian needs it (./derivative_jacobian.ts). */
  readonly d3f: ((z: number) => number) | null;
  /**
   * out[0..3] = σ(z), σ'(z), σ''(z), σ'''(z) at once (the Taylor-mode passes' inner loop: one tanh or
   * exp instead of four); out[2], out[3] NaN where d2f, d3f are null.
   */
  readonly series: (z: number, out: Float64Array) => void;
  /** Initialisation gain of the linear layer that feeds this activation (He: √2 for relu/gelu, LeCun: 1 otherwise). */
  readonly gain: number;
}

/** A layer: linear, an activation, or a module (./module.ts: conv2d, the pools, flatten, a user's own). */
export type Layer = LinearLayer | ActivationLayer | ModuleLayer;

/** A linear layer z = W a + b with W [outFeatures, inFeatures]. */
export function linear(inFeatures: number, outFeatures: number): LinearLayer {
  checkCount('linear', 'inFeatures', inFeatures);
  checkCount('linear', 'outFeatures', outFeatures);
  return Object.freeze({ kind: 'linear' as const, inFeatures, outFeatures });
}

// ---- activations: σ and σ' side by side, in float64 ----

/** Logistic 1/(1 + e^{−z}), without overflow for either sign. */
function logistic(z: number): number {
  if (z >= 0) return 1 / (1 + Math.exp(-z));
  const e = Math.exp(z);
  return e / (1 + e);
}

// GELU, tanh form (Hendrycks & Gimpel; as in GPT-2 and PyTorch's approximate='tanh'):
// gelu(z) = ½ z (1 + tanh(c (z + 0.044715 z³))), c = √(2/π).
const GELU_C = Math.sqrt(2 / Math.PI);
const GELU_A = 0.044715;

const ACTIVATIONS: Record<ActivationName, Omit<ActivationLayer, 'kind' | 'name' | 'series'>> = {
  // tanh' = 1 − tanh² = T, tanh'' = −2 tanh T, tanh''' = 4 tanh² T − 2 T²
  tanh: {
    f: Math.tanh,
    df: (z) => 1 - Math.tanh(z) ** 2,
    d2f: (z) => {
      const t = Math.tanh(z);
      return -2 * t * (1 - t * t);
    },
    d3f: (z) => {
      const t = Math.tanh(z);
      const T = 1 - t * t;
      return 4 * t * t * T - 2 * T * T;
    },
    gain: 1,
  },
  // relu' = 1 for z > 0, else 0 (the subgradient 0 is used at the kink z = 0); relu'' is not a function
  // biome-ignore lint/complexity/useMathMinMax: Math.max(z, 0) would keep a NaN; the ternary is the defined relu
  relu: { f: (z) => (z > 0 ? z : 0), df: (z) => (z > 0 ? 1 : 0), d2f: null, d3f: null, gain: Math.SQRT2 },
  // σ' = σ (1 − σ) = s, σ'' = s (1 − 2σ), σ''' = s (1 − 2σ)² − 2 s²
  sigmoid: {
    f: logistic,
    df: (z) => logistic(z) * logistic(-z),
    d2f: (z) => logistic(z) * logistic(-z) * (1 - 2 * logistic(z)),
    d3f: (z) => {
      const s = logistic(z) * logistic(-z);
      const c = 1 - 2 * logistic(z);
      return s * c * c - 2 * s * s;
    },
    gain: 1,
  },
  // softplus(z) = log(1 + e^z) = max(z, 0) + log1p(e^{−|z|}); softplus' = logistic, softplus'' = logistic', softplus''' = logistic''
  softplus: {
    f: (z) => Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z))),
    df: logistic,
    d2f: (z) => logistic(z) * logistic(-z),
    d3f: (z) => logistic(z) * logistic(-z) * (1 - 2 * logistic(z)),
    gain: 1,
  },
  // gelu'(z) = ½ (1 + t) + ½ z (1 − t²) c (1 + 3·0.044715 z²), t = tanh(c (z + 0.044715 z³))
  gelu: {
    f: (z) => 0.5 * z * (1 + Math.tanh(GELU_C * (z + GELU_A * z * z * z))),
    df: (z) => {
      const t = Math.tanh(GELU_C * (z + GELU_A * z * z * z));
      return 0.5 * (1 + t) + 0.5 * z * (1 - t * t) * GELU_C * (1 + 3 * GELU_A * z * z);
    },
    // gelu'' = (1 − t²) u' + ½ z (1 − t²)(u'' − 2 t u'²), u = c (z + 0.044715 z³), u' = c (1 + 3·0.044715 z²), u'' = 6·0.044715 c z
    d2f: (z) => {
      const t = Math.tanh(GELU_C * (z + GELU_A * z * z * z));
      const du = GELU_C * (1 + 3 * GELU_A * z * z);
      const ddu = 6 * GELU_A * GELU_C * z;
      return (1 - t * t) * du + 0.5 * z * (1 - t * t) * (ddu - 2 * t * du * du);
    },
    // gelu''' = T' u' + T u'' + ½ T (u'' − 2t u'²) + ½ z T' (u'' − 2t u'²) + ½ z T (u''' − 2 t' u'² − 4 t u' u''),
    // T = 1 − t², t' = T u', T' = −2 t T u', u''' = 6·0.044715 c (d/dz of gelu'' above)
    d3f: (z) => {
      const t = Math.tanh(GELU_C * (z + GELU_A * z * z * z));
      const T = 1 - t * t;
      const du = GELU_C * (1 + 3 * GELU_A * z * z);
      const ddu = 6 * GELU_A * GELU_C * z;
      const dddu = 6 * GELU_A * GELU_C;
      const dt = T * du;
      const dT = -2 * t * T * du;
      const e = ddu - 2 * t * du * du;
      return dT * du + T * ddu + 0.5 * T * e + 0.5 * z * dT * e + 0.5 * z * T * (dddu - 2 * dt * du * du - 4 * t * du * ddu);
    },
    gain: Math.SQRT2,
  },
};

/** Whether `name` is an activation's name (the keys of ACTIVATIONS). */
export function isActivationName(name: unknown): name is ActivationName {
  return typeof name === 'string' && Object.hasOwn(ACTIVATIONS, name);
}
/** The names of the activations, in declaration order. */
export const ACTIVATION_NAMES = Object.freeze(Object.keys(ACTIVATIONS) as ActivationName[]);

// σ and its derivatives at once, sharing the one transcendental call: tanh and the logistic by their
// closed forms above; gelu, relu and softplus through their separate functions.
const SERIES: Partial<Record<ActivationName, (z: number, out: Float64Array) => void>> = {
  tanh: (z, out) => {
    const t = Math.tanh(z);
    const T = 1 - t * t;
    out[0] = t;
    out[1] = T;
    out[2] = -2 * t * T;
    out[3] = 4 * t * t * T - 2 * T * T;
  },
  sigmoid: (z, out) => {
    const p = logistic(z);
    const s = p * logistic(-z);
    const c = 1 - 2 * p;
    out[0] = p;
    out[1] = s;
    out[2] = s * c;
    out[3] = s * c * c - 2 * s * s;
  },
};

function seriesOf(name: ActivationName): (z: number, out: Float64Array) => void {
  const own = SERIES[name];
  if (own) return own;
  const { f, df, d2f, d3f } = ACTIVATIONS[name];
  return (z, out) => {
    out[0] = f(z);
    out[1] = df(z);
    out[2] = d2f ? d2f(z) : NaN;
    out[3] = d3f ? d3f(z) : NaN;
  };
}

/** The activation layer of that name (the one maker behind tanh(), relu(), …, and every name-driven builder). */
export function activation(name: ActivationName): ActivationLayer {
  return Object.freeze({ kind: 'activation' as const, name, ...ACTIVATIONS[name], series: seriesOf(name) });
}

/** tanh(z). */
export const tanh = (): ActivationLayer => activation('tanh');
/** max(z, 0); derivative 0 at z = 0. */
export const relu = (): ActivationLayer => activation('relu');
/** 1 / (1 + e^{−z}). */
export const sigmoid = (): ActivationLayer => activation('sigmoid');
/** log(1 + e^z), computed without overflow. */
export const softplus = (): ActivationLayer => activation('softplus');
/** GELU in its tanh form: ½ z (1 + tanh(√(2/π) (z + 0.044715 z³))). */
export const gelu = (): ActivationLayer => activation('gelu');

// ---- forward maps and Jacobian propagation ----

/**
 * Linear forward: Z[N, out] = A[N, in] Wᵀ + 1 bᵀ.
 * (Z is filled with b row by row, then one gemm adds A Wᵀ with beta = 1.)
 */
export function* linearForward<T extends Floats>(layer: LinearLayer, w: T, b: T, a: T, n: number, out?: T): Task<T> {
  const { inFeatures: inF, outFeatures: outF } = layer;
  const z = out ?? zerosLike(a, n * outF); // (every element is written: the bias, then beta = 1)
  // b into every row: one row, then copies of what is filled so far (log₂ N memmoves instead of N calls:
  // at N = 100,000 the row-by-row loop took 12 ms of a 94 ms CG iteration)
  const total = n * outF;
  if (total > 0) z.set(b, 0);
  for (let filled = outF; filled < total; filled *= 2) z.copyWithin(filled, 0, Math.min(filled, total - filled));
  yield* gemmT(a, w, n, outF, inF, { transB: true, beta: 1, out: z });
  return z;
}

/**
 * Linear Jacobian step: B_in[R, in] = B_out[R, out] · W[out, in]
 * (∂/∂a = ∂/∂z · ∂z/∂a with ∂z/∂a = W).
 */
export function* linearBackward<T extends Floats>(layer: LinearLayer, w: T, bOut: T, rows: number): Task<T> {
  return yield* gemmT(bOut, w, rows, layer.inFeatures, layer.outFeatures);
}

/** Activation forward: a = σ(z) elementwise, z and a [N, w] (natively: native/cpu/activation.cc, the formulas above in float64). */
export function activationForward<T extends Floats>(layer: ActivationLayer, z: T): T {
  return z.length === 0 ? zerosLike(z) : nativeForward(layer.name, z);
}

/**
 * Activation Jacobian step, in place: B[(i, m), :] ← B[(i, m), :] ⊙ σ'(z_i)
 * (∂/∂z = ∂/∂a · diag(σ'(z))). z is [N, w], B is [N·r, w].
 */
export function activationBackward(layer: ActivationLayer, z: Floats, b: Floats, n: number, r: number, width: number): void {
  if (n > 0 && r > 0 && width > 0) nativeBackward(layer.name, z, n, r, b); // native/cpu/activation.cc
}
