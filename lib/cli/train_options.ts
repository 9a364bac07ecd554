// The options of `natgrad train` (lib/cli/train.ts): the usage line, each option's help, and the usage error.
import { type OptionSpec, UsageError } from './args';

export const TRAIN_USAGE =
  'usage: natgrad train (--data FILE.csv --target COLUMN[,COLUMN...] | --dataset mnist|sinc) [--loss categorical|gaussian|bernoulli]\n' +
  '                     [--model 64,64] [--activation relu|tanh|sigmoid|softplus|gelu] [--epochs N] [--batch N]\n' +
  '                     [--optimizer ngd|adam|sgd] [--lr X] [--damping X] [--fixed-damping] [--momentum X] [--test-fraction F]\n' +
  '                     [--delimiter auto|C] [--standardize] [--seed N] [--out DIR [--resume]]';

export const SPEC: Record<string, OptionSpec> = {
  data: { kind: 'string', help: 'CSV file: a header row, then rows of numbers (a categorical or bernoulli target may hold text labels)' },
  target: { kind: 'list', help: 'target column(s) of the CSV (several only with --loss gaussian)' },
  dataset: { kind: 'choice', choices: ['mnist', 'sinc'], help: 'built-in data instead of --data (mnist: 8,000/2,000 digits; sinc: sin(10x)/(10x))' },
  loss: {
    kind: 'choice',
    choices: ['categorical', 'gaussian', 'bernoulli'],
    help: 'output family (required with --data; categorical and bernoulli targets are labels, text or numbers: each distinct label is a class)',
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
  momentum: { kind: 'number', min: 0, help: 'sgd: momentum (default 0.9); ngd: SPRING momentum μ < 1 (default 0)' },
  delimiter: {
    kind: 'string',
    help: "--data: the field separator, 'auto' (default: the one of , ; TAB | the header uses most) or one character ('tab' for a tab)",
  },
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

/** A usage error of natgrad train: the message, then the usage line. */
export function fail(msg: string): never {
  throw new UsageError(`${msg}\n${TRAIN_USAGE}`);
}
