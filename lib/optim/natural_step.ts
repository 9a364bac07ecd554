// One NaturalGradient step, in four named stages (docs/optimizer.md):
//   1. linearizeStep: forward pass, loss, Fisher factors, backpropagation and (exact) the kernel — all
//      that does not depend on λ;
//   2. trialStep: the direction n at λ, the trust region's s, θ − lr·s·n and the loss there, with ρ;
//   3. Levenberg–Marquardt (in naturalStep): a finite loss increase re-solves with more damping;
//   4. commitStep: θ ← the trial, λ for the next step from ρ, SPRING's n₋, the step count, the profile.
import { type Floats, zerosLike } from '../util/floats';
import type { OutputFamily } from '../distributions';
import type { Sequential } from '../nn/sequential';
import type { Task } from '../task';
import type { StepBatch } from './batch';
import { chainDirection } from './chain';
import { firstNonFinite, largestInput, lossTask, parameterName, rejectionOrThrow, type StepInfo } from './common';
import { dampingFloor, nextDamping, predictedDecrease, reductionRatio, rejectedDamping } from './damping';
import {
  assembleExact,
  type ExactConfig,
  exactDirection,
  type ExactResult,
  type ExactSolution,
  type ExactSystem,
  type Linearization,
  linearizeExact,
  type MomentumTerm,
  profileOf,
  recordCg,
  solveExact,
  type StepProfile,
  type Workspace,
} from './exact';
import { deviceProfile, deviceSolution, deviceStep, deviceStepPlan, hostRetries } from './exact_device';
import { checkExactSize } from './exact_size';
import type { NaturalGradientMethod, ResolvedOptions } from './natural_options';
import { perSampleDirection } from './per_sample';
import { proposalSolver } from './proposal_solve';
import { previousDirection } from './spring';
import { batchFailure, overshoot } from './step_failure';
import { stepScale } from './trust_region';

/** What NaturalGradient.step() returns. */
export interface NaturalStepInfo extends StepInfo {
  /** L at the parameters after the call: of the applied step, or equal to `loss` when rejected. */
  lossAfter: number;
  /** λ of the last direction tried (the applied one when accepted). The λ for the next step is opt.damping. */
  damping: number;
  /** ρ = actual / predicted decrease of the last trial (NaN when not computable). */
  rho: number;
  /** Decrease predicted by the quadratic model for the last trial: lr·s·gᵀn − ½(lr·s)²·nᵀF_θn. */
  predicted: number;
  /** L at the last trial parameters (= lossAfter when accepted; NaN if no trial was evaluated). */
  trialLoss: number;
  /** Directions solved: 1 + the retries after rejected trials (0 when the batch failed before any solve). */
  attempts: number;
  /** Trust-region factor s ∈ (0, 1] of the last trial: Δ = −lr·s·n (1 without maxStepNorm/maxKL). */
  scale: number;
}

/** What a step reads and changes of its optimizer (NaturalGradient holds one). */
export interface NaturalStepState {
  readonly model: Sequential;
  readonly family: OutputFamily;
  readonly method: NaturalGradientMethod;
  /** The resolved options; lr and config.damping change (the setters, the Levenberg–Marquardt rule). */
  readonly settings: ResolvedOptions;
  /** The kernel buffer, kept between calls ((N·r)² floats; see Workspace). */
  readonly workspace: Workspace;
  /** SPRING's n_{k−1} (the applied step / −lr), null before the first step or after a failed one. */
  previous: Floats | null;
  /** Accepted steps so far. */
  accepted: number;
  /** The least λ the Levenberg–Marquardt rule may choose: raised past a λ whose Cholesky failed (./damping.ts); 0 until then. */
  dampingFloor: number;
  /** The line search's last accepted length lr·2⁻ᵏ: k, where the next search starts (0 before the first). */
  searchK: number;
  /** Timings and solver of the last direction() or accepted step(), null before the first. */
  profile: StepProfile | null;
  /** The parameters of a step's trials, two buffers like θ reused from step to step (trialStep). */
  trialBuffers?: [Floats, Floats];
}

/** A step's λ-independent part (stage 1) and how to solve it at any λ. */
export interface StepSystem {
  /** The batch's linearisation (a data objective; none for a residual loss). */
  lin?: Linearization;
  sys: ExactSystem | undefined;
  solveAt: (lambda: number, momentum: MomentumTerm | undefined) => Task<ExactSolution>;
  profile: (sol: ExactSolution) => StepProfile;
}

/**
 * What a step minimises: the family's loss on a batch of data (dataObjective) or a residual loss
 * (./residual_step.ts). The stages below are the same for both.
 */
export interface StepObjective {
  /** Stage 1 at the model's θ: the λ-independent system with L(θ) in info.loss, or why the step is rejected at once. */
  linearize(st: NaturalStepState, method: string, info: NaturalStepInfo): Task<StepSystem | { reject: string }>;
  /** L at parameters θ (a trial). */
  lossAt(theta: Floats): Task<number>;
  /** The reason for a rejection on a non-finite value (`what`), in the objective's terms. */
  failure(what: string, system: StepSystem): string;
}

/** One attempt's outcome (stage 2): the solution, its direction n, the trust region's s, θ − lr·s·n and its loss. */
interface StepTrial {
  sol: ExactSolution;
  n: Floats;
  s: number;
  trial: Floats;
  /** ‖trial − θ‖₂. */
  distance: number;
  after: number;
  /** When the direction was ready: the trial and the commit count as the profile's 'update'. */
  t0: number;
}

/** The batch x [batch, inDim], y at θ for method `fn` of this optimizer. */
export function batchOf(st: NaturalStepState, fn: string, theta: Floats, x: Floats, y: Floats, batch: number): StepBatch {
  return { fn: `NaturalGradient.${fn}`, model: st.model, theta, family: st.family, x, y, n: batch };
}

/** This optimizer's method's direction for the batch (with the settings `cfg`). */
export function methodDirection(st: NaturalStepState, b: StepBatch, cfg: ExactConfig = st.settings.config): Task<ExactResult> {
  if (st.method === 'per-sample') return perSampleDirection(b, cfg);
  if (st.method === 'chain') return chainDirection(b, cfg);
  return exactDirection(b, cfg, st.workspace);
}

/**
 * The step of step()/stepAsync(), as a task: trial, evaluation, Levenberg–Marquardt, commit.
 *
 * What a failure does depends on what it says about λ (docs/optimizer.md, "A bad batch"):
 * - a FINITE loss increase at the trial is evidence that the quadratic model does not hold that far:
 *   the direction is solved again with more damping (λ·increaseʲ, up to maxRetries), and if every
 *   attempt fails the next step starts from the raised λ and without SPRING's history;
 * - anything not finite — the batch's forward pass or loss at θ, the Fisher factors, the kernel, the
 *   right-hand side, the direction, the trial parameters or the trial's loss — and a failed
 *   factorisation reject the step at once: it is no evidence about λ (a batch with x = 1e30
 *   overflows whatever the damping; retrying only drove λ up by 1.5³⁶), so θ, λ, the momentum, the
 *   step count and the profile stay bit-identical. (After finite increases on earlier attempts of
 *   the same call, those increases are the evidence, and λ is raised for them as above.)
 */
export function* naturalStep(st: NaturalStepState, method: string, obj: StepObjective): Task<NaturalStepInfo> {
  const { rule } = st.settings;
  let lambda = st.settings.config.damping;
  const info: NaturalStepInfo = {
    loss: NaN,
    lossAfter: NaN,
    damping: lambda,
    rho: NaN,
    predicted: NaN,
    trialLoss: NaN,
    accepted: false,
    stepNorm: 0,
    attempts: 0,
    scale: 1,
  };
  /** λ for the next step after finite loss increases on this call's attempts (undefined: none yet). */
  let raised: number | undefined;
  const tries = () => (info.attempts > 1 ? ` (${info.attempts} attempts, last λ = ${lambda.toPrecision(3)})` : '');
  /** A step rejected on the evidence of finite loss increases: λ raised, momentum dropped. */
  const rejectRaised = (reason: string): NaturalStepInfo => {
    info.lossAfter = info.loss;
    info.reason = `${reason}${tries()}; parameters unchanged`;
    st.settings.config.damping = raised!;
    st.previous = null; // momentum does not survive a failed step
    return info;
  };
  /** A step rejected at once on a non-finite value or failed solve: nothing changes (unless earlier attempts of this call were finite increases). */
  const rejectAtOnce = (reason: string): NaturalStepInfo => {
    if (raised !== undefined) return rejectRaised(reason);
    info.lossAfter = info.loss;
    info.reason = `${reason}; rejected at once: parameters, λ and the optimizer's state unchanged`;
    return info;
  };
  // Stage 1, once: the λ-independent part (a retry with more damping costs one solve and one forward pass).
  const system = yield* obj.linearize(st, method, info);
  if ('reject' in system) return rejectAtOnce(system.reject);
  let momentum: MomentumTerm | undefined = st.settings.mu > 0 && st.previous ? { mu: st.settings.mu, previous: st.previous } : undefined;
  const retries = rule ? rule.maxRetries : 0;
  for (;;) {
    info.attempts++;
    info.damping = lambda;
    info.rho = info.predicted = info.trialLoss = NaN;
    info.scale = 1;
    // Stage 2: the direction at λ and its trial
    const trial = yield* trialStep(st, obj, system, lambda, momentum, info);
    if ('reject' in trial) return rejectAtOnce(trial.reject);
    // Stage 3: Levenberg–Marquardt — a finite increase is evidence for more damping
    if (rule && trial.after > info.loss) {
      const next = rejectedDamping(rule, lambda, info.attempts);
      raised = next;
      if (info.attempts > retries || next === lambda) return rejectRaised(`the loss would increase from ${info.loss} to ${trial.after}`);
      lambda = next;
      momentum = undefined; // retries are plain damped steps: a large λ must shrink the step, not pull it to μ n₋
      continue;
    }
    // Stage 4: commit
    return commitStep(st, system, trial, lambda, info);
  }
}

/** solveExact, keeping a CG solve's iteration count for solver 'auto's next estimate (./exact_size.ts). */
function* solveRecorded(st: NaturalStepState, sys: ExactSystem, lambda: number, momentum: MomentumTerm | undefined): Task<ExactSolution> {
  const sol = yield* solveExact(sys, lambda, st.settings.config, momentum);
  recordCg(st.workspace, sol, st.settings.config, lambda);
  return sol;
}

/** The family's loss on the batch x [batch, inDim], y, for the optimizer state st. */
export function dataObjective(st: NaturalStepState, x: Floats, y: Floats, batch: number): StepObjective {
  return {
    linearize: (s, method, info) => linearizeStep(s, method, x, y, batch, info),
    lossAt: (theta) => lossTask(st.model, st.family, theta, x, y, batch),
    failure: (what, system) => batchFailure(st.model, what, x, batch, system.lin, system.sys),
  };
}

/**
 * A step's stage 1: the forward pass and loss at θ, the Fisher factors and backpropagation, and (exact)
 * the assembled kernel — everything that does not depend on λ — with the solver for a given λ; or the
 * reason the batch is rejected at once (a non-finite loss, kernel or failed assembly).
 */
function* linearizeStep(
  st: NaturalStepState,
  method: string,
  x: Floats,
  y: Floats,
  batch: number,
  info: NaturalStepInfo
): Task<StepSystem | { reject: string }> {
  const b = batchOf(st, method, st.model.params, x, y, batch);
  let lin: Linearization | undefined;
  let sys: ExactSystem | undefined;
  // before any work: whether it fits, and how it will solve (direct or conjugate gradients)
  const how = st.method === 'exact' ? checkExactSize(b, st.settings.config, st.workspace, method === 'stepAsync') : undefined;
  // an MLP: the whole step in one native call (on the GPU with CUDA), with the loss at the full step (./exact_device.ts)
  const layers = st.method === 'exact' ? deviceStepPlan(b, st.settings.config, st.workspace, st.settings.mu > 0 && st.previous !== null, how) : null;
  if (layers) {
    const cfg = st.settings.config;
    const lambda0 = cfg.damping;
    const lr = st.settings.lr;
    try {
      const first = yield* deviceStep(b, layers, cfg, lambda0, lr);
      // a non-finite loss: the host pipeline below rejects the batch, naming its largest input
      if (Number.isFinite(first.result.loss)) {
        info.loss = first.result.loss;
        let last = first;
        return {
          sys: undefined,
          // a retry with more damping is one more one-call step (the kernel is not kept between calls)
          solveAt: function* (lambda) {
            last = lambda === lambda0 ? first : yield* deviceStep(b, layers, cfg, lambda, lr);
            return deviceSolution(last.result, lr);
          },
          profile: () => deviceProfile(b, last.result, last.ms),
        };
      }
    } catch (e) {
      if (!hostRetries(e)) return { reject: batchFailure(st.model, rejectionOrThrow(e), x, batch, undefined, undefined) };
      // else the host pipeline below answers it (its float64 fallback, its precise rejection)
    }
  }
  try {
    lin = yield* linearizeExact(b);
    info.loss = lin.loss;
    if (!Number.isFinite(lin.loss)) return { reject: `the loss on this batch is ${lin.loss}; ${largestInput(x, batch)}` };
    if (st.method === 'exact') {
      const s = (sys = yield* assembleExact(b, st.settings.config, st.workspace, lin, how));
      return { lin, sys, solveAt: (l, mom) => solveRecorded(st, s, l, mom), profile: (sol) => profileOf(s, sol) };
    }
    // The proposal's methods give only a direction; gᵀn and nᵀF_θ n come from the linearisation.
    return { lin, sys, ...proposalSolver(b, lin, (l) => methodDirection(st, b, { ...st.settings.config, damping: l })) };
  } catch (e) {
    const reason = rejectionOrThrow(e);
    return { reject: batchFailure(st.model, reason, x, batch, lin, sys) };
  }
}

/**
 * A step's stage 2, one attempt at damping λ: the direction n (checked finite), the trust region's
 * factor s, the predicted decrease, θ − lr·s·n (checked finite) and the loss there, with ρ; or the
 * reason the step is rejected at once. Fills info's scale, predicted, trialLoss and rho as it goes.
 * With the line search (option lineSearch), the step length is then halved while the loss keeps
 * falling: lr·s·2⁻ᵏ for k = 1, 2, … up to lineSearch halvings, the trial the last that improved on the
 * one before (the best of ENGD's grid lr·2⁻ᵏ where the loss along n is unimodal, at a fraction of
 * its evaluations); a non-finite loss at the full step counts as +∞ there instead of rejecting it.
 */
function* trialStep(
  st: NaturalStepState,
  obj: StepObjective,
  system: StepSystem,
  lambda: number,
  momentum: MomentumTerm | undefined,
  info: NaturalStepInfo
): Task<StepTrial | { reject: string }> {
  const { model } = st;
  const theta = model.params;
  let sol: ExactSolution;
  try {
    sol = yield* system.solveAt(lambda, momentum);
  } catch (e) {
    const reason = rejectionOrThrow(e);
    return { reject: obj.failure(reason, system) };
  }
  const t0 = performance.now();
  const n = sol.direction;
  const s = stepScale(st.settings.lr, n, sol.nFn, st.settings.maxStepNorm, st.settings.maxKL); // the trust region (./trust_region.ts)
  // With the line search, lengths lr·s·2⁻ᵏ for k = 0 … lineSearch, starting from the k it took last
  // (st.searchK) and moving towards longer steps while the loss falls there, else towards shorter ones
  // while it falls: the best of ENGD's grid where the loss along n is unimodal, in 2–3 evaluations
  // instead of its 31. A non-finite trial or loss counts as +∞ there instead of rejecting the step.
  const search = st.settings.lineSearch;
  const k0 = search > 0 ? Math.min(st.searchK, search) : 0;
  // The trials' parameters live in two buffers kept in the state (the best trial so far and the one being
  // tried): a fresh P-float array per trial cost its allocation and first touch, 1.3 of this pass's 2.2 ms
  // for P = 269,322 (and the garbage collector's time later).
  const bufs = trialBuffers(st, theta);
  const at = (k: number, keep?: Floats) => {
    const e = st.settings.lr * s * 2 ** -k;
    const t = keep === bufs[0] ? bufs[1] : bufs[0]; // not the buffer of the trial kept so far
    const r = stepFrom(theta, n, e, t); // θ − lr·s·2⁻ᵏ·n, in one pass
    return { k, e, t, bad: r.bad, distance: r.distance, a: Infinity };
  };
  let best = at(k0);
  if (best.bad >= 0) {
    // a non-finite direction entry makes its trial entry non-finite too: the direction is named first
    const bad = firstNonFinite(n);
    if (bad >= 0)
      return { reject: obj.failure(`the natural-gradient direction is not finite (its entry for ${parameterName(model, bad)} is ${n[bad]})`, system) };
    if (search === 0)
      return {
        reject:
          `the updated parameter ${best.bad} would be ${best.t[best.bad]} (${parameterName(model, best.bad)}: lr·s = ${best.e.toPrecision(3)} ` +
          `times its direction entry ${n[best.bad].toPrecision(3)} overflows ${model.dtype})`,
      };
  }
  info.scale = s * 2 ** -k0;
  info.predicted = predictedDecrease(best.e, sol.gn, sol.nFn); // the quadratic model (./damping.ts)
  if (best.bad < 0) {
    try {
      // the one-call step computed the loss at the full step with the direction
      best.a = info.trialLoss = sol.trial && sol.trial.eff === best.e ? sol.trial.loss : yield* obj.lossAt(best.t);
    } catch (e) {
      const reason = rejectionOrThrow(e);
      if (search === 0) return { reject: overshoot(reason, info.loss) };
      best.a = Infinity;
    }
  }
  if (search > 0) {
    const lossOf = function* (k: number) {
      const c = at(k, best.t);
      if (c.bad < 0) {
        try {
          c.a = yield* obj.lossAt(c.t);
        } catch {
          c.a = Infinity;
        }
      }
      if (!Number.isFinite(c.a)) c.a = Infinity;
      return c;
    };
    if (!Number.isFinite(best.a)) best.a = Infinity;
    let dir = 1;
    if (best.k > 0) {
      const longer = yield* lossOf(best.k - 1);
      if (longer.a < best.a) {
        best = longer;
        dir = -1;
      }
    }
    for (let k = best.k + dir; k >= 0 && k <= search; k += dir) {
      const next = yield* lossOf(k);
      if (next.a < best.a) best = next;
      else if (Number.isFinite(best.a)) break; // the loss stopped falling
    }
    st.searchK = best.k;
    info.scale = s * 2 ** -best.k;
    info.predicted = predictedDecrease(best.e, sol.gn, sol.nFn);
    info.trialLoss = best.a;
  }
  const { t: trial, distance, a: after } = best;
  const scale = s * 2 ** -best.k;
  info.rho = reductionRatio(info.loss - after, info.predicted);
  if (!Number.isFinite(after)) return { reject: overshoot(`the loss after the step would be ${after}`, info.loss) };
  return { sol, n, s: scale, trial, distance, after, t0 };
}

/** The state's two trial buffers, each like θ (made again when the model's size or type is not theirs). */
function trialBuffers(st: NaturalStepState, theta: Floats): [Floats, Floats] {
  const b = st.trialBuffers;
  if (b && b[0].length === theta.length && b[0].constructor === theta.constructor) return b;
  return (st.trialBuffers = [zerosLike(theta), zerosLike(theta)]);
}

/**
 * trial = θ − eff·n (float32, as the parameters are), with the first index where it is not finite (−1:
 * none) and ‖trial − θ‖₂ accumulated in float64: one pass over P, where a step's other work is O(N·P).
 */
function stepFrom(theta: Floats, n: Floats, eff: number, trial: Floats): { bad: number; distance: number } {
  let bad = -1;
  let s2 = 0;
  for (let i = 0; i < theta.length; i++) {
    trial[i] = theta[i] - eff * n[i];
    const t = trial[i]; // as stored: a float64 result beyond float32's range is Infinity here
    if (t - t !== 0) {
      // t − t is 0 exactly when t is finite (NaN and ±Inf give NaN)
      if (bad < 0) bad = i;
      continue;
    }
    const d = t - theta[i];
    s2 += d * d;
  }
  return { bad, distance: Math.sqrt(s2) };
}

/** A step's stage 4: θ ← the trial, λ for the next step from ρ, SPRING's n₋, the count and the profile. */
function commitStep(st: NaturalStepState, system: StepSystem, t: StepTrial, lambda: number, info: NaturalStepInfo): NaturalStepInfo {
  const theta = st.model.params;
  info.stepNorm = t.distance;
  theta.set(t.trial);
  info.accepted = true;
  info.lossAfter = t.after;
  const { rule } = st.settings;
  if (rule) {
    st.dampingFloor = dampingFloor(rule, st.dampingFloor, lambda, t.sol.solver === 'pinv-fallback');
    st.settings.config.damping = Math.max(st.dampingFloor, nextDamping(rule, lambda, info.rho));
  }
  if (st.settings.mu > 0) st.previous = previousDirection(t.n, t.s);
  st.accepted++;
  // the trial's forward pass and the commit count as 'update'
  const prof = system.profile(t.sol);
  const dt = performance.now() - t.t0;
  st.profile = { ...prof, update: prof.update + dt, total: prof.total + dt };
  return info;
}
