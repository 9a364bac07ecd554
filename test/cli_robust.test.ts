// natgrad train under adverse conditions:
// (a) an --out that cannot be written is refused before any data is read or any step is taken;
// (b) a checkpoint is written to --out after every epoch, and --resume continues the run — bit for bit
//     the run that was never interrupted, also after the process was SIGKILLed mid-run;
// (c) class labels of any value are mapped to classes: see test/predict.test.ts (a stray label warns);
// (d) a 200k-character numeric option is parsed or refused in well under a second (the old number
//     regex was quadratic).
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { captureConsole } from './helpers/console';
import { main } from '../lib/cli';
import { parseArgs } from '../lib/cli/args';
import { loadCheckpoint } from '../lib/checkpoint';
import { loadModel } from '../lib/bundle';

const { out, err } = captureConsole({ stdout: true });

const dir = fs.mkdtempSync(join(tmpdir(), 'natgrad-cli-robust-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Two separable blobs in 3-D with labels 0/1 (deterministic), as CSV text. */
function blobs(n: number): string {
  const rows = ['x1,x2,x3,cls'];
  for (let i = 0; i < n; i++) {
    const c = i % 2,
      s = c ? 1 : -1;
    const j = (k: number) => (Math.sin(i * 12.9898 + k * 78.233) * 43758.5453) % 0.5;
    rows.push(`${s + j(1)},${s + j(2)},${(s + j(3)).toFixed(4)},${c}`);
  }
  return rows.join('\n') + '\n';
}
const data = join(dir, 'blobs.csv');
fs.writeFileSync(data, blobs(100));
const trainArgs = (run: string, epochs: number, ...more: string[]) => [
  'train',
  '--data',
  data,
  '--target',
  'cls',
  '--loss',
  'categorical',
  '--model',
  '6',
  '--batch',
  '20',
  '--epochs',
  String(epochs),
  '--out',
  run,
  ...more,
];
const metrics = (run: string) =>
  fs
    .readFileSync(join(run, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
/** A metrics line without its timings (which differ run to run). */
const untimed = (m: Record<string, unknown>) => ({ ...m, time: undefined, msPerStep: undefined });

describe('(a) an unwritable --out is refused before training', () => {
  // Tests run as root, so chmod does not stop writes: use places no one can write to.
  it.skipIf(!fs.existsSync('/proc/self'))('a folder that exists but takes no files (/proc/self)', async () => {
    const t0 = performance.now();
    const code = await main(trainArgs('/proc/self', 200));
    expect(code).toBe(1);
    expect(err.join('\n')).toMatch(/^natgrad train: --out \/proc\/self is not writable \(.*\); nothing was trained$/);
    expect(out.join('')).not.toContain('natgrad train:'); // the data was not even read
    expect(performance.now() - t0).toBeLessThan(2000);
    // a folder to be created under it: the nearest existing ancestor is write-tested
    err.length = 0;
    expect(await main(trainArgs('/proc/self/new/run', 200))).toBe(1);
    expect(err.join('\n')).toMatch(/--out \/proc\/self\/new\/run cannot be created \(\/proc\/self is not writable\) \(.*\); nothing was trained/);
  });

  it('an output name taken by a folder (model.json/)', async () => {
    const run = join(dir, 'taken');
    fs.mkdirSync(join(run, 'model.json'), { recursive: true });
    const code = await main(trainArgs(run, 200));
    expect(code).toBe(1);
    expect(err.join('\n')).toMatch(/--out .*taken: model\.json exists and is not a regular file, so it cannot be written; nothing was trained/);
    expect(out.join('')).not.toContain('epoch');
  });

  it('a parent that is a regular file', async () => {
    const file = join(dir, 'plain-file');
    fs.writeFileSync(file, 'x');
    const code = await main(trainArgs(join(file, 'run'), 200));
    expect(code).toBe(1);
    expect(err.join('\n')).toMatch(/--out .*plain-file\/run: cannot create the folder \(ENOTDIR.*\); nothing was trained/);
    expect(out.join('')).not.toContain('natgrad train:');
  });

  it('the write test leaves nothing behind in a writable --out', async () => {
    const run = join(dir, 'clean');
    expect(await main(trainArgs(run, 1))).toBe(0);
    expect(fs.readdirSync(run).sort()).toEqual(['checkpoint.ckpt', 'loss.svg', 'metrics.jsonl', 'model.json', 'run.json']);
  });
});

describe('(b) per-epoch checkpoints and --resume', () => {
  for (const opt of ['ngd', 'adam', 'sgd'] as const) {
    it(`${opt}: 2 epochs, then --resume to 5, equals 5 epochs straight (model.json bit for bit)`, async () => {
      const straight = join(dir, `straight-${opt}`),
        split = join(dir, `split-${opt}`);
      expect(await main(trainArgs(straight, 5, '--optimizer', opt))).toBe(0);
      expect(await main(trainArgs(split, 2, '--optimizer', opt))).toBe(0);
      const ck = loadCheckpoint(join(split, 'checkpoint.ckpt'));
      expect(ck.extra).toMatchObject({ kind: 'natgrad-train', epoch: 2, step: 8 });
      out.length = 0;
      expect(await main(trainArgs(split, 5, '--optimizer', opt, '--resume'))).toBe(0);
      expect(err.join('')).toBe('');
      const text = out.join('');
      expect(text).toMatch(/resuming from .*checkpoint\.ckpt: epoch 2 \(step 8, /);
      expect(text).not.toMatch(/epoch 2\/5 {2}loss/); // epochs 1–2 are not trained again
      expect(text).toMatch(/epoch 3\/5 {2}loss/);
      expect(fs.readFileSync(join(split, 'model.json')).equals(fs.readFileSync(join(straight, 'model.json')))).toBe(true);
      const a = metrics(straight),
        b = metrics(split);
      expect(b.map((m) => m.epoch)).toEqual([0, 1, 2, 3, 4, 5]);
      expect(b.map(untimed)).toEqual(a.map(untimed));
      expect(loadCheckpoint(join(split, 'checkpoint.ckpt')).extra).toMatchObject({ epoch: 5, step: 20 });
      const run = JSON.parse(fs.readFileSync(join(split, 'run.json'), 'utf8'));
      expect(run.result.steps).toBe(20);
    });
  }

  it('--resume refuses other settings, other data, a missing checkpoint, and no --out', async () => {
    const run = join(dir, 'settings');
    expect(await main(trainArgs(run, 1))).toBe(0);
    const cases: Array<[string[], RegExp]> = [
      [
        trainArgs(run, 3, '--resume', '--lr', '0.5'),
        /--resume: .*checkpoint\.ckpt was written by a run with other settings \(lr 1 there, 0\.5 here\); resume with the same options \(only --epochs may change\)/,
      ],
      [trainArgs(run, 3, '--resume', '--activation', 'tanh'), /\(activation "relu" there, "tanh" here\)/],
      [trainArgs(run, 3, '--resume', '--seed', '1'), /seed 0 there, 1 here/],
      [trainArgs(run, 3, '--resume', '--optimizer', 'adam'), /optimizer "ngd" there, "adam" here/],
      [trainArgs(join(dir, 'empty-run'), 3, '--resume'), /--resume: no checkpoint in .*empty-run \(.*checkpoint\.ckpt does not exist\); run without --resume/],
      [['train', '--data', data, '--target', 'cls', '--loss', 'categorical', '--resume'], /--resume needs --out DIR/],
    ];
    for (const [args, re] of cases) {
      err.length = 0;
      expect(await main(args), args.join(' ')).toBe(1);
      expect(err.join('\n'), args.join(' ')).toMatch(re);
    }
    // the same file name with one cell changed: the data's SHA-256 differs
    const original = fs.readFileSync(data);
    fs.writeFileSync(data, original.toString().replace(/\n-?[\d.]+,/, '\n0.123,'));
    try {
      err.length = 0;
      expect(await main(trainArgs(run, 3, '--resume'))).toBe(1);
      expect(err.join('\n')).toMatch(/other settings \(the data \(SHA-256 of the training and test arrays\) differ\)/);
    } finally {
      fs.writeFileSync(data, original);
    }
  });

  it('--help documents --resume and the checkpoint', async () => {
    expect(await main(['train', '--help'])).toBe(0);
    const help = out.join('\n');
    expect(help).toContain('[--out DIR [--resume]]');
    expect(help).toMatch(/--resume +continue the run whose checkpoint\.ckpt is in --out/);
    expect(help).toMatch(/--out +.*checkpoint\.ckpt after every epoch/);
  });

  it('--resume at or past --epochs trains nothing and writes the results', async () => {
    const run = join(dir, 'done');
    expect(await main(trainArgs(run, 2))).toBe(0);
    const model = fs.readFileSync(join(run, 'model.json'));
    out.length = 0;
    expect(await main(trainArgs(run, 2, '--resume'))).toBe(0);
    expect(out.join('')).toMatch(/--epochs 2 is already reached, nothing to train/);
    expect(fs.readFileSync(join(run, 'model.json')).equals(model)).toBe(true);
    expect(metrics(run).map((m) => m.epoch)).toEqual([0, 1, 2]);
  });

  // The compiled CLI (dist/, built by `npm run build` before the tests in CI) runs in a child that is SIGKILLed.
  const root = resolve(__dirname, '..');
  const fresh = (ts: string, js: string) => fs.existsSync(join(root, js)) && fs.statSync(join(root, js)).mtimeMs >= fs.statSync(join(root, ts)).mtimeMs;
  const distFresh =
    fresh('lib/cli/train.ts', 'dist/cli/train.js') &&
    fresh('lib/train/trainer.ts', 'dist/train/trainer.js') &&
    fresh('lib/checkpoint.ts', 'dist/checkpoint.js') &&
    fresh('lib/nn/sequential.ts', 'dist/nn/sequential.js');
  it.skipIf(!distFresh)(
    'a run SIGKILLed mid-training resumes from its last epoch and ends where an uninterrupted run ends',
    async () => {
      const run = join(dir, 'killed');
      const child = spawn(process.execPath, [join(root, 'dist', 'cli.js'), ...trainArgs(run, 100000)], {
        stdio: ['ignore', 'ignore', 'pipe'],
        env: { ...process.env, NATGRAD_BACKEND: 'cpu' },
      });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      const exited = new Promise<void>((r) => child.on('exit', () => r()));
      const ckpt = join(run, 'checkpoint.ckpt');
      const deadline = Date.now() + 30_000;
      // wait for a few epochs' checkpoints, then kill it wherever it is (mid-epoch or mid-save)
      for (;;) {
        if (Date.now() > deadline) throw new Error(`no checkpoint at epoch ≥ 3 within 30 s; stderr: ${stderr}`);
        if (fs.existsSync(ckpt) && (loadCheckpoint(ckpt).extra as { epoch: number }).epoch >= 3) break;
        await new Promise((r) => setTimeout(r, 10));
      }
      child.kill('SIGKILL');
      await exited;
      expect(child.signalCode).toBe('SIGKILL');
      expect(fs.existsSync(join(run, 'run.json'))).toBe(false); // it never finished
      // but model.json is there, the bundle of a completed epoch, and it predicts
      expect(loadModel(run).predict([[0.1, 0.2, 0.3]]).classes).toHaveLength(1);
      const e = (loadCheckpoint(ckpt).extra as { epoch: number }).epoch; // the last completed epoch survives
      expect(e).toBeGreaterThanOrEqual(3);
      out.length = 0;
      expect(await main(trainArgs(run, e + 2, '--resume'))).toBe(0);
      expect(out.join('')).toContain(`: epoch ${e} (step ${4 * e}, `);
      expect(metrics(run).map((m) => m.epoch)).toEqual(Array.from({ length: e + 3 }, (_, i) => i));
      const model = loadModel(run).model;
      expect(model.numParameters).toBe((3 + 1) * 6 + (6 + 1) * 2);
      // the same number of epochs without the kill: the same model, bit for bit
      const straight = join(dir, 'not-killed');
      expect(await main(trainArgs(straight, e + 2))).toBe(0);
      expect(fs.readFileSync(join(run, 'model.json')).equals(fs.readFileSync(join(straight, 'model.json')))).toBe(true);
      // no temporary file of the killed process is left once the resumed run has saved
      expect(fs.readdirSync(run).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    },
    90_000
  );
  if (!distFresh) it.todo('kill test skipped: dist/ is missing or older than lib/ (npm run build:ts)');
});

describe('(d) long numeric options', () => {
  const spec = { x: { kind: 'number' as const, help: '' }, n: { kind: 'number' as const, integer: true, min: 1, help: '' } };
  const digits = '1'.repeat(200_000);
  const cases: Array<[string, string, RegExp | number]> = [
    ['200k digits then a letter', digits + 'x', /--x must be a number, got '1{40}…' \(200001 characters\)/],
    ['200k digits, a point, 200k digits, a letter', digits + '.' + digits + 'x', /must be a number/],
    ['an exponent of 200k digits then a letter', '1e' + digits + 'x', /must be a number/],
    ['200k digits (overflows to Infinity)', digits, /must be a number/],
    ['a point and 200k digits', '.' + digits, 0.1111111111111111],
    ['200k zeros then 5', '0'.repeat(199_999) + '5', 5],
  ];
  for (const [what, raw, expected] of cases) {
    it(`${what}: answered in well under a second`, () => {
      const t0 = performance.now();
      let result: unknown;
      try {
        result = parseArgs('t', ['--x', raw], spec, 'usage').x;
      } catch (e) {
        result = e;
      }
      const ms = performance.now() - t0;
      expect(ms).toBeLessThan(250);
      if (typeof expected === 'number') expect(result).toBe(expected);
      else {
        expect(result).toBeInstanceOf(Error);
        expect((result as Error).message).toMatch(expected);
        expect((result as Error).message.length).toBeLessThan(200); // the value is not echoed in full
      }
    });
  }
  it('--n with 200k digits then a letter, as an integer option', () => {
    const t0 = performance.now();
    expect(() => parseArgs('t', ['--n=' + digits + 'z'], spec, 'usage')).toThrow(/--n must be a number/);
    expect(performance.now() - t0).toBeLessThan(250);
  });
});
