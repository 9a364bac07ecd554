// A short version of bench/soak.js (npm run bench:soak: 10,000 steps, 10,000 async calls):
// 600 exact steps and 3,000 Promise-form kernel calls with RSS sampled after a full GC, fitted
// after a warm-up (slope within stretches of constant V8 heapTotal: V8 growing its own heap
// is not a leak). Runs this short are noisy (measured here: RSS −2.9 … +1.9 KiB/step, heapUsed
// 0.05–0.32 KiB/step while the JIT warms up, −0.3 … +0.5 KiB/call), so the bounds — 8 KiB/step
// RSS, 1 KiB/step heapUsed, 2 KiB/call — sit 3–4× above that; they still catch leaking any
// buffer of the step (the kernel K, 96² floats, is 36 KiB; a Jacobian block 96 × 32 is 12 KiB)
// or a call's private copies (1.5–72 KiB). A planted 36 KiB/step leak measured 36.8 KiB/step.
// Smaller leaks are the 10,000-iteration bench's job (it settles to tens of bytes).
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { describe, expect, it } from 'vitest';
import { gemmAsync, layerGramAsync, choleskySolveAsync, batchedGramInverseAsync, linear, NaturalGradient, sequential, tanh } from '../lib/index';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

type Sample = [number, number, number, number]; // iteration, rss, heapTotal, heapUsed
function sample(samples: Sample[], i: number) {
  gc();
  const m = process.memoryUsage();
  samples.push([i, m.rss, m.heapTotal, m.heapUsed]);
}
/** One least-squares slope of y over stretches of constant heapTotal (an intercept each; the 2 samples after a change left out). */
function slopeWithinStretches(s: Sample[], y: (p: Sample) => number): number {
  const groups: Sample[][] = [];
  for (const p of s) {
    const g = groups[groups.length - 1];
    if (g && g[0][2] === p[2]) g.push(p);
    else groups.push([p]);
  }
  let sxx = 0,
    sxy = 0;
  groups.forEach((g, gi) => {
    const pts = gi === 0 ? g : g.slice(2);
    if (pts.length < 2) return;
    const mx = pts.reduce((a, p) => a + p[0], 0) / pts.length,
      my = pts.reduce((a, p) => a + y(p), 0) / pts.length;
    for (const p of pts) {
      sxx += (p[0] - mx) ** 2;
      sxy += (p[0] - mx) * (y(p) - my);
    }
  });
  return sxx > 0 ? sxy / sxx : 0;
}
const after = (s: Sample[], warm: number) => s.filter((p) => p[0] >= warm);

let seed = 11;
const rnd = () => (seed = (Math.imul(1664525, seed) + 1013904223) >>> 0) / 4294967296 - 0.5;
const filled = (n: number) => Float32Array.from({ length: n }, rnd);

describe('no growth over long runs (short version of npm run bench:soak)', () => {
  it('600 exact steps: RSS and the JS heap flat after warm-up', () => {
    const net = sequential([linear(8, 32), tanh(), linear(32, 32), tanh(), linear(32, 4)], { seed: 1 });
    const opt = new NaturalGradient(net, { loss: 'categorical', lr: 0.5 });
    const N = 32;
    const batches = Array.from({ length: 8 }, () => {
      const x = filled(N * 8);
      return { x, y: Float32Array.from({ length: N }, (_, i) => (x[i * 8] > 0 ? 1 : 0) + (x[i * 8 + 1] > 0 ? 2 : 0)) };
    });
    const samples: Sample[] = [];
    let accepted = 0;
    for (let i = 0; i < 600; i++) {
      if (i % 20 === 0) sample(samples, i);
      const { x, y } = batches[i % batches.length];
      if (opt.step(x, y, N).accepted) accepted++;
    }
    sample(samples, 600);
    const s = after(samples, 200);
    const rss = slopeWithinStretches(s, (p) => p[1]);
    const heap = slopeWithinStretches(s, (p) => p[3]);
    if (process.env.NATGRAD_SOAK_REPORT) console.log(`steps: RSS ${rss.toFixed(1)} B/step, heapUsed ${heap.toFixed(1)} B/step`);
    expect(accepted).toBeGreaterThan(300);
    expect(rss, `RSS slope ${rss.toFixed(1)} B/step`).toBeLessThan(8192);
    expect(heap, `heapUsed slope ${heap.toFixed(1)} B/step`).toBeLessThan(1024);
  }, 60_000);

  it('3,000 Promise-form kernel calls (every 10th output transferred while pending): RSS flat after warm-up', async () => {
    const A = filled(24 * 8),
      B = filled(8 * 16),
      LB = filled(96 * 16),
      LA = filled(32 * 8),
      G = filled(16 * 12 * 4),
      R = filled(48);
    const K = new Float32Array(24 * 24);
    for (let i = 0; i < 24; i++) K[i * 24 + i] = 3;
    const samples: Sample[] = [];
    const outcomes: Record<string, number> = {};
    for (let i = 0; i < 3000; i += 8) {
      if (i % 40 === 0) sample(samples, i);
      const batch = [];
      for (let j = i; j < Math.min(i + 8, 3000); j++) {
        let p: Promise<unknown>, out: Float32Array;
        switch (j % 4) {
          case 0:
            out = new Float32Array(24 * 16);
            p = gemmAsync(A, B, 24, 16, 8, { out });
            break;
          case 1:
            out = new Float32Array(96 * 96);
            p = layerGramAsync(LB, LA, 32, 3, 16, 8, out);
            break;
          case 2:
            out = new Float32Array(48);
            p = choleskySolveAsync(K, 24, R, 2, { damping: 1e-3, out });
            break;
          default:
            out = new Float32Array(16 * 16);
            p = batchedGramInverseAsync(G, 16, 12, 4, { damping: 0.1, out });
        }
        if (j % 10 === 9) structuredClone(out.buffer, { transfer: [out.buffer as ArrayBuffer] }); // detach it while the call is pending
        batch.push(
          p.then(
            () => 'ok',
            (e: { code?: string }) => e.code ?? 'error'
          )
        );
      }
      for (const o of await Promise.all(batch)) outcomes[o] = (outcomes[o] ?? 0) + 1;
    }
    sample(samples, 3000);
    expect(outcomes).toEqual({ ok: 2700, ERR_INVALID_STATE: 300 });
    // biome-ignore lint/suspicious/noDuplicateTestHooks: after() is this file's sample filter, not vitest's hook
    const rss = slopeWithinStretches(after(samples, 1000), (p) => p[1]);
    if (process.env.NATGRAD_SOAK_REPORT) console.log(`async calls: RSS ${rss.toFixed(1)} B/call`);
    expect(rss, `RSS slope ${rss.toFixed(1)} B/call`).toBeLessThan(2048);
  }, 60_000);
});
