// The products S c and Sᵀv (lib/optim/s_products.ts) in both exact forms — by layer (r = 1) and by
// seeds (r > 1: the seeds combined first, one backpropagation or forward-mode pass of N rows) — against
// S = J·blockdiag(L_i) formed in float64 from the float64 Jacobian (test/helpers/reference.ts) and the
// float32 seeds. Each entry of either product is a float32 sum of at most P (or N·r) terms of modest
// size with random signs: its error is ~√terms·u·(Σ|terms|) ≈ 1e-6 relative for these sizes, so 1e-5
// in the norm leaves room while any wrong index or missing term (errors of order 1) fails.
import { describe, expect, it } from 'vitest';
import type { Sequential } from '../lib/index';
import { categorical, gaussian } from '../lib/distributions';
import { linearizeExact } from '../lib/optim/exact';
import { byLayerTranspose, sTimes, sTransposeTimes } from '../lib/optim/s_products';
import { runSync } from '../lib/task';
import { buildModel, mlp, randomParams, problem } from './helpers/models';
import { type Arch, jacobian64, type Loss, outDim, relErr, testRng } from './helpers/reference';

const CASES: { name: string; loss: Loss; arch: Arch }[] = [
  { name: 'gaussian, one output (r = 1: by layer)', loss: 'gaussian', arch: mlp([3, 7, 5, 1], 'tanh') },
  { name: 'gaussian, two outputs (r = 2: by seeds)', loss: 'gaussian', arch: mlp([3, 6, 2], 'gelu') },
  { name: 'categorical, 4 classes (r = 3: by seeds)', loss: 'categorical', arch: mlp([4, 8, 6, 4], 'relu') },
  // an activation after the last linear layer: backpropagation scales the seeds in place, the products must not see that
  { name: 'categorical with a final activation (by seeds)', loss: 'categorical', arch: [...mlp([3, 5, 3], 'tanh'), 'softplus'] },
];

describe('S c and Sᵀv', () => {
  for (const { name, loss, arch } of CASES) {
    it(`${name}: both against float64`, () => {
      const pr = problem(loss, arch, 6, 17);
      const model: Sequential = buildModel(arch);
      model.setParameters(pr.theta);
      const family = loss === 'gaussian' ? gaussian : categorical;
      const lin = runSync(linearizeExact({ fn: 't', model, theta: model.params, family, x: pr.x, y: pr.y, n: pr.n }));
      const k = outDim(arch);
      const { r } = lin;
      const P = model.numParameters;
      const M = pr.n * r;
      // S64 [P, M]: S[p, (i,m)] = Σ_j J[p, (i,j)] · seed_(i,m)[j]
      const jac = jacobian64(arch, pr.theta, pr.x, pr.n); // [P, N·k]
      const s64 = new Float64Array(P * M);
      for (let p = 0; p < P; p++)
        for (let i = 0; i < pr.n; i++)
          for (let m = 0; m < r; m++) {
            let acc = 0;
            for (let j = 0; j < k; j++) acc += jac[p * pr.n * k + i * k + j] * lin.seeds[(i * r + m) * k + j];
            s64[p * M + i * r + m] = acc;
          }
      const rng = testRng(5);
      const c = Float32Array.from({ length: M }, () => rng.normal());
      const v = randomParams(arch, 9);
      const sc = runSync(sTimes(lin, c, new Float32Array(P)));
      const stv = runSync(sTransposeTimes(lin, v));
      const sc64 = new Float64Array(P);
      const stv64 = new Float64Array(M);
      for (let p = 0; p < P; p++)
        for (let q = 0; q < M; q++) {
          sc64[p] += s64[p * M + q] * c[q];
          stv64[q] += s64[p * M + q] * v[p];
        }
      expect(relErr(sc, sc64)).toBeLessThan(1e-5);
      expect(relErr(stv, stv64)).toBeLessThan(1e-5);
      // the by-layer form on the same batch agrees (it is what r = 1 runs; for r > 1 a second exact form)
      expect(relErr(runSync(byLayerTranspose(model, lin.trace, lin.bs, r, v)), stv64)).toBeLessThan(1e-5);
    });
  }
});
