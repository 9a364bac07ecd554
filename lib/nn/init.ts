// Default initialisation: fan-in scaling, reproducible from a seed. Module layers (./module.ts) draw
// their own from the same generator, in layer order (conv2d: N(0, 1/fan_in), b = 0).
//   W[o, c] ~ N(0, gain² / inFeatures),  b = 0,
// gain = √2 (He) when the layer feeds a relu or gelu, 1 (LeCun) otherwise, so the
// pre-activations keep unit scale through the depth. Draws come from one Rng
// (xoshiro128**), layer by layer, W row-major: the same seed gives the same
// parameters on every platform.
import type { Layer } from './layers';
import type { BoundModule } from './module';
import { Rng } from '../util/random';

/** Fills `params` (the model's layout: per linear layer W [out, in] then b [out], per module its own) from `seed`; bound(l): module l bound. */
export function initParameters(
  layers: readonly Layer[],
  params: Float32Array | Float64Array,
  seed: number,
  bound: (l: number) => BoundModule | undefined = () => undefined
): void {
  const rng = new Rng(seed);
  let off = 0;
  for (let l = 0; l < layers.length; l++) {
    const layer = layers[l];
    if (layer.kind === 'module') {
      const m = bound(l);
      if (!m || m.numParameters === 0) continue;
      m.init(params.subarray(off, off + m.numParameters), () => rng.normal());
      off += m.numParameters;
      continue;
    }
    if (layer.kind !== 'linear') continue;
    const next = layers[l + 1];
    const gain = next && next.kind === 'activation' ? next.gain : 1;
    const std = gain / Math.sqrt(layer.inFeatures);
    const nw = layer.inFeatures * layer.outFeatures;
    for (let i = 0; i < nw; i++) params[off + i] = std * rng.normal();
    off += nw;
    params.fill(0, off, off + layer.outFeatures);
    off += layer.outFeatures;
  }
}
