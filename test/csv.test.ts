import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CsvError, parseCsv, readCsv } from '../lib/data/csv';

/** The CsvError thrown by parsing `text` (fails the test if none). */
function error(text: string): CsvError {
  try {
    parseCsv(text, { file: 'd.csv' });
  } catch (e) {
    expect(e).toBeInstanceOf(CsvError);
    return e as CsvError;
  }
  throw new Error('expected a CsvError');
}

describe('parseCsv: valid input', () => {
  it('reads a header and numbers, row-major', () => {
    const t = parseCsv('a,b,c\n1,2,3\n4.5,-6e-1,+.25\n');
    expect(t.columns).toEqual(['a', 'b', 'c']);
    expect(t.rows).toBe(2);
    expect(Array.from(t.data)).toEqual([1, 2, 3, 4.5, -0.6, 0.25]);
    expect(Array.from(t.column('b'))).toEqual([2, -0.6]);
    expect(t.index('c')).toBe(2);
    expect(Array.from(t.lines)).toEqual([2, 3]);
  });

  it('CRLF, a BOM, no final newline, blank lines at the end, spaces around cells', () => {
    const t = parseCsv('\ufeffx , y\r\n 1 ,\t2\r\n3,4\r\n\r\n\n');
    expect(t.columns).toEqual(['x', 'y']);
    expect(Array.from(t.data)).toEqual([1, 2, 3, 4]);
    expect(Array.from(parseCsv('x,y\n1,2').data)).toEqual([1, 2]);
  });

  it('quoted fields: delimiters, doubled quotes and line breaks inside quotes; line numbers stay right', () => {
    const t = parseCsv('"a, the first","say ""b""","multi\nline"\n"1","2.5", 3\n4,5,6\n');
    expect(t.columns).toEqual(['a, the first', 'say "b"', 'multi\nline']);
    expect(Array.from(t.data)).toEqual([1, 2.5, 3, 4, 5, 6]);
    expect(Array.from(t.lines)).toEqual([3, 4]); // the header spans lines 1-2
  });

  it('exact values: the same doubles as Number() on the text', () => {
    const cells = ['0.1', '1e-300', '-1.7976931348623157e308', '123456789012345678', '5.', '.5', '0'];
    const t = parseCsv(`${cells.map((_, i) => `c${i}`).join(',')}\n${cells.join(',')}\n`);
    expect(Array.from(t.data)).toEqual(cells.map(Number));
  });

  it('other delimiters', () => {
    expect(Array.from(parseCsv('a;b\n1;2\n', { delimiter: ';' }).data)).toEqual([1, 2]);
    expect(Array.from(parseCsv('a\tb\n1\t2\n', { delimiter: '\t' }).data)).toEqual([1, 2]);
  });

  it('grows past its initial capacity', () => {
    const n = 5000;
    const text = 'i,sq\n' + Array.from({ length: n }, (_, i) => `${i},${i * i}`).join('\n');
    const t = parseCsv(text);
    expect(t.rows).toBe(n);
    expect(t.data[2 * 4321 + 1]).toBe(4321 * 4321);
    expect(t.lines[n - 1]).toBe(n + 1);
  });
});

describe('parseCsv: malformed input names file, line and column', () => {
  it('non-numeric cells', () => {
    const e = error('a,b\n1,2\n3,x7\n');
    expect(e.message).toBe('d.csv:3: column "b" (2): not a number: "x7"');
    expect(e.line).toBe(3);
    expect(e.column).toBe('b');
  });

  it('never evaluates cell contents: code, hex, NaN, Infinity, separators are all rejected', () => {
    (globalThis as Record<string, unknown>).__csvPwned = false;
    for (const cell of [
      'globalThis.__csvPwned=true',
      '0x10',
      'NaN',
      'Infinity',
      '-Infinity',
      '1_000',
      '1e',
      '--1',
      '1.2.3',
      '(1)',
      '2*3',
      '`1`',
      '1n',
      'true',
      'null',
      '[]',
    ]) {
      const e = error(`a\n"${cell.replace(/"/g, '""')}"\n`);
      expect(e.message).toContain('not a number');
      expect(e.line).toBe(2);
    }
    expect((globalThis as Record<string, unknown>).__csvPwned).toBe(false);
    expect(error('a,b\n1,"1,5"\n').message).toBe('d.csv:2: column "b" (2): not a number: "1,5"');
  });

  it('empty cells and out-of-range numbers', () => {
    expect(error('a,b\n1,\n').message).toBe('d.csv:2: column "b" (2): empty cell');
    expect(error('a,b\n1,2,\n').message).toBe('d.csv:2: expected 2 fields (as in the header), found 3');
    expect(error('a,b\n,2\n').message).toBe('d.csv:2: column "a" (1): empty cell');
    expect(error('a\n1e999\n').message).toBe('d.csv:2: column "a" (1): "1e999" is out of the float64 range');
  });

  it('wrong field counts', () => {
    expect(error('a,b,c\n1,2,3\n4,5\n').message).toBe('d.csv:3: expected 3 fields (as in the header), found 2');
    expect(error('a,b\r\n1,2\r\n3,4,5\r\n').line).toBe(3);
  });

  it('quote errors', () => {
    expect(error('a,b\n1,2\n"3,4\n5,6\n').message).toBe('d.csv:3: unterminated quoted field (no closing ")');
    expect(error('a,b\n"1"x,2\n').message).toMatch(/^d\.csv:2: unexpected text after a closing quote: "x,2"/);
    expect(error('a,b\n1,2"3\n').message).toMatch(/^d\.csv:2: a quote inside an unquoted field/);
  });

  it('blank line in the middle, header problems, no rows, empty file', () => {
    expect(error('a\n1\n\n2\n').message).toBe('d.csv:3: blank line between rows (only allowed at the end of the file)');
    expect(error('a,,c\n1,2,3\n').message).toBe('d.csv:1: header: column 2 has no name');
    expect(error('a,b,a\n1,2,3\n').message).toBe('d.csv:1: header: column name "a" appears twice (columns 1 and 3)');
    expect(error('a,b\n').message).toBe('d.csv:1: no data rows after the header');
    expect(error('').message).toBe('d.csv: the file is empty (expected a header row of column names)');
  });

  it('a missing column lists the columns', () => {
    const t = parseCsv('a,b\n1,2\n', { file: 'd.csv' });
    expect(() => t.column('label')).toThrow('d.csv: no column named "label" (columns: "a", "b")');
  });
});

describe('readCsv', () => {
  it('reads a file and names it in errors; a missing file is a clear error', () => {
    const dir = mkdtempSync(join(tmpdir(), 'natgrad-csv-'));
    const good = join(dir, 'good.csv');
    writeFileSync(good, 'x,y\n1,2\n');
    expect(Array.from(readCsv(good).data)).toEqual([1, 2]);
    const bad = join(dir, 'bad.csv');
    writeFileSync(bad, 'x,y\n1,2\n3,four\n');
    expect(() => readCsv(bad)).toThrow(`${bad}:3: column "y" (2): not a number: "four"`);
    expect(() => readCsv(join(dir, 'nope.csv'))).toThrow(`${join(dir, 'nope.csv')}: no such file`);
    expect(() => readCsv(dir)).toThrow(`${dir}: is a directory, not a file`);
  });
});
