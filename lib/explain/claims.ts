// The proposal's argument, claim by claim, each measured on a real network against the exact natural
// gradient computed in float64 (./reference64.ts). Every verdict is computed from a measured number
// against the threshold stated in the claim's `rule`; every reason is chosen by the numbers too.
import { distribution, type LossName, type OutputFamily } from '../distributions';
import { ACTIVATION_NAMES, type ActivationName, isActivationName, mlp, type Sequential } from '../nn';
import { NaturalGradient } from '../optim/natural_gradient';
import { builtinData, builtinOutputs, type BuiltinDataset } from './data';
import { cosine, EPS64, matmul, matvec, norm, pinv, pinvSolve, powerLawFit, relDiff, symEig } from '../linalg64';
import {
  backprop64,
  chain64,
  exact64,
  type Exact64,
  forward64,
  jacobian64,
  loss64,
  type Outputs64,
  outputs64,
  perSample64,
  sampleJacobian,
  seedSample64,
  stacked64,
  type Trace64,
} from './reference64';

export type Verdict = 'holds' | 'fails';

export type ClaimId =
  | 'single-sample'
  | 'batch-average'
  | 'stacked-jacobian'
  | 'chain-layers'
  | 'chain-fan-out'
  | 'softmax-fisher'
  | 'minibatch-step'
  | 'float32-pinv'
  | 'cost';

export type Detail = number | string | boolean | number[] | Record<string, number>;

export interface Claim {
  id: ClaimId;
  /** The claim as the proposal makes it (or as it follows from the proposal's argument). */
  title: string;
  verdict: Verdict;
  /** The number the verdict is computed from. */
  measured: number;
  /** What `measured` is. */
  metric: string;
  /** The threshold: how the verdict follows from `measured`. */
  rule: string;
  /** Further measurements (named, with units in the name where they have one). */
  details: Record<string, Detail>;
  /** One or two sentences: why, in terms of the numbers. */
  reason: string;
}

export interface ProblemOptions {
  /** Hidden widths. Default [16, 16]. */
  hidden?: number[];
  /** Hidden activation. Default 'tanh'. */
  activation?: ActivationName;
  /** Minibatch size N. Default 16. */
  batch?: number;
  /** Output family. Default 'gaussian' (k = 2 outputs); 'categorical' has k = 3, 'bernoulli' k = 1. */
  loss?: LossName;
  /** Seed of the data and of the initialisation. Default 0. */
  seed?: number;
  /** Held-out points for the minibatch-step claim. Default 512. */
  heldOut?: number;
}

/** The report's problem: a model at its seeded initialisation, a minibatch and held-out data. */
export interface Problem {
  loss: LossName;
  family: OutputFamily;
  hidden: number[];
  activation: ActivationName;
  seed: number;
  model: Sequential;
  /** θ at initialisation, widened to float64. */
  theta: Float64Array;
  batch: BuiltinDataset;
  heldOut: BuiltinDataset;
  k: number;
  p: number;
  n: number;
}

/** Checks the options (RangeError/TypeError naming the option) and builds the problem. */
export function makeProblem(options: ProblemOptions = {}, fn = 'explain'): Problem {
  const known = ['hidden', 'activation', 'batch', 'loss', 'seed', 'heldOut'];
  const o = options as Record<string, unknown>;
  const hidden = options.hidden ?? [16, 16];
  if (!Array.isArray(hidden) || hidden.length < 1 || !hidden.every((h) => Number.isSafeInteger(h) && h >= 1 && h <= 256))
    throw new RangeError(`${fn}: option 'hidden' must be a non-empty list of widths 1…256, got ${JSON.stringify(o.hidden)}`);
  const activation = options.activation ?? 'tanh';
  if (!isActivationName(activation))
    throw new RangeError(`${fn}: option 'activation' must be one of ${ACTIVATION_NAMES.join(', ')}, got ${JSON.stringify(o.activation)}`);
  const family = distribution(options.loss ?? 'gaussian', fn, "option 'loss'");
  const n = options.batch ?? 16;
  if (!Number.isSafeInteger(n) || n < 2 || n > 256) throw new RangeError(`${fn}: option 'batch' must be an integer 2…256, got ${JSON.stringify(o.batch)}`);
  const seed = options.seed ?? 0;
  if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`${fn}: option 'seed' must be a non-negative integer, got ${JSON.stringify(o.seed)}`);
  const held = options.heldOut ?? 512;
  if (!Number.isSafeInteger(held) || held < 1) throw new RangeError(`${fn}: option 'heldOut' must be a positive integer, got ${JSON.stringify(o.heldOut)}`);
  const k = builtinOutputs(family.name);
  const model = mlp(2, hidden, k, activation, { seed });
  if (model.numParameters > 20000)
    throw new RangeError(`${fn}: the report forms dense float64 Jacobians; keep P ≤ 20000 (this MLP has P = ${model.numParameters})`);
  for (const key of Object.keys(o)) if (!known.includes(key) && o[key] !== undefined) throw new RangeError(`${fn}: unknown option '${key}'`);
  return {
    loss: family.name,
    family,
    hidden: hidden.slice(),
    activation,
    seed,
    model,
    theta: Float64Array.from(model.params),
    batch: builtinData(family.name, n, 1000 + seed),
    heldOut: builtinData(family.name, held, 2000 + seed),
    k,
    p: model.numParameters,
    n,
  };
}

/** Everything of the minibatch in float64, computed once and shared by the claims. */
export interface Batch64 {
  trace: Trace64;
  jac: Float64Array;
  out: Outputs64;
  /** The exact n_θ at λ = 0. */
  exact: Exact64;
}

export function batch64(pr: Problem, x: Float32Array, y: Float32Array, n: number): Batch64 {
  const trace = forward64(pr.model, pr.theta, x, n);
  const jac = jacobian64(pr.model, pr.theta, trace);
  const out = outputs64(pr.family, trace.eta, y, n, pr.k);
  return { trace, jac, out, exact: exact64(jac, out, pr.p, n, pr.k, 0) };
}

/** Three significant digits, plain between 1e-3 and 1e4, exponential outside. */
const fmt = (v: number) =>
  !Number.isFinite(v) ? String(v) : v === 0 || (Math.abs(v) >= 1e-3 && Math.abs(v) < 1e4) ? String(Number(v.toPrecision(3))) : v.toExponential(2);
const pct = (v: number) => `${(100 * v).toFixed(v < 0.1 ? 1 : 0)}%`;

/** Tolerance of the "equal" claims: float64 results agree to ~κ·ε₆₄; 1e-5 leaves room for κ up to ~1e10. */
export const EQUAL_TOL = 1e-5;
const EQUAL_RULE = 'holds if < 1e-5';
/** A difference above this is a genuine disagreement, not rounding. */
export const DIFFERENT_TOL = 0.1;

/** First-order change of the mean parameters μ_i (∂μ/∂η = F_η for these families): Δμ_i = F_i G_iᵀ δ. */
function meanChange(b: Batch64, p: number, n: number, k: number, delta: ArrayLike<number>): Float64Array {
  const cols = n * k;
  const dEta = new Float64Array(cols);
  for (let q = 0; q < p; q++) {
    const d = delta[q];
    if (d === 0) continue;
    for (let c = 0; c < cols; c++) dEta[c] += b.jac[q * cols + c] * d;
  }
  const dMu = new Float64Array(cols);
  for (let i = 0; i < n; i++)
    for (let a = 0; a < k; a++) {
      let s = 0;
      for (let j = 0; j < k; j++) s += b.out.f[i * k * k + a * k + j] * dEta[i * k + j];
      dMu[i * k + a] = s;
    }
  return dMu;
}

function equalVerdict(rel: number): Verdict {
  return rel < EQUAL_TOL ? 'holds' : 'fails';
}

// ---- 1. one sample ----------------------------------------------------------------------------

export function singleSampleClaim(pr: Problem, one: Batch64): Claim {
  const { p, k } = pr;
  const g = sampleJacobian(one.jac, p, 1, k, 0);
  const seed = seedSample64(g, p, k, one.out.v, 0);
  const rel = relDiff(seed.direction, one.exact.direction);
  const fEig = symEig(one.out.f, k).values;
  const fCond = Math.max(...fEig) / Math.min(...fEig.map(Math.abs));
  const invertible = Math.min(...fEig) > k * EPS64 * Math.max(...fEig);
  const muRel = relDiff(meanChange(one, p, 1, k, seed.direction), meanChange(one, p, 1, k, one.exact.direction));
  const verdict = equalVerdict(rel);
  let reason: string;
  if (verdict === 'holds')
    reason = `With G of full column rank (rank ${seed.rank} = k) and F_η invertible, (G F_η Gᵀ)⁺ = (Gᵀ)⁺ F_η⁻¹ G⁺ and G⁺G = I: the proposal's algebra is right for one sample (difference ${fmt(rel)}, float64 rounding at κ(GᵀG) = ${fmt(seed.cond)}).`;
  else if (!invertible)
    reason = `F_η is singular here (${pr.loss}), so the formula runs with F_η⁺: its step solves the same equation but is not the minimum-norm one (θ differs by ${pct(rel)}, the predicted distribution by only ${fmt(muRel)}); see the softmax claim.`;
  else reason = `G is rank-deficient or badly conditioned here (rank ${seed.rank}, κ(GᵀG) = ${fmt(seed.cond)}), outside the proposal's assumption.`;
  return {
    id: 'single-sample',
    title: 'One sample, G of full column rank: F_θ⁺ g_θ = G (GᵀG)⁻¹ F_η⁻¹ g_η',
    verdict,
    measured: rel,
    metric: '‖n_seed − n_exact‖ / ‖n_exact‖ for sample 0 alone (float64, λ = 0)',
    rule: EQUAL_RULE,
    details: { rankG: seed.rank, k, condGtG: seed.cond, condFeta: fCond, meanParameterDifference: muRel },
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
  const seed = seedSample64(g, cat.p, k, one.out.v, 0);
  const thetaRel = relDiff(seed.direction, one.exact.direction);
  const muRel = relDiff(meanChange(one, cat.p, 1, k, seed.direction), meanChange(one, cat.p, 1, k, one.exact.direction));
  // the difference moves all logits alike: Gᵀ(n_seed − n_exact) ∝ 1
  const diff = seed.direction.map((v, q) => v - one.exact.direction[q]);
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
