// natgrad demo — the README's main job: NGD vs Adam vs SGD on built-in data.
//
//   natgrad demo [--only mnist|sinc|sinc64] [--svg FILE] [--json FILE] [--time-scale F] [--quick]
//
// Two problems (lib/demo/problems.ts): MNIST digits with an MLP 784-128-10, and the sin(10x)/(10x)
// regression with a 1-20-20-1 tanh MLP. For each optimizer a small learning-rate sweep, then its best
// run; a side-by-side table per problem, text charts, and one SVG with the curves.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { backend } from '../native';
import { compare, type Comparison, comparisonSvg, formatComparison } from '../demo/compare';
import { mnistProblem, type Problem, sincProblem } from '../demo/problems';
import { OPTIMIZER_LABEL } from '../train/trainer';
import { textChart } from '../plot/text';
import { Progress } from './progress';
import { helpText, parseArgs, type OptionSpec } from './args';

const SPEC: Record<string, OptionSpec> = {
  only: { kind: 'choice', choices: ['mnist', 'sinc', 'sinc64'], help: 'run one problem only' },
  svg: { kind: 'string', help: 'where to write the curves (default natgrad-demo.svg)' },
  json: { kind: 'string', help: 'also write every run (curves, sweeps) as JSON' },
  'time-scale': { kind: 'number', min: 0, strict: true, help: 'multiply the MNIST time budgets (default 1)' },
  quick: { kind: 'flag', help: 'tiny settings (a smoke test: 1,000 digits, short budgets)' },
  help: { kind: 'flag', help: 'this help' },
};

export const DEMO_USAGE = `usage: natgrad demo [--only mnist|sinc|sinc64] [--svg FILE] [--json FILE] [--time-scale F] [--quick]`;

/** The demo's problems for the options. */
export function demoProblems(o: { only?: string; quick?: boolean; timeScale?: number }): Problem[] {
  const out: Problem[] = [];
  if (o.only !== 'sinc' && o.only !== 'sinc64')
    out.push(o.quick ? mnistProblem({ train: 1000, test: 500, timeScale: 0.1 * (o.timeScale ?? 1) }) : mnistProblem({ timeScale: o.timeScale }));
  if (o.only !== 'mnist' && o.only !== 'sinc64') out.push(o.quick ? sincProblem({ steps: 20, firstOrderFactor: 5 }) : sincProblem());
  if (o.only !== 'mnist' && o.only !== 'sinc')
    out.push(o.quick ? sincProblem({ steps: 20, firstOrderFactor: 5, dtype: 'float64' }) : sincProblem({ dtype: 'float64' }));
  return out;
}

export function demo(argv: string[]): number {
  const opts = parseArgs('demo', argv, SPEC, DEMO_USAGE);
  if (opts.help) {
    console.log(helpText(DEMO_USAGE, SPEC, 11, false));
    return 0;
  }
  const svgPath = (opts.svg as string | undefined) ?? 'natgrad-demo.svg';
  const t0 = performance.now();
  const b = backend();
  console.log(`natgrad demo: NGD (exact natural gradient) vs Adam vs SGD — backend ${b.name}, ${b.threads} thread(s)`);
  const problems = demoProblems({ only: opts.only as string | undefined, quick: !!opts.quick, timeScale: opts['time-scale'] as number | undefined });
  const bar = new Progress();
  const cmps: Comparison[] = [];
  for (const problem of problems) {
    console.log(`\n== ${problem.title}: ${problem.modelText}`);
    let label = '';
    const cmp = compare(problem, {
      onRun: (c, lr, phase) => {
        label = `${problem.name} ${OPTIMIZER_LABEL[c.optimizer]} lr ${lr}${phase === 'sweep' ? ' (sweep)' : ''}`;
      },
      onStep: (_c, e) => {
        bar.update(e.batchIndex + 1, e.batches, `${label} epoch ${e.epoch}`, {
          loss: e.loss.toExponential(2),
          ...(e.damping !== undefined ? { λ: e.damping.toExponential(0) } : {}),
          step: `${e.ms.toFixed(1)} ms`,
        });
      },
      onRunDone: (_c, _lr, _phase, r) => {
        const f = r.final;
        const metric = f.testAcc !== undefined ? `test acc ${(100 * f.testAcc).toFixed(2)}%` : `train MSE ${(2 * f.trainLoss).toExponential(2)}`;
        bar.line(
          `  ${label.padEnd(30)} ${String(r.steps).padStart(5)} steps ${r.seconds.toFixed(1).padStart(5)} s  loss ${f.trainLoss.toExponential(3)}  ${metric}${r.diverged ? '  (diverged)' : ''}`
        );
      },
    });
    bar.done();
    cmps.push(cmp);
    console.log(`\n${formatComparison(cmp)}\n`);
    const classif = problem.loss !== 'gaussian';
    console.log(
      textChart(
        cmp.results.map((r) => ({
          name: OPTIMIZER_LABEL[r.contender.optimizer],
          x: r.best.points.map((p) => (classif ? p.time : p.step)),
          y: r.best.points.map((p) => (classif ? p.trainLoss : 2 * p.trainLoss)),
        })),
        {
          logY: true,
          width: 64,
          height: 10,
          title: `${problem.name}: training ${classif ? 'loss' : 'MSE'} vs ${classif ? 'training seconds' : 'step'}`,
          xLabel: classif ? 's' : 'step',
        }
      )
    );
  }
  mkdirSync(dirname(svgPath), { recursive: true });
  writeFileSync(svgPath, comparisonSvg(cmps));
  console.log(`\ncurves: ${svgPath}`);
  if (opts.json) {
    const json = cmps.map((c) => ({
      problem: c.problem.name,
      title: c.problem.title,
      model: c.problem.modelText,
      results: c.results.map((r) => ({ optimizer: r.contender.optimizer, batch: r.contender.batch, sweep: r.sweep, best: r.best })),
    }));
    mkdirSync(dirname(opts.json as string), { recursive: true });
    writeFileSync(opts.json as string, JSON.stringify({ backend: b.name, threads: b.threads, problems: json }, null, 1));
    console.log(`runs: ${opts.json}`);
  }
  console.log(`total ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return 0;
}
