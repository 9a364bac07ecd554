#!/usr/bin/env node
// npm run bench:scale [-- --sizes=2048,8192,16384] [--cg-only=32768,65536] [--out=FILE] [--replot[=FILE]]
//
// Past one Gram in memory: the exact natural-gradient direction of an MLP 784-256-256-10 (relu,
// categorical, r = 9 kernel rows per sample, λ = 1e-3) at kernel sizes N·r, solved directly (solver
// 'cholesky': the N·r × N·r kernel assembled layer by layer and factored) and matrix-free (solver 'cg':
// conjugate gradients whose products S c and Sᵀv come from the layer factors, the kernel never formed),
// also preconditioned by a rank-64 Nyström sketch (solver 'nystrom-pcg'). Each run is one
// opt.direction() in a child process of its own, so that its peak resident memory (VmHWM, minus the
// child's resident memory before the call) is its own. Reported per size and solver: seconds, peak RSS,
// CG's iterations and true relative residual, and the relative difference ‖n − n_cholesky‖/‖n_cholesky‖
// where both ran. Sizes in --cg-only run the iterative solvers alone (the Cholesky needs (N·r)²·8 bytes
// and (N·r)³/3 flops there). Writes bench/results/scale.json (a narrowed run:
// bench/results/scale.partial.json.tmp) with the figure beside it (scale.svg: seconds and peak MB against
// N·r, log-log), and prints a table. --replot redraws the figure from the JSON.
'use strict';

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { compactJson, fill, machine, numberList, parseArgs, procStatus, relativeError, resetPeak } = require('./util');

const root = path.resolve(__dirname, '..');
const WIDTHS = [784, 256, 256, 10];
const R = 9;
const DAMPING = 1e-3;

function child(args) {
  const ng = require(path.join(root, 'dist', 'index.js'));
  const n = Number(args.n);
  const layers = [];
  for (let l = 0; l + 1 < WIDTHS.length; l++) {
    layers.push(ng.linear(WIDTHS[l], WIDTHS[l + 1]));
    if (l + 2 < WIDTHS.length) layers.push(ng.relu());
  }
  const model = ng.sequential(layers, { seed: 1 });
  const x = fill(n * WIDTHS[0], 7);
  const y = Float32Array.from({ length: n }, (_, i) => i % 10);
  const opt = new ng.NaturalGradient(model, { loss: 'categorical', damping: DAMPING, adaptive: false, space: 'kernel', solver: args.solver });
  const before = procStatus('VmRSS');
  resetPeak();
  const t0 = performance.now();
  const d = opt.direction(x, y, n);
  const seconds = (performance.now() - t0) / 1000;
  const peak = procStatus('VmHWM') - before;
  fs.writeFileSync(args.dump, Buffer.from(d.buffer, d.byteOffset, d.byteLength));
  const p = opt.profile;
  process.stdout.write(
    JSON.stringify({
      seconds,
      peakBytes: peak,
      solver: p.solver,
      iterations: p.iterations ?? null,
      sketchRank: p.sketchRank ?? null,
      residual: p.residual ?? null,
      phases: { kernel: p.kernel, solve: p.solve },
    })
  );
}

/** The figure beside the JSON: time and peak memory against N·r, log-log, one line per solver. */
function plot(result, file) {
  const svg = require(path.join(root, 'dist', 'plot', 'svg.js'));
  const series = (solver, key, scale) => {
    const ok = result.rows.filter((r) => r.solver === solver && !r.error);
    const names = { cholesky: 'Cholesky', cg: 'conjugate gradients', 'nystrom-pcg': 'Nyström-preconditioned CG' };
    return { name: names[solver], x: ok.map((r) => r.size), y: ok.map((r) => r[key] * scale), dash: solver !== 'cholesky' };
  };
  const panels = [
    {
      series: ['cholesky', 'cg', 'nystrom-pcg'].map((s) => series(s, 'seconds', 1)),
      options: { title: 'one exact direction', xLabel: 'N·r', yLabel: 'seconds', logX: true, logY: true },
    },
    {
      series: ['cholesky', 'cg', 'nystrom-pcg'].map((s) => series(s, 'peakBytes', 1e-6)),
      options: { title: 'peak memory', xLabel: 'N·r', yLabel: 'MB', logX: true, logY: true },
    },
  ];
  const svgFile = file.replace(/\.json(\.tmp)?$/, '.svg$1');
  fs.writeFileSync(svgFile, svg.lineCharts(panels, { columns: 2, title: `natgrad ${result.problem}` }));
  return svgFile;
}

function main() {
  const args = parseArgs(process.argv.slice(2), ['sizes', 'cg-only', 'out', 'child', 'n', 'solver', 'dump', 'replot'], 'bench/scale.js');
  if (args.child) return child(args);
  if (args.replot) {
    // --replot: the figure again from a results file (default bench/results/scale.json), without measuring
    const file = typeof args.replot === 'string' ? args.replot : path.join(root, 'bench', 'results', 'scale.json');
    return console.log(`wrote ${path.relative(process.cwd(), plot(JSON.parse(fs.readFileSync(file, 'utf8')), file))}`);
  }
  const sizes = args.sizes ? numberList(args.sizes) : [2048, 8192, 16384];
  const cgOnly = args['cg-only'] !== undefined ? numberList(args['cg-only']) : [32768, 65536];
  const partial = args.sizes !== undefined || args['cg-only'] !== undefined;
  const ng = require(path.join(root, 'dist', 'index.js'));
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'natgrad-scale-'));
  const rows = [];
  const run = (size, solver) => {
    const n = Math.round(size / R);
    const dump = path.join(tmp, `${solver}-${size}.f32`);
    const r = spawnSync(process.execPath, [__filename, '--child', `--n=${n}`, `--solver=${solver}`, `--dump=${dump}`], {
      encoding: 'utf8',
      maxBuffer: 1 << 20,
    });
    if (r.status !== 0) return { size: n * R, n, solver, error: (r.stderr || '').trim().split('\n').pop() };
    const out = JSON.parse(r.stdout);
    return { size: n * R, n, ...out, dump };
  };
  for (const size of [...sizes, ...cgOnly]) {
    const direct = sizes.includes(size) ? run(size, 'cholesky') : null;
    const cg = run(size, 'cg');
    const pcg = run(size, 'nystrom-pcg');
    for (const it of [cg, pcg])
      if (direct && !direct.error && !it.error) {
        const a = new Float32Array(fs.readFileSync(direct.dump).buffer.slice(0));
        const b = new Float32Array(fs.readFileSync(it.dump).buffer.slice(0));
        it.relativeToCholesky = relativeError(b, a);
      }
    for (const r of [direct, cg, pcg]) {
      if (!r) continue;
      delete r.dump;
      rows.push(r);
      const mb = (b) => (Number.isFinite(b) ? `${(b / 1e6).toFixed(0)} MB` : '—');
      console.log(
        `N·r = ${String(r.size).padStart(6)}  ${r.solver?.padEnd(8) ?? ''}  ${r.error ? `failed: ${r.error}` : `${r.seconds.toFixed(2).padStart(7)} s  peak ${mb(r.peakBytes).padStart(8)}`}` +
          (r.iterations ? `  ${r.iterations} iterations${r.sketchRank ? ` (sketch ${r.sketchRank})` : ''}, residual ${r.residual.toExponential(1)}` : '') +
          (r.relativeToCholesky !== undefined ? `, ${r.relativeToCholesky.toExponential(1)} from Cholesky's` : '')
      );
    }
  }
  fs.rmSync(tmp, { recursive: true, force: true });
  const file = args.out ?? path.join(root, 'bench', 'results', partial ? 'scale.partial.json.tmp' : 'scale.json');
  const result = {
    bench: 'scale',
    machine: machine(ng),
    problem: `MLP ${WIDTHS.join('-')} relu, categorical (r = ${R}), λ = ${DAMPING} fixed, kernel space, one direction() per child process`,
    targets: 'N·r = 64k in ≤ 30 s and ≤ 8 GB; within 1e-3 of the exact direction where Cholesky runs',
    rows,
  };
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${compactJson(result)}\n`);
  const svgFile = plot(result, file);
  console.log(`wrote ${path.relative(process.cwd(), file)}, ${path.relative(process.cwd(), svgFile)}`);
}

main();
