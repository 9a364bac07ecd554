// Module layers (lib/nn/module.ts: conv2d, maxPool2d, avgPool2d, flatten, and a user's own layer)
// against a float64 reference written here from the definitions alone (direct loops, no im2col):
//  - the per-sample Jacobian G [P, N·k] of a float64 model mixing every layer against central
//    differences of the reference forward pass in θ (h = 1e-6: truncation ~h²·|η'''| ≈ 1e-12, rounding
//    ~1e-16/h ≈ 1e-10 of |η|, so 1e-7 of the largest entry is a bound any wrong term breaks; the inputs
//    are drawn so that no max-pool window has a near-tie that a step of h could flip);
//  - the exact natural-gradient direction against the dense float64 (F_θ + λI)⁺ g_θ built from that
//    Jacobian, at λ = 1e-3, 1 and 0 (where κ allows), in kernel and parameter space, by Cholesky and CG;
//  - the failure cases: shapes that do not chain, a user's layer that returns the wrong sizes, the
//    methods and features that are defined for MLPs only.
import { describe, expect, it } from 'vitest';
import {
  Adam,
  avgPool2d,
  batchNorm,
  dropout,
  embedding,
  conv2d,
  flatten,
  layerNorm,
  linear,
  maxPool2d,
  type ModuleLayer,
  NaturalGradient,
  residual,
  Sequential,
  sequential,
  tanh,
  type Layer,
} from '../lib/index';
import { naturalGradientOf, relErr } from './helpers/reference';
import { exactMemoryBytes } from '../lib/optim/exact_size';
import { materialize, outputJacobians } from '../lib/nn/jacobian';
import { runSync } from '../lib/task';
import { exactConfig } from './helpers/models';

// ---- the float64 reference: one sample at a time, from the layer definitions ----

type RefLayer =
  | { conv: [number, number, number, number, number] } // in, out, k, stride, padding
  | { max: number }
  | { avg: number }
  | 'flatten'
  | 'tanh'
  | { linear: [number, number] }
  | { scale: number } // the user's layer below: y = a ⊙ x + c, a and c [features]
  | { ln: [number, number] } // layerNorm(features, eps) over the last axis
  | { res: RefLayer[] } // y = x + f(x)
  | { emb: [number, number] }; // embedding(vocab, dim): the input is the index

interface Tensor {
  shape: number[];
  v: number[];
}

function refLayer(l: RefLayer, t: Tensor, theta: ArrayLike<number>, off: number): { out: Tensor; used: number } {
  if (l === 'flatten') return { out: { shape: [t.v.length], v: t.v }, used: 0 };
  if (l === 'tanh') return { out: { shape: t.shape, v: t.v.map(Math.tanh) }, used: 0 };
  if ('linear' in l) {
    const [nin, nout] = l.linear;
    const v: number[] = [];
    for (let o = 0; o < nout; o++) {
      let s = theta[off + nout * nin + o];
      for (let c = 0; c < nin; c++) s += theta[off + o * nin + c] * t.v[c];
      v.push(s);
    }
    return { out: { shape: [nout], v }, used: (nin + 1) * nout };
  }
  if ('emb' in l) {
    const [, dim] = l.emb;
    const i = t.v[0];
    return { out: { shape: [dim], v: Array.from({ length: dim }, (_, j) => theta[off + i * dim + j]) }, used: l.emb[0] * dim };
  }
  if ('ln' in l) {
    const [f, eps] = l.ln;
    const v: number[] = [];
    for (let g = 0; g < t.v.length / f; g++) {
      const xs = t.v.slice(g * f, (g + 1) * f);
      const mu = xs.reduce((a, b) => a + b, 0) / f;
      const var_ = xs.reduce((a, b) => a + (b - mu) ** 2, 0) / f;
      xs.forEach((x, j) => v.push(theta[off + j] * ((x - mu) / Math.sqrt(var_ + eps)) + theta[off + f + j]));
    }
    return { out: { shape: t.shape, v }, used: 2 * f };
  }
  if ('res' in l) {
    let u: Tensor = t;
    let used = 0;
    for (const inner of l.res) {
      const r = refLayer(inner, u, theta, off + used);
      u = r.out;
      used += r.used;
    }
    return { out: { shape: t.shape, v: t.v.map((x, i) => x + u.v[i]) }, used };
  }
  if ('scale' in l) {
    const f = l.scale;
    return { out: { shape: t.shape, v: t.v.map((x, i) => theta[off + i] * x + theta[off + f + i]) }, used: 2 * f };
  }
  if ('conv' in l) {
    const [cin, cout, k, s, p] = l.conv;
    const [, h, w] = t.shape;
    const ho = Math.floor((h + 2 * p - k) / s) + 1;
    const wo = Math.floor((w + 2 * p - k) / s) + 1;
    const v: number[] = [];
    for (let o = 0; o < cout; o++)
      for (let y = 0; y < ho; y++)
        for (let x = 0; x < wo; x++) {
          let acc = theta[off + cout * cin * k * k + o];
          for (let c = 0; c < cin; c++)
            for (let u = 0; u < k; u++)
              for (let q = 0; q < k; q++) {
                const yy = y * s + u - p;
                const xx = x * s + q - p;
                if (yy >= 0 && yy < h && xx >= 0 && xx < w) acc += theta[off + ((o * cin + c) * k + u) * k + q] * t.v[(c * h + yy) * w + xx];
              }
          v.push(acc);
        }
    return { out: { shape: [cout, ho, wo], v }, used: cout * cin * k * k + cout };
  }
  const size = 'max' in l ? l.max : l.avg;
  const [c, h, w] = t.shape;
  const ho = Math.floor(h / size);
  const wo = Math.floor(w / size);
  const v: number[] = [];
  for (let ch = 0; ch < c; ch++)
    for (let y = 0; y < ho; y++)
      for (let x = 0; x < wo; x++) {
        const win: number[] = [];
        for (let u = 0; u < size; u++) for (let q = 0; q < size; q++) win.push(t.v[(ch * h + y * size + u) * w + x * size + q]);
        v.push('max' in l ? Math.max(...win) : win.reduce((a, b) => a + b, 0) / win.length);
      }
  return { out: { shape: [c, ho, wo], v }, used: 0 };
}

function refForward(layers: RefLayer[], inShape: number[], theta: ArrayLike<number>, x: ArrayLike<number>, n: number): Float64Array {
  const per = inShape.reduce((a, b) => a * b, 1);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    let t: Tensor = { shape: inShape, v: Array.from(x).slice(i * per, (i + 1) * per) };
    let off = 0;
    for (const l of layers) {
      const r = refLayer(l, t, theta, off);
      t = r.out;
      off += r.used;
    }
    out.push(...t.v);
  }
  return Float64Array.from(out);
}

/** G [P, N·k] by central differences of refForward in θ. */
function fdJacobian(layers: RefLayer[], inShape: number[], theta: Float64Array, x: Float64Array, n: number, h = 1e-6): Float64Array {
  const p = theta.length;
  const cols = refForward(layers, inShape, theta, x, n).length;
  const g = new Float64Array(p * cols);
  const t = Float64Array.from(theta);
  for (let q = 0; q < p; q++) {
    t[q] = theta[q] + h;
    const fp = refForward(layers, inShape, t, x, n);
    t[q] = theta[q] - h;
    const fm = refForward(layers, inShape, t, x, n);
    t[q] = theta[q];
    for (let c = 0; c < cols; c++) g[q * cols + c] = (fp[c] - fm[c]) / (2 * h);
  }
  return g;
}

// ---- a user's own layer, written against the documented interface only ----

/** y = a ⊙ x + c on flat inputs [features] (parameters a then c; a starts at 1, c at 0). */
function scale(features: number): ModuleLayer {
  return {
    kind: 'module',
    name: `scale(${features})`,
    bind(inShape) {
      if (inShape.length !== 1 || inShape[0] !== features) throw new RangeError(`scale(${features}) needs inputs [${features}], got [${inShape.join(', ')}]`);
      return {
        outShape: [features],
        numParameters: 2 * features,
        init(theta) {
          theta.fill(1, 0, features);
          theta.fill(0, features);
        },
        forward(theta, x, n) {
          const y = new (x.constructor as Float64ArrayConstructor)(n * features);
          for (let i = 0; i < n; i++) for (let f = 0; f < features; f++) y[i * features + f] = theta[f] * x[i * features + f] + theta[features + f];
          return { y };
        },
        backward(theta, x, _y, _cache, dy, n, r, needInput) {
          const rows = n * r;
          const Ctor = dy.constructor as Float64ArrayConstructor;
          const grads = new Ctor(rows * 2 * features);
          const dx = needInput ? new Ctor(rows * features) : null;
          for (let q = 0; q < rows; q++) {
            const i = Math.floor(q / r);
            for (let f = 0; f < features; f++) {
              const s = dy[q * features + f];
              grads[q * 2 * features + f] = s * x[i * features + f]; // ∂/∂a_f
              grads[q * 2 * features + features + f] = s; // ∂/∂c_f
              if (dx) dx[q * features + f] = s * theta[f];
            }
          }
          return { dx, grads };
        },
      };
    },
  };
}

// ---- the models: every layer, mixed ----

const CASES: { name: string; inShape: number[]; ref: RefLayer[]; layers: () => Layer[] }[] = [
  {
    name: 'conv (padding 1) → tanh → maxPool → conv (stride 2) → flatten → linear → tanh → scale → linear',
    inShape: [2, 8, 8],
    ref: [{ conv: [2, 3, 3, 1, 1] }, 'tanh', { max: 2 }, { conv: [3, 2, 2, 2, 0] }, 'flatten', { linear: [8, 4] }, 'tanh', { scale: 4 }, { linear: [4, 3] }],
    layers: () => [
      conv2d(2, 3, 3, { padding: 1 }),
      tanh(),
      maxPool2d(2),
      conv2d(3, 2, 2, { stride: 2 }),
      flatten(),
      linear(8, 4),
      tanh(),
      scale(4),
      linear(4, 3),
    ],
  },
  {
    name: 'conv → avgPool → tanh → flatten → linear',
    inShape: [1, 5, 5],
    ref: [{ conv: [1, 2, 2, 1, 0] }, { avg: 2 }, 'tanh', 'flatten', { linear: [8, 3] }],
    layers: () => [conv2d(1, 2, 2), avgPool2d(2), tanh(), flatten(), linear(8, 3)],
  },
  {
    name: 'conv → layerNorm (last axis) → tanh → avgPool → flatten → linear → layerNorm → residual([linear, tanh, linear]) → tanh → linear',
    inShape: [1, 6, 6],
    ref: [
      { conv: [1, 2, 3, 1, 0] },
      { ln: [4, 1e-5] },
      'tanh',
      { avg: 2 },
      'flatten',
      { linear: [8, 5] },
      { ln: [5, 1e-3] },
      { res: [{ linear: [5, 5] }, 'tanh', { linear: [5, 5] }] },
      'tanh',
      { linear: [5, 3] },
    ],
    layers: () => [
      conv2d(1, 2, 3),
      layerNorm(4),
      tanh(),
      avgPool2d(2),
      flatten(),
      linear(8, 5),
      layerNorm(5, { eps: 1e-3 }),
      residual([linear(5, 5), tanh(), linear(5, 5)]),
      tanh(),
      linear(5, 3),
    ],
  },
  {
    name: 'the first case with both convolutions in factored form (form: "factored": G never formed)',
    inShape: [2, 8, 8],
    ref: [{ conv: [2, 3, 3, 1, 1] }, 'tanh', { max: 2 }, { conv: [3, 2, 2, 2, 0] }, 'flatten', { linear: [8, 4] }, 'tanh', { scale: 4 }, { linear: [4, 3] }],
    layers: () => [
      conv2d(2, 3, 3, { padding: 1, form: 'factored' }),
      tanh(),
      maxPool2d(2),
      conv2d(3, 2, 2, { stride: 2, form: 'factored' }),
      flatten(),
      linear(8, 4),
      tanh(),
      scale(4),
      linear(4, 3),
    ],
  },
  {
    name: 'conv → residual([conv (factored), tanh]) → flatten → linear: factored rows inside a residual block',
    inShape: [1, 4, 4],
    ref: [{ conv: [1, 2, 3, 1, 0] }, { res: [{ conv: [2, 2, 3, 1, 1] }, 'tanh'] }, 'flatten', { linear: [8, 3] }],
    layers: () => [conv2d(1, 2, 3), residual([conv2d(2, 2, 3, { padding: 1, form: 'factored' }), tanh()]), flatten(), linear(8, 3)],
  },
];

/** n samples of `per` numbers uniform in [−1, 1) from a fixed LCG (the same draws on every machine). */
function draw(n: number, per: number, seed: number): Float64Array {
  let s = seed >>> 0;
  return Float64Array.from({ length: n * per }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return 2 * (s / 4294967296) - 1;
  });
}

describe('module layers', () => {
  for (const c of CASES) {
    it(`${c.name}: forward and per-sample Jacobian against the float64 reference and its central differences`, () => {
      const model = sequential(c.layers(), { seed: 3, dtype: 'float64', inputShape: c.inShape });
      const n = 3;
      const x = draw(n, model.inDim, 11);
      const theta = model.getParameters();
      const eta = model.forward(x, n);
      const ref = refForward(c.ref, c.inShape, theta, x, n);
      expect(relErr(eta, ref)).toBeLessThan(1e-13);
      const g = model.jacobian(x, n);
      const fd = fdJacobian(c.ref, c.inShape, theta, x, n);
      let err = 0;
      let big = 0;
      for (let q = 0; q < g.length; q++) {
        err = Math.max(err, Math.abs(g[q] - fd[q]));
        big = Math.max(big, Math.abs(fd[q]));
      }
      expect(err / big).toBeLessThan(1e-7);
      // every parameter moves some output (a Jacobian row of zeros would hide a layer left out)
      for (let q = 0; q < model.numParameters; q++) expect(g.subarray(q * n * 3, (q + 1) * n * 3).some((v) => v !== 0)).toBe(true);
    });
  }

  it.each([0, 2, 3, 4])(
    'the exact direction against the dense float64 (F_θ + λI)⁺ g_θ (case %i): λ = 1e-3, 1 and 0; kernel and parameter space; Cholesky and CG',
    (which) => {
      const c = CASES[which];
      const model = sequential(c.layers(), { seed: 5, dtype: 'float64', inputShape: c.inShape });
      const n = 4; // N·r = 8 < P: kernel space is the natural one, parameter space the check
      const x = draw(n, model.inDim, 21);
      const y = Float64Array.from([0, 2, 1, 2]);
      const theta = model.getParameters();
      const jac = fdJacobian(c.ref, c.inShape, theta, x, n);
      const eta = refForward(c.ref, c.inShape, theta, x, n);
      for (const lambda of [1e-3, 1, 0]) {
        const ref = naturalGradientOf(jac, eta, y, n, 3, model.numParameters, 'categorical', lambda);
        // float64 model: rounding ~κ·1e-16 on top of the reference's own central-difference error ~1e-9
        const tol = Math.max(1e-7, ref.cond * 1e-13);
        if (lambda === 0 && ref.cond > 1e6) continue;
        for (const opts of [
          { space: 'kernel', solver: 'cholesky' },
          { space: 'parameter', solver: 'cholesky' },
          { solver: 'cg', tolerance: 1e-12, maxIterations: 500 },
        ] as const) {
          if (lambda === 0 && opts.solver === 'cg') continue; // CG needs λ > 0
          const opt = new NaturalGradient(model, { loss: 'categorical', damping: lambda, adaptive: false, ...opts });
          const d = opt.direction(x, y, n);
          expect(relErr(d, ref.direction), `λ = ${lambda}, ${JSON.stringify(opts)}, κ = ${ref.cond.toExponential(1)}`).toBeLessThan(tol);
        }
      }
    }
  );

  it('float32: a CNN trains with step() (the loss falls) and Adam on it too', () => {
    const model = sequential([conv2d(1, 4, 3), tanh(), maxPool2d(2), flatten(), linear(16, 2)], { seed: 1, inputShape: [1, 6, 6] });
    const n = 16;
    const x = Float32Array.from(draw(n, 36, 5));
    // label: is the top half brighter than the bottom half
    const y = Float32Array.from({ length: n }, (_, i) => {
      let d = 0;
      for (let p = 0; p < 36; p++) d += (p < 18 ? 1 : -1) * x[i * 36 + p];
      return d > 0 ? 1 : 0;
    });
    const opt = new NaturalGradient(model, { loss: 'categorical', damping: 1e-3 });
    const first = opt.step(x, y, n).loss;
    expect(opt.profile?.layers).toEqual([
      { index: 0, name: 'conv2d(1, 4, 3)', form: 'materialized', parameters: 40 },
      { index: 4, name: 'linear(16, 2)', form: 'factored', parameters: 34 },
    ]);
    let last = first;
    for (let s = 0; s < 15; s++) last = opt.step(x, y, n).lossAfter ?? last;
    expect(last).toBeLessThan(0.2 * first);
    const m2 = sequential([conv2d(1, 4, 3), tanh(), maxPool2d(2), flatten(), linear(16, 2)], { seed: 1, inputShape: [1, 6, 6] });
    const adam = new Adam(m2, { loss: 'categorical', lr: 0.01 });
    const a0 = adam.step(x, y, n).loss;
    let a1 = a0;
    for (let s = 0; s < 60; s++) a1 = adam.step(x, y, n).loss;
    expect(a1).toBeLessThan(0.7 * a0);
  });

  it("stepAsync() on a CNN is bit-identical to step(); the memory check counts the modules' per-sample gradients", async () => {
    const make = () =>
      sequential([conv2d(1, 3, 3), tanh(), maxPool2d(2), flatten(), layerNorm(12), residual([linear(12, 12), tanh()]), linear(12, 3)], {
        seed: 4,
        inputShape: [1, 6, 6],
      });
    const a = make();
    const b = make();
    const x = Float32Array.from(draw(8, 36, 9));
    const y = Float32Array.from([0, 1, 2, 0, 1, 2, 0, 1]);
    const oa = new NaturalGradient(a, { loss: 'categorical', damping: 1e-2, momentum: 0.5 });
    const ob = new NaturalGradient(b, { loss: 'categorical', damping: 1e-2, momentum: 0.5 });
    for (let s = 0; s < 3; s++) expect(await ob.stepAsync(x, y, 8)).toEqual(oa.step(x, y, 8));
    expect(Buffer.from(b.params.buffer).equals(Buffer.from(a.params.buffer))).toBe(true);
    // G rows [N·r, Σ P_l] = [16, 30 + 24] in float32 (conv2d, layerNorm; the residual block's linear layer
    // is factored, ./lib/nn/linear_rows.ts: no G): 3,456 bytes in the step's memory estimate
    const { parts } = exactMemoryBytes(a, 8, 2, 'kernel', exactConfig({ damping: 1e-2 }), { kernel: null });
    expect(parts).toContainEqual(["module layers' per-sample gradients 16×54", 3456]);
  });

  it('embedding: Jacobian and exact direction against the reference (indices repeated across samples: the factored Gram groups them), JSON, bad indices', () => {
    const ref: RefLayer[] = [{ emb: [5, 3] }, { linear: [3, 4] }, 'tanh', { linear: [4, 3] }];
    const model = sequential([embedding(5, 3), linear(3, 4), tanh(), linear(4, 3)], { seed: 6, dtype: 'float64', inputShape: [1] });
    expect(model.inDim).toBe(1);
    const x = Float64Array.from([0, 2, 2, 4, 0, 1]); // index 3 unused: its rows of S are 0
    const n = 6;
    const theta = model.getParameters();
    const jac = fdJacobian(ref, [1], theta, x, n);
    const g = model.jacobian(x, n);
    expect(relErr(g, jac)).toBeLessThan(1e-8);
    const eta = refForward(ref, [1], theta, x, n);
    const y = Float64Array.from([0, 1, 2, 2, 1, 0]);
    for (const lambda of [1e-3, 1]) {
      const dense = naturalGradientOf(jac, eta, y, n, 3, model.numParameters, 'categorical', lambda);
      for (const opts of [
        { space: 'kernel', solver: 'cholesky' },
        { space: 'parameter', solver: 'cholesky' },
        { solver: 'cg', tolerance: 1e-12, maxIterations: 500 },
      ] as const) {
        const opt = new NaturalGradient(model, { loss: 'categorical', damping: lambda, adaptive: false, ...opts });
        const d = opt.direction(x, y, n);
        expect(relErr(d, dense.direction), `λ = ${lambda}, ${JSON.stringify(opts)}`).toBeLessThan(Math.max(1e-7, dense.cond * 1e-13));
        if (opts.solver === 'cholesky' && opts.space === 'kernel')
          expect(opt.profile?.layers?.[0]).toEqual({ index: 0, name: 'embedding(5, 3)', form: 'factored', parameters: 15 });
      }
    }
    const back = Sequential.fromJSON(JSON.stringify(model));
    expect(back.forward(x, n)).toEqual(model.forward(x, n));
    expect(() => model.forward(Float64Array.from([0, 5]), 2)).toThrow(/embedding\(5, 3\): sample 1 has index 5, not an integer in \[0, 5\)/);
    expect(() => model.forward(Float64Array.from([1.5]), 1)).toThrow(/sample 0 has index 1.5/);
    expect(() => sequential([linear(2, 2), embedding(3, 2)])).toThrow(
      /embedding\(3, 2\) takes one column of indices per sample, but its input has shape \[2\]/
    );
  });

  it("parameter space's chunks: S_c materialised into a reused buffer has the bits of a fresh one and of S's own columns (linear rows at r = 1 and 3, an embedding's sparse scatter, a conv's rows)", () => {
    const model = sequential([conv2d(1, 2, 2), flatten(), linear(8, 5), tanh(), linear(5, 3)], { seed: 4, inputShape: [1, 3, 3] });
    const emb = sequential([embedding(5, 3), linear(3, 4), tanh(), linear(4, 3)], { seed: 6, inputShape: [1] });
    const n = 7;
    for (const [m, x] of [
      [model, Float32Array.from({ length: n * 9 }, (_, i) => Math.sin(1.3 * i))],
      [emb, Float32Array.from([0, 2, 2, 4, 0, 1, 3])],
    ] as const) {
      for (const r of [1, 3]) {
        const p = m.numParameters;
        const seeds = Float32Array.from({ length: n * r * 3 }, (_, i) => Math.cos(0.7 * i + r));
        const { trace, bs } = runSync(
          (function* () {
            const trace = yield* m.forwardTask(m.params, x, n);
            return { trace, bs: yield* outputJacobians(m, m.params, trace, seeds.slice(), r) };
          })()
        );
        const whole = materialize(m, trace, bs, r) as Float32Array; // [P, n·r]
        const [i0, i1] = [2, 5];
        const cols = (i1 - i0) * r;
        const fresh = materialize(m, trace, bs, r, i0, i1) as Float32Array;
        const junk = new Float32Array(p * cols).fill(Number.NaN);
        const reused = materialize(m, trace, bs, r, i0, i1, junk);
        expect(reused).toBe(junk);
        expect(reused).toEqual(fresh);
        for (let q = 0; q < p; q++) expect(fresh.subarray(q * cols, (q + 1) * cols)).toEqual(whole.subarray(q * n * r + i0 * r, q * n * r + i1 * r));
        expect(() => materialize(m, trace, bs, r, i0, i1, new Float32Array(3))).toThrow(/out has 3 elements/);
      }
    }
  });

  it("conv2d's form: 'auto' chooses by the flop count (factored for a 1×1 or 2×2 output map, materialised for larger ones), profile.layers says which, and both forms give the same step", () => {
    const model = (form?: 'factored' | 'materialized') =>
      sequential([conv2d(1, 4, 3, form ? { form } : {}), tanh(), conv2d(4, 16, 3, form ? { form } : {}), tanh(), flatten(), linear(16, 3)], {
        seed: 4,
        inputShape: [1, 5, 5],
      });
    const n = 6;
    const x = Float32Array.from(draw(n, 25, 31));
    const y = Float32Array.from({ length: n }, (_, i) => i % 3);
    const run = (form?: 'factored' | 'materialized') => {
      const opt = new NaturalGradient(model(form), { loss: 'categorical', damping: 1e-3 });
      const d = opt.direction(x, y, n);
      return { d, forms: opt.profile!.layers!.map((l) => `${l.name}: ${l.form}`) };
    };
    const auto = run();
    // conv2d(1, 4, 3) on 5×5 → 3×3: 9² position pairs × (4 + 9 + 128) > P_l/2 = 20: materialised;
    // conv2d(4, 16, 3) on 3×3 → 1×1: 1 × (16 + 36 + 128) = 180 < P_l/2 = 296: factored
    expect(auto.forms).toEqual(['conv2d(1, 4, 3): materialized', 'conv2d(4, 16, 3): factored', 'linear(16, 3): factored']);
    const m = run('materialized');
    const f = run('factored');
    expect(f.forms.slice(0, 2)).toEqual(['conv2d(1, 4, 3): factored', 'conv2d(4, 16, 3): factored']);
    // the same float32 kernel summed in another order: relative differences of a few ε₃₂·κ
    expect(relErr(f.d, m.d)).toBeLessThan(1e-4);
    expect(relErr(auto.d, m.d)).toBeLessThan(1e-4);
    expect(() => conv2d(1, 2, 3, { form: 'dense' as 'factored' })).toThrow("conv2d: option 'form' must be 'auto', 'factored' or 'materialized', got 'dense'");
  });

  it("conv2d's 'auto' form keeps memory O(N·r·width): a materialised row longer than 4× the layer's larger activation goes factored whatever the flops", () => {
    // conv2d(32, 32, 3) on 6×6 → 4×4: the flops prefer materialised (16² pairs × (32 + 288 + 128) = 114,688
    // against P_l/2 = 4,624), but a row of G would hold P_l = 9,248 numbers against max(32·6·6, 32·4·4) = 1,152
    const model = () => sequential([conv2d(32, 32, 3), tanh(), flatten(), linear(512, 2)], { seed: 6, inputShape: [32, 6, 6] });
    const n = 3;
    const x = Float32Array.from(draw(n, 32 * 36, 33));
    const y = Float32Array.from({ length: n }, (_, i) => i % 2);
    const opt = new NaturalGradient(model(), { loss: 'categorical', damping: 1e-3 });
    const d = opt.direction(x, y, n);
    expect(opt.profile!.layers!.map((l) => `${l.name}: ${l.form}`)).toEqual(['conv2d(32, 32, 3): factored', 'linear(512, 2): factored']);
    const m = sequential([conv2d(32, 32, 3, { form: 'materialized' }), tanh(), flatten(), linear(512, 2)], { seed: 6, inputShape: [32, 6, 6] });
    const dm = new NaturalGradient(m, { loss: 'categorical', damping: 1e-3 }).direction(x, y, n);
    expect(relErr(d, dm)).toBeLessThan(1e-4); // the same kernel, summed in another order
  });

  it('toJSON/fromJSON keep the built-in layers and inputShape, bit for bit; a layer of your own is refused by name', () => {
    const model = sequential(
      [
        conv2d(2, 3, [3, 2], { stride: 2, padding: 1, form: 'factored' }),
        layerNorm(5),
        maxPool2d(2),
        avgPool2d(1),
        flatten(),
        residual([linear(12, 12), tanh(), layerNorm(12, { eps: 0.1 })]),
        linear(12, 2),
      ],
      { seed: 2, inputShape: [2, 7, 8] }
    );
    const back = Sequential.fromJSON(JSON.stringify(model));
    expect(back.inputShape).toEqual([2, 7, 8]);
    expect(Buffer.from(back.params.buffer).equals(Buffer.from(model.params.buffer))).toBe(true);
    const x = Float32Array.from(draw(2, 112, 4));
    expect(back.forward(x, 2)).toEqual(model.forward(x, 2));
    const own = sequential([linear(3, 3), scale(3)]);
    expect(() => own.toJSON()).toThrow(/layers\[1\] \(scale\(3\)\) is a layer of your own/);
    expect(() => sequential([linear(3, 3), residual([scale(3)])]).toJSON()).toThrow(/layers\[1\] \(residual\(\[scale\(3\)\]\)\) is a layer of your own/);
  });

  it('refuses: shapes that do not chain, a module first without inputShape, a user layer returning wrong sizes, MLP-only methods and input derivatives', () => {
    expect(() => sequential([conv2d(1, 2, 3), linear(8, 2)], { inputShape: [1, 4, 4] })).toThrow(/takes flat inputs.*put flatten\(\) before it/);
    expect(() => sequential([conv2d(1, 2, 3), flatten(), linear(8, 2)])).toThrow(/give the option inputShape/);
    expect(() => sequential([conv2d(2, 2, 3), flatten(), linear(8, 2)], { inputShape: [1, 4, 4] })).toThrow(/needs inputs of shape \[2, H, W\]/);
    expect(() => sequential([conv2d(1, 2, 5), flatten(), linear(8, 2)], { inputShape: [1, 4, 4] })).toThrow(/does not fit the input 4×4/);
    expect(() => sequential([maxPool2d(2), flatten(), linear(8, 2)], { inputShape: [8] })).toThrow(/needs inputs of shape \[C, H, W\]/);
    expect(() => sequential([linear(2, 2)], { inputShape: [0] })).toThrow(/'inputShape' must be a non-empty array of positive integers/);
    expect(() => sequential([linear(2, 3), residual([linear(3, 2)])])).toThrow(/f's output shape \[2\] must equal its input's \[3\]/);
    expect(() => sequential([linear(2, 3), layerNorm(4)])).toThrow(/layerNorm\(4\) normalises a last axis of 4, but its input has shape \[3\]/);
    expect(() => layerNorm(3, { eps: 0 })).toThrow(/'eps' must be a finite number > 0/);
    const bad: ModuleLayer = {
      kind: 'module',
      name: 'bad',
      bind: () => ({
        outShape: [2],
        numParameters: 1,
        init: () => {},
        forward: (_t, x) => ({ y: x }),
        backward: (_t, _x, _y, _c, dy) => ({ dx: dy, grads: dy.subarray(0, 1) }),
      }),
    };
    const m = sequential([linear(2, 2), bad, linear(2, 1)]);
    const opt = new NaturalGradient(m, { loss: 'gaussian' });
    const x = new Float32Array(4);
    expect(() => opt.direction(x, new Float32Array(2), 2)).toThrow(/layers\[1\] \(bad\)\.backward's grads must be a typed array of 2 numbers/);
    const cnn = sequential([conv2d(1, 2, 2), flatten(), linear(18, 2)], { inputShape: [1, 4, 4] });
    expect(() => new NaturalGradient(cnn, { loss: 'categorical', method: 'per-sample' })).toThrow(/defined for MLPs.*layers\[0\] is conv2d/);
    expect(() => new NaturalGradient(cnn, { loss: 'categorical', method: 'chain' })).toThrow(/use method 'exact'/);
    expect(() => cnn.derivatives(new Float32Array(16), 1, { laplacian: false })).toThrow(
      /layers\[0\] is conv2d\(1, 2, 2\): input derivatives are implemented for linear layers/
    );
  });

  it('batchNorm and dropout are refused with the reason (no per-sample Fisher) and the way out, never approximated', () => {
    expect(() => batchNorm(4)).toThrow(
      expect.objectContaining({
        code: 'ERR_LAYER_REFUSED',
        message: expect.stringMatching(/^batchNorm: natgrad refuses this layer: .*mean and variance of the batch.*not defined\. Use layerNorm\(features\)/),
      })
    );
    expect(() => dropout(0.5)).toThrow(
      expect.objectContaining({
        code: 'ERR_LAYER_REFUSED',
        message: expect.stringMatching(/^dropout: .*random mask.*not defined\. Regularise with the optimizer's damping/),
      })
    );
    expect(() => sequential([linear(2, 2), dropout(0.1) as never])).toThrow(TypeError);
  });
});
