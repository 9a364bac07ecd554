// The prebuilt binary: `npm run prebuilds` output loads from a copy of the
// package that has no build/ folder (what an npm user gets), needs no library
// beyond the C/C++ runtime, and `npm pack` ships it.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = path.resolve(__dirname, '..');
let pkg = '';

beforeAll(() => {
  // a package folder as npm would install it: package.json, dist/, prebuilds/, node-gyp-build — no build/
  pkg = fs.mkdtempSync(path.join(os.tmpdir(), 'natgrad-pkg-'));
  execFileSync(process.execPath, [path.join(root, 'scripts/make-prebuild.js'), '--out', path.join(pkg, 'prebuilds')], { stdio: 'pipe' });
  execFileSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', path.join(root, 'tsconfig.json'), '--outDir', path.join(pkg, 'dist')], {
    stdio: 'pipe',
  });
  fs.copyFileSync(path.join(root, 'package.json'), path.join(pkg, 'package.json'));
  fs.cpSync(path.join(root, 'node_modules/node-gyp-build'), path.join(pkg, 'node_modules/node-gyp-build'), { recursive: true });
}, 120_000);

afterAll(() => {
  if (pkg) fs.rmSync(pkg, { recursive: true, force: true });
});

describe('prebuilt binary', () => {
  it('the package loads from prebuilds/ when there is no build/', () => {
    expect(fs.existsSync(path.join(pkg, 'build'))).toBe(false);
    const env = { ...process.env };
    delete env.NATGRAD_ADDON;
    const probe = spawnSync(
      process.execPath,
      ['-e', "const n = require('./'); const k = n.gram(new Float32Array([1,2,3,4,5,6]), 3, 2); console.log(JSON.stringify({ addon: n.backend().addon, k: Array.from(k) }))"],
      { cwd: pkg, env, encoding: 'utf8' },
    );
    expect(probe.status, probe.stderr).toBe(0);
    const out = JSON.parse(probe.stdout);
    expect(out.addon).toBe(path.join(pkg, 'prebuilds', `${process.platform}-${process.arch}`, 'natgrad.node'));
    expect(out.k).toEqual([35, 44, 44, 56]);
  });

  it('ldd resolves every library, and only the C/C++ runtime is needed', () => {
    const file = path.join(pkg, 'prebuilds', `${process.platform}-${process.arch}`, 'natgrad.node');
    const ldd = execFileSync('ldd', [file], { encoding: 'utf8' });
    expect(ldd).not.toMatch(/not found/);
    const names = ldd.split('\n').map((l) => l.trim().split(/\s+/)[0]).filter(Boolean).map((n) => path.basename(n));
    for (const n of names) expect(n).toMatch(/^(linux-vdso|libc\.|libm\.|libstdc\+\+|libgcc_s|ld-linux|libpthread|libdl|librt)/);
    expect(names.join(' ')).not.toMatch(/openblas|gfortran|lapack|blas/);
  });

  it('npm pack includes the prebuilt binary and the compiled library', () => {
    const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: pkg, encoding: 'utf8' });
    const files = (JSON.parse(out)[0].files as { path: string }[]).map((f) => f.path);
    expect(files).toContain(`prebuilds/${process.platform}-${process.arch}/natgrad.node`);
    expect(files).toContain('dist/index.js');
  });

  it('the loader applies NATGRAD_BACKEND and NATGRAD_THREADS', () => {
    const run = (env: Record<string, string>) => {
      const r = spawnSync(
        process.execPath,
        ['-e', "try { const n = require('./'); console.log(JSON.stringify(n.backend())) } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })) }"],
        { cwd: pkg, env: { ...process.env, ...env }, encoding: 'utf8' },
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
  });
});
