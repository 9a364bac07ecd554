// Checkpoints: a model, its optimizer's state and any JSON-safe extra data (epoch, batch index, …) in
// one file that loads back into fresh objects which continue training bit-identically.
//
// File format (UTF-8 text, two parts):
//   line 1:  {"format":"natgrad-checkpoint","version":1,"bytes":<B>,"sha256":"<hex>"}\n
//   rest:    the body, B bytes of JSON: {"model": <Sequential.toJSON()>, "optimizer": <state()> | null, "extra": …}
// The header's byte count and SHA-256 of the body detect a truncated or modified file, which
// loadCheckpoint reports as such (code ERR_CHECKPOINT). Parameters and optimizer buffers are stored as
// base64 of their little-endian bytes (lossless).
//
// Writing is atomic: the file is written to a temporary name in the same directory, flushed to disk
// (fsync), renamed over `path`, and the directory is fsynced, so a crash leaves either the old or the
// new checkpoint, never a partial one. The temporary name is `.<name>.<pid>.<8 hex>.tmp`; a process
// killed mid-save leaves its temporary file behind, so every save first removes those of `path` whose
// pid is no longer alive (process.kill(pid, 0) fails with ESRCH). Those of live processes (this one's
// concurrent saves included) are never touched. (A process in another pid namespace writing to the same
// folder cannot be told apart from a dead one: give such writers their own folders.)
//
// A model's declared shapes are checked against its stored parameter count and the bytes actually
// present before anything the size of the model is allocated (sequential.fromJSON), so a small file
// that declares a huge layer is refused at once instead of allocating gigabytes.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fromJSON, Sequential } from './nn/sequential';
import { fsyncDir, removeStaleTempsAsync, tempName, writeFileAtomic } from './util/atomic_file';
import { describe } from './util/validate';
import { Adam, type AdamState } from './optim/adam';
import { NaturalGradient, type NaturalGradientState } from './optim/natural_gradient';
import { SGD, type SGDState } from './optim/sgd';

export const CHECKPOINT_FORMAT = 'natgrad-checkpoint';
export const CHECKPOINT_VERSION = 1;

export type Optimizer = NaturalGradient | Adam | SGD;
export type OptimizerState = NaturalGradientState | AdamState | SGDState;

export interface CheckpointInput {
  model: Sequential;
  /** Must train `model`. Optional. */
  optimizer?: Optimizer | null;
  /** Any JSON-serialisable data to keep with the checkpoint (epoch, batch index, seed, metrics, …). */
  extra?: unknown;
}

export interface Checkpoint {
  model: Sequential;
  /** A fresh optimizer of the saved kind on `model`, in the saved state; null if none was saved. */
  optimizer: Optimizer | null;
  extra: unknown;
}

function checkpointError(file: string, message: string): Error {
  return Object.assign(new Error(`loadCheckpoint: ${file}: ${message}`), { code: 'ERR_CHECKPOINT' });
}

/** A fresh optimizer of the kind recorded in `state` (from state()/toJSON()) on `model`. */
export function restoreOptimizer(model: Sequential, state: OptimizerState): Optimizer {
  const type = (state as { type?: unknown } | null)?.type;
  if (type === 'NaturalGradient') return NaturalGradient.fromState(model, state as NaturalGradientState);
  if (type === 'Adam') return Adam.fromState(model, state as AdamState);
  if (type === 'SGD') return SGD.fromState(model, state as SGDState);
  throw new RangeError(`restoreOptimizer: unknown optimizer state type ${describe(type)} (expected 'NaturalGradient', 'Adam' or 'SGD')`);
}

/** The file's bytes for a checkpoint. */
export function encodeCheckpoint(input: CheckpointInput): Buffer {
  const fn = 'saveCheckpoint';
  if (typeof input !== 'object' || input === null)
    throw new TypeError(`${fn}: the second argument must be { model, optimizer?, extra? }, got ${describe(input)}`);
  const { model, optimizer = null, extra = null } = input;
  if (!(model instanceof Sequential)) throw new TypeError(`${fn}: 'model' must be a model from sequential(), got ${describe(model)}`);
  model.checkUnlocked(fn);
  if (optimizer !== null) {
    if (!(optimizer instanceof NaturalGradient || optimizer instanceof Adam || optimizer instanceof SGD))
      throw new TypeError(`${fn}: 'optimizer' must be a NaturalGradient, Adam or SGD, got ${describe(optimizer)}`);
    if (optimizer.model !== model) throw new RangeError(`${fn}: 'optimizer' trains a different model than 'model'`);
  }
  let body: string;
  try {
    body = JSON.stringify({ model: model.toJSON(), optimizer: optimizer ? optimizer.state() : null, extra });
  } catch (e) {
    throw new TypeError(`${fn}: 'extra' is not JSON-serialisable (${(e as Error).message})`);
  }
  const bodyBytes = Buffer.from(body, 'utf8');
  const header = JSON.stringify({
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    bytes: bodyBytes.length,
    sha256: createHash('sha256').update(bodyBytes).digest('hex'),
  });
  return Buffer.concat([Buffer.from(header + '\n', 'utf8'), bodyBytes]);
}

/** Parses and verifies a checkpoint's bytes; `file` names it in errors. */
export function decodeCheckpoint(bytes: Buffer, file = '<buffer>'): Checkpoint {
  const nl = bytes.indexOf(0x0a);
  let header: Record<string, unknown>;
  try {
    if (nl < 0) throw new Error('no header line');
    header = JSON.parse(bytes.subarray(0, nl).toString('utf8'));
  } catch {
    throw checkpointError(file, bytes.length === 0 ? 'the file is empty' : 'not a natgrad checkpoint (no valid header line)');
  }
  if (typeof header !== 'object' || header === null || header.format !== CHECKPOINT_FORMAT)
    throw checkpointError(file, `not a natgrad checkpoint (format ${describe((header as { format?: unknown } | null)?.format)})`);
  if (header.version !== CHECKPOINT_VERSION)
    throw checkpointError(file, `checkpoint version ${describe(header.version)}; this version of natgrad reads version ${CHECKPOINT_VERSION}`);
  const body = bytes.subarray(nl + 1);
  if (body.length !== header.bytes)
    throw checkpointError(
      file,
      body.length < (header.bytes as number)
        ? `truncated: the header announces ${header.bytes} bytes of data, the file holds ${body.length}`
        : `corrupt: the header announces ${header.bytes} bytes of data, the file holds ${body.length}`
    );
  const digest = createHash('sha256').update(body).digest('hex');
  if (digest !== header.sha256) throw checkpointError(file, 'checksum mismatch: the file was modified or corrupted after it was written');
  let data: { model?: unknown; optimizer?: unknown; extra?: unknown };
  try {
    data = JSON.parse(body.toString('utf8'));
  } catch (e) {
    throw checkpointError(file, `the data is not valid JSON (${(e as Error).message})`);
  }
  try {
    const model = fromJSON(data.model);
    const optimizer = data.optimizer == null ? null : restoreOptimizer(model, data.optimizer as OptimizerState);
    return { model, optimizer, extra: data.extra ?? null };
  } catch (e) {
    throw checkpointError(file, (e as Error).message);
  }
}

/**
 * Writes a checkpoint atomically (temporary file, fsync, rename, directory fsync). First removes the
 * temporary files of `path` that saves of dead processes left behind.
 */
export function saveCheckpoint(file: string, input: CheckpointInput): void {
  if (typeof file !== 'string' || file === '') throw new TypeError(`saveCheckpoint: 'path' must be a non-empty string, got ${describe(file)}`);
  writeFileAtomic(file, encodeCheckpoint(input));
}

/** saveCheckpoint without blocking the event loop on the disk. The state is captured synchronously, at the call. */
export async function saveCheckpointAsync(file: string, input: CheckpointInput): Promise<void> {
  if (typeof file !== 'string' || file === '') throw new TypeError(`saveCheckpoint: 'path' must be a non-empty string, got ${describe(file)}`);
  const bytes = encodeCheckpoint(input);
  await removeStaleTempsAsync(file);
  const tmp = tempName(file);
  let handle: fs.promises.FileHandle | undefined;
  try {
    handle = await fs.promises.open(tmp, 'wx', 0o644);
    await handle.writeFile(bytes);
    await handle.sync();
    await handle.close();
    handle = undefined;
    await fs.promises.rename(tmp, file);
  } catch (e) {
    if (handle) await handle.close();
    await fs.promises.rm(tmp, { force: true });
    throw e;
  }
  fsyncDir(path.dirname(file));
}

/**
 * Reads and verifies a checkpoint: a fresh model, a fresh optimizer in the saved state (or null), and
 * the extra data. A truncated, modified or foreign file throws an Error with code ERR_CHECKPOINT that
 * says which; a missing file throws the fs error (ENOENT).
 */
export function loadCheckpoint(file: string): Checkpoint {
  if (typeof file !== 'string' || file === '') throw new TypeError(`loadCheckpoint: 'path' must be a non-empty string, got ${describe(file)}`);
  return decodeCheckpoint(fs.readFileSync(file), file);
}
