// NaturalGradient's options: a discriminated union on `method`, so that TypeScript refuses the settings
// of the exact solve where the method has none (and the constructor does the same for JavaScript
// callers), and their resolution into the settings a step runs with.
import type { LossName } from '../distributions';
import type { ResidualLoss } from './residual_loss';
import type { Precision } from '../linalg';
import { checkCount, checkNumber, describe } from '../util/validate';
import { type DampingRule, dampingRule, type LevenbergMarquardtOptions } from './damping';
import type { Assembly, ExactConfig, Solver, Space } from './exact_config';

/**
 * 'exact': the batch natural gradient (F_θ + λI)⁺ g_θ. The other two are the natural-chain-rule proposal, kept
 * runnable so that it can be measured (`natgrad explain`); they are NOT the natural gradient of a batch:
 * - 'per-sample': (1/N) Σ_i G_i (G_iᵀG_i + λI)⁻¹ F_i⁺ g_i (./per_sample.ts);
 * - 'chain': the natural chain rule of the proposal n_x = G (GᵀG + λI)⁻¹ n_y applied op by op in the backward
 *   pass — linear layers, activations, the fan-out of each weight over the batch (./chain.ts).
 * For these two, λ = `damping` is added to every local Gram matrix they invert; the settings of the exact
 * solve (ExactOptions) do not apply to them.
 */
export type NaturalGradientMethod = 'exact' | 'per-sample' | 'chain';

/** The options every method takes. */
export interface CommonNaturalGradientOptions {
  /**
   * Output family: 'gaussian' (η = mean), 'categorical' (η = logits), 'bernoulli' (η = logit) — or a
   * residual loss of point sets (residualLoss(): physics-informed fits; step() then takes no data and
   * solves the Gauss–Newton system of the residuals, ENGD). Required.
   */
  loss: LossName | ResidualLoss;
  /** Step size; θ ← θ − lr·n_θ. Default 1. */
  lr?: number;
  /**
   * λ ≥ 0. 0 means the Moore–Penrose pseudo-inverse F_θ⁺ g_θ. Default 1e-3. With `adaptive` (the
   * default) this is the starting value, which the Levenberg–Marquardt rule then moves within [min, max].
   */
  damping?: number;
  /**
   * Levenberg–Marquardt adaptation of λ and rejection of steps that increase the loss (see
   * ./damping.ts and docs/optimizer.md). true (default): the default settings; an object: settings
   * overriding them; false: λ stays fixed and every finite step is applied.
   */
  adaptive?: boolean | LevenbergMarquardtOptions;
  /** Trust region on the step: ‖Δθ‖₂ ≤ maxStepNorm (the step is scaled down to it). Default none. */
  maxStepNorm?: number;
  /** Trust region on the predicted KL divergence: ½ ΔᵀF_θΔ ≤ maxKL (the step is scaled down to it). Default none. */
  maxKL?: number;
  /**
   * Line search along the direction, as in ENGD (Müller & Zeinhofer 2023): after the trial at lr, the
   * step is halved while the loss keeps falling, lr·2⁻ᵏ, up to this many halvings (true: 30). Costs one
   * loss evaluation per halving tried. Default false.
   */
  lineSearch?: boolean | number;
}

/** method 'exact' (the default) and the settings of its solve. */
export interface ExactNaturalGradientOptions extends CommonNaturalGradientOptions {
  method?: 'exact';
  /** SPRING momentum μ ∈ [0, 1) (./spring.ts): n_k = argmin ‖Sᵀn − u‖² + Nλ‖n − μ n_{k−1}‖². Default 0. */
  momentum?: number;
  /** Precision of the factorisation (the kernel itself is float32). Default 'float32'. */
  precision?: Precision;
  /**
   * Pseudo-inverse cutoff (λ = 0): eigenvalues below rcond·max are dropped. Default size·2⁻²³, the
   * float32 rounding level of an assembled kernel of that size.
   */
  rcond?: number;
  /** 'auto' (default): parameter space (P × P) when P < N·r, else kernel space (N·r × N·r). Same answer. */
  space?: Space;
  /** Kernel-space assembly: 'layer' (default; never forms the Jacobian) or 'dense' (forms S [P, N·r], then SᵀS: for comparison). */
  assembly?: Assembly;
  /**
   * Cap on the bytes one exact step may allocate (kernel, factor, layer work, S). Every step compares
   * what it needs with the memory available (the cgroup limit where there is one, else free memory)
   * and this cap (and NATGRAD_MAX_MEMORY / setMemoryLimit(): the smallest wins) before allocating,
   * and throws ERR_OUT_OF_MEMORY naming the bytes, leaving the optimizer unchanged. Default: none.
   */
  maxMemory?: number;
  /**
   * How the damped system is solved: 'auto' (default: the direct solve — kernel and Cholesky — when they
   * fit in memory and the 32-bit BLAS limits, else matrix-free conjugate gradients), 'cholesky' (always
   * direct), 'cg' (always CG; needs damping > 0), 'nystrom-pcg' (CG with a randomized Nyström
   * preconditioner: fewer iterations at small damping) or 'nystrom' (the sketched solve alone: approximate,
   * with a rigorous error bound in profile.errorBound). See docs/optimizer.md.
   */
  solver?: Solver;
  /**
   * CG: the relative residual ‖b − A x‖/‖b‖ to reach. Default 1e-6. The products are float32, so the true
   * residual (profile.residual) levels off near √N·6e-8 (1e-5 at N = 46k samples).
   */
  tolerance?: number;
  /** CG: the most iterations per solve. Default 1000. */
  maxIterations?: number;
  /** solvers 'nystrom-pcg' and 'nystrom': the rank of the Nyström sketch. Default 64. */
  sketchRank?: number;
  /**
   * Residual losses only: the parameter-space Gramian as an exponential average over steps,
   * G_t = β·G_{t−1} + (1 − β)·G(θ_t), β ∈ [0, 1) — ENGD's ema_factor (0.3 in its published runs). The
   * gradient stays the current one. Default 0 (the exact Gauss–Newton step).
   */
  gramianAverage?: number;
}

/** The proposal's methods: only the common options. */
export interface ProposalNaturalGradientOptions extends CommonNaturalGradientOptions {
  method: 'per-sample' | 'chain';
}

export type NaturalGradientOptions = ExactNaturalGradientOptions | ProposalNaturalGradientOptions;

const COMMON_NAMES = ['loss', 'lr', 'damping', 'method', 'adaptive', 'maxStepNorm', 'maxKL', 'lineSearch'] as const;
const EXACT_NAMES = [
  'momentum',
  'precision',
  'rcond',
  'space',
  'assembly',
  'maxMemory',
  'solver',
  'tolerance',
  'maxIterations',
  'sketchRank',
  'gramianAverage',
] as const;
/** Every option name (an unknown one is refused). */
export const OPTION_NAMES: readonly string[] = [...COMMON_NAMES, ...EXACT_NAMES];

/** The settings a step runs with, checked and with their defaults. */
export interface ResolvedOptions {
  method: NaturalGradientMethod;
  lr: number;
  /** The exact solve's settings; per-sample and chain use only its damping. */
  config: ExactConfig;
  /** null: fixed λ. */
  rule: DampingRule | null;
  /** SPRING's μ (0 without momentum). */
  mu: number;
  maxStepNorm: number | undefined;
  maxKL: number | undefined;
  /** The line search's most halvings (0: none). */
  lineSearch: number;
}

function oneOf<T extends string>(fn: string, name: string, v: unknown, allowed: readonly T[], dflt: T): T {
  if (v === undefined) return dflt;
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v))
    throw new RangeError(`${fn}: option '${name}' must be ${allowed.map((a) => `'${a}'`).join(' or ')}, got ${describe(v)}`);
  return v as T;
}

/** Checks `options` (their names already checked) and fills in the defaults. */
export function resolveOptions(fn: string, options: NaturalGradientOptions): ResolvedOptions {
  const method = oneOf(fn, 'method', options.method, ['exact', 'per-sample', 'chain'], 'exact');
  const o = options as ExactNaturalGradientOptions; // the exact-only settings are read only where they apply
  if (method !== 'exact')
    for (const name of EXACT_NAMES)
      if (o[name] !== undefined)
        throw new RangeError(`${fn}: option '${name}' needs method 'exact' (method '${method}' takes only ${COMMON_NAMES.join(', ')})`);
  const mu = checkNumber(fn, "option 'momentum'", o.momentum ?? 0, 0);
  if (mu >= 1) throw new RangeError(`${fn}: option 'momentum' must be < 1, got ${mu}`);
  if ((o.gramianAverage ?? 0) >= 1) throw new RangeError(`${fn}: option 'gramianAverage' must be < 1, got ${o.gramianAverage}`);
  const optional = (name: 'rcond' | 'maxStepNorm' | 'maxKL', v: number | undefined) =>
    v === undefined ? undefined : checkNumber(fn, `option '${name}'`, v, 0, true);
  return {
    method,
    lr: checkNumber(fn, "option 'lr'", options.lr ?? 1, 0),
    config: {
      damping: checkNumber(fn, "option 'damping'", options.damping ?? 1e-3, 0),
      precision: oneOf(fn, 'precision', o.precision, ['float32', 'float64'], 'float32'),
      rcond: optional('rcond', o.rcond),
      space: oneOf(fn, 'space', o.space, ['auto', 'kernel', 'parameter'], 'auto'),
      assembly: oneOf(fn, 'assembly', o.assembly, ['layer', 'dense'], 'layer'),
      maxMemory: o.maxMemory === undefined ? undefined : checkNumber(fn, "option 'maxMemory'", o.maxMemory, 1),
      solver: oneOf(fn, 'solver', o.solver, ['auto', 'cholesky', 'cg', 'nystrom-pcg', 'nystrom'], 'auto'),
      tolerance: checkNumber(fn, "option 'tolerance'", o.tolerance ?? 1e-6, 0, true),
      maxIterations: checkCount(fn, 'maxIterations', o.maxIterations ?? 1000),
      sketchRank: checkCount(fn, 'sketchRank', o.sketchRank ?? 64),
      gramianAverage: checkNumber(fn, "option 'gramianAverage'", o.gramianAverage ?? 0, 0),
    },
    rule: dampingRule(fn, options.adaptive),
    mu,
    maxStepNorm: optional('maxStepNorm', options.maxStepNorm),
    maxKL: optional('maxKL', options.maxKL),
    lineSearch: lineSearchHalvings(fn, options.lineSearch),
  };
}

function lineSearchHalvings(fn: string, v: unknown): number {
  if (v === undefined || v === false) return 0;
  if (v === true) return 30;
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 1074) return v;
  throw new RangeError(`${fn}: option 'lineSearch' must be a boolean or a number of halvings 0…1074, got ${describe(v)}`);
}

/** The resolved settings that a saved state must share to be loaded (all but lr and λ). */
export function optionsSignature(loss: LossName, r: ResolvedOptions): string {
  const { precision, rcond, space, assembly, solver, tolerance, maxIterations, sketchRank, gramianAverage } = r.config;
  return JSON.stringify({
    solver,
    tolerance,
    maxIterations,
    sketchRank,
    gramianAverage,
    loss,
    method: r.method,
    precision,
    rcond: rcond ?? null,
    space,
    assembly,
    adaptive: r.rule ?? false,
    momentum: r.mu,
    maxStepNorm: r.maxStepNorm ?? null,
    maxKL: r.maxKL ?? null,
    lineSearch: r.lineSearch,
  });
}
