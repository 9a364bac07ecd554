// Why a step is rejected, in the batch's terms: the messages of the failure path (they run only there).
import type { Floats } from '../util/floats';
import type { Sequential } from '../nn/sequential';
import { F32_MAX, firstNonFinite, largestInput } from './common';
import type { ExactSystem, Linearization } from './exact';

const fmt = (v: number) => (Number.isFinite(v) ? v.toPrecision(3) : String(v));

/**
 * Which linear layer's block of the Fisher kernel overflows float32, in words, or null. A layer adds
 * (B Bᵀ) ⊙ (A Aᵀ + 1) (docs/design.md §1): its diagonal entry for sample i is ‖b_(i,m)‖²·(‖a_i‖² + 1),
 * and A Aᵀ alone overflows when ‖a_i‖² does (then even B = 0, a saturated activation, gives 0·∞ = NaN).
 * Failure path only: O(N·r·Σ widths).
 */
export function kernelOverflow(model: Sequential, lin: Linearization): string | null {
  const { n } = lin.trace;
  const { r } = lin;
  for (let l = 0; l < model.slots.length; l++) {
    const { index, layer } = model.slots[l];
    const { inFeatures: inW, outFeatures: outW } = layer;
    const a = lin.trace.inputs[index];
    const b = lin.bs[l];
    const name = `layers[${index}] = linear(${inW}, ${outW})`;
    for (let i = 0; i < n; i++) {
      let aa = 0;
      for (let j = 0; j < inW; j++) aa += a[i * inW + j] * a[i * inW + j];
      if (!(aa <= F32_MAX))
        return `${name} receives an input of norm ${fmt(Math.sqrt(aa))} at sample ${i}, whose products a·a (${fmt(aa)}) overflow float32 (largest ${fmt(F32_MAX)})`;
      for (let m = 0; m < r; m++) {
        let bb = 0;
        for (let o = 0; o < outW; o++) bb += (b as Floats)[(i * r + m) * outW + o] ** 2;
        const entry = bb * (aa + 1);
        if (!(entry <= F32_MAX))
          return (
            `at sample ${i} the output Jacobian backpropagated to ${name} (norm ${fmt(Math.sqrt(bb))}) times its input ` +
            `(norm ${fmt(Math.sqrt(aa))}) gives a kernel entry of ${fmt(entry)}, which overflows float32 (largest ${fmt(F32_MAX)})`
          );
      }
    }
  }
  return null;
}

/**
 * The reason for a rejection on a non-finite value of the batch at θ, in the batch's terms: what
 * failed, which layer's kernel block overflows float32 (when that is why), and the batch's largest
 * input.
 */
export function batchFailure(model: Sequential, what: string, x: Floats, batch: number, lin: Linearization | undefined, sys: ExactSystem | undefined): string {
  const culprit = lin ? kernelOverflow(model, lin) : null;
  const input = largestInput(x, batch);
  if (sys !== undefined && firstNonFinite(sys.kernel) >= 0) {
    const kernel = `the batch's Fisher kernel (${sys.space === 'kernel' ? 'SᵀS' : 'S Sᵀ'}, float32) is not finite`;
    return `${kernel}: ${culprit ?? 'no single layer accounts for it'}; ${input} (${what})`;
  }
  return culprit ? `${what}; ${culprit}; ${input}` : `${what}; ${input}`;
}

/** The reason for a rejection whose trial parameters give a non-finite loss. */
export function overshoot(what: string, loss: number): string {
  return (
    `the trial step overshoots: at θ − lr·s·n, ${what}, while the loss at θ is ${loss}; a non-finite trial loss ` +
    `is no evidence about λ: lower lr or set maxStepNorm/maxKL if this repeats`
  );
}
