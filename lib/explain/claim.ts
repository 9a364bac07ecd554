// One claim of the proposal's argument as the report states it (its verdict computed from a measured
// number against a stated rule), and the helpers every claim shares: number formats, the tolerances of
// "equal" and "different", and the first-order change of the mean parameters.
import type { Batch64 } from './problem';

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

/** Three significant digits, plain between 1e-3 and 1e4, exponential outside. */
export const fmt = (v: number) =>
  !Number.isFinite(v) ? String(v) : v === 0 || (Math.abs(v) >= 1e-3 && Math.abs(v) < 1e4) ? String(Number(v.toPrecision(3))) : v.toExponential(2);
export const pct = (v: number) => `${(100 * v).toFixed(v < 0.1 ? 1 : 0)}%`;

/** Tolerance of the "equal" claims: float64 results agree to ~κ·ε₆₄; 1e-5 leaves room for κ up to ~1e10. */
export const EQUAL_TOL = 1e-5;
export const EQUAL_RULE = 'holds if < 1e-5';
/** A difference above this is a genuine disagreement, not rounding. */
export const DIFFERENT_TOL = 0.1;

/** First-order change of the mean parameters μ_i (∂μ/∂η = F_η for these families): Δμ_i = F_i G_iᵀ δ. */
export function meanChange(b: Batch64, p: number, n: number, k: number, delta: ArrayLike<number>): Float64Array {
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

export function equalVerdict(rel: number): Verdict {
  return rel < EQUAL_TOL ? 'holds' : 'fails';
}
