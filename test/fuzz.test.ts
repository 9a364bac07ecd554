// The native boundary under malformed input: wrong types, lengths, sizes, NaN/Inf,
// detached buffers, too few arguments — sync and Promise forms. The calls run in
// a child process; the test asserts it exits normally and that every failure was
// a documented error (TypeError/RangeError with a code, or a named kernel error).
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { backend } from '../lib/index';

const CALLS = Number(process.env.NATGRAD_FUZZ_CALLS ?? 2500);

describe('fuzzing the native boundary', () => {
  it(`survives ${CALLS} malformed calls with documented errors only`, () => {
    const child = spawnSync(process.execPath, [path.join(__dirname, 'fuzz-child.cjs'), backend().addon, String(CALLS), '12345'], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(child.signal, child.stderr).toBeNull();
    expect(child.status, child.stderr).toBe(0);
    const report = JSON.parse(child.stdout.trim().split('\n').pop() as string);
    expect(report.calls).toBe(CALLS);
    expect(report.undocumented).toEqual([]);
    expect(report.rejected).toBeGreaterThan(CALLS * 0.9); // almost every call is malformed
  });
});
