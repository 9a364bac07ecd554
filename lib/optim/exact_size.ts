// Whether an exact step fits: the 32-bit limits of BLAS/LAPACK and the memory it will allocate,
// checked before anything of the step is computed.
import { memoryInfo, native, requireMemory } from '../native';
import type { Sequential } from '../nn/sequential';
import type { StepBatch } from './batch';
import { type ExactConfig, S_CHUNK_FLOATS, type Workspace } from './exact_config';

/**
 * The bytes a step allocates from here on, all resident at once, checked against the memory available
 * (ERR_OUT_OF_MEMORY naming them) before the first of them is allocated:
 *   kernel space, layer:  K M² (unless the workspace holds it) + layerGramSum's work + the solve's work
 *   kernel space, dense:  S P·M + K M² + the solve's work
 *   parameter space:      S in chunks of ≤ S_CHUNK_FLOATS (P·m_c, one buffer) + K P² (each chunk's
 *                         Gram added to it in place) + the solve's work
 * with M = N·r, 4 bytes a float (8 for a float64 model); the kernels' work buffers as the addon counts them (workBytes: the
 * Cholesky's factor, or at λ = 0 the eigendecomposition). stepAsync's kernel calls work on private
 * copies of the kernel (+4M² or 4P²). The Cholesky's rare pinv fallback is checked when it happens (solve()).
 */
export function exactMemoryBytes(model: Sequential, n: number, r: number, space: 'kernel' | 'parameter', cfg: ExactConfig, ws: Workspace, promiseForm = false) {
  const m = n * r,
    p = model.numParameters;
  const size = space === 'kernel' ? m : p;
  const f64 = model.dtype === 'float64';
  const w = f64 ? 8 : 4; // bytes an element
  const precision = f64 ? 'float64' : cfg.precision; // a float64 model's solves are float64
  const parts: [string, number][] = [];
  const moduleP = model.modules.reduce((acc, mod) => acc + (mod.bound.form === 'factored' ? 0 : mod.size), 0); // factored rows hold no G
  if (moduleP > 0) parts.push([`module layers' per-sample gradients ${m}×${moduleP}`, w * m * moduleP]); // G_l [N·r, P_l] (../nn/module.ts)
  // factored layers' scratch (their seeds' copies live together; their Gram blocks are formed one at a time: summed, an upper bound)
  const factoredWork = model.modules.reduce((acc, mod) => acc + (mod.bound.workElements?.(n, r) ?? 0), 0);
  if (factoredWork > 0) parts.push(["factored layers' kernel work", w * factoredWork]);
  if (space === 'kernel' && cfg.assembly === 'layer') {
    if (ws.kernel?.length !== m * m) parts.push([`kernel ${m}×${m}`, w * m * m]);
    const widths = model.slots.map(({ layer }) => layer.outFeatures);
    parts.push([`layer kernel work`, f64 ? native.workBytes('layerGramSum', widths, n, r, 'float64') : native.workBytes('layerGramSum', widths, n, r)]);
  } else if (space === 'kernel') {
    parts.push([`S ${p}×${m}`, w * p * m], [`kernel ${size}×${size}`, w * size * size]);
  } else {
    const cols = Math.min(m, Math.max(1, Math.floor(S_CHUNK_FLOATS / (p * r))) * r); // one chunk's columns
    parts.push([`S ${p}×${cols}${cols < m ? ' (a chunk)' : ''}`, w * p * cols], [`kernel ${p}×${p}`, w * p * p]);
  }
  if (cfg.damping === 0) parts.push([`${precision} eigendecomposition`, native.workBytes('pinvSolve', size, 1, precision)]);
  else parts.push([`${precision} Cholesky factor`, native.workBytes('choleskySolve', size, 1, precision)]);
  if (promiseForm) parts.push(["the Promise form's copy of the kernel", w * size * size]);
  return { bytes: parts.reduce((acc, [, b]) => acc + b, 0), parts };
}

const INT32_MAX = 2 ** 31 - 1;

/**
 * The bytes conjugate gradients hold (./exact_cg.ts): six float64 vectors of the system's size (x, r,
 * p, A p, the right-hand side, a product), the float32 copies of a product's input and output
 * (4·(M + P) twice), and one linear layer's temporaries at a time (its N × width rows, twice).
 */
export function cgMemoryBytes(model: Sequential, n: number, r: number, space: 'kernel' | 'parameter', sketchRank = 0) {
  const m = n * r,
    p = model.numParameters;
  const size = space === 'kernel' ? m : p;
  const width = Math.max(1, ...model.slots.map(({ layer }) => Math.max(layer.inFeatures, layer.outFeatures)));
  const parts: [string, number][] = [
    [`CG vectors 6×${size}`, 48 * size],
    ['product buffers', 8 * (m + p)],
    ['layer temporaries', 8 * n * width],
  ];
  const l = Math.min(sketchRank, size);
  if (l > 0) parts.push([`Nyström sketch 4×${l}×${size}`, 32 * l * size]); // Ω, Y, B and U, float64
  return { bytes: parts.reduce((acc, [, b]) => acc + b, 0), parts };
}

/** CG iterations assumed before any was measured, at λ = CG_GUESS_DAMPING (bench:scale: 61–109 at λ = 1e-3, N·r = 2k–64k). */
const CG_ITERATIONS_GUESS = 100;
const CG_GUESS_DAMPING = 1e-3;

/**
 * CG's iterations at λ, from the last solve's count i₀ at λ₀ (or the guess): CG needs O(√κ) of them, and
 * κ = (e_max + Nλ)/(e_min + Nλ) ≈ e_max/(Nλ) while Nλ is above the kernel's small eigenvalues, so
 *   iterations(λ) ≈ i₀·√(λ₀/λ)   for λ < λ₀, and i₀ for λ ≥ λ₀
 * (no fewer: the bound's κ → 1 as λ grows, but the residual must still fall by `tolerance`, and a small
 * system must keep its exact direct solve), capped at maxIterations (a solve that runs out stops there,
 * unconverged). Without the scaling, 100 iterations measured at λ = 1e-3 were taken for the next step's
 * at λ = 1.5e-6: bench:fullbatch's model at N = 100,000 then ran CG out (1,000 iterations, 79 s,
 * relative residual 1.8e-3) where the direct solve took 16 s.
 */
export function cgIterationsAt(ws: Workspace, damping: number, maxIterations: number): number {
  const i0 = ws.cgIterations ?? CG_ITERATIONS_GUESS;
  const l0 = ws.cgIterations === undefined ? CG_GUESS_DAMPING : (ws.cgDamping ?? CG_GUESS_DAMPING);
  return Math.min(maxIterations, i0 * Math.sqrt(Math.max(1, l0 / damping)));
}

/**
 * How much slower a flop of CG's products runs than one of the direct solve: thin gemms and JS loops
 * against one large blocked factorisation. 5, from bench/results/scale.json on this machine (CG slower
 * than Cholesky at N·r = 8k, faster at 16k).
 */
const CG_FLOP_COST = 5;
/** The smallest λ at which 'auto' may prefer CG for its cost (it still takes CG, for any λ > 0, where the direct solve does not fit). */
export const CG_MIN_DAMPING = 1e-6;

/**
 * Solver 'auto' between two solves that both fit: the cheaper by flops. Direct, kernel space with layer
 * assembly: s³/3 (Cholesky) + Σ_l (M²·out_l + N²·in_l) (layerGramSum); dense or parameter space:
 * s³/3 + s²·(P or M) (the Gram of S). CG: iterations × (4·N·Σ_l in_l·out_l + 4·M·Σ_l out_l + 4·M·Σ_modules P_l)
 * (a product's two gemms and its contraction, per iteration; a module's two products with its rows) × CG_FLOP_COST, with
 * the iterations cgIterationsAt() expects at cfg.damping.
 */
export function cgIsCheaper(model: Sequential, n: number, r: number, space: 'kernel' | 'parameter', cfg: ExactConfig, ws: Workspace): boolean {
  const m = n * r,
    p = model.numParameters;
  const s = space === 'kernel' ? m : p;
  let direct = s ** 3 / 3;
  if (space === 'kernel' && cfg.assembly === 'layer') for (const { layer } of model.slots) direct += m * m * layer.outFeatures + n * n * layer.inFeatures;
  else direct += s * s * (space === 'kernel' ? p : m);
  let product = 0;
  for (const { layer } of model.slots) product += 4 * n * layer.inFeatures * layer.outFeatures + 4 * m * layer.outFeatures;
  for (const { size } of model.modules) product += 4 * m * size; // Gᵀc and G v from a module's rows
  return cgIterationsAt(ws, cfg.damping, cfg.maxIterations) * product * CG_FLOP_COST < direct;
}

const mb = (b: number) => (b >= 1e9 ? `${(b / 1e9).toFixed(2)} GB` : `${(b / 1e6).toFixed(1)} MB`);

/**
 * Before anything of an exact step is computed (its forward pass and backpropagation take seconds at
 * N = 46,000), how it will solve — 'direct' (kernel and factorisation) or 'cg' (conjugate gradients,
 * ./exact_cg.ts) — by cfg.solver; 'auto' takes the direct solve when it fits (the 32-bit BLAS/LAPACK
 * limits, and exactMemoryBytes() within the memory available and maxMemory) and is not dearer than CG
 * by cgIsCheaper's estimate, else CG when λ > 0.
 * Throws ERR_OUT_OF_RANGE past a 32-bit limit and ERR_OUT_OF_MEMORY when what it chose does not fit.
 * r is the output family's Fisher rank, known before the forward pass.
 */
export function checkExactSize(batch: StepBatch, cfg: ExactConfig, ws: Workspace, promiseForm = false): 'direct' | 'cg' {
  const { fn, model, family: fam, n } = batch;
  const r = fam.rank(model.outDim),
    p = model.numParameters,
    m = n * r;
  const space = cfg.space === 'auto' ? (p < m ? 'parameter' : 'kernel') : cfg.space;
  const size = space === 'kernel' ? m : p;
  const range = (msg: string) => Object.assign(new RangeError(`${fn}: ${msg}`), { code: 'ERR_OUT_OF_RANGE' });
  // BLAS and LAPACK index a matrix with 32-bit integers; at λ = 0 syevd's workspace must fit one too
  const limit = cfg.damping === 0 ? native.limits.maxEigenOrder : native.limits.maxOrder;
  const sTooBig = space === 'kernel' && cfg.assembly === 'dense' && p * m > INT32_MAX; // parameter space goes in chunks
  const direct = exactMemoryBytes(model, n, r, space, cfg, ws, promiseForm);
  // requireMemory's own rule; the memory is read only for a request it would check (a step of a small model reads nothing)
  const tooBig = direct.bytes >= native.limits.checkBytes && direct.bytes > Math.min(memoryInfo().available, cfg.maxMemory ?? Infinity);
  // by cost only with λ ≥ CG_MIN_DAMPING: below it CG's iterations grow like √κ and the estimate is no guide
  const cheaper = cfg.damping >= CG_MIN_DAMPING && cgIsCheaper(model, n, r, space, cfg, ws);
  const useCg =
    cfg.solver === 'cg' ||
    cfg.solver === 'nystrom-pcg' ||
    cfg.solver === 'nystrom' ||
    (cfg.solver === 'auto' && cfg.damping > 0 && (size > limit || sTooBig || tooBig || cheaper));
  if (useCg) {
    if (cfg.damping === 0)
      throw range(
        `solver '${cfg.solver === 'auto' ? 'cg' : cfg.solver}' needs damping > 0 (conjugate gradients need a positive definite system; λ = 0 is the pseudo-inverse, a direct solve)`
      );
    const { bytes, parts } = cgMemoryBytes(model, n, r, space, cfg.solver === 'nystrom-pcg' || cfg.solver === 'nystrom' ? cfg.sketchRank : 0);
    requireMemory(
      fn,
      bytes,
      `conjugate gradients in ${space} space, N·r = ${m}, P = ${p}: ${parts.map(([w, b]) => `${w} ${mb(b)}`).join(', ')}`,
      cfg.maxMemory
    );
    return 'cg';
  }
  const cgAdvice =
    cfg.damping > 0
      ? "; or solver: 'cg' (or 'auto'), which never forms it"
      : "; or damping > 0, which solver 'auto' then solves by conjugate gradients without forming it";
  if (size > limit) {
    const what = space === 'kernel' ? `N·r = ${n}·${r} = ${size}` : `P = ${size}`;
    const why =
      cfg.damping === 0
        ? `the λ = 0 eigendecomposition's limit of ${limit} (syevd's workspace in 32-bit integers)`
        : `the 32-bit BLAS/LAPACK limit of ${limit} (2³¹ − 1 elements)`;
    const advice =
      space === 'kernel' ? 'use smaller batches' + (p <= limit ? " or space: 'parameter' (P × P)" : '') : `use space: 'kernel' with N·r ≤ ${limit}`;
    throw range(`the ${space}-space system has order ${what}, past ${why}; ${advice}${cgAdvice}`);
  }
  if (sTooBig)
    throw range(
      `S [P, N·r] = [${p}, ${m}] has ${p * m} elements, past the 32-bit BLAS limit (2³¹ − 1); use smaller batches${space === 'kernel' ? " or assembly: 'layer'" : ''}${cgAdvice}`
    );
  const what = `${space} space, N·r = ${n * r}, P = ${model.numParameters}: ${direct.parts.map(([w, b]) => `${w} ${mb(b)}`).join(', ')}`;
  requireMemory(fn, direct.bytes, what, cfg.maxMemory);
  return 'direct';
}
