// 2-D convolution on [C, H, W] (cross-correlation, as PyTorch's Conv2d), by im2col:
//
//   y[o, p] = Σ_(c,u,v) W[o, c, u, v] · x[c, s·p_y + u − pad, s·p_x + v − pad] + b[o]
//           = (W · Xcolᵢ)[o, p] + b[o],   Xcolᵢ [C·kh·kw, Ho·Wo] the patches of sample i,
//
// Ho = ⌊(H + 2·pad − kh)/s⌋ + 1 (Wo likewise), zero padding. Parameters W [out, in, kh, kw] row-major,
// then b [out]. Backward, for a seed row s [out, Ho·Wo] of sample i:
//
//   ∂(s·y)/∂W = s · Xcolᵢᵀ  [out, C·kh·kw],   ∂(s·y)/∂b[o] = Σ_p s[o, p],   ∂(s·y)/∂Xcolᵢ = Wᵀ s
//
// and the input's seed is the last scattered back onto the pixels (col2im). Each pass is one native call
// (native/cpu/conv2d.cc): the patches (im2col), the forward pass b + W · Xcolᵢᵀ a sample, written in the
// output's layout (conv2dForward), the input seeds Wᵀ s and col2im row by row (conv2dInputSeeds); the
// per-row gradients are materialised (conv2dGradients: one product a sample over its r seed rows,
// G [N·r, P_l]) or kept factored, whichever the cost model of ./conv2d_rows.ts finds cheaper for the
// layer's shape (option `form`).
import { conv2dForward, conv2dGradients, conv2dInputSeeds, im2col } from '../linalg';
import type { Floats } from '../util/floats';
import { checkCount, checkOptions, describe } from '../util/validate';
import { convFactoredElements, convForm, convRows } from './conv2d_rows';
import type { BoundModule, ModuleLayer } from './module';

export interface Conv2dOptions {
  /** Step between windows. Default 1. */
  stride?: number;
  /** Zeros added on each side of H and W. Default 0. */
  padding?: number;
  /**
   * How the layer's block of the kernel is formed: 'materialized' (per-row gradients G [N·r, P_l], then
   * G Gᵀ), 'factored' (a sum over pairs of output positions, G never formed) or 'auto' (default: the
   * cheaper for the layer's shape by a flop count; `profile.layers` says which).
   */
  form?: 'auto' | 'factored' | 'materialized';
}

/** conv2d(inChannels, outChannels, kernelSize, { stride = 1, padding = 0 }) on inputs [C, H, W]; kernelSize a number or [kh, kw]. */
export function conv2d(inChannels: number, outChannels: number, kernelSize: number | readonly [number, number], options: Conv2dOptions = {}): ModuleLayer {
  const fn = 'conv2d';
  const cin = checkCount(fn, 'inChannels', inChannels);
  const cout = checkCount(fn, 'outChannels', outChannels);
  const ks = typeof kernelSize === 'number' ? [kernelSize, kernelSize] : kernelSize;
  if (!Array.isArray(ks) || ks.length !== 2) throw new TypeError(`${fn}: 'kernelSize' must be a positive integer or [kh, kw], got ${describe(kernelSize)}`);
  const kh = checkCount(fn, 'kernelSize', ks[0]);
  const kw = checkCount(fn, 'kernelSize', ks[1]);
  checkOptions(fn, options, ['stride', 'padding', 'form']);
  const form = options.form ?? 'auto';
  if (form !== 'auto' && form !== 'factored' && form !== 'materialized')
    throw new TypeError(`${fn}: option 'form' must be 'auto', 'factored' or 'materialized', got ${describe(form)}`);
  const stride = checkCount(fn, 'stride', options.stride ?? 1);
  const pad = options.padding ?? 0;
  if (typeof pad !== 'number' || !Number.isSafeInteger(pad) || pad < 0)
    throw new RangeError(`${fn}: option 'padding' must be an integer ≥ 0, got ${describe(pad)}`);
  const json = { type: 'conv2d', in: cin, out: cout, kernel: [kh, kw], stride, padding: pad, ...(form === 'auto' ? {} : { form }) };
  return Object.freeze({
    kind: 'module' as const,
    name: `conv2d(${cin}, ${cout}, ${kh === kw ? kh : `[${kh}, ${kw}]`})`,
    json,
    bind: (inShape: readonly number[]) => bindConv(inShape, cin, cout, kh, kw, stride, pad, form),
  });
}

function bindConv(
  inShape: readonly number[],
  cin: number,
  cout: number,
  kh: number,
  kw: number,
  stride: number,
  pad: number,
  form: 'auto' | 'factored' | 'materialized'
): BoundModule {
  const what = `conv2d(${cin}, ${cout}, …)`;
  if (inShape.length !== 3 || inShape[0] !== cin)
    throw new RangeError(`${what} needs inputs of shape [${cin}, H, W], got [${inShape.join(', ')}] (give sequential() the option inputShape: [C, H, W])`);
  const [, h, w] = inShape;
  const ho = Math.floor((h + 2 * pad - kh) / stride) + 1;
  const wo = Math.floor((w + 2 * pad - kw) / stride) + 1;
  if (ho < 1 || wo < 1) throw new RangeError(`${what}: the kernel ${kh}×${kw} (padding ${pad}) does not fit the input ${h}×${w}`);
  const ckk = cin * kh * kw;
  const hw = ho * wo;
  const nw = cout * ckk;
  const shape = { cout, ckk, hw, inSize: cin * h * w };
  const chosen = form === 'auto' ? convForm(shape) : form;
  // the input geometry of im2col (patches [n·Ho·Wo, C·kh·kw] of x [n, C·H·W], row (i, p), column (c, u, v)) and
  // of conv2dInputSeeds (native/cpu/conv2d.cc: these loops were most of a small CNN's step in JavaScript)
  const geometry = [cin, h, w, kh, kw, stride, pad] as const;
  return {
    outShape: [cout, ho, wo],
    numParameters: nw + cout,
    form: chosen,
    ...(chosen === 'factored' ? { workElements: (n: number, r: number) => convFactoredElements(shape, n, r) } : {}),
    // W ~ N(0, 1/fan_in), fan_in = C·kh·kw (LeCun, as linear's default); b = 0
    init(theta, normal) {
      const std = 1 / Math.sqrt(ckk);
      for (let q = 0; q < nw; q++) theta[q] = std * normal();
      theta.fill(0, nw, nw + cout);
    },
    forward(theta, x, n) {
      const cols = im2col(x, n, geometry);
      return { y: conv2dForward(cols, theta, n, cout, geometry), cache: cols }; // y_i = b + W · cols_iᵀ
    },
    backward(theta, _x, _y, cache, dy, n, r, needInput) {
      const cols = cache as Floats;
      const grads = chosen === 'factored' ? convRows(shape, geometry, dy, cols, n, r) : conv2dGradients(dy, cols, n, r, cout, geometry);
      if (!needInput) return { dx: null, grads };
      // ∂/∂Xcol = Wᵀ s per row, scattered back onto the pixels (col2im): natively, row by row
      const dx = conv2dInputSeeds(theta.subarray(0, nw) as Floats, dy, n * r, cout, geometry);
      return { dx, grads };
    },
  };
}
