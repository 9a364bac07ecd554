// What an ELF shared object needs from the system, read with readelf (binutils; it reads any target's
// ELF, so one tool serves the x64 and arm64 builds): the libraries it names (DT_NEEDED) and, per
// symbol-version family (GLIBC, GLIBCXX, CXXABI, GCC), the newest version it requires.
//   node scripts/elf.js <file.node>    prints {needed, newest} as JSON
'use strict';
const { execFileSync } = require('node:child_process');

/** '2.31' < '2.34', '3.4.9' < '3.4.28': compares dotted version numbers. */
function compareVersions(a, b) {
  const x = a.split('.').map(Number),
    y = b.split('.').map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] || 0) - (y[i] || 0);
    if (d) return d;
  }
  return 0;
}

/** {needed: ['libc.so.6', …], newest: {GLIBC: '2.29', …}, machine: 'AArch64' | 'Advanced Micro Devices X86-64' …} */
function elfNeeds(file) {
  const dynamic = execFileSync('readelf', ['-d', '-W', file], { encoding: 'utf8' });
  const needed = [...dynamic.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
  const versions = execFileSync('readelf', ['-V', '-W', file], { encoding: 'utf8' });
  // the .gnu.version_r section lists "Name: GLIBC_2.29  Flags: none  Version: 5" per required version
  const start = versions.indexOf('.gnu.version_r');
  const newest = {};
  for (const m of (start < 0 ? '' : versions.slice(start)).matchAll(/Name: ([A-Z]+)_([0-9.]+)/g)) {
    const [, family, version] = m;
    if (!newest[family] || compareVersions(version, newest[family]) > 0) newest[family] = version;
  }
  const header = execFileSync('readelf', ['-h', '-W', file], { encoding: 'utf8' });
  const machine = (header.match(/Machine:\s+(.+)/) || ['', ''])[1].trim();
  return { needed, newest, machine };
}

module.exports = { compareVersions, elfNeeds };

if (require.main === module) {
  if (!process.argv[2]) {
    console.error('usage: node scripts/elf.js <file>');
    process.exit(2);
  }
  console.log(JSON.stringify(elfNeeds(process.argv[2])));
}
