#!/usr/bin/env node
// npm run prebuilds — the prebuilt binaries, made with prebuildify (driving the cmake-js build through
// scripts/prebuildify-node-gyp.js) and named for node-gyp-build:
//   prebuilds/linux-x64/natgrad.glibc.node     compiled in a Debian 11 root (glibc 2.31, g++ 10)
//   prebuilds/linux-arm64/natgrad.glibc.node   cross-compiled in the same root with Debian's aarch64
//                                              toolchain against Debian's arm64 OpenBLAS (multiarch)
// Both link OpenBLAS (with its LAPACK) statically, so they need only glibc ≥ 2.31 and libstdc++ ≥ g++ 10's
// (GLIBCXX_3.4.28) at run time: Debian ≥ 11, Ubuntu ≥ 20.04, and newer glibc distributions.
// Node-API 9, so one file serves every Node ≥ 18.17 on that platform; no musl (Alpine) build: there,
// `npm install` builds from source (node-gyp-build's fallback).
// Each binary is checked: the libraries and symbol versions it needs (scripts/elf.js), and that it
// loads and computes — the x64 one here and inside the Debian 11 root, the arm64 one under
// qemu-aarch64 with Debian 12's arm64 Node when that root exists (test/prebuilds.test.ts does more).
//
//   node scripts/prebuilds.js [--arch=x64,arm64] [--out=<folder>]   needs root: debootstrap + chroot
//                                                                    (scripts/debian-root.sh)
//   node scripts/prebuilds.js --host [--out=<folder>]                this machine's toolchain, its own
//                                                                    arch only, no glibc floor
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { compareVersions, elfNeeds } = require('./elf');

const root = path.resolve(__dirname, '..');
const arg = (name, dflt) => {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  return a ? a.slice(name.length + 3) : dflt;
};
const host = process.argv.includes('--host');
const arches = host ? [process.arch] : arg('arch', 'x64,arm64').split(',');
const outRoot = path.resolve(arg('out', root));
const buildRoot = path.join(root, 'build-roots', 'bullseye-amd64');
const nodeRoot = path.join(root, 'build-roots', 'bookworm-arm64');

/** The most a prebuilt binary may need: what Debian 11 (glibc 2.31, g++ 10) carries, as does Ubuntu 20.04. */
const FLOOR = { GLIBC: '2.31', GLIBCXX: '3.4.28', CXXABI: '1.3.12', GCC: '7.0.0' };
const ALLOWED_LIBS = /^(libc\.so\.6|libm\.so\.6|libdl\.so\.2|libpthread\.so\.0|libstdc\+\+\.so\.6|libgcc_s\.so\.1|ld-linux[-\w.]*\.so\.[12])$/;

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', ...opts });
  if (r.status !== 0) throw new Error(`prebuilds: ${cmd} ${args.join(' ')} failed (${r.status ?? r.signal})`);
}

/** build-prebuild/<arch>: what the build reads (links to the checkout), so prebuildify's build/ is its own. */
function makeStage(arch) {
  const stage = path.join(root, 'build-prebuild', arch);
  fs.rmSync(stage, { recursive: true, force: true });
  fs.mkdirSync(stage, { recursive: true });
  for (const f of ['package.json', 'CMakeLists.txt', 'native', 'scripts', 'cmake', 'node_modules']) {
    fs.symlinkSync(path.join(root, f), path.join(stage, f));
  }
  return stage;
}

function isMounted(dir) {
  return fs
    .readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[1] === dir);
}

/** Runs fn with the checkout bind-mounted at its own path inside the build root, and this Node in it. */
function withBuildRoot(fn) {
  run('bash', [path.join(__dirname, 'debian-root.sh'), 'bullseye-amd64', buildRoot]);
  const mountPoint = path.join(buildRoot, root);
  fs.mkdirSync(mountPoint, { recursive: true });
  fs.copyFileSync(process.execPath, path.join(buildRoot, 'usr/local/bin/node'));
  fs.chmodSync(path.join(buildRoot, 'usr/local/bin/node'), 0o755);
  const mounted = !isMounted(mountPoint);
  if (mounted) run('mount', ['--bind', root, mountPoint]);
  try {
    return fn();
  } finally {
    if (mounted) run('umount', [mountPoint]);
  }
}

function prebuildify(arch, stage) {
  const strip = arch === process.arch ? 'strip' : 'aarch64-linux-gnu-strip';
  const args = [
    require.resolve('prebuildify/bin.js'),
    '--napi',
    '--tag-libc',
    '--strip',
    '--strip-bin',
    strip,
    '--arch',
    arch,
    '--node-gyp',
    path.join(__dirname, 'prebuildify-node-gyp.js'),
    '--cwd',
    stage,
    '--out',
    outRoot,
  ];
  const env = { ...process.env };
  if (!host) env.NATGRAD_BUILD_ROOT = buildRoot;
  run(process.execPath, args, { env });
  return path.join(outRoot, 'prebuilds', `linux-${arch}`, 'natgrad.glibc.node');
}

const PROBE =
  "const a = require(process.argv[1]); a.selectBackend('auto'); const k = a.gram(new Float32Array([1,2,3,4,5,6]), 3, 2, false, false, null);" +
  " if (Array.from(k).join() !== '35,44,44,56') { console.error('wrong gram: ' + Array.from(k)); process.exit(2); }" +
  ' const b = a.backendInfo(); console.log(b.blas + " | " + b.kernels.split(";")[0])';

/** Loads the binary and computes a 3 × 2 Gram: here, in the Debian 11 root, or under qemu-aarch64. */
function probe(file, where) {
  let r;
  if (where === 'here') r = spawnSync(process.execPath, ['-e', PROBE, file], { encoding: 'utf8' });
  else if (where === 'debian11') {
    const inside = path.join('/tmp', `natgrad-probe-${process.pid}.node`);
    fs.copyFileSync(file, path.join(buildRoot, inside));
    r = spawnSync('chroot', [buildRoot, '/usr/local/bin/node', '-e', PROBE, inside], { encoding: 'utf8' });
    fs.rmSync(path.join(buildRoot, inside), { force: true });
  } else r = spawnSync('qemu-aarch64', ['-L', nodeRoot, path.join(nodeRoot, 'usr/bin/node'), '-e', PROBE, file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`prebuilds: ${file} does not load or compute (${where}):\n${r.stderr || r.error}`);
  return r.stdout.trim();
}

function check(arch, file) {
  const needs = elfNeeds(file);
  const wantMachine = arch === 'arm64' ? /AArch64/ : /X86-64/;
  const problems = [];
  if (!wantMachine.test(needs.machine)) problems.push(`machine is ${needs.machine}`);
  for (const lib of needs.needed) if (!ALLOWED_LIBS.test(lib)) problems.push(`needs ${lib}`);
  for (const [family, version] of Object.entries(needs.newest)) {
    if (host) continue;
    if (!FLOOR[family]) problems.push(`needs ${family}_${version}`);
    else if (compareVersions(version, FLOOR[family]) > 0) problems.push(`needs ${family}_${version} (> ${FLOOR[family]})`);
  }
  if (problems.length) throw new Error(`prebuilds: ${file}:\n  ${problems.join('\n  ')}`);
  const loads = [];
  if (arch === process.arch) {
    loads.push(`here: ${probe(file, 'here')}`);
    if (!host) loads.push(`Debian 11 root: ${probe(file, 'debian11')}`);
  } else if (fs.existsSync(path.join(nodeRoot, '.natgrad-root')) && spawnSync('qemu-aarch64', ['--version']).status === 0) {
    loads.push(`qemu-aarch64: ${probe(file, 'qemu')}`);
  } else loads.push('not loaded (no qemu-aarch64 or build-roots/bookworm-arm64: bash scripts/debian-root.sh bookworm-arm64)');
  const size = (fs.statSync(file).size / 1e6).toFixed(2);
  const versions = Object.entries(needs.newest)
    .map(([f, v]) => `${f}_${v}`)
    .join(', ');
  console.log(`prebuilds: ${path.relative(process.cwd(), file)} — ${size} MB, needs ${needs.needed.join(' ')} (newest ${versions})`);
  for (const l of loads) console.log(`prebuilds:   loads and computes, ${l}`);
}

function main() {
  if (!host && process.platform !== 'linux') throw new Error('prebuilds: the Debian-root build runs on Linux (use --host elsewhere)');
  if (!host && process.getuid && process.getuid() !== 0) {
    throw new Error(
      "prebuilds: building in the Debian 11 root needs root (debootstrap, chroot, mount); --host builds with this machine's toolchain without the glibc floor"
    );
  }
  if (!host && arches.includes('arm64')) run('bash', [path.join(__dirname, 'debian-root.sh'), 'bookworm-arm64', nodeRoot]);
  const files = [];
  const build = () => {
    for (const arch of arches) {
      console.log(`prebuilds: linux-${arch}${host ? " (this machine's toolchain)" : ' in the Debian 11 root'}`);
      files.push([arch, prebuildify(arch, makeStage(arch))]);
    }
  };
  if (host) build();
  else withBuildRoot(build);
  for (const [arch, file] of files) check(arch, file);
}

try {
  main();
} catch (e) {
  console.error(e.message);
  process.exit(1);
}
