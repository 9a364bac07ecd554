// What `natgrad train --out DIR` writes: the folder checked for writing before anything else happens,
// the checkpoint after every epoch (with what a resumed run needs besides the model and optimizer),
// and at the end model.json, metrics.jsonl, loss.svg and run.json.
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { lineCharts, type Panel } from '../plot/svg';
import type { Point } from '../train/trainer';

/** The checkpoint in --out, written after every epoch. */
export const CHECKPOINT_FILE = 'checkpoint.ckpt';
export const OUTPUTS = ['model.json', 'metrics.jsonl', 'loss.svg', 'run.json', CHECKPOINT_FILE];

export const NOTHING = 'nothing was trained';

/**
 * Proves --out writable before any data is read or any step taken, without leaving anything behind:
 * a temporary file is written and removed in --out, or, when --out does not exist yet, in its nearest
 * existing ancestor (where it will be created). Outputs that exist must be regular files.
 */
export function checkOut(out: string): void {
  let at = resolve(out);
  for (;;) {
    try {
      if (!statSync(at).isDirectory())
        throw new Error(
          at === resolve(out)
            ? `--out ${out} is not a folder; ${NOTHING}`
            : `--out ${out}: cannot create the folder (ENOTDIR: ${at} is not a folder); ${NOTHING}`
        );
      break;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if ((code === 'ENOENT' || code === 'ENOTDIR') && dirname(at) !== at) {
        at = dirname(at);
        continue;
      }
      if (code === undefined) throw e;
      throw new Error(`--out ${out}: ${(e as Error).message}; ${NOTHING}`);
    }
  }
  const probe = join(at, `.natgrad-write-test.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    writeFileSync(probe, 'natgrad write test\n', { flag: 'wx' });
  } catch (e) {
    const where = at === resolve(out) ? `--out ${out} is not writable` : `--out ${out} cannot be created (${at} is not writable)`;
    throw new Error(`${where} (${(e as Error).message}); ${NOTHING}`);
  } finally {
    rmSync(probe, { force: true });
  }
  if (at !== resolve(out)) return;
  for (const name of OUTPUTS) {
    let isFile: boolean;
    try {
      isFile = statSync(join(out, name)).isFile();
    } catch {
      continue; // not there yet
    }
    if (!isFile) throw new Error(`--out ${out}: ${name} exists and is not a regular file, so it cannot be written; ${NOTHING}`);
  }
}

/** Creates --out (checked by checkOut) once the data has been read, before training; the first folder it made (undefined: none). */
export function makeOut(out: string): string | undefined {
  try {
    return mkdirSync(out, { recursive: true });
  } catch (e) {
    throw new Error(`--out ${out}: cannot create the folder (${(e as Error).message}); ${NOTHING}`);
  }
}

/** What a checkpoint of `natgrad train` keeps besides the model and the optimizer. */
export interface TrainCheckpoint {
  kind: 'natgrad-train';
  version: 1;
  epoch: number;
  step: number;
  seconds: number;
  rejected: number;
  /** Points with non-finite numbers as strings ('NaN', 'Infinity'): JSON has no NaN. */
  points: Record<string, number | string>[];
  metrics: string[];
  settings: Record<string, unknown>;
}

export const encodePoint = (p: Point) => Object.fromEntries(Object.entries(p).map(([k, v]) => [k, Number.isFinite(v) ? v : String(v)]));
export const decodePoint = (p: Record<string, number | string>) => Object.fromEntries(Object.entries(p).map(([k, v]) => [k, Number(v)])) as unknown as Point;

/** Names the settings that differ between a checkpoint and this run (empty if none). */
export function settingsDiff(saved: Record<string, unknown>, now: Record<string, unknown>): string[] {
  const keys = [...new Set([...Object.keys(saved), ...Object.keys(now)])];
  const show = (v: unknown) => (v === undefined ? 'unset' : JSON.stringify(v));
  return keys
    .filter((k) => JSON.stringify(saved[k]) !== JSON.stringify(now[k]))
    .map((k) => (k === 'dataSha256' ? 'the data (SHA-256 of the training and test arrays) differ' : `${k} ${show(saved[k])} there, ${show(now[k])} here`));
}

/** The run's curves: loss (train, test) vs epoch, and accuracy for classification. */
export function curves(points: Point[], classif: boolean, hasTest: boolean, title: string): string {
  const x = points.map((p) => p.epoch);
  const panels: Panel[] = [
    {
      series: [
        { name: 'train', x, y: points.map((p) => p.trainLoss) },
        ...(hasTest ? [{ name: 'test', x, y: points.map((p) => p.testLoss), dash: true }] : []),
      ],
      options: { title: `loss (${title})`, xLabel: 'epoch', yLabel: 'loss', logY: true },
    },
  ];
  if (classif)
    panels.push({
      series: [
        { name: 'train', x, y: points.map((p) => 100 * (p.trainAcc ?? NaN)) },
        ...(hasTest ? [{ name: 'test', x, y: points.map((p) => 100 * (p.testAcc ?? NaN)), dash: true }] : []),
      ],
      options: { title: 'accuracy', xLabel: 'epoch', yLabel: 'accuracy (%)' },
    });
  return lineCharts(panels);
}
