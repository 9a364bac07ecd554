// model.derivatives (lib/nn/derivatives.ts): the value, gradient and Laplacian of η in x by Taylor-mode
// propagation, against central differences of the float64 reference forward pass
// (test/helpers/reference.ts) at the same θ and x, in float64 throughout.
// Gradient: the 4th-order stencil (−f(x+2h) + 8f(x+h) − 8f(x−h) + f(x−2h))/(12h), h = 1e-3: truncation
// h⁴·f⁽⁵⁾/30 ≈ 3e-14·|f⁽⁵⁾|, rounding ≈ 1.5·ε·|f|/h ≈ 3e-13 — both far below the 1e-9 bound.
// Laplacian: per coordinate (−f(x+2h) + 16f(x+h) − 30f(x) + 16f(x−h) − f(x−2h))/(12h²), h = 1e-2:
// truncation h⁴·f⁽⁶⁾/90 ≈ 1e-10·|f⁽⁶⁾|, rounding ≈ 64·ε·|f|/(12h²) ≈ 1e-11 — below the 1e-7 bound for
// these O(1) networks; an error in the propagation (a missing σ'' term, a wrong index) is O(1).
import { describe, expect, it } from 'vitest';
import { gelu, linear, relu, sequential, tanh } from '../lib/index';
import { ACTIVATION_NAMES, activation } from '../lib/nn/layers';
import { buildModel, mlp, randomInputs, randomParams } from './helpers/models';
import { type Arch, forward64, outDim, relErr } from './helpers/reference';

const N = 5;

function stencils(arch: Arch, theta: Float32Array, x: Float32Array, n: number, d: number) {
  const k = outDim(arch);
  const grad = new Float64Array(n * k * d);
  const lap = new Float64Array(n * k);
  const at = (i: number, c: number, t: number) => {
    const xi = Array.from(x.subarray(i * d, (i + 1) * d));
    xi[c] += t;
    return forward64(arch, theta, xi, 1);
  };
  for (let i = 0; i < n; i++) {
    const f0 = forward64(arch, theta, Array.from(x.subarray(i * d, (i + 1) * d)), 1);
    for (let c = 0; c < d; c++) {
      const h1 = 1e-3;
      const [g2, g1, gm1, gm2] = [at(i, c, 2 * h1), at(i, c, h1), at(i, c, -h1), at(i, c, -2 * h1)];
      const h2 = 1e-2;
      const [l2, l1, lm1, lm2] = [at(i, c, 2 * h2), at(i, c, h2), at(i, c, -h2), at(i, c, -2 * h2)];
      for (let j = 0; j < k; j++) {
        grad[(i * k + j) * d + c] = (-g2[j] + 8 * g1[j] - 8 * gm1[j] + gm2[j]) / (12 * h1);
        lap[i * k + j] += (-l2[j] + 16 * l1[j] - 30 * f0[j] + 16 * lm1[j] - lm2[j]) / (12 * h2 * h2);
      }
    }
  }
  return { grad, lap };
}

const ARCHS: { name: string; arch: Arch; d: number }[] = [
  ...(['tanh', 'sigmoid', 'softplus', 'gelu'] as const).map((a) => ({ name: `MLP 3-7-5-2 ${a}`, arch: mlp([3, 7, 5, 2], a), d: 3 })),
  { name: 'mixed activations, one ending the model', arch: [{ linear: [2, 6] }, 'gelu', { linear: [6, 4] }, 'tanh', { linear: [4, 3] }, 'softplus'], d: 2 },
  { name: 'an activation before the first linear layer', arch: ['tanh', { linear: [4, 5] }, 'sigmoid', { linear: [5, 1] }], d: 4 },
  { name: 'the PINN shape 2-64-1 tanh', arch: mlp([2, 64, 1], 'tanh'), d: 2 },
];

describe('model.derivatives: value, gradient and Laplacian in x', () => {
  for (const { name, arch, d } of ARCHS) {
    it(`${name}: against float64 central differences`, () => {
      const model = buildModel(arch);
      const theta = randomParams(arch, 3);
      model.setParameters(theta);
      const x = randomInputs(N, d, 4);
      const { value, gradient, laplacian } = model.derivatives(x, N);
      expect(relErr(value, forward64(arch, theta, x, N))).toBeLessThan(1e-13);
      // and the float32 forward pass within float32 rounding
      expect(relErr(model.forward(x, N), value)).toBeLessThan(1e-5);
      const ref = stencils(arch, theta, x, N, d);
      expect(relErr(gradient, ref.grad)).toBeLessThan(1e-9);
      expect(laplacian).not.toBeNull();
      expect(relErr(laplacian as Float64Array, ref.lap)).toBeLessThan(1e-7);
    });
  }

  it('every activation with a second derivative: σ″ and σ‴ against central differences of σ′ and σ″, and series() agrees', () => {
    const out = new Float64Array(4);
    for (const name of ACTIVATION_NAMES) {
      const act = activation(name);
      if (act.d2f === null || act.d3f === null) {
        expect(act.d3f, `${name}: σ‴ only with σ″`).toBeNull();
        continue;
      }
      const d2f = act.d2f;
      for (const z of [-8, -2.5, -1, -0.3, 0, 0.2, 1, 3, 9]) {
        const h = 1e-4;
        const fd = (-act.df(z + 2 * h) + 8 * act.df(z + h) - 8 * act.df(z - h) + act.df(z - 2 * h)) / (12 * h);
        expect(Math.abs(d2f(z) - fd), `${name}'' at ${z}`).toBeLessThan(1e-9);
        // the 4th-order stencil's error is h⁴·σ⁽⁶⁾/30 ≲ 1e-15 plus rounding ~ε/h ≈ 1e-12 (gelu's σ⁽⁶⁾ is the largest)
        const fd3 = (-d2f(z + 2 * h) + 8 * d2f(z + h) - 8 * d2f(z - h) + d2f(z - 2 * h)) / (12 * h);
        expect(Math.abs(act.d3f(z) - fd3), `${name}''' at ${z}`).toBeLessThan(1e-9);
        act.series(z, out);
        const ref = [act.f(z), act.df(z), d2f(z), act.d3f(z)];
        for (let i = 0; i < 4; i++) expect(Math.abs(out[i] - ref[i]), `${name} series[${i}] at ${z}`).toBeLessThanOrEqual(1e-14 * (1 + Math.abs(ref[i])));
      }
    }
  });

  it('relu: the Laplacian is refused with the reason; { laplacian: false } gives the value and gradient', () => {
    const arch: Arch = mlp([3, 6, 2], 'relu');
    const model = buildModel(arch);
    const theta = randomParams(arch, 5);
    model.setParameters(theta);
    const x = randomInputs(N, 3, 6);
    expect(() => model.derivatives(x, N)).toThrow(/layers\[1\] is relu, whose second derivative is not a function.*laplacian: false/);
    try {
      model.derivatives(x, N);
    } catch (e) {
      expect((e as { code?: string }).code).toBe('ERR_NOT_TWICE_DIFFERENTIABLE');
    }
    const { value, gradient, laplacian } = model.derivatives(x, N, { laplacian: false });
    expect(laplacian).toBeNull();
    expect(relErr(value, forward64(arch, theta, x, N))).toBeLessThan(1e-13);
    // a relu network is piecewise linear: away from its kinks the stencil is exact up to rounding
    expect(relErr(gradient, stencils(arch, theta, x, N, 3).grad)).toBeLessThan(1e-9);
  });

  it('bad arguments: wrong lengths, non-finite inputs, unknown or mistyped options', () => {
    const model = sequential([linear(2, 4), tanh(), linear(4, 1)]);
    expect(() => model.derivatives(new Float32Array(3), 2)).toThrow(RangeError);
    expect(() => model.derivatives(new Float32Array([0, Number.NaN]), 1)).toThrow(/x/);
    expect(() => model.derivatives([0, 1] as unknown as Float32Array, 1)).toThrow(TypeError);
    expect(() => model.derivatives(new Float32Array(2), 1, { lapalcian: false } as never)).toThrow(/unknown option 'lapalcian'/);
    expect(() => model.derivatives(new Float32Array(2), 1, { laplacian: 1 } as never)).toThrow(TypeError);
    // a model without relu has its Laplacian; relu anywhere refuses it
    expect(sequential([linear(2, 3), gelu(), linear(3, 1)]).derivatives(new Float32Array(2), 1).laplacian).not.toBeNull();
    expect(() => sequential([linear(2, 3), gelu(), linear(3, 3), relu(), linear(3, 1)]).derivatives(new Float32Array(2), 1)).toThrow(/layers\[3\] is relu/);
  });
});
