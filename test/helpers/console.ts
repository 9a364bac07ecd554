// What a CLI test's code prints: console.log / console.error (and process.stdout.write when asked) are
// captured into `out` / `err`, emptied before each test and restored after it.
import { afterEach, beforeEach, vi } from 'vitest';

export function captureConsole(opts: { stdout?: boolean } = {}): { out: string[]; err: string[] } {
  const c = { out: [] as string[], err: [] as string[] };
  beforeEach(() => {
    c.out.length = 0;
    c.err.length = 0;
    vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void c.out.push(a.join(' ')));
    vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void c.err.push(a.join(' ')));
    if (opts.stdout) vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => (c.out.push(String(s)), true));
  });
  afterEach(() => vi.restoreAllMocks());
  return c;
}
