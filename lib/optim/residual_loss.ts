// Residual losses: physics-informed fits, where the model u(x; θ) must satisfy equations in its input
// derivatives at sets of points (docs/pinn.md):
//
//   L(θ) = ½ Σ_s w_s · mean_{x ∈ X_s} r_s(x, u, ∇ₓu, Δₓu)²
//
// e.g. Poisson's −Δu = f in the interior (r = Δu + f) and u = g on the boundary (r = u − g). With the
// residuals r_j of all M points as one vector and c_j = w_s/N_s the weight of point j's set,
//   g_θ = Σ_j c_j r_j ∇_θ r_j = J_rᵀ C r,   G_θ = Σ_j c_j ∇_θ r_j ∇_θ r_jᵀ = J_rᵀ C J_r
// (G_θ is the Gauss–Newton matrix of L: energy natural gradient, ENGD, Müller & Zeinhofer 2023). In the
// library's convention (docs/design.md §1: F_θ = (1/N) S Sᵀ, g_θ = (1/N) S u) that is N = M rows with
//   S[:, j] = √(M c_j) ∇_θ r_j,   u_j = √(M c_j) r_j,
// so the exact step — kernel or parameter space, Levenberg–Marquardt, SPRING, CG — solves it unchanged.
// Rows: ∇_θ r_j = Σ over r's arguments of ∂r/∂(u, ∇u, Δu) times their θ-derivatives, by reverse mode
// through the Taylor-mode pass (../nn/derivative_jacobian.ts). The partials ∂r/∂(u, ∇u, Δu) come from
// the set's `partials` when given, else from central differences of `residual` with steps
// h = 1e-4·(1 + |v|): exact up to rounding (~1e-11 relative) for residuals of degree ≤ 2 in u, ∇u, Δu
// (Poisson, Burgers' u·u_x), within ~1e-9·|r'''| otherwise.
import { taylorBackward } from '../nn/derivative_jacobian';
import { notTwiceDifferentiable, type SecondOrder, type TaylorPass, taylorForward } from '../nn/derivatives';
import type { Sequential } from '../nn/sequential';
import { checkDtype, type Floats, zeros } from '../util/floats';
import { checkFinite, describe } from '../util/validate';

/** One point as a residual function sees it (views, valid during the call). */
export interface ResidualPoint {
  /** x [d]. */
  readonly x: Floats;
  /** u(x) [k]. */
  readonly u: Float64Array;
  /** ∂u_i/∂x_c [k, d] row-major. */
  readonly gradient: Float64Array;
  /** Δu_i = Σ_c ∂²u_i/∂x_c² [k]. */
  readonly laplacian: Float64Array;
  /** ∂²u_i/∂x_c² [k, d] row-major (secondOrder 'diagonal' only; empty otherwise): for residuals such as Burgers' u_t + u u_x − ν u_xx. */
  readonly hessianDiagonal: Float64Array;
}

/** ∂r/∂u [k], ∂r/∂∇u [k, d], ∂r/∂Δu [k] (and ∂r/∂(∂²u/∂x_c²) [k, d] in 'diagonal' mode): what a set's `partials` writes (zeroed before each call). */
export interface ResidualPartials {
  u: Float64Array;
  gradient: Float64Array;
  laplacian: Float64Array;
  hessianDiagonal: Float64Array;
}

export interface ResidualSet {
  /** A name for messages and setPoints(). Default 'set i'. */
  name?: string;
  /** The points [n, d], of the model's dtype. */
  points: Floats;
  /** r(x, u, ∇u, Δu) at one point. */
  residual: (p: ResidualPoint) => number;
  /** w_s ≥ 0. Default 1. */
  weight?: number;
  /** Optional exact ∂r/∂(u, ∇u, Δu); by default they are central differences of `residual`. */
  partials?: (p: ResidualPoint, out: ResidualPartials) => void;
}

interface Set {
  name: string;
  points: Floats;
  residual: (p: ResidualPoint) => number;
  weight: number;
  partials: ((p: ResidualPoint, out: ResidualPartials) => void) | undefined;
}

export interface ResidualLossOptions {
  /**
   * The second derivatives a residual sees: 'laplacian' (default; Δu only, R = d + 2 Taylor rows per
   * point) or 'diagonal' (each ∂²u/∂x_c² as point.hessianDiagonal, with point.laplacian their sum;
   * R = 2d + 1 rows, so dearer for large d).
   */
  secondOrder?: SecondOrder;
}

/** The residual loss of point sets; see residualLoss(). */
export class ResidualLoss {
  private readonly list: Set[];
  /** The Taylor passes of the line search's recent trials (evaluateTrial), for linearize(). */
  private readonly trials = new RecentPasses();
  /** Which second derivatives the points carry (options.secondOrder). */
  readonly secondOrder: SecondOrder;

  constructor(sets: readonly ResidualSet[], options: ResidualLossOptions = {}) {
    const fn = 'residualLoss';
    const so = options?.secondOrder ?? 'laplacian';
    if (so !== 'laplacian' && so !== 'diagonal') throw new RangeError(`${fn}: option 'secondOrder' must be 'laplacian' or 'diagonal', got ${describe(so)}`);
    this.secondOrder = so;
    if (!Array.isArray(sets) || sets.length === 0) throw new TypeError(`${fn}: expected a non-empty array of point sets, got ${describe(sets)}`);
    const names = new Set<string>();
    this.list = sets.map((s, i) => {
      if (typeof s !== 'object' || s === null) throw new TypeError(`${fn}: set ${i} must be an object, got ${describe(s)}`);
      const name = s.name ?? `set ${i}`;
      if (typeof name !== 'string' || names.has(name)) throw new RangeError(`${fn}: set ${i}: 'name' must be a string no other set has, got ${describe(name)}`);
      names.add(name);
      if (typeof s.residual !== 'function')
        throw new TypeError(`${fn}: set '${name}': 'residual' must be a function (point) => number, got ${describe(s.residual)}`);
      if (s.partials !== undefined && typeof s.partials !== 'function')
        throw new TypeError(`${fn}: set '${name}': 'partials' must be a function, got ${describe(s.partials)}`);
      const weight = s.weight ?? 1;
      if (typeof weight !== 'number' || !(weight >= 0) || !Number.isFinite(weight))
        throw new RangeError(`${fn}: set '${name}': 'weight' must be a finite number ≥ 0, got ${describe(weight)}`);
      if (!(s.points instanceof Float32Array || s.points instanceof Float64Array))
        throw new TypeError(`${fn}: set '${name}': 'points' must be a Float64Array (or Float32Array for a float32 model), got ${describe(s.points)}`);
      return { name, points: s.points, residual: s.residual, weight, partials: s.partials };
    });
  }

  /** The sets' names, in order. */
  get names(): string[] {
    return this.list.map((s) => s.name);
  }

  /** The points of set `set` (name or index). */
  points(set: string | number): Floats {
    return this.find('points', set).points;
  }

  /** Replaces the points of set `set` (name or index), e.g. to resample them; checked against the model at the next step. */
  setPoints(set: string | number, points: Floats): void {
    const s = this.find('setPoints', set);
    if (!(points instanceof Float32Array || points instanceof Float64Array))
      throw new TypeError(`setPoints: 'points' must be a Float64Array (or Float32Array for a float32 model), got ${describe(points)}`);
    s.points = points;
  }

  /** Throws unless every set's points suit `model`: its dtype, rows of its input width, finite; and the model has a Laplacian. */
  check(fn: string, model: Sequential): void {
    const why = notTwiceDifferentiable(model);
    if (why) throw new RangeError(`${fn}: a residual loss needs the model's second derivatives in x and their θ-derivatives: ${why}`);
    const d = model.inDim;
    for (const s of this.list) {
      checkDtype(fn, `points of set '${s.name}'`, s.points, model.dtype);
      if (s.points.length === 0 || s.points.length % d !== 0)
        throw new RangeError(`${fn}: set '${s.name}' has ${s.points.length} values, not a positive number of points of dimension ${d} (the model's inDim)`);
      checkFinite(fn, `points of set '${s.name}'`, s.points, s.points.length, `points × ${d}`);
    }
  }

  /** M, the number of residuals (points over all sets), for a model of input width d. */
  rows(d: number): number {
    return this.list.reduce((acc, s) => acc + s.points.length / d, 0);
  }

  /** The residuals r [M] (set by set) and L(θ) at θ. */
  evaluate(model: Sequential, theta: Floats): { r: Float64Array; loss: number } {
    return this.evaluateWith(model, theta, false);
  }

  /**
   * evaluate() for a step's line search: it keeps the Taylor passes of its last few trials, so that the
   * next linearize() at the trial the search accepted reuses that forward pass instead of repeating it.
   */
  evaluateTrial(model: Sequential, theta: Floats): { r: Float64Array; loss: number } {
    return this.evaluateWith(model, theta, true);
  }

  private evaluateWith(model: Sequential, theta: Floats, keep: boolean): { r: Float64Array; loss: number } {
    const d = model.inDim;
    const r = new Float64Array(this.rows(d));
    const passes = this.passesAt(model, theta);
    let loss = 0;
    let j0 = 0;
    for (let q = 0; q < this.list.length; q++) {
      const set = this.list[q];
      const n = set.points.length / d;
      const pass = passes[q];
      const p = new PointView(model, set, pass);
      let sum = 0;
      for (let i = 0; i < n; i++) {
        p.at(i);
        const v = set.residual(p.point);
        r[j0 + i] = v;
        sum += v * v;
      }
      loss += (0.5 * set.weight * sum) / n;
      j0 += n;
    }
    if (keep) this.trials.keep(model, theta, this.list, passes);
    return { r, loss };
  }

  /**
   * The linearisation at θ in the library's convention: Sᵀ [M, P] (row j = √(M c_j) ∇_θ r_j: S's
   * columns, each written contiguously) and u [M] (u_j = √(M c_j) r_j), of the model's dtype, with L(θ).
   */
  linearize(model: Sequential, theta: Floats): { st: Floats; u: Floats; loss: number; m: number } {
    const d = model.inDim;
    const m = this.rows(d);
    const st = zeros(model.dtype, model.numParameters * m);
    const u = zeros(model.dtype, m);
    const passes = this.trials.take(model, theta, this.list) ?? this.passesAt(model, theta);
    let loss = 0;
    let j0 = 0;
    for (let q = 0; q < this.list.length; q++) {
      const set = this.list[q];
      const n = set.points.length / d;
      const scale = Math.sqrt((m * set.weight) / n); // √(M c_j)
      const pass = passes[q];
      const { seedRows, r } = this.seeds(model, set, pass, n, () => scale);
      let sum = 0;
      for (let i = 0; i < n; i++) {
        sum += r[i] * r[i];
        u[j0 + i] = scale * r[i];
      }
      taylorBackward(model, pass, n, seedRows, { st, row0: j0 });
      loss += (0.5 * set.weight * sum) / n;
      j0 += n;
    }
    return { st, u, loss, m };
  }

  /** L(θ) and g_θ = Σ_j c_j r_j ∇_θ r_j [P] (float64): the seeds c_j r_j ∂r/∂(·), one backward pass, no S. */
  gradient(model: Sequential, theta: Floats): { loss: number; grad: Float64Array } {
    const d = model.inDim;
    const grad = new Float64Array(model.numParameters);
    let loss = 0;
    for (const set of this.list) {
      const n = set.points.length / d;
      const c = set.weight / n;
      const pass = taylorForward(model, theta, set.points, n, true, this.secondOrder);
      const { seedRows, r } = this.seeds(model, set, pass, n, (v) => c * v);
      let sum = 0;
      for (let i = 0; i < n; i++) sum += r[i] * r[i];
      taylorBackward(model, pass, n, seedRows, { grad });
      loss += (0.5 * set.weight * sum) / n;
    }
    return { loss, grad };
  }

  /** The Taylor pass of each set at θ. */
  private passesAt(model: Sequential, theta: Floats): TaylorPass[] {
    const d = model.inDim;
    return this.list.map((set) => taylorForward(model, theta, set.points, set.points.length / d, true, this.secondOrder));
  }

  /**
   * The residuals r [n] of a set from its Taylor pass, and the backward seeds [n·R, k]: ∂r/∂(u, ∇u, Δu)
   * of each point (the set's partials, else central differences) times factor(r_i).
   */
  private seeds(model: Sequential, set: Set, pass: TaylorPass, n: number, factor: (r: number) => number): { seedRows: Float64Array; r: Float64Array } {
    const d = model.inDim;
    const k = model.outDim;
    const R = pass.rows;
    const diag = pass.second === 'diagonal';
    const seedRows = new Float64Array(n * R * k);
    const r = new Float64Array(n);
    const p = new PointView(model, set, pass);
    const { u: pu, gradient: pg, hessianDiagonal: ph, laplacian: pl } = p.point;
    const partials: ResidualPartials = {
      u: new Float64Array(k),
      gradient: new Float64Array(k * d),
      laplacian: new Float64Array(k),
      hessianDiagonal: new Float64Array(diag ? k * d : 0),
    };
    // central differences in each argument, h = 1e-4·(1 + |value|); in 'diagonal' mode the Laplacian
    // the residual may also read follows the perturbed diagonal
    const diff = (arr: Float64Array, to: Float64Array, row: number) => {
      for (let a = 0; a < arr.length; a++) {
        const v0 = arr[a];
        const h = 1e-4 * (1 + Math.abs(v0));
        const o = Math.floor(a / d);
        arr[a] = v0 + h;
        if (row >= 0) pl[o] += h;
        const fp = set.residual(p.point);
        arr[a] = v0 - h;
        if (row >= 0) pl[o] -= 2 * h;
        const fm = set.residual(p.point);
        arr[a] = v0;
        if (row >= 0) pl[o] += h;
        to[a] = (fp - fm) / (2 * h);
      }
    };
    for (let i = 0; i < n; i++) {
      p.at(i);
      const v = (r[i] = set.residual(p.point));
      if (set.partials) {
        for (const a of [partials.u, partials.gradient, partials.laplacian, partials.hessianDiagonal]) a.fill(0);
        set.partials(p.point, partials);
      } else {
        diff(pu, partials.u, -1);
        diff(pg, partials.gradient, -1);
        if (diag) diff(ph, partials.hessianDiagonal, 0);
        else diff(pl, partials.laplacian, -1);
      }
      const f = factor(v);
      const base = i * R * k;
      for (let o = 0; o < k; o++) {
        seedRows[base + o] = f * partials.u[o];
        for (let j = 0; j < d; j++) seedRows[base + (1 + j) * k + o] = f * partials.gradient[o * d + j];
        if (diag)
          // ∂r/∂D_j directly, plus ∂r/∂Δu through Δu = Σ_j D_j (given partials may use either)
          for (let j = 0; j < d; j++)
            seedRows[base + (1 + d + j) * k + o] = f * (partials.hessianDiagonal[o * d + j] + (set.partials ? partials.laplacian[o] : 0));
        else seedRows[base + (R - 1) * k + o] = f * partials.laplacian[o];
      }
    }
    return { seedRows, r };
  }

  private find(fn: string, set: string | number): Set {
    const s = typeof set === 'number' ? this.list[set] : this.list.find((t) => t.name === set);
    if (!s) throw new RangeError(`${fn}: no set ${describe(set)} (sets: ${this.names.join(', ')})`);
    return s;
  }
}

/**
 * The Taylor passes of the last few line-search trials, each with what it was computed from: the model,
 * θ and every set's points (copied, so that points changed in place or replaced by setPoints() miss).
 * A step's line search tries 2–3 lengths and accepts one of the last three; the next linearize() at
 * that θ takes its passes instead of repeating the forward pass (about a sixth of a step's work). At
 * most three entries of at most 64 MB of passes each; linearize() clears them.
 */
class RecentPasses {
  private entries: { model: Sequential; theta: Float64Array; points: Float64Array[]; passes: TaylorPass[] }[] = [];
  private static readonly MAX = 3;
  private static readonly MAX_BYTES = 64 * 2 ** 20;

  keep(model: Sequential, theta: Floats, sets: readonly Set[], passes: TaylorPass[]): void {
    let bytes = 0;
    for (const p of passes) for (const a of [...p.stages, ...p.derivs]) bytes += a ? a.byteLength : 0;
    if (bytes > RecentPasses.MAX_BYTES) return;
    this.entries.push({ model, theta: Float64Array.from(theta), points: sets.map((s) => Float64Array.from(s.points)), passes });
    if (this.entries.length > RecentPasses.MAX) this.entries.shift();
  }

  /** The passes kept for exactly this model, θ and points, or null; clears the entries either way. */
  take(model: Sequential, theta: Floats, sets: readonly Set[]): TaylorPass[] | null {
    const hit = this.entries.find(
      (e) => e.model === model && same(e.theta, theta) && e.points.length === sets.length && e.points.every((p, q) => same(p, sets[q].points))
    );
    this.entries = [];
    return hit ? hit.passes : null;
  }
}

/** a and b hold the same numbers (as float64; NaN never matches, so a non-finite θ recomputes). */
function same(a: Floats, b: Floats): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A reusable ResidualPoint over the points of a set, filled from its Taylor pass's output rows. */
class PointView {
  readonly point: { x: Floats; u: Float64Array; gradient: Float64Array; laplacian: Float64Array; hessianDiagonal: Float64Array };
  private readonly out: Float64Array;
  constructor(
    model: Sequential,
    private readonly set: Set,
    private readonly pass: TaylorPass
  ) {
    const d = model.inDim;
    const k = model.outDim;
    this.out = pass.stages[pass.stages.length - 1]; // [n·R, k]
    this.point = {
      x: set.points.subarray(0, d),
      u: new Float64Array(k),
      gradient: new Float64Array(k * d),
      laplacian: new Float64Array(k),
      hessianDiagonal: new Float64Array(pass.second === 'diagonal' ? k * d : 0),
    };
  }
  /** Point i: x, u, ∇u, Δu (and the diagonal). */
  at(i: number): void {
    const { point, out } = this;
    const k = point.u.length;
    const d = point.gradient.length / k;
    const R = this.pass.rows;
    const diag = this.pass.second === 'diagonal';
    const base = i * R * k;
    point.x = this.set.points.subarray(i * d, (i + 1) * d);
    for (let o = 0; o < k; o++) {
      point.u[o] = out[base + o];
      let lap = 0;
      for (let j = 0; j < d; j++) {
        point.gradient[o * d + j] = out[base + (1 + j) * k + o];
        if (diag) lap += point.hessianDiagonal[o * d + j] = out[base + (1 + d + j) * k + o];
      }
      point.laplacian[o] = diag ? lap : out[base + (R - 1) * k + o];
    }
  }
}

/**
 * A residual loss over point sets: L = ½ Σ_s w_s · mean r_s(x, u, ∇u, Δu)². Pass it as the `loss` of
 * NaturalGradient (the exact Gauss–Newton / ENGD step), Adam or SGD, and call step() without data:
 *
 *   const loss = residualLoss([
 *     { name: 'interior', points: xi, residual: ({ x, laplacian }) => laplacian[0] + f(x) },
 *     { name: 'boundary', points: xb, residual: ({ x, u }) => u[0] - g(x) },
 *   ]);
 *   const opt = new NaturalGradient(model, { loss, damping: 1e-8, lineSearch: true });
 *   for (let s = 0; s < 1000; s++) opt.step();
 */
export function residualLoss(sets: readonly ResidualSet[], options: ResidualLossOptions = {}): ResidualLoss {
  return new ResidualLoss(sets, options);
}
