#!/usr/bin/env node
// natgrad command line. Each command lives in lib/cli/<command>.ts and returns an exit code.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { bench } from './cli/bench';
import { demo } from './cli/demo';
import { explain } from './cli/explain';
import { info } from './cli/info';
import { predict } from './cli/predict';
import { closest } from './cli/suggest';
import { train } from './cli/train';
import { packageRoot } from './native';

type Command = { run: (argv: string[]) => number | Promise<number>; help: string };

const COMMANDS: Record<string, Command> = {
  info: { run: info, help: 'which backend runs the kernels, and why' },
  demo: { run: demo, help: 'NGD vs Adam vs SGD on built-in data (MNIST, a sinc regression): table and SVG' },
  train: { run: train, help: 'train an MLP on a CSV file or built-in data (--help for options)' },
  predict: { run: predict, help: 'predict with a trained model (natgrad train --out DIR) on a CSV file; accuracy or RMSE when it has the targets' },
  explain: { run: explain, help: 'the natural chain rule of the proposal measured claim by claim against the exact natural gradient (--train: a race)' },
  bench: { run: bench, help: 'the benchmark suite: kernels vs direct OpenBLAS, vs ml-matrix/tfjs, scaling, time to target (--quick: < 1 min)' },
};

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  return (
    'usage: natgrad <command> [options]   (natgrad --version; natgrad <command> --help)\n' +
    Object.entries(COMMANDS)
      .map(([name, c]) => `  ${name.padEnd(width)}  ${c.help}`)
      .join('\n')
  );
}

/** The version in the package's package.json. */
export function version(): string {
  return (JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;
}

export async function main(argv: string[]): Promise<number> {
  const cmd = argv[0];
  if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    console.log(usage());
    return 0;
  }
  if (cmd === '--version' || cmd === '-v' || cmd === 'version') {
    console.log(`natgrad ${version()}`);
    return 0;
  }
  const command = Object.hasOwn(COMMANDS, cmd) ? COMMANDS[cmd] : undefined;
  if (!command) {
    const guess = closest(cmd.replace(/^-+/, ''), Object.keys(COMMANDS));
    console.error(`natgrad: unknown command '${cmd}'${guess ? `; did you mean '${guess}'?` : ''}\n${usage()}`);
    return 2;
  }
  try {
    return await command.run(argv.slice(1));
  } catch (e) {
    // one line for the user; the stack only with NATGRAD_DEBUG=1
    console.error(`natgrad ${cmd}: ${process.env.NATGRAD_DEBUG ? (e as Error).stack : (e as Error).message}`);
    return 1;
  }
}

if (require.main === module) main(process.argv.slice(2)).then((code) => (process.exitCode = code));
