// The CUDA backend (issue #7).
//
// 1. The loader, everywhere: what NATGRAD_BACKEND=auto|cuda say when the CUDA libraries or the
//    driver are missing, or present but unusable (stub libraries without symbols).
// 2. The cross-backend harness: every kernel (and the exact natural-gradient direction) on the
//    CUDA backend against the CPU backend on the same random inputs, in a child process
//    (backend selection is process-wide):
//    a. on a CPU emulation of cudart/cuBLAS/cuSOLVER/driver (native/cuda/mock/mock_cuda.cpp, compiled
//       here as libcuda.so.1, libcudart.so.13, libcublas.so.13, libcusolver.so.12): the backend's
//       whole host code path — layouts, transposes, fill modes, workspaces, info arrays, kernel
//       launches (kernels.cu itself, run on the CPU) — runs on any machine with a C++ compiler;
//    b. on this machine's GPU: skipped, with the reason printed, where the CUDA backend is unavailable.
// Bounds: ‖gpu − cpu‖/‖cpu‖ within small multiples of the float32 unit roundoff u = 2⁻²⁴ (of TF32's
// 2⁻¹¹ for GEMM-based kernels when NATGRAD_TF32=1), scaled by the inner dimension or conditioning.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backend } from '../lib/index';

const root = path.resolve(__dirname, '..');
const addon = backend().addon;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'natgrad-cuda-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Runs `code` in a fresh node with the addon path in NATGRAD_ADDON; returns its last stdout line as JSON. */
// biome-ignore lint/suspicious/noExplicitAny: the child's JSON report, read field by field in the tests
function child(code: string, env: Record<string, string | undefined>, timeout = 300_000): any {
  const full: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...process.env, NATGRAD_ADDON: addon, ...env })) if (v !== undefined) full[k] = v;
  const r = spawnSync(process.execPath, ['-e', code], { cwd: root, encoding: 'utf8', timeout, env: full });
  const lines = (r.stdout ?? '').trim().split('\n');
  try {
    return JSON.parse(lines[lines.length - 1]);
  } catch {
    throw new Error(`child failed (status ${r.status}, signal ${r.signal}):\n${r.stdout}\n${r.stderr}`);
  }
}
const select = (name: string) =>
  `const a = require(process.env.NATGRAD_ADDON); try { console.log(JSON.stringify(a.selectBackend(${JSON.stringify(name)}))) } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })) }`;

// ---- C++ compiler for stub and mock libraries ----
const cxx = ['c++', 'g++', 'clang++'].find((c) => spawnSync(c, ['--version']).status === 0);
function compile(src: string, out: string, soname: string, lang: 'c' | 'c++' = 'c++'): string | null {
  const args = lang === 'c' ? ['-x', 'c'] : ['-std=c++17'];
  const r = spawnSync(cxx as string, [...args, '-O1', '-shared', '-fPIC', `-Wl,-soname,${soname}`, '-o', out, src], { encoding: 'utf8' });
  return r.status === 0 ? null : r.stderr;
}
/** Function names of native/cuda/cuda_api.h's table, by library. */
function apiSymbols(): Record<string, string[]> {
  const text = fs.readFileSync(path.join(root, 'native/cuda/cuda_api.h'), 'utf8');
  const out: Record<string, string[]> = { driver: [], cudart: [], cublas: [], cusolver: [] };
  for (const m of text.matchAll(/^\s*X\((driver|cudart|cublas|cusolver), [^,]+, (\w+), \(/gm)) out[m[1]].push(m[2]);
  return out;
}

describe('CUDA loader (no GPU needed)', () => {
  it('kernels_ptx.h is generated from the current kernels.cu and family.h (else run native/cuda/gen_ptx.sh)', () => {
    const sha = createHash('sha256')
      .update(fs.readFileSync(path.join(root, 'native/cuda/kernels.cu')))
      .update(fs.readFileSync(path.join(root, 'native/family.h')))
      .digest('hex');
    const header = fs.readFileSync(path.join(root, 'native/cuda/kernels_ptx.h'), 'utf8');
    expect(header).toContain(`kKernelsSourceSha256[] = "${sha}"`);
    expect(header).toMatch(/^\.version 7\.0$/m);
    expect(header).toMatch(/^\.target sm_75$/m);
  });

  it('the table names every function exactly once and binding.gyp/CMake build the loader', () => {
    const s = apiSymbols();
    const all = Object.values(s).flat();
    expect(new Set(all).size).toBe(all.length);
    expect(s.cublas).toContain('cublasSgemmStridedBatched');
    expect(s.cusolver).toContain('cusolverDnSpotrfBatched');
    expect(s.driver).toContain('cuLaunchKernel');
  });

  it('NATGRAD_CUDA_PATH pointing at an empty folder: the reason names each library and the folders searched', () => {
    const dir = path.join(tmp, 'empty');
    fs.mkdirSync(dir, { recursive: true });
    const auto = child(select('auto'), { NATGRAD_CUDA_PATH: dir });
    console.log(`[cuda.test] NATGRAD_CUDA_PATH=${dir}: ${auto.reason}`);
    expect(auto.name).toBe('cpu');
    expect(auto.reason).toMatch(/^cpu: CUDA not used — /);
    expect(auto.reason).toContain('libcudart.so.13/.12/.11.0 not found');
    expect(auto.reason).toContain('libcublas.so.13/.12/.11 not found');
    expect(auto.reason).toContain('libcusolver.so.12/.11 not found');
    expect(auto.reason).toContain(`NATGRAD_CUDA_PATH=${dir}: ${dir}, ${dir}/lib64 (missing), ${dir}/lib (missing)`);
    expect(auto.reason).not.toContain('system loader'); // NATGRAD_CUDA_PATH is exclusive
    const cuda = child(select('cuda'), { NATGRAD_CUDA_PATH: dir });
    expect(cuda.code).toBe('ERR_BACKEND_UNAVAILABLE');
    expect(cuda.message).toContain('libcublas.so.13/.12/.11 not found');
  });

  it('NATGRAD_BACKEND=auto without NATGRAD_CUDA_PATH explains itself and still loads', () => {
    const auto = child(select('auto'), { NATGRAD_CUDA_PATH: undefined });
    console.log(`[cuda.test] NATGRAD_BACKEND=auto on this machine: ${auto.reason}`);
    if (auto.name === 'cpu') expect(auto.reason).toMatch(/CUDA not used — .*(not found|no CUDA device|driver|failed)/);
    else expect(auto.reason).toBe('cuda: a CUDA device and its libraries were found');
  });

  it('LD_LIBRARY_PATH is searched and named in the reason; a library found is reported as found', () => {
    const dir = path.join(tmp, 'ldpath');
    fs.mkdirSync(dir, { recursive: true });
    const auto = child(select('auto'), { LD_LIBRARY_PATH: dir, NATGRAD_CUDA_PATH: undefined });
    if (auto.name === 'cpu' && /not found/.test(auto.reason)) expect(auto.reason).toContain(`LD_LIBRARY_PATH: ${dir}`);
    const cudart13 = '/usr/local/cuda/lib64/libcudart.so.13';
    if (fs.existsSync(cudart13) && auto.name === 'cpu' && /libcublas\S* not found/.test(auto.reason)) expect(auto.reason).toContain(`found ${cudart13}`);
  });

  it.skipIf(!cxx)(`libraries that exist but lack symbols, or fail to load, are named${cxx ? '' : ' (skipped: no C++ compiler)'}`, () => {
    const dir = path.join(tmp, 'partial');
    fs.mkdirSync(dir, { recursive: true });
    const src = path.join(dir, 'empty.c');
    fs.writeFileSync(src, 'int natgrad_stub_unused(void) { return 0; }\n');
    for (const so of ['libcuda.so.1', 'libcudart.so.13', 'libcublas.so.13', 'libcusolver.so.12']) expect(compile(src, path.join(dir, so), so, 'c')).toBeNull();
    fs.writeFileSync(path.join(dir, 'libcublas.so.12'), 'not an ELF file');
    const auto = child(select('auto'), { NATGRAD_CUDA_PATH: dir });
    console.log(`[cuda.test] stub libraries without symbols: ${auto.reason}`);
    expect(auto.name).toBe('cpu');
    expect(auto.reason).toMatch(/missing CUDA symbols: cuInit in .*libcuda\.so\.1/);
    expect(auto.reason).toMatch(/and \d+ more \(natgrad needs CUDA ≥ 11 libraries\)/);
    // a library file that is not a shared object: reported with dlerror's text
    fs.rmSync(path.join(dir, 'libcublas.so.13'));
    const bad = child(select('auto'), { NATGRAD_CUDA_PATH: dir });
    expect(bad.reason).toMatch(/libcublas\.so\.13\/\.12\/\.11 found but failed to load \(.*libcublas\.so\.12: .*(invalid ELF header|file too short)/);
  });

  it.skipIf(!cxx)(`all symbols present but no device: "no CUDA device (cuInit: …)"${cxx ? '' : ' (skipped: no C++ compiler)'}`, () => {
    const dir = path.join(tmp, 'nodevice');
    fs.mkdirSync(dir, { recursive: true });
    const s = apiSymbols();
    for (const [lib, so] of [
      ['driver', 'libcuda.so.1'],
      ['cudart', 'libcudart.so.13'],
      ['cublas', 'libcublas.so.13'],
      ['cusolver', 'libcusolver.so.12'],
    ]) {
      const lines = s[lib].map((f) => {
        if (f === 'cuGetErrorName') return 'int cuGetErrorName(int e, const char** s) { *s = "CUDA_ERROR_NO_DEVICE"; return 0; }';
        if (f === 'cuGetErrorString') return 'int cuGetErrorString(int e, const char** s) { *s = "no CUDA-capable device is detected"; return 0; }';
        if (f === 'cudaGetErrorName' || f === 'cudaGetErrorString') return `const char* ${f}(int e) { return "stub"; }`;
        return `int ${f}(void) { return 100; }`; // CUDA_ERROR_NO_DEVICE / cudaErrorNoDevice
      });
      const src = path.join(dir, `${lib}.c`);
      fs.writeFileSync(src, lines.join('\n') + '\n');
      expect(compile(src, path.join(dir, so), so, 'c')).toBeNull();
    }
    const auto = child(select('auto'), { NATGRAD_CUDA_PATH: dir });
    console.log(`[cuda.test] stub libraries, no device: ${auto.reason}`);
    expect(auto.reason).toBe('cpu: CUDA not used — no CUDA device (cuInit: CUDA_ERROR_NO_DEVICE (no CUDA-capable device is detected))');
  });
});

// ---- the cross-backend harness (runs in a child; prints one JSON line) ----
// Every comparison: the same inputs through selectBackend('cpu') and selectBackend('cuda').
const harness = String.raw`
const a = require(process.env.NATGRAD_ADDON);
let info;
try { info = a.selectBackend('cuda'); } catch (e) { console.log(JSON.stringify({ unavailable: e.message })); process.exit(0); }
function rng(seed) { let s = seed >>> 0; return () => { s = (s + 0x6d2b79f5) >>> 0; let t = s; t = Math.imul(t ^ (t >>> 15), t | 1); t ^= t + Math.imul(t ^ (t >>> 7), t | 61); return ((t ^ (t >>> 14)) >>> 0) / 4294967296; }; }
const r = rng(7);
const randn = (n, scale = 1) => { const o = new Float32Array(n); for (let i = 0; i < n; i++) o[i] = scale * Math.sqrt(-2 * Math.log(Math.max(r(), 1e-12))) * Math.cos(2 * Math.PI * r()); return o; };
const rel = (x, y) => { let d = 0, n = 0; for (let i = 0; i < x.length; i++) { d += (x[i] - y[i]) ** 2; n += y[i] ** 2; } return Math.sqrt(d) / (Math.sqrt(n) || 1); };
const asym = (K, M) => { let d = 0; for (let i = 0; i < M; i++) for (let j = 0; j < i; j++) d = Math.max(d, Math.abs(K[i * M + j] - K[j * M + i])); return d; };
const on = (name, f) => { a.selectBackend(name); return f(); };
const cmp = (f) => { const c = on('cpu', f), g = on('cuda', f); return { err: rel(g, c), g, c }; };
const err = (f) => { try { f(); return null; } catch (e) { return { code: e.code, column: e.column, index: e.index, message: e.message }; } };
const out = { info, results: {}, errors: {} };
const R = out.results;

for (const ta of [false, true]) for (const tb of [false, true]) {
  const m = 37, n = 23, k = 29, A = randn(m * k), B = randn(k * n), C0 = randn(m * n);
  R['gemm ' + (ta ? 'T' : 'N') + (tb ? 'T' : 'N')] = { err: cmp(() => a.gemm(ta, tb, m, n, k, 0.7, A, B, 0.3, C0.slice())).err, k };
}
{ const m = 19, n = 11, k = 7, A = randn(m * k), B = randn(k * n), C0 = new Float32Array(m * n).fill(NaN);
  R['gemm beta=0 ignores C'] = { err: cmp(() => a.gemm(false, false, m, n, k, 1, A, B, 0, C0.slice())).err, k }; }
for (const [P, M, sm] of [[70, 50, false], [70, 50, true], [16, 1100, false], [16, 1100, true]]) {
  const J = randn(P * M);
  const c = cmp(() => a.gram(J, P, M, sm, false, new Float32Array(M * M)));
  R['gram P=' + P + ' M=' + M + (sm ? ' samplesMajor' : '')] = { err: c.err, k: P, asymmetry: asym(c.g, M) };
  // accumulate: K uploaded and added to, panel by panel (M = 1100: two panels)
  const K0 = on('cpu', () => a.gram(randn(P * M), P, M, false, false, new Float32Array(M * M)));
  const ca = cmp(() => a.gram(J, P, M, sm, true, K0.slice()));
  R['gram accumulate P=' + P + ' M=' + M + (sm ? ' samplesMajor' : '')] = { err: ca.err, k: 2 * P, asymmetry: asym(ca.g, M) };
}
for (const [N, k, wo, wi] of [[13, 3, 17, 11], [40, 1, 9, 5], [11, 10, 33, 70]]) {
  const B = randn(N * k * wo), A = randn(N * wi), K0 = randn(N * k * N * k);
  R['layerGram N=' + N + ' k=' + k] = { err: cmp(() => a.layerGram(B, A, N, k, wo, wi, K0.slice())).err, k: Math.max(wo, wi) };
}
// layerGramSum: all layers in one call, K kept on the device and overwritten (the NaN in 'out' must
// never be read: cudaMemsetAsync, not an upload); N·k = 1100 takes gram_upper's two-panel path for B Bᵀ.
// Also against zeros + one layerGram per layer on the CUDA backend itself (the accumulate path).
for (const [N, k, widths] of [[13, 3, [[17, 11], [9, 17], [4, 9]]], [40, 1, [[9, 5]]], [11, 10, [[33, 70], [70, 33], [10, 70]]], [275, 4, [[3, 5], [4, 2]]]]) {
  const NK = N * k, bs = widths.map(([wo]) => randn(NK * wo)), as = widths.map(([, wi]) => randn(N * wi));
  const c = cmp(() => a.layerGramSum(bs, as, N, k, new Float32Array(NK * NK).fill(NaN)));
  const kk = Math.max(...widths.flat()) + widths.length;
  const name = 'layerGramSum N=' + N + ' k=' + k + ' layers=' + widths.length;
  R[name] = { err: c.err, k: kk, asymmetry: asym(c.g, NK) };
  const each = on('cuda', () => { const K = new Float32Array(NK * NK); widths.forEach(([wo, wi], l) => a.layerGram(bs[l], as[l], N, k, wo, wi, K)); return K; });
  R[name + ' vs Σ layerGram (cuda)'] = { err: rel(c.g, each), k: kk };
}
// SPD K = JᵀJ/P + I (condition ≈ (1 + √(M/P))² / 1), right-hand sides 1 and 5, float32 and float64
// Both backends read only the upper triangle of (row-major) K: junk below the diagonal must not matter.
const junkBelow = (K, M) => { for (let i = 0; i < M; i++) for (let j = 0; j < i; j++) K[i * M + j] = 1e3 * (r() - 0.5); return K; };
const spd = (M, P) => { const J = randn(P * M), K = on('cpu', () => a.gram(J, P, M, false, false, new Float32Array(M * M))); for (let i = 0; i < M * M; i++) K[i] /= P; return junkBelow(K, M); };
for (const M of [1, 57]) for (const nrhs of [1, 5]) for (const prec of ['float32', 'float64']) {
  const K = spd(M, 2 * M + 3), Rhs = randn(M * nrhs);
  R['choleskySolve M=' + M + ' nrhs=' + nrhs + ' ' + prec] = { err: cmp(() => a.choleskySolve(K, M, Rhs, nrhs, 1, prec, new Float32Array(M * nrhs))).err, M };
}
// pinvSolve: rank-deficient PSD K (rank 20 of 45), λ = 0 and λ = 0.1
for (const [lambda, prec] of [[0, 'float64'], [0.1, 'float32'], [0.1, 'float64']]) {
  const M = 45, P = 20, J = randn(P * M), K = junkBelow(on('cpu', () => a.gram(J, P, M, false, false, new Float32Array(M * M))), M), Rhs = randn(M * 3);
  let rc, rg;
  const c = on('cpu', () => { const X = new Float32Array(M * 3); rc = a.pinvSolve(K, M, Rhs, 3, lambda, 0, prec, X); return X; });
  const g = on('cuda', () => { const X = new Float32Array(M * 3); rg = a.pinvSolve(K, M, Rhs, 3, lambda, 0, prec, X); return X; });
  R['pinvSolve λ=' + lambda + ' ' + prec] = { err: rel(g, c), M, rankCpu: rc, rankGpu: rg };
}
for (const [batch, rows, k, lambda] of [[37, 9, 5, 0.1], [5, 1, 1, 0], [20, 40, 12, 0]]) {
  const G = randn(batch * rows * k);
  const c = cmp(() => a.batchedGramInverse(G, batch, rows, k, lambda, new Float32Array(batch * k * k)));
  R['batchedGramInverse batch=' + batch + ' k=' + k] = { err: c.err, k: rows, asymmetry: Math.max(...Array.from({ length: batch }, (_, b) => asym(c.g.subarray(b * k * k, (b + 1) * k * k), k))) };
}
// float64 calls run on the CPU on every backend (native/backend.h): the same bits through 'cuda'
{ const A = Float64Array.from(randn(5 * 7)), B = Float64Array.from(randn(7 * 4)), J = Float64Array.from(randn(6 * 5));
  const same = (x, y) => Buffer.from(x.buffer, x.byteOffset, x.byteLength).equals(Buffer.from(y.buffer, y.byteOffset, y.byteLength));
  const gc = on('cpu', () => a.gemm(false, true, 5, 4, 7, 1, A, Float64Array.from(B), 0, null)), gg = on('cuda', () => a.gemm(false, true, 5, 4, 7, 1, A, Float64Array.from(B), 0, null));
  const kc = on('cpu', () => a.gram(J, 6, 5, false, false, null)), kg = on('cuda', () => a.gram(J, 6, 5, false, false, null));
  out.float64 = { gemm: same(gc, gg), gram: same(kc, kg), type: gg.constructor.name }; }
// the same failures, named the same way
{ const M = 6, K = new Float32Array(M * M); for (let i = 0; i < M; i++) K[i * M + i] = i === 3 ? -1 : 2;
  out.errors.cholesky = [on('cpu', () => err(() => a.choleskySolve(K, M, new Float32Array(M), 1, 0, 'float32', new Float32Array(M)))),
                         on('cuda', () => err(() => a.choleskySolve(K, M, new Float32Array(M), 1, 0, 'float32', new Float32Array(M))))]; }
{ const batch = 9, rows = 4, k = 3, G = randn(batch * rows * k);  // G[b] for b ≥ 4 has a zero column 1: singular in any arithmetic
  for (let b = 4; b < batch; b++) for (let i = 0; i < rows; i++) G[(b * rows + i) * k + 1] = 0;
  out.errors.batched = [on('cpu', () => err(() => a.batchedGramInverse(G, batch, rows, k, 0, new Float32Array(batch * k * k)))),
                        on('cuda', () => err(() => a.batchedGramInverse(G, batch, rows, k, 0, new Float32Array(batch * k * k))))]; }
// the Promise form runs the same CUDA code on a worker thread
(async () => {
  const J = randn(30 * 20);
  a.selectBackend('cuda');
  const g = await a.gramAsync(J, 30, 20, false, false, new Float32Array(400));
  R['gramAsync'] = { err: rel(g, on('cpu', () => a.gram(J, 30, 20, false, false, new Float32Array(400)))), k: 30 };
  { const N = 12, k = 3, bs = [randn(36 * 7), randn(36 * 5)], as = [randn(N * 4), randn(N * 7)];
    a.selectBackend('cuda');
    const gs = await a.layerGramSumAsync(bs, as, N, k, new Float32Array(36 * 36).fill(NaN));
    R['layerGramSumAsync'] = { err: rel(gs, on('cpu', () => a.layerGramSum(bs, as, N, k, new Float32Array(36 * 36)))), k: 7 + 2, asymmetry: asym(gs, 36) }; }
  // the exact natural-gradient direction through lib (dist/) on both backends
  let lib = null;
  try { lib = require(require('node:path').join(process.cwd(), 'dist', 'index.js')); } catch (e) { out.stepSkipped = 'dist/index.js not built (npm run build:ts): ' + e.message.split('\n')[0]; }
  if (lib && lib.NaturalGradient) {
    const { native } = require(require('node:path').join(process.cwd(), 'dist', 'native.js'));
    const N = 24, model = () => lib.sequential([lib.linear(20, 16), lib.tanh(), lib.linear(16, 16), lib.tanh(), lib.linear(16, 10)], { seed: 3 });
    const x = randn(N * 20), y = new Float32Array(N).map(() => Math.floor(r() * 10));
    for (const [damping, precision] of [[1e-3, 'float32'], [1e-3, 'float64'], [0.1, 'float32']]) {
      const dir = (name) => { native.selectBackend(name); return new lib.NaturalGradient(model(), { loss: 'categorical', damping, precision }).direction(x, y, N); };
      const c = dir('cpu'), g = dir('cuda');
      R['exact direction damping=' + damping + ' ' + precision] = { err: rel(g, c), step: true };
    }
    // The device-resident step (lib/optim/exact_device.ts): every activation and output family at λ = 1e-3, 1
    // and 0 (the pseudo-inverse), the direction against the CPU backend's host pipeline and both against a
    // float64 reference (the same θ in a float64 model, host pipeline); a step's loss, predicted decrease and
    // trial loss against the CPU's; stepAsync the same bits as step(); failures the host pipeline answers.
    const setups = [
      ['categorical', () => [lib.linear(12, 16), lib.tanh(), lib.linear(16, 12), lib.relu(), lib.linear(12, 4)], 4],
      ['gaussian', () => [lib.linear(12, 14), lib.gelu(), lib.linear(14, 10), lib.softplus(), lib.linear(10, 3)], 3],
      ['bernoulli', () => [lib.sigmoid(), lib.linear(12, 10), lib.sigmoid(), lib.linear(10, 1)], 1],
    ];
    out.device = [];
    for (const [loss, layers, k] of setups) {
      const N = 9, x = randn(N * 12);
      const y = loss === 'gaussian' ? randn(N * k) : new Float32Array(N).map(() => Math.floor(r() * (loss === 'bernoulli' ? 2 : k)));
      for (const damping of [1e-3, 1, 0]) {
        const theta = lib.sequential(layers(), { seed: 5 }).params;
        native.selectBackend('cpu');
        const m64 = lib.sequential(layers(), { seed: 5, dtype: 'float64' });
        m64.setParameters(Float64Array.from(theta));
        const ref = new lib.NaturalGradient(m64, { loss, damping }).direction(Float64Array.from(x), Float64Array.from(y), N);
        const run = (name) => {
          native.selectBackend(name);
          const m = lib.sequential(layers(), { seed: 5 });
          const opt = new lib.NaturalGradient(m, { loss, damping, lr: 0.5 });
          const d = opt.direction(x, y, N);
          const resident = opt.profile.device === 'resident';
          const info = opt.step(x, y, N);
          return { d, resident, stepResident: opt.profile.device === 'resident', info, theta: m.params.slice() };
        };
        const c = run('cpu'), g = run('cuda');
        out.device.push({ name: loss + ' damping=' + damping, resident: [c.resident, g.resident, c.stepResident, g.stepResident],
          errDevice: rel(g.d, ref), errCpu: rel(c.d, ref), theta: rel(g.theta, c.theta),
          info: ['loss', 'lossAfter', 'predicted', 'trialLoss'].map((f) => [f, c.info[f], g.info[f]]) });
      }
    }
    {
      const N = 6, x = randn(N * 12), y = new Float32Array(N).map((_, i) => i % 4);
      const mk = () => lib.sequential(setups[0][1](), { seed: 8 });
      native.selectBackend('cuda');
      const m1 = mk(), m2 = mk();
      new lib.NaturalGradient(m1, { loss: 'categorical', damping: 1e-2 }).step(x, y, N);
      await new lib.NaturalGradient(m2, { loss: 'categorical', damping: 1e-2 }).stepAsync(x, y, N);
      out.deviceAsyncSame = Buffer.from(m1.params.buffer).equals(Buffer.from(m2.params.buffer));
      // overflowing inputs: the device step hands the batch to the host pipeline, which names the rejection
      const big = x.map((v) => v * 1e30);
      out.deviceOverflow = ['cpu', 'cuda'].map((name) => { native.selectBackend(name); return new lib.NaturalGradient(mk(), { loss: 'categorical' }).step(big, y, N).reason; });
      const L = [-1, 12, 16, 0, 16, 16, -1, 16, 12, 1, 12, 12, -1, 12, 4], th = mk().params;
      out.deviceErrors = {
        cpu: on('cpu', () => err(() => a.exactStep(L, 'categorical', th, x, y, N, 0.1, 0, 0, null))),
        label: on('cuda', () => err(() => a.exactStep(L, 'categorical', th, x, y.map((v, i) => (i === 4 ? 7 : v)), N, 0.1, 0, 0, null))),
        chain: on('cuda', () => err(() => a.exactStep([-1, 12, 16, -1, 15, 4], 'categorical', th, x, y, N, 0.1, 0, 0, null))),
        family: on('cuda', () => err(() => a.exactStep(L, 'bernoulli', th, x, y, N, 0.1, 0, 0, null))),
        theta: on('cuda', () => err(() => a.exactStep(L, 'categorical', th.subarray(1), x, y, N, 0.1, 0, 0, null))),
      };
    }
  } else if (lib) out.stepSkipped = 'dist/index.js has no NaturalGradient';
  console.log(JSON.stringify(out));
})().catch((e) => { console.log(JSON.stringify({ crashed: e.stack })); });
`;

const u32 = 2 ** -24;
/**
 * The device-resident step against the CPU backend (same float32 inputs) and a float64 reference. Both
 * float32 pipelines round K (entries of ~width products, relative u each) and that rounding is amplified by
 * the damped kernel's condition number; the device must be as accurate as the CPU: its error against float64
 * within 10× the CPU's, plus 64·u for the case where the CPU happens to land closer.
 */
// biome-ignore lint/suspicious/noExplicitAny: the harness child's JSON report
function checkDeviceStep(out: any, u: number) {
  const rows: string[] = [];
  expect(out.device).toHaveLength(9);
  for (const d of out.device) {
    expect(d.resident, `${d.name}: cpu direction, cuda direction, cpu step, cuda step device-resident`).toEqual([false, true, false, true]);
    const bound = 10 * d.errCpu + 64 * u;
    rows.push(`${d.name}: device ${d.errDevice.toExponential(2)}, cpu ${d.errCpu.toExponential(2)} vs float64 (bound ${bound.toExponential(1)})`);
    expect(d.errDevice, d.name).toBeLessThanOrEqual(bound);
    // the losses are float64 sums of float32 forward passes: relative u·width apart; θ after a step and the
    // model's numbers carry the direction's error
    for (const [f, c, g] of d.info) {
      const tol = f === 'loss' ? 64 * u : 10 * bound + 64 * u;
      expect(Math.abs(g - c), `${d.name}: ${f} ${g} vs ${c}`).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(c)));
    }
    expect(d.theta, `${d.name}: θ after one step`).toBeLessThanOrEqual(bound + 64 * u);
  }
  console.log(`[cuda.test] device-resident step:\n  ${rows.join('\n  ')}`);
  expect(out.deviceAsyncSame, 'stepAsync gives the bits of step()').toBe(true);
  const [cpuReason, cudaReason] = out.deviceOverflow;
  expect(cpuReason).toMatch(/rejected at once/);
  expect(cudaReason).toBe(cpuReason);
  const e = out.deviceErrors;
  expect(e.cpu, 'the CPU backend runs the one-call step too (native/cpu/exact_step.cc)').toBeNull();
  expect(e.label.message).toBe("exactStep: 'y[4]' is 7; categorical targets must be class indices 0…3");
  expect(e.chain.message).toBe("exactStep: argument 'layers': layer 1 takes 15 inputs, but the layer before gives 16");
  expect(e.family.message).toBe("exactStep: the last layer's width 4 does not fit a bernoulli output (one logit)");
  expect(e.theta.message).toBe("exactStep: argument 'theta' must have length 464, got 463");
}
// biome-ignore lint/suspicious/noExplicitAny: the harness child's JSON report
function checkHarness(out: any, tf32: boolean) {
  expect(out.crashed, out.crashed).toBeUndefined();
  const u = tf32 ? 2 ** -11 : u32; // GEMM inputs are rounded to TF32 under NATGRAD_TF32=1
  const rows: string[] = [];
  // biome-ignore lint/suspicious/noExplicitAny: one kernel's row of that report
  for (const [name, r] of Object.entries<any>(out.results)) {
    let bound: number;
    if (name.startsWith('gemm') || name.startsWith('gram') || name.startsWith('layerGram')) bound = 4 * r.k * u;
    else if (name.startsWith('choleskySolve'))
      bound = name.endsWith('float64') ? 4 * u32 : 50 * r.M * u32; // no GEMM in the solve
    else if (name.startsWith('pinvSolve')) bound = name.endsWith('float64') ? 1e-6 : 1e3 * r.M * u;
    else if (name.startsWith('batchedGramInverse'))
      bound = 1e4 * r.k * u; // κ(GᵀG) up to ~1e2 for these shapes
    else bound = tf32 ? 0.1 : 1e-3; // exact direction: K's rounding amplified by κ of the damped kernel
    rows.push(`${name}: ${r.err.toExponential(2)} (bound ${bound.toExponential(1)})`);
    expect(r.err, name).toBeLessThanOrEqual(bound);
    if (r.asymmetry !== undefined) expect(r.asymmetry, `${name} is exactly symmetric`).toBe(0);
    if (r.rankCpu !== undefined) expect(r.rankGpu, `${name} rank`).toBe(r.rankCpu);
  }
  expect(Object.keys(out.results).filter((n) => n.startsWith('layerGramSum')).length, 'layerGramSum cases ran').toBe(9);
  console.log(
    `[cuda.test] ${out.info.device} — ${out.info.blas}\n  ` + rows.join('\n  ') + (out.stepSkipped ? `\n  exact direction skipped: ${out.stepSkipped}` : '')
  );
  expect(out.float64, 'float64 calls forwarded to the CPU').toEqual({ gemm: true, gram: true, type: 'Float64Array' });
  if (!out.stepSkipped) checkDeviceStep(out, u);
  const [cc, gc] = out.errors.cholesky;
  expect(gc.code).toBe('ERR_NOT_POSITIVE_DEFINITE');
  expect(gc.column).toBe(cc.column);
  expect(gc.message).toBe(cc.message);
  const [cb, gb] = out.errors.batched;
  expect(cb.code).toBe('ERR_NOT_POSITIVE_DEFINITE');
  expect([cb.index, cb.column]).toEqual([4, 2]);
  expect(gb.code).toBe('ERR_NOT_POSITIVE_DEFINITE');
  expect([gb.index, gb.column]).toEqual([4, 2]);
  expect(gb.message).toBe(cb.message);
}

// ---- a. the CPU emulation of the CUDA libraries ----
const mockDir = path.join(tmp, 'mock');
let mockError: string | null = cxx ? null : 'no C++ compiler';
beforeAll(() => {
  if (mockError) return;
  fs.mkdirSync(mockDir, { recursive: true });
  const src = path.join(root, 'native/cuda/mock/mock_cuda.cpp');
  for (const so of ['libcuda.so.1', 'libcudart.so.13', 'libcublas.so.13', 'libcusolver.so.12']) {
    const e = compile(src, path.join(mockDir, so), so);
    if (e) {
      mockError = `mock_cuda.cpp did not compile: ${e.slice(0, 500)}`;
      return;
    }
  }
}, 120_000);

describe('CUDA backend on a CPU emulation of cudart/cuBLAS/cuSOLVER (host logic, no GPU needed)', () => {
  it('is selected through the loader and reports the emulated device', (ctx) => {
    if (mockError) ctx.skip(mockError);
    const info = child(select('cuda'), { NATGRAD_CUDA_PATH: mockDir });
    expect(info.name).toBe('cuda');
    expect(info.device).toMatch(/^natgrad mock GPU \(CPU emulation\) \(compute capability 9\.0/);
    expect(info.blas).toBe('cuBLAS 13.0.0 + cuSOLVER 12.0.0 (CUDA runtime 13.0, driver 13.0); float32, TF32 tensor cores off');
    expect(info.note).toContain(`${mockDir}/libcublas.so.13`);
    const timed = child(
      `const a = require(process.env.NATGRAD_ADDON); a.selectBackend('cuda'); a.gram(new Float32Array(12), 3, 4, false, false, new Float32Array(16)); console.log(JSON.stringify(a.backendInfo()))`,
      { NATGRAD_CUDA_PATH: mockDir, NATGRAD_CUDA_TIMING: '1' }
    );
    expect(timed.note).toMatch(/; last call \(NATGRAD_CUDA_TIMING=1\): gram upload [\d.]+ ms, compute [\d.]+ ms, download [\d.]+ ms$/);
    const tf32 = child(select('cuda'), { NATGRAD_CUDA_PATH: mockDir, NATGRAD_TF32: '1' });
    expect(tf32.blas).toMatch(/TF32 tensor cores on \(NATGRAD_TF32=1\)$/);
    expect(tf32.note).toMatch(/^NATGRAD_TF32=1: float32 GEMMs round their inputs to TF32/);
  });

  it('every kernel, its errors and the exact direction agree with the CPU backend', (ctx) => {
    if (mockError) ctx.skip(mockError);
    const out = child(harness, { NATGRAD_CUDA_PATH: mockDir, NATGRAD_TF32: undefined });
    expect(out.unavailable).toBeUndefined();
    checkHarness(out, false);
  }, 300_000);

  // bench/gpu.sh is the one run a GPU machine gets: here, end to end on the emulation (tiny sizes, no vitest,
  // no PyTorch), so that on the GPU only the GPU is new
  it('bench/gpu.sh --smoke runs end to end and writes its folder (gpu.json with the device-resident step, summary, run)', (ctx) => {
    if (mockError) ctx.skip(mockError);
    const out = path.join(tmp, 'gpu-smoke');
    const r = spawnSync('bash', ['bench/gpu.sh', '--smoke', '--no-vitest', '--no-torch', '--out', out], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, NATGRAD_CUDA_PATH: mockDir, NATGRAD_ADDON: addon },
      timeout: 240_000,
    });
    expect(r.status, r.stdout.slice(-3000) + r.stderr.slice(-2000)).toBe(0);
    for (const f of ['gpu.log', 'env.json', 'gpu.json', 'summary.json', 'run.json']) expect(fs.existsSync(path.join(out, f)), f).toBe(true);
    const g = JSON.parse(fs.readFileSync(path.join(out, 'gpu.json'), 'utf8'));
    expect(g.device).toMatch(/^natgrad mock GPU/);
    expect(g.steps.length).toBeGreaterThan(0);
    for (const st of g.steps) expect(st.gpuProfile.device, `N=${st.N}: the GPU step is device-resident`).toBe('resident');
    expect(Object.keys(JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8')).targets)).toEqual(
      expect.arrayContaining(['gramOfSgemm', 'choleskySolveOfSgemm', 'stepSpeedupN1024', 'directionGpuVsCpu'])
    );
    expect(JSON.parse(fs.readFileSync(path.join(out, 'run.json'), 'utf8'))['gpu.js'].status).toBe(0);
  }, 300_000);

  it('device memory exhaustion is ERR_CUDA_OUT_OF_MEMORY, and the backend keeps working after it', (ctx) => {
    if (mockError) ctx.skip(mockError);
    const code = `
      const a = require(process.env.NATGRAD_ADDON); a.selectBackend('cuda');
      let e1; try { a.gram(new Float32Array(300 * 300), 300, 300, false, false, new Float32Array(90000)); } catch (e) { e1 = { code: e.code, message: e.message }; }
      const K = a.gram(new Float32Array(20 * 10).fill(1), 20, 10, false, false, new Float32Array(100));
      console.log(JSON.stringify({ e1, k0: K[0] }));`;
    const out = child(code, { NATGRAD_CUDA_PATH: mockDir, NATGRAD_MOCK_MEMORY: '100000' });
    expect(out.e1.code).toBe('ERR_CUDA_OUT_OF_MEMORY');
    expect(out.e1.message).toMatch(/^gram: out of GPU memory: needs \d+ MiB, \d+ MiB free of \d+ MiB on natgrad mock GPU/);
    expect(out.k0).toBe(20);
  });
});

// ---- b. this machine's GPU ----
const gpu = child(select('cuda'), { NATGRAD_CUDA_PATH: process.env.NATGRAD_CUDA_PATH });
const gpuReason = gpu.name === 'cuda' ? '' : String(gpu.message ?? gpu.reason);
if (gpuReason) console.log(`[cuda.test] GPU tests skipped: ${gpuReason}`);
// bench/gpu.sh sets NATGRAD_REQUIRE_GPU=1: there a missing GPU is a failure, not a skip.
it.runIf(process.env.NATGRAD_REQUIRE_GPU === '1')('NATGRAD_REQUIRE_GPU=1: the CUDA backend is available', () => {
  expect(gpuReason).toBe('');
});

describe.skipIf(!!gpuReason)(`CUDA backend on this machine's GPU${gpuReason ? ` (skipped: ${gpuReason.slice(0, 300)})` : ''}`, () => {
  it('every kernel, its errors and the exact direction agree with the CPU backend (float32)', () => {
    const out = child(harness, { NATGRAD_TF32: undefined });
    checkHarness(out, false);
  }, 300_000);
  it('with NATGRAD_TF32=1 within TF32 bounds (the accuracy cost is printed)', () => {
    const out = child(harness, { NATGRAD_TF32: '1' });
    expect(out.info.blas).toMatch(/TF32 tensor cores on/);
    checkHarness(out, true);
  }, 300_000);
});
