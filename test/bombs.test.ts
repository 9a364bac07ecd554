// Small files that declare huge models (issue 12, item 7): a checkpoint with a valid header and
// SHA-256, or a bare model JSON, whose layers declare far more parameters than the file holds, is
// refused at once — before the model's Float32Array is allocated or initialised — with an error that
// names the layer and the numbers. (Before the fix a 388-byte file declaring linear(20000, 20000)
// took 17 s and 1.5 GiB to be refused, and linear(65535, 65535) was OOM-killed.)
//
// Also: the temporary files of saves that were killed are removed by the next save to the same path
// when their process is dead, never when it is alive.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeCheckpoint, linear, loadCheckpoint, saveCheckpoint, saveCheckpointAsync, sequential, tanh, Adam } from '../lib/index';
const fromJSON = sequential.fromJSON;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'natgrad-bombs-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A checkpoint file's bytes around `body`, with the header's byte count and SHA-256 right. */
function checkpointBytes(body: unknown): Buffer {
  const b = Buffer.from(JSON.stringify(body), 'utf8');
  const header = JSON.stringify({ format: 'natgrad-checkpoint', version: 1, bytes: b.length, sha256: createHash('sha256').update(b).digest('hex') });
  return Buffer.concat([Buffer.from(header + '\n'), b]);
}

const lin = (i: number, o: number) => ({ type: 'linear', in: i, out: o });
const modelJSON = (layers: unknown[], length: number, data: string) => ({
  format: 'natgrad.sequential',
  version: 1,
  layers,
  parameters: { dtype: 'float32', encoding: 'base64-le', length, data },
});
const P = (i: number, o: number) => (i + 1) * o;

// [what, model JSON, the error it must give]
const BOMBS: Array<[string, ReturnType<typeof modelJSON>, RegExp]> = [
  [
    'linear(20000, 20000), parameters.length matching, no data',
    modelJSON([lin(20000, 20000)], P(20000, 20000), ''),
    /'parameters.data' holds 0 float32 values \(0 bytes\), but the layers have 400020000 parameters \('layers\[0\]' linear\(20000, 20000\) alone has 400020000\); refused before allocating/,
  ],
  [
    'linear(20000, 20000) declaring 13 parameters',
    modelJSON([lin(20000, 20000)], 13, Buffer.alloc(52).toString('base64')),
    /'parameters.length' is 13, but the layers have 400020000 parameters \('layers\[0\]' linear\(20000, 20000\) alone has 400020000\)/,
  ],
  [
    'linear(65535, 65535) with one float of data',
    modelJSON([lin(65535, 65535)], P(65535, 65535), 'AAAAAA=='),
    /holds 1 float32 value \(4 bytes\), but the layers have 4294901760 parameters \('layers\[0\]' linear\(65535, 65535\) alone has 4294901760\)/,
  ],
  [
    '1000 chained linear(1000, 1000) layers (no single huge layer, 10⁹ parameters in all)',
    modelJSON(
      Array.from({ length: 2000 }, (_, i) => (i % 2 ? { type: 'activation', name: 'tanh' } : lin(1000, 1000))),
      1000 * P(1000, 1000),
      'AAAAAA=='
    ),
    /holds 1 float32 value \(4 bytes\), but the layers have 1001000000 parameters \('layers\[0\]' linear\(1000, 1000\) alone has 1001000\)/,
  ],
  [
    'linear(65535, 65535) then widths that do not chain',
    modelJSON([lin(65535, 65535), lin(3, 1)], 4, 'AAAAAA=='),
    /'layers\[1\]' is linear\(3, 1\) but its input has width 65535/,
  ],
  [
    'linear(2^52, 2^52): a parameter count past 2^53',
    modelJSON([lin(2 ** 52, 2 ** 52)], 1, 'AAAAAA=='),
    /'parameters.length' is 1, but the layers have 2\.\d+e\+31 parameters \('layers\[0\]' linear\(4503599627370496, 4503599627370496\)/,
  ],
];

/** Runs f, returns its error, how long it took and how much rss and ArrayBuffer memory grew. */
function measure(f: () => unknown): { error: Error & { code?: string }; ms: number; rss: number; arrayBuffers: number } {
  const m0 = process.memoryUsage();
  const t0 = performance.now();
  let error: (Error & { code?: string }) | undefined;
  try {
    f();
  } catch (e) {
    error = e as Error;
  }
  const ms = performance.now() - t0;
  const m1 = process.memoryUsage();
  if (!error) throw new Error('expected an error, got none');
  return { error, ms, rss: m1.rss - m0.rss, arrayBuffers: m1.arrayBuffers - m0.arrayBuffers };
}

const MB = 1 << 20;

describe('model bombs are refused before anything is allocated', () => {
  for (const [what, json, re] of BOMBS) {
    it(`checkpoint with a valid checksum: ${what}`, () => {
      const file = path.join(dir, 'bomb.ckpt');
      const bytes = checkpointBytes({ model: json, optimizer: null, extra: null });
      fs.writeFileSync(file, bytes);
      const r = measure(() => loadCheckpoint(file));
      expect(r.error.code).toBe('ERR_CHECKPOINT');
      expect(r.error.message).toMatch(/^loadCheckpoint: .*bomb\.ckpt: sequential\.fromJSON: /);
      expect(r.error.message).toMatch(re);
      expect(r.ms).toBeLessThan(1000);
      expect(r.arrayBuffers).toBeLessThan(16 * MB);
      expect(r.rss).toBeLessThan(64 * MB);
    });
    it(`bare model JSON (sequential.fromJSON of the text): ${what}`, () => {
      const text = JSON.stringify(json);
      const r = measure(() => fromJSON(text));
      expect(r.error).toBeInstanceOf(RangeError);
      expect(r.error.message).toMatch(re);
      expect(r.ms).toBeLessThan(1000);
      expect(r.arrayBuffers).toBeLessThan(16 * MB);
      expect(r.rss).toBeLessThan(64 * MB);
    });
  }

  it('the first bomb is the size the issue describes (a few hundred bytes)', () => {
    expect(checkpointBytes({ model: BOMBS[0][1], optimizer: null, extra: null }).length).toBeLessThan(400);
  });

  it('a real checkpoint still loads; one float more than the layers declare is refused with the counts', () => {
    const model = sequential([linear(3, 4), tanh(), linear(4, 2)], { seed: 3 });
    const opt = new Adam(model, { loss: 'categorical' });
    const file = path.join(dir, 'real.ckpt');
    saveCheckpoint(file, { model, optimizer: opt });
    const back = loadCheckpoint(file);
    expect(Buffer.from(back.model.params.buffer).equals(Buffer.from(model.params.buffer))).toBe(true);
    // the same model JSON with one float too many or too few: refused, naming the counts
    const j = model.toJSON();
    const extra = Buffer.concat([Buffer.from(j.parameters.data, 'base64'), Buffer.alloc(4)]).toString('base64');
    expect(() => decodeCheckpoint(checkpointBytes({ model: { ...j, parameters: { ...j.parameters, data: extra } }, optimizer: null, extra: null }))).toThrow(
      /holds 27 float32 values \(108 bytes\), but the layers have 26 parameters \('layers\[0\]' linear\(3, 4\) alone has 16\)/
    );
  });
});

describe('temporary files of killed saves', () => {
  /** The pid of a process that has exited (and been reaped). */
  function deadPid(): number {
    const r = spawnSync(process.execPath, ['-e', '0']);
    expect(r.status).toBe(0);
    expect(r.pid).toBeGreaterThan(0);
    expect(() => process.kill(r.pid!, 0)).toThrow(expect.objectContaining({ code: 'ESRCH' }));
    return r.pid!;
  }

  for (const mode of ['sync', 'async'] as const) {
    it(`${mode} save: removes those of dead processes for the same file, keeps live ones' and other files'`, async () => {
      const sub = fs.mkdtempSync(path.join(dir, `tmp-${mode}-`));
      const file = path.join(sub, 'model.ckpt');
      const dead = deadPid();
      const live = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
      try {
        const names = {
          dead: `.model.ckpt.${dead}.deadbeef.tmp`,
          dead2: `.model.ckpt.${dead}.0123abcd.tmp`,
          mine: `.model.ckpt.${process.pid}.cafebabe.tmp`, // a concurrent save of this process
          live: `.model.ckpt.${live.pid}.0badf00d.tmp`,
          otherFile: `.other.ckpt.${dead}.deadbeef.tmp`, // another checkpoint's: not this save's business
          lookalike: `.model.ckpt.bak.${dead}.deadbeef.tmp`, // the temporary file of model.ckpt.bak
          notOurs: `.model.ckpt.${dead}.tmp`, // not the pattern
        };
        for (const n of Object.values(names)) fs.writeFileSync(path.join(sub, n), 'partial');
        const model = sequential([linear(2, 3), tanh(), linear(3, 1)]);
        if (mode === 'sync') saveCheckpoint(file, { model });
        else await saveCheckpointAsync(file, { model });
        const left = fs.readdirSync(sub).sort();
        expect(left).toEqual([names.mine, names.live, names.otherFile, names.lookalike, names.notOurs, 'model.ckpt'].sort());
        expect(loadCheckpoint(file).model.numParameters).toBe(13);
      } finally {
        live.kill('SIGKILL');
      }
    });
  }
});
