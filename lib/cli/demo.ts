// natgrad demo — the README's main job: training on built-in data.
import { linear, sequential, tanh } from '../nn';
import { NaturalGradient } from '../optim/natural_gradient';
import { sincData } from '../demo/sinc';

/** Fits sinc(10x) with a 1-20-20-1 tanh MLP by exact natural-gradient steps on the full batch. */
export function demo(_argv: string[]): number {
  const { x, y, n } = sincData(200);
  const model = sequential([linear(1, 20), tanh(), linear(20, 20), tanh(), linear(20, 1)], { seed: 0 });
  const opt = new NaturalGradient(model, { loss: 'gaussian', lr: 1, damping: 1e-3 });
  console.log(`natgrad demo: fit sin(10x)/(10x), ${n} points, MLP 1-20-20-1 tanh (P = ${model.numParameters}), exact natural gradient, λ = 1e-3`);
  console.log('  step        MSE   ms/step');
  const t0 = performance.now();
  for (let s = 0; s <= 200; s++) {
    const { loss } = opt.step(x, y, n); // loss = (1/N) Σ ½‖y − η‖² = MSE/2
    if (s % 25 === 0) console.log(`  ${String(s).padStart(4)} ${(2 * loss).toExponential(3).padStart(10)} ${((performance.now() - t0) / (s + 1)).toFixed(2).padStart(9)}`);
  }
  console.log(`  final MSE ${(2 * opt.lossAt(x, y, n)).toExponential(3)} after 201 steps, ${((performance.now() - t0) / 1000).toFixed(2)} s`);
  return 0;
}
