// natgrad bench — the benchmark suite (bench/run.js, the same as `npm run bench`): natgrad's kernels
// against a direct-OpenBLAS ceiling, the natural-gradient direction against ml-matrix and TensorFlow.js,
// step time and peak memory as the batch grows, time to a target loss NGD vs Adam. Writes
// bench/results/<section>.json, an SVG per section and SUMMARY.md.
//
//   natgrad bench [--quick] [--only kernels,alternatives,scaling,training] [--out-dir DIR]
//
// It runs from a checkout of the repository (bench/ and the devDependencies ml-matrix and
// @tensorflow/* are not part of the published package), in a child process whose exit code it returns.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type OptionSpec, helpText, parseArgs, UsageError } from './args';

export const BENCH_USAGE = 'usage: natgrad bench [--quick] [--only kernels,alternatives,scaling,training] [--out-dir DIR] [--summary-only]';

const SECTIONS = ['kernels', 'alternatives', 'scaling', 'training'];

const SPEC: Record<string, OptionSpec> = {
  quick: { kind: 'flag', help: 'small sizes, few repetitions: under a minute, figures not meaningful (writes bench/results/quick.tmp/)' },
  only: { kind: 'list', help: `run only these sections (${SECTIONS.join(', ')})` },
  'out-dir': { kind: 'string', help: 'write the results there (default bench/results)' },
  'summary-only': { kind: 'flag', help: 'run nothing: redraw the SVGs and SUMMARY.md from the JSON already there' },
  help: { kind: 'flag', help: 'this help' },
};

/** The bench/run.js of the checkout this CLI was built in (dist/cli/bench.js → ../../bench/run.js). */
export function benchScript(): string {
  return resolve(__dirname, '..', '..', 'bench', 'run.js');
}

export async function bench(argv: string[]): Promise<number> {
  const o = parseArgs('bench', argv, SPEC, BENCH_USAGE);
  if (o.help) {
    console.log(helpText(BENCH_USAGE, SPEC, 13));
    return 0;
  }
  const only = o.only as string[] | undefined;
  for (const s of only ?? []) if (!SECTIONS.includes(s)) throw new UsageError(`--only: unknown section '${s}' (${SECTIONS.join(', ')})\n${BENCH_USAGE}`);
  const script = benchScript();
  if (!existsSync(script))
    throw new Error(
      `the benchmark suite is not in this installation (${script} not found): run it from a checkout of the natgrad repository (npm install, npm run build, then natgrad bench)`
    );
  const args = [script];
  if (o.quick) args.push('--quick');
  if (only) args.push(`--only=${only.join(',')}`);
  if (o['out-dir'] !== undefined) args.push(`--out-dir=${resolve(o['out-dir'] as string)}`);
  if (o['summary-only']) args.push('--summary-only');
  return new Promise<number>((done, fail) => {
    const child = spawn(process.execPath, args, { stdio: 'inherit', cwd: join(script, '..', '..') });
    child.on('error', fail);
    child.on('exit', (code, signal) => done(code ?? (signal ? 1 : 0)));
  });
}
