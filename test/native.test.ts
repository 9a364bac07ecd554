// Loading, backend selection and argument checking at the native boundary.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { backend, choleskySolve, gemm, gram, layerGram, pinvSolve, batchedGramInverse } from '../lib/index';

const root = path.resolve(__dirname, '..');

/** Runs `code` in a fresh node (its backend selection is process-wide) with the addon path in NATGRAD_ADDON. */
function inChild(code: string, env: Record<string, string>) {
  return spawnSync(process.execPath, ['-e', code], { cwd: root, encoding: 'utf8', env: { ...process.env, NATGRAD_ADDON: backend().addon, ...env } });
}
// lib/native.ts passes NATGRAD_BACKEND to the addon's selectBackend(); the children call it directly.
const selectIn = (name: string) =>
  `const a = require(process.env.NATGRAD_ADDON); try { console.log(JSON.stringify(a.selectBackend(${JSON.stringify(name)}))) } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })) }`;

describe('backend()', () => {
  it('reports the CPU backend with the OpenBLAS version, its core and the thread count', () => {
    const b = backend();
    expect(b.name).toBe('cpu');
    expect(b.blas).toMatch(/^OpenBLAS 0\.3\.\d+ \w+$/);
    expect(b.threads).toBeGreaterThanOrEqual(1);
    expect(b.reason).toMatch(/cpu/);
    expect(b.addon).toMatch(/natgrad\.node$/);
  });
  it("NATGRAD_BACKEND=cuda either selects CUDA or explains why not; 'auto' falls back to the CPU with the reason", () => {
    const cuda = JSON.parse(inChild(selectIn('cuda'), {}).stdout);
    const auto = JSON.parse(inChild(selectIn('auto'), {}).stdout);
    if (cuda.name === 'cuda') {
      expect(auto.name).toBe('cuda'); // a GPU machine: auto picks it
    } else {
      expect(cuda.code).toBe('ERR_BACKEND_UNAVAILABLE');
      expect(cuda.message).toMatch(/NATGRAD_BACKEND=cuda but the CUDA backend cannot be used: \S+/);
      expect(auto.name).toBe('cpu');
      expect(auto.reason).toMatch(/^cpu: CUDA not used — \S+/);
    }
    const cpu = JSON.parse(inChild(selectIn('cpu'), {}).stdout);
    expect(cpu.reason).toBe('cpu: selected by NATGRAD_BACKEND=cpu');
  });
  it('setThreads changes the BLAS thread count', () => {
    const r = inChild('const a = require(process.env.NATGRAD_ADDON); console.log(JSON.stringify([a.setThreads(1).threads, a.setThreads(2).threads]))', {});
    expect(JSON.parse(r.stdout)).toEqual([1, 2]);
  });
  it('natgrad info says which kernels give the same bits for any thread count, and the memory a call may allocate', () => {
    const r = spawnSync(process.execPath, [path.join(root, 'dist', 'cli.js'), 'info'], {
      encoding: 'utf8',
      env: { ...process.env, NATGRAD_ADDON: backend().addon, NATGRAD_MAX_MEMORY: '1G' },
    });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`same bits for any thread count: ${backend().threadIndependent.join(', ')} (every kernel: the same bits run to run)`);
    expect(r.stdout).toMatch(/memory: {2}[\d.]+ GB available to a call \(.*; capped at 1\.07 GB by NATGRAD_MAX_MEMORY \/ setMemoryLimit\(\)\)/);
    const c = backend().cpu;
    if (c) {
      // what runs on this CPU and why (test/cpu_path.test.ts checks the rule itself)
      expect(r.stdout).toContain(
        `cpu:     ${c.isa} CPU; OpenBLAS runs its ${c.openblasCore} (${c.openblasIsa}) kernels; natgrad's micro-kernel: ${c.microKernel}`
      );
      expect(r.stdout).toContain(`— ${c.why}`);
      expect(r.stdout).toMatch(/OpenBLAS's idle threads: (short timeout|blas_thread_shutdown_|off|unavailable)/);
    }
  });
});

type Thrower = () => unknown;
function expectArgError(f: Thrower, kind: typeof TypeError | typeof RangeError, pattern: RegExp) {
  let err: (Error & { code?: string }) | undefined;
  try {
    f();
  } catch (e) {
    err = e as typeof err;
  }
  expect(err, 'expected an error').toBeInstanceOf(kind);
  expect(err?.code).toBe(kind === TypeError ? 'ERR_INVALID_ARG_TYPE' : 'ERR_OUT_OF_RANGE');
  expect(err?.message).toMatch(pattern);
}

describe('bad input gives an error naming the argument', () => {
  const a4 = () => new Float32Array(4);
  it('wrong array types', () => {
    // a call's arrays are all Float32Array or all Float64Array (test/kernels64.test.ts); the first sets the type
    expectArgError(() => gemm(new Float64Array(4) as never, a4(), 2, 2, 2), TypeError, /'B' must be a Float64Array like 'A', got Float32Array/);
    expectArgError(() => gemm(new Int32Array(4) as never, a4(), 2, 2, 2), TypeError, /'A' must be a Float32Array or Float64Array, got Int32Array/);
    expectArgError(() => gemm(a4(), [1, 2, 3, 4] as never, 2, 2, 2), TypeError, /'B' must be a Float32Array or Float64Array, got Array/);
    expectArgError(() => gram(null as never, 2, 2), TypeError, /'J' must be a Float32Array or Float64Array, got null/);
    expectArgError(() => choleskySolve(a4(), 2, 'x' as never), TypeError, /'R' must be a Float32Array or Float64Array, got string/);
  });
  it('detached buffers', () => {
    const buf = new ArrayBuffer(16);
    const view = new Float32Array(buf);
    structuredClone(buf, { transfer: [buf] });
    expectArgError(() => gram(view, 2, 2), TypeError, /'J' is backed by a detached ArrayBuffer/);
  });
  it('wrong lengths', () => {
    expectArgError(() => gemm(a4(), new Float32Array(5), 2, 2, 2), RangeError, /'B' must have length 4, got 5/);
    expectArgError(() => layerGram(new Float32Array(6), new Float32Array(2), 2, 1, 3, 1, new Float32Array(3)), RangeError, /'K' must have length 4, got 3/);
    expectArgError(() => batchedGramInverse(new Float32Array(7), 2, 2, 2), RangeError, /'G' must have length 8, got 7/);
  });
  it('negative, fractional, non-finite and oversized sizes', () => {
    expectArgError(() => gram(a4(), -2, 2), RangeError, /'P' must be an integer in \[1, 2147483647\], got -2/);
    expectArgError(() => gram(a4(), 2, 1.5), RangeError, /'M' must be an integer/);
    expectArgError(() => gram(a4(), NaN, 2), RangeError, /'P' must be finite/);
    expectArgError(() => gram(a4(), 0, 2), RangeError, /'P' must be an integer/);
    expectArgError(() => gram(a4(), 2 ** 31, 2), RangeError, /'P' must be an integer/);
    expectArgError(() => gram(a4(), 65536, 65536), RangeError, /J has more than 2147483647 elements/);
    expectArgError(() => batchedGramInverse(new Float32Array(300 * 300), 1, 1, 300), RangeError, /'k' must be ≤ 256/);
  });
  it('bad scalars and options', () => {
    expectArgError(() => choleskySolve(a4(), 2, new Float32Array(2), 1, { damping: -1 }), RangeError, /'damping' must be ≥ 0/);
    expectArgError(() => choleskySolve(a4(), 2, new Float32Array(2), 1, { damping: Infinity }), RangeError, /'damping' must be finite/);
    expectArgError(
      () => pinvSolve(a4(), 2, new Float32Array(2), 1, { precision: 'float16' as never }),
      TypeError,
      /'precision' must be 'float32' or 'float64', got 'float16'/
    );
    expectArgError(() => gemm(a4(), a4(), 2, 2, 2, { alpha: NaN }), RangeError, /'alpha' must be finite/);
  });
  it('outputs that overlap inputs', () => {
    const k = new Float32Array([2, 0, 0, 2]);
    expectArgError(() => choleskySolve(k, 2, new Float32Array(2), 1, { out: k.subarray(0, 2) }), RangeError, /output 'X' must not overlap input 'K'/);
    const buf = new Float32Array(8);
    expectArgError(() => gemm(buf.subarray(0, 4), a4(), 2, 2, 2, { out: buf.subarray(2, 6) }), RangeError, /output 'C' must not overlap input 'A'/);
  });
  it('NaN or Inf in the data is a named error, not a silent NaN', () => {
    let err: (Error & { code?: string }) | undefined;
    try {
      gram(new Float32Array([1, NaN, 3, 4]), 2, 2);
    } catch (e) {
      err = e as typeof err;
    }
    expect(err?.code).toBe('ERR_NON_FINITE');
    expect(err?.message).toMatch(/'J' contains NaN at index 1/);
  });
  it('a large array (scanned in parallel ranges) names its first non-finite element, as a serial scan would', () => {
    const m = 1100; // K has 1.21 Mi elements: split among the threads from 1 Mi
    const k = new Float32Array(m * m);
    for (let i = 0; i < m; i++) k[i * m + i] = 1;
    const at = (i: number) => {
      try {
        choleskySolve(k, m, new Float32Array(m).fill(1));
      } catch (e) {
        return [(e as { code?: string }).code, (e as Error).message.match(/'K' contains (\w+) at index (\d+)/)?.slice(1)];
      }
      return ['no error', i];
    };
    k[m * m - 1] = Infinity; // in the last range
    expect(at(0)).toEqual(['ERR_NON_FINITE', ['Infinity', String(m * m - 1)]]);
    k[700_000] = NaN; // an earlier range, and a later element in the same range
    k[700_001] = -Infinity;
    expect(at(0)).toEqual(['ERR_NON_FINITE', ['NaN', '700000']]);
    k[5] = -Infinity; // the first range
    expect(at(0)).toEqual(['ERR_NON_FINITE', ['Infinity', '5']]);
  });
  it('subarray views with an offset are read in place', () => {
    const base = new Float32Array([9, 9, 1, 2, 3, 4, 5, 6, 9]);
    expect(Array.from(gram(base.subarray(2, 8), 3, 2))).toEqual([35, 44, 44, 56]);
  });
});
