// A step of the proposal's methods ('per-sample', 'chain') as a solver for any λ, like the exact one:
// their direction n at λ, with the two numbers of the local quadratic model that the Levenberg–Marquardt
// rule and the trust region need, from the batch's linearisation (./exact.ts):
//   gᵀn = (1/N) uᵀ(Sᵀn),   nᵀF_θ n = (1/N) ‖Sᵀn‖²
// with Sᵀn one Jacobian-vector product of n (./s_products.ts), in float64.
import type { Task } from '../task';
import type { StepBatch } from './batch';
import type { ExactResult, ExactSolution, Linearization, StepProfile } from './exact';
import { sTransposeTimes } from './s_products';

export function proposalSolver(
  b: StepBatch,
  lin: Linearization,
  directionAt: (lambda: number) => Task<ExactResult>
): { solveAt: (lambda: number) => Task<ExactSolution>; profile: () => StepProfile } {
  let last: StepProfile;
  function* solveAt(lambda: number): Task<ExactSolution> {
    const res = yield* directionAt(lambda);
    last = res.profile;
    const stn = yield* sTransposeTimes(lin, res.direction); // Sᵀn
    let gn = 0,
      nFn = 0;
    for (let i = 0; i < stn.length; i++) {
      gn += lin.u[i] * stn[i];
      nFn += stn[i] * stn[i];
    }
    return { direction: res.direction, solver: res.profile.solver, rank: res.profile.rank, gn: gn / b.n, nFn: nFn / b.n, times: { solve: 0, update: 0 } };
  }
  return { solveAt, profile: () => last };
}
