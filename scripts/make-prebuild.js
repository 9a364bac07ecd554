#!/usr/bin/env node
// npm run prebuilds — makes prebuilds/<platform>-<arch>/natgrad.node from the
// cmake-js build (building it first if needed) and checks that it is
// self-contained: OpenBLAS is linked in, and the binary needs only the C/C++
// runtime (libc, libm, libstdc++, libgcc_s), so it loads on a machine with no
// compiler and no OpenBLAS. node-gyp-build finds it there after build/ is gone.
//   node scripts/make-prebuild.js [--out <folder>]   (default: prebuilds/)
'use strict';
const { execFileSync, spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const outFlag = process.argv.indexOf('--out');
const outRoot = outFlag > 0 ? path.resolve(process.argv[outFlag + 1]) : path.join(root, 'prebuilds');
const built = path.join(root, 'build', 'Release', 'natgrad.node');

// Libraries a prebuilt binary may depend on: present on every glibc Linux with Node.
const ALLOWED = /^(linux-vdso\.so|libc\.so|libm\.so|libstdc\+\+\.so|libgcc_s\.so|ld-linux[-\w]*\.so|libpthread\.so|libdl\.so|librt\.so)/;

if (!fs.existsSync(built)) {
  console.log('prebuilds: no build/Release/natgrad.node yet, building with cmake-js');
  execFileSync(process.execPath, [require.resolve('cmake-js/bin/cmake-js'), 'compile'], { cwd: root, stdio: 'inherit' });
}

const dir = path.join(outRoot, `${process.platform}-${process.arch}`);
fs.mkdirSync(dir, { recursive: true });
const target = path.join(dir, 'natgrad.node');
fs.copyFileSync(built, target);

// 1. dependencies: ldd must resolve every library, and each must be on the allowed list
const ldd = spawnSync('ldd', [target], { encoding: 'utf8' });
if (ldd.status !== 0) throw new Error(`prebuilds: ldd failed: ${ldd.stderr}`);
const libs = ldd.stdout.split('\n').map((l) => l.trim()).filter(Boolean);
const missing = libs.filter((l) => /not found/.test(l));
const extra = libs.map((l) => l.split(/\s+/)[0]).filter((name) => !ALLOWED.test(path.basename(name)));
if (missing.length || extra.length) {
  console.error(`prebuilds: ${target} is not self-contained`);
  for (const l of missing) console.error(`  unresolved: ${l}`);
  for (const l of extra) console.error(`  not allowed in a prebuild: ${l}`);
  process.exit(1);
}

// 2. it loads and computes in a fresh process
const probe = spawnSync(
  process.execPath,
  ['-e', `const a = require(${JSON.stringify(target)}); const k = a.gram(new Float32Array([1,2,3,4,5,6]), 3, 2, false, new Float32Array(4)); if (k.join() !== '35,44,44,56') process.exit(2); console.log(a.backendInfo().blas)`],
  { encoding: 'utf8' }
);
if (probe.status !== 0) {
  console.error(`prebuilds: ${target} does not load or compute correctly:\n${probe.stderr}`);
  process.exit(1);
}
const size = (fs.statSync(target).size / 1e6).toFixed(1);
console.log(`prebuilds: ${path.relative(process.cwd(), target)} (${size} MB, ${probe.stdout.trim()})`);
console.log(`prebuilds: needs only ${libs.map((l) => path.basename(l.split(/\s+/)[0])).join(', ')}`);
