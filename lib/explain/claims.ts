import { cosine, EPS64, matmul, matvec, norm, pinv, pinvSolve, relDiff, symEig } from '../linalg64';
import { backprop64, chain64, perSample64, sampleJacobian, proposalSample64, stacked64 } from './reference64';

import { type Claim, type Verdict, EQUAL_RULE, EQUAL_TOL, equalVerdict, fmt, meanChange, pct } from './claim';
import type { Batch64, Problem } from './problem';

// ---- 1. one sample ----------------------------------------------------------------------------

export function singleSampleClaim(pr: Problem, one: Batch64): Claim {
  const { p, k } = pr;
  const g = sampleJacobian(one.jac, p, 1, k, 0);
  const proposal = proposalSample64(g, p, k, one.out.v, 0);
  const rel = relDiff(proposal.direction, one.exact.direction);
  const fEig = symEig(one.out.f, k).values;
  const fCond = Math.max(...fEig) / Math.min(...fEig.map(Math.abs));
  const invertible = Math.min(...fEig) > k * EPS64 * Math.max(...fEig);
  const muRel = relDiff(meanChange(one, p, 1, k, proposal.direction), meanChange(one, p, 1, k, one.exact.direction));
  const verdict = equalVerdict(rel);
  let reason: string;
  if (verdict === 'holds')
    reason = `With G of full column rank (rank ${proposal.rank} = k) and F_η invertible, (G F_η Gᵀ)⁺ = (Gᵀ)⁺ F_η⁻¹ G⁺ and G⁺G = I: the proposal's algebra is right for one sample (difference ${fmt(rel)}, float64 rounding at κ(GᵀG) = ${fmt(proposal.cond)}).`;
  else if (!invertible)
    reason = `F_η is singular here (${pr.loss}), so the formula runs with F_η⁺: its step solves the same equation but is not the minimum-norm one (θ differs by ${pct(rel)}, the predicted distribution by only ${fmt(muRel)}); see the softmax claim.`;
  else reason = `G is rank-deficient or badly conditioned here (rank ${proposal.rank}, κ(GᵀG) = ${fmt(proposal.cond)}), outside the proposal's assumption.`;
  return {
    id: 'single-sample',
    title: 'One sample, G of full column rank: F_θ⁺ g_θ = G (GᵀG)⁻¹ F_η⁻¹ g_η',
    verdict,
    measured: rel,
    metric: '‖n_proposal − n_exact‖ / ‖n_exact‖ for sample 0 alone (float64, λ = 0)',
    rule: EQUAL_RULE,
    details: { rankG: proposal.rank, k, condGtG: proposal.cond, condFeta: fCond, meanParameterDifference: muRel },
    reason,
  };
}

// ---- 2. averaging per-sample steps ------------------------------------------------------------

export function batchAverageClaim(pr: Problem, b: Batch64): Claim {
  const { p, n, k } = pr;
  const avg = perSample64(b.jac, b.out.v, p, n, k, 0);
  const rel = relDiff(avg, b.exact.direction);
  const cos = cosine(avg, b.exact.direction);
  // predicted first-order loss decrease per unit step, relative: g_θᵀ n
  const gTheta = new Float64Array(p);
  for (let q = 0; q < p; q++) {
    let s = 0;
    for (let c = 0; c < n * k; c++) s += b.jac[q * n * k + c] * b.out.g[c];
    gTheta[q] = s / n;
  }
  const verdict: Verdict = rel < EQUAL_TOL ? 'holds' : 'fails';
  return {
    id: 'batch-average',
    title: 'A batch: the average of the per-sample steps (1/N) Σ G_i (G_iᵀG_i)⁻¹ F_i⁻¹ g_i is the natural gradient',
    verdict,
    measured: rel,
    metric: '‖n_avg − n_exact‖ / ‖n_exact‖ on the minibatch (float64, λ = 0)',
    rule: EQUAL_RULE,
    details: {
      cosine: cos,
      normRatio: norm(avg) / norm(b.exact.direction),
      gTn_avg: gTheta.reduce((s, v, q) => s + v * avg[q], 0),
      gTn_exact: gTheta.reduce((s, v, q) => s + v * b.exact.direction[q], 0),
    },
    reason:
      verdict === 'fails'
        ? `F_θ = (1/N) Σ_i G_i F_i G_iᵀ is a sum over samples, and the pseudo-inverse of a sum is not the sum (or mean) of the pseudo-inverses: the average is ${pct(rel)} off (cosine ${cos.toFixed(3)}).`
        : `The per-sample Jacobians happen to be (numerically) orthogonal or identical here, the one case where the average is exact.`,
  };
}

// ---- 3. the stacked Jacobian ------------------------------------------------------------------

export function stackedClaim(pr: Problem, b: Batch64): Claim {
  const { p, n, k } = pr;
  let st: { direction: Float64Array; cond: number };
  let fullRank = true;
  try {
    st = stacked64(b.jac, b.out.v, p, n, k);
  } catch {
    // JᵀJ singular (N·k > P, or dependent columns): the proposal's inverse does not exist; use the pseudo-inverse
    fullRank = false;
    const m = n * k;
    const kern = matmul(b.jac, b.jac, m, m, p, true, false);
    const sol = pinvSolve(kern, m, b.out.v);
    st = { direction: matmul(b.jac, sol.x, p, 1, m), cond: sol.cond };
  }
  const rel = relDiff(st.direction, b.exact.direction);
  const muRel = relDiff(meanChange(b, p, n, k, st.direction), meanChange(b, p, n, k, b.exact.direction));
  const verdict = equalVerdict(rel);
  const m = n * k;
  return {
    id: 'stacked-jacobian',
    title: 'The same formula with the stacked J = [G_1 … G_N]: F_θ⁺ g_θ = J (JᵀJ)⁻¹ F⁻¹ g',
    verdict,
    measured: rel,
    metric: '‖J (JᵀJ)⁻¹ F⁺ g − n_exact‖ / ‖n_exact‖ (float64, λ = 0)',
    rule: EQUAL_RULE,
    details: { size: m, fullColumnRank: fullRank, condJtJ: st.cond, flopsCholesky: m ** 3 / 3, meanParameterDifference: muRel },
    reason:
      verdict === 'holds'
        ? `Treating the batch as one sample with η = (η_1 … η_N) makes the proposal's derivation exact (difference ${fmt(rel)}), but (JᵀJ)⁻¹ is N·k × N·k = ${m} × ${m}: O((Nk)³) work, not a per-sample k × k inverse.`
        : !fullRank
          ? `J has no full column rank here (N·k = ${m} vs P = ${p}), so (JᵀJ)⁻¹ does not exist and the pseudo-inverse version is ${pct(rel)} off.`
          : muRel < 1e-6
            ? `F = blockdiag(F_i) is singular here (${pr.loss}): with F⁺ the stacked formula moves θ by a different, not minimum-norm step (${pct(rel)}) that predicts the same distributions (difference ${fmt(muRel)}); the cost is O((Nk)³) either way.`
            : `The stacked formula is ${pct(rel)} off here, also in the predicted distributions (${fmt(muRel)}): J is badly conditioned (κ(JᵀJ) = ${fmt(st.cond)}).`,
  };
}

// ---- 4. the modular chain rule through the layers ---------------------------------------------

/**
 * One sample: A = ∂η/∂u and B = ∂u/∂θ for the cut u = (a, W_L, b_L) at the input a of the last linear
 * layer, in numerator layout (A [k, m], B [m, P], m = width(a) + |θ_L|); J = A B.
 */
function lastLayerSplit(pr: Problem, one: Batch64): { a: Float64Array; b: Float64Array; m: number } {
  const { model, theta, p, k } = pr;
  const slotL = model.slots[model.slots.length - 1];
  const cut = slotL.index;
  const h = slotL.layer.inFeatures;
  const thetaL = (h + 1) * slotL.layer.outFeatures;
  const m = h + thetaL;
  const a = new Float64Array(k * m);
  // ∂η_j/∂θ_L: rows of J; ∂η_j/∂a = (∂η_j/∂z_L) W_L with ∂η_j/∂z_L[o] = ∂η_j/∂b_L[o]
  const g = sampleJacobian(one.jac, p, 1, k, 0);
  for (let j = 0; j < k; j++) {
    for (let c = 0; c < h; c++) {
      let s = 0;
      for (let o = 0; o < slotL.layer.outFeatures; o++) s += g[(slotL.bOffset + o) * k + j] * theta[slotL.wOffset + o * h + c];
      a[j * m + c] = s;
    }
    for (let t = 0; t < thetaL; t++) a[j * m + h + t] = g[(slotL.wOffset + t) * k + j];
  }
  const bm = new Float64Array(m * p);
  const e = new Float64Array(h);
  for (let c = 0; c < h; c++) {
    e.fill(0);
    e[c] = 1;
    bm.set(backprop64(model, theta, one.trace, 0, cut, e), c * p); // ∂a_c/∂θ
  }
  for (let t = 0; t < thetaL; t++) bm[(h + t) * p + slotL.wOffset + t] = 1; // ∂θ_L/∂θ
  return { a, b: bm, m };
}

/** ‖(I − P) X‖_F / ‖X‖_F for X [m, c] and P = Y Y⁺ [m, m] the orthogonal projector onto range(Y), Y [m, r]. */
function outsideRange(x: Float64Array, m: number, c: number, y: Float64Array, r: number): number {
  const proj = matmul(y, pinv(y, m, r).x, m, m, r); // Y Y⁺, formed in R^m (m²·r), then applied (m²·c)
  return relDiff(matmul(proj, x, m, c, m), x);
}

export function chainLayersClaim(pr: Problem, one: Batch64): Claim {
  const { p, k, model } = pr;
  const chain = chain64(model, pr.theta, one.trace, one.out.v, 0);
  const rel = relDiff(chain, one.exact.direction);
  // (AB)⁺ = B⁺A⁺ ?  Greville: iff range(AᵀAB) ⊆ range(B) and range(BBᵀAᵀ) ⊆ range(Aᵀ)
  const { a, b, m } = lastLayerSplit(pr, one);
  const ab = matmul(a, b, k, p, m);
  const abPinvN = matvec(pinv(ab, k, p).x, one.out.v, p, k);
  const bPinv = pinv(b, m, p).x; // [P, m]
  const aPinv = pinv(a, k, m).x; // [m, k]
  const bpapN = matvec(bPinv, matvec(aPinv, one.out.v, m, k), p, m);
  const splitRel = relDiff(bpapN, abPinvN);
  const ata = matmul(a, a, m, m, k, true, false);
  const condition1 = outsideRange(matmul(ata, b, m, p, m), m, p, b, p); // range(AᵀAB) ⊆ range(B)
  const bbt = matmul(b, b, m, m, p, false, true);
  const aT = new Float64Array(m * k);
  for (let j = 0; j < k; j++) for (let c = 0; c < m; c++) aT[c * k + j] = a[j * m + c];
  const condition2 = outsideRange(matmul(bbt, aT, m, k, m), m, k, aT, k); // range(BBᵀAᵀ) ⊆ range(Aᵀ)
  const depth = model.slots.length;
  const verdict = equalVerdict(rel);
  return {
    id: 'chain-layers',
    title: `The natural chain rule composes op by op through the ${depth} linear layers (one sample)`,
    verdict,
    measured: rel,
    metric: '‖n_chain − n_exact‖ / ‖n_exact‖ for sample 0 alone (float64, λ = 0)',
    rule: EQUAL_RULE,
    details: {
      linearLayers: depth,
      splitDifference: splitRel,
      greville1_rangeAtAB_in_rangeB: condition1,
      greville2_rangeBBtAt_in_rangeAt: condition2,
      cosine: cosine(chain, one.exact.direction),
    },
    reason:
      verdict === 'fails'
        ? `Pseudo-inverses do not compose: with J = A B split at the last layer's input (A = ∂η/∂(a, W_L, b_L), B = ∂(a, W_L, b_L)/∂θ), (AB)⁺ = B⁺A⁺ needs range(BBᵀAᵀ) ⊆ range(Aᵀ), and ${pct(condition2)} of BBᵀAᵀ lies outside it; B⁺A⁺n_η alone is already ${pct(splitRel)} off, the whole chain ${pct(rel)}.`
        : `Both range conditions hold here (residuals ${fmt(condition1)}, ${fmt(condition2)}), so the local pseudo-inverses compose.`,
  };
}

// ---- 5. the fan-out of the weights over the batch ---------------------------------------------

export function fanOutClaim(pr: Problem, b: Batch64): Claim {
  const { p, n, k, model } = pr;
  const chain = chain64(model, pr.theta, b.trace, b.out.v, 0);
  const rel = relDiff(chain, b.exact.direction);
  // Greville for A = blockdiag(G_iᵀ), B = [I; …; I] from the kernel blocks K_ij = G_iᵀG_j
  const m = n * k;
  const kern = matmul(b.jac, b.jac, m, m, p, true, false);
  const block = (i: number, j: number) => {
    const out = new Float64Array(k * k);
    for (let a = 0; a < k; a++) for (let c = 0; c < k; c++) out[a * k + c] = kern[(i * k + a) * m + j * k + c];
    return out;
  };
  let diag2 = 0,
    all2 = 0,
    trSum = 0,
    proj = 0;
  const kiiPinv: Float64Array[] = [];
  for (let i = 0; i < n; i++) {
    const kii = block(i, i);
    diag2 += norm(kii) ** 2;
    for (let a = 0; a < k; a++) trSum += kii[a * k + a];
    kiiPinv.push(pinv(kii, k, k).x);
  }
  for (let i = 0; i < n; i++)
    for (let l = 0; l < n; l++) {
      const kil = block(i, l);
      all2 += norm(kil) ** 2;
      // tr(K_il K_ll⁺ K_li) = ‖P_l G_i‖²
      const t = matmul(matmul(kil, kiiPinv[l], k, k, k, true, false), kil, k, k, k);
      for (let a = 0; a < k; a++) proj += t[a * k + a];
    }
  const condition1 = Math.sqrt(Math.max(0, diag2 - all2 / n) / diag2);
  const condition2 = Math.sqrt(Math.max(0, n * trSum - proj) / (n * trSum));
  const avgRel = relDiff(perSample64(b.jac, b.out.v, p, n, k, 0), b.exact.direction);
  const verdict = equalVerdict(rel);
  return {
    id: 'chain-fan-out',
    title: 'The chain rule through the fan-out of every weight over the batch gives the batch natural gradient',
    verdict,
    measured: rel,
    metric: '‖n_chain − n_exact‖ / ‖n_exact‖ on the minibatch (float64, λ = 0)',
    rule: EQUAL_RULE,
    details: {
      perSampleAverageDifference: avgRel,
      greville1_rangeAtAB_in_rangeB: condition1,
      greville2_rangeBBtAt_in_rangeAt: condition2,
      cosine: cosine(chain, b.exact.direction),
    },
    reason:
      verdict === 'fails'
        ? `The fan-out W ↦ (W, …, W) has the wide G = [I … I], whose pseudo-inverse averages; with A = blockdiag(G_iᵀ), B = [I; …; I] this is B⁺A⁺ ≠ (AB)⁺ = (Jᵀ)⁺: ${pct(condition1)} of AᵀAB lies outside range(B) (the G_iG_iᵀ differ), so even exact per-sample pieces average to an error of ${pct(avgRel)}; with the layer-wise rule it is ${pct(rel)}.`
        : `The per-sample kernels coincide here, so the fan-out's average is exact.`,
  };
}
