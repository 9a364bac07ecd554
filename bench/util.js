// Helpers shared by the sections of `npm run bench` (bench/run.js): argument parsing, the LCG used
// for every input, medians, peak-memory probes, a least-squares slope, machine facts, JSON output.
'use strict';

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.resolve(__dirname, '..');

/** --name=value / --flag arguments as an object; unknown names are an error (`allowed` lists them). */
function parseArgs(argv, allowed, script) {
  const out = {};
  for (const a of argv) {
    const m = /^--([a-z][\w-]*)(?:=(.*))?$/.exec(a);
    if (!m) throw new Error(`${script}: unexpected argument '${a}'`);
    if (!allowed.includes(m[1])) throw new Error(`${script}: unknown option --${m[1]} (options: ${allowed.map((o) => '--' + o).join(', ')})`);
    out[m[1]] = m[2] ?? true;
  }
  return out;
}

const numberList = (s) => String(s).split(',').filter(Boolean).map(Number);

/** n values in [−scale/2, scale/2) from x ← 1664525·x + 1013904223 (mod 2³²), value = (x >> 8)·2⁻²⁴ − 0.5 (× scale). */
function fill(n, seed, scale = 1) {
  const a = new Float32Array(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(1664525, x) + 1013904223) >>> 0;
    a[i] = scale * ((x >>> 8) * (1 / 16777216) - 0.5);
  }
  return a;
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return NaN;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const round = (v, d = 3) => (Number.isFinite(v) ? Math.round(v * 10 ** d) / 10 ** d : v);
const MB = 1024 * 1024;

/** A field of /proc/self/status in bytes (VmRSS, VmHWM), NaN where there is no /proc. */
function procStatus(field) {
  try {
    const m = fs.readFileSync('/proc/self/status', 'utf8').match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'));
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

/**
 * Resets the peak-RSS counter (VmHWM) to the current RSS by writing 5 to /proc/self/clear_refs.
 * false where that is not possible: then VmHWM also holds earlier peaks (a bound from above).
 */
function resetPeak() {
  try {
    fs.writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}

/** Least-squares fit of log y = a + b·log x over the pairs with x, y > 0: { exponent: b, coefficient: e^a, r2, points } (lib/linalg64.ts). */
const fitPowerLaw = (xs, ys) => require(path.join(root, 'dist', 'linalg64.js')).powerLawFit(xs, ys);

/**
 * The machine and the CPU path a result was measured on, for every committed JSON: the CPU model and
 * its vector level, the kernel set OpenBLAS ran, natgrad's micro-kernel, who ran gemm and the float32
 * Cholesky (NATGRAD_CPU_GEMM as set), and the environment that chooses them.
 */
function machine(ng) {
  const info = ng.backend();
  const c = info.cpu;
  return {
    cpu: os.cpus()[0]?.model ?? '',
    cpu_isa: c?.isa ?? null,
    cores: os.cpus().length,
    memory_gib: round(os.totalmem() / 1024 ** 3, 1),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    backend: { name: info.name, blas: info.blas, threads: info.threads, note: info.note },
    path: c
      ? {
          setting: process.env.NATGRAD_CPU_GEMM ?? 'auto',
          openblas_core: c.openblasCore,
          openblas_isa: c.openblasIsa,
          micro_kernel: c.microKernel,
          gemm: c.gemm,
          cholesky: c.cholesky,
          kernels: info.kernels,
        }
      : null,
    env: {
      OPENBLAS_CORETYPE: process.env.OPENBLAS_CORETYPE ?? null,
      NATGRAD_CPU_GEMM: process.env.NATGRAD_CPU_GEMM ?? null,
      NATGRAD_THREADS: process.env.NATGRAD_THREADS ?? null,
    },
    load_average: os.loadavg().map((l) => round(l, 2)),
  };
}

/** Where a section writes: --out=FILE, else bench/results/<name>.json (quick: bench/results/quick.tmp/<name>.json, git-ignored). */
function outFile(args, name) {
  if (args.out) return path.resolve(args.out);
  return path.join(root, 'bench', 'results', ...(args.quick ? ['quick.tmp'] : []), `${name}.json`);
}

/**
 * JSON text for a committed result, compact where it is long: the top two levels one key a line, so a
 * diff shows which figure changed; below that, and any array of plain values (a curve, a list of
 * samples), on one line. (Pretty-printed curves were half the repository's lines.)
 */
function compactJson(value, depth = 0, indent = '') {
  const plain = (v) => v === null || typeof v !== 'object';
  if (plain(value) || depth >= 2 || (Array.isArray(value) && value.every(plain))) return JSON.stringify(value);
  const inner = indent + ' ';
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    return `[\n${value.map((v) => inner + compactJson(v, depth + 1, inner)).join(',\n')}\n${indent}]`;
  }
  const entries = Object.entries(value).filter(([, v]) => v !== undefined);
  if (entries.length === 0) return '{}';
  return `{\n${entries.map(([k, v]) => `${inner}${JSON.stringify(k)}: ${compactJson(v, depth + 1, inner)}`).join(',\n')}\n${indent}}`;
}

function writeJson(file, obj) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, compactJson(obj) + '\n');
  console.log(`wrote ${path.relative(process.cwd(), file) || file}`);
}

/** Milliseconds of fn(), by performance.now(). */
function ms(fn) {
  const t0 = performance.now();
  const r = fn();
  return [performance.now() - t0, r];
}

/** ‖a − b‖ / ‖b‖ in float64. */
function relativeError(a, b) {
  let d = 0,
    s = 0;
  for (let i = 0; i < b.length; i++) {
    d += (a[i] - b[i]) ** 2;
    s += b[i] * b[i];
  }
  return Math.sqrt(d / s);
}

/**
 * The cost of one optimizer step on a fixed batch: `warmup` steps, then `reps` timed; with the mean of
 * each NGD phase from opt.profile (forward, backprop, kernel, solve, update; ms) when it has one.
 */
function timeSteps(opt, x, y, batch, warmup, reps) {
  for (let i = 0; i < warmup; i++) opt.step(x, y, batch);
  const phases = {};
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) {
    opt.step(x, y, batch);
    if (opt.profile) for (const k of ['forward', 'backprop', 'kernel', 'solve', 'update']) phases[k] = (phases[k] ?? 0) + opt.profile[k] / reps;
  }
  const ms = (performance.now() - t0) / reps;
  return { ms, phasesMs: opt.profile ? Object.fromEntries(Object.entries(phases).map(([k, v]) => [k, +v.toFixed(2)])) : null };
}

/** What bench:mnist and bench:cnn report of a train() run `r` of configuration `c`: its counts, the best test accuracy and when, and the training time to each threshold (keys toFixed(digits)). */
function runSummary(c, r, thresholds, digits) {
  const best = r.points.reduce((a, p) => (p.testAcc > a.testAcc ? p : a));
  const reach = Object.fromEntries(thresholds.map((t) => [t.toFixed(digits), r.points.find((p) => p.testAcc >= t)?.time ?? null]));
  return {
    ...c,
    steps: r.steps,
    seconds: r.seconds,
    msPerStep: (1000 * r.seconds) / r.steps,
    rejected: r.rejected,
    bestTestAcc: best.testAcc,
    bestAt: best.time,
    secondsToTestAcc: reach,
  };
}

/** Writes `result` as compact JSON to bench/results/<name>.json (a narrowed run: <name>.partial.json.tmp) and says where. */
function writeResult(name, partial, result) {
  const file = path.join(root, 'bench', 'results', partial ? `${name}.partial.json.tmp` : `${name}.json`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${compactJson(result)}\n`);
  console.log(`wrote ${path.relative(root, file)}`);
  return file;
}

/** train()'s options for a bench configuration c ({ optimizer, lr, batch, damping?, ngd? }): `seconds` of training, evaluated every `evalSeconds`, batch order seed 0. */
function trainOptions(c, seconds, evalSeconds) {
  return { optimizer: c.optimizer, lr: c.lr, batch: c.batch, damping: c.damping, ngd: c.ngd, budget: { seconds }, evalSeconds, seed: 0 };
}

module.exports = {
  root,
  trainOptions,
  writeResult,
  timeSteps,
  runSummary,
  parseArgs,
  numberList,
  fill,
  median,
  sleep,
  round,
  MB,
  procStatus,
  resetPeak,
  fitPowerLaw,
  machine,
  outFile,
  writeJson,
  compactJson,
  ms,
  relativeError,
};
