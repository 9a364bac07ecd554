// Checkpoints (lib/checkpoint.ts) and model JSON (Sequential.toJSON / fromJSON): lossless round trips,
// resumed training bit-identical to uninterrupted training for every optimizer, atomic writes, and
// clear errors for truncated, modified or foreign files.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  Adam,
  batches,
  linear,
  loadCheckpoint,
  NaturalGradient,
  saveCheckpoint,
  saveCheckpointAsync,
  Sequential,
  sequential,
  SGD,
  tanh,
  gelu,
} from '../lib/index';
import type { Optimizer } from '../lib/index';

const fromJSON = sequential.fromJSON; // the public spelling (lib/index.ts has no bare fromJSON)
import { randomInputs } from './helpers/models';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'natgrad-ckpt-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const bits = (a: Float32Array | Float64Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

describe('model JSON', () => {
  it('round-trips layers and parameters bit for bit (also through JSON text)', () => {
    const model = sequential([linear(3, 5), tanh(), linear(5, 4), gelu(), linear(4, 2)], { seed: 9 });
    model.params[0] = -0; // −0 and subnormals survive too
    model.params[1] = 1e-45;
    const back = fromJSON(JSON.parse(JSON.stringify(model)));
    expect(bits(back.params).equals(bits(model.params))).toBe(true);
    expect(back.layers.map((l) => (l.kind === 'linear' ? [l.inFeatures, l.outFeatures] : l.name))).toEqual([[3, 5], 'tanh', [5, 4], 'gelu', [4, 2]]);
    expect(bits(Sequential.fromJSON(JSON.stringify(model)).params).equals(bits(model.params))).toBe(true);
    expect(bits(sequential.fromJSON(model.toJSON()).params).equals(bits(model.params))).toBe(true);
    const x = randomInputs(4, 3, 1);
    expect(bits(back.forward(x, 4)).equals(bits(model.forward(x, 4)))).toBe(true);
  });

  it('names what is wrong', () => {
    const good = sequential([linear(2, 3), tanh(), linear(3, 1)]).toJSON();
    expect(() => fromJSON('{')).toThrow(/not JSON/);
    expect(() => fromJSON({ ...good, format: 'onnx' })).toThrow(/'format' must be 'natgrad.sequential'/);
    expect(() => fromJSON({ ...good, version: 2 })).toThrow(/'version' is 2/);
    expect(() => fromJSON({ ...good, layers: [{ type: 'conv' }] })).toThrow(
      /'layers\[0\]'.type must be one of linear, activation, conv2d, maxPool2d, avgPool2d, flatten, layerNorm, embedding, residual, got 'conv'/
    );
    expect(() => fromJSON({ ...good, layers: [good.layers[0], { type: 'activation', name: 'swish' }, good.layers[2]] })).toThrow(
      /'layers\[1\]'.name must be one of/
    );
    expect(() => fromJSON({ ...good, layers: [good.layers[0], good.layers[0]] })).toThrow(/input has width 3/);
    expect(() => fromJSON({ ...good, parameters: { ...good.parameters, length: 5 } })).toThrow(/'parameters.length' is 5, but the layers have 13 parameters/);
    expect(() => fromJSON({ ...good, parameters: { ...good.parameters, data: good.parameters.data.slice(0, 8) } })).toThrow(
      /'parameters.data' holds 6 bytes, not a whole number of 4-byte values/
    );
    const nan = Buffer.from(good.parameters.data, 'base64');
    nan.writeFloatLE(NaN, 4);
    expect(() => fromJSON({ ...good, parameters: { ...good.parameters, data: nan.toString('base64') } })).toThrow(/parameter 1 is NaN/);
  });
});

// ---- resumed training ----

const N = 48,
  BATCH = 16,
  EPOCHS = 3;
const xAll = randomInputs(N, 2, 5);
const yAll = Float32Array.from({ length: N }, (_, i) => Math.sin(2 * xAll[2 * i]) * Math.cos(xAll[2 * i + 1]));

type Kind = 'ngd' | 'ngd-spring-kl' | 'adam' | 'sgd';
function fresh(kind: Kind): { model: Sequential; opt: Optimizer } {
  const model = sequential([linear(2, 12), tanh(), linear(12, 1)], { seed: 4 });
  const opt =
    kind === 'ngd'
      ? new NaturalGradient(model, { loss: 'gaussian', lr: 1, damping: 1e-2 })
      : kind === 'ngd-spring-kl'
        ? new NaturalGradient(model, { loss: 'gaussian', lr: 0.8, damping: 1e-2, momentum: 0.6, maxKL: 0.05, adaptive: { increase: 2 } })
        : kind === 'adam'
          ? new Adam(model, { loss: 'gaussian', lr: 0.02 })
          : new SGD(model, { loss: 'gaussian', lr: 0.05, momentum: 0.9, nesterov: true });
  return { model, opt };
}

/** Runs from (epoch, batch) up to `stop` steps in all; returns the step infos. */
function train(opt: Optimizer, from: { epoch: number; batch: number }, stop: { epoch: number; batch: number }): unknown[] {
  const infos: unknown[] = [];
  for (let e = from.epoch; e < EPOCHS; e++) {
    for (const b of batches(xAll, yAll, N, { batchSize: BATCH, seed: 11, epoch: e })) {
      if (e === from.epoch && b.index < from.batch) continue;
      if (e === stop.epoch && b.index === stop.batch) return infos;
      infos.push(opt.step(b.x, b.y, b.batch));
    }
  }
  return infos;
}

describe('checkpoint round trip', () => {
  for (const kind of ['ngd', 'ngd-spring-kl', 'adam', 'sgd'] as Kind[]) {
    it(`${kind}: train, save, load into fresh objects, continue → bit-identical to uninterrupted training`, () => {
      const end = { epoch: EPOCHS, batch: 0 };
      const ref = fresh(kind);
      const refInfos = train(ref.opt, { epoch: 0, batch: 0 }, end);

      const run = fresh(kind);
      const cut = { epoch: 1, batch: 1 };
      const before = train(run.opt, { epoch: 0, batch: 0 }, cut);
      if (kind === 'ngd-spring-kl') expect((run.opt as NaturalGradient).state().previous).not.toBeNull(); // momentum is saved mid-flight
      const file = path.join(dir, `${kind}.ckpt`);
      saveCheckpoint(file, { model: run.model, optimizer: run.opt, extra: { resume: cut, note: 'é ✓' } });
      const loaded = loadCheckpoint(file);
      expect(loaded.extra).toEqual({ resume: cut, note: 'é ✓' });
      expect(loaded.model).not.toBe(run.model);
      expect(loaded.optimizer!.constructor).toBe(run.opt.constructor);
      expect(loaded.optimizer!.model).toBe(loaded.model);
      const after = train(loaded.optimizer!, (loaded.extra as { resume: typeof cut }).resume, end);
      expect([...before, ...after]).toEqual(refInfos);
      expect(bits(loaded.model.params).equals(bits(ref.model.params))).toBe(true);
      expect(JSON.stringify(loaded.optimizer!.state())).toBe(JSON.stringify(ref.opt.state()));
      if (kind !== 'adam' && kind !== 'sgd') expect(refInfos.some((i) => (i as { damping: number }).damping !== 1e-2)).toBe(true); // λ did adapt
    });
  }

  it('NaturalGradient.loadState checks the settings (option order and spelled-out defaults aside)', () => {
    const a = fresh('ngd-spring-kl');
    train(a.opt, { epoch: 0, batch: 0 }, { epoch: 0, batch: 2 });
    const state = (a.opt as NaturalGradient).state();
    const m = sequential([linear(2, 12), tanh(), linear(12, 1)], { seed: 4 });
    const same = new NaturalGradient(m, { adaptive: { increase: 2 }, maxKL: 0.05, momentum: 0.6, loss: 'gaussian', space: 'auto', method: 'exact' });
    same.loadState(state);
    expect(same.damping).toBe((a.opt as NaturalGradient).damping);
    expect(same.lr).toBe(0.8);
    const other = new NaturalGradient(m, { loss: 'gaussian', momentum: 0.5, maxKL: 0.05, adaptive: { increase: 2 } });
    expect(() => other.loadState(state)).toThrow(/the state was saved with options .*"momentum":0.6.*this optimizer has .*"momentum":0.5/);
    expect(() => other.loadState(new Adam(m, { loss: 'gaussian' }).state() as never)).toThrow(/expected a state of type 'NaturalGradient'/);
  });

  it('saveCheckpointAsync writes the same bytes', async () => {
    const { model, opt } = fresh('ngd-spring-kl');
    train(opt, { epoch: 0, batch: 0 }, { epoch: 0, batch: 2 });
    const a = path.join(dir, 'sync.ckpt'),
      b = path.join(dir, 'async.ckpt');
    saveCheckpoint(a, { model, optimizer: opt });
    await saveCheckpointAsync(b, { model, optimizer: opt });
    expect(fs.readFileSync(a).equals(fs.readFileSync(b))).toBe(true);
  });
});

describe('atomic writes and damaged files', () => {
  const { model, opt } = fresh('adam');
  const file = path.join(dir, 'adam.ckpt');
  saveCheckpoint(file, { model, optimizer: opt, extra: { step: 0 } });
  const good = fs.readFileSync(file);
  const write = (name: string, bytes: Buffer | string) => {
    const f = path.join(dir, name);
    fs.writeFileSync(f, bytes);
    return f;
  };

  it('overwrites by rename and leaves no temporary file', () => {
    opt.step(xAll.subarray(0, 32), yAll.subarray(0, 16), 16);
    saveCheckpoint(file, { model, optimizer: opt, extra: { step: 1 } });
    expect(loadCheckpoint(file).extra).toEqual({ step: 1 });
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('truncated, tampered, foreign, empty and missing files give clear errors', () => {
    expect(() => loadCheckpoint(write('trunc.ckpt', good.subarray(0, good.length - 100)))).toThrow(
      /trunc.ckpt: truncated: the header announces \d+ bytes of data, the file holds \d+/
    );
    expect(() => loadCheckpoint(write('header-only.ckpt', good.subarray(0, good.indexOf(0x0a) - 3)))).toThrow(/not a natgrad checkpoint/);
    const tampered = Buffer.from(good);
    const at = good.indexOf('"lr":') + 5;
    tampered[at] = tampered[at] === 0x30 ? 0x31 : 0x30;
    expect(() => loadCheckpoint(write('tampered.ckpt', tampered))).toThrow(/checksum mismatch: the file was modified or corrupted/);
    expect(() => loadCheckpoint(write('longer.ckpt', Buffer.concat([good, Buffer.from('x')])))).toThrow(/corrupt: the header announces/);
    expect(() => loadCheckpoint(write('foreign.ckpt', '{"format":"zip"}\n{}'))).toThrow(/not a natgrad checkpoint \(format 'zip'\)/);
    expect(() => loadCheckpoint(write('empty.ckpt', ''))).toThrow(/the file is empty/);
    expect(() => loadCheckpoint(write('v2.ckpt', good.toString().replace('"version":1', '"version":2')))).toThrow(
      /checkpoint version 2; this version of natgrad reads version 1/
    );
    try {
      loadCheckpoint(write('trunc2.ckpt', good.subarray(0, 50)));
    } catch (e) {
      expect((e as { code?: string }).code).toBe('ERR_CHECKPOINT');
    }
    expect(() => loadCheckpoint(path.join(dir, 'nope.ckpt'))).toThrow(/ENOENT/);
  });

  it('checks what it saves', () => {
    const other = sequential([linear(2, 1)]);
    expect(() => saveCheckpoint(file, { model: other, optimizer: opt })).toThrow(/trains a different model/);
    expect(() => saveCheckpoint(file, { model, extra: { f: 1n } })).toThrow(/'extra' is not JSON-serialisable/);
    expect(() => saveCheckpoint('', { model })).toThrow(/'path' must be a non-empty string/);
    saveCheckpoint(file, { model });
    expect(loadCheckpoint(file).optimizer).toBeNull();
  });

  it('refuses to save while an asynchronous step holds the model', async () => {
    const pending = opt.stepAsync(xAll.subarray(0, 32), yAll.subarray(0, 16), 16);
    expect(() => saveCheckpoint(file, { model, optimizer: opt })).toThrow(/in use by a pending Adam.stepAsync; await it first/);
    await pending;
    saveCheckpoint(file, { model, optimizer: opt });
  });
});
