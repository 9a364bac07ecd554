// The one-call exact step: a model of linear layers and activations with a gaussian, categorical or
// bernoulli output takes its whole exact direction in one native call (the backend's exactStep):
//
//   forward → L(θ), L_i, u_i → backprop B_l → K = Σ_l (B_l B_lᵀ) ⊙ (A_l A_lᵀ + 1) → c = (K + NλI)⁻¹ u
//   (at λ = 0 K⁺u) → n_θ = S c, gᵀn, nᵀF_θn and, for a step, L(θ − lr·n)
//
// the same formulas as ./exact.ts. On the CUDA backend every stage runs on the GPU (native/cuda/cuda_backend.cc,
// issue #19): θ, x and y are uploaded once and n_θ downloaded once, and no N·r × N·r matrix crosses the bus.
// On the CPU backend the stages run on its kernels (native/cpu/exact_step.cc) with no JavaScript between
// them: at N = 256 the composed step spent 13–18 ms of 60–87 in the addon calls' checks and V8's loops
// between its stages (issue #13). Everything else — module layers, float64 models, parameter space, CG, the
// float64 factorisation, SPRING's momentum — takes the pipeline of ./exact.ts. So does a batch the one-call
// step cannot finish as that pipeline would (a non-positive pivot, which it answers with its float64
// pseudo-inverse, or a non-finite value, which it names precisely): it is run again there.
// NATGRAD_DEVICE_STEP=0 turns the one-call step off (to compare the two).
import { type DeviceFamily, type DeviceStepResult, native } from '../native';
import type { Sequential } from '../nn/sequential';
import { exactStepT, type Task } from '../task';
import type { StepBatch } from './batch';
import type { ExactConfig, Workspace } from './exact_config';
import type { ExactSolution, StepProfile } from './exact_types';
import { checkExactSize } from './exact_size';

/** exactStep's activation codes (native/backend.h, ExactStepSpec). */
const ACTIVATION_CODES: Readonly<Record<string, number>> = { tanh: 0, relu: 1, sigmoid: 2, softplus: 3, gelu: 4 };
const FAMILIES: readonly string[] = ['gaussian', 'categorical', 'bernoulli'] satisfies DeviceFamily[];

/** exactStep's layer list {kind, width in, width out} for a float32 model of linear layers and activations; null for any other model. */
export function deviceLayers(model: Sequential): number[] | null {
  if (model.dtype !== 'float32' || model.modules.length > 0) return null;
  const out: number[] = [];
  let width = model.inDim;
  for (const layer of model.layers) {
    if (layer.kind === 'linear') {
      out.push(-1, layer.inFeatures, layer.outFeatures);
      width = layer.outFeatures;
    } else if (layer.kind === 'activation' && ACTIVATION_CODES[layer.name] !== undefined) {
      out.push(ACTIVATION_CODES[layer.name], width, width);
    } else return null;
  }
  return out.some((v, i) => i % 3 === 0 && v === -1) ? out : null;
}

/** Whether this batch's exact direction runs in one native call (and its layer list): a covered model and settings, the direct solve. */
/** `how`: checkExactSize's answer when the caller already has it (a step checks before its linearisation). */
export function deviceStepPlan(batch: StepBatch, cfg: ExactConfig, ws: Workspace, momentum: boolean, how?: 'direct' | 'cg'): number[] | null {
  if (process.env.NATGRAD_DEVICE_STEP === '0' || momentum) return null;
  if (!FAMILIES.includes(batch.family.name) || cfg.precision !== 'float32' || cfg.assembly !== 'layer') return null;
  const p = batch.model.numParameters;
  const m = batch.n * batch.family.rank(batch.model.outDim);
  if (cfg.space === 'parameter' || (cfg.space === 'auto' && p < m)) return null;
  const layers = deviceLayers(batch.model);
  if (!layers) return null;
  return (how ?? checkExactSize(batch, cfg, ws)) === 'direct' ? layers : null;
}

/** A one-call step's failure that the host pipeline answers differently (its float64 fallback, its precise error): run it there. */
export function hostRetries(e: unknown): boolean {
  const code = (e as { code?: string }).code;
  return code === 'ERR_NOT_POSITIVE_DEFINITE' || code === 'ERR_NON_FINITE';
}

/** The one-call step for the batch at λ = cfg.damping (lr > 0: also the loss at θ − lr·n). */
export function* deviceStep(
  batch: StepBatch,
  layers: readonly number[],
  cfg: ExactConfig,
  damping: number,
  lr: number
): Task<{ result: DeviceStepResult; ms: number }> {
  const t0 = performance.now();
  const result = yield* exactStepT(
    layers,
    batch.family.name as DeviceFamily,
    batch.theta as Float32Array,
    batch.x as Float32Array,
    batch.y as Float32Array,
    batch.n,
    {
      damping,
      rcond: cfg.rcond ?? 0,
      lr,
    }
  );
  return { result, ms: performance.now() - t0 };
}

/** The one-call step as the host pipeline's solution (./exact.ts's ExactSolution), with the loss at θ − lr·n. */
export function deviceSolution(r: DeviceStepResult, lr: number): ExactSolution {
  return {
    direction: r.direction,
    solver: r.rank >= 0 ? 'pinv' : 'cholesky',
    rank: r.rank >= 0 ? r.rank : undefined,
    gn: r.gn,
    nFn: r.nFn,
    times: { solve: r.deviceMs.solve, update: r.deviceMs.update },
    trial: { eff: lr, loss: lr > 0 ? r.trialLoss : r.loss }, // θ − 0·n is θ
  };
}

/** The profile of a one-call step: its stage times, the wall time of the call as the total. */
export function deviceProfile(batch: StepBatch, r: DeviceStepResult, ms: number): StepProfile {
  const d = r.deviceMs;
  return {
    forward: d.forward,
    backprop: d.backprop,
    kernel: d.kernel,
    solve: d.solve,
    update: d.update,
    total: ms,
    space: 'kernel',
    assembly: 'layer',
    size: batch.n * batch.family.rank(batch.model.outDim),
    solver: r.rank >= 0 ? 'pinv' : 'cholesky',
    ...(r.rank >= 0 ? { rank: r.rank } : {}),
    fused: true,
    ...(native.backendInfo().name === 'cuda' ? { device: 'resident' as const, upload: d.upload } : {}),
  };
}
