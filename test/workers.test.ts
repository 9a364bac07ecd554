// natgrad inside Worker threads (worker pools such as piscina): an environment that goes away with
// work in flight must not take the process down, and each environment keeps its own state.
// Both run in a child process (an abort there fails the test instead of killing the runner), on the
// compiled library (dist/, built by `npm run build` before the tests) with the addon under test.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { backend } from '../lib/index';

const root = path.resolve(__dirname, '..');
const dist = path.join(root, 'dist', 'index.js');
const run = (child: string, count: number, ...more: string[]) => {
  if (!fs.existsSync(dist)) throw new Error(`${dist} is missing: run npm run build:ts before the tests`);
  const r = spawnSync(process.execPath, [path.join(__dirname, 'helpers', child), dist, String(count), ...more], {
    encoding: 'utf8',
    env: { ...process.env, NATGRAD_ADDON: backend().addon },
    timeout: 120_000,
  });
  return { status: r.status, signal: r.signal, stderr: r.stderr, out: r.status === 0 ? JSON.parse(r.stdout) : null };
};

describe('Workers', () => {
  it("50 Workers ended (terminate(), process.exit(), an uncaught throw) with every …Async kernel and every optimizer's stepAsync in flight: the process survives, the main thread's bits do not change", () => {
    const r = run('worker-teardown-child.cjs', 50);
    expect(r.stderr).not.toMatch(/terminate called|Aborted/);
    expect({ status: r.status, signal: r.signal }, `the child's stderr ends: ${r.stderr.slice(-3000)}`).toEqual({ status: 0, signal: null });
    expect(r.out).toMatchObject({ ended: 50, kernels: 7, steps: 3, mismatches: 0 });
    expect(r.out.references).toBeGreaterThanOrEqual(25); // the main thread computed every kernel at least once per pair of Workers
  });

  it('60 Workers terminate()d while they run natgrad calls in a loop (sync and Promise forms, backend(), optimizer steps): the process survives', () => {
    const r = run('worker-teardown-child.cjs', 60, 'loop');
    expect(r.stderr).not.toMatch(/terminate called|Aborted|FATAL ERROR/);
    expect({ status: r.status, signal: r.signal }, `the child's stderr ends: ${r.stderr.slice(-3000)}`).toEqual({ status: 0, signal: null });
    expect(r.out).toEqual({ terminated: 60, mismatches: 0 });
  });

  it("per-environment state: Workers loading natgrad and calling setThreads(1) leave the main thread's backend().reason, threads and bits as they were", () => {
    const r = run('worker-state-child.cjs', 6);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.out.reads).toBeGreaterThan(0);
    expect(r.out).toMatchObject({ wrongReasons: 0, wrongThreads: 0, changedBits: 0, mainThreads: 2 });
    expect(r.out.workerThreads).toEqual([1, 1, 1, 1, 1, 1]);
  });
});
