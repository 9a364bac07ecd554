// The exact batch natural gradient (docs/design.md §1):
//
//   n_θ = (F_θ + λI)⁺ g_θ,   F_θ = (1/N) J F Jᵀ,   g_θ = (1/N) J g.
//
// With F_i = L_i L_iᵀ (L_i [k, r], r = rank F_i) and S = J·blockdiag(L_i) [P, N·r],
// F_θ = (1/N) S Sᵀ and g_θ = (1/N) S u where L_i u_i = g_i. Two equivalent solves:
//
//   kernel space (N·r ≤ P):    n_θ = S c,  (SᵀS + NλI) c = u          — push-through identity
//   parameter space (P < N·r): (S Sᵀ + NλI) n_θ = S u                  — multiply both sides by N
//
// and at λ = 0 the pseudo-inverse: S (SᵀS)⁺ u = (Sᵀ)⁺ u = (S Sᵀ)⁺ S u, so the two agree there too.
//
// Kernel space never forms S: SᵀS = Σ_layers (B Bᵀ) ⊙ (expand_r(A Aᵀ) + 1) (layerGram), where B are
// the seeds Lᵢᵀ backpropagated to each linear layer's output, and S c is contracted layer by layer
// (n_W = B̃ᵀ A, n_b = B̃ᵀ 1, B̃_i = Σ_m c_(i,m) B_(i,m)). Memory O(N·r·width + (N·r)²).
import { fisherFactors, meanLoss, type OutputFamily } from '../distributions';
import { contract, materialize, outputJacobians } from '../nn/jacobian';
import type { Sequential, Trace } from '../nn/sequential';
import { choleskySolveT, gemmT, gramT, layerGramSumT, pinvSolveT, type Task } from '../task';
import type { Precision } from '../linalg';
import { native, requireMemory } from '../native';
import { addMomentum, applyTranspose, springRhs } from './spring';

export type Space = 'auto' | 'kernel' | 'parameter';
export type Assembly = 'layer' | 'dense';

export interface ExactConfig {
  /** λ ≥ 0. */
  damping: number;
  precision: Precision;
  /** Relative eigenvalue cutoff of the λ = 0 pseudo-inverse; undefined → size·ε₃₂ (ε₃₂ = 2⁻²³; the backend's default, native/policy.h). */
  rcond: number | undefined;
  space: Space;
  assembly: Assembly;
  /** Cap on the bytes one step may allocate (with NATGRAD_MAX_MEMORY / setMemoryLimit(): the smaller wins). */
  maxMemory?: number;
}

/** Where the time of one direction went (milliseconds) and how it was solved. */
export interface StepProfile {
  /** Forward pass, loss, Fisher factors. */
  forward: number;
  /** Backpropagation of the N·r seeds to every linear layer. */
  backprop: number;
  /** Kernel (SᵀS, kernel space) or S Sᵀ and S u (parameter space). */
  kernel: number;
  solve: number;
  /** n_θ = S c (kernel space) and, for a step, θ ← θ − lr·n_θ. */
  update: number;
  total: number;
  space: 'kernel' | 'parameter';
  assembly: Assembly;
  /** Size of the solved system: N·r in kernel space, P in parameter space. */
  size: number;
  /** 'cholesky', 'pinv', or 'pinv-fallback' (Cholesky found the damped system not numerically positive definite). */
  solver: 'cholesky' | 'pinv' | 'pinv-fallback';
  /** Eigenvalues kept by the pseudo-inverse (pinv solvers only). */
  rank?: number;
}

/**
 * Buffers kept between calls. The kernel (N·r)² floats is reused when the size repeats, which saves
 * the page faults of a fresh allocation (~0.4 ms per MiB here: 8 ms at N·r = 2304) on every step.
 */
export interface Workspace {
  kernel: Float32Array | null;
}

export interface ExactResult {
  /** n_θ [P]. */
  direction: Float32Array;
  /** L(θ) before any step. */
  loss: number;
  profile: StepProfile;
}

const now = () => performance.now();

/**
 * (K + dI)⁻¹ R for symmetric positive semi-definite K [m, m] (R [m]): Cholesky when d > 0, else the
 * pseudo-inverse with cutoff rcond·max e. If Cholesky meets a non-positive pivot (d below the rounding
 * of K), the eigendecomposition is used instead, in float64, with the same cutoff.
 */
function* solve(k: Float32Array, m: number, rhs: Float32Array, d: number, cfg: ExactConfig, fn: string) {
  const rcond = cfg.rcond ?? 0; // 0: the backend's default cutoff, size·ε₃₂ (native/policy.h, pinv_rcond)
  let solver: StepProfile['solver'] = 'pinv';
  if (d > 0) {
    try {
      const x = yield* choleskySolveT(k, m, rhs, 1, { damping: d, precision: cfg.precision });
      return { x, solver: 'cholesky' as const, rank: undefined };
    } catch (e) {
      if ((e as { code?: string }).code !== 'ERR_NOT_POSITIVE_DEFINITE') throw e;
      solver = 'pinv-fallback';
    }
  }
  const precision = solver === 'pinv-fallback' ? 'float64' : cfg.precision;
  // the eigendecomposition's workspace under the step's own cap too (the native call checks the environment's)
  requireMemory(fn, native.workBytes('pinvSolve', m, 1, precision), `${precision} eigendecomposition of the ${m}×${m} system (${solver})`, cfg.maxMemory);
  const { x, rank } = yield* pinvSolveT(k, m, rhs, 1, { damping: d, rcond, precision });
  return { x, solver, rank };
}

/**
 * Everything of one batch that does not depend on λ: the forward pass, the Fisher factors, the
 * backpropagated B's and the assembled kernel. solveExact() turns it into a direction for any λ (and
 * momentum) at the cost of one solve, which is what a rejected Levenberg–Marquardt step retries with.
 */
export interface ExactSystem {
  /** The calling function's name, for errors ('NaturalGradient.step'). */
  readonly fn: string;
  readonly model: Sequential;
  readonly trace: Trace;
  /** B per linear layer ([N·r, out], see outputJacobians). */
  readonly bs: readonly Float32Array[];
  /** Batch size N, rank r of the output Fisher, M = N·r, P. */
  readonly n: number;
  readonly r: number;
  readonly m: number;
  readonly p: number;
  readonly space: 'kernel' | 'parameter';
  readonly assembly: Assembly;
  /** Kernel space: SᵀS [M, M]. Parameter space: S Sᵀ [P, P]. Not modified by the solves. */
  readonly kernel: Float32Array;
  /** S [P, M] when it was materialised (dense assembly or parameter space). */
  readonly s: Float32Array | undefined;
  /** u [M] (L_i u_i = g_i): g_θ = (1/N) S u. */
  readonly u: Float32Array;
  /** S u [P] (parameter space only). */
  readonly su: Float32Array | undefined;
  /** L(θ). */
  readonly loss: number;
  /** Milliseconds spent on the forward pass, the backpropagation and the kernel. */
  readonly times: { forward: number; backprop: number; kernel: number };
}

/** SPRING's momentum term (see ./spring.ts): μ and the previous direction n_{k−1} [P]. */
export interface MomentumTerm {
  mu: number;
  previous: Float32Array;
}

export interface ExactSolution {
  /** n [P]. */
  direction: Float32Array;
  solver: StepProfile['solver'];
  rank: number | undefined;
  /** gᵀn = (1/N) uᵀ(Sᵀn), float64. */
  gn: number;
  /** nᵀF_θ n = (1/N) ‖Sᵀn‖², float64 (undamped Fisher). */
  nFn: number;
  /** Milliseconds in the solve, and in forming n from its coefficients. */
  times: { solve: number; update: number };
}

/** The linearisation of one batch at θ: forward pass, loss, Fisher factors, backpropagated B's. */
export interface Linearization {
  readonly trace: Trace;
  readonly bs: readonly Float32Array[];
  readonly r: number;
  /** u [N·r] (L_i u_i = g_i). */
  readonly u: Float32Array;
  readonly loss: number;
  readonly times: { forward: number; backprop: number };
}

/** Forward pass, L(θ), F_i = L_i L_iᵀ with L_i u_i = g_i, and B = L_iᵀ ∂η_i/∂z for every linear layer. */
export function* linearizeExact(
  model: Sequential,
  theta: Float32Array,
  fam: OutputFamily,
  fn: string,
  x: Float32Array,
  y: Float32Array,
  n: number
): Task<Linearization> {
  const k = model.outDim;
  const t0 = now();
  const trace = yield* model.forwardTask(theta, x, n);
  const loss = meanLoss(fam, trace.eta, y, n, k);
  const { r, seeds, u } = fisherFactors(fam, fn, trace.eta, y, n, k); // F_i = L_i L_iᵀ, L_i u_i = g_i
  const t1 = now();
  const bs = yield* outputJacobians(model, theta, trace, seeds, r); // B = L_iᵀ ∂η_i/∂z per linear layer
  const t2 = now();
  return { trace, bs, r, u, loss, times: { forward: t1 - t0, backprop: t2 - t1 } };
}

/** The λ-independent part of the exact natural gradient for the batch (x [N, inDim], y) at θ (`linearization`: of the same batch and θ, if already computed). */
export function* assembleExact(
  model: Sequential,
  theta: Float32Array,
  fam: OutputFamily,
  fn: string,
  x: Float32Array,
  y: Float32Array,
  n: number,
  cfg: ExactConfig,
  ws: Workspace,
  linearization?: Linearization
): Task<ExactSystem> {
  const p = model.numParameters;
  if (!linearization) checkExactSize(fn, model, fam, n, cfg, ws); // before any work (a step checks before its linearisation)
  const { trace, bs, r, u, loss, times } = linearization ?? (yield* linearizeExact(model, theta, fam, fn, x, y, n));
  const t2 = now();
  const m = n * r;
  const space = cfg.space === 'auto' ? (p < m ? 'parameter' : 'kernel') : cfg.space;
  let s: Float32Array | undefined;
  let su: Float32Array | undefined;
  let kernel: Float32Array;
  if (space === 'kernel') {
    if (cfg.assembly === 'layer') {
      // SᵀS = Σ_layers (B Bᵀ) ⊙ (expand_r(A Aᵀ) + 1), all layers in one fused call (overwrites the kernel)
      kernel = ws.kernel?.length === m * m ? ws.kernel : (ws.kernel = new Float32Array(m * m));
      const as = model.slots.map(({ index }) => trace.inputs[index]);
      kernel = yield* layerGramSumT(bs, as, n, r, kernel);
    } else {
      s = materialize(model, trace, bs, r); // S [P, N·r]
      kernel = yield* gramT(s, p, m); // SᵀS
    }
  } else {
    s = materialize(model, trace, bs, r); // S [P, N·r]
    kernel = yield* gramT(s, m, p, { layout: 'MP' }); // S Sᵀ [P, P]
    su = yield* gemmT(s, u, p, 1, m); // S u
  }
  const t3 = now();
  return {
    fn,
    model,
    trace,
    bs,
    n,
    r,
    m,
    p,
    space,
    assembly: space === 'kernel' ? cfg.assembly : 'dense',
    kernel,
    s,
    u,
    su,
    loss,
    times: { ...times, kernel: t3 - t2 },
  };
}

/**
 * The bytes a step allocates from here on, all resident at once, checked against the memory available
 * (ERR_OUT_OF_MEMORY naming them) before the first of them is allocated:
 *   kernel space, layer:  K M² (unless the workspace holds it) + layerGramSum's work + the solve's work
 *   dense / parameter:    S P·M + K (M² or P²) + the solve's work
 * with M = N·r, 4 bytes a float; the kernels' work buffers as the addon counts them (workBytes: the
 * Cholesky's factor, or at λ = 0 the eigendecomposition). stepAsync's kernel calls work on private
 * copies of the kernel (+4M² or 4P²). The Cholesky's rare pinv fallback is checked when it happens (solve()).
 */
export function exactMemoryBytes(model: Sequential, n: number, r: number, space: 'kernel' | 'parameter', cfg: ExactConfig, ws: Workspace, promiseForm = false) {
  const m = n * r,
    p = model.numParameters;
  const size = space === 'kernel' ? m : p;
  const parts: [string, number][] = [];
  if (space === 'kernel' && cfg.assembly === 'layer') {
    if (ws.kernel?.length !== m * m) parts.push([`kernel ${m}×${m}`, 4 * m * m]);
    parts.push([
      `layer kernel work`,
      native.workBytes(
        'layerGramSum',
        model.slots.map(({ layer }) => layer.outFeatures),
        n,
        r
      ),
    ]);
  } else {
    parts.push([`S ${p}×${m}`, 4 * p * m], [`kernel ${size}×${size}`, 4 * size * size]);
  }
  if (cfg.damping === 0) parts.push([`${cfg.precision} eigendecomposition`, native.workBytes('pinvSolve', size, 1, cfg.precision)]);
  else parts.push([`${cfg.precision} Cholesky factor`, native.workBytes('choleskySolve', size, 1, cfg.precision)]);
  if (promiseForm) parts.push(["the Promise form's copy of the kernel", 4 * size * size]);
  return { bytes: parts.reduce((acc, [, b]) => acc + b, 0), parts };
}

const INT32_MAX = 2 ** 31 - 1;

/**
 * Before anything of an exact step is computed (its forward pass and backpropagation take seconds at
 * N = 46,000): ERR_OUT_OF_RANGE past the 32-bit limit, ERR_OUT_OF_MEMORY when exactMemoryBytes() do
 * not fit. r is the output family's Fisher rank, known before the forward pass.
 */
export function checkExactSize(fn: string, model: Sequential, fam: OutputFamily, n: number, cfg: ExactConfig, ws: Workspace, promiseForm = false): void {
  const r = fam.rank(model.outDim),
    p = model.numParameters,
    m = n * r;
  const space = cfg.space === 'auto' ? (p < m ? 'parameter' : 'kernel') : cfg.space;
  const size = space === 'kernel' ? m : p;
  // BLAS and LAPACK index a matrix with 32-bit integers; at λ = 0 syevd's workspace must fit one too
  const limit = cfg.damping === 0 ? native.limits.maxEigenOrder : native.limits.maxOrder;
  const range = (msg: string) => Object.assign(new RangeError(`${fn}: ${msg}`), { code: 'ERR_OUT_OF_RANGE' });
  if (size > limit) {
    const what = space === 'kernel' ? `N·r = ${n}·${r} = ${size}` : `P = ${size}`;
    const why =
      cfg.damping === 0
        ? `the λ = 0 eigendecomposition's limit of ${limit} (syevd's workspace in 32-bit integers)`
        : `the 32-bit BLAS/LAPACK limit of ${limit} (2³¹ − 1 elements)`;
    const advice =
      space === 'kernel' ? 'use smaller batches' + (p <= limit ? " or space: 'parameter' (P × P)" : '') : `use space: 'kernel' with N·r ≤ ${limit}`;
    throw range(`the ${space}-space system has order ${what}, past ${why}; ${advice}`);
  }
  if ((space === 'parameter' || cfg.assembly === 'dense') && p * m > INT32_MAX)
    throw range(
      `S [P, N·r] = [${p}, ${m}] has ${p * m} elements, past the 32-bit BLAS limit (2³¹ − 1); use smaller batches${space === 'kernel' ? " or assembly: 'layer'" : ''}`
    );
  const { bytes, parts } = exactMemoryBytes(model, n, r, space, cfg, ws, promiseForm);
  const text = (b: number) => (b >= 1e9 ? `${(b / 1e9).toFixed(2)} GB` : `${(b / 1e6).toFixed(1)} MB`);
  const what = `${space} space, N·r = ${n * r}, P = ${model.numParameters}: ${parts.map(([w, b]) => `${w} ${text(b)}`).join(', ')}`;
  requireMemory(fn, bytes, what, cfg.maxMemory);
}

/** Σ_j a_ij v_j for symmetric a [m, m] (float32), accumulated in float64. */
function symv64(a: Float32Array, m: number, v: ArrayLike<number>): Float64Array {
  const out = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    let acc = 0;
    const row = i * m;
    for (let j = 0; j < m; j++) acc += a[row + j] * v[j];
    out[i] = acc;
  }
  return out;
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/**
 * The direction for damping λ from an assembled system:
 *   kernel space:    c = (SᵀS + NλI)⁺ (u − μ Sᵀn₋),   n = S c + μ n₋
 *   parameter space: d = (S Sᵀ + NλI)⁺ (S u − μ S Sᵀ n₋),   n = d + μ n₋
 * (μ n₋ = SPRING's momentum term, absent when `momentum` is undefined or μ = 0; see ./spring.ts), and
 * and (unless `quadratic` is false: then NaN) the two numbers of the local quadratic model, gᵀn and
 * nᵀF_θ n, without a P × P matrix: kernel space: Sᵀn (= SᵀS c + μ Sᵀn₋) by a Jacobian-vector product
 * of n, gᵀn = (1/N) uᵀSᵀn, nᵀF_θ n = (1/N)‖Sᵀn‖² (cost: one forward-mode pass, O(N·P));
 * parameter space: nᵀF_θ n = (1/N) nᵀ(S Sᵀ)n, gᵀn = (1/N)(S u)ᵀn (P² float64 multiply-adds).
 */
export function* solveExact(sys: ExactSystem, damping: number, cfg: ExactConfig, momentum?: MomentumTerm, quadratic = true): Task<ExactSolution> {
  const { fn, model, trace, bs, n, r, m, p, kernel, s, u } = sys;
  const d = n * damping; // F_θ + λI = (1/N)(S Sᵀ + NλI)
  const mu = momentum && momentum.mu !== 0 ? momentum.mu : 0;
  const t0 = now();
  let direction: Float32Array;
  let sol: { x: Float32Array; solver: StepProfile['solver']; rank: number | undefined };
  let gn: number, nFn: number;
  let t1: number;
  if (sys.space === 'kernel') {
    let rhs = u;
    let stPrev: Float64Array | undefined;
    if (mu !== 0) {
      stPrev = yield* applyTranspose(model, trace, bs, r, momentum!.previous); // Sᵀn₋
      rhs = springRhs(u, mu, stPrev);
    }
    sol = yield* solve(kernel, m, rhs, d, cfg, fn); // c = (SᵀS + NλI)⁺ rhs
    t1 = now();
    direction = s
      ? yield* gemmT(s, sol.x, p, 1, m) // n = S c
      : yield* contract(model, trace, bs, sol.x, r, new Float32Array(p)); // n = S c, layer by layer
    if (stPrev) addMomentum(direction, mu, momentum!.previous);
    if (quadratic) {
      // Sᵀn (= SᵀS c + μ Sᵀn₋) as a Jacobian-vector product of n itself: one gemm and N·r·out
      // multiply-adds per layer, where SᵀS c would be M² float64 multiply-adds in JavaScript (8 ms of a
      // 43 ms step at M = 2048)
      const stn = yield* applyTranspose(model, trace, bs, r, direction);
      gn = dot(u, stn) / n;
      nFn = dot(stn, stn) / n;
    } else gn = nFn = NaN;
  } else {
    const su = sys.su!;
    let rhs = su;
    if (mu !== 0) {
      const kPrev = symv64(kernel, p, momentum!.previous); // S Sᵀ n₋
      rhs = springRhs(su, mu, kPrev);
    }
    sol = yield* solve(kernel, p, rhs, d, cfg, fn); // d = (S Sᵀ + NλI)⁺ rhs
    t1 = now();
    direction = sol.x;
    if (mu !== 0) addMomentum(direction, mu, momentum!.previous);
    gn = quadratic ? dot(su, direction) / n : NaN;
    nFn = quadratic ? dot(direction, symv64(kernel, p, direction)) / n : NaN;
  }
  const t2 = now();
  return { direction, solver: sol.solver, rank: sol.rank, gn, nFn, times: { solve: t1 - t0, update: t2 - t1 } };
}

/** n_θ for the batch (x [N, inDim], y [N, targetWidth]) at parameters θ (a Float32Array laid out like model.params). */
export function* exactDirection(
  model: Sequential,
  theta: Float32Array,
  fam: OutputFamily,
  fn: string,
  x: Float32Array,
  y: Float32Array,
  n: number,
  cfg: ExactConfig,
  ws: Workspace
): Task<ExactResult> {
  const sys = yield* assembleExact(model, theta, fam, fn, x, y, n, cfg, ws);
  const sol = yield* solveExact(sys, cfg.damping, cfg, undefined, false);
  return { direction: sol.direction, loss: sys.loss, profile: profileOf(sys, sol) };
}

/** The StepProfile of one assembled system and one solve of it. */
export function profileOf(sys: ExactSystem, sol: ExactSolution): StepProfile {
  const { forward, backprop, kernel } = sys.times;
  const { solve, update } = sol.times;
  return {
    forward,
    backprop,
    kernel,
    solve,
    update,
    total: forward + backprop + kernel + solve + update,
    space: sys.space,
    assembly: sys.assembly,
    size: sys.space === 'kernel' ? sys.m : sys.p,
    solver: sol.solver,
    ...(sol.rank !== undefined ? { rank: sol.rank } : {}),
  };
}
