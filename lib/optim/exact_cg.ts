// The exact natural gradient's damped system solved matrix-free, by conjugate gradients (./cg.ts), for
// batches whose kernel does not fit in memory (solver 'cg', or 'auto' past the memory available):
//
//   kernel space:    (SᵀS + NλI) c = u − μ Sᵀn₋,            n = S c + μ n₋
//   parameter space: (S Sᵀ + NλI) d = S u − μ S Sᵀ n₋,      n = d + μ n₋
//
// (the same systems as ./exact.ts solves directly). Neither SᵀS nor S is formed: S c and Sᵀv (a
// Jacobian-vector product) come from the layer factors (./s_products.ts), one or two gemms per linear
// layer each, so a product costs O(N·P) and the
// memory stays O(N·r·width + P). λ > 0 makes the system positive definite, as CG needs. Solver
// 'nystrom-pcg' preconditions it with a rank-ℓ Nyström sketch of the kernel (./nystrom.ts), made once per
// batch from ℓ products and kept for the Levenberg–Marquardt retries.
import { type Floats, toDtype, zeros } from '../util/floats';
import type { Task } from '../task';
import { type CgResult, conjugateGradient } from './cg';
import type { ExactConfig } from './exact_config';
import type { ExactSolution, ExactSystem, MomentumTerm } from './exact_types';
import { nystromPreconditioner, nystromSketch, nystromSolve } from './nystrom';
import { sTimes, sTransposeTimes } from './s_products';
import { addMomentum } from './spring';

const now = () => performance.now();

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

export function* solveExactCg(sys: ExactSystem, damping: number, cfg: ExactConfig, momentum?: MomentumTerm, quadratic = true): Task<ExactSolution> {
  const { n, p, u } = sys;
  const d = n * damping; // F_θ + λI = (1/N)(S Sᵀ + NλI)
  const mu = momentum && momentum.mu !== 0 ? momentum.mu : 0;
  const S = (c: ArrayLike<number>) => sTimes(sys, c, zeros(sys.model.dtype, p)); // S c [P]
  const St = (v: Floats) => sTransposeTimes(sys, v); // Sᵀv [N·r], float64
  // the kernel without the damping: SᵀS (kernel space) or S Sᵀ (parameter space)
  const gram =
    sys.space === 'kernel'
      ? function* (v: Float64Array): Task<Float64Array> {
          return yield* St(yield* S(v));
        }
      : function* (v: Float64Array): Task<Float64Array> {
          return Float64Array.from(yield* S(yield* St(toDtype(sys.model.dtype, v))));
        };
  const sketched = cfg.solver === 'nystrom-pcg' || cfg.solver === 'nystrom';
  if (sketched && !sys.warm.sketch) sys.warm.sketch = yield* nystromSketch(gram, sys.space === 'kernel' ? sys.m : p, cfg.sketchRank);
  const sketch = sketched ? sys.warm.sketch : undefined;
  const options = {
    tol: cfg.tolerance,
    maxIterations: cfg.maxIterations,
    x0: sys.warm.x ?? undefined,
    ...(sketch ? { precondition: nystromPreconditioner(sketch, d) } : {}),
  };
  const t0 = now();
  // the right-hand side: u − μ Sᵀn₋ (kernel space) or S u − μ S Sᵀn₋ (parameter space)
  const kernelSpace = sys.space === 'kernel';
  const rhs = Float64Array.from(kernelSpace ? u : sys.su!);
  if (mu !== 0) {
    const sp = kernelSpace ? yield* St(momentum!.previous) : yield* S(yield* St(momentum!.previous));
    for (let i = 0; i < rhs.length; i++) rhs[i] -= mu * sp[i];
  }
  const damped = function* (v: Float64Array): Task<Float64Array> {
    const out = yield* gram(v); // (SᵀS or S Sᵀ) v
    for (let i = 0; i < out.length; i++) out[i] += d * v[i]; // + NλI
    return out;
  };
  let residualNorm: number | undefined;
  let cg: CgResult;
  if (cfg.solver === 'nystrom') {
    // the sketched solve, approximate: x̂ = (Â + NλI)⁻¹ rhs, with its residual from one more product
    const x = nystromSolve(sketch!, d, rhs);
    const ax = yield* damped(x);
    let res = 0;
    for (let i = 0; i < x.length; i++) res += (rhs[i] - ax[i]) ** 2;
    residualNorm = Math.sqrt(res);
    cg = { x, iterations: 0, residual: residualNorm / Math.sqrt(dot(rhs, rhs)), converged: true };
  } else cg = yield* conjugateGradient(damped, rhs, options);
  const direction = kernelSpace ? yield* S(cg.x) : toDtype(sys.model.dtype, cg.x); // n = S c, or n = d
  sys.warm.x = cg.x; // a retry at another λ on the same batch starts from here
  const t1 = now();
  if (mu !== 0) addMomentum(direction, mu, momentum!.previous);
  // 'nystrom': a rigorous bound on the direction's error from the residual r = rhs − (A + NλI)x̂ (A ⪰ 0):
  // parameter space, n − n̂ = (S Sᵀ + NλI)⁻¹ r, so ‖n − n̂‖ ≤ ‖r‖/(Nλ); kernel space, n − n̂ = S (SᵀS + NλI)⁻¹ r
  // and ‖S (SᵀS + NλI)⁻¹‖ = max σ/(σ² + Nλ) ≤ 1/(2√(Nλ)), so ‖n − n̂‖ ≤ ‖r‖/(2√(Nλ))
  const errorBound = residualNorm === undefined ? undefined : residualNorm / ((kernelSpace ? 2 * Math.sqrt(d) : d) * Math.sqrt(dot(direction, direction)));
  let gn = NaN,
    nFn = NaN;
  if (quadratic) {
    const stn = yield* St(direction); // gᵀn = (1/N) uᵀSᵀn, nᵀF_θ n = (1/N)‖Sᵀn‖²
    gn = dot(u, stn) / n;
    nFn = dot(stn, stn) / n;
  }
  const t2 = now();
  return {
    direction,
    solver: cfg.solver === 'nystrom' ? 'nystrom' : sketch ? 'nystrom-pcg' : 'cg',
    ...(errorBound !== undefined ? { errorBound } : {}),
    rank: undefined,
    iterations: cg.iterations,
    ...(sketch ? { sketchRank: sketch.u.length } : {}),
    residual: cg.residual,
    converged: cg.converged,
    gn,
    nFn,
    times: { solve: t1 - t0, update: t2 - t1 },
  };
}
