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
// the seeds Lᵢᵀ backpropagated to each linear layer's output, and S c comes from the same factors
// (./s_products.ts). Memory O(N·r·width + (N·r)²).
import { dtypeOf, type Floats, zeros } from '../util/floats';
import { fisherFactors, meanLoss } from '../distributions';
import { materialize, outputJacobians } from '../nn/jacobian';
import { isFactored, type LayerFactor } from '../nn/module';
import type { Sequential } from '../nn/sequential';
import { choleskySolveT, gemmT, gramT, layerGramSumT, pinvSolveT, type Task } from '../task';
import { native, requireMemory } from '../native';
import type { StepBatch } from './batch';
import { type ExactConfig, S_CHUNK_FLOATS, type Workspace } from './exact_config';
import { solveExactCg } from './exact_cg';
import { deviceProfile, deviceStep, deviceStepPlan, hostRetries } from './exact_device';
import type { ExactResult, ExactSolution, ExactSystem, Linearization, MomentumTerm, StepProfile } from './exact_types';
import { checkExactSize } from './exact_size';
import { sTimes, sTransposeTimes } from './s_products';
import { addMomentum, springRhs } from './spring';

export type { Assembly, ExactConfig, Space, Workspace } from './exact_config';
export type { ExactResult, ExactSolution, ExactSystem, Linearization, MomentumTerm, StepProfile } from './exact_types';

const now = () => performance.now();

/**
 * (K + dI)⁻¹ R for symmetric positive semi-definite K [m, m] (R [m]): Cholesky when d > 0, else the
 * pseudo-inverse with cutoff rcond·max e. If Cholesky meets a non-positive pivot (d below the rounding
 * of K), the eigendecomposition is used instead, in float64, with the same cutoff.
 */
function* solve(k: Floats, m: number, rhs: Floats, d: number, cfg: ExactConfig, fn: string) {
  const rcond = cfg.rcond ?? 0; // 0: the backend's default cutoff, size·ε of K's type (native/policy.h, pinv_rcond)
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
  const precision = solver === 'pinv-fallback' || k instanceof Float64Array ? 'float64' : cfg.precision; // a float64 K always factors in float64
  // the eigendecomposition's workspace under the step's own cap too (the native call checks the environment's)
  requireMemory(fn, native.workBytes('pinvSolve', m, 1, precision), `${precision} eigendecomposition of the ${m}×${m} system (${solver})`, cfg.maxMemory);
  const { x, rank } = yield* pinvSolveT(k, m, rhs, 1, { damping: d, rcond, precision });
  return { x, solver, rank };
}

/** kernel [M, M] += G_l G_lᵀ for every module with parameters (its block of SᵀS, from its materialised rows G_l [M, P_l]). */
function* addModuleGrams(model: Sequential, bs: readonly LayerFactor[], m: number, kernel: Floats): Task<void> {
  for (let j = 0; j < model.modules.length; j++) {
    const g = bs[model.slots.length + j];
    if (!g) continue;
    if (isFactored(g)) {
      g.addGram(kernel); // the layer's own G Gᵀ (embedding: by groups of equal indices)
      continue;
    }
    const gg = yield* gramT(g, model.modules[j].size, m, { layout: 'MP' }); // G Gᵀ [M, M] (G read as [M, P_l])
    for (let q = 0; q < kernel.length; q++) kernel[q] += gg[q];
  }
}

/** Forward pass, L(θ), F_i = L_i L_iᵀ with L_i u_i = g_i, and B = L_iᵀ ∂η_i/∂z for every linear layer. */
export function* linearizeExact(batch: StepBatch): Task<Linearization> {
  const { model, theta, family: fam, fn, x, y, n } = batch;
  const k = model.outDim;
  const t0 = now();
  const trace = yield* model.forwardTask(theta, x, n);
  const loss = meanLoss(fam, trace.eta, y, n, k);
  const { r, seeds, u } = fisherFactors(fam, fn, trace.eta, y, n, k); // F_i = L_i L_iᵀ, L_i u_i = g_i
  const t1 = now();
  const bs = yield* outputJacobians(model, theta, trace, seeds.slice(), r); // B = L_iᵀ ∂η_i/∂z per linear layer (consumes its seeds)
  const t2 = now();
  return { model, theta, trace, bs, seeds, r, u, loss, times: { forward: t1 - t0, backprop: t2 - t1 } };
}

/**
 * Parameter space: K = S Sᵀ = Σ_chunks S_c S_cᵀ over chunks of samples, S_c [P, m_c] with
 * P·m_c ≤ S_CHUNK_FLOATS, so S is never held whole: memory O(P² + P·m_c), one chunk's buffer reused, each
 * chunk's Gram added to K by the kernel itself (gram's `accumulate`: β = 1). S u comes from the layer
 * factors (./s_products.ts, one gemm per layer), not from the chunks: at N = 100,000 (P = 4,801) the
 * chunks' matrix-vector products read 1.9 GB of S for it (0.5 s a step).
 */
function* parameterSystem(lin: Linearization): Task<{ kernel: Floats; su: Floats }> {
  const { model, trace, bs, r, u } = lin;
  const { n } = trace;
  const p = model.numParameters;
  const per = Math.max(1, Math.floor(S_CHUNK_FLOATS / (p * r))); // samples per chunk
  let kernel: Floats | undefined;
  let buffer: Floats | undefined; // one chunk's S_c, reused by every later full-size chunk
  for (let i0 = 0; i0 < n; i0 += per) {
    const i1 = Math.min(n, i0 + per);
    const mc = (i1 - i0) * r;
    const sc = materialize(model, trace, bs, r, i0, i1, buffer?.length === p * mc ? buffer : undefined); // S_c [P, m_c]
    buffer ??= sc;
    // K (+)= S_c S_cᵀ [P, P], exactly symmetric
    kernel = yield* gramT(sc, mc, p, { layout: 'MP', ...(kernel ? { out: kernel, accumulate: true } : {}) });
  }
  const su = yield* sTimes(lin, u, zeros(model.dtype, p)); // S u
  return { kernel: kernel!, su };
}

/** The λ-independent part of the exact natural gradient for the batch (x [N, inDim], y) at θ (`linearization`: of the same batch and θ, if already computed). */
export function* assembleExact(batch: StepBatch, cfg: ExactConfig, ws: Workspace, linearization?: Linearization, how?: 'direct' | 'cg'): Task<ExactSystem> {
  const { model, fn, n } = batch;
  const p = model.numParameters;
  // before any work (a step checks before its linearisation and passes what checkExactSize chose)
  const solveBy = how ?? checkExactSize(batch, cfg, ws);
  const lin = linearization ?? (yield* linearizeExact(batch));
  const { trace, bs, r, u, loss, times } = lin;
  const t2 = now();
  const m = n * r;
  const space = cfg.space === 'auto' ? (p < m ? 'parameter' : 'kernel') : cfg.space;
  let s: Floats | undefined;
  let su: Floats | undefined;
  let kernel: Floats;
  if (solveBy === 'cg') {
    kernel = zeros(model.dtype, 0); // never formed: CG multiplies by S and Sᵀ (./exact_cg.ts)
    if (space === 'parameter') su = yield* sTimes(lin, u, zeros(model.dtype, p)); // S u
  } else if (space === 'kernel') {
    if (cfg.assembly === 'layer') {
      // SᵀS = Σ_layers (B Bᵀ) ⊙ (expand_r(A Aᵀ) + 1), all layers in one fused call (overwrites the kernel)
      kernel = ws.kernel?.length === m * m && dtypeOf(ws.kernel) === model.dtype ? ws.kernel : (ws.kernel = zeros(model.dtype, m * m));
      const as = model.slots.map(({ index }) => trace.inputs[index]);
      if (as.length > 0)
        kernel = yield* layerGramSumT(bs.slice(0, as.length) as Floats[], as, n, r, kernel); // linear slots: their B
      else kernel.fill(0);
      yield* addModuleGrams(model, bs, m, kernel); // + G Gᵀ per module
    } else {
      s = materialize(model, trace, bs, r); // S [P, N·r]
      kernel = yield* gramT(s, p, m); // SᵀS
    }
  } else {
    ({ kernel, su } = yield* parameterSystem(lin)); // S Sᵀ [P, P] chunk by chunk, and S u
  }
  const t3 = now();
  return {
    fn,
    model,
    theta: lin.theta,
    trace,
    bs,
    seeds: lin.seeds,
    n,
    r,
    m,
    p,
    space,
    assembly: space === 'kernel' ? cfg.assembly : 'dense',
    kernel,
    iterative: solveBy === 'cg',
    warm: { x: null },
    work: new Map(), // the products' buffers, reused by every S c and Sᵀv of this system (CG makes many)
    s,
    u,
    su,
    loss,
    times: { ...times, kernel: t3 - t2 },
  };
}

/** Σ_j a_ij v_j for symmetric a [m, m] (float32), accumulated in float64. */
function symv64(a: Floats, m: number, v: ArrayLike<number>): Float64Array {
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
  if (sys.iterative) return yield* solveExactCg(sys, damping, cfg, momentum, quadratic);
  const { fn, n, m, p, kernel, s, u } = sys;
  const d = n * damping; // F_θ + λI = (1/N)(S Sᵀ + NλI)
  const mu = momentum && momentum.mu !== 0 ? momentum.mu : 0;
  const t0 = now();
  let direction: Floats;
  let sol: { x: Floats; solver: StepProfile['solver']; rank: number | undefined };
  let gn: number, nFn: number;
  let t1: number;
  if (sys.space === 'kernel') {
    let rhs = u;
    let stPrev: Float64Array | undefined;
    if (mu !== 0) {
      stPrev = yield* sTransposeTimes(sys, momentum!.previous); // Sᵀn₋
      rhs = springRhs(u, mu, stPrev);
    }
    sol = yield* solve(kernel, m, rhs, d, cfg, fn); // c = (SᵀS + NλI)⁺ rhs
    t1 = now();
    direction = s
      ? yield* gemmT(s, sol.x, p, 1, m) // n = S c
      : yield* sTimes(sys, sol.x, zeros(sys.model.dtype, p)); // n = S c
    if (stPrev) addMomentum(direction, mu, momentum!.previous);
    if (quadratic) {
      // Sᵀn (= SᵀS c + μ Sᵀn₋) as a Jacobian-vector product of n itself: one gemm and N·r·out
      // multiply-adds per layer, where SᵀS c would be M² float64 multiply-adds in JavaScript (8 ms of a
      // 43 ms step at M = 2048)
      const stn = yield* sTransposeTimes(sys, direction);
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
export function* exactDirection(batch: StepBatch, cfg: ExactConfig, ws: Workspace): Task<ExactResult> {
  const layers = deviceStepPlan(batch, cfg, ws, false); // an MLP: the whole direction in one native call (./exact_device.ts)
  if (layers) {
    try {
      const { result, ms } = yield* deviceStep(batch, layers, cfg, cfg.damping, 0);
      return { direction: result.direction, loss: result.loss, profile: deviceProfile(batch, result, ms) };
    } catch (e) {
      if (!hostRetries(e)) throw e; // else the host pipeline below answers it (its fallback, its precise error)
    }
  }
  const sys = yield* assembleExact(batch, cfg, ws);
  const sol = yield* solveExact(sys, cfg.damping, cfg, undefined, false);
  recordCg(ws, sol, cfg, cfg.damping); // solver 'auto's next estimate
  return { direction: sol.direction, loss: sys.loss, profile: profileOf(sys, sol) };
}

/**
 * Keeps a CG solve's iteration count and its λ for solver 'auto's next estimate (./exact_size.ts); one
 * that ran out counts as maxIterations.
 */
export function recordCg(ws: Workspace, sol: ExactSolution, cfg: ExactConfig, damping: number): void {
  if (sol.iterations === undefined) return;
  ws.cgIterations = sol.converged === false ? cfg.maxIterations : sol.iterations;
  ws.cgDamping = damping;
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
    ...(sol.iterations !== undefined ? { iterations: sol.iterations, residual: sol.residual, converged: sol.converged } : {}),
    ...(sol.sketchRank !== undefined ? { sketchRank: sol.sketchRank } : {}),
    ...(sol.errorBound !== undefined ? { errorBound: sol.errorBound } : {}),
    ...(sys.model.modules.length > 0 ? { layers: layerForms(sys.model) } : {}),
  };
}

/** StepProfile.layers: each parametric layer in order, and the form its kernel block takes. */
function layerForms(model: Sequential): NonNullable<StepProfile['layers']> {
  const linear = model.slots.map((s) => ({
    index: s.index,
    name: `linear(${s.layer.inFeatures}, ${s.layer.outFeatures})`,
    form: 'factored' as const,
    parameters: (s.layer.inFeatures + 1) * s.layer.outFeatures,
  }));
  const modules = model.modules
    .filter((m) => m.size > 0)
    .map((m) => ({ index: m.index, name: m.layer.name, form: m.bound.form ?? ('materialized' as const), parameters: m.size }));
  return [...linear, ...modules].sort((a, b) => a.index - b.index);
}
