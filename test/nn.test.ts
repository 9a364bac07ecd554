// Models: parameter layout, forward pass and Jacobian against float64 references
// written in test/helpers/reference.ts (independent of lib/).
import { describe, expect, it } from 'vitest';
import { gelu, linear, relu, sequential, sigmoid, softplus, tanh } from '../lib/index';
import { ACT64, type ActName, type Arch, fdJacobian64, forward64, jacobian64, maxRelErr, numParams } from './helpers/reference';
import { buildModel, mlp, randomInputs, randomParams } from './helpers/models';

const EPS32 = 2 ** -23;

describe('sequential: parameters', () => {
  it('counts and lays out parameters per linear layer as W [out, in] then b [out]', () => {
    const model = sequential([linear(2, 3), tanh(), linear(3, 1)], { seed: 0 });
    expect(model.numParameters).toBe(2 * 3 + 3 + 3 * 1 + 1);
    expect(model.inDim).toBe(2);
    expect(model.outDim).toBe(1);
    // W1 = [[1, 2], [3, 4], [5, 6]], b1 = [0.5, 0, −0.5], W2 = [[1, −1, 2]], b2 = [0.25]
    const p = new Float32Array([1, 2, 3, 4, 5, 6, 0.5, 0, -0.5, 1, -1, 2, 0.25]);
    model.setParameters(p);
    const x = new Float32Array([0.1, -0.2]);
    const h = [1 * 0.1 + 2 * -0.2 + 0.5, 3 * 0.1 + 4 * -0.2 + 0, 5 * 0.1 + 6 * -0.2 - 0.5].map(Math.tanh);
    const eta = 1 * h[0] - 1 * h[1] + 2 * h[2] + 0.25;
    expect(model.forward(x, 1)[0]).toBeCloseTo(eta, 6);
  });

  it('getParameters returns a copy; setParameters copies in', () => {
    const model = sequential([linear(2, 2)]);
    const p = model.getParameters();
    p[0] = 42;
    expect(model.getParameters()[0]).not.toBe(42);
    const q = new Float32Array(6).fill(1);
    model.setParameters(q);
    q[0] = 7;
    expect(model.getParameters()[0]).toBe(1);
  });

  it('rejects bad parameters, inputs and layer lists with errors naming the argument', () => {
    const model = sequential([linear(2, 3), relu(), linear(3, 2)]);
    expect(() => model.setParameters(new Float32Array(5))).toThrow(RangeError);
    expect(() => model.setParameters(new Float32Array(5))).toThrow(/'p' must have length 17/);
    expect(() => model.setParameters(new Float64Array(17) as unknown as Float32Array)).toThrow(TypeError);
    expect(() => model.setParameters(new Float32Array(17).fill(NaN))).toThrow(/'p\[0\]' is NaN/);
    expect(() => model.forward(new Float32Array(5), 2)).toThrow(RangeError);
    expect(() => model.forward(new Float32Array(5), 2)).toThrow(/'x' must have length 4/);
    expect(() => model.forward([1, 2] as unknown as Float32Array, 1)).toThrow(TypeError);
    expect(() => model.forward(new Float32Array(2), 0)).toThrow(/'batch' must be a positive integer/);
    expect(() => model.forward(new Float32Array(2), 1.5)).toThrow(RangeError);
    expect(() => model.jacobian(new Float32Array([1, Infinity]), 1)).toThrow(/'x\[1\]' is Infinity/);
    expect(() => sequential([linear(2, 3), tanh(), linear(4, 1)])).toThrow(/'layers\[2\]' is linear\(4, 1\) but its input has width 3/);
    expect(() => sequential([tanh()])).toThrow(/at least one linear layer/);
    expect(() => sequential([linear(2, 3), {} as never])).toThrow(TypeError);
    expect(() => linear(0, 3)).toThrow(/'inFeatures' must be a positive integer/);
    expect(() => linear(2, 2.5)).toThrow(/'outFeatures'/);
    expect(() => sequential([linear(2, 2)], { seed: -1 })).toThrow(/'seed'/);
  });
});

describe('sequential: initialisation', () => {
  it('is reproducible from the seed and differs across seeds', () => {
    const layers = () => [linear(5, 4), tanh(), linear(4, 2)];
    const a = sequential(layers(), { seed: 7 }).getParameters();
    const b = sequential(layers(), { seed: 7 }).getParameters();
    const c = sequential(layers(), { seed: 8 }).getParameters();
    expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer))).toBe(true);
    expect(Buffer.from(a.buffer).equals(Buffer.from(c.buffer))).toBe(false);
    expect(Array.from(sequential(layers()).getParameters())).toEqual(Array.from(sequential(layers(), { seed: 0 }).getParameters()));
  });

  it('uses fan-in scaling: W ~ N(0, gain²/in) (He gain √2 before relu/gelu, 1 otherwise), b = 0', () => {
    // 400×500 = 2·10⁵ draws per layer: the sample variance has relative standard error √(2/2·10⁵) ≈ 0.3%,
    // so 3% is a 10σ band; the draws are deterministic, so this cannot flake.
    const model = sequential([linear(500, 400), relu(), linear(400, 500), tanh(), linear(500, 3)], { seed: 3 });
    const p = model.getParameters();
    const stats = (off: number, n: number) => {
      let s = 0;
      let s2 = 0;
      for (let i = off; i < off + n; i++) {
        s += p[i];
        s2 += p[i] * p[i];
      }
      return { mean: s / n, variance: s2 / n - (s / n) ** 2 };
    };
    const w1 = stats(0, 400 * 500);
    expect(w1.variance * 500).toBeGreaterThan(2 * 0.97);
    expect(w1.variance * 500).toBeLessThan(2 * 1.03);
    expect(Math.abs(w1.mean)).toBeLessThan(5 * Math.sqrt(2 / 500 / 2e5));
    const off2 = 400 * 500 + 400;
    const w2 = stats(off2, 400 * 500);
    expect(w2.variance * 400).toBeGreaterThan(0.97);
    expect(w2.variance * 400).toBeLessThan(1.03);
    expect(Array.from(p.subarray(400 * 500, off2)).every((v) => v === 0)).toBe(true);
  });
});

describe('activations', () => {
  const ACTS: Record<ActName, () => ReturnType<typeof tanh>> = { tanh, relu, sigmoid, softplus, gelu };
  const zs = Float32Array.from({ length: 121 }, (_, i) => -30 + i * 0.5 + 0.125);

  for (const name of Object.keys(ACTS) as ActName[]) {
    it(`${name}: forward matches the float64 formula within float32 rounding`, () => {
      const model = sequential([linear(1, 1), ACTS[name]()]);
      model.setParameters(new Float32Array([1, 0])); // z = x
      const out = model.forward(zs, zs.length);
      zs.forEach((z, i) => {
        const want = ACT64[name].f(z);
        // one float32 rounding of the result (the formula itself is evaluated in float64)
        expect(Math.abs(out[i] - want)).toBeLessThanOrEqual(EPS32 * Math.abs(want) + 1e-45);
      });
    });

    it(`${name}: the derivative used in backprop matches a float64 central difference`, () => {
      // dη/dW for z = W·x + b, η = σ(z), W = 1, b = 0 is σ'(x)·x; dη/db = σ'(x).
      const model = sequential([linear(1, 1), ACTS[name]()]);
      model.setParameters(new Float32Array([1, 0]));
      const g = model.jacobian(zs, zs.length); // [2, N, 1]
      const h = 1e-5;
      zs.forEach((z, i) => {
        const fd = (ACT64[name].f(z + h) - ACT64[name].f(z - h)) / (2 * h); // truncation ~h²σ''' ≲ 1e-10
        // float32: one rounding of σ'(z) and one of the product: ≤ 2 ε32 relative, plus the FD error
        expect(Math.abs(g[zs.length + i] - fd)).toBeLessThanOrEqual(2 * EPS32 * Math.abs(fd) + 1e-9);
      });
    });
  }

  it('stay finite at extreme pre-activations', () => {
    const z = new Float32Array([-1e30, -1000, -100, 100, 1000, 1e30]);
    for (const act of [tanh, relu, sigmoid, softplus, gelu]) {
      const model = sequential([linear(1, 1), act()]);
      model.setParameters(new Float32Array([1, 0]));
      expect(Array.from(model.forward(z, z.length)).every(Number.isFinite)).toBe(true);
      expect(Array.from(model.jacobian(z, z.length)).every(Number.isFinite)).toBe(true);
    }
    const sp = sequential([linear(1, 1), softplus()]);
    sp.setParameters(new Float32Array([1, 0]));
    expect(Array.from(sp.forward(new Float32Array([1000, -1000]), 2))).toEqual([1000, 0]);
  });

  it('report a forward pass that overflows float32, naming the layer and sample', () => {
    const model = sequential([linear(1, 1), relu(), linear(1, 1)]);
    model.setParameters(new Float32Array([1e30, 0, 1e30, 0]));
    expect(() => model.forward(new Float32Array([0, 1]), 2)).toThrow(/the output η is Infinity for sample 1: the forward pass overflowed float32/);
    model.setParameters(new Float32Array([1e30, 0, 1, 0]));
    expect(() => model.forward(new Float32Array([0, 1e30]), 2)).toThrow(/the output of layers\[0\] is Infinity for sample 1/);
    // a layer output past 4096 elements (the native scan's size): the same message, naming the sample
    const wide = sequential([linear(1, 64), relu(), linear(64, 1)]);
    const x = new Float32Array(100).fill(1);
    x[77] = 1e38;
    wide.setParameters(new Float32Array(wide.numParameters).fill(10));
    expect(() => wide.forward(x, 100)).toThrow(/the output of layers\[0\] is Infinity for sample 77: the forward pass overflowed float32/);
  });

  it('relu uses the subgradient 0 at z = 0', () => {
    const model = sequential([linear(1, 1), relu()]);
    model.setParameters(new Float32Array([1, 0]));
    expect(Array.from(model.jacobian(new Float32Array([0]), 1))).toEqual([0, 0]);
  });
});

describe('forward and jacobian against float64 references', () => {
  const archs: [string, Arch][] = [
    ['1 hidden, tanh', mlp([3, 7, 2], 'tanh')],
    ['2 hidden, gelu/relu', [{ linear: [4, 6] }, 'gelu', { linear: [6, 5] }, 'relu', { linear: [5, 3] }]],
    [
      '3 hidden, sigmoid/softplus, output activation',
      [{ linear: [2, 5] }, 'sigmoid', { linear: [5, 4] }, 'softplus', { linear: [4, 4] }, 'tanh', { linear: [4, 2] }, 'sigmoid'],
    ],
    ['activation first, two linear in a row', ['tanh', { linear: [3, 4] }, { linear: [4, 3] }, 'gelu', { linear: [3, 2] }]],
  ];
  for (const [name, arch] of archs) {
    it(`${name}`, () => {
      const model = buildModel(arch);
      const theta = randomParams(arch, 5);
      model.setParameters(theta);
      const d = model.inDim;
      const n = 6;
      const x = randomInputs(n, d, 9);
      const p = numParams(arch);
      expect(model.numParameters).toBe(p);

      // Forward: float32 evaluation of ≤ 4 layers of width ≤ 7: each layer adds a few ε32 of relative
      // error (dot products of ≤ 8 terms, one rounding per activation); 1e-5 of the output scale is ~80 ε32.
      const eta = model.forward(x, n);
      expect(maxRelErr(eta, forward64(arch, theta, x, n))).toBeLessThan(1e-5);

      // The float64 references agree with each other (this validates jacobian64, which the natural-gradient
      // tests use): central differences with h = 1e-6 have truncation error ~h²·|η'''| ≈ 1e-12 and
      // rounding ~ε64/h ≈ 1e-10.
      const fd = fdJacobian64(arch, theta, x, n);
      const j64 = jacobian64(arch, theta, x, n);
      expect(maxRelErr(j64, fd)).toBeLessThan(1e-8);

      // model.jacobian [P, N, k] against the float64 finite differences: float32 backprop through
      // ≤ 4 linear layers, same error budget as the forward pass.
      const g = model.jacobian(x, n);
      expect(g.length).toBe(p * n * model.outDim);
      expect(maxRelErr(g, fd)).toBeLessThan(1e-5);
      // … and entry by entry, not only in the max norm
      let worst = 0;
      const scale = Math.max(...Array.from(fd, Math.abs));
      for (let i = 0; i < g.length; i++) worst = Math.max(worst, Math.abs(g[i] - fd[i]) / (Math.abs(fd[i]) + 1e-3 * scale));
      expect(worst).toBeLessThan(1e-3);
    });
  }

  it('is deterministic', () => {
    const arch = mlp([3, 8, 8, 2], 'tanh');
    const model = buildModel(arch, 4);
    const x = randomInputs(10, 3, 1);
    const a = model.jacobian(x, 10);
    const b = model.jacobian(x, 10);
    expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer))).toBe(true);
  });
});
