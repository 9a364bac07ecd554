// natgrad explain — the natural-chain-rule proposal run on a real network, claim by claim, each with
// the measured relative difference to the exact natural gradient (float64), a verdict and a reason.
//
//   natgrad explain [--hidden 16,16] [--activation tanh] [--batch 16] [--loss gaussian] [--seed 0]
//                   [--held-out 512] [--no-cost] [--json]
//   natgrad explain --train [--steps 200] [--train-size 256] [--svg FILE] [same problem options] [--json]
import { writeFileSync } from 'node:fs';
import type { LossName } from '../distributions';
import type { ActivationName } from '../nn';
import { compareTraining, explain as runExplain, formatReport, formatTraining, trainingSvg } from '../explain';
import { type OptionSpec, helpText, parseArgs, UsageError } from './args';

export const EXPLAIN_USAGE =
  'usage: natgrad explain [--hidden 16,16] [--activation tanh|relu|sigmoid|softplus|gelu] [--batch N] [--loss gaussian|categorical|bernoulli]\n' +
  '                       [--seed N] [--held-out N] [--no-cost] [--json]\n' +
  '       natgrad explain --train [--steps N] [--train-size N] [--svg FILE] [problem options] [--json]';

const SPEC: Record<string, OptionSpec> = {
  hidden: { kind: 'list', help: 'hidden layer widths of the MLP (default 16,16; each 1…256)' },
  activation: { kind: 'choice', choices: ['tanh', 'relu', 'sigmoid', 'softplus', 'gelu'], help: 'hidden activation (default tanh)' },
  batch: { kind: 'number', integer: true, min: 2, help: 'minibatch size N (default 16; at most 256)' },
  loss: {
    kind: 'choice',
    choices: ['gaussian', 'categorical', 'bernoulli'],
    help: 'output family (default gaussian, k = 2; categorical k = 3; bernoulli k = 1)',
  },
  seed: { kind: 'number', integer: true, min: 0, help: 'seed of the data and the initialisation (default 0)' },
  'held-out': { kind: 'number', integer: true, min: 1, help: 'held-out points (default 512)' },
  'no-cost': { kind: 'flag', help: 'skip the timing of the exact step as N·r grows (about a second)' },
  json: { kind: 'flag', help: 'print the data as JSON instead of the text report' },
  train: { kind: 'flag', help: 'train with exact, per-sample, chain and Adam on the same problem and budget instead' },
  steps: { kind: 'number', integer: true, min: 1, help: '--train: steps per run (default 200)' },
  'train-size': { kind: 'number', integer: true, min: 2, help: '--train: training points (default 256)' },
  svg: { kind: 'string', help: '--train: where to write the loss curves (default natgrad-explain-train.svg)' },
  help: { kind: 'flag', help: 'this help' },
};

export function explain(argv: string[]): number {
  const o = parseArgs('explain', argv, SPEC, EXPLAIN_USAGE);
  if (o.help) {
    console.log(helpText(EXPLAIN_USAGE, SPEC, 12));
    return 0;
  }
  const problem = {
    hidden:
      o.hidden === undefined
        ? undefined
        : (o.hidden as string[]).map((h) => {
            const v = Number(h);
            if (!/^\d+$/.test(h) || v < 1 || v > 256) throw new UsageError(`--hidden: each width must be an integer 1…256, got '${h}'\n${EXPLAIN_USAGE}`);
            return v;
          }),
    activation: o.activation as ActivationName | undefined,
    batch: o.batch as number | undefined,
    loss: o.loss as LossName | undefined,
    seed: o.seed as number | undefined,
    heldOut: o['held-out'] as number | undefined,
  };
  if (problem.batch !== undefined && problem.batch > 256)
    throw new UsageError(`--batch must be at most 256 (the report forms dense float64 Jacobians), got ${problem.batch}\n${EXPLAIN_USAGE}`);
  const trainOnly = ['steps', 'train-size', 'svg'].filter((k) => o[k] !== undefined);
  if (!o.train && trainOnly.length) throw new UsageError(`--${trainOnly[0]} goes with --train\n${EXPLAIN_USAGE}`);
  if (o.train) {
    if (o['no-cost']) throw new UsageError(`--no-cost does not go with --train\n${EXPLAIN_USAGE}`);
    const report = compareTraining({ ...problem, steps: o.steps as number | undefined, trainSize: o['train-size'] as number | undefined });
    const file = (o.svg as string | undefined) ?? 'natgrad-explain-train.svg';
    writeFileSync(file, trainingSvg(report));
    if (o.json) console.log(JSON.stringify({ ...report, svg: file }, null, 2));
    else console.log(`${formatTraining(report)}\n\nloss curves written to ${file}`);
    return 0;
  }
  const report = runExplain({ ...problem, cost: !o['no-cost'] });
  console.log(o.json ? JSON.stringify(report, null, 2) : formatReport(report));
  return 0;
}
