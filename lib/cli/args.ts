// Option parsing for the CLI commands: --name value, --name=value, and flags. Unknown options (with the
// closest known one: "did you mean --epochs?"), missing values and malformed numbers are errors that name
// the option (the dispatcher prints one line).
// By hand, not node:util's parseArgs or commander: those split the words, but the checks that make the
// messages useful — typed values with ranges named in the error, a repeated option, the suggestion, the
// usage line after every error — would still be written here, around them; the splitting is 20 lines.
import { NUMBER } from '../data/csv';
import { closest } from './suggest';

export type OptionSpec =
  | { kind: 'flag'; help: string }
  | { kind: 'string'; help: string }
  | { kind: 'choice'; choices: readonly string[]; help: string }
  | { kind: 'number'; min?: number; strict?: boolean; integer?: boolean; help: string }
  | { kind: 'list'; help: string };

export type ParsedValue = string | number | boolean | string[];

/** An error about the command line: the message is for the user, the usage line is appended. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

// A decimal number by the CSV reader's grammar (no hex, no 'Infinity'), the same regular expression:
// its parts never match the same digits, so a test is linear in the length. (The former
// /^[+-]?(?:\d+\.?\d*|\.\d+)…$/ backtracked quadratically: 130k digits and a letter took 18 s.)

/** A value for an error message: quoted, and cut short when long (with its length). */
function show(raw: string): string {
  return raw.length <= 60 ? `'${raw}'` : `'${raw.slice(0, 40)}…' (${raw.length} characters)`;
}

function parseValue(cmd: string, name: string, spec: OptionSpec, raw: string): ParsedValue {
  switch (spec.kind) {
    case 'flag':
      throw new UsageError(`--${name} takes no value`);
    case 'string':
      if (raw === '') throw new UsageError(`--${name} needs a non-empty value`);
      return raw;
    case 'choice':
      if (!spec.choices.includes(raw)) throw new UsageError(`--${name} must be ${spec.choices.map((c) => `'${c}'`).join(' or ')}, got ${show(raw)}`);
      return raw;
    case 'list': {
      const items = raw.split(',').map((s) => s.trim());
      if (items.some((s) => s === '')) throw new UsageError(`--${name}: empty item in '${raw}'`);
      return items;
    }
    case 'number': {
      const v = NUMBER.test(raw.trim()) ? Number(raw) : NaN;
      if (!Number.isFinite(v)) throw new UsageError(`--${name} must be a number, got ${show(raw)}`);
      if (spec.integer && !Number.isSafeInteger(v)) throw new UsageError(`--${name} must be an integer, got ${show(raw)}`);
      if (spec.min !== undefined && (spec.strict ? v <= spec.min : v < spec.min))
        throw new UsageError(`--${name} must be ${spec.strict ? '>' : '≥'} ${spec.min}, got ${raw.length <= 60 ? raw : show(raw)}`);
      void cmd;
      return v;
    }
  }
}

/**
 * Parses argv against spec. Returns { name: value } for the options given (flags: true). Throws a
 * UsageError (message ends with the usage line) for an unknown option, a missing or bad value, a
 * repeated option, or a positional argument.
 */
/** A command's help: its usage, a blank line (unless `gap` is false), then one line per option, names padded to `pad`. */
export function helpText(usage: string, spec: Record<string, OptionSpec>, pad: number, gap = true): string {
  return `${usage}\n${gap ? '\n' : ''}${Object.entries(spec)
    .map(([k, s]) => `  --${k.padEnd(pad)} ${s.help}`)
    .join('\n')}`;
}

export function parseArgs(cmd: string, argv: string[], spec: Record<string, OptionSpec>, usage: string): Record<string, ParsedValue> {
  const out: Record<string, ParsedValue> = {};
  try {
    for (let i = 0; i < argv.length; i++) {
      const a = argv[i];
      if (!a.startsWith('--') || a === '--') throw new UsageError(`unexpected argument '${a}' (options start with --)`);
      const eq = a.indexOf('=');
      const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
      const s = Object.hasOwn(spec, name) ? spec[name] : undefined;
      if (!s) {
        const guess = closest(name, Object.keys(spec));
        throw new UsageError(
          `unknown option '--${name}'${guess ? `; did you mean --${guess}?` : ''} (options: ${Object.keys(spec)
            .map((k) => `--${k}`)
            .join(', ')})`
        );
      }
      if (Object.hasOwn(out, name)) throw new UsageError(`--${name} given twice`);
      if (s.kind === 'flag') {
        if (eq > 0) throw new UsageError(`--${name} takes no value`);
        out[name] = true;
        continue;
      }
      let raw: string;
      if (eq > 0) raw = a.slice(eq + 1);
      else {
        if (i + 1 >= argv.length || argv[i + 1].startsWith('--')) throw new UsageError(`--${name} needs a value`);
        raw = argv[++i];
      }
      out[name] = parseValue(cmd, name, s, raw);
    }
  } catch (e) {
    if (e instanceof UsageError) throw new UsageError(`${e.message}\n${usage}`);
    throw e;
  }
  return out;
}
