// The Promise forms under what JavaScript can do to an array while a call is pending:
// transfer it, shrink it, overwrite it, use it in another call. Before the fix in
// native/addon.cc ("Async calls and the lifetime of array memory") case 1 was a
// heap-use-after-free under ASan, case 2 a silent write into freed memory and case 3 a
// SIGSEGV; npm run test:asan runs this file with the ASan + UBSan build.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { backend } from '../lib/index';

describe('async calls own their memory', () => {
  it('survive transfer, shrinking and overwriting of the arrays they use', () => {
    const child = spawnSync(process.execPath, ['--expose-gc', path.join(__dirname, 'async-memory-child.cjs'), backend().addon], {
      encoding: 'utf8',
      timeout: 120_000,
      env: { ...process.env, UV_THREADPOOL_SIZE: '1' },
    });
    expect(child.signal, child.stderr).toBeNull();
    expect(child.status, child.stderr).toBe(0);
    const { cases } = JSON.parse(child.stdout.trim().split('\n').pop() as string);
    const lost = { ok: false, code: 'ERR_INVALID_STATE' };
    expect(cases.transferInput).toEqual({ ok: true, same: true, detached: true });
    expect(cases.transferOutput).toMatchObject({ ...lost, untouched: true });
    expect(cases.transferOutput.message).toMatch(/^gemmAsync: argument 'C' lost its memory while the call ran/);
    expect(cases.shrinkOutput).toEqual(lost);
    expect(cases.shrinkInput).toEqual({ ok: true, same: true });
    expect(cases.overwriteInputs).toEqual({ ok: true, same: true });
    expect(cases.syncDuringAsync).toEqual({ ok: true, syncSame: true, same: true });
    expect(cases.twoAccumulations).toEqual({ ok: true, once: true });
    expect(cases.aliasedOutput).toEqual({ ok: true, same: true });
    expect(cases.sharedAndViews).toEqual({ ok: true, shared: true, view: true, sameObject: true });
    expect(cases.transferWhileRunning).toEqual(lost);
  });
});
