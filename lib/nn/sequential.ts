// A sequential model: a chain of layers — linear layers, activations and modules (conv2d, the pools,
// flatten, a user's own: ./module.ts) — mapping an input x (one sample: inputShape, row-major, inDim
// numbers) to the output-distribution parameters η ∈ R^outDim.
//
// Parameters live in one typed array θ of length P — a Float32Array, or a Float64Array for a float64
// model — laid out layer by layer in order: a linear layer's W [out, in] row-major, then b [out]; a
// module's own parameters in its order (conv2d: W [out, in, kh, kw], then b). Layers read views into
// it. A model's inputs, activations, Jacobians and kernels all have its dtype.
import { decodeF32, decodeF64, encodeF32, encodeF64 } from '../util/encode';
import { type ArrayOf, checkDtype, checkDtypeOption, type Dtype, type Floats, zeros } from '../util/floats';
import { materialize, outputJacobians } from './jacobian';
import type { LinearSlot, ModuleSlot, Structure, Trace } from './structure';
import { type BoundModule, type ModuleLayer, sizeOf } from './module';
import { conv2d } from './conv2d';
import { avgPool2d, maxPool2d } from './pool2d';
import { flatten } from './flatten';
import { layerNorm } from './layer_norm';
import { embedding } from './embedding';
import { residual } from './residual';
import { initParameters } from './init';
import { activation, ACTIVATION_NAMES, activationForward, type ActivationName, isActivationName, type Layer, linear, linearForward } from './layers';
import { runSync, type Task } from '../task';
import { allFinite } from '../linalg';
import { checkCount, checkFinite, checkOptions, describe } from '../util/validate';
import { type InputDerivatives, inputDerivatives, noInputDerivatives, notTwiceDifferentiable } from './derivatives';

/**
 * A model as JSON (Sequential.toJSON): the layers, and θ as base64 of its little-endian bytes (float32
 * or float64, the model's dtype) — lossless, so fromJSON(toJSON()) has bit-identical parameters (NaN
 * payloads and −0 included).
 */
export interface SequentialJSON {
  format: 'natgrad.sequential';
  version: 1;
  layers: ({ type: 'linear'; in: number; out: number } | { type: 'activation'; name: ActivationName } | { type: string; [key: string]: unknown })[];
  /** The per-sample input shape, when the model was given one (models with conv2d or the pools). */
  inputShape?: number[];
  parameters: { dtype: Dtype; encoding: 'base64-le'; length: number; data: string };
}

export interface SequentialOptions {
  /** Seed of the default initialisation (a non-negative safe integer). Default 0. */
  seed?: number;
  /**
   * 'float32' (default) or 'float64': the type of the parameters, inputs, outputs and every array of
   * the computation (forward pass, Jacobians, kernel, solve). float64 is for fits that must go below
   * what float32 can resolve (relative errors under ~1e-6): physics-informed losses, scientific
   * regression. Its kernels are OpenBLAS's float64 ones, on the CPU.
   */
  dtype?: Dtype;
  /**
   * The per-sample input shape, e.g. [C, H, W] for conv2d: inputs are row-major [N, ...inputShape].
   * Default: [inFeatures] of the first linear layer; required when a module (conv2d, a pool) comes first.
   */
  inputShape?: readonly number[];
}

export type { LinearSlot, ModuleSlot, Trace } from './structure';

export class Sequential<D extends Dtype = Dtype> implements Structure {
  readonly layers: readonly Layer[];
  /** The element type of θ, the inputs and every array the model computes. */
  readonly dtype: D;
  /** Input width: the numbers per sample (the product of inputShape). */
  readonly inDim: number;
  /** The per-sample input shape. */
  readonly inputShape: readonly number[];
  /** Output width k = dim η. */
  readonly outDim: number;
  /** P, the number of parameters. */
  readonly numParameters: number;
  /** The linear layers and their place in θ. */
  readonly slots: readonly LinearSlot[];
  /** The module layers and their place in θ. */
  readonly modules: readonly ModuleSlot[];
  /** θ, live (internal: use get/setParameters). */
  readonly params: ArrayOf<D>;
  /** Who holds the model while an asynchronous step reads θ off the event loop (null: free). */
  private holder: string | null = null;

  constructor(layers: readonly Layer[], options: SequentialOptions = {}) {
    if (!Array.isArray(layers)) throw new TypeError(`sequential: 'layers' must be an array of layers, got ${describe(layers)}`);
    if (typeof options !== 'object' || options === null) throw new TypeError(`sequential: 'options' must be an object, got ${describe(options)}`);
    const seed = options.seed ?? 0;
    if (typeof seed !== 'number' || !Number.isSafeInteger(seed) || seed < 0)
      throw new RangeError(`sequential: option 'seed' must be a non-negative safe integer, got ${describe(seed)}`);
    const dtype = checkDtypeOption('sequential', options.dtype) as D;
    const shapeOption = options.inputShape;
    checkOptions('sequential', options, ['seed', 'dtype', 'inputShape']);
    const { inputShape, outDim, numParameters: p, slots, modules } = layout(layers, shapeOption);
    this.dtype = dtype;
    this.layers = Object.freeze(layers.slice());
    this.inputShape = Object.freeze(inputShape.slice());
    this.inDim = sizeOf(inputShape);
    this.outDim = outDim;
    this.numParameters = p;
    this.slots = Object.freeze(slots);
    this.modules = Object.freeze(modules);
    this.params = zeros(dtype, p) as ArrayOf<D>;
    initParameters(this.layers, this.params, seed, (l) => modules.find((m) => m.index === l)?.bound);
  }

  /** θ [P], a copy, layer by layer: a linear layer's W [out, in] row-major, then b [out]; a module's own parameters (conv2d: W [out, in, kh, kw], then b). */
  getParameters(): ArrayOf<D> {
    return this.params.slice() as ArrayOf<D>;
  }

  /**
   * Sets θ [P] (same layout as getParameters). TypeError unless an array of the model's dtype
   * (Float32Array, or Float64Array for a float64 model); RangeError on wrong length or non-finite entries.
   */
  setParameters(p: ArrayOf<D>): void {
    this.checkUnlocked('setParameters');
    checkDtype('setParameters', 'p', p, this.dtype);
    checkFinite('setParameters', 'p', p, this.numParameters, 'numParameters');
    this.params.set(p);
  }

  /** The model as JSON-safe data (see SequentialJSON); JSON.stringify(model) uses it. */
  toJSON(): SequentialJSON {
    return {
      format: 'natgrad.sequential',
      version: 1,
      layers: this.layers.map((l, i) => {
        if (l.kind === 'linear') return { type: 'linear' as const, in: l.inFeatures, out: l.outFeatures };
        if (l.kind === 'activation') return { type: 'activation' as const, name: l.name };
        if (!l.json)
          throw new TypeError(`toJSON: layers[${i}] (${l.name}) is a layer of your own without a 'json' description, so the model cannot be saved as JSON`);
        return { ...l.json };
      }),
      ...(this.modules.length > 0 ? { inputShape: this.inputShape.slice() } : {}),
      parameters: {
        dtype: this.dtype,
        encoding: 'base64-le',
        length: this.numParameters,
        data: this.params instanceof Float64Array ? encodeF64(this.params) : encodeF32(this.params as Float32Array),
      },
    };
  }

  /** A model from toJSON()'s data (or its JSON text); errors name the offending field. */
  static fromJSON(json: unknown): Sequential {
    return fromJSON(json);
  }

  /** η [batch, outDim] for x [batch, inDim] (arrays of the model's dtype). */
  forward(x: ArrayOf<D>, batch: number): ArrayOf<D> {
    this.checkInput('forward', x, batch);
    return runSync(this.forwardTask(this.params, x, batch)).eta as ArrayOf<D>;
  }

  /**
   * G [P, batch, outDim]: G[p, i, j] = ∂η[i, j]/∂θ[p], for x [batch, inDim].
   * Materialises P·batch·outDim floats: meant for inspection and tests, not for training.
   */
  jacobian(x: ArrayOf<D>, batch: number): ArrayOf<D> {
    this.checkInput('jacobian', x, batch);
    const k = this.outDim;
    return runSync(
      (function* (self: Sequential): Task<Floats> {
        const trace = yield* self.forwardTask(self.params, x, batch);
        // Identity seeds: row (i, j) of the output Jacobian is e_j, so B holds ∂η_(i,j)/∂h.
        const seeds = zeros(self.dtype, batch * k * k);
        for (let i = 0; i < batch; i++) for (let j = 0; j < k; j++) seeds[(i * k + j) * k + j] = 1;
        const bs = yield* outputJacobians(self, self.params, trace, seeds, k);
        return materialize(self, trace, bs, k);
      })(this)
    ) as ArrayOf<D>;
  }

  /**
   * The outputs and their derivatives with respect to the inputs, exact (Taylor-mode forward
   * propagation, ./derivatives.ts), in float64: value η [batch, outDim], gradient ∂η_j/∂x_c
   * [batch, outDim, inDim] and Laplacian Δₓη_j = Σ_c ∂²η_j/∂x_c² [batch, outDim] for x [batch, inDim].
   * The Laplacian needs twice-differentiable activations (tanh, sigmoid, softplus, gelu): with relu it
   * is a RangeError (code ERR_NOT_TWICE_DIFFERENTIABLE) unless `{ laplacian: false }`, which returns
   * laplacian null. Cost per sample: Σ_linear out·in·(inDim + 2) multiply-adds.
   */
  derivatives(x: ArrayOf<D>, batch: number, options: { laplacian?: boolean } = {}): InputDerivatives {
    const fn = 'derivatives';
    this.checkInput(fn, x, batch);
    checkOptions(fn, options, ['laplacian']);
    const laplacian = options.laplacian ?? true;
    if (typeof laplacian !== 'boolean') throw new TypeError(`${fn}: option 'laplacian' must be a boolean, got ${describe(laplacian)}`);
    const other = noInputDerivatives(this);
    if (other) throw new RangeError(`${fn}: ${other}`);
    const why = laplacian ? notTwiceDifferentiable(this) : null;
    if (why)
      throw Object.assign(new RangeError(`${fn}: ${why}; use tanh, sigmoid, softplus or gelu, or pass { laplacian: false } for the value and gradient`), {
        code: 'ERR_NOT_TWICE_DIFFERENTIABLE',
      });
    return inputDerivatives(this, this.params, x, batch, laplacian);
  }

  /** Checks x [batch, inDim] (the model's dtype, finite) and batch (positive integer); `fn` names the caller. */
  checkInput(fn: string, x: unknown, batch: unknown): asserts x is ArrayOf<D> {
    const n = checkCount(fn, 'batch', batch);
    checkDtype(fn, 'x', x, this.dtype);
    checkFinite(fn, 'x', x, n * this.inDim, `batch × inDim = ${n} × ${this.inDim}`);
  }

  /** Reserves θ for an asynchronous computation (internal); throws if already reserved. */
  lock(by: string): void {
    this.checkUnlocked(by);
    this.holder = by;
  }
  /** Releases θ (internal). */
  unlock(): void {
    this.holder = null;
  }
  /** Throws an Error if an asynchronous computation holds θ. */
  checkUnlocked(fn: string): void {
    if (this.holder !== null) throw new Error(`${fn}: the model's parameters are in use by a pending ${this.holder}; await it first`);
  }

  /** The forward pass with parameters θ (this.params or a snapshot of it), keeping every layer's input. */
  *forwardTask(theta: Floats, x: Floats, n: number): Task<Trace> {
    const inputs: Floats[] = [x];
    const caches: unknown[] = [];
    let h = x;
    let s = 0;
    let j = 0;
    for (let l = 0; l < this.layers.length; l++) {
      const layer = this.layers[l];
      if (layer.kind === 'linear') {
        const slot = this.slots[s++];
        const { w, b } = this.view(theta, slot);
        h = yield* linearForward(layer, w, b, h, n); // z = W a + b
      } else if (layer.kind === 'activation') {
        h = activationForward(layer, h); // a = σ(z)
      } else {
        const m = this.modules[j++];
        const out = m.bound.forward(theta.subarray(m.offset, m.offset + m.size), h, n);
        const size = n * sizeOf(m.bound.outShape);
        if (!(out?.y instanceof Float32Array || out?.y instanceof Float64Array) || out.y.length !== size || !(out.y instanceof h.constructor))
          throw new TypeError(
            `forward: layers[${l}] (${layer.name}).forward must return { y } with y a ${h.constructor.name} of N × outSize = ${size} numbers`
          );
        h = out.y;
        caches[l] = out.cache;
      }
      checkActivations(h, n, this.layers.length, inputs.length - 1, this.dtype);
      inputs.push(h);
    }
    return { n, inputs, eta: h, caches };
  }

  /** W [out, in] and b [out] of a linear layer, as views into θ. */
  view<T extends Floats>(theta: T, slot: LinearSlot): { w: T; b: T } {
    const { inFeatures: i, outFeatures: o } = slot.layer;
    return { w: theta.subarray(slot.wOffset, slot.wOffset + o * i) as T, b: theta.subarray(slot.bOffset, slot.bOffset + o) as T };
  }
}

/**
 * Where every layer's parameters sit in θ, the shapes from layer to layer, and P, computed from the
 * layer list (modules are bound to their input shapes; nothing the size of the model is allocated).
 * Throws the constructor's errors: not a layer, shapes that do not chain, no layer with parameters.
 */
function layout(
  layers: readonly Layer[],
  inputShape?: readonly number[]
): { inputShape: number[]; outDim: number; numParameters: number; slots: LinearSlot[]; modules: ModuleSlot[] } {
  const fn = 'sequential';
  if (inputShape !== undefined && (!Array.isArray(inputShape) || inputShape.length === 0 || !inputShape.every((v) => Number.isSafeInteger(v) && v > 0)))
    throw new RangeError(`${fn}: option 'inputShape' must be a non-empty array of positive integers, got ${describe(inputShape)}`);
  let shape: number[] | undefined = inputShape?.slice();
  let first: number[] | undefined = shape;
  let p = 0;
  const slots: LinearSlot[] = [];
  const modules: ModuleSlot[] = [];
  layers.forEach((layer, index) => {
    if (typeof layer !== 'object' || layer === null || (layer.kind !== 'linear' && layer.kind !== 'activation' && layer.kind !== 'module'))
      throw new TypeError(`${fn}: 'layers[${index}]' is not a natgrad layer (use linear(), tanh(), conv2d(), …), got ${describe(layer)}`);
    if (layer.kind === 'activation') return;
    if (layer.kind === 'linear') {
      if (shape === undefined) first = shape = [layer.inFeatures];
      if (shape.length !== 1)
        throw new RangeError(
          `${fn}: 'layers[${index}]' is linear(${layer.inFeatures}, ${layer.outFeatures}), which takes flat inputs, but its input has shape [${shape.join(', ')}]: put flatten() before it`
        );
      if (layer.inFeatures !== shape[0])
        throw new RangeError(`${fn}: 'layers[${index}]' is linear(${layer.inFeatures}, ${layer.outFeatures}) but its input has width ${shape[0]}`);
      slots.push({ index, layer, wOffset: p, bOffset: p + layer.inFeatures * layer.outFeatures });
      p += (layer.inFeatures + 1) * layer.outFeatures;
      shape = [layer.outFeatures];
      return;
    }
    if (typeof layer.bind !== 'function') throw new TypeError(`${fn}: 'layers[${index}]' is a module without a bind() function, got ${describe(layer)}`);
    if (shape === undefined)
      throw new RangeError(`${fn}: 'layers[${index}]' is ${layer.name}, whose input shape is not known: give the option inputShape (e.g. [C, H, W])`);
    let bound: BoundModule;
    try {
      bound = layer.bind(shape);
    } catch (e) {
      throw new RangeError(`${fn}: 'layers[${index}]': ${(e as Error).message}`);
    }
    const size = bound.numParameters;
    if (!Number.isSafeInteger(size) || size < 0 || !Array.isArray(bound.outShape) || !bound.outShape.every((v) => Number.isSafeInteger(v) && v > 0))
      throw new TypeError(`${fn}: 'layers[${index}]' (${layer.name}) bound to a bad outShape or numParameters: ${describe(bound.outShape)}, ${describe(size)}`);
    modules.push({ index, layer, bound, inShape: Object.freeze(shape.slice()), offset: p, size });
    p += size;
    shape = bound.outShape.slice();
  });
  if (shape === undefined || first === undefined)
    throw new RangeError(`${fn}: 'layers' must contain at least one linear layer (or give the option inputShape)`);
  if (p === 0) throw new RangeError(`${fn}: the layers have no parameters (add a linear or conv2d layer)`);
  return { inputShape: first, outDim: sizeOf(shape), numParameters: p, slots, modules };
}

/** Below this many elements the JavaScript loop is cheaper than a native call (~2 µs). */
const NATIVE_SCAN_FROM = 4096;

/** Throws RangeError (code ERR_NON_FINITE) naming the layer and sample if h [N, w] has an Inf or NaN. */
function checkActivations(h: Floats, n: number, depth: number, l: number, dtype: Dtype): void {
  // the native scan from NATIVE_SCAN_FROM elements (a CNN's layer outputs: 0.3 M elements, ~1 ns each in this
  // loop); on a NaN or Infinity, the loop below finds it again for the message
  if (h.length >= NATIVE_SCAN_FROM) {
    try {
      allFinite(h);
      return;
    } catch (e) {
      if ((e as { code?: string }).code !== 'ERR_NON_FINITE') throw e;
    }
  }
  for (let i = 0; i < h.length; i++) {
    if (!Number.isFinite(h[i])) {
      const sample = Math.floor(i / (h.length / n));
      const what = l === depth - 1 ? 'the output η' : `the output of layers[${l}]`;
      throw Object.assign(
        new RangeError(`forward: ${what} is ${h[i]} for sample ${sample}: the forward pass overflowed ${dtype} (inputs or parameters too large)`),
        { code: 'ERR_NON_FINITE' }
      );
    }
  }
}

/**
 * A sequential model from `layers` (linear widths must chain), initialised from options.seed (default
 * 0), of options.dtype ('float32' by default, or 'float64').
 */
export function sequential(layers: readonly Layer[], options?: SequentialOptions & { dtype?: 'float32' }): Sequential<'float32'>;
export function sequential(layers: readonly Layer[], options: SequentialOptions & { dtype: 'float64' }): Sequential<'float64'>;
export function sequential(layers: readonly Layer[], options?: SequentialOptions): Sequential;
export function sequential(layers: readonly Layer[], options: SequentialOptions = {}): Sequential {
  return new Sequential(layers, options);
}

/** A model from Sequential.toJSON()'s data or its JSON text (also as sequential.fromJSON and Sequential.fromJSON). */
export function fromJSON(json: unknown): Sequential {
  const fn = 'sequential.fromJSON';
  let j = json;
  if (typeof j === 'string') {
    try {
      j = JSON.parse(j);
    } catch (e) {
      throw new SyntaxError(`${fn}: the text is not JSON (${(e as Error).message})`);
    }
  }
  if (typeof j !== 'object' || j === null || Array.isArray(j)) throw new TypeError(`${fn}: expected a model object from toJSON(), got ${describe(j)}`);
  const o = j as Record<string, unknown>;
  if (o.format !== 'natgrad.sequential') throw new RangeError(`${fn}: 'format' must be 'natgrad.sequential', got ${describe(o.format)}`);
  if (o.version !== 1) throw new RangeError(`${fn}: 'version' is ${describe(o.version)}; this version of natgrad reads version 1`);
  if (!Array.isArray(o.layers)) throw new TypeError(`${fn}: 'layers' must be an array, got ${describe(o.layers)}`);
  const layers = o.layers.map((l: unknown, i: number): Layer => parseLayer(fn, l, `'layers[${i}]'`));
  if (o.inputShape !== undefined && !Array.isArray(o.inputShape)) throw new TypeError(`${fn}: 'inputShape' must be an array, got ${describe(o.inputShape)}`);
  const inputShape = o.inputShape as number[] | undefined;
  // Everything is checked against what the file holds before anything the size of the model is
  // allocated: a few hundred bytes declaring linear(65535, 65535) must not cost 17 GB.
  let plan: ReturnType<typeof layout>;
  try {
    plan = layout(layers, inputShape);
  } catch (e) {
    throw new RangeError(`${fn}: ${(e as Error).message}`);
  }
  const P = plan.numParameters;
  const parts = [
    ...plan.slots.map((s) => ({ index: s.index, name: `linear(${s.layer.inFeatures}, ${s.layer.outFeatures})`, size: size(s) })),
    ...plan.modules.map((m) => ({ index: m.index, name: m.layer.name, size: m.size })),
  ];
  const largest = parts.reduce((a, b) => (b.size > a.size ? b : a));
  const declared = `the layers have ${P} parameters ('layers[${largest.index}]' ${largest.name} alone has ${largest.size})`;
  const p = o.parameters as Record<string, unknown> | null;
  if (typeof p !== 'object' || p === null) throw new TypeError(`${fn}: 'parameters' must be an object, got ${describe(p)}`);
  if ((p.dtype !== 'float32' && p.dtype !== 'float64') || p.encoding !== 'base64-le')
    throw new RangeError(
      `${fn}: 'parameters' must have dtype 'float32' or 'float64' and encoding 'base64-le', got ${describe(p.dtype)} and ${describe(p.encoding)}`
    );
  const dtype: Dtype = p.dtype;
  const width = dtype === 'float64' ? 8 : 4;
  if (p.length !== P) throw new RangeError(`${fn}: 'parameters.length' is ${describe(p.length)}, but ${declared}`);
  if (typeof p.data === 'string' && p.data.length % 4 === 0) {
    // the byte count of base64 text, from its length and padding alone
    const s = p.data;
    const bytes = (s.length / 4) * 3 - (s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0);
    if (bytes % width === 0 && bytes / width !== P)
      throw new RangeError(
        `${fn}: 'parameters.data' holds ${bytes / width} ${dtype} value${bytes === width ? '' : 's'} (${bytes} bytes), but ${declared}; refused before allocating the model`
      );
  }
  // as many bytes as the text holds: P values
  const theta = dtype === 'float64' ? decodeF64(fn, "'parameters.data'", p.data, P) : decodeF32(fn, "'parameters.data'", p.data, P);
  const bad = theta.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) throw new RangeError(`${fn}: parameter ${bad} is ${theta[bad]}; a model's parameters are always finite (corrupt data?)`);
  let model: Sequential;
  try {
    model = new Sequential(layers, { dtype, ...(inputShape ? { inputShape } : {}) });
  } catch (e) {
    throw new RangeError(`${fn}: ${(e as Error).message}`);
  }
  model.params.set(theta);
  return model;
}

/** A layer from its toJSON() description (`what` names it in errors: "'layers[2]'"). */
function parseLayer(fn: string, l: unknown, what: string): Layer {
  if (typeof l !== 'object' || l === null) throw new TypeError(`${fn}: ${what} must be an object, got ${describe(l)}`);
  const d = l as Record<string, unknown>;
  if (d.type === 'linear') {
    try {
      return linear(d.in as number, d.out as number);
    } catch (e) {
      throw new RangeError(`${fn}: ${what}: ${(e as Error).message}`);
    }
  }
  if (d.type === 'activation') {
    if (!isActivationName(d.name)) throw new RangeError(`${fn}: ${what}.name must be one of ${ACTIVATION_NAMES.join(', ')}, got ${describe(d.name)}`);
    return activation(d.name);
  }
  const make = MODULES[d.type as string];
  if (!make) throw new RangeError(`${fn}: ${what}.type must be one of linear, activation, ${Object.keys(MODULES).join(', ')}, got ${describe(d.type)}`);
  try {
    return make(d, (inner, k) => parseLayer(fn, inner, `${what}.layers[${k}]`));
  } catch (e) {
    if ((e as Error).message.startsWith(`${fn}: `)) throw e; // an inner layer's error, already named
    throw new RangeError(`${fn}: ${what}: ${(e as Error).message}`);
  }
}

/** The built-in module layers by their toJSON() type, made again from their description; `inner` parses a layer a container holds. */
const MODULES: Record<string, (d: Record<string, unknown>, inner: (l: unknown, k: number) => Layer) => ModuleLayer> = {
  conv2d: (d) =>
    conv2d(d.in as number, d.out as number, d.kernel as [number, number], {
      stride: d.stride as number,
      padding: d.padding as number,
      ...(d.form === undefined ? {} : { form: d.form as 'auto' | 'factored' | 'materialized' }),
    }),
  maxPool2d: (d) => maxPool2d(d.size as number),
  avgPool2d: (d) => avgPool2d(d.size as number),
  flatten: () => flatten(),
  layerNorm: (d) => layerNorm(d.features as number, { eps: d.eps as number }),
  embedding: (d) => embedding(d.vocab as number, d.dim as number),
  residual: (d, inner) => {
    if (!Array.isArray(d.layers)) throw new TypeError(`'layers' must be an array, got ${describe(d.layers)}`);
    return residual(d.layers.map(inner));
  },
};

/** Parameters of one linear layer, (in + 1)·out. */
function size(slot: LinearSlot): number {
  return (slot.layer.inFeatures + 1) * slot.layer.outFeatures;
}
sequential.fromJSON = fromJSON;

/**
 * An MLP inDim → hidden… → outDim: a linear layer per width, `activationName` between them (none
 * after the last), initialised from options.seed. The one builder behind `natgrad train`, the
 * explainer's networks and anyone who builds a network from names.
 */
export function mlp(
  inDim: number,
  hidden: readonly number[],
  outDim: number,
  activationName: ActivationName,
  options?: SequentialOptions & { dtype?: 'float32' }
): Sequential<'float32'>;
export function mlp(
  inDim: number,
  hidden: readonly number[],
  outDim: number,
  activationName: ActivationName,
  options: SequentialOptions & { dtype: 'float64' }
): Sequential<'float64'>;
export function mlp(inDim: number, hidden: readonly number[], outDim: number, activationName: ActivationName, options?: SequentialOptions): Sequential;
export function mlp(inDim: number, hidden: readonly number[], outDim: number, activationName: ActivationName, options: SequentialOptions = {}): Sequential {
  const layers: Layer[] = [];
  let w = inDim;
  for (const h of hidden) {
    layers.push(linear(w, h), activation(activationName));
    w = h;
  }
  layers.push(linear(w, outDim));
  return sequential(layers, options);
}
