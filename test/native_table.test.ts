// The native job table: each kernel's parameters are declared once in native/addon.cc (Job::kParams,
// exported as addon.kernelArguments) and once in lib/native.ts (KernelSignatures). This holds the
// TypeScript side to the addon: the same kernels, the same arities, and every wrapper of lib/linalg.ts
// and every call of the task driver (lib/task.ts) passing exactly that many arguments, in both forms.
import { afterEach, describe, expect, it, vi } from 'vitest';
import * as linalg from '../lib/linalg';
import { KERNEL_ARITY, type KernelName, native } from '../lib/native';
import { runAsync, runSync, type Task, batchedGramInverseT, choleskySolveT, exactStepT, gemmT, gramT, layerGramSumT, pinvSolveT } from '../lib/task';

const NAMES = Object.keys(KERNEL_ARITY) as KernelName[];

// One valid small call of each linalg wrapper (2 × 2 matrices, K = 2I positive definite).
const eye2 = () => new Float32Array([2, 0, 0, 2]);
const v2 = () => new Float32Array([1, 2]);
const CALLS: { [K in KernelName]: (form: '' | 'Async') => unknown } = {
  gemm: (f) => linalg[`gemm${f}`](eye2(), eye2(), 2, 2, 2),
  gram: (f) => linalg[`gram${f}`](eye2(), 2, 2),
  layerGram: (f) => linalg[`layerGram${f}`](eye2(), v2(), 2, 1, 2, 1, new Float32Array(4)),
  layerGramSum: (f) => linalg[`layerGramSum${f}`]([eye2()], [v2()], 2, 1),
  choleskySolve: (f) => linalg[`choleskySolve${f}`](eye2(), 2, v2()),
  pinvSolve: (f) => linalg[`pinvSolve${f}`](eye2(), 2, v2()),
  batchedGramInverse: (f) => linalg[`batchedGramInverse${f}`](eye2(), 1, 2, 2),
  activationForward: (f) => linalg[`activationForward${f}`]('tanh', v2()),
  activationBackward: (f) => linalg[`activationBackward${f}`]('tanh', v2(), 2, 1, v2()),
  rowsContract: (f) => linalg[`rowsContract${f}`](eye2(), new Float64Array([1, 2]), 1, 2, new Float64Array(2)),
  rowsDot: (f) => linalg[`rowsDot${f}`](eye2(), v2(), 1, 2, new Float64Array(2)),
  allFinite: (f) => linalg[`allFinite${f}`](v2()),
  im2col: (f) => linalg[`im2col${f}`](v2(), 1, [1, 1, 2, 1, 1, 1, 0]),
  pool2dForward: (f) => linalg[`pool2dForward${f}`]('max', eye2(), 1, [1, 2, 2, 2]),
  pool2dBackward: (f) => linalg[`pool2dBackward${f}`]('avg', eye2(), new Float32Array(1), 1, 1, [1, 2, 2, 2]),
  conv2dInputSeeds: (f) => linalg[`conv2dInputSeeds${f}`](v2(), new Float32Array(4), 1, 2, [1, 1, 2, 1, 1, 1, 0]),
  conv2dForward: (f) => linalg[`conv2dForward${f}`](v2(), new Float32Array(4), 1, 2, [1, 1, 2, 1, 1, 1, 0]),
  conv2dGradients: (f) => linalg[`conv2dGradients${f}`](new Float32Array(8), v2(), 1, 2, 2, [1, 1, 2, 1, 1, 1, 0]),
  // one linear layer 2 → 2, gaussian, N = 1 (test/exact_step.test.ts checks its numbers)
  exactStep: async (f) => {
    const r = await linalg[`exactStep${f}`]([-1, 2, 2], 'gaussian', new Float32Array(6), v2(), v2(), 1, { damping: 0.1 });
    expect(r.direction).toHaveLength(6);
  },
};
// The same through the task driver (layerGram is not a task call).
const TASKS: Partial<Record<KernelName, () => Task<unknown>>> = {
  gemm: () => gemmT(eye2(), eye2(), 2, 2, 2),
  gram: () => gramT(eye2(), 2, 2),
  layerGramSum: () => layerGramSumT([eye2()], [v2()], 2, 1),
  choleskySolve: () => choleskySolveT(eye2(), 2, v2()),
  pinvSolve: () => pinvSolveT(eye2(), 2, v2()),
  batchedGramInverse: () => batchedGramInverseT(eye2(), 1, 2, 2),
  // (its stage times differ run to run: compared without them)
  exactStep: function* () {
    const { deviceMs: _, ...result } = yield* exactStepT([-1, 2, 2], 'gaussian', new Float32Array(6), v2(), v2(), 1, { damping: 0.1 });
    return result;
  },
};

afterEach(() => vi.restoreAllMocks());

describe('the native job table', () => {
  it('the addon registers exactly the kernels lib/native.ts declares, each with a sync and a Promise form', () => {
    expect(Object.keys(native.kernelArguments).sort()).toEqual([...NAMES].sort());
    for (const name of NAMES) {
      expect(typeof native[name]).toBe('function');
      expect(typeof native[`${name}Async`]).toBe('function');
    }
  });

  it.each(NAMES)("%s: the addon's parameter list has the arity of the TypeScript signature, with distinct names", (name) => {
    const params = native.kernelArguments[name];
    expect(params).toHaveLength(KERNEL_ARITY[name]);
    expect(new Set(params).size).toBe(params.length);
    // the arity check itself comes from the same list: one argument short is refused, naming the count
    const short = new Array(KERNEL_ARITY[name] - 1).fill(null);
    expect(() => (native[name] as (...a: unknown[]) => unknown)(...short)).toThrow(
      new RegExp(`^${name}: expected ${KERNEL_ARITY[name]} arguments, got ${KERNEL_ARITY[name] - 1}$`)
    );
  });

  it.each(NAMES)('%s: the linalg wrappers pass exactly the declared arguments (sync and Promise forms)', async (name) => {
    for (const form of ['', 'Async'] as const) {
      const spy = vi.spyOn(native, `${name}${form}`);
      await CALLS[name](form);
      expect(spy).toHaveBeenCalledTimes(1);
      expect(spy.mock.calls[0]).toHaveLength(native.kernelArguments[name].length);
    }
  });

  it.each(Object.keys(TASKS) as KernelName[])('%s: the task driver calls the same wrappers in both forms, bit for bit', async (name) => {
    const make = TASKS[name] as () => Task<unknown>;
    const sync = vi.spyOn(native, name);
    const a = runSync(make());
    const async = vi.spyOn(native, `${name}Async`);
    const b = await runAsync(make());
    expect(sync.mock.calls[0]).toHaveLength(KERNEL_ARITY[name]);
    expect(async.mock.calls[0]).toHaveLength(KERNEL_ARITY[name]);
    expect(b).toEqual(a);
  });

  it('an argument read by name points at its position: a wrong value names the right parameter', () => {
    // gemm's 9th argument is 'beta': a string there must be reported as 'beta', not as a neighbour
    const args: unknown[] = [false, false, 2, 2, 2, 1, eye2(), eye2(), 'x', null];
    expect(() => (native.gemm as (...a: unknown[]) => unknown)(...args)).toThrow(/argument 'beta' must be a number, got string/);
    for (const name of NAMES) {
      const params = native.kernelArguments[name];
      // every argument wrong (a symbol fits none): the error names one of the kernel's declared parameters
      const bad = new Array(params.length).fill(Symbol('x'));
      let message = '';
      try {
        (native[name] as (...a: unknown[]) => unknown)(...bad);
      } catch (e) {
        message = (e as Error).message;
      }
      expect(message).toMatch(new RegExp(`^${name}: argument '(${params.map((p) => p.replace(/[[\]]/g, '\\$&')).join('|')})'`));
    }
  });
});
