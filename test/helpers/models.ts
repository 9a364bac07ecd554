// Test problems: a natgrad model and its float64 twin from one architecture,
// random float32 parameters, inputs and targets (deterministic from a seed).
import {
  type ExactNaturalGradientOptions,
  gelu,
  type Layer,
  linear,
  NaturalGradient,
  relu,
  type Sequential,
  sequential,
  sigmoid,
  softplus,
  tanh,
} from '../../lib/index';
import { type Arch, type Loss, numParams, outDim, testRng } from './reference';
import type { ExactConfig } from '../../lib/optim/exact_config';

const ACT: Record<string, () => Layer> = { tanh, relu, sigmoid, softplus, gelu };

export function buildModel(arch: Arch, seed = 0): Sequential<'float32'> {
  return sequential(
    arch.map((l) => (typeof l === 'string' ? ACT[l]() : linear(l.linear[0], l.linear[1]))),
    { seed }
  );
}

/** An MLP in → hidden… → out with activation `act` between linear layers. */
export function mlp(widths: number[], act: Arch[number] & string): Arch {
  const arch: Arch = [];
  for (let i = 0; i + 1 < widths.length; i++) {
    if (i > 0) arch.push(act);
    arch.push({ linear: [widths[i], widths[i + 1]] });
  }
  return arch;
}

/** θ with W ~ N(0, 1/in) and b ~ N(0, biasStd²), rounded to float32. */
export function randomParams(arch: Arch, seed: number, biasStd = 0.5): Float32Array {
  const rng = testRng(seed);
  const theta = new Float32Array(numParams(arch));
  let off = 0;
  for (const l of arch) {
    if (typeof l === 'string') continue;
    const [nin, nout] = l.linear;
    for (let i = 0; i < nin * nout; i++) theta[off++] = rng.normal() / Math.sqrt(nin);
    for (let o = 0; o < nout; o++) theta[off++] = biasStd * rng.normal();
  }
  return theta;
}

/** x [n, d] ~ N(0, 1), float32. */
export function randomInputs(n: number, d: number, seed: number): Float32Array {
  const rng = testRng(seed);
  return Float32Array.from({ length: n * d }, () => rng.normal());
}

/** Valid targets for the loss: gaussian N(0, 1) [n, k]; categorical classes [n]; bernoulli {0, 1} [n]. */
export function randomTargets(loss: Loss, n: number, k: number, seed: number): Float32Array {
  const rng = testRng(seed);
  if (loss === 'gaussian') return Float32Array.from({ length: n * k }, () => rng.normal());
  if (loss === 'categorical') return Float32Array.from({ length: n }, () => Math.floor(rng.uniform() * k));
  return Float32Array.from({ length: n }, () => (rng.uniform() < 0.5 ? 0 : 1));
}

export { outDim, numParams };

/** An optimizer test's problem: an architecture, its parameters, inputs and targets, each from a seed. */
export function problem(loss: Loss, arch: Arch, n: number, seed: number) {
  const k = outDim(arch);
  const d = (arch[0] as { linear: [number, number] }).linear[0];
  return { arch, loss, theta: randomParams(arch, seed), x: randomInputs(n, d, 100 + seed), y: randomTargets(loss, n, k, 200 + seed), n };
}
export type Problem = ReturnType<typeof problem>;

/** A NaturalGradient on a fresh model of the problem's architecture, at the problem's parameters. */
export function exactOptimizer(pr: Problem, options: Omit<ExactNaturalGradientOptions, 'loss'>): NaturalGradient<'float32'> {
  const model = buildModel(pr.arch);
  model.setParameters(pr.theta);
  return new NaturalGradient(model, { loss: pr.loss, ...options });
}

/** An ExactConfig for the size and cost functions (lib/optim/exact_size.ts): kernel space, layer assembly, solver 'auto', with `over` on top. */
export function exactConfig(over: Partial<ExactConfig> = {}): ExactConfig {
  return {
    damping: 1e-3,
    precision: 'float32',
    rcond: undefined,
    space: 'kernel',
    assembly: 'layer',
    solver: 'auto',
    tolerance: 1e-6,
    maxIterations: 1000,
    sketchRank: 64,
    gramianAverage: 0,
    ...over,
  };
}
