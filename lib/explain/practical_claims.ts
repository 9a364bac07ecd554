import { NaturalGradient } from '../optim/natural_gradient';
import { builtinData } from './data';
import { EPS64, matvec, norm, powerLawFit, relDiff, symEig } from '../linalg64';
import { exact64, loss64, sampleJacobian, proposalSample64 } from './reference64';

import { type Claim, type Verdict, fmt, meanChange, pct } from './claim';
import { type Batch64, batch64, makeProblem, type Problem } from './problem';

// ---- 6. softmax logits ------------------------------------------------------------------------

export function softmaxClaim(pr: Problem): Claim {
  // on a categorical head of the same architecture (the problem itself when its loss is categorical)
  const cat =
    pr.loss === 'categorical' ? pr : makeProblem({ hidden: pr.hidden, activation: pr.activation, batch: pr.n, loss: 'categorical', seed: pr.seed, heldOut: 1 });
  const one = batch64(cat, cat.batch.x.subarray(0, 2), cat.batch.y.subarray(0, 1), 1);
  const k = cat.k;
  const { values } = symEig(one.out.f, k);
  const sorted = Array.from(values).sort((x, y) => y - x);
  const ratio = Math.max(0, sorted[k - 1]) / sorted[0];
  const rank = sorted.filter((e) => e > k * EPS64 * sorted[0]).length;
  const g = sampleJacobian(one.jac, cat.p, 1, k, 0);
  const proposal = proposalSample64(g, cat.p, k, one.out.v, 0);
  const thetaRel = relDiff(proposal.direction, one.exact.direction);
  const muRel = relDiff(meanChange(one, cat.p, 1, k, proposal.direction), meanChange(one, cat.p, 1, k, one.exact.direction));
  // the difference moves all logits alike: Gᵀ(n_proposal − n_exact) ∝ 1
  const diff = proposal.direction.map((v, q) => v - one.exact.direction[q]);
  const dEta = matvec(g, diff, k, cat.p, true);
  const spread = (Math.max(...dEta) - Math.min(...dEta)) / Math.max(...Array.from(dEta, Math.abs));
  const v1 = one.out.v.reduce((s, v) => s + v, 0) / norm(one.out.v); // 1ᵀF⁺g / ‖F⁺g‖
  const label = cat.batch.y[0];
  const etaMax = Math.max(...one.trace.eta);
  const py = Math.exp(one.trace.eta[label] - etaMax) / Array.from(one.trace.eta).reduce((s, e) => s + Math.exp(e - etaMax), 0); // softmax(η)_y
  const verdict: Verdict = ratio > 1e-12 ? 'holds' : 'fails';
  return {
    id: 'softmax-fisher',
    title: 'F_η is invertible, so n_η = F_η⁻¹ g_η (softmax logits, k = 3)',
    verdict,
    measured: ratio,
    metric: 'smallest / largest eigenvalue of F_η = diag(p) − ppᵀ for sample 0',
    rule: 'holds if > 1e-12',
    details: {
      rankF: rank,
      k,
      thetaDifferenceWithPinv: thetaRel,
      meanParameterDifferenceWithPinv: muRel,
      logitShiftSpread: spread,
      onesComponentOfFpinvG: v1,
      pY: py,
    },
    reason:
      verdict === 'fails'
        ? `F_η·1 = 0 (rank ${rank} of ${k}): logits are defined up to a common shift. F_η⁺ g = (1/k − e_y)/p_y drops that shift (1ᵀF⁺g = ${fmt(v1)}); with it the proposal's step differs from F_θ⁺g_θ by ${pct(thetaRel)} in θ, only by a common logit shift (spread ${fmt(spread)}), i.e. by ${fmt(muRel)} in the predicted probabilities.`
        : `F_η is numerically invertible for this sample.`,
  };
}

// ---- 7. the minibatch Moore–Penrose step ------------------------------------------------------

export function minibatchStepClaim(pr: Problem, b: Batch64): Claim {
  const { p, n, k, model, family } = pr;
  const lambdas = [0, 1e-3, 1e-1];
  const rows: Record<string, number>[] = [];
  const heldBefore = loss64(model, family, pr.theta, pr.heldOut.x, pr.heldOut.y, pr.heldOut.n);
  const batchBefore = b.out.loss;
  const thetaNorm = norm(pr.theta);
  for (const lambda of lambdas) {
    const dir = lambda === 0 ? b.exact.direction : exact64(b.jac, b.out, p, n, k, lambda).direction;
    const after = pr.theta.map((t, q) => t - dir[q]); // lr = 1
    // linearised minibatch loss: ℓ at η − Jᵀn (exact for the gaussian's quadratic in η)
    const cols = n * k;
    const etaLin = Float64Array.from(b.trace.eta);
    for (let q = 0; q < p; q++) for (let c = 0; c < cols; c++) etaLin[c] -= b.jac[q * cols + c] * dir[q];
    const tw = family.targetWidth(k);
    let lin = 0;
    for (let i = 0; i < n; i++) lin += family.loss(etaLin.subarray(i * k, (i + 1) * k), pr.batch.y.subarray(i * tw, (i + 1) * tw)) / n;
    rows.push({
      lambda,
      stepNorm: norm(dir),
      stepOverTheta: norm(dir) / thetaNorm,
      batchLossAfter: loss64(model, family, after, pr.batch.x, pr.batch.y, n),
      batchLossLinearised: lin,
      heldOutAfter: loss64(model, family, after, pr.heldOut.x, pr.heldOut.y, pr.heldOut.n),
    });
  }
  // the N·r equations the λ = 0 step satisfies: F_i G_iᵀ δ = g_i for every sample (its outputs take
  // their full natural step F_i⁺ g_i, up to null(F_i)); residual relative to max ‖g_i‖
  const dMu = meanChange(b, p, n, k, b.exact.direction);
  let resid = 0,
    gmax = 0;
  for (let c = 0; c < n * k; c++) {
    resid = Math.max(resid, Math.abs(dMu[c] - b.out.g[c]));
    gmax = Math.max(gmax, Math.abs(b.out.g[c]));
  }
  const fitResidual = resid / gmax;
  const r0 = rows[0];
  const heldRatio = r0.heldOutAfter / heldBefore;
  const verdict: Verdict = heldRatio < 1 ? 'holds' : 'fails';
  const best = rows.slice(1).reduce((a, c) => (c.heldOutAfter < a.heldOutAfter ? c : a));
  return {
    id: 'minibatch-step',
    title: `The Moore–Penrose step δ = F_θ⁺ g_θ on a minibatch (rank ${b.exact.rank} ${b.exact.rank * 10 <= p ? '≪' : b.exact.rank < p ? '<' : '='} P = ${p}) is a sound step`,
    verdict,
    measured: heldRatio,
    metric: 'held-out loss after / before one λ = 0 step with lr = 1 (float64)',
    rule: 'holds if < 1',
    details: {
      rank: b.exact.rank,
      P: p,
      batchLossBefore: batchBefore,
      heldOutBefore: heldBefore,
      thetaNorm,
      fitResidual,
      ...Object.fromEntries(rows.map((r) => [`lambda=${r.lambda}`, r])),
    },
    reason:
      (verdict === 'fails'
        ? `With ${b.exact.rank} equations on ${p} parameters the minimum-norm step solves F_i G_iᵀ δ = g_i for every sample of the minibatch exactly (residual ${fmt(fitResidual)}; linearised minibatch loss ${fmt(batchBefore)} → ${fmt(r0.batchLossLinearised)}) with a step of ${fmt(r0.stepNorm)} (${r0.stepOverTheta.toFixed(2)}·‖θ‖), and the held-out loss goes ${fmt(heldBefore)} → ${fmt(r0.heldOutAfter)}.`
        : `The λ = 0 step solves the minibatch's equations (residual ${fmt(fitResidual)}; linearised loss ${fmt(batchBefore)} → ${fmt(r0.batchLossLinearised)}, step ${fmt(r0.stepNorm)} = ${r0.stepOverTheta.toFixed(2)}·‖θ‖) and lowers the held-out loss ${fmt(heldBefore)} → ${fmt(r0.heldOutAfter)} here.`) +
      ` Damping (Levenberg–Marquardt) shrinks it: λ = ${best.lambda} gives a step of ${fmt(best.stepNorm)} and held-out ${fmt(best.heldOutAfter)}.`,
  };
}

// ---- 8. λ = 0 in float32 ----------------------------------------------------------------------

export function float32Claim(pr: Problem, b: Batch64): Claim {
  const { model, n } = pr;
  const x = pr.batch.x,
    y = pr.batch.y;
  model.setParameters(Float32Array.from(pr.theta));
  const lib0 = new NaturalGradient(model, { loss: pr.loss, damping: 0 }).direction(x, y, n);
  const rel0 = relDiff(lib0, b.exact.direction);
  const lam = 1e-3;
  const ref1 = exact64(b.jac, b.out, pr.p, n, pr.k, lam);
  const lib1 = new NaturalGradient(model, { loss: pr.loss, damping: lam }).direction(x, y, n);
  const rel1 = relDiff(lib1, ref1.direction);
  const eps32 = 2 ** -23;
  const verdict: Verdict = rel0 < 1e-3 ? 'holds' : 'fails';
  return {
    id: 'float32-pinv',
    title: "F_θ⁺ g_θ at λ = 0 can be computed in float32 (the library's kernel and pseudo-inverse)",
    verdict,
    measured: rel0,
    metric: "‖n_float32 − n_float64‖ / ‖n_float64‖ at λ = 0 ('exact', default cutoff)",
    rule: 'holds if < 1e-3',
    details: { condFtheta: b.exact.cond, condTimesEps32: b.exact.cond * eps32, differenceAtLambda1e3: rel1, condAtLambda1e3: ref1.cond },
    reason:
      verdict === 'fails'
        ? `κ(F_θ) on its range is ${fmt(b.exact.cond)}, so κ·ε₃₂ = ${fmt(b.exact.cond * eps32)}: the small eigenvalues are float32 rounding noise and the pseudo-inverse hinges on the cutoff. With λ = ${lam} (κ = ${fmt(ref1.cond)}) float32 is within ${fmt(rel1)}.`
        : `κ(F_θ) = ${fmt(b.exact.cond)} is small enough for float32 here (κ·ε₃₂ = ${fmt(b.exact.cond * eps32)}); with λ = ${lam} the difference is ${fmt(rel1)}.`,
  };
}

// ---- 9. cost ----------------------------------------------------------------------------------

export interface CostPoint {
  n: number;
  nk: number;
  /** Milliseconds, best of `repeats`: the exact direction, its solve phase, and a plain gradient. */
  exactMs: number;
  solveMs: number;
  kernelMs: number;
  gradientMs: number;
}

/** Times the library's exact direction (kernel space, λ = 1e-3) and the gradient as N·k grows. */
export function measureCost(pr: Problem, batches: readonly number[], repeats = 3): CostPoint[] {
  const { model, k } = pr;
  model.setParameters(Float32Array.from(pr.theta));
  const pts: CostPoint[] = [];
  const data = builtinData(pr.loss, Math.max(...batches), 3000 + pr.seed);
  for (const n of batches) {
    const x = data.x.subarray(0, 2 * n);
    const y = data.y.subarray(0, pr.family.targetWidth(k) * n);
    const opt = new NaturalGradient(model, { loss: pr.loss, damping: 1e-3, space: 'kernel' });
    let best = Infinity,
      solve = Infinity,
      kernel = Infinity,
      grad = Infinity;
    opt.direction(x, y, n); // warm-up (allocates the kernel buffer)
    for (let r = 0; r < repeats; r++) {
      const t0 = performance.now();
      opt.direction(x, y, n);
      best = Math.min(best, performance.now() - t0);
      solve = Math.min(solve, opt.profile!.solve);
      kernel = Math.min(kernel, opt.profile!.kernel);
      const t1 = performance.now();
      opt.gradient(x, y, n);
      grad = Math.min(grad, performance.now() - t1);
    }
    pts.push({ n, nk: n * pr.family.rank(k), exactMs: best, solveMs: solve, kernelMs: kernel, gradientMs: grad });
  }
  return pts;
}

export function costClaim(_pr: Problem, pts: CostPoint[]): Claim {
  const nk = pts.map((p) => p.nk);
  const total = powerLawFit(
    nk,
    pts.map((p) => p.exactMs)
  );
  const top = pts.slice(-3);
  const totalTop = powerLawFit(
    top.map((p) => p.nk),
    top.map((p) => p.exactMs)
  );
  const solveTop = powerLawFit(
    top.map((p) => p.nk),
    top.map((p) => p.solveMs)
  );
  const grad = powerLawFit(
    nk,
    pts.map((p) => p.gradientMs)
  );
  const last = pts[pts.length - 1];
  // extrapolate the solve to N·r = 10⁴ with the asymptotic exponent 3
  const at1e4 = last.solveMs * (1e4 / last.nk) ** 3;
  const gap = totalTop.exponent - grad.exponent;
  const verdict: Verdict = gap < 0.5 ? 'holds' : 'fails';
  return {
    id: 'cost',
    title: '"For low dim(η), the computation of (GᵀG)⁻¹ is no computational concern" — for a batch',
    verdict,
    measured: totalTop.exponent,
    metric: 'fitted exponent p of the exact step time ∝ (N·r)^p over the largest three sizes',
    rule: `holds if p − p_gradient < 0.5 (the exact step scales like a gradient), p_gradient = ${grad.exponent.toFixed(2)}`,
    details: {
      points: pts.flatMap((p) => [p.nk, p.exactMs, p.solveMs, p.gradientMs]),
      exponentAllSizes: total.exponent,
      exponentSolveTop: solveTop.exponent,
      exponentGradient: grad.exponent,
      r2: totalTop.r2,
      extrapolatedSolveMsAt1e4: at1e4,
    },
    reason:
      (verdict === 'fails'
        ? `Per sample (GᵀG)⁻¹ is k × k and cheap, but the correct batch step needs the N·r × N·r kernel: its time grows as (N·r)^${totalTop.exponent.toFixed(2)} (solve phase ^${solveTop.exponent.toFixed(2)}) against ^${grad.exponent.toFixed(2)} for a gradient`
        : `At these sizes the exact step still scales like a gradient ((N·r)^${totalTop.exponent.toFixed(2)} vs ^${grad.exponent.toFixed(2)}; solve phase ^${solveTop.exponent.toFixed(2)})`) +
      `; at small N·r the backpropagation and kernel assembly hide the cubic factorisation, which alone would take ~${(at1e4 / 1000).toPrecision(2)} s at N·r = 10⁴ (and grows 8× per doubling).`,
  };
}
