// Built-in data for `natgrad explain`: 2-D inputs, uniform on [−1, 1]², reproducible from a seed,
// with targets for each output family:
//   gaussian     k = 2: y = (sin(πx₁)·cos(πx₂/2), x₁x₂ + ½·tanh(2x₂)) + N(0, 0.1²) noise per entry
//   categorical  k = 3: the arm of a three-armed spiral, class = ⌊3·frac(φ/2π + r)⌋ (φ, r: polar x)
//   bernoulli    k = 1: the arm of a two-armed spiral,   class = ⌊2·frac(φ/2π + r)⌋
import type { LossName } from '../distributions';
import type { Dataset32 } from '../data/dataset';
import { Rng } from '../util/random';

/** x [n, 2]; y [n, 2] (gaussian) or [n] class labels; k: the model's output width for this family. */
export interface BuiltinDataset extends Dataset32 {
  k: number;
}

/** Output width k of the built-in problem for a family. */
export function builtinOutputs(loss: LossName): number {
  return loss === 'gaussian' ? 2 : loss === 'categorical' ? 3 : 1;
}

/** n points of the built-in problem for `loss`, drawn from `seed`. */
export function builtinData(loss: LossName, n: number, seed: number): BuiltinDataset {
  const rng = new Rng(seed);
  const k = builtinOutputs(loss);
  const x = new Float32Array(n * 2);
  const y = new Float32Array(loss === 'gaussian' ? n * 2 : n);
  for (let i = 0; i < n; i++) {
    const x1 = 2 * rng.uniform() - 1;
    const x2 = 2 * rng.uniform() - 1;
    x[2 * i] = x1;
    x[2 * i + 1] = x2;
    if (loss === 'gaussian') {
      y[2 * i] = Math.sin(Math.PI * x1) * Math.cos((Math.PI * x2) / 2) + 0.1 * rng.normal();
      y[2 * i + 1] = x1 * x2 + 0.5 * Math.tanh(2 * x2) + 0.1 * rng.normal();
    } else {
      const arms = loss === 'categorical' ? 3 : 2;
      const t = Math.atan2(x2, x1) / (2 * Math.PI) + Math.hypot(x1, x2);
      y[i] = Math.min(arms - 1, Math.floor(arms * (t - Math.floor(t))));
    }
  }
  return { x, y, n, inDim: 2, k };
}
