// natgrad train — train an MLP on a CSV file or a built-in data set, with NGD, Adam or SGD.
//
//   natgrad train --data file.csv --target label --loss categorical --model 64,64 --epochs 20 \
//                 --batch 256 --optimizer ngd --out run/
//   natgrad train --dataset mnist --epochs 3 --out run/
//
// --out DIR writes DIR/model.json (the model bundle: architecture, parameters, input columns and their
// scaling, class labels — natgrad predict and loadModel() use it; saved at every epoch too), DIR/metrics.jsonl
// (one JSON object per evaluation, appended as training goes),
// DIR/loss.svg (the curves) and DIR/run.json (the settings, the data's columns and scaling). The folder
// is created and write-tested before anything else happens, and DIR/checkpoint.ckpt is saved after
// every completed epoch (lib/checkpoint: temporary file, fsync, rename), so a run that is killed keeps
// its last epoch; --resume continues it: the model, the optimizer's state (λ, momentum, Adam's moments,
// step counts), the epoch and step counters, training time, rejected-step count and the metrics so far
// are restored, and since epoch e's batch order is permutation(n, seed, e) the resumed run takes
// exactly the steps the uninterrupted run would have (same bits). The settings must be the same as the
// checkpoint's (checked, with the data's SHA-256); only --epochs may change.
import { appendFileSync, existsSync, readdirSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { type BundleInfo, ModelBundle } from '../bundle';
import { dirname, join, resolve } from 'node:path';
import { loadCheckpoint, saveCheckpoint } from '../checkpoint';
import { readCsv } from '../data/csv';
import type { LossName } from '../distributions';
import { type ActivationName, mlp, type Sequential } from '../nn';
import { type Hooks, OPTIMIZER_LABEL, type OptimizerName, type Point, type ResumeFrom, type RunResult, trainAsync } from '../train/trainer';
import { helpText, parseArgs } from './args';
import { Progress } from './progress';
import { builtin, type Data, dataHash, fromCsv, standardize } from './train_data';
import { fail, SPEC, TRAIN_USAGE } from './train_options';
import { CHECKPOINT_FILE, checkOut, curves, decodePoint, encodePoint, makeOut, settingsDiff, type TrainCheckpoint } from './train_output';

export { TRAIN_USAGE } from './train_options';
export { CHECKPOINT_FILE } from './train_output';

const pct = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '—' : `${(100 * v).toFixed(2)}%`);
const exp = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '—' : v.toExponential(3));

type Options = ReturnType<typeof parseArgs>;
type Scaling = { mean: number[]; std: number[] } | undefined;

/** The command line's choices, checked and with their defaults (the data is read later). */
interface RunOptions {
  seed: number;
  testFraction: number;
  hidden: number[];
  act: ActivationName;
  optimizer: OptimizerName;
  lr: number;
  /** ngd: the initial λ (undefined: the default) and whether it stays fixed. */
  damping: number | undefined;
  fixed: boolean;
  /** sgd: the momentum; ngd: SPRING's μ (undefined: the default, 0.9 for sgd, 0 for ngd). */
  momentum: number | undefined;
  epochs: number;
  out: string | undefined;
}

function readOptions(o: Options): RunOptions {
  if (o.data !== undefined && o.dataset !== undefined) fail('give --data or --dataset, not both');
  if (o.data === undefined && o.dataset === undefined) fail('no data: give --data FILE.csv --target COLUMN, or --dataset mnist');
  if (o.dataset !== undefined && o.target !== undefined) fail('--target goes with --data (the built-in data sets have their own targets)');
  if (o.dataset !== undefined && o['test-fraction'] !== undefined) fail('--test-fraction goes with --data (the built-in data sets have a fixed split)');
  if (o.data !== undefined && o.target === undefined) fail('--data needs --target COLUMN (the column to predict)');
  if (o.data !== undefined && o.loss === undefined) fail('--data needs --loss categorical|gaussian|bernoulli');
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
  const optimizer = ((o.optimizer as string | undefined) ?? 'ngd') as OptimizerName;
  if (o.damping !== undefined && optimizer !== 'ngd') fail('--damping goes with --optimizer ngd');
  if (o['fixed-damping'] && optimizer !== 'ngd') fail('--fixed-damping goes with --optimizer ngd');
  if (o.momentum !== undefined && optimizer === 'adam') fail('--momentum goes with --optimizer sgd or ngd (Adam has its own moments)');
  if (optimizer === 'ngd' && (o.momentum as number | undefined) !== undefined && (o.momentum as number) >= 1) fail('--momentum for ngd (SPRING μ) must be < 1');
  if (o.delimiter !== undefined && o.data === undefined) fail('--delimiter goes with --data');
  const out = o.out as string | undefined;
  if (o.resume && !out) fail("--resume needs --out DIR (the folder with the run's checkpoint.ckpt)");
  return {
    seed: (o.seed as number | undefined) ?? 0,
    testFraction,
    hidden,
    act: ((o.activation as string | undefined) ?? (o.dataset === 'sinc' ? 'tanh' : 'relu')) as ActivationName,
    optimizer,
    lr: (o.lr as number | undefined) ?? { ngd: 1, adam: 1e-3, sgd: 0.1 }[optimizer],
    damping: o.damping as number | undefined,
    fixed: !!o['fixed-damping'],
    momentum: o.momentum as number | undefined,
    epochs: (o.epochs as number | undefined) ?? 10,
    out,
  };
}

/** The checkpoint of the run in --out, for --resume. */
function readCheckpoint(out: string, ckptFile: string): { resumed: ReturnType<typeof loadCheckpoint>; saved: TrainCheckpoint } {
  if (!existsSync(ckptFile)) throw new Error(`--resume: no checkpoint in ${out} (${ckptFile} does not exist); run without --resume to start a new run`);
  const resumed = loadCheckpoint(ckptFile); // ERR_CHECKPOINT names a truncated or modified file
  const saved = resumed.extra as TrainCheckpoint;
  if (typeof saved !== 'object' || saved === null || saved.kind !== 'natgrad-train' || saved.version !== 1 || resumed.optimizer === null)
    throw new Error(`--resume: ${ckptFile} is a natgrad checkpoint but not one written by natgrad train`);
  return { resumed, saved };
}

/** The CSV file or the built-in set, standardized if asked (with the training rows' statistics). */
function readData(o: Options, r: RunOptions): { data: Data; scaling: Scaling } {
  let data: Data;
  if (o.data !== undefined) {
    const file = o.data as string;
    const loss = o.loss as LossName;
    const delimiter = o.delimiter === 'tab' ? '\t' : ((o.delimiter as string | undefined) ?? 'auto');
    const table = readCsv(file, { delimiter, text: loss === 'gaussian' ? [] : (o.target as string[]) });
    data = fromCsv(table, file, o.target as string[], loss, r.testFraction, r.seed);
  } else {
    data = builtin(o.dataset as string);
    if (o.loss !== undefined && o.loss !== data.loss) fail(`--dataset ${o.dataset} goes with --loss ${data.loss}`);
  }
  if (!o.standardize) return { data, scaling: undefined };
  // copies: the built-in data sets are cached and shared
  data.train = { ...data.train, x: data.train.x.slice() };
  data.test = { ...data.test, x: data.test.x.slice() };
  return { data, scaling: standardize(data.train, data.test) };
}

/** The optimizer's own settings as run.json and the checkpoint record them. */
function optimizerSettings(r: RunOptions): Record<string, unknown> {
  return {
    ...(r.optimizer === 'ngd' ? { damping: r.damping ?? 1e-3, adaptiveDamping: !r.fixed } : {}),
    ...(r.optimizer === 'ngd' && r.momentum !== undefined ? { momentum: r.momentum } : {}),
    ...(r.optimizer === 'sgd' ? { momentum: r.momentum ?? 0.9 } : {}),
  };
}

/** What a resumed run must share with the checkpoint's run (all but --epochs). */
function runSettings(o: Options, r: RunOptions, data: Data, batch: number): Record<string, unknown> {
  return {
    data: data.info,
    dataSha256: dataHash(data),
    loss: data.loss,
    layers: [data.train.inDim, ...r.hidden, data.outDim],
    activation: r.hidden.length ? r.act : 'linear',
    optimizer: r.optimizer,
    lr: r.lr,
    batch,
    ...optimizerSettings(r),
    seed: r.seed,
    ...(o.data !== undefined ? { testFraction: r.testFraction } : {}),
    standardize: !!o.standardize,
  };
}

/** What the loop's hooks write to: the model and settings to checkpoint, the metrics lines, the last evaluation. */
interface RunRecord {
  model: Sequential;
  /** What model.json keeps besides the model (inputs, scaling, labels), and --out (null: none). */
  bundle: BundleInfo;
  out: string | undefined;
  settings: Record<string, unknown>;
  metrics: string[];
  ckptFile: string | undefined;
  last: Point | undefined;
}

/**
 * The loop's hooks for the terminal and --out: a progress bar per epoch, one metrics line per
 * evaluation, and the checkpoint after every epoch (the model, the optimizer and what a resumed run
 * needs); `done` ends the progress bar.
 */
function reporter(r: RunOptions, classif: boolean, hasTest: boolean, run: RunRecord): Hooks & { done(): void } {
  const bar = new Progress();
  const { epochs } = r;
  let stepMs = 0,
    stepsInEpoch = 0,
    lossSum = 0;
  const onEval = (p: Point) => {
    run.last = p;
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
    run.metrics.push(JSON.stringify(record));
    if (run.out) appendFileSync(join(run.out, 'metrics.jsonl'), `${run.metrics[run.metrics.length - 1]}\n`); // streamed: readable while training runs
    if (p.step > 0)
      bar.line(
        `epoch ${String(Math.round(p.epoch)).padStart(String(epochs).length)}/${epochs}  loss ${exp(p.trainLoss)}` +
          (classif ? `  acc ${pct(p.trainAcc)}` : '') +
          (hasTest ? `  test loss ${exp(p.testLoss)}${classif ? `  test acc ${pct(p.testAcc)}` : ''}` : '') +
          (p.damping !== undefined ? `  λ ${p.damping.toExponential(1)}` : '') +
          `  ${(stepMs / Math.max(1, stepsInEpoch)).toFixed(1)} ms/step  ${p.time.toFixed(1)} s`
      );
    stepMs = 0;
    stepsInEpoch = 0;
    lossSum = 0;
  };
  return {
    onStep: (e) => {
      stepMs += e.ms;
      stepsInEpoch++;
      lossSum += e.loss;
      bar.update(e.batchIndex + 1, e.batches, `epoch ${e.epoch}/${epochs}`, {
        loss: (lossSum / stepsInEpoch).toFixed(4),
        ...(classif ? { acc: pct(run.last?.trainAcc) } : {}), // train accuracy at the last evaluation
        ...(e.damping !== undefined ? { λ: e.damping.toExponential(1) } : {}),
        step: `${e.ms.toFixed(1)} ms`,
      });
    },
    onEval,
    onEpoch: (e) => {
      if (!run.ckptFile) return;
      const extra: TrainCheckpoint = {
        kind: 'natgrad-train',
        version: 1,
        epoch: e.epoch,
        step: e.step,
        seconds: e.seconds,
        rejected: e.rejected,
        points: e.points.map(encodePoint),
        metrics: run.metrics,
        settings: run.settings,
      };
      saveCheckpoint(run.ckptFile, { model: run.model, optimizer: e.optimizer, extra });
      if (run.out) new ModelBundle(run.model, run.bundle).save(join(run.out, 'model.json')); // a model that predicts, from the last epoch on
    },
    done: () => bar.done(),
  };
}

/** model.json, metrics.jsonl, loss.svg and run.json in --out. */
function writeOutputs(out: string, r: RunOptions, data: Data, batch: number, scaling: Scaling, run: RunRecord, result: RunResult): void {
  const { model } = run;
  const layers = [data.train.inDim, ...r.hidden, data.outDim];
  new ModelBundle(model, run.bundle).save(join(out, 'model.json')); // loadModel(out) restores it; natgrad predict uses it
  writeFileSync(
    join(out, 'loss.svg'),
    curves(result.points, data.loss !== 'gaussian', data.test.n > 0, `${OPTIMIZER_LABEL[r.optimizer]}, ${layers.join('-')}`)
  );
  const { steps, seconds, final, rejected, diverged } = result;
  const record = {
    data: data.info,
    loss: data.loss,
    model: { layers, activation: r.act, parameters: model.numParameters, seed: r.seed },
    optimizer: { name: r.optimizer, lr: r.lr, batch, epochs: r.epochs, ...optimizerSettings(r) },
    ...(scaling ? { standardize: scaling } : {}),
    result: { steps, seconds, final, rejected, ...(diverged ? { diverged } : {}) },
  };
  writeFileSync(join(out, 'run.json'), JSON.stringify(record, null, 1));
}

/** The run's first lines: the data, the model and optimizer, and where the checkpoint goes (or comes from). */
function printStart(
  r: RunOptions,
  data: Data,
  model: Sequential,
  batch: number,
  scaling: Scaling,
  ckptFile: string | undefined,
  saved: TrainCheckpoint | undefined
): void {
  const { optimizer, hidden, act, epochs } = r;
  const arch = [data.train.inDim, ...hidden, data.outDim].join('-');
  console.log(`natgrad train: ${data.description}`);
  console.log(
    `  model ${arch} ${hidden.length ? act : 'linear'} (P = ${model.numParameters}), ${data.loss}; ${OPTIMIZER_LABEL[optimizer]} lr ${r.lr}` +
      `${optimizer === 'ngd' ? `, λ${r.fixed ? ' (fixed)' : '₀'} ${r.damping ?? 1e-3}` : ''}${optimizer === 'sgd' ? `, momentum ${r.momentum ?? 0.9}` : ''}${optimizer === 'ngd' && r.momentum ? `, SPRING μ ${r.momentum}` : ''}` +
      `, batch ${batch}, ${epochs} epochs${scaling ? ', standardized inputs' : ''}`
  );
  if (saved) {
    console.log(
      `  resuming from ${ckptFile}: epoch ${saved.epoch} (step ${saved.step}, ${saved.seconds.toFixed(1)} s of training)` +
        (saved.epoch >= epochs ? `; --epochs ${epochs} is already reached, nothing to train` : '')
    );
  } else if (ckptFile) console.log(`  checkpoint and model.json after every epoch in ${dirname(ckptFile)} (--resume continues from it)`);
  const left = data.train.n % batch;
  if (left > 0)
    console.log(
      `  each epoch takes ${Math.floor(data.train.n / batch)} batches of ${batch}; the last ${left} rows of the epoch's shuffled order wait for ` +
        `another epoch (every step the same size, so NGD reuses its kernel buffer); --batch ${data.train.n} trains on every row at each step`
    );
  if (data.loss === 'gaussian') console.log('  loss: ½·(squared error) per row, summed over the targets (the gaussian negative log-likelihood, σ = 1)');
  for (const label of data.rare ?? [])
    console.log(
      `  warning: class ${JSON.stringify(label)} has a single row among ${data.train.n + data.test.n}: a stray label? (every distinct label is a class)`
    );
}

/**
 * After Ctrl-C: what is saved and how to go on. The last completed epoch's checkpoint and model.json stay;
 * with no epoch completed, what this run wrote (metrics.jsonl, and --out itself if it made it) is removed.
 * Exit code 130, as for a process ended by SIGINT.
 */
function interrupted(result: RunResult, r: RunOptions, out: string | undefined, created: string | undefined, ckptFile: string | undefined): number {
  const epoch = Math.floor(result.final.epoch);
  console.error(`natgrad train: interrupted at step ${result.steps} (epoch ${Math.min(epoch + 1, r.epochs)} of ${r.epochs})`);
  if (!out) return 130;
  if (ckptFile && existsSync(ckptFile)) {
    console.error(`  the last completed epoch is in ${ckptFile} and ${join(out, 'model.json')} (natgrad predict uses it); --resume continues the run`);
  } else {
    rmSync(join(out, 'metrics.jsonl'), { force: true });
    // the folders this run made, from --out up to the first of them, where they are empty
    let removed = false;
    for (let d = resolve(out); created && readdirSync(d).length === 0; d = dirname(d)) {
      rmdirSync(d);
      removed = true;
      if (d === resolve(created)) break;
    }
    console.error(`  no epoch was completed: nothing was saved${removed ? ` (${out} removed)` : ''}`);
  }
  return 130;
}

/**
 * Why a finished run counts as diverged, or undefined: the loop's own verdict (a non-finite loss), or a
 * final training loss above 100 × the first evaluation's (finite, but no fit: e.g. SGD with too large a
 * step, 9.8e21 after a start at 2.3).
 */
function divergence(result: RunResult): string | undefined {
  if (result.diverged) return result.diverged;
  const first = result.points[0]?.trainLoss,
    last = result.final.trainLoss;
  if (first > 0 && last > 100 * first) return `the training loss grew from ${exp(first)} to ${exp(last)}; lower --lr`;
  return undefined;
}

export async function train(argv: string[]): Promise<number> {
  const o = parseArgs('train', argv, SPEC, TRAIN_USAGE);
  if (o.help) {
    console.log(helpText(TRAIN_USAGE, SPEC, 14));
    return 0;
  }
  const r = readOptions(o);
  const { out, optimizer } = r;
  if (out) checkOut(out); // before reading data or training: an unwritable --out must not cost a run
  const ckptFile = out ? join(out, CHECKPOINT_FILE) : undefined;
  const checkpoint = o.resume ? readCheckpoint(out!, ckptFile!) : undefined;
  const { data, scaling } = readData(o, r);
  const batch = Math.min((o.batch as number | undefined) ?? (optimizer === 'ngd' ? 256 : 64), data.train.n);
  const settings = runSettings(o, r, data, batch);
  let resume: ResumeFrom | undefined;
  if (checkpoint) {
    const { resumed, saved } = checkpoint;
    const diff = settingsDiff(saved.settings ?? {}, settings);
    if (diff.length)
      throw new Error(
        `--resume: ${ckptFile} was written by a run with other settings (${diff.join('; ')}); resume with the same options (only --epochs may change)`
      );
    resume = { optimizer: resumed.optimizer!, step: saved.step, seconds: saved.seconds, rejected: saved.rejected, points: saved.points.map(decodePoint) };
  }
  const model = checkpoint ? checkpoint.resumed.model : mlp(data.train.inDim, r.hidden, data.outDim, r.act, { seed: r.seed });
  const created = out ? makeOut(out) : undefined;
  printStart(r, data, model, batch, scaling, ckptFile, checkpoint?.saved);

  const classif = data.loss !== 'gaussian';
  const bundle: BundleInfo = { loss: data.loss, inputs: data.inputs, standardize: scaling ?? null, targets: data.targets, labels: data.labels };
  if (out) writeFileSync(join(out, 'metrics.jsonl'), checkpoint?.saved.metrics.length ? `${checkpoint.saved.metrics.join('\n')}\n` : '');
  const run: RunRecord = {
    model,
    bundle,
    out,
    settings,
    metrics: checkpoint ? checkpoint.saved.metrics.slice() : [],
    ckptFile,
    last: resume?.points?.[resume.points.length - 1],
  };
  const hooks = reporter(r, classif, data.test.n > 0, run);
  const { lr, damping, momentum, epochs, fixed, seed } = r;
  const ngd = { ...(fixed ? { adaptive: false } : {}), ...(optimizer === 'ngd' && momentum !== undefined ? { momentum } : {}) };
  const config = { optimizer, lr, batch, damping, momentum: optimizer === 'sgd' ? momentum : undefined, ngd, budget: { epochs }, seed, resume };
  // Ctrl-C: the first stops after the current step (what the last completed epoch saved stays, ready to
  // resume or predict); a second quits at once
  let stop = false;
  const onSigint = () => {
    if (stop) process.exit(130);
    stop = true;
  };
  process.on('SIGINT', onSigint);
  let result: RunResult;
  try {
    result = await trainAsync(model, data.loss, data.train, data.test, config, hooks, () => stop);
  } finally {
    process.off('SIGINT', onSigint);
    hooks.done();
  }
  if (result.interrupted) return interrupted(result, r, out, created, ckptFile);
  const diverged = divergence(result);
  const f = result.final;
  const rmse = (loss: number) => (classif ? '' : ` (RMSE ${exp(Math.sqrt((2 * loss) / data.outDim))})`);
  console.log(
    `done: ${result.steps} steps in ${result.seconds.toFixed(1)} s; train loss ${exp(f.trainLoss)}${rmse(f.trainLoss)}${classif ? ` acc ${pct(f.trainAcc)}` : ''}` +
      (data.test.n ? `; test loss ${exp(f.testLoss)}${rmse(f.testLoss)}${classif ? ` acc ${pct(f.testAcc)}` : ''}` : '') +
      (result.rejected ? `; ${result.rejected} steps rejected` : '')
  );
  if (diverged) console.error(`natgrad train: training diverged: ${diverged}`);
  if (out) {
    try {
      writeOutputs(out, r, data, batch, scaling, run, result);
    } catch (e) {
      throw new Error(`writing the results to ${out} failed (${(e as Error).message}); the trained model is in ${ckptFile} (loadCheckpoint)`);
    }
    console.log(`wrote ${join(out, 'model.json')}, metrics.jsonl, loss.svg, run.json, ${CHECKPOINT_FILE}`);
  }
  return diverged ? 1 : 0;
}
