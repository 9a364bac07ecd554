// Typed wrappers of the native kernels. Every matrix is a row-major Float32Array — or, for the kernels
// with a float64 form (all but batchedGramInverse), every matrix of the call a Float64Array — used in
// place (zero copy); outputs are allocated, of the inputs' type, unless `out` is given. Each
// kernel has a sync form and an `…Async` form that runs on the libuv pool and
// resolves to the same result, bit for bit. Argument errors are TypeError /
// RangeError naming the argument (code ERR_INVALID_ARG_TYPE / ERR_OUT_OF_RANGE);
// kernel failures carry a `code` (ERR_NOT_POSITIVE_DEFINITE with `column`,
// ERR_NON_FINITE, ERR_LAPACK, ERR_OUT_OF_MEMORY with `bytesNeeded` and `bytesAvailable`).
//
// The `…Async` forms read their inputs when called and write their outputs when they
// resolve: they work on private copies (a memcpy per array on the calling thread), so
// that transferring, shrinking or overwriting an array while a call is pending can
// neither crash the process nor change the result. If an output array loses its memory
// meanwhile (transferred, or its resizable buffer shrunk), the promise rejects with code
// ERR_INVALID_STATE and writes nothing. Arrays backed by a SharedArrayBuffer are used in
// place (zero copy; they cannot be detached): writing to one while a call uses it is a
// data race. Two pending calls writing the same array: the later completion wins.
import {
  type ActivationKind,
  type ConvGeometry,
  type DeviceFamily,
  type DeviceStepResult,
  type Floats,
  native,
  type PoolShape,
  type Precision,
} from './native';

export type { DeviceFamily, DeviceStepResult, Floats, Precision } from './native';

export interface GemmOptions<T extends Floats = Float32Array> {
  transA?: boolean;
  transB?: boolean;
  alpha?: number;
  /** Scale of the existing `out` (needs `out`); default 0. */
  beta?: number;
  out?: T;
}

// An output: the caller's `out`, or null for one the addon allocates itself, after checking that the
// output, its work buffers and (Promise form) its private copies fit in the memory available
// (ERR_OUT_OF_MEMORY naming the bytes otherwise; see memoryInfo()), so a huge call is refused
// before anything is allocated.
function alloc<T extends Floats>(out: T | undefined): T | null {
  return out ?? null;
}

function gemmArgs<T extends Floats>(a: T, b: T, m: number, n: number, k: number, o: GemmOptions<T>) {
  if (o.beta !== undefined && o.beta !== 0 && !o.out) throw new TypeError("gemm: option 'beta' needs option 'out'");
  return [!!o.transA, !!o.transB, m, n, k, o.alpha ?? 1, a, b, o.beta ?? 0, alloc(o.out)] as const;
}

/** C[m,n] = alpha·op(A)·op(B) + beta·C; A [m,k] ([k,m] if transA), B [k,n] ([n,k] if transB). */
export function gemm<T extends Floats = Float32Array>(a: T, b: T, m: number, n: number, k: number, opts: GemmOptions<T> = {}): T {
  return native.gemm(...gemmArgs(a, b, m, n, k, opts)) as T;
}
export function gemmAsync<T extends Floats = Float32Array>(a: T, b: T, m: number, n: number, k: number, opts: GemmOptions<T> = {}): Promise<T> {
  return native.gemmAsync(...gemmArgs(a, b, m, n, k, opts)) as Promise<T>;
}

export interface GramOptions<T extends Floats = Float32Array> {
  /** 'PM': J is [P, M] (one column per kernel entry), K = JᵀJ. 'MP': J is [M, P], K = J Jᵀ. Default 'PM'. */
  layout?: 'PM' | 'MP';
  out?: T;
  /**
   * Add the product to `out` (required, and symmetric: only its upper triangle is read) instead of
   * overwriting it: K += JᵀJ. A sum of Grams over chunks of J is then one pass over K per chunk.
   */
  accumulate?: boolean;
}

function gramArgs<T extends Floats>(j: T, p: number, m: number, o: GramOptions<T>) {
  if (o.layout !== undefined && o.layout !== 'PM' && o.layout !== 'MP') throw new TypeError("gram: option 'layout' must be 'PM' or 'MP'");
  if (o.accumulate !== undefined && typeof o.accumulate !== 'boolean') throw new TypeError("gram: option 'accumulate' must be a boolean");
  if (o.accumulate && !o.out) throw new TypeError("gram: option 'accumulate' needs option 'out', the kernel to add to");
  return [j, p, m, o.layout === 'MP', !!o.accumulate, alloc(o.out)] as const;
}

/** K[M,M] = JᵀJ (full symmetric) for J [P,M], or J Jᵀ for J [M,P] with layout 'MP'; K += … with `accumulate`. */
export function gram<T extends Floats = Float32Array>(j: T, p: number, m: number, opts: GramOptions<T> = {}): T {
  return native.gram(...gramArgs(j, p, m, opts)) as T;
}
export function gramAsync<T extends Floats = Float32Array>(j: T, p: number, m: number, opts: GramOptions<T> = {}): Promise<T> {
  return native.gramAsync(...gramArgs(j, p, m, opts)) as Promise<T>;
}

/**
 * Accumulates one linear layer's block of the kernel:
 * K[Nk,Nk] += (B Bᵀ) ⊙ (expand_k(A Aᵀ) + 1), B [N·k, widthOut], A [N, widthIn].
 * Row (i, j) of B is ∂η_(i,j)/∂z_i for the layer output z_i of sample i; A holds the layer inputs a_i.
 * `kernel` is read and written (pass zeros to start).
 */
export function layerGram<T extends Floats = Float32Array>(b: T, a: T, n: number, k: number, widthOut: number, widthIn: number, kernel: T): T {
  return native.layerGram(b, a, n, k, widthOut, widthIn, kernel) as T;
}
export function layerGramAsync<T extends Floats = Float32Array>(b: T, a: T, n: number, k: number, widthOut: number, widthIn: number, kernel: T): Promise<T> {
  return native.layerGramAsync(b, a, n, k, widthOut, widthIn, kernel) as Promise<T>;
}

/**
 * The whole kernel of a network's linear layers, in one fused call:
 * K[Nk,Nk] = Σ_l (B_l B_lᵀ) ⊙ (expand_k(A_l A_lᵀ) + 1), B_l [N·k, widthOut_l], A_l [N, widthIn_l]
 * (the widths follow from the lengths). Overwrites `out` (allocated when absent); equal to zeros
 * followed by one layerGram per layer, but each element of K is written once and no N·k × N·k
 * intermediate is formed.
 */
export function layerGramSum<T extends Floats = Float32Array>(bs: readonly T[], as: readonly T[], n: number, k: number, out?: T): T {
  return native.layerGramSum(bs, as, n, k, alloc(out)) as T;
}
export function layerGramSumAsync<T extends Floats = Float32Array>(bs: readonly T[], as: readonly T[], n: number, k: number, out?: T): Promise<T> {
  return native.layerGramSumAsync(bs, as, n, k, alloc(out)) as Promise<T>;
}

export interface SolveOptions<T extends Floats = Float32Array> {
  /** λ ≥ 0 added to the diagonal. Default 0. */
  damping?: number;
  /** Precision of the factorisation of Float32Array inputs (they stay float32). Default 'float32'. Float64Array inputs always factor in float64. */
  precision?: Precision;
  /** [M, nrhs]; may be the same array as R. */
  out?: T;
}

function solveArgs<T extends Floats>(_m: number, _nrhs: number, o: SolveOptions<T>) {
  return [o.damping ?? 0, o.precision ?? 'float32', alloc(o.out)] as const;
}

/**
 * X[M,nrhs] = (K + λI)⁻¹ R by Cholesky, K [M,M] symmetric (its upper triangle is read), R [M,nrhs].
 * Throws code ERR_NOT_POSITIVE_DEFINITE with `column` (1-based) when K + λI is not positive definite.
 */
export function choleskySolve<T extends Floats = Float32Array>(k: T, m: number, r: T, nrhs = 1, opts: SolveOptions<T> = {}): T {
  const [damping, precision, x] = solveArgs(m, nrhs, opts);
  return native.choleskySolve(k, m, r, nrhs, damping, precision, x) as T;
}
export function choleskySolveAsync<T extends Floats = Float32Array>(k: T, m: number, r: T, nrhs = 1, opts: SolveOptions<T> = {}): Promise<T> {
  const [damping, precision, x] = solveArgs(m, nrhs, opts);
  return native.choleskySolveAsync(k, m, r, nrhs, damping, precision, x) as Promise<T>;
}

export interface PinvOptions<T extends Floats = Float32Array> extends SolveOptions<T> {
  /**
   * Eigenvalues with |e| ≤ rcond·max|e| count as zero. 0 (default) means M·ε of K's type: M·ε₃₂
   * (ε₃₂ = 2⁻²³) for a Float32Array K, whatever the precision — K arrives in float32, so smaller
   * eigenvalues are indistinguishable from its rounding (pass a smaller rcond with precision 'float64'
   * only when K is known to be exact in float32) — and M·ε₆₄ for a Float64Array K.
   */
  rcond?: number;
}
export interface PinvResult<T extends Floats = Float32Array> {
  x: T;
  /** How many eigenvalues were kept. */
  rank: number;
}

function pinvArgs<T extends Floats>(_m: number, _nrhs: number, o: PinvOptions<T>) {
  return [o.damping ?? 0, o.rcond ?? 0, o.precision ?? 'float32', alloc(o.out)] as const;
}

/** X = (K + λI)⁺ R for symmetric K [M,M] by eigendecomposition (syevd) with a relative cutoff. */
export function pinvSolve<T extends Floats = Float32Array>(k: T, m: number, r: T, nrhs = 1, opts: PinvOptions<T> = {}): PinvResult<T> {
  const [damping, rcond, precision, x] = pinvArgs(m, nrhs, opts);
  return pinvResult(native.pinvSolve(k, m, r, nrhs, damping, rcond, precision, x) as number | PinvResult<T>, x);
}
export async function pinvSolveAsync<T extends Floats = Float32Array>(k: T, m: number, r: T, nrhs = 1, opts: PinvOptions<T> = {}): Promise<PinvResult<T>> {
  const [damping, rcond, precision, x] = pinvArgs(m, nrhs, opts);
  return pinvResult((await native.pinvSolveAsync(k, m, r, nrhs, damping, rcond, precision, x)) as number | PinvResult<T>, x);
}
// The addon returns the rank, or { x, rank } when it allocated X (out not given).
function pinvResult<T extends Floats>(r: number | PinvResult<T>, x: T | null): PinvResult<T> {
  return typeof r === 'number' ? { x: x as T, rank: r } : r;
}

export interface BatchedGramInverseOptions {
  damping?: number;
  /** [batch, k, k] */
  out?: Float32Array;
}

/** out[b] = (G_bᵀ G_b + λI)⁻¹ for G [batch, rows, k] (k ≤ 256); out [batch, k, k]. */
export function batchedGramInverse(g: Float32Array, batch: number, rows: number, k: number, opts: BatchedGramInverseOptions = {}): Float32Array {
  return native.batchedGramInverse(g, batch, rows, k, opts.damping ?? 0, alloc(opts.out));
}
export function batchedGramInverseAsync(g: Float32Array, batch: number, rows: number, k: number, opts: BatchedGramInverseOptions = {}): Promise<Float32Array> {
  return native.batchedGramInverseAsync(g, batch, rows, k, opts.damping ?? 0, alloc(opts.out));
}

export interface ExactStepOptions {
  /** λ ≥ 0 (default 0: the pseudo-inverse). */
  damping?: number;
  /** The pseudo-inverse's cutoff at λ = 0 (see PinvOptions.rcond; 0: M·ε₃₂). */
  rcond?: number;
  /** > 0: also the mean loss at θ − lr·n (trialLoss). */
  lr?: number;
  /** [P] */
  out?: Float32Array;
}

type ExactStepParams = [
  layers: readonly number[],
  family: DeviceFamily,
  theta: Float32Array,
  x: Float32Array,
  y: Float32Array,
  n: number,
  opts?: ExactStepOptions,
];
function exactStepArgs(...[layers, family, theta, x, y, n, o = {}]: ExactStepParams) {
  return [layers, family, theta, x, y, n, o.damping ?? 0, o.rcond ?? 0, o.lr ?? 0, alloc(o.out)] as const;
}
/**
 * The exact natural gradient n_θ = S (SᵀS + NλI)⁻¹ u of a stack of linear layers and activations in one
 * native call: on the CUDA backend every stage on the GPU (θ, x and y go up once and n_θ comes back), on
 * the CPU backend the same stages on its kernels with no JavaScript between them. `layers` holds {kind,
 * width in, width out} per layer: kind −1 linear (W [out, in] row-major then b [out] in θ, layers in order),
 * 0 tanh, 1 relu, 2 sigmoid, 3 softplus, 4 gelu. y is [N, k] (gaussian) or [N] (categorical class indices,
 * bernoulli 0/1).
 */
export function exactStep(...args: ExactStepParams): DeviceStepResult {
  return native.exactStep(...exactStepArgs(...args));
}
export function exactStepAsync(...args: ExactStepParams): Promise<DeviceStepResult> {
  return native.exactStepAsync(...exactStepArgs(...args));
}

/** a = σ(z) elementwise over z's n elements, in float64 as lib/nn/layers.ts defines σ (one rounding to z's type). */
export function activationForward<T extends Floats = Float32Array>(kind: ActivationKind, z: T, out?: T): T {
  return native.activationForward(kind, z, z.length, alloc(out)) as T;
}
export function activationForwardAsync<T extends Floats = Float32Array>(kind: ActivationKind, z: T, out?: T): Promise<T> {
  return native.activationForwardAsync(kind, z, z.length, alloc(out)) as Promise<T>;
}

/**
 * b[i·r + m, c] *= σ'(z[i, c]) in place for z [N, width] and b [N·r, width]: the backward pass of an
 * activation for r seed rows per sample (r = 1: the forward-mode tangent σ'(z) ⊙ δz). Returns b.
 */
export function activationBackward<T extends Floats = Float32Array>(kind: ActivationKind, z: T, n: number, r: number, b: T): T {
  return native.activationBackward(kind, z, n, r, z.length / n, b) as T;
}
export function activationBackwardAsync<T extends Floats = Float32Array>(kind: ActivationKind, z: T, n: number, r: number, b: T): Promise<T> {
  return native.activationBackwardAsync(kind, z, n, r, z.length / n, b) as Promise<T>;
}

/**
 * Per-sample row contractions of B [N·r, width] (r rows per sample, row i·r + m), accumulated in float64:
 * Bc [N, width] with Bc_i = Σ_m c_(i,m) B_(i,m) (rounded once to B's type), and `sum` [width] (float64,
 * overwritten) = Σ_i Bc_i before that rounding. Returns Bc (`out`, or allocated).
 */
export function rowsContract<T extends Floats = Float32Array>(b: T, c: Float64Array, n: number, r: number, sum: Float64Array, out?: T): T {
  return native.rowsContract(b, c, n, r, sum.length, alloc(out), sum) as T;
}
export function rowsContractAsync<T extends Floats = Float32Array>(b: T, c: Float64Array, n: number, r: number, sum: Float64Array, out?: T): Promise<T> {
  return native.rowsContractAsync(b, c, n, r, sum.length, alloc(out), sum) as Promise<T>;
}

/**
 * true when every element of x is finite; otherwise throws a RangeError with code ERR_NON_FINITE naming the
 * first NaN or Infinity and its index — the scan every kernel runs on its inputs (vectorised, split among the
 * threads from 1 Mi elements), alone.
 */
export function allFinite(x: Floats): true {
  return x.length === 0 ? true : native.allFinite(x, x.length);
}
export function allFiniteAsync(x: Floats): Promise<true> {
  return x.length === 0 ? Promise.resolve(true) : native.allFiniteAsync(x, x.length);
}

/** out_(i,m) += B_(i,m) · Z_i for B [N·r, width], Z [N, width], out [N·r] (float64, accumulated in float64). Returns out. */
export function rowsDot<T extends Floats = Float32Array>(b: T, z: T, n: number, r: number, out: Float64Array): Float64Array {
  return native.rowsDot(b, z, n, r, z.length / n, out);
}
export function rowsDotAsync<T extends Floats = Float32Array>(b: T, z: T, n: number, r: number, out: Float64Array): Promise<Float64Array> {
  return native.rowsDotAsync(b, z, n, r, z.length / n, out);
}

/**
 * A conv2d layer's patches: cols [n·Ho·Wo, C·kh·kw], row (i, p) the window of output position p of sample i
 * in x [n, C·H·W], column (c, u, v); 0 where the window reaches into the padding. geometry = [C, H, W, kh,
 * kw, stride, padding]. Returns cols (`out`, or allocated).
 */
export function im2col<T extends Floats = Float32Array>(x: T, n: number, geometry: ConvGeometry, out?: T): T {
  return native.im2col(x, n, geometry, alloc(out)) as T;
}
export function im2colAsync<T extends Floats = Float32Array>(x: T, n: number, geometry: ConvGeometry, out?: T): Promise<T> {
  return native.im2colAsync(x, n, geometry, alloc(out)) as Promise<T>;
}

/**
 * A conv2d layer's seeds taken from its output to its input: for each of `rows` seed rows dy_q [out, Ho·Wo]
 * (dy [rows, out, Ho·Wo]) and weights w [out, C·kh·kw], dx_q = col2im(wᵀ dy_q) [C·H·W], col2im the adjoint of
 * im2col (each pixel the sum of its patch entries). dx [rows, C·H·W] is overwritten. Returns dx (`out`, or
 * allocated).
 */
export function conv2dInputSeeds<T extends Floats = Float32Array>(w: T, dy: T, rows: number, outChannels: number, geometry: ConvGeometry, out?: T): T {
  return native.conv2dInputSeeds(w, dy, rows, outChannels, geometry, alloc(out)) as T;
}
export function conv2dInputSeedsAsync<T extends Floats = Float32Array>(
  w: T,
  dy: T,
  rows: number,
  outChannels: number,
  geometry: ConvGeometry,
  out?: T
): Promise<T> {
  return native.conv2dInputSeedsAsync(w, dy, rows, outChannels, geometry, alloc(out)) as Promise<T>;
}
/**
 * A conv2d layer's forward pass from its patches (im2col): y [n, out, Ho·Wo], y_i = b + W · cols_iᵀ, for
 * theta = [W [out, C·kh·kw], b [out]] (the layer's parameters as the model lays them out). Returns y (`out`, or
 * allocated).
 */
export function conv2dForward<T extends Floats = Float32Array>(cols: T, theta: T, n: number, outChannels: number, geometry: ConvGeometry, out?: T): T {
  return native.conv2dForward(cols, theta, n, outChannels, geometry, alloc(out)) as T;
}
export function conv2dForwardAsync<T extends Floats = Float32Array>(
  cols: T,
  theta: T,
  n: number,
  outChannels: number,
  geometry: ConvGeometry,
  out?: T
): Promise<T> {
  return native.conv2dForwardAsync(cols, theta, n, outChannels, geometry, alloc(out)) as Promise<T>;
}

/**
 * A conv2d layer's per-row parameter gradients: grads [n·r, out·C·kh·kw + out], row q = (i, m) of sample i is
 * [dy_q · cols_i (∂/∂W, [out, C·kh·kw]), Σ_p dy_q[o, p] (∂/∂b, summed in float64)] for the seeds dy [n·r, out,
 * Ho·Wo] at the layer's output and the patches cols [n·Ho·Wo, C·kh·kw]. Returns grads (`out`, or allocated).
 */
export function conv2dGradients<T extends Floats = Float32Array>(
  dy: T,
  cols: T,
  n: number,
  r: number,
  outChannels: number,
  geometry: ConvGeometry,
  out?: T
): T {
  return native.conv2dGradients(dy, cols, n, r, outChannels, geometry, alloc(out)) as T;
}
export function conv2dGradientsAsync<T extends Floats = Float32Array>(
  dy: T,
  cols: T,
  n: number,
  r: number,
  outChannels: number,
  geometry: ConvGeometry,
  out?: T
): Promise<T> {
  return native.conv2dGradientsAsync(dy, cols, n, r, outChannels, geometry, alloc(out)) as Promise<T>;
}
/**
 * A pooling layer's forward pass: y [n, C·⌊H/k⌋·⌊W/k⌋] from x [n, C·H·W], each output the first largest
 * ('max') or the mean ('avg', summed in float64) of its k × k window (stride k). Returns y (`out`, or allocated).
 */
export function pool2dForward<T extends Floats = Float32Array>(mode: 'max' | 'avg', x: T, n: number, shape: PoolShape, out?: T): T {
  return native.pool2dForward(mode, x, n, shape, alloc(out)) as T;
}
export function pool2dForwardAsync<T extends Floats = Float32Array>(mode: 'max' | 'avg', x: T, n: number, shape: PoolShape, out?: T): Promise<T> {
  return native.pool2dForwardAsync(mode, x, n, shape, alloc(out)) as Promise<T>;
}
/**
 * A pooling layer's seeds taken to its input: dx [n·r, C·H·W] (overwritten) from dy [n·r, C·⌊H/k⌋·⌊W/k⌋], r
 * rows per sample of x [n, C·H·W]: each seed onto the input its window's max chose, or divided by k² onto every
 * input of the window ('avg'). Returns dx (`out`, or allocated).
 */
export function pool2dBackward<T extends Floats = Float32Array>(mode: 'max' | 'avg', x: T, dy: T, n: number, r: number, shape: PoolShape, out?: T): T {
  return native.pool2dBackward(mode, x, dy, n, r, shape, alloc(out)) as T;
}
export function pool2dBackwardAsync<T extends Floats = Float32Array>(
  mode: 'max' | 'avg',
  x: T,
  dy: T,
  n: number,
  r: number,
  shape: PoolShape,
  out?: T
): Promise<T> {
  return native.pool2dBackwardAsync(mode, x, dy, n, r, shape, alloc(out)) as Promise<T>;
}
