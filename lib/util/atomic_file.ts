// Atomic file writes: the bytes go to a temporary file in the same folder (.NAME.PID.RANDOM.tmp),
// flushed to disk (fsync), renamed over the file, and the folder is fsynced, so a crash leaves either
// the old file or the new one, never a part. Temporary files of processes that died mid-save are removed
// by the next save (never a live process's). Used by checkpoints and model bundles.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

export function tempName(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

const TEMP_SUFFIX = /^(\d{1,10})\.[0-9a-f]{8}\.tmp$/;

/** The pid in a temporary name of `file` (tempName's pattern), or null if `name` is not one. */
function tempPid(file: string, name: string): number | null {
  const prefix = `.${path.basename(file)}.`;
  if (!name.startsWith(prefix)) return null;
  const m = TEMP_SUFFIX.exec(name.slice(prefix.length));
  if (!m) return null;
  const pid = Number(m[1]);
  return pid >= 1 && pid <= 0x7fffffff ? pid : null;
}

/** Whether a process with this pid exists (EPERM: it exists but belongs to someone else). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/** The temporary files of `file` left by saves of processes that have died (never this process's, never a live one's). */
function staleTemps(file: string, names: string[]): string[] {
  const dir = path.dirname(file);
  return names
    .filter((n) => {
      const pid = tempPid(file, n);
      return pid !== null && pid !== process.pid && !alive(pid);
    })
    .map((n) => path.join(dir, n));
}

/** Removes staleTemps(file); best effort (a folder that cannot be listed, a file already gone). */
export function removeStaleTemps(file: string): void {
  let names: string[];
  try {
    names = fs.readdirSync(path.dirname(file));
  } catch {
    return;
  }
  for (const t of staleTemps(file, names)) {
    try {
      fs.unlinkSync(t);
    } catch {
      /* gone already, or not a file */
    }
  }
}

export async function removeStaleTempsAsync(file: string): Promise<void> {
  let names: string[];
  try {
    names = await fs.promises.readdir(path.dirname(file));
  } catch {
    return;
  }
  await Promise.all(staleTemps(file, names).map((t) => fs.promises.unlink(t).catch(() => undefined)));
}

export function fsyncDir(dir: string): void {
  // Makes the rename durable. Not possible on every platform (Windows): best effort there.
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    /* best effort */
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** Writes `bytes` to `file` atomically (see the header). */
export function writeFileAtomic(file: string, bytes: Uint8Array): void {
  removeStaleTemps(file);
  const tmp = tempName(file);
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, 'wx', 0o644);
    let off = 0;
    while (off < bytes.length) off += fs.writeSync(fd, bytes, off, bytes.length - off);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, file);
  } catch (e) {
    if (fd !== undefined) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  fsyncDir(path.dirname(file));
}
