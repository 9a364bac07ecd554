// The two builds of the same sources: cmake-js (the main one, loaded by the rest
// of the suite) and node-gyp (binding.gyp). CI builds both and points
// NATGRAD_GYP_ADDON at the node-gyp binary; elsewhere that comparison is skipped.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { backend, batchedGramInverse, choleskySolve, gram, layerGram } from '../lib/index';
import { randn, relErr, rng } from './linalg64';

const root = path.resolve(__dirname, '..');
const gypAddon = process.env.NATGRAD_GYP_ADDON;

function sourcesOnDisk(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(path.join(root, dir), { withFileTypes: true })) {
      const rel = `${dir}/${e.name}`;
      if (e.isDirectory()) walk(rel);
      else if (e.name.endsWith('.cc')) out.push(rel);
    }
  };
  walk('native');
  return out.sort();
}

describe('builds', () => {
  it('binding.gyp compiles every native source that CMakeLists.txt globs', () => {
    const gyp = JSON.parse(fs.readFileSync(path.join(root, 'binding.gyp'), 'utf8'));
    expect([...gyp.targets[0].sources].sort()).toEqual(sourcesOnDisk());
  });

  it.skipIf(!gypAddon)(
    `the node-gyp build computes what the cmake-js build does${gypAddon ? '' : ' (skipped: NATGRAD_GYP_ADDON not set; .ci/run sets it)'}`,
    () => {
      expect(fs.existsSync(gypAddon as string), `NATGRAD_GYP_ADDON=${gypAddon} does not exist`).toBe(true);
      expect(path.resolve(gypAddon as string)).not.toBe(backend().addon);
      // the same inputs through the gyp binary, in a child process
      const script = `
      const a = require(${JSON.stringify(path.resolve(gypAddon as string))});
      const [j, g, b, A] = JSON.parse(process.argv[1]).map((x) => Float32Array.from(x));
      const k = a.gram(j, 40, 30, false, false, new Float32Array(900));
      const x = a.choleskySolve(k, 30, new Float32Array(30).fill(1), 1, 0.1, 'float32', new Float32Array(30));
      const inv = a.batchedGramInverse(g, 8, 12, 5, 0, new Float32Array(200));
      const lk = a.layerGram(b, A, 6, 2, 7, 4, new Float32Array(144));
      console.log(JSON.stringify([k, x, inv, lk].map((v) => Array.from(v))));`;
      const r = rng(3);
      const j = randn(40 * 30, r),
        g = randn(8 * 12 * 5, r),
        b = randn(12 * 7, r),
        A = randn(6 * 4, r);
      const child = spawnSync(process.execPath, ['-e', script, JSON.stringify([j, g, b, A].map((v) => Array.from(v)))], { encoding: 'utf8' });
      expect(child.status, child.stderr).toBe(0);
      const [k, x, inv, lk] = JSON.parse(child.stdout) as number[][];
      const k0 = gram(j, 40, 30);
      const u = 2 ** -24;
      // same OpenBLAS, same sources: equal up to the compilers' instruction choices
      expect(relErr(k, k0)).toBeLessThanOrEqual(4 * u);
      expect(relErr(x, choleskySolve(k0, 30, new Float32Array(30).fill(1), 1, { damping: 0.1 }))).toBeLessThanOrEqual(1e3 * u);
      expect(relErr(inv, batchedGramInverse(g, 8, 12, 5))).toBeLessThanOrEqual(1e3 * u);
      expect(relErr(lk, layerGram(b, A, 6, 2, 7, 4, new Float32Array(144)))).toBeLessThanOrEqual(4 * u);
    }
  );
});
