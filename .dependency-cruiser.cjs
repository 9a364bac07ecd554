// The import rules of lib/ (npm run lint:deps, run by CI): every "never" arrow of docs/architecture.json
// becomes a forbidden rule from that part's files to the other part's, and there are no import cycles
// (type-only imports included). The parts and arrows live in docs/architecture.json alone; this file
// only translates them for dependency-cruiser. (Native #include arrows: test/architecture.test.ts.)
'use strict';
const architecture = require('./docs/architecture.json');

const escapeRe = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** A regular expression matching a part's files: a folder ("lib/nn/") or a file ("lib/linalg.ts"). */
const pathsOf = (part) => {
  const p = architecture.parts[part];
  if (!p) throw new Error(`.dependency-cruiser.cjs: docs/architecture.json names an unknown part '${part}'`);
  return `^(${p.is.map((f) => (f.endsWith('/') ? escapeRe(f) : `${escapeRe(f)}$`)).join('|')})`;
};
const tsParts = Object.keys(architecture.parts).filter((name) => architecture.parts[name].is.every((f) => f.startsWith('lib/')));

module.exports = {
  forbidden: [
    ...architecture.never
      .filter(([from, to]) => tsParts.includes(from) && tsParts.includes(to))
      .map(([from, to, why]) => ({
        name: `${from}-not-to-${to}`,
        comment: why,
        severity: 'error',
        from: { path: pathsOf(from) },
        to: { path: pathsOf(to) },
      })),
    {
      name: 'no-circular',
      comment: 'modules that import each other (type-only imports too) cannot be read, tested or moved one at a time',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'an import that does not resolve to a file',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // lib/ only: tests, benches and scripts may reach anywhere. (exclude, not includeOnly: an import
    // that does not resolve must stay visible to the not-to-unresolvable rule)
    exclude: { path: '^(node_modules|dist|test|bench|scripts)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
