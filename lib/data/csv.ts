// A strict reader for numeric CSV files (RFC 4180 quoting): a header row of column names, then rows
// of numbers. Cells are parsed as decimal numbers by a fixed grammar and never evaluated.
//
// API
//   parseCsv(text, { file?, delimiter?, text? }) → CsvTable   (file: the name used in error messages)
//   readCsv(path, { delimiter?, text? })         → CsvTable   (reads the file; a missing file is a CsvError too)
//   CsvTable: { columns: string[]; rows: number; data: Float64Array  (row-major [rows, columns.length]);
//               column(name) → Float64Array; index(name) → number; text(name) → string[]; delimiter }
//   delimiter 'auto' (the default): the one of , ; TAB | that the header row holds most often (',' if none).
//   text: columns whose cells may be any non-empty text (class labels such as "setosa"); their cells are
//   kept as strings (table.text) and are NaN in `data`.
//   CsvError extends Error: { file, line?, column? } — message "FILE:LINE: …" naming the column.
//
// Accepted: a UTF-8 byte-order mark; LF or CRLF line ends; quoted fields ("1.5", "a, b" in the header,
// "" for a quote inside quotes, line breaks inside quotes); spaces or tabs around a cell; blank lines
// at the end. Rejected, with the file, the line number and the column: a row with the wrong number
// of fields, an empty cell, a cell that is not a decimal number (digits, optional sign, point and
// exponent; 'NaN', 'Infinity', hex, '1_000', '1,5' are all rejected), a number that overflows
// float64, an unterminated quote, text after a closing quote, a CR line end without LF (old Mac
// files: otherwise the whole file would read as one header line), a blank line before the last row,
// an empty or duplicate column name, and a file with no data rows.
//
// By hand, not csv-parse: what matters here is the checking, not the splitting — the number grammar
// (no 'NaN', hex or '1,5'), the line of every row including rows after a quoted line break, the CR-only
// and blank-line cases, errors naming file, line and column — and csv-parse would leave all of it to
// code around its records; the tokenizer (records()) is 90 lines with linear-time guarantees that the
// fuzz and robustness tests hold it to (test/csv_robust.test.ts).
import { readFileSync } from 'node:fs';

export class CsvError extends Error {
  readonly file: string;
  readonly line?: number;
  readonly column?: string;
  constructor(file: string, line: number | undefined, message: string, column?: string) {
    super(`${file}${line !== undefined ? `:${line}` : ''}: ${message}`);
    this.name = 'CsvError';
    this.file = file;
    this.line = line;
    this.column = column;
  }
}

export interface CsvTable {
  /** Column names from the header row. */
  readonly columns: string[];
  /** Number of data rows. */
  readonly rows: number;
  /** The cells, row-major [rows, columns.length]. */
  readonly data: Float64Array;
  /** Line number (1-based) of each data row in the file. */
  readonly lines: Int32Array;
  /** The index of a column; a CsvError listing the columns when there is none of that name. */
  index(name: string): number;
  /** A copy of one column. */
  column(name: string): Float64Array;
  /** The cells of a column named in options.text, as written (trimmed). */
  text(name: string): string[];
  /** The field separator used (the one detected with 'auto'). */
  readonly delimiter: string;
}

export interface CsvOptions {
  /** Name of the source in error messages. Default '<csv>'. */
  file?: string;
  /** Field separator, one character other than '"', CR or LF, or 'auto' (default): see detectDelimiter. */
  delimiter?: string;
  /**
   * Columns whose cells may be text (kept as strings: table.text(name)); every other cell must be a
   * number. A list of names (each must exist) or a test of a column's name.
   */
  text?: readonly string[] | ((column: string) => boolean);
}

/** The separators 'auto' chooses from. */
export const DELIMITERS = [',', ';', '\t', '|'] as const;

/**
 * The separator of a file: the one of , ; TAB | that occurs most often outside quotes in its first
 * non-blank line (the header); ',' when none does (a file of one column). A semicolon file ("a;b;y",
 * as spreadsheets write it where the decimal mark is a comma) is then read as three columns, not one.
 */
export function detectDelimiter(text: string): string {
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  while (i < text.length && (text[i] === '\n' || text[i] === '\r')) i++;
  const counts = new Map<string, number>(DELIMITERS.map((d) => [d, 0]));
  let quoted = false;
  for (; i < text.length; i++) {
    const ch = text[i];
    if (ch === '"') quoted = !quoted;
    else if (!quoted && (ch === '\n' || ch === '\r')) break;
    else if (!quoted && counts.has(ch)) counts.set(ch, counts.get(ch)! + 1);
  }
  let best = ',';
  for (const d of DELIMITERS) if (counts.get(d)! > counts.get(best)!) best = d;
  return best;
}

/** The number grammar: optional sign, digits with an optional point (or a point and digits), optional exponent. */
// (written so that no two parts can match the same digits: `\d+\.?\d*` backtracked quadratically on
// a long run of digits followed by a non-digit — a 1 MB cell took an hour)
export const NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

interface Field {
  text: string;
  quoted: boolean;
  line: number;
}

/** Shows a cell in an error message: quoted, shortened, control characters escaped. */
function show(s: string): string {
  const t = s.length > 40 ? `${s.slice(0, 37)}...` : s;
  return JSON.stringify(t);
}

/**
 * Splits text into records of fields. Each record knows the line it starts on; blank lines come back as
 * records with no fields (so that the caller can tell a trailing blank line from a blank line inside).
 */
function* records(text: string, file: string, delim: number): Generator<{ fields: Field[]; line: number }> {
  const n = text.length;
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let line = 1;
  while (i < n) {
    const start = line;
    const fields: Field[] = [];
    // a blank line (LF or CRLF)
    if (text.charCodeAt(i) === 10 || (text.charCodeAt(i) === 13 && text.charCodeAt(i + 1) === 10)) {
      i += text.charCodeAt(i) === 13 ? 2 : 1;
      line++;
      yield { fields, line: start };
      continue;
    }
    for (;;) {
      // one field starting at i
      const fline = line;
      let j = i;
      while (j < n && (text.charCodeAt(j) === 32 || text.charCodeAt(j) === 9)) j++; // leading blanks
      let value: string;
      let quoted = false;
      if (text.charCodeAt(j) === 34) {
        quoted = true;
        const parts: string[] = [];
        let k = j + 1;
        for (;;) {
          const q = text.indexOf('"', k);
          if (q < 0) throw new CsvError(file, fline, 'unterminated quoted field (no closing ")');
          parts.push(text.slice(k, q));
          if (text.charCodeAt(q + 1) === 34) {
            parts.push('"');
            k = q + 2;
            continue;
          }
          k = q + 1;
          break;
        }
        value = parts.join('');
        for (const ch of value) if (ch === '\n') line++;
        j = k;
        while (j < n && (text.charCodeAt(j) === 32 || text.charCodeAt(j) === 9)) j++; // trailing blanks
        const c = text.charCodeAt(j);
        if (j < n && c !== delim && c !== 10 && !(c === 13 && text.charCodeAt(j + 1) === 10))
          throw new CsvError(file, line, `unexpected text after a closing quote: ${show(text.slice(j, j + 20).split(/\r?\n/)[0])}`);
      } else {
        let k = j;
        while (k < n) {
          const c = text.charCodeAt(k);
          if (c === delim || c === 10 || (c === 13 && text.charCodeAt(k + 1) === 10)) break;
          if (c === 34) throw new CsvError(file, line, `a quote inside an unquoted field: ${show(text.slice(i, k + 1))}`);
          if (c === 13) throw new CsvError(file, line, 'a carriage return (CR) without a line feed: line ends must be LF or CRLF');
          k++;
        }
        let e = k; // trailing blanks, by a loop: /[ \t]+$/ is quadratic on a long run of blanks inside a cell
        while (e > j && (text.charCodeAt(e - 1) === 32 || text.charCodeAt(e - 1) === 9)) e--;
        value = text.slice(j, e);
        j = k;
      }
      fields.push({ text: value, quoted, line: fline });
      if (j >= n) {
        i = n;
        break;
      }
      const c = text.charCodeAt(j);
      if (c === delim) {
        i = j + 1;
        if (i >= n) {
          fields.push({ text: '', quoted: false, line }); // "a,b," at end of file: an empty last field
          break;
        }
        continue;
      }
      // end of line
      i = j + (c === 13 ? 2 : 1);
      line++;
      break;
    }
    yield { fields, line: start };
  }
}

/** Parses CSV text with a header row and numeric cells. */
export function parseCsv(text: string, options: CsvOptions = {}): CsvTable {
  const file = options.file ?? '<csv>';
  if (typeof text !== 'string') throw new TypeError(`parseCsv: 'text' must be a string`);
  const delimiter = options.delimiter === undefined || options.delimiter === 'auto' ? detectDelimiter(text) : options.delimiter;
  if (delimiter.length !== 1 || '"\r\n'.includes(delimiter))
    throw new RangeError(`parseCsv: 'delimiter' must be 'auto' or one character other than '"', CR or LF`);
  const delim = delimiter.charCodeAt(0);
  const it = records(text, file, delim);
  let first = it.next();
  while (!first.done && first.value.fields.length === 0) first = it.next(); // blank lines before the header
  if (first.done) throw new CsvError(file, undefined, 'the file is empty (expected a header row of column names)');
  const header = first.value.fields.map((f) => f.text.trim());
  const headerLine = first.value.line;
  const seen = new Map<string, number>();
  header.forEach((name, c) => {
    if (name === '') throw new CsvError(file, headerLine, `header: column ${c + 1} has no name`);
    if (seen.has(name)) throw new CsvError(file, headerLine, `header: column name ${show(name)} appears twice (columns ${seen.get(name)! + 1} and ${c + 1})`);
    seen.set(name, c);
  });
  const width = header.length;
  const textCols = new Map<number, string[]>();
  const textNames = typeof options.text === 'function' ? header.filter(options.text) : (options.text ?? []);
  for (const name of textNames) {
    const c = seen.get(name);
    if (c === undefined) throw new CsvError(file, undefined, `no column named ${show(name)} (columns: ${header.map(show).join(', ')})`, name);
    textCols.set(c, []);
  }
  let cap = 1024;
  let data = new Float64Array(cap * width);
  let lines = new Int32Array(cap);
  let rows = 0;
  let blank: number | undefined; // line of a blank line seen after the header
  for (const rec of it) {
    if (rec.fields.length === 0) {
      blank ??= rec.line;
      continue;
    }
    if (blank !== undefined) throw new CsvError(file, blank, 'blank line between rows (only allowed at the end of the file)');
    if (rec.fields.length !== width) throw new CsvError(file, rec.line, `expected ${width} fields (as in the header), found ${rec.fields.length}`);
    if (rows === cap) {
      cap *= 2;
      const d = new Float64Array(cap * width);
      d.set(data);
      data = d;
      const l = new Int32Array(cap);
      l.set(lines);
      lines = l;
    }
    const base = rows * width;
    for (let c = 0; c < width; c++) {
      const f = rec.fields[c];
      const s = f.quoted ? f.text.trim() : f.text;
      const where = `column ${show(header[c])} (${c + 1})`;
      if (s === '') throw new CsvError(file, f.line, `${where}: empty cell`, header[c]);
      const texts = textCols.get(c);
      if (texts) {
        texts.push(f.quoted ? s : s.trim());
        data[base + c] = NaN;
        continue;
      }
      if (!NUMBER.test(s)) throw new CsvError(file, f.line, `${where}: not a number: ${show(s)}`, header[c]);
      const v = Number(s);
      if (!Number.isFinite(v)) throw new CsvError(file, f.line, `${where}: ${show(s)} is out of the float64 range`, header[c]);
      data[base + c] = v;
    }
    lines[rows] = rec.line;
    rows++;
  }
  if (rows === 0) throw new CsvError(file, headerLine, 'no data rows after the header');
  const table: CsvTable = {
    delimiter,
    columns: header,
    rows,
    data: data.slice(0, rows * width),
    lines: lines.slice(0, rows),
    index(name: string): number {
      const c = seen.get(name);
      if (c === undefined) throw new CsvError(file, undefined, `no column named ${show(name)} (columns: ${header.map(show).join(', ')})`, name);
      return c;
    },
    text(name: string): string[] {
      const cells = textCols.get(table.index(name));
      if (!cells) throw new CsvError(file, undefined, `column ${show(name)} was read as numbers (name it in options.text to keep its cells as text)`, name);
      return cells.slice();
    },
    column(name: string): Float64Array {
      const c = table.index(name);
      const out = new Float64Array(rows);
      for (let r = 0; r < rows; r++) out[r] = table.data[r * width + c];
      return out;
    },
  };
  return table;
}

/** Reads and parses a CSV file; a missing or unreadable file is a CsvError naming it. */
export function readCsv(path: string, options: Omit<CsvOptions, 'file'> = {}): CsvTable {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory, not a file' : code === 'EACCES' ? 'permission denied' : (e as Error).message;
    throw new CsvError(path, undefined, why);
  }
  return parseCsv(text, { ...options, file: path });
}
