// NaturalGradient method 'chain' — the natural chain rule of the proposal n_x = G (GᵀG + λI)⁻¹ n_y applied op by
// op in the backward pass — against float64 references written here, op by op (lib/optim/chain.ts has
// the definitions: the linear op is joint in (W, b, a) with a left out in the first layer, the
// activation divides by σ', the fan-out averages over the batch with 1/(N + λ)).
//
// Tolerances: the library runs the forward pass, the products and the per-sample out × out inverses in
// float32. Each local solve perturbs its result by ≲ (10 + κ_l)·ε32 relative (κ_l the largest condition
// number of that layer's (‖a‖² + 1 + λ)I + W Wᵀ over the batch, first-order perturbation theory), and
// the errors of the ops add up along the chain: asserted ‖n − n_ref‖/‖n_ref‖ ≤ Σ_l (10 + κ_l)·ε32.
// The activation op divides by σ'(z): that does not amplify rounding (σ'(z) is computed to a relative
// ~|z·σ''/σ'|·ε32 whatever its size), so saturated units (σ' down to 0.009 in these draws) need no
// extra budget. Measured: 4–10% of the budget.
import { describe, expect, it } from 'vitest';
import { linear, NaturalGradient, sequential, tanh } from '../lib/index';
import { ACT64, type Arch, fisher64, grad64, type Loss, numParams, outDim, pinvApply64, relErr, symEig, targetWidth } from './helpers/reference';
import { buildModel, mlp, randomInputs, randomParams, randomTargets } from './helpers/models';

const EPS32 = 2 ** -23;

/** F⁺ g in float64 (eigenvalues below k·1e-14·max dropped). */
function natEta(loss: Loss, eta: ArrayLike<number>, y: ArrayLike<number>): number[] {
  return pinvApply64(fisher64(loss, eta), eta.length, grad64(loss, eta, y));
}

/** x = A⁻¹ b for symmetric positive definite A [m, m] (float64 Cholesky), and A's condition number. */
function spdSolve(a: number[], m: number, b: number[]): { x: number[]; cond: number } {
  const l = new Array(m * m).fill(0);
  for (let j = 0; j < m; j++) {
    let s = a[j * m + j];
    for (let p = 0; p < j; p++) s -= l[j * m + p] ** 2;
    l[j * m + j] = Math.sqrt(s);
    for (let i = j + 1; i < m; i++) {
      let v = a[i * m + j];
      for (let p = 0; p < j; p++) v -= l[i * m + p] * l[j * m + p];
      l[i * m + j] = v / l[j * m + j];
    }
  }
  const x = b.slice();
  for (let i = 0; i < m; i++) {
    for (let p = 0; p < i; p++) x[i] -= l[i * m + p] * x[p];
    x[i] /= l[i * m + i];
  }
  for (let i = m - 1; i >= 0; i--) {
    for (let p = i + 1; p < m; p++) x[i] -= l[p * m + i] * x[p];
    x[i] /= l[i * m + i];
  }
  const ev = Array.from(symEig(a, m).values);
  return { x, cond: Math.max(...ev) / Math.min(...ev) };
}

/**
 * The proposal's rule on the two-layer network η = W2 tanh(W1 x + b1) + b2, written out op by op.
 * θ = [W1 (h×d), b1 (h), W2 (k×h), b2 (k)]. Returns n_θ and the κ of each linear op.
 */
function twoLayerReference(theta: Float32Array, d: number, h: number, k: number, x: Float32Array, y: Float32Array, n: number, loss: Loss, lambda: number) {
  const W1 = (o: number, c: number) => theta[o * d + c];
  const b1 = (o: number) => theta[h * d + o];
  const w2off = h * d + h;
  const W2 = (o: number, c: number) => theta[w2off + o * h + c];
  const b2 = (o: number) => theta[w2off + k * h + o];
  const p = (d + 1) * h + (h + 1) * k;
  const out = new Float64Array(p);
  const tw = targetWidth(loss, k);
  let kappa2 = 0;
  for (let i = 0; i < n; i++) {
    const xi = Array.from(x.subarray(i * d, (i + 1) * d));
    // forward, float64
    const z1 = Array.from({ length: h }, (_, o) => b1(o) + xi.reduce((s, v, c) => s + W1(o, c) * v, 0));
    const a1 = z1.map(Math.tanh);
    const eta = Array.from({ length: k }, (_, o) => b2(o) + a1.reduce((s, v, c) => s + W2(o, c) * v, 0));
    // start: n_η = F⁺ g
    const nEta = natEta(loss, eta, y.subarray(i * tw, (i + 1) * tw));
    // op "linear 2": inputs (W2, b2, a1) jointly; GᵀG = (‖a1‖² + 1) I + W2 W2ᵀ
    const gram: number[] = [];
    const c2 = 1 + a1.reduce((s, v) => s + v * v, 0);
    for (let o = 0; o < k; o++) for (let q = 0; q < k; q++) gram.push((o === q ? c2 + lambda : 0) + a1.reduce((s, _, c) => s + W2(o, c) * W2(q, c), 0));
    const { x: m2, cond } = spdSolve(gram, k, nEta);
    kappa2 = Math.max(kappa2, cond);
    for (let o = 0; o < k; o++) {
      for (let c = 0; c < h; c++) out[w2off + o * h + c] += m2[o] * a1[c]; // n_W2^(i) = m2 a1ᵀ
      out[w2off + k * h + o] += m2[o]; // n_b2^(i) = m2
    }
    const nA1 = Array.from({ length: h }, (_, c) => m2.reduce((s, v, o) => s + W2(o, c) * v, 0)); // W2ᵀ m2
    // op "tanh": G = diag(1 − a1²), n_z = σ' n_a / (σ'² + λ)
    const nZ1 = nA1.map((v, c) => {
      const dv = 1 - a1[c] * a1[c];
      return (dv * v) / (dv * dv + lambda);
    });
    // op "linear 1": inputs (W1, b1) — x is data; GᵀG = (‖x‖² + 1) I
    const c1 = 1 + xi.reduce((s, v) => s + v * v, 0) + lambda;
    for (let o = 0; o < h; o++) {
      for (let c = 0; c < d; c++) out[o * d + c] += (nZ1[o] / c1) * xi[c];
      out[h * d + o] += nZ1[o] / c1;
    }
  }
  // op "fan-out": each parameter is shared by the N samples, G = [I … I]: n = Σ_i n^(i) / (N + λ)
  for (let q = 0; q < p; q++) out[q] /= n + lambda;
  return { direction: out, kappa: [kappa2, 1] };
}

describe("'chain' against the proposal's rule written out for a two-layer network (float64)", () => {
  const d = 3,
    h = 6;
  for (const loss of ['gaussian', 'categorical', 'bernoulli'] as Loss[]) {
    const k = loss === 'bernoulli' ? 1 : 3;
    for (const lambda of [0, 1e-3, 0.5]) {
      for (const n of [1, 10]) {
        it(`${loss}, λ = ${lambda}, N = ${n}`, () => {
          const arch = mlp([d, h, k], 'tanh');
          const theta = randomParams(arch, 11);
          const x = randomInputs(n, d, 12);
          const y = randomTargets(loss, n, k, 13);
          const model = buildModel(arch);
          model.setParameters(theta);
          const ref = twoLayerReference(theta, d, h, k, x, y, n, loss, lambda);
          const got = new NaturalGradient(model, { loss, damping: lambda, method: 'chain' }).direction(x, y, n);
          const budget = ref.kappa.reduce((s, kap) => s + (10 + kap) * EPS32, 0);
          expect(relErr(got, ref.direction)).toBeLessThanOrEqual(budget);
        });
      }
    }
  }
});

/** The same rule for any MLP of linear layers and activations (float64), for deeper networks. */
function genericReference(arch: Arch, theta: Float32Array, x: Float32Array, y: Float32Array, n: number, loss: Loss, lambda: number) {
  const k = outDim(arch);
  const p = numParams(arch);
  const tw = targetWidth(loss, k);
  const offs: number[] = [];
  let off = 0;
  for (const l of arch) {
    offs.push(off);
    if (typeof l !== 'string') off += (l.linear[0] + 1) * l.linear[1];
  }
  const firstLinear = arch.findIndex((l) => typeof l !== 'string');
  const out = new Float64Array(p);
  const kappa = new Array(arch.length).fill(0);
  const d = (arch[firstLinear] as { linear: [number, number] }).linear[0];
  for (let i = 0; i < n; i++) {
    // forward keeping each layer's input
    const hs: number[][] = [Array.from(x.subarray(i * d, (i + 1) * d))];
    for (let li = 0; li < arch.length; li++) {
      const l = arch[li];
      const a = hs[li];
      if (typeof l === 'string') hs.push(a.map(ACT64[l].f));
      else {
        const [nin, nout] = l.linear;
        hs.push(Array.from({ length: nout }, (_, o) => theta[offs[li] + nout * nin + o] + a.reduce((s, v, c) => s + theta[offs[li] + o * nin + c] * v, 0)));
      }
    }
    let nv = natEta(loss, hs[arch.length], y.subarray(i * tw, (i + 1) * tw));
    for (let li = arch.length - 1; li >= firstLinear; li--) {
      const l = arch[li];
      const a = hs[li];
      if (typeof l === 'string') {
        nv = nv.map((v, c) => {
          const dv = ACT64[l].df(a[c]);
          return dv * dv + lambda > 0 ? (dv * v) / (dv * dv + lambda) : 0;
        });
        continue;
      }
      const [nin, nout] = l.linear;
      const W = (o: number, c: number) => theta[offs[li] + o * nin + c];
      const withInput = li !== firstLinear;
      const gram: number[] = [];
      const ca = 1 + a.reduce((s, v) => s + v * v, 0);
      for (let o = 0; o < nout; o++)
        for (let q = 0; q < nout; q++) {
          let s = o === q ? ca + lambda : 0;
          if (withInput) for (let c = 0; c < nin; c++) s += W(o, c) * W(q, c);
          gram.push(s);
        }
      const { x: m, cond } = spdSolve(gram, nout, nv);
      kappa[li] = Math.max(kappa[li], cond);
      for (let o = 0; o < nout; o++) {
        for (let c = 0; c < nin; c++) out[offs[li] + o * nin + c] += m[o] * a[c];
        out[offs[li] + nout * nin + o] += m[o];
      }
      nv = Array.from({ length: nin }, (_, c) => m.reduce((s, v, o) => s + W(o, c) * v, 0));
    }
  }
  for (let q = 0; q < p; q++) out[q] /= n + lambda;
  return { direction: out, kappa: kappa.filter((v) => v > 0) };
}

describe("'chain' on deeper networks against the generic op-by-op reference", () => {
  const cases: [string, Arch, Loss][] = [
    [
      '3 hidden (tanh, gelu, softplus), gaussian',
      [{ linear: [4, 5] }, 'tanh', { linear: [5, 6] }, 'gelu', { linear: [6, 4] }, 'softplus', { linear: [4, 2] }],
      'gaussian',
    ],
    ['2 hidden (relu: σ′ = 0 maps to 0), categorical', mlp([4, 7, 6, 3], 'relu'), 'categorical'],
    ['2 hidden (sigmoid), bernoulli', mlp([4, 5, 5, 1], 'sigmoid'), 'bernoulli'],
  ];
  for (const [name, arch, loss] of cases) {
    for (const lambda of [0, 1e-2]) {
      it(`${name}, λ = ${lambda}`, () => {
        const n = 6;
        const k = outDim(arch);
        const theta = randomParams(arch, 21);
        const x = randomInputs(n, 4, 22);
        const y = randomTargets(loss, n, k, 23);
        const model = buildModel(arch);
        model.setParameters(theta);
        const ref = genericReference(arch, theta, x, y, n, loss, lambda);
        const got = new NaturalGradient(model, { loss, damping: lambda, method: 'chain' }).direction(x, y, n);
        const budget = ref.kappa.reduce((s, kap) => s + (10 + kap) * EPS32, 0);
        expect(relErr(got, ref.direction)).toBeLessThanOrEqual(budget);
      });
    }
  }

  it('the generic reference reproduces the two-layer one (the two references agree)', () => {
    const arch = mlp([3, 6, 3], 'tanh');
    const theta = randomParams(arch, 11);
    const x = randomInputs(5, 3, 12);
    const y = randomTargets('gaussian', 5, 3, 13);
    const a = genericReference(arch, theta, x, y, 5, 'gaussian', 1e-3).direction;
    const b = twoLayerReference(theta, 3, 6, 3, x, y, 5, 'gaussian', 1e-3).direction;
    expect(relErr(a, b)).toBeLessThan(1e-13);
  });
});

describe("'chain': the proposal's worked example and where it is exact", () => {
  it("scalar network: the proposal's c = ab rule, with the bias adding 1 to the denominator", () => {
    // η = w2·tanh(w1·x + b1) + b2 with scalars, gaussian loss, one sample.
    // Op z2 = w2·a + b2, inputs (w2, a, b2): G = (a, w2, 1)ᵀ, GᵀG = a² + w2² + 1, so
    //   n_w2 = a·n/(a² + w2² + 1),  n_a = w2·n/(a² + w2² + 1),  n_b2 = n/(a² + w2² + 1)
    // — the proposal's n_a = b·n_c/(a² + b²), n_b = a·n_c/(a² + b²) for c = ab, plus the bias.
    const [w1, b1, w2, b2] = [0.8, -0.3, 1.5, 0.2];
    const xv = 0.7,
      yv = 2;
    const model = sequential([linear(1, 1), tanh(), linear(1, 1)]);
    model.setParameters(Float32Array.from([w1, b1, w2, b2]));
    const z = w1 * Math.fround(xv) + b1;
    const a = Math.tanh(z);
    const eta = w2 * a + b2;
    const nEta = eta - yv; // F = 1 for the unit-variance gaussian: n_η = g_η = η − y
    const den2 = a * a + w2 * w2 + 1;
    const nw2 = (a * nEta) / den2,
      nA = (w2 * nEta) / den2,
      nb2 = nEta / den2;
    const nz = nA / (1 - a * a); // tanh op: n_z = n_a / σ'(z)
    const den1 = Math.fround(xv) ** 2 + 1; // first op, inputs (w1, b1): G = (x, 1)ᵀ
    const nw1 = (Math.fround(xv) * nz) / den1,
      nb1 = nz / den1;
    const got = new NaturalGradient(model, { loss: 'gaussian', damping: 0, method: 'chain' }).direction(Float32Array.of(xv), Float32Array.of(yv), 1);
    expect(relErr(got, [nw1, nb1, nw2, nb2])).toBeLessThan(50 * EPS32);
  });

  it("one linear layer, one sample: chain = per-sample = exact (the proposal's formula holds there)", () => {
    const model = sequential([linear(4, 3)], { seed: 2 });
    const x = Float32Array.of(0.3, -1.2, 0.5, 2);
    const y = Float32Array.of(1, -1, 0.5);
    const exact = new NaturalGradient(model, { loss: 'gaussian', damping: 0, precision: 'float64' }).direction(x, y, 1);
    const chain = new NaturalGradient(model, { loss: 'gaussian', damping: 0, method: 'chain' }).direction(x, y, 1);
    const per = new NaturalGradient(model, { loss: 'gaussian', damping: 0, method: 'per-sample' }).direction(x, y, 1);
    expect(relErr(chain, exact)).toBeLessThan(20 * EPS32);
    expect(relErr(per, exact)).toBeLessThan(20 * EPS32);
  });

  it('two layers, one sample: chain ≠ exact (pseudo-inverses do not compose)', () => {
    const arch = mlp([3, 8, 2], 'tanh');
    const model = buildModel(arch);
    model.setParameters(randomParams(arch, 5));
    const x = randomInputs(1, 3, 6);
    const y = randomTargets('gaussian', 1, 2, 7);
    const exact = new NaturalGradient(model, { loss: 'gaussian', damping: 0, precision: 'float64' }).direction(x, y, 1);
    const chain = new NaturalGradient(model, { loss: 'gaussian', damping: 0, method: 'chain' }).direction(x, y, 1);
    expect(relErr(chain, exact)).toBeGreaterThan(0.05);
  });
});

describe("'chain': step, errors", () => {
  it('step applies θ ← θ − lr·n; stepAsync is bit-identical', async () => {
    const arch = mlp([4, 6, 5, 3], 'tanh');
    const mk = () => {
      const m = buildModel(arch);
      m.setParameters(randomParams(arch, 8));
      return m;
    };
    const x = randomInputs(5, 4, 9);
    const y = randomTargets('categorical', 5, 3, 10);
    const a = mk(),
      b = mk();
    const oa = new NaturalGradient(a, { loss: 'categorical', lr: 0.25, method: 'chain', adaptive: false });
    const ob = new NaturalGradient(b, { loss: 'categorical', lr: 0.25, method: 'chain', adaptive: false });
    const theta0 = a.getParameters();
    const dir = oa.direction(x, y, 5);
    const { loss } = oa.step(x, y, 5);
    expect(loss).toBe(ob.lossAt(x, y, 5));
    const theta1 = a.getParameters();
    for (let q = 0; q < theta0.length; q++) expect(theta1[q]).toBe(Math.fround(theta0[q] - 0.25 * dir[q]));
    await ob.stepAsync(x, y, 5);
    expect(Buffer.from(b.getParameters().buffer).equals(Buffer.from(theta1.buffer))).toBe(true);
  });

  it('rejects hidden layers wider than 256 at construction, naming the layer', () => {
    const model = sequential([linear(2, 4), tanh(), linear(4, 300), tanh(), linear(300, 2)]);
    expect(() => new NaturalGradient(model, { loss: 'gaussian', method: 'chain' })).toThrow(
      /method 'chain' inverts out × out matrices per sample \(batchedGramInverse, out ≤ 256\); layers\[2\] is linear\(4, 300\)/
    );
    // the first layer's Gram is a multiple of I: any width is fine there
    expect(() => new NaturalGradient(sequential([linear(2, 300), tanh(), linear(300, 2)]), { loss: 'gaussian', method: 'chain' })).not.toThrow();
  });
});
