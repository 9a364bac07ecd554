// Reading data (issue #8), beyond test/csv.test.ts: the CSV reader behind `natgrad train --data`
// never evaluates a cell (code, template strings, prototype names), parses what it accepts exactly
// as documented, and reports malformed input as a CsvError with the right line — also when
// faults are injected at random rows of random files, and for 2,000 random byte mutations (which
// may parse, or fail with a CsvError on an existing line, but never fail any other way). The CLI
// prints that error on one line and exits 1.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { CsvError, parseCsv } from '../lib/data/csv';

const root = path.resolve(__dirname, '..');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'natgrad-csv-robust-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function csvError(text: string): CsvError {
  try {
    parseCsv(text, { file: 'd.csv' });
  } catch (e) {
    expect(e).toBeInstanceOf(CsvError);
    return e as CsvError;
  }
  throw new Error(`parsed: ${JSON.stringify(text)}`);
}
let seed = 2024;
const rnd = () => (seed = (Math.imul(1664525, seed) + 1013904223) >>> 0) / 4294967296;
const int = (n: number) => Math.floor(rnd() * n);

describe('cells are data, never code', () => {
  it('code, template strings, prototype names and number-like JavaScript are rejected as "not a number", with their line, and nothing runs', () => {
    const exit = vi.spyOn(process, 'exit').mockImplementation((() => {
      throw new Error('process.exit was called');
    }) as never);
    const g = globalThis as Record<string, unknown>;
    g.__csvRan = false;
    const cells = [
      "require('fs')",
      "require('child_process').execSync('touch /tmp/natgrad-pwned')",
      'process.exit(1)',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the literal text is the input the CSV reader must not evaluate
      '${process.exit(1)}',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: as above
      '`${globalThis.__csvRan = true}`',
      'globalThis.__csvRan = true',
      '(() => { globalThis.__csvRan = true })()',
      'constructor',
      '__proto__',
      'toString',
      'valueOf',
      '0x10',
      '0b11',
      '0o17',
      '017e',
      'Infinity',
      '+Infinity',
      '-Infinity',
      'NaN',
      '1n',
      '1_000',
      '1 000',
      '１２',
      '٣',
      '1\u0000',
      '\u00a01 1',
      '1e',
      'e5',
      '.',
      '+',
      '--1',
      '1e+-5',
      "''",
    ];
    cells.forEach((cell, i) => {
      const lines = ['a,b', '1,2', '3,4'];
      const row = 2 + (i % 2); // line 3 or 4
      lines[row - 1] = `5,"${cell.replace(/"/g, '""')}"`;
      const e = csvError(lines.join('\n') + '\n');
      expect(e.message, cell).toMatch(/column "b" \(2\): not a number: /);
      expect(e.line, cell).toBe(row);
      expect(e.column).toBe('b');
    });
    expect(g.__csvRan).toBe(false);
    expect(exit).not.toHaveBeenCalled();
    expect(fs.existsSync('/tmp/natgrad-pwned')).toBe(false);
    exit.mockRestore();
  });

  it('what it accepts means what the documentation says: decimal numbers only, read as Number() reads them', () => {
    const cells: [string, number][] = [
      ['0', 0],
      ['-0', -0],
      ['+1', 1],
      ['.5', 0.5],
      ['5.', 5],
      ['1E5', 1e5],
      ['1e-5', 1e-5],
      ['-1.25e+2', -125],
      ['1e-400', 0], // below the smallest double: rounds to 0 (only overflow is refused)
      ['4.9e-324', 5e-324],
      ['1.7976931348623157e308', Number.MAX_VALUE],
      ['0000012', 12],
      ['  7  ', 7],
    ];
    const t = parseCsv('v\n' + cells.map(([c]) => c).join('\n') + '\n');
    cells.forEach(([c, v], i) => expect(Object.is(t.data[i], v), `${c} → ${t.data[i]}`).toBe(true));
    expect(csvError('v\n1\n1e400\n').message).toBe('d.csv:3: column "v" (1): "1e400" is out of the float64 range');
    expect(csvError('v\n1\n""\n').message).toBe('d.csv:3: column "v" (1): empty cell');
    expect(csvError("v\n1\n''\n").message).toBe(`d.csv:3: column "v" (1): not a number: "''"`);
  });

  it('prototype names as column names are ordinary columns', () => {
    const t = parseCsv('__proto__,constructor,hasOwnProperty,toString\n1,2,3,4\n');
    expect(Array.from(t.column('__proto__'))).toEqual([1]);
    expect(Array.from(t.column('constructor'))).toEqual([2]);
    expect(t.index('toString')).toBe(3);
    expect(() => t.column('valueOf')).toThrow(/no column named "valueOf"/);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('line ends: CR alone is refused with a clear message (it would otherwise read as one long header line)', () => {
    expect(csvError('x,y\r1,2\r3,4\r').message).toBe('d.csv:1: a carriage return (CR) without a line feed: line ends must be LF or CRLF');
    expect(csvError('x,y\n1,2\r3,4\n').line).toBe(2);
    expect(parseCsv('x,"y\rz"\r\n1,2\r\n').columns).toEqual(['x', 'y\rz']); // inside quotes it is text
  });

  // Both of the first two used to hang: the number pattern backtracked quadratically on digits
  // followed by a non-digit (~50 min for 1 MB), and trimming trailing blanks with /[ \t]+$/ on a run
  // of blanks inside a cell (~17 min for 1 MB).
  it('pathological inputs finish quickly: 1 MB cells of digits or blanks, 20,000 columns, 10,000 quotes', () => {
    const t0 = performance.now();
    const mb = 1 << 20;
    expect(csvError('v\n' + '1'.repeat(mb) + 'x\n').message).toMatch(/not a number/);
    expect(csvError('v\n1' + ' '.repeat(mb) + 'x\n').message).toMatch(/not a number/);
    expect(csvError('v\n1.' + '5'.repeat(mb) + 'e\n').message).toMatch(/not a number/);
    expect(csvError('v\n"1' + ' '.repeat(mb) + 'x"\n').message).toMatch(/not a number/);
    expect(csvError('v\n' + '9'.repeat(mb) + '\n').message).toMatch(/is out of the float64 range/);
    expect(parseCsv('v\n7' + ' \t'.repeat(mb / 2) + '\n').data[0]).toBe(7);
    const wide = Array.from({ length: 20000 }, (_, i) => `c${i}`).join(',');
    expect(parseCsv(wide + '\n' + Array.from({ length: 20000 }, (_, i) => i).join(',') + '\n').rows).toBe(1);
    expect(csvError('v\n"' + '""'.repeat(10000) + '\n').message).toMatch(/unterminated quoted field/);
    expect(performance.now() - t0).toBeLessThan(5000);
  });
});

describe('random files, random faults', () => {
  const formats = [(v: number) => String(v), (v: number) => v.toExponential(3), (v: number) => v.toFixed(2), (v: number) => `"${v}"`, (v: number) => ` ${v}\t`];
  /** A random valid file; returns its text, the values, and the line each data row starts on. */
  function randomFile() {
    const cols = 1 + int(5),
      rows = 1 + int(12);
    const crlf = rnd() < 0.3;
    const nl = crlf ? '\r\n' : '\n';
    // a header that may span lines inside quotes
    const names = Array.from({ length: cols }, (_, c) => (rnd() < 0.2 ? `"col ${c}${nl}second line"` : rnd() < 0.2 ? `"c,${c}"` : `c${c}`));
    const headerLines = 1 + names.filter((n) => n.includes(nl)).length;
    const values: number[][] = [];
    const out = [names.join(',')];
    for (let r = 0; r < rows; r++) {
      const cells = Array.from({ length: cols }, () => formats[int(formats.length)](Math.round((rnd() - 0.5) * 1e6) / 1e3));
      values.push(cells.map((c) => Number(c.replace(/"/g, '').trim()))); // what the text says, as Number() reads it
      out.push(cells.join(','));
    }
    const bom = rnd() < 0.2 ? '\ufeff' : '';
    const tail = rnd() < 0.5 ? nl : rnd() < 0.5 ? nl + nl : '';
    return { text: bom + out.join(nl) + tail, values, cols, rows, nl, rowLine: (r: number) => headerLines + 1 + r };
  }
  const faults: [string, (cell: string) => string, RegExp | null][] = [
    ['a word', () => 'abc', /not a number/],
    ['code', () => "require('fs')", /quote inside an unquoted field|not a number/],
    ['hex', () => '0x1f', /not a number/],
    ['NaN', () => 'NaN', /not a number/],
    ['an empty cell', () => '', /empty cell/],
    ['overflow', () => '1e999', /out of the float64 range/],
    ['a decimal comma', () => '"1,5"', /not a number/],
    ['a stray quote', (c) => `${c.replace(/"/g, '')}"`, /quote inside an unquoted field/],
    ['text after a closing quote', (c) => `"${c.replace(/"/g, '')}"x`, /unexpected text after a closing quote/],
    ['an extra field', (c) => `${c},1`, /expected \d+ fields/],
  ];

  it('400 random valid files parse to exactly their values', () => {
    for (let t = 0; t < 400; t++) {
      const f = randomFile();
      const table = parseCsv(f.text);
      expect(table.rows).toBe(f.rows);
      expect(Array.from(table.data)).toEqual(f.values.flat());
      for (let r = 0; r < f.rows; r++) expect(table.lines[r]).toBe(f.rowLine(r));
    }
  });

  it("400 random files with one fault at a random row: CsvError with that row's line (and column for cell faults)", () => {
    for (let t = 0; t < 400; t++) {
      const f = randomFile();
      const [what, make, pattern] = faults[int(faults.length)];
      if (what === 'an empty cell' && f.cols === 1) continue; // that is a blank line, tested in test/csv.test.ts
      const r = int(f.rows),
        c = int(f.cols);
      const lines = f.text.replace(/^\ufeff/, '').split(f.nl);
      const li = f.rowLine(r) - 1;
      const cells = lines[li].split(',');
      if (cells.length !== f.cols) continue; // a quoted header cell with a comma shifted the split: skip
      cells[c] = make(cells[c]);
      lines[li] = cells.join(',');
      const e = csvError(lines.join(f.nl));
      expect(e.line, `${what} at row ${r}: ${e.message}`).toBe(f.rowLine(r));
      if (pattern) expect(e.message, what).toMatch(pattern);
      if (/empty|not a number|out of the float64/.test(e.message)) expect(e.column).toBeDefined();
    }
  });

  it('2,000 random byte mutations: a table or a CsvError on an existing line, never another error', () => {
    const alphabet = ['"', ',', '\n', '\r', '\r\n', ' ', '\t', 'x', '1', '.', 'e', '-', '\ufeff', '\u0000', '\u2028', '😀', '""'];
    let parsed = 0,
      refused = 0;
    for (let t = 0; t < 2000; t++) {
      const f = randomFile();
      let s = f.text;
      for (let m = 1 + int(3); m > 0; m--) {
        const at = int(s.length + 1);
        const op = int(3);
        if (op === 0) s = s.slice(0, at) + alphabet[int(alphabet.length)] + s.slice(at);
        else if (op === 1) s = s.slice(0, at) + s.slice(at + 1 + int(3));
        else s = s.slice(0, at) + alphabet[int(alphabet.length)] + s.slice(at + 1);
      }
      const lineCount = s.split(/\r\n|\n/).length;
      try {
        const table = parseCsv(s, { file: 'm.csv' });
        parsed++;
        expect(table.data.every(Number.isFinite)).toBe(true);
        expect(table.data.length).toBe(table.rows * table.columns.length);
      } catch (e) {
        refused++;
        if (!(e instanceof CsvError)) throw new Error(`not a CsvError for ${JSON.stringify(s)}: ${e}`);
        expect(e.message.startsWith('m.csv')).toBe(true);
        if (e.line !== undefined) {
          expect(e.line).toBeGreaterThanOrEqual(1);
          expect(e.line).toBeLessThanOrEqual(lineCount);
        }
      }
    }
    expect(parsed).toBeGreaterThan(100);
    expect(refused).toBeGreaterThan(500);
  });
});

// The CLI runs from dist/ (built by `npm run build` before the tests in CI).
const cli = path.join(root, 'dist', 'cli.js');
const cliFresh =
  fs.existsSync(path.join(root, 'dist', 'data', 'csv.js')) &&
  fs.statSync(path.join(root, 'dist', 'data', 'csv.js')).mtimeMs >= fs.statSync(path.join(root, 'lib', 'data', 'csv.ts')).mtimeMs;

describe('natgrad train --data with malformed files', () => {
  it.skipIf(!cliFresh)('prints one line naming the file and line, exits 1, writes nothing', () => {
    const cases: [string, string, RegExp][] = [
      ['code.csv', "x1,x2,y\n1,2,0\n3,4,1\n5,\"require('fs').rmSync('/')\",0\n", /code\.csv:4: column "x2" \(2\): not a number: /],
      ['short.csv', 'x1,x2,y\n1,2,0\n3,4\n', /short\.csv:3: expected 3 fields/],
      ['huge.csv', 'x1,x2,y\n1,2,0\n3,1e400,1\n', /huge\.csv:3: column "x2" \(2\): "1e400" is out of the float64 range/],
      ['f32.csv', 'x1,x2,y\n1,2,0\n3,1e39,1\n', /f32\.csv:3: column "x2": 1e\+39 does not fit in float32/],
      ['label.csv', 'x1,x2,y\n1,2,0\n3,4,0\n', /label\.csv: column "y": a single label \("0"\)/],
      ['cr.csv', 'x1,x2,y\r1,2,0\r', /cr\.csv:1: a carriage return \(CR\) without a line feed/],
      ['quote.csv', 'x1,x2,y\n1,2,0\n"3,4,1\n', /quote\.csv:3: unterminated quoted field/],
    ];
    for (const [name, text, message] of cases) {
      const file = path.join(dir, name);
      fs.writeFileSync(file, text);
      const out = path.join(dir, name + '.out');
      const r = spawnSync(process.execPath, [cli, 'train', '--data', file, '--target', 'y', '--loss', 'categorical', '--epochs', '1', '--out', out], {
        encoding: 'utf8',
      });
      expect(r.status, name + r.stderr).toBe(1);
      expect(r.stderr.trim().split('\n'), name).toHaveLength(1);
      expect(r.stderr, name).toMatch(message);
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
      expect(fs.existsSync(out), name).toBe(false);
    }
  });
  if (!cliFresh) it.todo('CLI test skipped: dist/ is missing or older than lib/data/csv.ts (npm run build:ts)');
});
