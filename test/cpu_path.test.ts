// Which code runs the CPU backend's products (native/cpu/gemm_nt.h): the auto rule of NATGRAD_CPU_GEMM
// as a table over every CPU level and OpenBLAS kernel set (a pure function, so the whole table is
// checked on any machine, whichever case this one is), what backend().cpu reports under the setting this
// file runs with (it runs once per vitest project: auto, natgrad, natgrad-avx2, natgrad-portable,
// openblas), and the parking of OpenBLAS's idle threads before natgrad's parallel regions.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { backend, gemm, layerGramSum } from '../lib/index';
import { native } from '../lib/native';
import type { IsaLevel } from '../lib/native';

const root = path.resolve(__dirname, '..');
const setting = process.env.NATGRAD_CPU_GEMM ?? 'auto';
const onCpu = backend().name === 'cpu';

describe('the auto rule (cpuPathRule), as a table', () => {
  // [CPU level, OpenBLAS core as openblas_get_corename() spells it, gemm, Cholesky]
  const table: [IsaLevel, string, 'natgrad' | 'openblas', 'natgrad' | 'openblas'][] = [
    // AVX-512 CPU: natgrad's AVX-512 kernels unless OpenBLAS runs AVX-512 too
    ['AVX-512', 'Prescott', 'natgrad', 'natgrad'],
    ['AVX-512', 'Nehalem', 'natgrad', 'natgrad'],
    ['AVX-512', 'Sandybridge', 'natgrad', 'natgrad'],
    ['AVX-512', 'Haswell', 'natgrad', 'natgrad'],
    ['AVX-512', 'Zen', 'natgrad', 'natgrad'],
    ['AVX-512', 'SkylakeX', 'openblas', 'openblas'],
    ['AVX-512', 'Cooperlake', 'openblas', 'openblas'],
    ['AVX-512', 'SapphireRapids', 'openblas', 'openblas'],
    // AVX2 CPU: natgrad's AVX2 kernels when OpenBLAS runs a set below AVX2 (the "AVX2 run as Prescott")
    ['AVX2', 'Prescott', 'natgrad', 'natgrad'],
    ['AVX2', 'Core2', 'natgrad', 'natgrad'],
    ['AVX2', 'Sandybridge', 'natgrad', 'natgrad'],
    ['AVX2', 'Bulldozer', 'natgrad', 'natgrad'],
    ['AVX2', 'Haswell', 'openblas', 'openblas'],
    ['AVX2', 'Zen', 'openblas', 'openblas'],
    // below AVX2, or not x86-64: natgrad has no faster kernel
    ['AVX', 'Prescott', 'openblas', 'openblas'],
    ['AVX', 'Sandybridge', 'openblas', 'openblas'],
    ['SSE', 'Prescott', 'openblas', 'openblas'],
    ['other', 'armv8', 'openblas', 'openblas'],
    ['other', 'NEOVERSEN1', 'openblas', 'openblas'],
    // a core name the table does not know (a newer OpenBLAS's) is taken to match the CPU
    ['AVX-512', 'FutureLake', 'openblas', 'openblas'],
    ['AVX2', 'FutureLake', 'openblas', 'openblas'],
  ];
  it.each(table)('%s CPU, OpenBLAS %s: gemm %s, Cholesky %s', (isa, core, gemmBy, cholBy) => {
    const r = native.cpuPathRule(isa, core);
    expect({ gemm: r.gemm, cholesky: r.cholesky }).toEqual({ gemm: gemmBy, cholesky: cholBy });
    expect(r.why).toContain(`OpenBLAS runs its ${core} kernels`);
  });
  it('says why with the measurement behind the choice', () => {
    expect(native.cpuPathRule('AVX2', 'Prescott').why).toMatch(
      /below this CPU's AVX2: natgrad's AVX2 kernels run gemm and the float32 Cholesky \(measured [\d.–×]+/
    );
    expect(native.cpuPathRule('AVX-512', 'Haswell').why).toMatch(/below this CPU's AVX-512/);
    expect(native.cpuPathRule('AVX2', 'Haswell').why).toMatch(/0\.71–0\.85× of OpenBLAS-Haswell/);
  });
  it('refuses a CPU level it does not know, and arguments of the wrong type', () => {
    expect(() => native.cpuPathRule('AVX3' as IsaLevel, 'Haswell')).toThrow(RangeError);
    expect(() => native.cpuPathRule('AVX3' as IsaLevel, 'Haswell')).toThrow(/cpuIsa must be 'AVX-512', 'AVX2', 'AVX', 'SSE' or 'other', got 'AVX3'/);
    expect(() => (native.cpuPathRule as (...a: unknown[]) => unknown)(2, 'Haswell')).toThrow(TypeError);
  });
});

describe.runIf(onCpu)(`backend().cpu under NATGRAD_CPU_GEMM=${setting}`, () => {
  const b = backend();
  const c = b.cpu!;
  it('names this CPU, the kernel set OpenBLAS runs and its level', () => {
    expect(['AVX-512', 'AVX2', 'AVX', 'SSE', 'other']).toContain(c.isa);
    expect(b.blas.endsWith(` ${c.openblasCore}`)).toBe(true);
    expect(['AVX-512', 'AVX2', 'AVX', 'SSE', 'other']).toContain(c.openblasIsa);
  });
  it('runs the micro-kernel the setting asks for, or the widest this CPU has', () => {
    const widest = c.isa === 'AVX-512' ? 'avx512' : c.isa === 'AVX2' ? 'avx2' : 'portable';
    const expected =
      setting === 'natgrad-portable' ? 'portable' : setting === 'natgrad-avx2' ? (c.isa === 'AVX-512' || c.isa === 'AVX2' ? 'avx2' : 'portable') : widest;
    expect(c.microKernel).toBe(expected);
    expect(b.kernels).toContain(`layerGram, layerGramSum: natgrad gemm_nt (${expected})`);
  });
  it('gemm and the Cholesky: forced by the setting, else what the rule says for this machine', () => {
    if (setting === 'auto') {
      const r = native.cpuPathRule(c.isa, c.openblasCore);
      expect({ gemm: c.gemm, cholesky: c.cholesky, why: c.why }).toEqual({ gemm: r.gemm, cholesky: r.cholesky, why: r.why });
    } else {
      const own = setting === 'openblas' ? 'openblas' : 'natgrad';
      expect({ gemm: c.gemm, cholesky: c.cholesky }).toEqual({ gemm: own, cholesky: own });
      expect(c.why).toMatch(new RegExp(`^forced by NATGRAD_CPU_GEMM=${setting} \\(auto would run`));
    }
    expect(b.kernels).toContain(c.gemm === 'natgrad' ? 'gemm: natgrad gemm_nt' : 'gemm: OpenBLAS sgemm');
    expect(b.kernels).toContain(
      c.cholesky === 'natgrad' ? 'choleskySolve float32: natgrad recursive Cholesky' : 'choleskySolve float32: OpenBLAS blocked Cholesky'
    );
  });
  it('advises OPENBLAS_CORETYPE exactly when OpenBLAS runs a set below the CPU', () => {
    const rank = (l: IsaLevel) => ['SSE', 'AVX', 'AVX2', 'AVX-512'].indexOf(l);
    const below = c.isa !== 'other' && c.openblasIsa !== 'other' && rank(c.openblasIsa) < rank(c.isa);
    expect(b.note.includes('OPENBLAS_CORETYPE=')).toBe(below);
  });
});

// After a threaded OpenBLAS call, OpenBLAS's workers spin (2^28 cycles by default). natgrad gives them a
// short timeout at load (2^20 cycles), or, where the user set OPENBLAS_THREAD_TIMEOUT, parks them before
// its own parallel regions (blas_thread_shutdown_); the results do not change (native/cpu/parallel.h).
describe.runIf(onCpu)("OpenBLAS's idle threads and natgrad's parallel regions", () => {
  const parkingScript = `
    const ng = require(${JSON.stringify(path.join(root, 'dist', 'index.js'))});
    ng.setThreads(2);
    const hash = (f) => require('node:crypto').createHash('sha256').update(Buffer.from(f.buffer, f.byteOffset, f.byteLength)).digest('hex');
    const fill = (n, s) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + s));
    const n = 64, k = 4, rows = n * k;
    const bs = [fill(rows * 200, 1)], as = [fill(n * 300, 2)];
    const a = fill(400 * 400, 3), b = fill(400 * 400, 4);
    const spd = ng.gram(a, 400, 400), rhs = fill(400, 5);
    const before = ng.backend().cpu.parks;
    const outs = [];
    for (let i = 0; i < 3; i++) {
      // the float64 Cholesky is OpenBLAS's on every path (dpotrf's blocked BLAS-3, 2 threads)
      outs.push(hash(ng.choleskySolve(spd, 400, rhs, 1, { damping: 1, precision: 'float64' })));
      outs.push(hash(ng.layerGramSum(bs, as, n, k)));  // natgrad's pool
    }
    // the process's CPU time while the main thread sleeps 50 ms just after a threaded OpenBLAS call: what
    // OpenBLAS's idle workers spend spinning (the float64 Cholesky of 400² runs on 2 threads)
    ng.choleskySolve(spd, 400, rhs, 1, { damping: 1, precision: 'float64' });
    const u0 = process.cpuUsage();
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
    const u = process.cpuUsage(u0);
    const c = ng.backend().cpu;
    console.log(JSON.stringify({ parking: c.parking, parks: c.parks - before, outs, spinMs: (u.user + u.system) / 1000,
      leaked: process.env.OPENBLAS_THREAD_TIMEOUT ?? null }));
  `;
  const run = (env: Record<string, string>) => {
    const r = spawnSync(process.execPath, ['-e', parkingScript], {
      encoding: 'utf8',
      env: { ...process.env, NATGRAD_ADDON: backend().addon, ...env },
    });
    expect(r.stderr).toBe('');
    return JSON.parse(r.stdout);
  };
  it("a short timeout by default, the user's timeout with parking, NATGRAD_PARK_OPENBLAS=0 neither; the same bits", () => {
    const short = run({}),
      parked = run({ OPENBLAS_THREAD_TIMEOUT: '28' }),
      off = run({ NATGRAD_PARK_OPENBLAS: '0' });
    expect(off.parking).toBe('off (NATGRAD_PARK_OPENBLAS=0)');
    expect(off.parks).toBe(0);
    if (short.parking.startsWith('unavailable')) {
      expect(short.parks).toBe(0); // an OpenBLAS without the symbols: the pools are left as they were
    } else {
      expect(short.parking).toMatch(/^short timeout \(OpenBLAS's workers sleep 2\^20 cycles/);
      expect(short.parks).toBe(0);
      // sleeping workers: well under the 50 ms that one spinning worker takes (measured ~1 ms against 50)
      expect(short.spinMs, 'CPU ms of OpenBLAS workers during a 50 ms sleep after a call').toBeLessThan(25);
      expect(short.leaked, 'OPENBLAS_THREAD_TIMEOUT is not left in the environment').toBeNull();
      expect(parked.parking).toBe('blas_thread_shutdown_');
      expect(parked.parks).toBeGreaterThanOrEqual(3); // each layerGramSum after a threaded OpenBLAS call
      expect(parked.leaked).toBe('28');
    }
    expect(short.outs).toEqual(off.outs);
    expect(parked.outs).toEqual(off.outs);
  });
  it('a gemm and a layerGramSum give the same bits before and after a park (in this process)', () => {
    const x = Float32Array.from({ length: 300 * 300 }, (_, i) => Math.cos(i));
    const bs = [Float32Array.from({ length: 256 * 100 }, (_, i) => Math.sin(i))],
      as = [Float32Array.from({ length: 64 * 50 }, (_, i) => Math.cos(i))];
    const g1 = gemm(x, x, 300, 300, 300),
      k1 = layerGramSum(bs, as, 64, 4);
    const g2 = gemm(x, x, 300, 300, 300),
      k2 = layerGramSum(bs, as, 64, 4);
    expect(Buffer.from(g2.buffer).equals(Buffer.from(g1.buffer))).toBe(true);
    expect(Buffer.from(k2.buffer).equals(Buffer.from(k1.buffer))).toBe(true);
  });
});
