// Train → predict, as a user does it: the CLI in a child process on real CSV files (test/fixtures: iris,
// R's cars), the model bundle it writes (model.json: inputs, their standardization, class labels), and the
// library's loadModel / predict / evaluate / fit / data helpers.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
// fit as fitModel: Biome reads a bare fit( as Jasmine's focused test
import {
  detectDelimiter,
  encodeLabels,
  fit as fitModel,
  fitStandardizer,
  loadModel,
  ModelBundle,
  mlp,
  predict as predictModel,
  parseCsv,
  readCsv,
  tableData,
  trainTestSplit,
} from '../lib/index';

const root = path.resolve(__dirname, '..');
const fixtures = path.join(__dirname, 'fixtures');
const IRIS = path.join(fixtures, 'iris.csv');
const CARS = path.join(fixtures, 'cars.csv');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'natgrad-predict-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** natgrad in a child process (the compiled CLI, as `npx natgrad` runs it). */
function natgrad(...args: string[]) {
  const r = spawnSync(process.execPath, [path.join(root, 'dist', 'cli.js'), ...args], { encoding: 'utf8', env: { ...process.env, NATGRAD_THREADS: '1' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** Ordinary least squares dist = a·speed + b on cars, in float64. */
function carsFit(): { a: number; b: number } {
  const t = readCsv(CARS);
  const s = t.column('speed'),
    d = t.column('dist');
  const n = s.length;
  const ms = s.reduce((x, v) => x + v, 0) / n,
    md = d.reduce((x, v) => x + v, 0) / n;
  let sxy = 0,
    sxx = 0;
  for (let i = 0; i < n; i++) (sxy += (s[i] - ms) * (d[i] - md)), (sxx += (s[i] - ms) ** 2);
  return { a: sxy / sxx, b: md - (sxy / sxx) * ms };
}

describe('natgrad train → natgrad predict on iris (text labels, standardized inputs)', () => {
  const run = path.join(dir, 'iris');
  const train = natgrad(
    'train',
    '--data',
    IRIS,
    '--target',
    'species',
    '--loss',
    'categorical',
    '--standardize',
    '--model',
    '16',
    '--epochs',
    '30',
    '--batch',
    '40',
    '--out',
    run
  );

  it('trains, naming the classes with their counts, and writes a bundle that knows the inputs, their scaling and the labels', () => {
    expect(train.code, train.err).toBe(0);
    expect(train.out).toContain('target species (3 classes: setosa (50), versicolor (50), virginica (50))');
    // 120 training rows in batches of 40: no row left over; the note appears only when rows are left over
    expect(train.out).not.toContain('wait for another epoch');
    const bundle = JSON.parse(fs.readFileSync(path.join(run, 'model.json'), 'utf8'));
    expect(bundle).toMatchObject({
      format: 'natgrad-model',
      version: 1,
      loss: 'categorical',
      inputs: ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'],
      targets: ['species'],
      labels: ['setosa', 'versicolor', 'virginica'],
    });
    expect(bundle.standardize.mean).toHaveLength(4);
    // metrics.jsonl was streamed: one line per evaluation (the start and each of the 30 epochs)
    expect(fs.readFileSync(path.join(run, 'metrics.jsonl'), 'utf8').trim().split('\n')).toHaveLength(31);
  });

  it('natgrad predict applies the bundle to raw inputs: labels and probabilities, and the accuracy when the file has the targets', () => {
    const preds = path.join(dir, 'iris-preds.csv');
    const r = natgrad('predict', '--model', run, '--data', IRIS, '--out', preds);
    expect(r.code, r.err).toBe(0);
    const m = /accuracy (\d+\.\d+)% \((\d+)\/150\)/.exec(r.out);
    expect(m, r.out).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThanOrEqual(95); // the raw-input mistake of the past gave 33%
    const lines = fs.readFileSync(preds, 'utf8').trim().split('\n');
    expect(lines[0]).toBe('predicted_species,p_setosa,p_versicolor,p_virginica');
    expect(lines).toHaveLength(151);
    expect(lines[1]).toMatch(/^setosa,(1|0\.9\d*),/); // the first flower is a setosa, with high probability
    for (const line of lines.slice(1)) {
      const p = line.split(',').slice(1).map(Number);
      expect(Math.abs(p[0] + p[1] + p[2] - 1)).toBeLessThan(1e-5);
    }
    // without --out: the CSV on stdout, the summary on stderr
    const piped = natgrad('predict', '--model', path.join(run, 'model.json'), '--data', IRIS);
    expect(piped.code).toBe(0);
    expect(piped.out.split('\n')[0]).toBe('predicted_species,p_setosa,p_versicolor,p_virginica');
    expect(piped.err).toMatch(/accuracy \d+\.\d+%/);
  });

  it('predict() on a bare model: class indices as labels, probabilities that sum to 1', () => {
    const model = mlp(2, [3], 3, 'tanh', { seed: 4 });
    const p = predictModel(model, 'categorical', new Float32Array([0.1, 0.2, -1, 2]), 2);
    expect(p.labels!.every((l) => ['0', '1', '2'].includes(l))).toBe(true);
    for (let i = 0; i < 2; i++) expect(p.probabilities![3 * i] + p.probabilities![3 * i + 1] + p.probabilities![3 * i + 2]).toBeCloseTo(1, 6);
    expect(Array.from(p.classes!)).toEqual([0, 1].map((i) => [0, 1, 2].reduce((b, j) => (p.outputs[3 * i + j] > p.outputs[3 * i + b] ? j : b), 0)));
    const g = predictModel(mlp(1, [], 2, 'tanh', { seed: 1 }), 'gaussian', [[0.5]]);
    expect(g.values).toBe(g.outputs);
    // a bundle matches numeric labels by value, as the training data's encoding did ("1.0" is class "1")
    const b = new ModelBundle(model, { loss: 'categorical', inputs: ['a', 'b'], standardize: null, targets: ['y'], labels: ['1', '2', '10'] });
    expect(Array.from(b.encodeLabels(['1.0', 10, '2']))).toEqual([0, 2, 1]);
    expect(() => b.encodeLabels(['0x1'])).toThrow(/label "0x1", which the model does not know/);
  });

  it('loadModel(dir) predicts raw rows and evaluates with the labels as written', () => {
    const m = loadModel(run);
    const p = m.predict([
      [5.1, 3.5, 1.4, 0.2],
      [6.3, 3.3, 6.0, 2.5],
    ]);
    expect(p.labels).toEqual(['setosa', 'virginica']);
    expect(Array.from(p.classes!)).toEqual([0, 2]);
    const t = readCsv(IRIS, { text: ['species'] });
    const x = tableData(t, { targets: ['species'], loss: 'categorical' }).data.x;
    const ev = m.evaluate(x, t.text('species'));
    expect(ev.accuracy).toBeGreaterThanOrEqual(0.95);
    expect(() => m.evaluate(x.subarray(0, 4), ['daisy'])).toThrow(/label "daisy", which the model does not know \(its labels: setosa, versicolor, virginica\)/);
    expect(() => m.predict([[1, 2, 3]])).toThrow(/row 0 must hold 4 numbers \(sepal_length, sepal_width, petal_length, petal_width\)/);
  });

  it('a file without some input column is refused naming it; an unknown label in the targets is named too', () => {
    const f = path.join(dir, 'iris-missing.csv');
    fs.writeFileSync(f, 'sepal_length,sepal_width,petal_length\n5.1,3.5,1.4\n');
    const r = natgrad('predict', '--model', run, '--data', f);
    expect(r.code).toBe(1);
    expect(r.err).toContain('lacks the input column(s) "petal_width"');
    const g = path.join(dir, 'iris-daisy.csv');
    fs.writeFileSync(g, 'sepal_length,sepal_width,petal_length,petal_width,species\n5.1,3.5,1.4,0.2,daisy\n');
    const s = natgrad('predict', '--model', run, '--data', g);
    expect(s.code).toBe(1);
    expect(s.err).toContain('"daisy"');
  });
});

describe('natgrad train → natgrad predict on cars (regression)', () => {
  it("a linear model fits R's cars to the least-squares line; predict reports the RMSE", () => {
    const run = path.join(dir, 'cars');
    const t = natgrad(
      'train',
      '--data',
      CARS,
      '--target',
      'dist',
      '--loss',
      'gaussian',
      '--model',
      'linear',
      '--standardize',
      '--test-fraction',
      '0',
      '--batch',
      '50',
      '--epochs',
      '30',
      '--out',
      run
    );
    expect(t.code, t.err).toBe(0);
    expect(t.out).toContain('loss: ½·(squared error) per row');
    expect(t.out).toMatch(/RMSE/);
    const { a, b } = carsFit(); // 3.932, −17.58
    const m = loadModel(run);
    const speeds = [4, 10, 15.4, 25];
    const got = m.predict(speeds.map((s) => [s])).values!;
    // NGD on a linear least-squares problem is Gauss–Newton: it reaches the float64 solution to float32 accuracy
    // (|dist| ≤ 100, float32 ε = 6e-8: a few units of 1e-5 after standardization and 30 steps)
    speeds.forEach((s, i) => expect(Math.abs(got[i] - (a * s + b))).toBeLessThan(1e-3));
    const r = natgrad('predict', '--model', run, '--data', CARS);
    expect(r.code).toBe(0);
    const rmse = Number(/RMSE (\S+),/.exec(r.err)![1]);
    // the least-squares residual: RMSE of R's lm(dist ~ speed) is 15.07 (residual standard error 15.38 with n − 2)
    expect(rmse).toBeCloseTo(15.07, 1);
  });

  it('a diverging run (SGD with a huge step) exits non-zero with a clear message', () => {
    const r = natgrad('train', '--data', CARS, '--target', 'dist', '--loss', 'gaussian', '--optimizer', 'sgd', '--lr', '5', '--epochs', '5', '--model', '8');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/training diverged: .*(grew from|not finite|is NaN|Infinity|lower --lr)/);
  });
});

describe('CSV files as people have them', () => {
  it('detects the separator: a semicolon file reads as its columns, not as one column named "a;b;y"', () => {
    expect(detectDelimiter('a;b;y\n1;2;3\n')).toBe(';');
    expect(detectDelimiter('a\tb\n1\t2\n')).toBe('\t');
    expect(detectDelimiter('"x;y",b\n1,2\n')).toBe(','); // inside quotes does not count
    expect(detectDelimiter('only\n1\n')).toBe(',');
    const semi = path.join(dir, 'iris-semicolon.csv');
    fs.writeFileSync(semi, fs.readFileSync(IRIS, 'utf8').replace(/,/g, ';'));
    expect(readCsv(semi, { text: ['species'] }).columns).toEqual(['sepal_length', 'sepal_width', 'petal_length', 'petal_width', 'species']);
    const r = natgrad('train', '--data', semi, '--target', 'species', '--loss', 'categorical', '--epochs', '1', '--model', '4', '--optimizer', 'adam');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('3 classes');
    // forcing the wrong separator names the columns it saw
    const w = natgrad('train', '--data', semi, '--target', 'species', '--loss', 'categorical', '--delimiter', ',', '--epochs', '1');
    expect(w.code).toBe(1);
    expect(w.err).toContain('no column named "species" (columns: "sepal_length;sepal_width;petal_length..."'); // one column, its name cut short
  });

  it('labels 1, 2, 3 make three classes (not a fourth, never-seen class 0), named as written', () => {
    const e = encodeLabels(['1', '2', '3', '2'], 'categorical', 'f');
    expect(e.labels).toEqual(['1', '2', '3']);
    expect(Array.from(e.y)).toEqual([0, 1, 2, 1]);
    expect(encodeLabels(['0', '1', '1'], 'bernoulli', 'f').labels).toEqual(['0', '1']); // 0/1 map to themselves
    expect(encodeLabels(['yes', 'no'], 'bernoulli', 'f').labels).toEqual(['no', 'yes']);
    expect(encodeLabels(['10', '9', '1.0'], 'categorical', 'f').labels).toEqual(['1', '9', '10']); // numerically, 1.0 = 1
    expect(() => encodeLabels(['a', 'b', 'c'], 'bernoulli', 'f: column "y"')).toThrow(/3 distinct labels \("a", "b", "c"\); bernoulli takes two/);
    expect(() => encodeLabels(['a', 'a'], 'categorical', 'f')).toThrow(/a single label/);
    const f = path.join(dir, 'codes.csv');
    fs.writeFileSync(f, ['a,y', ...Array.from({ length: 30 }, (_, i) => `${i / 30},${1 + (i % 3)}`)].join('\n') + '\n');
    const r = natgrad('train', '--data', f, '--target', 'y', '--loss', 'categorical', '--epochs', '1', '--model', '4', '--optimizer', 'adam');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('3 classes: 1 (10), 2 (10), 3 (10)');
  });

  it('a stray label trains as a class of its own, with a warning that names it', () => {
    const rows = ['a,y', ...Array.from({ length: 30 }, (_, i) => `${i / 30},${i % 3}`)];
    rows.splice(17, 0, '0.5,999999');
    const f = path.join(dir, 'stray.csv');
    fs.writeFileSync(f, rows.join('\n') + '\n');
    const r = natgrad('train', '--data', f, '--target', 'y', '--loss', 'categorical', '--epochs', '1', '--model', '4', '--optimizer', 'adam');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('4 classes');
    expect(r.out).toContain('warning: class "999999" has a single row among 31: a stray label?');
  });

  it('the data helpers: a table to a dataset, a seeded split, standardization statistics', () => {
    const t = parseCsv('x1;x2;label\n1;10;cat\n2;20;dog\n3;30;cat\n4;40;dog\n', { text: ['label'] });
    const d = tableData(t, { targets: ['label'], loss: 'categorical' });
    expect(d.inputs).toEqual(['x1', 'x2']);
    expect(d.labels).toEqual(['cat', 'dog']);
    expect(Array.from(d.data.y)).toEqual([0, 1, 0, 1]);
    const s1 = trainTestSplit(d.data, 0.5, 7),
      s2 = trainTestSplit(d.data, 0.5, 7);
    expect(s1.test.n).toBe(2);
    expect(Array.from(s1.test.x)).toEqual(Array.from(s2.test.x)); // seeded
    expect(fitStandardizer(d.data.x, 4, 2)).toEqual({ mean: [2.5, 25], std: [Math.sqrt(1.25), Math.sqrt(125)] });
    expect(() => tableData(t, { targets: ['label', 'x1'], loss: 'categorical' })).toThrow(/several target columns need the gaussian loss/);
  });
});

describe('fit(): validation, early stopping, schedules, callbacks', () => {
  const t = readCsv(IRIS, { text: ['species'] });
  const { data } = tableData(t, { targets: ['species'], loss: 'categorical' });
  const s = fitStandardizer(data.x, data.n, data.inDim);
  for (let i = 0; i < data.n; i++) for (let c = 0; c < 4; c++) data.x[i * 4 + c] = (data.x[i * 4 + c] - s.mean[c]) / s.std[c];

  it('trains with a validation fraction and reports both per epoch', () => {
    const model = mlp(4, [8], 3, 'tanh', { seed: 1 });
    const h = fitModel(model, data, { loss: 'categorical', epochs: 15, batchSize: 40, validation: 0.2, seed: 3 });
    expect(h.epochs).toHaveLength(15);
    expect(h.stopped).toBe(false);
    const last = h.epochs[14];
    expect(last.valAccuracy).toBeGreaterThanOrEqual(0.9);
    expect(last.loss).toBeLessThan(h.epochs[0].loss);
    expect(h.epochs.map((e) => e.epoch)).toEqual(Array.from({ length: 15 }, (_, i) => i + 1));
  });

  it('early stopping stops after `patience` epochs without improvement and restores the best epoch', () => {
    const model = mlp(4, [8], 3, 'tanh', { seed: 1 });
    // an lr schedule that makes later epochs useless (lr → 0): no improvement after epoch 3
    const h = fitModel(model, data, {
      loss: 'categorical',
      optimizer: 'adam',
      lr: 0.01,
      epochs: 50,
      batchSize: 30,
      validation: 0.2,
      schedule: (epoch, lr) => (epoch > 3 ? 0 : lr),
      earlyStopping: { patience: 2 },
    });
    expect(h.stopped).toBe(true);
    expect(h.epochs.length).toBeLessThan(50);
    expect(h.epochs.slice(3).every((e) => e.lr === 0)).toBe(true);
    const best = Math.min(...h.epochs.map((e) => e.valLoss!));
    expect(h.epochs[h.kept - 1].valLoss).toBe(best);
  });

  it('a callback returning false stops training; an lr schedule is applied epoch by epoch', () => {
    const model = mlp(4, [8], 3, 'tanh', { seed: 2 });
    const seen: number[] = [];
    const h = fitModel(model, data, {
      loss: 'categorical',
      optimizer: 'sgd',
      lr: 0.1,
      epochs: 10,
      batchSize: 50,
      schedule: (_epoch, lr) => lr / 2,
      callbacks: { onEpochEnd: (e) => (seen.push(e.lr), e.epoch < 4) },
    });
    expect(h.epochs).toHaveLength(4);
    expect(h.stopped).toBe(true);
    expect(seen).toEqual([0.1, 0.05, 0.025, 0.0125]);
    expect(() => fitModel(model, data, { loss: 'categorical', earlyStopping: { patience: 1, monitor: 'valLoss' } })).toThrow(/no validation data/);
  });
});

describe('the command line', () => {
  it('--version, suggestions for mistyped commands and options, and unknown options refused everywhere', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
    expect(natgrad('--version').out.trim()).toBe(`natgrad ${pkg.version}`);
    const typo = natgrad('trian');
    expect(typo.code).toBe(2);
    expect(typo.err).toContain("unknown command 'trian'; did you mean 'train'?");
    const opt = natgrad('train', '--dataset', 'sinc', '--epoch', '2');
    expect(opt.code).not.toBe(0);
    expect(opt.err).toContain("unknown option '--epoch'; did you mean --epochs?");
    const info = natgrad('info', '--bogus');
    expect(info.code).not.toBe(0);
    expect(info.err).toContain("unknown option '--bogus'");
  });
});

describe('the README', () => {
  it('its train → predict round trip runs as written and prints the accuracy it shows (within 2 of 150 rows: BLAS rounding differs by CPU)', () => {
    const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Train and predict on a CSV file'));
    const commands = /```sh\n([\s\S]*?)```/.exec(section)![1].trim().split('\n');
    expect(commands).toHaveLength(2);
    const cwd = fs.mkdtempSync(path.join(dir, 'readme-'));
    fs.mkdirSync(path.join(cwd, 'test'));
    fs.symlinkSync(fixtures, path.join(cwd, 'test', 'fixtures'));
    let printed = '';
    for (const line of commands) {
      const [cmd, comment] = line.split('#').map((s) => s.trim());
      const args = cmd.split(/\s+/).slice(2); // drop "npx natgrad"
      const r = spawnSync(process.execPath, [path.join(root, 'dist', 'cli.js'), ...args], { cwd, encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      printed = r.stdout;
      if (comment) {
        const shown = Number(/\((\d+)\/150\)/.exec(comment)![1]);
        const got = Number(/\((\d+)\/150\)/.exec(printed)![1]);
        expect(Math.abs(got - shown), printed).toBeLessThanOrEqual(2);
      }
    }
    const m = loadModel(path.join(cwd, 'run'));
    expect(m.predict([[5.1, 3.5, 1.4, 0.2]]).labels).toEqual(['setosa']);
  });
});

describe('Ctrl-C during natgrad train', () => {
  /** Starts a run, waits until `ready(out)` holds, sends SIGINT; resolves with the exit code and output. */
  async function interrupt(args: string[], out: string, ready: (out: string) => boolean) {
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, [path.join(root, 'dist', 'cli.js'), 'train', ...args, '--out', out], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '',
      stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    const deadline = Date.now() + 30_000;
    while (!ready(out)) {
      if (Date.now() > deadline) throw new Error(`not ready within 30 s: ${stdout} ${stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill('SIGINT');
    return { code: await exited, stdout, stderr };
  }
  const lines = (out: string) =>
    fs.existsSync(path.join(out, 'metrics.jsonl')) ? fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').filter(Boolean).length : 0;

  it('after some epochs: stops, keeps the last completed epoch (checkpoint and model.json), exits 130', async () => {
    const out = path.join(dir, 'sigint-late');
    const r = await interrupt(['--dataset', 'sinc', '--epochs', '100000', '--batch', '20', '--optimizer', 'adam'], out, (o) => lines(o) >= 4);
    expect(r.code, r.stderr).toBe(130);
    expect(r.stderr).toMatch(/interrupted at step \d+ \(epoch \d+ of 100000\)/);
    expect(r.stderr).toContain('--resume continues the run');
    expect(fs.existsSync(path.join(out, 'checkpoint.ckpt'))).toBe(true);
    expect(loadModel(out).predict([[0.5]]).values).toHaveLength(1);
    expect(fs.existsSync(path.join(out, 'run.json'))).toBe(false);
  }, 60_000);

  it('before the first epoch ends: nothing is left behind, not even the folder it made', async () => {
    // 60,000 rows in batches of 1: the first epoch takes seconds; interrupt once the start is evaluated
    const big = path.join(dir, 'big.csv');
    fs.writeFileSync(big, `x,y\n${Array.from({ length: 60000 }, (_, i) => `${(i % 1000) / 1000},${Math.sin(i)}`).join('\n')}\n`);
    const out = path.join(dir, 'sigint-early', 'run');
    const r = await interrupt(
      ['--data', big, '--target', 'y', '--loss', 'gaussian', '--batch', '1', '--optimizer', 'sgd', '--model', '4'],
      out,
      (o) => lines(o) >= 1
    );
    expect(r.code, r.stderr).toBe(130);
    expect(r.stderr).toContain('no epoch was completed: nothing was saved');
    expect(fs.existsSync(path.dirname(out))).toBe(false); // both folders it made
  }, 60_000);
});
