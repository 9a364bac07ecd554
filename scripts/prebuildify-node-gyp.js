#!/usr/bin/env node
// prebuildify's --node-gyp: prebuildify 6 knows only node-gyp, so it calls this as
//   <this> rebuild --target=<node version> --devdir=<dir> --arch=<arch> --release
// and this runs the cmake-js build (CMakeLists.txt, the main build) in the current folder instead;
// prebuildify then takes build/Release/natgrad.node, strips it and names it for node-gyp-build.
// A Node-API build needs no Node headers of a given version (node-api-headers), so --target and
// --devdir are not used. Set by scripts/prebuilds.js:
//   NATGRAD_BUILD_ROOT   a Debian root to compile in (cmake runs there through scripts/chroot-cmake.sh)
//   NATGRAD_TARGET_ARCH  arm64: cross-compile with cmake/aarch64-linux-gnu.cmake
'use strict';
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const args = process.argv.slice(2);
if (args[0] !== 'rebuild') {
  console.error(`prebuildify-node-gyp: expected 'rebuild', got '${args.join(' ')}'`);
  process.exit(2);
}
const flag = (name) => (args.find((a) => a.startsWith(`--${name}=`)) || '').slice(name.length + 3);
const arch = flag('arch') || process.arch;
const here = path.resolve(__dirname);

const cmakeJs = [require.resolve('cmake-js/bin/cmake-js'), 'rebuild', '--arch', arch, '-G', 'Unix Makefiles', '--parallel', '2'];
cmakeJs.push(args.includes('--debug') ? '--debug' : '--CDCMAKE_BUILD_TYPE=Release');
if (process.env.NATGRAD_BUILD_ROOT) cmakeJs.push('--cmake-path', path.join(here, 'chroot-cmake.sh'));
const env = { ...process.env };
if (arch !== process.arch) {
  if (arch !== 'arm64') {
    console.error(`prebuildify-node-gyp: no cross toolchain for --arch=${arch} (arm64 only)`);
    process.exit(2);
  }
  env.NATGRAD_TARGET_ARCH = arch;
  cmakeJs.push(`--CDCMAKE_TOOLCHAIN_FILE=${path.join(here, '..', 'cmake', 'aarch64-linux-gnu.cmake')}`);
}
const r = spawnSync(process.execPath, cmakeJs, { stdio: 'inherit', env });
process.exit(r.status === null ? 1 : r.status);
