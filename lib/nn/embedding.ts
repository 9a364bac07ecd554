// embedding(vocab, dim): a lookup table E [vocab, dim]. Its input is one column holding an integer
// index per sample; its output the row y_i = E[idx_i]. Backward, for a seed row s of sample i:
//
//   ∂(s·y_i)/∂E[v, j] = s_j if v = idx_i, else 0;   no derivative in the index itself (dx = 0).
//
// Each row of G [N·r, vocab·dim] is nonzero only in row idx_i of the table, so G is never formed
// (vocab·dim·N·r floats): the layer returns its rows factored (./module.ts, FactoredRows) —
//   G Gᵀ [(i,m), (i',m')] = (s_(i,m) · s_(i',m')) · [idx_i = idx_i'],   by groups of equal indices,
//   Gᵀ c: E-part row v += Σ_{idx_i = v} c_(i,m) s_(i,m),   G v: s_(i,m) · v[idx_i] —
// at O(N·r·dim) each, plus Σ_groups (rows in the group)²·dim for the Gram.
// Parameters E [vocab, dim] row-major, initialised N(0, 1) (as PyTorch's nn.Embedding).
import { type Floats, zerosLike } from '../util/floats';
import { checkCount } from '../util/validate';
import type { BoundModule, FactoredRows, ModuleLayer } from './module';
import { sizeOf } from './module';

/** embedding(vocab, dim): the row E[idx] of a [vocab, dim] table for an input column of integer indices in [0, vocab). */
export function embedding(vocab: number, dim: number): ModuleLayer {
  const v = checkCount('embedding', 'vocab', vocab);
  const d = checkCount('embedding', 'dim', dim);
  const name = `embedding(${v}, ${d})`;
  return Object.freeze({
    kind: 'module' as const,
    name,
    json: { type: 'embedding', vocab: v, dim: d },
    bind: (inShape: readonly number[]) => bindEmbedding(name, v, d, inShape),
  });
}

function bindEmbedding(name: string, vocab: number, dim: number, inShape: readonly number[]): BoundModule {
  if (sizeOf(inShape) !== 1) throw new RangeError(`${name} takes one column of indices per sample, but its input has shape [${inShape.join(', ')}]`);
  return {
    outShape: [dim],
    numParameters: vocab * dim,
    form: 'factored',
    init(theta, normal) {
      for (let q = 0; q < vocab * dim; q++) theta[q] = normal();
    },
    forward(theta, x, n) {
      const idx = new Int32Array(n);
      const y = zerosLike(x, n * dim);
      for (let i = 0; i < n; i++) {
        const t = x[i];
        if (!Number.isInteger(t) || t < 0 || t >= vocab) throw new RangeError(`${name}: sample ${i} has index ${t}, not an integer in [0, ${vocab})`);
        idx[i] = t;
        y.set(theta.subarray(t * dim, (t + 1) * dim), i * dim);
      }
      return { y, cache: idx };
    },
    backward(_theta, _x, _y, cache, dy, n, r, needInput) {
      return { dx: needInput ? zerosLike(dy, n * r) : null, grads: embeddingRows(cache as Int32Array, dy, n, r, dim) };
    },
  };
}

/** The rows of G in factored form: row (i, m) is s_(i,m) [dim] placed at row idx_i of the table. */
function embeddingRows(idx: Int32Array, dy: Floats, n: number, r: number, dim: number): FactoredRows {
  const rows = n * r;
  const sample = (q: number) => Math.floor(q / r);
  return {
    addGram(kernel) {
      // rows of the same index, grouped: only they meet in G Gᵀ
      const groups = new Map<number, number[]>();
      for (let q = 0; q < rows; q++) {
        const v = idx[sample(q)];
        const g = groups.get(v);
        if (g) g.push(q);
        else groups.set(v, [q]);
      }
      for (const g of groups.values())
        for (const a of g)
          for (const b of g) {
            let s = 0;
            for (let j = 0; j < dim; j++) s += dy[a * dim + j] * dy[b * dim + j];
            kernel[a * rows + b] += s;
          }
    },
    contract(c, out) {
      const acc = new Float64Array(out.length);
      for (let q = 0; q < rows; q++) {
        const cq = c[q];
        if (cq === 0) continue;
        const e = idx[sample(q)] * dim;
        for (let j = 0; j < dim; j++) acc[e + j] += cq * dy[q * dim + j];
      }
      out.set(acc);
    },
    addTimes(v, out) {
      for (let q = 0; q < rows; q++) {
        const e = idx[sample(q)] * dim;
        let s = 0;
        for (let j = 0; j < dim; j++) s += dy[q * dim + j] * v[e + j];
        out[q] += s;
      }
    },
    scatter(out, offset, cols, q0, q1) {
      for (let q = q0; q < q1; q++) {
        const e = offset + idx[sample(q)] * dim;
        for (let j = 0; j < dim; j++) out[(e + j) * cols + (q - q0)] = dy[q * dim + j];
      }
    },
  };
}
