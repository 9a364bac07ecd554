// The natural-chain-rule proposal's modular rule (method 'chain'), applied op by op in the backward pass.
//
// The rule. For an op y = f(x) whose inputs x are variables (parameters, or activations that depend on
// them), with the local Jacobian in the proposal's denominator layout G = ∂y/∂x ᵀ ∈ R^{dim x × dim y},
// the backward pass carries a "natural gradient" n instead of a gradient, and maps it by
//
//   n_x = G (GᵀG)⁻¹ n_y                when G is tall (dim x ≥ dim y, independent columns),
//   n_x = (GGᵀ)⁻¹ G n_y                when G is wide (dim x < dim y, independent rows),
//
// i.e. n_x = (Gᵀ)⁺ n_y in both cases: the pseudo-inverse version the proposal falls back to for wide G,
// which there loses the cancellation to the right of F_η (G⁺G ≠ I); carrying n alone, nothing else
// can be done modularly. With damping λ ≥ 0 both read n_x = G (GᵀG + λI)⁻¹ n_y = (GGᵀ + λI)⁻¹ G n_y
// (the push-through identity); λ = 0 is the pseudo-inverse (a zero singular value maps to 0).
// All inputs of an op are treated jointly, as in the proposal's c = ab example
// (n_a = b n_c / (a² + b²), n_b = a n_c / (a² + b²)).
//
// The ops of a sequential MLP, per sample i (one row of the batch), from the output backwards:
//
//   start       n_η,i = F_i⁺ g_i                                  (the proposal's n_η; see outputNaturalGradients)
//   activation  a = σ(z), elementwise: G = diag(σ'(z)), square:
//                 n_z = σ'(z) ⊙ n_a / (σ'(z)² + λ)                (= n_a / σ'(z) at λ = 0; 0 where σ'(z) = 0)
//   linear      z = W^(i) a + b^(i), inputs x = (W^(i), b^(i), a) jointly, G tall:
//               Gᵀ = [a ⊗ I_out | I_out | W], so GᵀG = (‖a‖² + 1) I + W Wᵀ, and with
//                 m = ((‖a‖² + 1 + λ) I + W Wᵀ)⁻¹ n_z:
//                 n_W^(i) = m aᵀ,   n_b^(i) = m,   n_a = Wᵀ m.
//               In the first linear layer a = x is data, not a variable: x is left out of the op,
//               GᵀG = (‖x‖² + 1) I, and m = n_z / (‖x‖² + 1 + λ).
//   fan-out     every parameter is shared by the N samples: W ↦ (W^(1), …, W^(N)), G = [I … I] is
//               wide (dim x = |W| < N|W| = dim y), GGᵀ = N·I:
//                 n_W = (1/(N + λ)) Σ_i n_W^(i),   n_b = (1/(N + λ)) Σ_i n_b^(i).
//
// For one sample and one linear layer this is exactly the proposal's G (GᵀG)⁻¹ n_η (GᵀG = (‖x‖² + 1) I
// there), hence F_θ⁺ g_θ. Beyond that it is the natural-chain-rule proposal, NOT the natural gradient: pseudo-
// inverses do not compose ((AB)⁺ ≠ B⁺A⁺ unless range conditions hold), and the fan-out turns the
// batch into an average of per-sample steps. `natgrad explain` measures both.
//
// Computation: one forward pass, then per linear layer one batched inverse of the out × out matrices
// (‖a_i‖² + 1 + λ) I + W Wᵀ (native batchedGramInverse on the factor G̃_i = [√(‖a_i‖² + 1) I ; Wᵀ],
// [out + in, out], so out ≤ 256), one gemm for n_W = Mᵀ A / (N + λ) (M [N, out] the rows m_i) and one
// for n_a = M W. Cost per layer: N·out²·(out + in) + N·out³/3, memory O(N·(out + in)·out) per chunk.
import type { Floats } from '../util/floats';
import { meanLoss } from '../distributions';
import type { LinearLayer } from '../nn/layers';
import type { Sequential } from '../nn/sequential';
import { batchedGramInverseT, gemmT, type Task } from '../task';
import type { StepBatch } from './batch';
import type { ExactResult } from './exact';
import { outputNaturalGradients, rethrowGram, type SeedConfig } from './per_sample';

/** The widest linear output 'chain' accepts (batchedGramInverse's limit on k). */
export const CHAIN_MAX_WIDTH = 256;

/** Throws a RangeError naming the layer if a linear layer after the first has more than 256 outputs. */
export function checkChainModel(model: Sequential, fn: string): void {
  model.slots.forEach((slot, s) => {
    if (s > 0 && slot.layer.outFeatures > CHAIN_MAX_WIDTH)
      throw new RangeError(
        `${fn}: method 'chain' inverts out × out matrices per sample (batchedGramInverse, out ≤ ${CHAIN_MAX_WIDTH}); ` +
          `layers[${slot.index}] is linear(${slot.layer.inFeatures}, ${slot.layer.outFeatures})`
      );
  });
}

/** Samples per batchedGramInverse call: keeps G̃ under 2²² floats (16 MiB). */
function chunkSize(rows: number, out: number, n: number): number {
  return Math.max(1, Math.min(n, Math.floor(2 ** 22 / (rows * out))));
}

const now = () => performance.now();

/**
 * The 'chain' direction (see the header) for the batch x [N, inDim], y at parameters θ.
 * (One function of ~100 lines on purpose: it is one backward pass in which n, the vector at the current
 * op's output, flows from each op to the one before it; read top to bottom it is the proposal's rule
 * applied op by op, which splitting the ops into functions would hide.)
 */
export function* chainDirection(batch: StepBatch, cfg: SeedConfig): Task<ExactResult> {
  const { model, theta, family: fam, fn, x, y, n } = batch;
  checkChainModel(model, fn);
  const k = model.outDim;
  const lambda = cfg.damping;
  const t0 = now();
  const trace = yield* model.forwardTask(theta, x, n);
  const loss = meanLoss(fam, trace.eta, y, n, k);
  const v = outputNaturalGradients(fam, fn, trace.eta, y, n, k); // n_η,i = F_i⁺ g_i
  const t1 = now();
  let tKernel = 0;
  let tSolve = 0;
  const direction = new Float32Array(model.numParameters);
  let nh: Floats = Float32Array.from(v); // n at the current op's output, [N, width of that output]
  let s = model.slots.length - 1;
  for (let l = model.layers.length - 1; l >= 0 && s >= 0; l--) {
    const layer = model.layers[l];
    const input = trace.inputs[l];
    if (layer.kind === 'activation') {
      // n_z = σ'(z) n_a / (σ'(z)² + λ); the pseudo-inverse of σ' = 0 is 0
      for (let e = 0; e < nh.length; e++) {
        const d = layer.df(input[e]);
        const den = d * d + lambda;
        nh[e] = den > 0 ? (d * nh[e]) / den : 0;
      }
      continue;
    }
    const slot = model.slots[s];
    const { inFeatures: inF, outFeatures: outF } = layer as LinearLayer; // 'chain' is refused for models with modules
    const w = model.view(theta, slot).w; // W [out, in]
    const withInput = s > 0; // a depends on θ; the network input x does not
    const m = new Float32Array(n * outF); // rows m_i
    if (!withInput) {
      // GᵀG = (‖x_i‖² + 1) I: m_i = n_z,i / (‖x_i‖² + 1 + λ)
      for (let i = 0; i < n; i++) {
        let c = 1 + lambda;
        for (let q = 0; q < inF; q++) c += input[i * inF + q] ** 2;
        for (let o = 0; o < outF; o++) m[i * outF + o] = nh[i * outF + o] / c;
      }
    } else {
      // m_i = ((‖a_i‖² + 1 + λ) I + W Wᵀ)⁻¹ n_z,i, the inverse from G̃_i = [√(‖a_i‖² + 1) I_out ; Wᵀ]
      const rows = outF + inF;
      const chunk = chunkSize(rows, outF, n);
      const gt = new Float32Array(chunk * rows * outF);
      for (let i0 = 0; i0 < n; i0 += chunk) {
        const cn = Math.min(chunk, n - i0);
        const ta = now();
        for (let b = 0; b < cn; b++) {
          const i = i0 + b;
          let c = 1;
          for (let q = 0; q < inF; q++) c += input[i * inF + q] ** 2;
          const sc = Math.sqrt(c);
          const base = b * rows * outF;
          gt.fill(0, base, base + outF * outF);
          for (let o = 0; o < outF; o++) gt[base + o * outF + o] = sc; // √c I_out
          for (let q = 0; q < inF; q++) for (let o = 0; o < outF; o++) gt[base + (outF + q) * outF + o] = w[o * inF + q]; // Wᵀ
        }
        const tb = now();
        let inv: Float32Array;
        try {
          inv = yield* batchedGramInverseT(gt.subarray(0, cn * rows * outF), cn, rows, outF, { damping: lambda });
        } catch (e) {
          rethrowGram(e, fn, `method 'chain': (‖a‖² + 1)I + W Wᵀ + λI at layers[${l}] for sample ${i0} + {i}`);
        }
        for (let b = 0; b < cn; b++) {
          const i = i0 + b;
          const mi = inv.subarray(b * outF * outF, (b + 1) * outF * outF);
          for (let o = 0; o < outF; o++) {
            let acc = 0;
            for (let q = 0; q < outF; q++) acc += mi[o * outF + q] * nh[i * outF + q];
            m[i * outF + o] = acc;
          }
        }
        tKernel += tb - ta;
        tSolve += now() - tb;
      }
    }
    // fan-out: n_W = Σ_i m_i a_iᵀ / (N + λ) = Mᵀ A / (N + λ),  n_b = Σ_i m_i / (N + λ)
    const fan = 1 / (n + lambda);
    yield* gemmT(m, input, outF, inF, n, { transA: true, alpha: fan, out: direction.subarray(slot.wOffset, slot.wOffset + outF * inF) });
    for (let o = 0; o < outF; o++) {
      let acc = 0;
      for (let i = 0; i < n; i++) acc += m[i * outF + o];
      direction[slot.bOffset + o] = acc * fan;
    }
    if (withInput) nh = yield* gemmT(m, w, n, inF, outF); // n_a,i = Wᵀ m_i  ([N, out]·[out, in])
    s--;
  }
  const t2 = now();
  return {
    direction,
    loss,
    profile: {
      forward: t1 - t0,
      backprop: t2 - t1 - tKernel - tSolve,
      kernel: tKernel,
      solve: tSolve,
      update: 0,
      total: t2 - t0,
      space: 'kernel',
      assembly: 'layer',
      size: Math.max(...model.slots.map((sl) => sl.layer.outFeatures)),
      solver: 'cholesky',
    },
  };
}
