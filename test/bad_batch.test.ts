// One bad batch must not corrupt the optimizer (issue #12, item 6). A batch with x = 1e30 used to be
// rejected only after 9 useless retries that drove λ up by 1.5³⁶, and the run never recovered. Now a
// non-finite loss, forward pass, kernel, direction or trial rejects the step at once (one attempt),
// with a reason in the batch's terms, and leaves θ, λ, SPRING's history, the step count and the
// profile bit-identical: the run afterwards follows the trajectory of a run that never saw the batch,
// bit for bit. Only a finite loss increase is evidence for raising λ (docs/optimizer.md, "A bad batch").
import { describe, expect, it } from 'vitest';
import { Adam, linear, NaturalGradient, relu, SGD, sequential, type Sequential, tanh } from '../lib/index';
import type { NaturalGradientOptions, NaturalStepInfo } from '../lib/index';

const bits = (a: Float32Array | Float64Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('hex');

// The regression of the issue: sin(3x) on 32 points of [−1, 1], full batch, an MLP 1-20-20-1 tanh.
const N = 32;
const X = Float32Array.from({ length: N }, (_, i) => -1 + (2 * i) / (N - 1));
const Y = X.map((v) => Math.sin(3 * v));
const tanhNet = () => sequential([linear(1, 20), tanh(), linear(20, 20), tanh(), linear(20, 1)], { seed: 1 });
const reluNet = () => sequential([linear(1, 8), relu(), linear(8, 1)], { seed: 1 });
const STEPS = 40;
const BAD_AT = 10;

/** Everything a NaturalGradient carries from one step to the next, exactly. */
function snapshot(opt: NaturalGradient) {
  return {
    theta: bits(opt.model.params),
    state: JSON.stringify(opt.state()), // λ, lr, steps, SPRING's n_{k−1} as bytes
    damping: opt.damping,
    steps: opt.steps,
    lr: opt.lr,
    profile: opt.profile,
  };
}
function expectUnchanged(opt: NaturalGradient, before: ReturnType<typeof snapshot>) {
  const now = snapshot(opt);
  expect(now.theta, 'θ bit-identical').toBe(before.theta);
  expect(now.state, 'state() bit-identical').toBe(before.state);
  expect(Object.is(now.damping, before.damping), `λ ${before.damping} → ${now.damping}`).toBe(true);
  expect(now.steps).toBe(before.steps);
  expect(now.lr).toBe(before.lr);
  expect(now.profile, 'the profile is the same object').toBe(before.profile);
}

type Step = (opt: NaturalGradient, x: Float32Array, y: Float32Array) => Promise<NaturalStepInfo>;
const viaStep: Step = async (opt, x, y) => opt.step(x, y, N);
const viaAsync: Step = (opt, x, y) => opt.stepAsync(x, y, N);

/** 40 full-batch steps; `bad` (if any) is tried before step BAD_AT and must change nothing. */
async function run(make: () => Sequential, options: NaturalGradientOptions, step: Step, bad?: (opt: NaturalGradient) => Promise<void>) {
  const opt = new NaturalGradient(make(), options);
  const losses: number[] = [];
  for (let s = 0; s < STEPS; s++) {
    if (s === BAD_AT && bad) await bad(opt);
    losses.push((await step(opt, X, Y)).lossAfter);
  }
  return { opt, losses, theta: bits(opt.model.params), state: JSON.stringify(opt.state()) };
}

describe('NaturalGradient: a batch that overflows float32 is rejected at once and changes nothing', () => {
  const badX = {
    'x = 1e30 in one sample': (() => {
      const x = X.slice();
      x[3] = 1e30;
      return x;
    })(),
    'x = 1e30 in every sample': new Float32Array(N).fill(1e30),
  };
  for (const [net, make] of [
    ['1-20-20-1 tanh', tanhNet],
    ['1-8-1 relu', reluNet],
  ] as const)
    for (const [what, x] of Object.entries(badX))
      for (const [via, step] of [
        ['step', viaStep],
        ['stepAsync', viaAsync],
      ] as const)
        for (const momentum of [0, 0.5])
          it(`${net}, ${what}, ${via}${momentum ? ', SPRING μ = 0.5' : ''}: one attempt, state bit-identical, then the clean trajectory bit for bit`, async () => {
            const options: NaturalGradientOptions = { loss: 'gaussian', momentum };
            const clean = await run(make, options, step);
            const infos: NaturalStepInfo[] = [];
            const dirty = await run(make, options, step, async (opt) => {
              const before = snapshot(opt);
              if (momentum) expect(JSON.parse(before.state).previous).not.toBeNull();
              const info = await step(opt, x, Y);
              infos.push(info);
              expectUnchanged(opt, before);
              // and once more: a second bad batch in a row changes nothing either
              infos.push(await step(opt, x, Y));
              expectUnchanged(opt, before);
            });
            for (const info of infos) {
              expect(info).toMatchObject({ accepted: false, stepNorm: 0, attempts: 1 });
              expect(info.lossAfter).toBe(info.loss);
              // the reason in the batch's terms: what is not finite, which layer, which input
              expect(info.reason).toMatch(/Fisher kernel .* is not finite: layers\[0\] = linear\(1, \d+\) receives an input of norm 1\.00e\+30 at sample \d+/);
              expect(info.reason).toMatch(/overflow float32/);
              expect(info.reason).toMatch(/the batch's largest \|x\| is 1\.00e\+30 \(x\[\d+\]: sample \d+, feature 0\)/);
              expect(info.reason).toMatch(/rejected at once: parameters, λ and the optimizer's state unchanged$/);
            }
            expect(dirty.losses).toEqual(clean.losses);
            expect(dirty.theta).toBe(clean.theta);
            expect(dirty.state).toBe(clean.state);
            if (net === '1-20-20-1 tanh' && !momentum) expect(clean.losses[STEPS - 1]).toBeLessThan(1e-8); // the run the bad batch used to ruin
          });

  it('parameter space (P < N·r): the same, for S Sᵀ', async () => {
    const make = () => sequential([linear(1, 4), relu(), linear(4, 1)], { seed: 2 }); // P = 13 < N = 32
    const options: NaturalGradientOptions = { loss: 'gaussian', space: 'parameter' };
    for (const step of [viaStep, viaAsync]) {
      const clean = await run(make, options, step);
      const dirty = await run(make, options, step, async (opt) => {
        const before = snapshot(opt);
        const info = await step(opt, badX['x = 1e30 in one sample'], Y);
        expect(info).toMatchObject({ accepted: false, attempts: 1 });
        expect(info.reason).toMatch(/Fisher kernel \(S Sᵀ, float32\) is not finite: layers\[0\]/);
        expectUnchanged(opt, before);
      });
      expect(dirty.theta).toBe(clean.theta);
      expect(dirty.state).toBe(clean.state);
    }
  });
});

describe('NaturalGradient: other non-finite values', () => {
  it('a forward pass that overflows at θ (x = 3e38): rejected before any solve, SPRING history and λ kept (every method)', async () => {
    for (const options of [
      { loss: 'gaussian', momentum: 0.5 },
      { loss: 'gaussian', method: 'per-sample' },
      { loss: 'gaussian', method: 'chain' },
    ] as NaturalGradientOptions[]) {
      const opt = new NaturalGradient(reluNet(), options);
      for (let s = 0; s < 3; s++) opt.step(X, Y, N);
      const before = snapshot(opt);
      if ('momentum' in options) expect(JSON.parse(before.state).previous).not.toBeNull();
      const x = X.slice();
      x[5] = 3e38;
      for (const info of [opt.step(x, Y, N), await opt.stepAsync(x, Y, N)]) {
        expect(info).toMatchObject({ accepted: false, attempts: 0, stepNorm: 0 });
        expect(info.reason).toMatch(/the output (of layers\[\d\]|η) is -?Infinity for sample 5: the forward pass overflowed float32/);
        expect(info.reason).toMatch(
          /largest \|x\| is 3\.00e\+38 \(x\[5\]: sample 5, feature 0\); rejected at once: parameters, λ and the optimizer's state unchanged$/
        );
        expectUnchanged(opt, before);
      }
    }
  });

  it('NaN in y, Infinity in x (step and stepAsync): an argument error before anything runs; state bit-identical, model not locked, trajectory unchanged', async () => {
    const xInf = X.slice();
    xInf[7] = Infinity;
    const yNaN = Y.slice();
    yNaN[2] = NaN;
    for (const step of [viaStep, viaAsync]) {
      const options: NaturalGradientOptions = { loss: 'gaussian', momentum: 0.5 };
      const clean = await run(tanhNet, options, step);
      const dirty = await run(tanhNet, options, step, async (opt) => {
        const before = snapshot(opt);
        expect(() => opt.step(xInf, Y, N)).toThrow(/'x\[7\]' is Infinity/);
        await expect(opt.stepAsync(xInf, Y, N)).rejects.toThrow(/'x\[7\]' is Infinity/);
        expect(() => opt.step(X, yNaN, N)).toThrow(/'y\[2\]' is NaN/);
        await expect(opt.stepAsync(X, yNaN, N)).rejects.toThrow(/'y\[2\]' is NaN/);
        expectUnchanged(opt, before);
        expect(() => opt.model.setParameters(opt.model.getParameters())).not.toThrow(); // not left locked
      });
      expect(dirty.theta).toBe(clean.theta);
      expect(dirty.state).toBe(clean.state);
    }
  });

  it('a trial whose forward pass overflows (lr = 1e30) is no evidence about λ: one attempt, λ kept; a finite increase still retries and raises λ', async () => {
    const opt = new NaturalGradient(reluNet(), { loss: 'gaussian', momentum: 0.5 });
    for (let s = 0; s < 3; s++) opt.step(X, Y, N);
    opt.lr = 1e30; // θ − lr·n stays finite in float32, its forward pass does not
    const before = snapshot(opt);
    for (const info of [opt.step(X, Y, N), await opt.stepAsync(X, Y, N)]) {
      expect(info).toMatchObject({ accepted: false, attempts: 1, stepNorm: 0 });
      expect(Number.isFinite(info.loss)).toBe(true);
      expect(info.reason).toMatch(/^the trial step overshoots: at θ − lr·s·n, forward: the output .* is -?Infinity .*, while the loss at θ is /);
      expect(info.reason).toMatch(
        /no evidence about λ: lower lr or set maxStepNorm\/maxKL if this repeats; rejected at once: parameters, λ and the optimizer's state unchanged$/
      );
      expectUnchanged(opt, before);
    }
    opt.lr = Number.MAX_VALUE; // the trial parameters themselves overflow
    const before2 = snapshot(opt);
    const inf = opt.step(X, Y, N);
    expect(inf).toMatchObject({ accepted: false, attempts: 1 });
    expect(inf.reason).toMatch(/^the updated parameter \d+ would be -?Infinity \(layers\[\d\]\.(weight\[\d+, \d+\]|bias\[\d+\]): lr·s = 1\.80e\+308 times/);
    expectUnchanged(opt, before2);
    // contrast: a finite loss increase (lr = 40) is evidence: retried with more damping, and when every
    // attempt fails λ is raised and the momentum dropped
    opt.lr = 40;
    const lambda = opt.damping;
    const up = opt.step(X, Y, N);
    expect(up.attempts).toBeGreaterThan(1);
    expect(opt.damping).toBeGreaterThan(lambda);
    if (!up.accepted) {
      expect(up.reason).toMatch(/the loss would increase from .* attempts, last λ = .*\); parameters unchanged$/);
      expect(opt.state().previous).toBeNull();
    }
  });
});

describe('Adam and SGD: a non-finite gradient does not reach the moments', () => {
  for (const Opt of [Adam, SGD])
    it(`${Opt.name}: x = 1e30 (the gradient overflows) is rejected, state bit-identical, the run continues bit for bit (step and stepAsync)`, async () => {
      const bad = X.slice();
      bad[3] = 1e30;
      for (const useAsync of [false, true]) {
        const go = async (withBad: boolean) => {
          const opt = new Opt(reluNet(), { loss: 'gaussian', lr: 1e-2 });
          const step = (x: Float32Array) => (useAsync ? opt.stepAsync(x, Y, N) : Promise.resolve(opt.step(x, Y, N)));
          for (let s = 0; s < 20; s++) {
            if (withBad && s === 5) {
              const theta = bits(opt.model.params),
                state = JSON.stringify(opt.state()),
                steps = opt.steps;
              const info = await step(bad);
              expect(info).toMatchObject({ accepted: false, stepNorm: 0 });
              expect(info.reason).toMatch(
                /^the gradient is not finite \(entry \d+, layers\[0\]\.weight\[\d+, 0\], is -?Infinity\); the batch's largest \|x\| is 1\.00e\+30 \(x\[3\]: sample 3, feature 0\); parameters and optimizer state unchanged$/
              );
              expect(bits(opt.model.params)).toBe(theta);
              expect(JSON.stringify(opt.state())).toBe(state); // m, v (Adam) / the momentum buffer (SGD), t
              expect(opt.steps).toBe(steps);
            }
            await step(X);
          }
          return { theta: bits(opt.model.params), state: JSON.stringify(opt.state()) };
        };
        const clean = await go(false),
          dirty = await go(true);
        expect(dirty).toEqual(clean);
      }
    });
});
