// natgrad's own CPU kernels (gemm_nt behind gemm and layerGramSum, the recursive Cholesky) under every NATGRAD_CPU_GEMM setting:
// auto, natgrad (AVX-512 micro-kernel where the CPU has it), natgrad-portable (the micro-kernel an
// older CPU runs) and openblas (OpenBLAS's sgemm for gemm and its BLAS-3 for the factorisation). The setting is read once
// per process, so each runs in a child; the results are checked here against float64 references.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { backend } from '../lib/index';
import { matmul64, norm } from './linalg64';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const { inputs } = require('./helpers/cpu-gemm-child.cjs');
const u = 2 ** -24;
const child = path.join(__dirname, 'helpers', 'cpu-gemm-child.cjs');
const floats = (b64: string) => {
  const buf = Buffer.from(b64, 'base64');
  return new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
};

const inp = inputs();
const nk = inp.n * inp.kk;
// float64 layerGramSum reference and its error scale (Σ |B||B|ᵀ ⊙ (|A||A|ᵀ + 1))
const ref = new Float64Array(nk * nk),
  bound = new Float64Array(nk * nk);
inp.widths.forEach(([wo, wi]: number[], l: number) => {
  const bb = matmul64(inp.bs[l], inp.bs[l], nk, nk, wo, false, true),
    aa = matmul64(inp.as[l], inp.as[l], inp.n, inp.n, wi, false, true);
  const ab = inp.bs[l].map(Math.abs),
    aA = inp.as[l].map(Math.abs);
  const bbAbs = matmul64(ab, ab, nk, nk, wo, false, true),
    aaAbs = matmul64(aA, aA, inp.n, inp.n, wi, false, true);
  for (let x = 0; x < nk; x++)
    for (let y = 0; y < nk; y++) {
      const i = Math.floor(x / inp.kk),
        j = Math.floor(y / inp.kk);
      ref[x * nk + y] += bb[x * nk + y] * (aa[i * inp.n + j] + 1);
      bound[x * nk + y] += bbAbs[x * nk + y] * (aaAbs[i * inp.n + j] + 1);
    }
});

// gemm reference: C = 0.5·AᵀB − C₀ and its error scale 0.5·|A|ᵀ|B| + |C₀|
const g = inp.gemm;
const gemmRef = matmul64(g.a, g.b, g.m, g.n, g.k, true, false).map((v: number, i: number) => 0.5 * v - g.c[i]);
const gemmAbs = matmul64(g.a.map(Math.abs), g.b.map(Math.abs), g.m, g.n, g.k, true, false).map((v: number, i: number) => 0.5 * v + Math.abs(g.c[i]));

describe.each([
  ['auto', /./],
  ['natgrad', /gemm: natgrad gemm_nt.*choleskySolve float32: natgrad recursive Cholesky/],
  ['natgrad-avx2', /gemm_nt \((avx2|portable)\).*natgrad recursive Cholesky on gemm_nt \((avx2|portable)\)/],
  ['natgrad-portable', /gemm_nt \(portable\).*natgrad recursive Cholesky on gemm_nt \(portable\)/],
  ['openblas', /gemm: OpenBLAS sgemm; gram: OpenBLAS ssyrk; choleskySolve float32: OpenBLAS blocked Cholesky/],
])('NATGRAD_CPU_GEMM=%s', (setting, kernels) => {
  const run = spawnSync(process.execPath, [child], {
    encoding: 'utf8',
    env: { ...process.env, NATGRAD_ADDON: backend().addon, NATGRAD_CPU_GEMM: setting },
  });
  const out = run.status === 0 ? JSON.parse(run.stdout) : null;
  it('runs, and backend().kernels says which code runs', () => {
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(out.kernels).toMatch(kernels);
    expect(out.kernels).toContain(`(NATGRAD_CPU_GEMM=${setting})`);
  });
  it('choleskySolve: residual ‖(K + λI)X − R‖ ≤ 3M·u·(‖K + λI‖‖X‖ + ‖R‖), M = 300', () => {
    const x = floats(out.x);
    const kx = matmul64(inp.k, x, inp.m, 2, inp.m);
    const res = kx.map((v: number, i: number) => v + inp.damping * x[i] - inp.rhs[i]);
    expect(norm(res)).toBeLessThanOrEqual(3 * inp.m * u * ((norm(inp.k) + inp.damping * Math.sqrt(inp.m)) * norm(x) + norm(inp.rhs)));
  });
  it('choleskySolve names the failing leading minor (order 200 of 300)', () => {
    expect(out.failure).toEqual({ code: 'ERR_NOT_POSITIVE_DEFINITE', column: 200 });
  });
  it('gemm (transA, k = 300, beta = −1): within (k + 2)·u of float64', () => {
    const c = floats(out.gemm);
    expect(norm(c.map((v, i) => v - gemmRef[i]))).toBeLessThanOrEqual((g.k + 2) * u * norm(gemmAbs));
  });
  it('layerGramSum: within (width + 5)·u of the float64 kernel, exactly symmetric', () => {
    const kern = floats(out.kern);
    let err = 0,
      scale = 0,
      asymmetric = 0;
    for (let i = 0; i < nk * nk; i++) {
      err += (kern[i] - ref[i]) ** 2;
      scale += bound[i] ** 2;
    }
    for (let x = 0; x < nk; x++) for (let y = 0; y < x; y++) if (kern[x * nk + y] !== kern[y * nk + x]) asymmetric++;
    expect(Math.sqrt(err)).toBeLessThanOrEqual((41 + 41 + 5) * u * Math.sqrt(scale));
    expect(asymmetric).toBe(0);
  });
});
