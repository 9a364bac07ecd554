// natgrad's own CPU kernels vs OpenBLAS's, on this machine, in the same run: the figures behind the
// `auto` choice of NATGRAD_CPU_GEMM (native/cpu/gemm_nt.cc, use_own_gemm). Each setting runs in a
// child process (the setting is read once, when the addon loads) on the same inputs; the children
// alternate, `--rounds` times, and each figure is the median of its rounds.
//   npm run bench:paths [-- --rounds=3 --own=natgrad|natgrad-avx2|natgrad-portable --out=FILE]
// --own=natgrad-avx2 compares the micro-kernel an AVX2 CPU runs, --own=natgrad-portable the plain-loop
// one, with OpenBLAS's kernels. (The openblas child's layerGramSum still runs natgrad's widest kernel for
// this CPU, so on an AVX-512 machine the exact step's comparison favours OpenBLAS.)
// It runs with the machine's OpenBLAS kernels as they are; to see another OpenBLAS kernel set, start
// it as e.g. `OPENBLAS_CORETYPE=Cooperlake npm run bench:paths` (that command alone: tests and CI
// never change OPENBLAS_CORETYPE). Writes bench/results/cpu_paths-<cpu vendor>-<OpenBLAS core>[-avx2|-portable].json;
// every file also names the CPU model, its vector level and the kernels each setting ran (machine, kernels).
'use strict';

const { spawnSync } = require('node:child_process');
const path = require('node:path');
const { root, parseArgs, fill, median, round, machine, outFile, writeJson } = require('./util');

function child() {
  const ng = require(path.join(root, 'dist', 'index.js'));
  const best = (fn, reps) => {
    fn();
    let t = Infinity;
    for (let r = 0; r < reps; r++) {
      const t0 = performance.now();
      fn();
      t = Math.min(t, performance.now() - t0);
    }
    return t;
  };
  const out = { kernels: ng.backend().kernels, blas: ng.backend().blas, rows: [] };
  for (const m of [1024, 2048]) {
    const a = fill(m * m, 1),
      b = fill(m * m, 2);
    const ms = best(() => ng.gemm(a, b, m, m, m), 5);
    out.rows.push({ name: `gemm M=${m}`, ms, gflops: (2 * m ** 3) / ms / 1e6 });
  }
  for (const m of [1024, 2048, 4096]) {
    const j = fill(m * (m + 64), 3);
    const k = ng.gram(j, m + 64, m);
    const r = fill(m, 4);
    const ms = best(() => ng.choleskySolve(k, m, r, 1, { damping: 1e-3 }), m >= 4096 ? 2 : 4);
    out.rows.push({ name: `choleskySolve float32 M=${m}`, ms, gflops: m ** 3 / 3 / ms / 1e6 });
  }
  // one exact step of the 784-256-256-10 MLP at N = 256 (N·r = 2304): the optimizer's whole path
  const model = ng.sequential([ng.linear(784, 256), ng.tanh(), ng.linear(256, 256), ng.tanh(), ng.linear(256, 10)], { seed: 1 });
  const x = fill(256 * 784, 5),
    y = Float32Array.from({ length: 256 }, (_, i) => i % 10);
  const theta = model.getParameters();
  const opt = new ng.NaturalGradient(model, { loss: 'categorical', adaptive: false, damping: 1e-3 });
  const ms = best(() => {
    model.setParameters(theta);
    opt.step(x, y, 256);
  }, 4);
  out.rows.push({ name: 'exact step 784-256-256-10 N=256', ms });
  process.stdout.write(JSON.stringify(out));
}

function main() {
  const args = parseArgs(process.argv.slice(2), ['rounds', 'own', 'out'], 'bench/cpu_paths.js');
  const rounds = Number(args.rounds ?? 3);
  const own = args.own ?? 'natgrad';
  if (!['natgrad', 'natgrad-avx2', 'natgrad-portable'].includes(own))
    throw new Error(`bench/cpu_paths.js: --own must be natgrad, natgrad-avx2 or natgrad-portable, got ${own}`);
  const SETTINGS = [own, 'openblas'];
  const ng = require(path.join(root, 'dist', 'index.js'));
  const runs = Object.fromEntries(SETTINGS.map((s) => [s, []]));
  for (let r = 0; r < rounds; r++)
    for (const setting of r % 2 ? [...SETTINGS].reverse() : SETTINGS) {
      const c = spawnSync(process.execPath, [__filename, '--child'], { encoding: 'utf8', env: { ...process.env, NATGRAD_CPU_GEMM: setting } });
      if (c.status !== 0) throw new Error(`${setting}: ${c.stderr}`);
      runs[setting].push(JSON.parse(c.stdout));
    }
  const names = runs[own][0].rows.map((row) => row.name);
  const rows = names.map((name, i) => {
    const t = Object.fromEntries(SETTINGS.map((s) => [s, median(runs[s].map((run) => run.rows[i].ms))]));
    return { name, natgrad_ms: round(t[own], 2), openblas_ms: round(t.openblas, 2), openblas_over_natgrad: round(t.openblas / t[own], 3) };
  });
  const core = ng.backend().blas.split(' ').pop();
  const result = {
    what: `natgrad's own kernels (NATGRAD_CPU_GEMM=${own}) vs OpenBLAS (=openblas), median of rounds; ratio > 1: natgrad faster`,
    own,
    machine: machine(ng),
    openblas_core: core,
    openblas_coretype_env: process.env.OPENBLAS_CORETYPE ?? null,
    rounds,
    kernels: Object.fromEntries(SETTINGS.map((s) => [s, runs[s][0].kernels])),
    rows,
  };
  for (const row of rows)
    console.log(
      `${row.name.padEnd(36)} ${own} ${String(row.natgrad_ms).padStart(8)} ms   openblas ${String(row.openblas_ms).padStart(8)} ms   ×${row.openblas_over_natgrad}`
    );
  const vendor = /amd/i.test(result.machine.cpu) ? 'amd' : /intel/i.test(result.machine.cpu) ? 'intel' : 'cpu';
  writeJson(outFile(args, `cpu_paths-${vendor}-${core}${own === 'natgrad' ? '' : own.slice('natgrad'.length)}`), result);
}

if (process.argv[2] === '--child') child();
else main();
