// Throws malformed calls at the native addon; run as a child process by
// test/fuzz.test.ts so that a crash cannot take the test runner down.
//   node test/fuzz-child.cjs <addon.node> <calls> <seed>
// Prints one JSON line: { calls, returned, rejected, undocumented: [...] }.
'use strict';
const addon = require(require('path').resolve(process.argv[2]));
const calls = Number(process.argv[3] || 2000);
let seed = Number(process.argv[4] || 1) >>> 0;
const rand = () => {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const int = (n) => Math.floor(rand() * n);
const choose = (a) => a[int(a.length)];

// Errors the addon documents: argument errors and kernel failures, each with its code.
const ARG_CODES = new Set(['ERR_INVALID_ARG_TYPE', 'ERR_OUT_OF_RANGE']);
const KERNEL_CODES = new Set(['ERR_NON_FINITE', 'ERR_NOT_POSITIVE_DEFINITE', 'ERR_LAPACK', 'ERR_OUT_OF_MEMORY']);
function documented(e) {
  if ((e instanceof TypeError || e instanceof RangeError) && ARG_CODES.has(e.code)) return true;
  return e instanceof Error && KERNEL_CODES.has(e.code) && typeof e.message === 'string' && e.message.length > 0;
}

function f32(n, fill) {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = fill === undefined ? rand() * 2 - 1 : fill;
  return a;
}
function spd(m) {
  const a = f32(m * m, 0);
  for (let i = 0; i < m; i++) a[i * m + i] = 1 + rand();
  return a;
}
function detached(n) {
  const buf = new ArrayBuffer(n * 4);
  const view = new Float32Array(buf);
  structuredClone(buf, { transfer: [buf] });
  return view;
}
function offsetView(n) {
  const base = new Float32Array(n + 3);
  for (let i = 0; i < base.length; i++) base[i] = rand();
  return base.subarray(2, 2 + n);
}
function shared(n) {
  const a = new Float32Array(new SharedArrayBuffer(n * 4));
  for (let i = 0; i < n; i++) a[i] = rand();
  return a;
}

// Valid argument lists with small random sizes: [kind of each position, values].
function validCall() {
  const m = 1 + int(6), n = 1 + int(6), k = 1 + int(6);
  switch (int(6)) {
    case 0: return ['gemm', 'bbsssnaana', [rand() < 0.5, rand() < 0.5, m, n, k, 1, f32(m * k), f32(k * n), 0, f32(m * n)]];
    case 1: return ['gram', 'assba', [f32(k * m), k, m, rand() < 0.5, f32(m * m)]];
    case 2: { const N = m, kk = 1 + int(3); return ['layerGram', 'aassssa', [f32(N * kk * n), f32(N * k), N, kk, n, k, f32(N * kk * N * kk)]]; }
    case 3: return ['choleskySolve', 'asasnpa', [spd(m), m, f32(m * n), n, rand(), 'float32', f32(m * n)]];
    case 4: return ['pinvSolve', 'asasnnpa', [spd(m), m, f32(m * n), n, 0, 0, 'float64', f32(m * n)]];
    default: return ['batchedGramInverse', 'asssna', [f32(m * (k + 2) * k), m, k + 2, k, 0.1, f32(m * k * k)]];
  }
}

function badValue(kind, current) {
  const n = current && current.length !== undefined ? current.length : 4;
  const common = [undefined, null, 'x', {}, [], Symbol('s'), () => 0, 10n];
  if (kind === 'a') {
    return choose([
      ...common, 3, new Float64Array(n), Array.from({ length: n }, () => 1), new Int32Array(n), new Uint8Array(n * 4),
      f32(n + 1), f32(Math.max(0, n - 1)), f32(0), detached(n), offsetView(n), shared(n), f32(n, NaN), f32(n, Infinity),
      f32(n, -Infinity), new DataView(new ArrayBuffer(n * 4)), new ArrayBuffer(n * 4),
    ]);
  }
  if (kind === 's') return choose([...common, 0, -1, 1.5, NaN, Infinity, -Infinity, 2 ** 31, 2 ** 31 - 1, 2 ** 32, 2 ** 53, 2 ** 60, 1e300, -0, '3', true, 65536, 46341]);
  if (kind === 'b') return choose([...common, 0, 1, 'true']);
  if (kind === 'p') return choose([...common, 'float16', 'FLOAT32', 32, 'float64 ']);
  return choose([...common, NaN, Infinity, -Infinity, -1, -1e-30, '1', 1e308, true]); // 'n'
}

const report = { calls: 0, returned: 0, rejected: 0, undocumented: [] };
async function main() {
  for (let c = 0; c < calls; c++) {
    const [fn, kinds, args] = validCall();
    const mutations = 1 + int(3);
    for (let t = 0; t < mutations; t++) {
      const pos = int(args.length);
      args[pos] = badValue(kinds[pos], args[pos]);
    }
    if (rand() < 0.05) args.length = int(args.length); // too few arguments
    const useAsync = rand() < 0.3;
    report.calls++;
    try {
      if (useAsync) await addon[fn + 'Async'](...args);
      else addon[fn](...args);
      report.returned++;
    } catch (e) {
      report.rejected++;
      if (!documented(e) && report.undocumented.length < 20)
        report.undocumented.push({ fn, async: useAsync, error: String(e && e.stack ? e.stack.split('\n')[0] : e), code: e && e.code });
    }
  }
  process.stdout.write(JSON.stringify(report) + '\n');
}
main().catch((e) => {
  process.stderr.write(String(e && e.stack) + '\n');
  process.exit(3);
});
