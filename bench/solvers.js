#!/usr/bin/env node
// npm run bench:solvers [-- --n=20000] [--out=FILE]
//
// The exact step's solvers as the damping falls, on a full-batch regression: 20,000 points of
// y = sin(a·x) + ½x₁x₂ + 0.3cos(3x₃) on x ∈ [−1, 1]⁸ (the data of bench/fullbatch.js), MLP 8-64-64-1 tanh
// (P = 4,801), parameter space (P < N·r), one opt.direction() per solver and λ ∈ {1e-2, 1e-3, 1e-4, 1e-5}:
//   cholesky     the P × P system assembled in chunks and factored
//   cg           conjugate gradients, tolerance 1e-6
//   nystrom-pcg  CG preconditioned by a rank-64 Nyström sketch
//   nystrom      the rank-64 sketched solve alone (approximate; its rigorous error bound)
// Reported: seconds, iterations, the true relative residual, the error bound ('nystrom'), and the relative
// difference from the Cholesky direction. Writes bench/results/solvers.json (a narrowed run:
// solvers.partial.json.tmp) and prints a table.
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const { compactJson, fill, machine, parseArgs, relativeError } = require('./util');

const root = path.resolve(__dirname, '..');
const ng = require(path.join(root, 'dist', 'index.js'));

const args = parseArgs(process.argv.slice(2), ['n', 'out'], 'bench/solvers.js');
const N = Number(args.n ?? 20000);
const D = 8;
const x = fill(N * D, 11, 2);
const a = fill(D, 12, 2);
const y = new Float32Array(N);
for (let i = 0; i < N; i++) {
  let ax = 0;
  for (let j = 0; j < D; j++) ax += a[j] * x[i * D + j];
  y[i] = Math.sin(ax) + 0.5 * x[i * D] * x[i * D + 1] + 0.3 * Math.cos(3 * x[i * D + 2]);
}

const rows = [];
for (const damping of [1e-2, 1e-3, 1e-4, 1e-5]) {
  let exact;
  for (const solver of ['cholesky', 'cg', 'nystrom-pcg', 'nystrom']) {
    const model = ng.mlp(D, [64, 64], 1, 'tanh', { seed: 1 });
    const opt = new ng.NaturalGradient(model, { loss: 'gaussian', damping, adaptive: false, space: 'parameter', solver, sketchRank: 64 });
    const t0 = performance.now();
    const d = opt.direction(x, y, N);
    const seconds = (performance.now() - t0) / 1000;
    if (solver === 'cholesky') exact = d;
    const p = opt.profile;
    const row = {
      damping,
      solver,
      seconds,
      iterations: p.iterations ?? null,
      residual: p.residual ?? null,
      errorBound: p.errorBound ?? null,
      relativeToCholesky: solver === 'cholesky' ? 0 : relativeError(d, exact),
    };
    rows.push(row);
    console.log(
      `λ = ${damping.toExponential(0)}  ${solver.padEnd(11)} ${seconds.toFixed(2).padStart(6)} s` +
        (row.iterations !== null ? `  ${String(row.iterations).padStart(4)} iterations, residual ${row.residual.toExponential(1)}` : '') +
        (row.errorBound !== null ? `  bound ${row.errorBound.toExponential(2)}` : '') +
        (solver !== 'cholesky' ? `  ${row.relativeToCholesky.toExponential(2)} from Cholesky's` : '')
    );
  }
}
const file = args.out ?? path.join(root, 'bench', 'results', args.n !== undefined ? 'solvers.partial.json.tmp' : 'solvers.json');
fs.mkdirSync(path.dirname(file), { recursive: true });
fs.writeFileSync(
  file,
  `${compactJson({
    bench: 'solvers',
    machine: machine(ng),
    problem: `${N} points in [−1, 1]^${D}, MLP ${D}-64-64-1 tanh (P = 4801), gaussian, parameter space, one direction() each, sketch rank 64`,
    rows,
  })}\n`
);
console.log(`wrote ${path.relative(process.cwd(), file)}`);
