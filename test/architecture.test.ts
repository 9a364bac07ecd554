// The "never" arrows of docs/architecture.json that dependency-cruiser cannot see: between the native
// parts (#include lines of native/), and the one door from TypeScript to C++ (lib/native.ts). The
// TypeScript arrows are checked by `npm run lint:deps` (.dependency-cruiser.cjs), run by CI.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(__dirname, '..');
const architecture = JSON.parse(fs.readFileSync(path.join(root, 'docs', 'architecture.json'), 'utf8')) as {
  parts: Record<string, { is: string[] }>;
  never: [string, string, string][];
};

function filesUnder(rel: string, ext: RegExp): string[] {
  const abs = path.join(root, rel);
  if (!fs.statSync(abs).isDirectory()) return ext.test(rel) ? [rel] : [];
  return fs.readdirSync(abs, { withFileTypes: true }).flatMap((e) => filesUnder(path.posix.join(rel, e.name), ext));
}
const partOf = (file: string) =>
  Object.keys(architecture.parts).find((name) => architecture.parts[name].is.some((p) => (p.endsWith('/') ? file.startsWith(p) : file === p)));

describe('docs/architecture.json', () => {
  it('places every source file of lib/ and native/ in a part', () => {
    const files = [...filesUnder('lib', /\.ts$/), ...filesUnder('native', /\.(cc|h|cu|cpp)$/)];
    expect(files.filter((f) => partOf(f) === undefined)).toEqual([]);
  });
  it('native: no #include crosses a "never" arrow (CPU and CUDA backends are independent)', () => {
    const nativeNever = architecture.never.filter(([from, to]) => [from, to].every((p) => architecture.parts[p].is.every((f) => f.startsWith('native/'))));
    expect(nativeNever.length).toBeGreaterThan(0);
    const violations: string[] = [];
    for (const file of filesUnder('native', /\.(cc|h|cu)$/)) {
      const from = partOf(file);
      for (const [, inc] of fs.readFileSync(path.join(root, file), 'utf8').matchAll(/^\s*#\s*include\s+"([^"]+)"/gm)) {
        const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), inc));
        const to = partOf(target);
        for (const [f, t, why] of nativeNever) if (from === f && to === t) violations.push(`${file} includes ${target}: ${why}`);
      }
    }
    expect(violations).toEqual([]);
  });
  it('TypeScript reaches the addon only through lib/native.ts', () => {
    const loaders = filesUnder('lib', /\.ts$/).filter((f) => /node-gyp-build|\.node['"]|process\.dlopen/.test(fs.readFileSync(path.join(root, f), 'utf8')));
    expect(loaders).toEqual(['lib/native.ts']);
  });
});
