#!/usr/bin/env node
// Finds OpenBLAS for both builds (CMakeLists.txt and binding.gyp).
// Prints one of: include | lib (the static archive) | libdir, or a JSON summary with no argument.
// Search order: $NATGRAD_OPENBLAS_DIR (a folder holding cblas.h and libopenblas.a, or include/ + lib/),
// then Debian/Ubuntu's libopenblas-dev (openblas-pthread, openblas-openmp, openblas64… folders).
'use strict';
const fs = require('fs');
const path = require('path');

function candidates() {
  const out = [];
  const env = process.env.NATGRAD_OPENBLAS_DIR;
  if (env) out.push({ include: env, lib: env }, { include: path.join(env, 'include'), lib: path.join(env, 'lib') });
  const arch = { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu' }[process.arch] || `${process.arch}-linux-gnu`;
  for (const flavour of ['openblas-pthread', 'openblas-openmp', 'openblas-serial']) {
    out.push({ include: `/usr/include/${arch}/${flavour}`, lib: `/usr/lib/${arch}/${flavour}` });
  }
  out.push({ include: '/usr/include/openblas', lib: '/usr/lib64' }, { include: '/usr/include', lib: `/usr/lib/${arch}` });
  return out;
}

function find() {
  for (const c of candidates()) {
    const header = path.join(c.include, 'cblas.h');
    const lib = path.join(c.lib, 'libopenblas.a');
    if (fs.existsSync(header) && fs.existsSync(lib)) return { include: c.include, lib, libdir: c.lib };
  }
  return null;
}

const found = find();
if (!found) {
  process.stderr.write(
    'natgrad: OpenBLAS not found (need cblas.h and the static libopenblas.a).\n' +
      '  On Debian/Ubuntu: sudo apt-get install -y libopenblas-dev libgfortran-12-dev\n' +
      '  Elsewhere: set NATGRAD_OPENBLAS_DIR to a folder with cblas.h and libopenblas.a.\n'
  );
  process.exit(1);
}
const what = process.argv[2];
process.stdout.write(what ? found[what] : JSON.stringify(found));
