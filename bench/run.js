#!/usr/bin/env node
// npm run bench [-- --quick]    (= tsc -p tsconfig.json && node bench/run.js)
// natgrad bench [--quick]       (the same, from the CLI)
//
// The benchmark suite (issue #6). Runs four sections one after the other, each in its own child
// process (which starts further children where a measurement needs a fresh process: the ceiling
// program, one process per peak-memory figure), then writes from their JSON:
//   bench/results/<section>.json   kernels, alternatives, scaling, training (written by the sections)
//   bench/results/<section>.svg    one figure per section (lib/plot/svg.ts, from dist/)
//   bench/results/SUMMARY.md       the tables, the three targets with their measured figures
//   bench/results/run.json         what ran: command, wall time per section, load averages
//
//   1. kernels       bench/native.js + bench/ceiling.c: every native kernel against a plain C
//                    program calling the same OpenBLAS on the same data; JS→native call overhead
//   2. alternatives  bench/alternatives.js: the natural-gradient direction vs ml-matrix and tfjs
//   3. scaling       bench/scaling.js: step time and peak memory vs N·k; layer trick vs dense J
//   4. training      bench/training.js: time to a target loss, NGD vs Adam, the demo's problems
//
// Options:
//   --quick            small sizes and few repetitions (< 1 minute; a smoke test: CI runs it without
//                      asserting speeds); writes to bench/results/quick.tmp/ (git-ignored)
//   --only=a,b         run only these sections (the summary still reads the others' last JSON)
//   --out-dir=DIR      write there instead
//   --summary-only     run nothing: redraw the SVGs and SUMMARY.md from the JSON already in the folder
// Exit status: 0 when every section ran (whatever the figures), 1 otherwise. Build first
// (npx cmake-js compile, npx tsc -p tsconfig.json); section 1 needs a C compiler (cc).
'use strict';

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const u = require('./util');

const args = u.parseArgs(process.argv.slice(2), ['quick', 'only', 'out-dir', 'summary-only'], 'bench/run.js');
const quick = !!args.quick;
const outDir = path.resolve(args['out-dir'] ?? path.join(u.root, 'bench', 'results', ...(quick ? ['quick.tmp'] : [])));

const SECTIONS = [
  {
    name: 'kernels',
    script: 'native.js',
    args: quick ? ['--quick', '--sizes=128,256', '--pause=10'] : ['--sizes=256,1024,2048', '--max-reps=9'],
    what: 'kernels vs the direct-OpenBLAS ceiling',
  },
  { name: 'alternatives', script: 'alternatives.js', args: quick ? ['--quick'] : [], what: 'natural-gradient direction vs ml-matrix and tfjs' },
  { name: 'scaling', script: 'scaling.js', args: quick ? ['--quick'] : [], what: 'step time and peak memory vs N·k; layer trick vs dense J' },
  { name: 'training', script: 'training.js', args: quick ? ['--quick'] : [], what: 'time to target loss, NGD vs Adam' },
];
const only = args.only ? String(args.only).split(',') : null;
if (only)
  for (const o of only)
    if (!SECTIONS.some((s) => s.name === o)) throw new Error(`bench/run.js: --only: unknown section '${o}' (${SECTIONS.map((s) => s.name).join(', ')})`);

function runSection(s) {
  return new Promise((resolve) => {
    const file = path.join(outDir, `${s.name}.json`);
    const argv = [path.join(__dirname, s.script), ...s.args, `--out=${file}`];
    console.log(
      `\n=== ${s.name}: ${s.what}\n$ node ${path.relative(u.root, argv[0])} ${argv
        .slice(1)
        .map((a) => a.replace(u.root + path.sep, ''))
        .join(' ')}`
    );
    const t0 = Date.now();
    const loadBefore = os.loadavg().map((l) => u.round(l, 2));
    const child = spawn(process.execPath, argv, { stdio: 'inherit', cwd: u.root });
    child.on('exit', (code, signal) => {
      resolve({
        name: s.name,
        ok: code === 0,
        code,
        signal,
        wall_s: u.round((Date.now() - t0) / 1000, 1),
        load_before: loadBefore,
        load_after: os.loadavg().map((l) => u.round(l, 2)),
      });
    });
  });
}

const read = (name) => {
  try {
    return JSON.parse(fs.readFileSync(path.join(outDir, `${name}.json`), 'utf8'));
  } catch {
    return null;
  }
};

// ---------------------------------------------------------------- figures

function figures(data, svg) {
  const out = {};
  const { kernels, alternatives, scaling, training } = data;
  if (kernels?.results?.length) {
    const names = [...new Set(kernels.results.map((r) => r.kernel))];
    out.kernels = svg.lineCharts(
      names.map((k) => {
        const rows = kernels.results.filter((r) => r.kernel === k);
        const x = rows.map((r) => r.M);
        return {
          series: [
            { name: 'natgrad', x, y: rows.map((r) => r.natgrad.gflops) },
            { name: 'ceiling (C + OpenBLAS)', x, y: rows.map((r) => r.ceiling.gflops), dash: true },
          ],
          options: { title: k, xLabel: k === 'batchedGramInverse' ? 'batch (matrices)' : 'M', yLabel: 'GFLOP/s', logX: true, yMin: 0 },
        };
      }),
      { columns: 3, title: 'natgrad kernels vs a plain C program calling OpenBLAS directly (same data, same library)' }
    );
  }
  if (alternatives?.results?.length) {
    const rows = alternatives.results;
    const x = rows.map((r) => r.M);
    const names = [...new Set(rows.flatMap((r) => r.alternatives.map((a) => a.name)))];
    const alt = (n, f) =>
      rows.map((r) => {
        const a = r.alternatives.find((v) => v.name === n);
        return a && a.agrees ? f(a) : NaN;
      });
    out.alternatives = svg.lineCharts(
      [
        {
          series: [
            { name: `natgrad (${rows[0].natgrad.threads} threads)`, x, y: rows.map((r) => r.natgrad.median_ms) },
            { name: 'natgrad (1 thread)', x, y: rows.map((r) => r.natgrad_1thread.median_ms), dash: true },
            ...(rows.some((r) => r.natgrad_tuned)
              ? [
                  {
                    name: `natgrad (${rows.find((r) => r.natgrad_tuned).natgrad_tuned.env})`,
                    x,
                    y: rows.map((r) => r.natgrad_tuned?.median_ms ?? NaN),
                    dash: true,
                  },
                ]
              : []),
            ...names.map((n) => ({ name: n, x, y: alt(n, (a) => a.median_ms) })),
          ],
          options: { title: `natural-gradient direction, ${alternatives.problem.model}`, xLabel: 'N·k (kernel size)', yLabel: 'ms', logX: true, logY: true },
        },
        {
          series: [
            ...names.map((n) => ({ name: `${n} / natgrad`, x, y: alt(n, (a) => a.speedup) })),
            { name: 'target 30×', x: [x[0], x[x.length - 1]], y: [30, 30], dash: true },
          ],
          options: { title: 'time ratio: alternative / natgrad', xLabel: 'N·k', yLabel: '×', logX: true, logY: true },
        },
      ],
      { columns: 2, title: 'natgrad vs what a Node user would pick instead' }
    );
  }
  if (scaling?.sweep?.length) {
    const s = scaling.sweep;
    const x = s.map((r) => r.Nk);
    const fitLine = (f, xs) => xs.map((v) => f.coefficient * v ** f.exponent);
    const fx = s.filter((r) => r.N >= scaling.fits.time.from_N).map((r) => r.Nk);
    const pairs = scaling.layer_vs_dense ?? [];
    out.scaling = svg.lineCharts(
      [
        {
          series: [
            { name: 'exact step (layer trick)', x, y: s.map((r) => r.median_ms) },
            { name: `fit ∝ (N·k)^${scaling.fits.time.exponent}`, x: fx, y: fitLine(scaling.fits.time, fx), dash: true },
          ],
          options: { title: 'step time, MLP 784-256-256-10', xLabel: 'N·k', yLabel: 'ms', logX: true, logY: true },
        },
        {
          series: [
            { name: 'peak − idle process', x, y: s.map((r) => r.over_idle_mb) },
            { name: 'peak − before the step', x, y: s.map((r) => r.step_delta_mb) },
            { name: `fit ∝ (N·k)^${scaling.fits.memory_step_delta.exponent}`, x: fx, y: fitLine(scaling.fits.memory_step_delta, fx), dash: true },
          ],
          options: { title: 'peak resident memory of one step', xLabel: 'N·k', yLabel: 'MiB', logX: true, logY: true },
        },
        ...(pairs.length
          ? [
              {
                series: [
                  { name: 'layer trick', x: pairs.map((p) => p.Nk), y: pairs.map((p) => p.layer.over_idle_mb) },
                  { name: 'materialised J (dense)', x: pairs.map((p) => p.Nk), y: pairs.map((p) => p.dense.over_idle_mb) },
                ],
                options: { title: 'layer trick vs materialised J: peak − idle', xLabel: 'N·k', yLabel: 'MiB', logX: true, logY: true },
              },
              {
                series: [
                  { name: 'layer trick', x: pairs.map((p) => p.Nk), y: pairs.map((p) => p.layer.first_step_ms) },
                  { name: 'materialised J (dense)', x: pairs.map((p) => p.Nk), y: pairs.map((p) => p.dense.first_step_ms) },
                ],
                options: { title: 'layer trick vs materialised J: first step', xLabel: 'N·k', yLabel: 'ms', logX: true, logY: true },
              },
            ]
          : []),
      ],
      { columns: 2, title: 'scaling of the exact natural-gradient step' }
    );
  }
  if (training?.problems?.length) {
    out.training = svg.lineCharts(
      training.problems.map((p) => {
        const all = p.optimizers.flatMap((o) => o.curve.map((c) => c.t)).filter((t) => t > 0);
        const tMax = Math.max(...all, 1e-3);
        return {
          series: [
            ...p.optimizers.map((o) => ({ name: `${o.label} (lr ${o.lr})`, x: o.curve.map((c) => c.t), y: o.curve.map((c) => c.value) })),
            { name: `target ${fT(p.primary_target)}`, x: [0, tMax], y: [p.primary_target, p.primary_target], dash: true },
          ],
          options: { title: `${p.name}: ${p.metric}`, xLabel: 'training seconds', yLabel: p.metric, logY: true },
        };
      }),
      { columns: 2, title: 'time to target: NGD vs Adam on the demo problems' }
    );
  }
  return out;
}

// ---------------------------------------------------------------- SUMMARY.md

const f1 = (v) => (v === null || v === undefined || !Number.isFinite(v) ? '—' : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
const fT = (t) => (t < 1e-2 ? t.toExponential(0) : String(t));
const f3 = (v) => (v === null || v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(3));
const verdict = (ok) => (ok === null || ok === undefined ? 'not measured' : ok ? '**met**' : '**not met**');
const table = (head, rows) =>
  [`| ${head.join(' | ')} |`, `| ${head.map((_h, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');

function kernelTarget(k) {
  const big = (k?.results ?? []).filter((r) => r.M >= 1024);
  if (!big.length) return { met: null, text: 'no size ≥ 1024 in this run' };
  const low = big.filter((r) => r.ratio < 0.9);
  const worst = big.reduce((a, b) => (a.ratio <= b.ratio ? a : b));
  return {
    met: low.length === 0,
    text:
      `lowest ${f3(worst.ratio)} (${worst.kernel}, M = ${worst.M})` +
      (low.length ? `; below 0.90: ${low.map((r) => `${r.kernel} M=${r.M} ${f3(r.ratio)}`).join(', ')}` : '; all ≥ 0.90'),
  };
}

function summary(data, run) {
  const { kernels, alternatives, scaling, training } = data;
  const m = alternatives?.machine ?? scaling?.machine ?? training?.machine ?? null;
  const L = [];
  L.push('# natgrad benchmark summary', '');
  L.push(`Written by \`${run.command}\` on ${run.date}${run.quick ? ' — **--quick run: small sizes, few repetitions; the figures are not meaningful**' : ''}.`);
  if (m)
    L.push(
      `Machine: ${m.cpu}, ${m.cores} cores, ${m.memory_gib} GiB, Node ${m.node}; natgrad backend ${m.backend.name} (${m.backend.blas}, ${m.backend.threads} threads), environment as given` +
        (m.backend.note ? ` (backend note: ${m.backend.note})` : '') +
        '.' +
        (m.path
          ? ` CPU path: ${m.cpu_isa} CPU, OpenBLAS ${m.path.openblas_core} (${m.path.openblas_isa}) kernels, NATGRAD_CPU_GEMM=${m.path.setting}: gemm ${m.path.gemm}, float32 Cholesky ${m.path.cholesky}, natgrad micro-kernel ${m.path.micro_kernel}.`
          : '')
    );
  if (run.sections?.length)
    L.push(
      `Wall time: ${run.sections.map((s) => `${s.name} ${f1(s.wall_s)} s`).join(', ')}; total ${f1(run.wall_s)} s. ` +
        `Load average (1 min) at the start of each section: ${run.sections.map((s) => `${s.name} ${s.load_before[0]}`).join(', ')} — the machine is shared; every comparison below is a ratio of figures measured in the same run, back to back.`
    );
  L.push(
    '',
    'Figures: `kernels.svg`, `alternatives.svg`, `scaling.svg`, `training.svg` beside this file; the numbers behind every line are in the JSON of the same name.',
    ''
  );

  // targets
  L.push('## Targets', '');
  const kt = kernelTarget(kernels);
  const at = alternatives?.target;
  const st = scaling?.target;
  L.push(
    table(
      ['target', 'measured', 'verdict'],
      [
        ['each kernel ≥ 90% of the direct-OpenBLAS ceiling at M ≥ 1024 (paired median ratio)', kernels ? kt.text : 'not run', verdict(kernels ? kt.met : null)],
        [
          'exact natural-gradient direction ≥ 30× faster than the fastest JS alternative at N·k ≥ 1024',
          [
            at?.measured?.length
              ? at.measured
                  .map(
                    (r) =>
                      `N·k = ${r.M}: ${f1(r.speedup)}× vs ${r.fastest} (natgrad on 1 thread: ${f1(r.speedup_vs_1thread)}×${r.speedup_tuned !== undefined ? `; with ${at.tuned_env}: ${f1(r.speedup_tuned)}×` : ''})`
                  )
                  .join('; ')
              : 'not run at N·k ≥ 1024',
          ].join('') +
            (alternatives?.wide?.fastest_alternative
              ? ` — on the demo's MNIST MLP (P = ${alternatives.wide.P.toLocaleString('en-US')}) at N·k = ${alternatives.wide.M}: ${f1(alternatives.wide.fastest_alternative.speedup)}× vs ${alternatives.wide.fastest_alternative.name} (${alternatives.wide.alternatives.find((a) => a.name === alternatives.wide.fastest_alternative.name)?.reps} rep)`
              : ''),
          verdict(at?.met) + (at?.tuned_env ? `; with ${at.tuned_env}: ${verdict(at.met_tuned)}` : ''),
        ],
        [
          'peak memory of the exact step with the layer trick ≤ 1/10 of the materialised-J version (784-256-256-10, N = 256)',
          st
            ? `layer ${f1(st.layer_mb)} MiB vs dense ${f1(st.dense_mb)} MiB over an idle process: ${f3(st.fraction)} (step's own increase: ${f3(st.fraction_step_delta)})${st.at_target_size ? '' : ' — not at N = 256 in this run'}`
            : 'not run',
          verdict(st && st.at_target_size ? st.met : null),
        ],
      ]
    ),
    ''
  );

  // 1. kernels
  L.push('## 1. Kernels vs the ceiling', '');
  if (!kernels) L.push('Not run.', '');
  else {
    L.push(
      `natgrad's kernels (sync form, preallocated outputs) against \`bench/ceiling.c\`, a plain C program calling the same static OpenBLAS (${kernels.ceiling?.corename ?? '?'} kernels, ${kernels.ceiling?.threads ?? '?'} threads) on bit-identical inputs, run alternately; ratio = median over repetitions of ceiling time / natgrad time for the two calls made back to back (> 1: natgrad faster). ` +
        'Ceilings: gram — ssyrk + tiled mirror; layerGram — 2 ssyrk + tiled Hadamard loop; choleskySolve — copy + spotrf + spotrs; pinvSolve — copy + ssyevd + cutoff + 2 sgemm; batchedGramInverse — per matrix ssyrk + spotrf + spotri + mirror (G_b 512 × 10, batch = M); gemm — one sgemm (M × M × M). ' +
        'GFLOP/s by the conventions in kernels.json (pinvSolve nominal 4·M³). ' +
        `natgrad's own kernels run where \`backend().kernels\` says (${kernels.natgrad_kernels ?? 'not recorded'}): there the ratio compares them with OpenBLAS as linked, not natgrad's overhead over the same calls.`,
      ''
    );
    L.push(
      table(
        ['kernel', 'M', 'reps', 'natgrad ms', 'natgrad GFLOP/s', 'ceiling GFLOP/s', 'ratio', 'ratio of best', 'vs bare BLAS', 'same result'],
        kernels.results.map((r) => [
          r.kernel,
          r.M,
          r.reps,
          f1(r.natgrad.median_s * 1e3),
          f1(r.natgrad.gflops),
          f1(r.ceiling.gflops),
          f3(r.ratio) + (r.M >= 1024 && r.ratio < 0.9 ? ' ✗' : ''),
          f3(r.ratio_of_minimums),
          f3(r.ratio_vs_bare_blas),
          r.checksum.identical ? 'bitwise' : `rel ${r.checksum.relative_difference.toExponential(1)}`,
        ])
      ),
      ''
    );
    const o = kernels.overhead;
    if (o) {
      L.push('JS → native call overhead on tiny inputs (median ns per call; "overhead" subtracts the same BLAS call timed in C):', '');
      const rows = Object.entries(o)
        .filter(([k]) => k !== 'bare_blas_ns' && k !== 'promise_minus_sync_ns')
        .map(([k, v]) => [k, f1(v.median_ns), f1(v.overhead_ns), v.calls]);
      L.push(table(['call', 'ns per call', 'overhead ns', 'calls'], rows), '');
      if (o.promise_minus_sync_ns)
        L.push(
          `Promise form − sync form: gram 1×1 ${f1(o.promise_minus_sync_ns.gram_1x1)} ns, gemm 1×1×1 ${f1(o.promise_minus_sync_ns.gemm_1x1x1)} ns per call (the libuv thread-pool round trip and the private input copies).`,
          ''
        );
    }
  }

  // 2. alternatives
  L.push('## 2. Against the JS alternatives', '');
  if (!alternatives) L.push('Not run.', '');
  else {
    const p = alternatives.problem;
    L.push(
      `The same direction n_θ = J (JᵀJ + NλI)⁻¹ g for ${p.model}, ${p.loss} loss, λ = ${p.damping}, N = (N·k)/8 samples. natgrad: \`opt.direction(x, y, N)\` from the raw batch (forward pass, every layer's kernel block in one fused \`layerGramSum\`, Cholesky, contraction). ` +
        "The alternatives get J already materialised (natgrad's `model.jacobian`, not counted) and g, and are timed for K = JᵀJ, the damped solve and n = J c: " +
        'ml-matrix (mmul, CholeskyDecomposition; float64), tfjs-core with the wasm backend (XNNPACK, one thread in Node) and the pure-JS cpu backend (matMul; **tfjs has no Cholesky or any linear solver**, so conjugate gradients in tfjs ops to relative residual 1e-6; production mode). @tensorflow/tfjs-node is not included: its install downloads libtensorflow from outside the npm registry. ' +
        `Every alternative's direction agrees with natgrad's (relative error in the JSON) before it is timed. Versions: ${Object.entries(alternatives.versions)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')}.`,
      ''
    );
    const names = [...new Set(alternatives.results.flatMap((r) => r.alternatives.map((a) => a.name)))];
    const tunedEnv = alternatives.results.find((r) => r.natgrad_tuned)?.natgrad_tuned.env;
    const cell = (a) =>
      !a ? '—' : a.skipped ? `not run (≥ ${f1(a.predicted_ms / 1000)} s predicted)` : `${f1(a.median_ms)} (${a.reps})${a.agrees ? '' : ' disagrees'}`;
    const ratio = (a, key) => (!a ? '—' : a.skipped ? (key === 'speedup' ? `≥ ${f1(a.predicted_speedup)}× (predicted)` : '—') : `${f1(a[key])}×`);
    L.push(
      table(
        [
          'N·k',
          'N',
          `natgrad ms (${alternatives.results[0].natgrad.threads} thr)`,
          'natgrad ms (1 thr)',
          ...(tunedEnv ? [`natgrad ms, ${tunedEnv}`] : []),
          ...names.map((n) => `${n} ms (reps)`),
          ...names.map((n) => `${n} / natgrad`),
          ...(tunedEnv ? names.map((n) => `${n} / natgrad (${tunedEnv.split('=')[1]})`) : []),
        ],
        alternatives.results.map((r) => {
          const get = (n) => r.alternatives.find((a) => a.name === n);
          return [
            r.M,
            r.N,
            f1(r.natgrad.median_ms),
            f1(r.natgrad_1thread.median_ms),
            ...(tunedEnv ? [r.natgrad_tuned ? f1(r.natgrad_tuned.median_ms) : '—'] : []),
            ...names.map((n) => cell(get(n))),
            ...names.map((n) => ratio(get(n), 'speedup')),
            ...(tunedEnv ? names.map((n) => ratio(get(n), 'speedup_tuned')) : []),
          ];
        })
      ),
      ''
    );
    if (tunedEnv)
      L.push(
        `"${tunedEnv}": natgrad again in a child process with the OpenBLAS kernels that \`natgrad info\` advises for this CPU (as given, OpenBLAS ${alternatives.results[0].natgrad.blas.replace('OpenBLAS ', '')} does not recognise it and runs its generic SSE3 kernels); the natgrad solve is then ${f1(alternatives.results[alternatives.results.length - 1].natgrad.median_ms / alternatives.results[alternatives.results.length - 1].natgrad_tuned.median_ms)}× faster at N·k = ${alternatives.results[alternatives.results.length - 1].M}. The alternatives do not use OpenBLAS.`,
        ''
      );
    const w = alternatives.wide;
    if (w) {
      const get = (n) => w.alternatives.find((a) => a.name === n);
      L.push(
        `**The demo's MNIST MLP**: ${w.problem}; P = ${w.P.toLocaleString('en-US')} ≫ N·k = ${w.M}. natgrad ${f1(w.natgrad.median_ms)} ms (1 thread ${f1(w.natgrad_1thread.median_ms)} ms${w.natgrad_tuned ? `; ${w.natgrad_tuned.env} ${f1(w.natgrad_tuned.median_ms)} ms` : ''}); ` +
          names.map((n) => `${n} ${cell(get(n))} → ${ratio(get(n), 'speedup')}`).join('; ') +
          `. J alone is ${f1((4 * w.P * w.M) / 2 ** 20)} MiB in float32 (model.jacobian ${f1(w.jacobian_ms)} ms, not counted); natgrad's direction never forms it. The slow alternatives' times are predicted from the small model (K × P ratio): lower bounds.`,
        ''
      );
    }
    const tfw = alternatives.results.map((r) => r.alternatives.find((a) => a.name === 'tfjs-wasm')).filter(Boolean);
    if (tfw.length)
      L.push(
        `tfjs CG iterations: ${alternatives.results.map((r) => `${r.M}: ${r.alternatives.find((a) => a.name === 'tfjs-wasm')?.cg_iterations ?? '—'}`).join(', ')}. Phases of the alternatives (K / solve / n) are in alternatives.json.`,
        ''
      );
  }

  // 3. scaling
  L.push('## 3. Scaling', '');
  if (!scaling) L.push('Not run.', '');
  else {
    L.push(
      `One exact step (direction + update, λ = ${scaling.model.damping} fixed) of the MLP ${scaling.model.widths.join('-')} (P = ${scaling.model.parameters.toLocaleString('en-US')}), categorical (kernel N·${scaling.model.kernel_rows_per_sample} square), each size in its own child process: median of the warm steps after the first; peak = VmHWM during the first step (reset just before), minus the resident memory of an idle child with natgrad loaded (${f1(scaling.idle_rss_mb)} MiB) — "step Δ" is the increase over the child's own memory just before the step.`,
      ''
    );
    L.push(
      table(
        ['N', 'N·k', 'kernel size', 'step ms (median)', 'first step ms', 'reps', 'peak − idle MiB', 'step Δ MiB'],
        scaling.sweep.map((r) => [r.N, r.Nk, r.M, f1(r.median_ms), f1(r.first_step_ms), r.reps, f1(r.over_idle_mb), f1(r.step_delta_mb)])
      ),
      ''
    );
    const fz = scaling.fits;
    L.push(
      `Fitted exponents (log-log least squares over N ≥ ${fz.time.from_N}): time ∝ (N·k)^${fz.time.exponent} (r² ${fz.time.r2}; over all sizes ${fz.time_all_sizes.exponent}), step memory ∝ (N·k)^${fz.memory_step_delta.exponent} (r² ${fz.memory_step_delta.r2}). ` +
        'Expected: the step is a blend of an O(N·P) part (forward pass, backpropagation, contraction: linear in N·k at this P), the per-layer kernel (N·r)²·Σwidths and the Cholesky (N·r)³/3, so the fitted exponent lies between 1 and 3: near 1 while the O(N·P) part dominates (small N here, since P = 269,322), rising towards 3 as the solve takes over (bench:step gives the phases); memory is dominated by the (N·r)² kernel (exponent → 2).',
      ''
    );
    L.push("Layer trick vs materialised J (`assembly: 'dense'`: S [P, N·r] formed, then SᵀS):", '');
    L.push(
      table(
        [
          'N',
          'N·k',
          'layer first step ms',
          'dense first step ms',
          'dense / layer (cold)',
          'warm ms layer / dense',
          'layer peak − idle MiB',
          'dense peak − idle MiB',
          'dense / layer memory',
          'note',
        ],
        scaling.layer_vs_dense.map((p) => [
          p.N,
          p.Nk,
          f1(p.layer.first_step_ms),
          f1(p.dense.first_step_ms),
          `${f1(p.dense_over_layer.time_cold)}×`,
          p.dense.median_ms !== null ? `${f1(p.layer.median_ms)} / ${f1(p.dense.median_ms)} (${f1(p.dense_over_layer.time_warm)}×)` : '—',
          f1(p.layer.over_idle_mb),
          f1(p.dense.over_idle_mb),
          `${f1(p.dense_over_layer.peak_over_idle)}×`,
          p.note,
        ])
      ),
      ''
    );
  }

  // 4. training
  L.push('## 4. Training efficiency: time to target', '');
  if (!training) L.push('Not run.', '');
  else {
    L.push(
      "The demo's problems and code (`dist/demo`: problems, the lr sweep of `compare()`, the training loop `train()`); each optimizer's lr from the demo's sweep, then " +
        `${training.conventions.reps}. Training seconds count optimizer steps only (as the demo does).`,
      ''
    );
    for (const p of training.problems) {
      L.push(
        `**${p.title}** — ${p.model}; target: ${p.metric} ≤ ${fT(p.primary_target)}${p.ngd_over_adam_time !== null ? `; NGD / Adam time to target = ${f3(p.ngd_over_adam_time)}` : ''}`,
        ''
      );
      L.push(
        table(
          [
            'optimizer',
            'lr',
            'batch',
            'ms/step',
            ...p.targets.map((t) => `time → ${fT(t)} (step)`),
            ...(p.accuracy_target ? [`time → test acc ${100 * p.accuracy_target}%`] : []),
          ],
          p.optimizers.map((o) => [
            o.label,
            o.lr,
            o.batch,
            f1(o.ms_per_step),
            ...o.targets.map((t) => (t.reached ? `${f3(t.median_seconds)} s (${t.step})${t.reps > 1 ? ` ×${t.reps}` : ''}` : 'not reached')),
            ...(p.accuracy_target ? [o.accuracy ? `${f3(o.accuracy.seconds)} s (${o.accuracy.step})` : 'not reached'] : []),
          ])
        ),
        ''
      );
    }
    L.push(
      'Targets other than the primary one come from the first run only (the others stop at the primary target): ×n is the number of runs behind a median.',
      ''
    );
  }
  return L.join('\n');
}

async function main() {
  fs.mkdirSync(outDir, { recursive: true });
  const started = Date.now();
  const sections = [];
  if (!args['summary-only']) {
    for (const s of SECTIONS) {
      if (only && !only.includes(s.name)) continue;
      const r = await runSection(s);
      sections.push(r);
      console.log(`=== ${s.name}: ${r.ok ? 'done' : `FAILED (exit ${r.code}${r.signal ? `, ${r.signal}` : ''})`} in ${r.wall_s} s`);
    }
  }
  const runFile = path.join(outDir, 'run.json');
  let run;
  if (args['summary-only']) {
    run = JSON.parse(fs.existsSync(runFile) ? fs.readFileSync(runFile, 'utf8') : '{"command":"node bench/run.js","date":"?","sections":[]}');
  } else {
    run = {
      command: `node bench/run.js${process.argv.length > 2 ? ' ' + process.argv.slice(2).join(' ') : ''}`,
      date: new Date().toISOString(),
      quick,
      machine: u.machine(require(path.join(u.root, 'dist', 'index.js'))),
      sections,
      wall_s: u.round((Date.now() - started) / 1000, 1),
    };
    if (only && fs.existsSync(runFile)) {
      // keep the other sections' records from the last run
      const prev = JSON.parse(fs.readFileSync(runFile, 'utf8'));
      run.sections = [...(prev.sections ?? []).filter((s) => !only.includes(s.name)), ...sections].sort(
        (a, b) => SECTIONS.findIndex((s) => s.name === a.name) - SECTIONS.findIndex((s) => s.name === b.name)
      );
      run.wall_s = u.round(
        run.sections.reduce((t, s) => t + s.wall_s, 0),
        1
      );
    }
    u.writeJson(runFile, run);
  }
  const data = Object.fromEntries(SECTIONS.map((s) => [s.name, read(s.name)]));
  const svg = require(path.join(u.root, 'dist', 'plot', 'svg.js'));
  for (const [name, text] of Object.entries(figures(data, svg))) {
    fs.writeFileSync(path.join(outDir, `${name}.svg`), text);
    console.log(`wrote ${path.relative(process.cwd(), path.join(outDir, `${name}.svg`))}`);
  }
  fs.writeFileSync(path.join(outDir, 'SUMMARY.md'), summary(data, run) + '\n');
  console.log(`wrote ${path.relative(process.cwd(), path.join(outDir, 'SUMMARY.md'))}`);
  const failed = sections.filter((s) => !s.ok);
  console.log(
    `\nbench: ${sections.length - failed.length}/${sections.length} sections ran${failed.length ? ` (failed: ${failed.map((s) => s.name).join(', ')})` : ''} in ${u.round((Date.now() - started) / 1000, 1)} s`
  );
  return failed.length ? 1 : 0;
}

main().then(
  (code) => (process.exitCode = code),
  (e) => {
    console.error(e);
    process.exitCode = 1;
  }
);
