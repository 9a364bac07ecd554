import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { captureConsole } from './helpers/console';
import { main } from '../lib/cli';
import { loadModel } from '../lib/bundle';
import { parseArgs } from '../lib/cli/args';
import { formatBar, Progress } from '../lib/cli/progress';

const { out, err } = captureConsole({ stdout: true });

const dir = mkdtempSync(join(tmpdir(), 'natgrad-train-'));
function csv(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

/** Two well-separated Gaussian blobs in 3-D (class 0 around −1, class 1 around +1), deterministic. */
function blobs(n: number): string {
  const rows = ['x1,x2,x3,cls'];
  for (let i = 0; i < n; i++) {
    const c = i % 2;
    const s = c ? 1 : -1;
    const j = (k: number) => (Math.sin(i * 12.9898 + k * 78.233) * 43758.5453) % 0.5; // jitter in (−0.5, 0.5)
    rows.push(`${s + j(1)},${s + j(2)},${(s + j(3)).toFixed(4)},${c}`);
  }
  return rows.join('\n') + '\n';
}

describe('natgrad train', () => {
  it('learns a separable CSV and writes model.json, metrics.jsonl, loss.svg, run.json', async () => {
    const file = csv('blobs.csv', blobs(100));
    const run = join(dir, 'run');
    const code = await main([
      'train',
      '--data',
      file,
      '--target',
      'cls',
      '--loss',
      'categorical',
      '--model',
      '8',
      '--epochs',
      '4',
      '--batch',
      '20',
      '--out',
      run,
    ]);
    expect(err.join('\n')).toBe('');
    expect(code).toBe(0);
    const text = out.join('');
    expect(text).toMatch(/100 rows, 3 inputs, target cls \(2 classes: 0 \(\d+\), 1 \(\d+\)\); 80 train \/ 20 test/);
    expect(text).toMatch(/epoch 4\/4 {2}loss [\d.e+-]+ {2}acc 100\.00% {2}test loss [\d.e+-]+ {2}test acc 100\.00% {2}λ/);
    // metrics.jsonl: the initial evaluation plus one line per epoch, each a JSON object
    const lines = readFileSync(join(run, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => l.epoch)).toEqual([0, 1, 2, 3, 4]);
    expect(lines.map((l) => l.step)).toEqual([0, 4, 8, 12, 16]);
    expect(lines[4].testAcc).toBe(1);
    expect(lines[4].trainLoss).toBeLessThan(lines[0].trainLoss / 4);
    expect(typeof lines[4].damping).toBe('number');
    const svg = readFileSync(join(run, 'loss.svg'), 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('accuracy');
    const runJson = JSON.parse(readFileSync(join(run, 'run.json'), 'utf8'));
    expect(runJson.model.layers).toEqual([3, 8, 2]);
    expect(runJson.data.inputs).toEqual(['x1', 'x2', 'x3']);
    expect(existsSync(join(run, 'model.json'))).toBe(true);
    expect(JSON.parse(readFileSync(join(run, 'model.json'), 'utf8'))).toBeTypeOf('object');
  });

  it('gaussian regression: NGD on a linear model solves least squares (y = 2a − b + 1) in a few steps', async () => {
    const rows = ['a,b,y'];
    for (let i = 0; i < 40; i++) {
      const a = ((i * 7) % 13) / 13 - 0.5,
        b = ((i * 5) % 11) / 11 - 0.5;
      rows.push(`${a},${b},${2 * a - b + 1}`);
    }
    const run = join(dir, 'lin');
    const code = await main([
      'train',
      '--data',
      csv('lin.csv', rows.join('\n')),
      '--target',
      'y',
      '--loss',
      'gaussian',
      '--model',
      'linear',
      '--epochs',
      '5',
      '--test-fraction',
      '0',
      '--out',
      run,
    ]);
    expect(code).toBe(0);
    const last = readFileSync(join(run, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .pop();
    expect(last.trainLoss).toBeLessThan(1e-6);
    expect(last.testLoss).toBe(null);
    expect(last.trainAcc).toBeUndefined();
    // model.json is the bundle: loadModel reads it back and it predicts the plane on raw inputs
    const bundle = loadModel(run);
    expect(bundle.model.numParameters).toBe(3);
    expect(bundle.info).toMatchObject({ loss: 'gaussian', inputs: ['a', 'b'], targets: ['y'], labels: null });
    const eta = bundle.predict(new Float32Array([0.25, -0.5, 3, 2]), 2).values!;
    expect(eta[0]).toBeCloseTo(2 * 0.25 + 0.5 + 1, 3);
    expect(eta[1]).toBeCloseTo(2 * 3 - 2 + 1, 3);
  });

  it('--fixed-damping keeps λ where --damping puts it', async () => {
    const run = join(dir, 'fixed');
    const code = await main([
      'train',
      '--data',
      join(dir, 'blobs.csv'),
      '--target',
      'cls',
      '--loss',
      'categorical',
      '--model',
      '4',
      '--epochs',
      '3',
      '--batch',
      '16',
      '--damping',
      '0.5',
      '--fixed-damping',
      '--out',
      run,
    ]);
    expect(code).toBe(0);
    const lines = readFileSync(join(run, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => l.damping)).toEqual([0.5, 0.5, 0.5, 0.5]);
    expect(lines[3].trainLoss).toBeLessThan(lines[0].trainLoss);
    expect(JSON.parse(readFileSync(join(run, 'run.json'), 'utf8')).optimizer.adaptiveDamping).toBe(false);
  });

  it('adam and sgd, several gaussian targets, --standardize', async () => {
    const rows = ['u,v,big,t1,t2'];
    for (let i = 0; i < 30; i++) rows.push(`${i / 30},${(i % 7) / 7},${1000 * i},${i / 30 + 1},${(i % 7) / 7}`);
    const file = csv('multi.csv', rows.join('\n'));
    for (const opt of ['adam', 'sgd']) {
      out.length = 0;
      const run = join(dir, `m-${opt}`);
      const code = await main([
        'train',
        '--data',
        file,
        '--target',
        't1,t2',
        '--loss',
        'gaussian',
        '--optimizer',
        opt,
        '--epochs',
        '2',
        '--standardize',
        '--test-fraction',
        '0',
        '--out',
        run,
      ]);
      expect(code).toBe(0);
      const r = JSON.parse(readFileSync(join(run, 'run.json'), 'utf8'));
      expect(r.model.layers).toEqual([3, 64, 2]);
      expect(r.standardize.mean[2]).toBeCloseTo(1000 * 14.5, 6); // over all 30 rows (no test split)
      expect(r.standardize.std[2]).toBeCloseTo(1000 * Math.sqrt((30 * 30 - 1) / 12), 6);
      expect(r.optimizer.name).toBe(opt);
    }
  });

  it('clear errors: missing file, missing column, non-numeric cell, unknown option, bad targets', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--data', join(dir, 'missing.csv'), '--target', 'y', '--loss', 'gaussian'], /missing\.csv: no such file/],
      [['--data', csv('ok.csv', 'a,y\n1,0\n2,1\n'), '--target', 'label', '--loss', 'categorical'], /no column named "label" \(columns: "a", "y"\)/],
      [['--data', csv('nan.csv', 'a,y\n1,0\n2,1\nabc,1\n'), '--target', 'y', '--loss', 'categorical'], /nan\.csv:4: column "a" \(1\): not a number: "abc"/],
      [['--data', join(dir, 'ok.csv'), '--target', 'y', '--loss', 'categorical', '--epoch', '3'], /unknown option '--epoch'/],
      [['--data', join(dir, 'ok.csv'), '--target', 'y'], /--data needs --loss/],
      [['--data', join(dir, 'ok.csv'), '--loss', 'gaussian'], /--data needs --target/],
      [['--target', 'y'], /no data: give --data/],
      [
        ['--data', csv('one.csv', 'a,y\n1,0\n2,0\n'), '--target', 'y', '--loss', 'categorical'],
        /one\.csv: column "y": a single label \("0"\); categorical needs two or more/,
      ],
      [
        ['--data', csv('bern.csv', 'a,y\n1,0\n2,2\n3,5\n'), '--target', 'y', '--loss', 'bernoulli'],
        /bern\.csv: column "y": 3 distinct labels \("0", "2", "5"\); bernoulli takes two/,
      ],
      [['--data', csv('textin.csv', 'a,y\n1,0\nabc,1\n'), '--target', 'y', '--loss', 'bernoulli'], /textin\.csv:3: column "a" \(1\): not a number: "abc"/],
      [['--data', join(dir, 'ok.csv'), '--target', 'y', '--loss', 'categorical', '--epochs', 'ten'], /--epochs must be a number, got 'ten'/],
      [['--data', join(dir, 'ok.csv'), '--target', 'y', '--loss', 'categorical', '--epochs', '0'], /--epochs must be ≥ 1/],
      [
        ['--data', join(dir, 'ok.csv'), '--target', 'y', '--loss', 'categorical', '--optimizer', 'lbfgs'],
        /--optimizer must be 'ngd' or 'adam' or 'sgd', got 'lbfgs'/,
      ],
      [['--data', join(dir, 'ok.csv'), '--target', 'y', '--loss', 'categorical', '--model', '64,x'], /--model: 'x' is not a layer width/],
      [
        ['--data', join(dir, 'ok.csv'), '--target', 'y', '--loss', 'categorical', '--damping', '1', '--optimizer', 'adam'],
        /--damping goes with --optimizer ngd/,
      ],
      [['--data', join(dir, 'ok.csv'), '--target', 'y', '--loss', 'categorical', '--batch'], /--batch needs a value/],
      [['--dataset', 'cifar'], /--dataset must be 'mnist' or 'sinc'/],
      [['--dataset', 'sinc', '--optimizer', 'sgd', '--fixed-damping'], /--fixed-damping goes with --optimizer ngd/],
    ];
    for (const [args, re] of cases) {
      err.length = 0;
      const code = await main(['train', ...args]);
      expect(code, args.join(' ')).toBe(1);
      expect(err.join('\n'), args.join(' ')).toMatch(re);
      expect(err.join('\n')).toMatch(/^natgrad train: /);
    }
  });

  it('--dataset sinc trains the built-in regression', async () => {
    const code = await main(['train', '--dataset', 'sinc', '--model', '20,20', '--epochs', '30']);
    expect(code).toBe(0);
    const done = out
      .join('')
      .split('\n')
      .find((l) => l.startsWith('done:'))!;
    const mse = 2 * Number(/train loss ([\d.e+-]+)/.exec(done)![1]);
    expect(mse).toBeLessThan(1e-3); // 30 full-batch NGD steps; the initial MSE is ~0.1
  });

  it('--help prints the options', async () => {
    expect(await main(['train', '--help'])).toBe(0);
    expect(out.join('\n')).toContain('--test-fraction');
  });
});

describe('parseArgs', () => {
  const spec = {
    n: { kind: 'number' as const, integer: true, min: 1, help: '' },
    x: { kind: 'number' as const, help: '' },
    f: { kind: 'flag' as const, help: '' },
    l: { kind: 'list' as const, help: '' },
  };
  it('values, =values, flags, lists, negative numbers', () => {
    expect(parseArgs('t', ['--n', '3', '--x=-1e-3', '--f', '--l', '64, 32'], spec, 'u')).toEqual({ n: 3, x: -1e-3, f: true, l: ['64', '32'] });
  });
  it('rejects repeats, positionals, hex and Infinity, flags with values', () => {
    expect(() => parseArgs('t', ['--n', '1', '--n', '2'], spec, 'u')).toThrow('--n given twice');
    expect(() => parseArgs('t', ['file.csv'], spec, 'u')).toThrow("unexpected argument 'file.csv'");
    expect(() => parseArgs('t', ['--x', '0x10'], spec, 'u')).toThrow("--x must be a number, got '0x10'");
    expect(() => parseArgs('t', ['--x', 'Infinity'], spec, 'u')).toThrow('must be a number');
    expect(() => parseArgs('t', ['--n', '1.5'], spec, 'u')).toThrow('--n must be an integer');
    expect(() => parseArgs('t', ['--f=1'], spec, 'u')).toThrow('--f takes no value');
    expect(() => parseArgs('t', ['--l', '1,,2'], spec, 'u')).toThrow('empty item');
  });
});

describe('Progress', () => {
  it('on a TTY: redraws in place, throttled, permanent lines above the bar', () => {
    const writes: string[] = [];
    let t = 0;
    const p = new Progress({ stream: { write: (s: string) => writes.push(s), isTTY: true, columns: 200 }, now: () => t, barWidth: 10 });
    p.update(1, 10, 'epoch 1/2', { loss: '0.5' });
    t = 50;
    p.update(2, 10, 'epoch 1/2', { loss: '0.4' }); // throttled
    t = 200;
    p.update(5, 10, 'epoch 1/2', { loss: '0.3' });
    p.line('epoch 1/2 done');
    p.done();
    expect(writes).toEqual(['\repoch 1/2 [#.........]  10%  loss 0.5\x1b[K', '\repoch 1/2 [#####.....]  50%  loss 0.3\x1b[K', '\r\x1b[K', 'epoch 1/2 done\n']);
  });
  it('not on a TTY: only the permanent lines', () => {
    const writes: string[] = [];
    const p = new Progress({ stream: { write: (s: string) => writes.push(s), isTTY: false } });
    p.update(1, 2, 'x');
    p.line('a line');
    p.update(2, 2, 'x');
    p.done();
    expect(writes).toEqual(['a line\n']);
  });
  it('formatBar clamps', () => {
    expect(formatBar(20, 10, '', {}, 4)).toBe('[####] 100%');
    expect(formatBar(0, 0, 'a', { k: 'v' }, 4)).toBe('a [....]   0%  k v');
  });
});
