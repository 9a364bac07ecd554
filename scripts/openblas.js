#!/usr/bin/env node
// Finds OpenBLAS (with its LAPACK) for both builds (CMakeLists.txt and binding.gyp), and says what to
// install when there is none. Ships in the npm tarball: a user's `npm install` runs it when no
// prebuilt binary fits the machine.
//   node scripts/openblas.js include   the folder holding cblas.h
//   node scripts/openblas.js link      the linker arguments, one per line (the static archive's path, or
//                                      -L<dir> -lopenblas [-Wl,-rpath,<dir>] for a shared library)
//   node scripts/openblas.js           a JSON summary {include, link, kind, where}
// Search order, first hit wins. In Debian's folders and $NATGRAD_OPENBLAS_DIR the static libopenblas.a is
// preferred (the .node is then self-contained: native/cpu/gfortran_runtime.cc stands in for the two
// libgfortran functions Debian's archive calls); elsewhere the shared libopenblas.so / .dylib is, since
// another build's archive may need more of libgfortran than natgrad supplies:
//   1. $NATGRAD_OPENBLAS_DIR: a folder holding cblas.h and the library, or its include/ and lib/;
//   2. Debian/Ubuntu libopenblas-dev: /usr/{include,lib}/<triplet>/openblas-{pthread,openmp,serial};
//   3. Fedora/RHEL openblas-devel (+ openblas-static): /usr/include/openblas, /usr/lib64;
//   4. Alpine openblas-dev, Arch, and other plain layouts: /usr/include, /usr/lib, /usr/local;
//   5. macOS Homebrew openblas: /opt/homebrew/opt/openblas, /usr/local/opt/openblas.
// NATGRAD_TARGET_ARCH (x64 | arm64; default this Node's arch) picks the Debian multiarch folder, for a
// cross build; NATGRAD_SYSROOT prefixes every system folder (a cross build's sysroot, and the tests).
// Written by hand rather than with pkg-config: Debian's openblas.pc names only the shared library and
// the folders differ per flavour, and a source build must not need pkg-config.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const TRIPLETS = { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu', arm: 'arm-linux-gnueabihf', ppc64: 'powerpc64le-linux-gnu', s390x: 's390x-linux-gnu' };

/** The places to look, in order: [{include, lib, where, prefer?}] (prefer: 'static' or, when absent, shared). */
function candidates(env, platform) {
  const out = [];
  const dir = env.NATGRAD_OPENBLAS_DIR;
  if (dir) {
    out.push({ include: dir, lib: dir, where: 'NATGRAD_OPENBLAS_DIR', prefer: 'static' });
    out.push({ include: path.join(dir, 'include'), lib: path.join(dir, 'lib'), where: 'NATGRAD_OPENBLAS_DIR', prefer: 'static' });
    return out; // an explicit folder is the only place looked at
  }
  const sys = (p) => path.join(env.NATGRAD_SYSROOT || '/', p);
  const arch = env.NATGRAD_TARGET_ARCH || process.arch;
  const triplet = TRIPLETS[arch] || `${arch}-linux-gnu`;
  for (const flavour of ['openblas-pthread', 'openblas-openmp', 'openblas-serial']) {
    out.push({
      include: sys(`usr/include/${triplet}/${flavour}`),
      lib: sys(`usr/lib/${triplet}/${flavour}`),
      where: `Debian/Ubuntu libopenblas-dev (${flavour})`,
      prefer: 'static',
    });
  }
  out.push({ include: sys('usr/include/openblas'), lib: sys('usr/lib64'), where: 'Fedora/RHEL openblas-devel' });
  out.push({ include: sys('usr/include/openblas'), lib: sys(`usr/lib/${triplet}`), where: 'openblas headers in /usr/include/openblas' });
  out.push({ include: sys('usr/include'), lib: sys('usr/lib'), where: '/usr (Alpine openblas-dev, Arch openblas)' });
  out.push({ include: sys('usr/include'), lib: sys(`usr/lib/${triplet}`), where: `/usr (${triplet})` });
  out.push({ include: sys('usr/local/include'), lib: sys('usr/local/lib'), where: '/usr/local' });
  if (platform === 'darwin') {
    for (const prefix of ['opt/homebrew/opt/openblas', 'usr/local/opt/openblas']) {
      out.push({ include: sys(`${prefix}/include`), lib: sys(`${prefix}/lib`), where: `Homebrew (${'/' + prefix})` });
    }
  }
  return out;
}

/** The first candidate with cblas.h and a library: {include, link[], kind, where} or null. */
function find(env = process.env, platform = process.platform) {
  const shared = platform === 'darwin' ? 'libopenblas.dylib' : 'libopenblas.so';
  for (const c of candidates(env, platform)) {
    if (!fs.existsSync(path.join(c.include, 'cblas.h'))) continue;
    const archive = path.join(c.lib, 'libopenblas.a');
    const staticHit = fs.existsSync(archive) ? { include: c.include, link: [archive], kind: 'static', where: c.where } : null;
    let sharedHit = null;
    if (fs.existsSync(path.join(c.lib, shared))) {
      const link = [`-L${c.lib}`, '-lopenblas'];
      // a library outside the loader's default folders is found at run time through the .node's rpath
      if (!/^\/usr\/lib(64)?(\/|$)/.test(c.lib)) link.push(`-Wl,-rpath,${c.lib}`);
      sharedHit = { include: c.include, link, kind: 'shared', where: c.where };
    }
    const hit = c.prefer === 'static' ? staticHit || sharedHit : sharedHit || staticHit;
    if (hit) return hit;
  }
  return null;
}

/** What to install, per platform, when nothing is found. */
function notFoundMessage(env = process.env) {
  const looked = env.NATGRAD_OPENBLAS_DIR ? `NATGRAD_OPENBLAS_DIR=${env.NATGRAD_OPENBLAS_DIR}` : 'the system folders';
  return (
    `natgrad: OpenBLAS not found in ${looked} (need cblas.h and libopenblas.a or libopenblas.so, with LAPACK).\n` +
    '  natgrad builds from source here because no prebuilt binary fits this machine. Install a compiler,\n' +
    '  CMake/Python (node-gyp) and OpenBLAS, then run npm install again:\n' +
    '    Debian/Ubuntu:  sudo apt-get install -y build-essential python3 libopenblas-dev\n' +
    '    Fedora/RHEL:    sudo dnf install -y gcc-c++ make python3 openblas-devel\n' +
    '    Alpine:         apk add build-base python3 openblas-dev\n' +
    '    macOS:          xcode-select --install && brew install openblas\n' +
    '  or set NATGRAD_OPENBLAS_DIR to a folder holding cblas.h and libopenblas.a (or its include/ and lib/).\n'
  );
}

module.exports = { candidates, find, notFoundMessage };

if (require.main === module) {
  const found = find();
  if (!found) {
    process.stderr.write(notFoundMessage());
    process.exit(1);
  }
  const what = process.argv[2];
  if (!what) process.stdout.write(JSON.stringify(found));
  else if (what === 'include') process.stdout.write(found.include);
  else if (what === 'link') process.stdout.write(found.link.join('\n'));
  else if (what === 'kind') process.stdout.write(found.kind);
  else {
    process.stderr.write(`natgrad: scripts/openblas.js: unknown argument '${what}' (include | link | kind)\n`);
    process.exit(2);
  }
}
