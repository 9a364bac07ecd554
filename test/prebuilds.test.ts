// The prebuilt binaries that `npm run prebuilds` makes (scripts/prebuilds.js: prebuildify driving the
// cmake-js build in a Debian 11 root): what they need from the system (glibc ≤ 2.31, nothing of
// libstdc++), that the x64 one loads from a package folder with no build/ and computes inside the
// Debian 11 root with this Node, and that the arm64 one runs the kernel tests' small cases under
// qemu-aarch64 with Debian 12's arm64 Node. Without prebuilds/ (a checkout where they were not made:
// it needs root) these tests skip, saying so; CI sets NATGRAD_REQUIRE_PREBUILDS=1, and then they fail.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = path.resolve(__dirname, '..');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { elfNeeds, compareVersions } = require('../scripts/elf.js') as {
  elfNeeds(file: string): { needed: string[]; newest: Record<string, string>; machine: string };
  compareVersions(a: string, b: string): number;
};
const prebuilt = (arch: string) => path.join(root, 'prebuilds', `linux-${arch}`, 'natgrad.glibc.node');
const required = process.env.NATGRAD_REQUIRE_PREBUILDS === '1';
const have = (arch: string) => fs.existsSync(prebuilt(arch));
const why = (arch: string) => (have(arch) || required ? '' : ` (skipped: no ${path.relative(root, prebuilt(arch))}: npm run prebuilds, as root)`);
const bullseye = path.join(root, 'build-roots', 'bullseye-amd64');
const bookworm64 = path.join(root, 'build-roots', 'bookworm-arm64');
const isRoot = process.getuid?.() === 0;
const cases = path.join(__dirname, 'helpers', 'kernel-cases.cjs');

/** kernel-cases.cjs's report, checked: every case inside its bound, the bad inputs refused. */
function expectCasesPass(r: { status: number | null; stdout: string; stderr: string }, arch: string) {
  expect(r.status, r.stderr).toBe(0);
  const out = JSON.parse(r.stdout) as { arch: string; cases: { name: string; err: number; bound: number }[]; refusals: string[]; backend: { kernels: string } };
  expect(out.arch).toBe(arch);
  expect(out.cases.length).toBeGreaterThanOrEqual(13);
  for (const c of out.cases) expect(c.err, c.name).toBeLessThanOrEqual(c.bound);
  expect(out.refusals).toEqual([]);
  return out;
}

describe('what the prebuilt binaries need', () => {
  for (const arch of ['x64', 'arm64']) {
    it.skipIf(!have(arch) && !required)(
      `linux-${arch}: no symbol version newer than Debian 11's (GLIBC_2.31, GLIBCXX_3.4.28), only the C/C++ runtime${why(arch)}`,
      () => {
        expect(fs.existsSync(prebuilt(arch)), `${prebuilt(arch)} missing (npm run prebuilds)`).toBe(true);
        const needs = elfNeeds(prebuilt(arch));
        expect(needs.machine).toMatch(arch === 'x64' ? /X86-64/ : /AArch64/);
        const floor: Record<string, string> = { GLIBC: '2.31', GLIBCXX: '3.4.28', CXXABI: '1.3.12', GCC: '7.0.0' };
        expect(
          Object.keys(needs.newest).every((f) => f in floor),
          JSON.stringify(needs.newest)
        ).toBe(true);
        for (const [family, version] of Object.entries(needs.newest))
          expect(compareVersions(version, floor[family]), `${family}_${version}`).toBeLessThanOrEqual(0);
        for (const lib of needs.needed)
          expect(lib).toMatch(/^(libc\.so\.6|libm\.so\.6|libdl\.so\.2|libpthread\.so\.0|libstdc\+\+\.so\.6|libgcc_s\.so\.1|ld-linux[-\w.]*\.so\.[12])$/);
        expect(needs.needed.join(' ')).not.toMatch(/openblas|gfortran|lapack/);
      }
    );
  }

  it.skipIf((!have('x64') || !isRoot || !fs.existsSync(bullseye)) && !required)(
    `linux-x64 runs the kernel cases inside the Debian 11 root (glibc 2.31) with this Node${isRoot && fs.existsSync(bullseye) ? '' : ' (skipped: needs root and build-roots/bullseye-amd64)'}`,
    () => {
      const dir = fs.mkdtempSync(path.join(bullseye, 'tmp', 'natgrad-'));
      try {
        fs.copyFileSync(prebuilt('x64'), path.join(dir, 'natgrad.node'));
        fs.copyFileSync(cases, path.join(dir, 'kernel-cases.cjs'));
        fs.copyFileSync(process.execPath, path.join(dir, 'node'));
        const inside = '/' + path.relative(bullseye, dir);
        const env = { ...process.env };
        delete env.NODE_EXTRA_CA_CERTS;
        const glibc = spawnSync('chroot', [bullseye, '/usr/bin/ldd', '--version'], { encoding: 'utf8' });
        expect(glibc.stdout).toMatch(/GLIBC 2\.31/);
        const r = spawnSync('chroot', [bullseye, `${inside}/node`, `${inside}/kernel-cases.cjs`, `${inside}/natgrad.node`], { encoding: 'utf8', env });
        expectCasesPass(r, 'x64');
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
    60_000
  );

  const qemu = spawnSync('qemu-aarch64', ['--version']).status === 0 && fs.existsSync(path.join(bookworm64, 'usr/bin/node'));
  for (const setting of ['auto', 'natgrad', 'openblas']) {
    it.skipIf((!have('arm64') || !qemu) && !required)(
      `linux-arm64 runs the kernel cases under qemu-aarch64 (Debian 12 arm64 Node), NATGRAD_CPU_GEMM=${setting}${qemu ? '' : ' (skipped: needs qemu-aarch64 and build-roots/bookworm-arm64)'}`,
      () => {
        const r = spawnSync('qemu-aarch64', ['-L', bookworm64, path.join(bookworm64, 'usr/bin/node'), cases, prebuilt('arm64')], {
          encoding: 'utf8',
          env: { ...process.env, NATGRAD_CPU_GEMM: setting },
        });
        const out = expectCasesPass(r, 'arm64');
        // natgrad's x86 kernels are compiled out: its own kernels run the portable micro-kernel
        expect(out.backend.kernels).toMatch(/natgrad gemm_nt \(portable\)/);
        expect(out.backend.kernels).not.toMatch(/avx512/);
        if (setting === 'natgrad') expect(out.backend.kernels).toMatch(/gemm: natgrad gemm_nt/);
        if (setting === 'openblas') expect(out.backend.kernels).toMatch(/gemm: OpenBLAS sgemm/);
      },
      60_000
    );
  }
});

let pkg = '';

beforeAll(() => {
  if (!have('x64')) return;
  // a package folder as npm would install it: package.json, dist/, prebuilds/, node-gyp-build — no build/
  pkg = fs.mkdtempSync(path.join(os.tmpdir(), 'natgrad-pkg-'));
  fs.cpSync(path.join(root, 'prebuilds'), path.join(pkg, 'prebuilds'), { recursive: true });
  execFileSync(
    process.execPath,
    [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', path.join(root, 'tsconfig.json'), '--outDir', path.join(pkg, 'dist')],
    {
      stdio: 'pipe',
    }
  );
  fs.copyFileSync(path.join(root, 'package.json'), path.join(pkg, 'package.json'));
  fs.cpSync(path.join(root, 'node_modules/node-gyp-build'), path.join(pkg, 'node_modules/node-gyp-build'), { recursive: true });
}, 120_000);

afterAll(() => {
  if (pkg) fs.rmSync(pkg, { recursive: true, force: true });
});

describe.skipIf(!have('x64') && !required)(`the package with its prebuilt binary${why('x64')}`, () => {
  it('the package loads from prebuilds/ when there is no build/', () => {
    expect(fs.existsSync(path.join(pkg, 'build'))).toBe(false);
    const env = { ...process.env };
    delete env.NATGRAD_ADDON;
    const probe = spawnSync(
      process.execPath,
      [
        '-e',
        "const n = require('./'); const k = n.gram(new Float32Array([1,2,3,4,5,6]), 3, 2); console.log(JSON.stringify({ addon: n.backend().addon, k: Array.from(k) }))",
      ],
      { cwd: pkg, env, encoding: 'utf8' }
    );
    expect(probe.status, probe.stderr).toBe(0);
    const out = JSON.parse(probe.stdout);
    expect(out.addon).toBe(path.join(pkg, 'prebuilds', `${process.platform}-${process.arch}`, 'natgrad.glibc.node'));
    expect(out.k).toEqual([35, 44, 44, 56]);
  });

  it('ldd resolves every library, and only the C/C++ runtime is needed', () => {
    const file = path.join(pkg, 'prebuilds', `${process.platform}-${process.arch}`, 'natgrad.glibc.node');
    const ldd = execFileSync('ldd', [file], { encoding: 'utf8' });
    expect(ldd).not.toMatch(/not found/);
    const names = ldd
      .split('\n')
      .map((l) => l.trim().split(/\s+/)[0])
      .filter(Boolean)
      .map((n) => path.basename(n));
    for (const n of names) expect(n).toMatch(/^(linux-vdso|libc\.|libm\.|libstdc\+\+|libgcc_s|ld-linux|libpthread|libdl|librt)/);
    expect(names.join(' ')).not.toMatch(/openblas|gfortran|lapack|blas/);
  });

  it('npm pack includes the prebuilt binary and the compiled library', () => {
    const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: pkg, encoding: 'utf8' });
    const files = (JSON.parse(out)[0].files as { path: string }[]).map((f) => f.path);
    expect(files).toContain(`prebuilds/${process.platform}-${process.arch}/natgrad.glibc.node`);
    expect(files).toContain('dist/index.js');
  });

  it('the loader applies NATGRAD_BACKEND and NATGRAD_THREADS', () => {
    const run = (env: Record<string, string>) => {
      const r = spawnSync(
        process.execPath,
        [
          '-e',
          "try { const n = require('./'); console.log(JSON.stringify(n.backend())) } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })) }",
        ],
        { cwd: pkg, env: { ...process.env, ...env }, encoding: 'utf8' }
      );
      return JSON.parse(r.stdout);
    };
    expect(run({ NATGRAD_BACKEND: 'cpu', NATGRAD_THREADS: '1' })).toMatchObject({ name: 'cpu', threads: 1 });
    expect(run({ NATGRAD_BACKEND: 'auto' }).reason).toMatch(/^cpu: CUDA not used/);
    expect(run({ NATGRAD_BACKEND: 'cuda' })).toMatchObject({ code: 'ERR_BACKEND_UNAVAILABLE' });
    expect(run({ NATGRAD_BACKEND: 'gpu' }).message).toMatch(/NATGRAD_BACKEND must be auto, cpu or cuda/);
    expect(run({ NATGRAD_THREADS: 'two' }).message).toMatch(/NATGRAD_THREADS must be a positive integer/);
  });

  it('a failed load throws one actionable error', () => {
    const probe = spawnSync(process.execPath, ['-e', "try { require('./') } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })) }"], {
      cwd: pkg,
      env: { ...process.env, NATGRAD_ADDON: path.join(pkg, 'no-such.node') },
      encoding: 'utf8',
    });
    const err = JSON.parse(probe.stdout);
    expect(err.code).toBe('ERR_NATGRAD_LOAD');
    expect(err.message).toMatch(/no-such\.node/);
    expect(err.message).toMatch(/apt-get install/);
    expect(err.message).toMatch(/brew install openblas/);
    expect(err.message).toMatch(/glibc ≥ 2.31/);
  });
});
