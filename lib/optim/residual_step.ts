// A residual loss (./residual_loss.ts) as the objective of NaturalGradient's step: stage 1 forms Sᵀ
// [M, P] (row j = √(M c_j) ∇_θ r_j) and u [M] — the Gauss–Newton system of the residuals, ENGD's —
// and assembles it as the exact step does (./exact.ts): kernel space SᵀS [M, M] or parameter space
// S Sᵀ [P, P] and S u (space 'auto': the smaller), or nothing for the matrix-free solvers, whose
// products are then gemms with Sᵀ (./s_products.ts, `denseT`). Stages 2–4 (the solve at λ, the trial and
// line search, Levenberg–Marquardt, the commit) are natural_step.ts's, unchanged.
import { gemmT, gramT, type Task, valueTask } from '../task';
import { zeros } from '../util/floats';
import { profileOf, recordCg, solveExact } from './exact';
import type { ExactSystem, MomentumTerm } from './exact_types';
import type { NaturalStepInfo, NaturalStepState, StepObjective, StepSystem } from './natural_step';
import type { ResidualLoss } from './residual_loss';
import type { Sequential } from '../nn/sequential';
import { rejectionOrThrow } from './common';

const now = () => performance.now();

/** The step objective of a residual loss on `model` (the optimizer's). */
export function residualObjective(loss: ResidualLoss, model: Sequential): StepObjective {
  return {
    linearize: (st, method, info) => linearizeResidual(st, loss, method, info),
    lossAt: (theta) => valueTask(loss.evaluateTrial(model, theta).loss), // on the calling thread (small models); keeps its Taylor passes for the next linearize
    failure: (what) => `${what} (residual loss: check the residuals at the current parameters with loss.evaluate)`,
  };
}

function* linearizeResidual(st: NaturalStepState, loss: ResidualLoss, method: string, info: NaturalStepInfo): Task<StepSystem | { reject: string }> {
  const { model, settings } = st;
  const cfg = settings.config;
  const fn = `NaturalGradient.${method}`;
  loss.check(fn, model);
  const theta = model.params;
  const t0 = now();
  let lin: ReturnType<ResidualLoss['linearize']>;
  try {
    lin = loss.linearize(model, theta);
  } catch (e) {
    return { reject: rejectionOrThrow(e) };
  }
  info.loss = lin.loss;
  if (!Number.isFinite(lin.loss)) return { reject: `the residual loss is ${lin.loss} at the current parameters` };
  const t1 = now();
  const { st: sT, u, m } = lin;
  const p = model.numParameters;
  const space = cfg.space === 'auto' ? (p < m ? 'parameter' : 'kernel') : cfg.space;
  const iterative = cfg.solver === 'cg' || cfg.solver === 'nystrom-pcg' || cfg.solver === 'nystrom';
  let kernel = zeros(model.dtype, 0);
  let su: typeof u | undefined;
  try {
    if (space === 'parameter') su = yield* gemmT(sT, u, p, 1, m, { transA: true }); // S u = (Sᵀ)ᵀ u
    // SᵀS = Sᵀ(Sᵀ)ᵀ [M, M] (Sᵀ read as [M, P] rows) or S Sᵀ = (Sᵀ)ᵀSᵀ [P, P]
    if (!iterative) kernel = space === 'kernel' ? yield* gramT(sT, p, m, { layout: 'MP' }) : yield* gramT(sT, m, p);
    const beta = cfg.gramianAverage;
    if (beta > 0 && space === 'parameter' && !iterative) {
      // ENGD's exponential average of the Gramian over steps: G ← β·G₋ + (1 − β)·G
      const prev = st.workspace.gramian;
      if (prev && prev.length === kernel.length) for (let q = 0; q < kernel.length; q++) kernel[q] = beta * prev[q] + (1 - beta) * kernel[q];
      st.workspace.gramian = kernel.slice();
    }
  } catch (e) {
    return { reject: rejectionOrThrow(e) };
  }
  const t2 = now();
  const sys: ExactSystem = {
    fn,
    model,
    theta,
    trace: { n: m, inputs: [], eta: zeros(model.dtype, 0) },
    bs: [],
    seeds: zeros(model.dtype, 0),
    denseT: sT,
    n: m,
    r: 1,
    m,
    p,
    space,
    assembly: 'dense',
    kernel,
    iterative,
    warm: { x: null },
    s: undefined,
    u,
    su,
    loss: lin.loss,
    times: { forward: t1 - t0, backprop: 0, kernel: t2 - t1 },
  };
  return {
    sys,
    solveAt: function* (lambda: number, momentum: MomentumTerm | undefined) {
      const sol = yield* solveExact(sys, lambda, cfg, momentum);
      recordCg(st.workspace, sol, cfg, lambda);
      return sol;
    },
    profile: (sol) => profileOf(sys, sol),
  };
}
