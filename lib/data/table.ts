// A CSV table as training data: the target column(s) and the input columns (every other column, or the
// ones named), targets encoded for the loss (class labels of any text or number mapped to indices,
// ./labels.ts), inputs checked to fit in float32. Errors name the file, the line and the column.
import type { LossName } from '../distributions';
import type { CsvTable } from './csv';
import type { Dataset32 } from './dataset';
import { describeClasses, encodeLabels, hasLabels } from './labels';

export interface TableData {
  data: Dataset32;
  /** The input columns, in the order of x's columns. */
  inputs: string[];
  /** The target column(s). */
  targets: string[];
  /** The model's output width for the loss: the number of classes (categorical), 1 (bernoulli), the targets (gaussian). */
  outDim: number;
  /** Class labels (categorical and bernoulli): labels[c] is the label of class c. */
  labels?: string[];
  /** Rows per class (categorical and bernoulli). */
  counts?: number[];
  /** One line: rows, inputs, the target and its classes with their counts. */
  description: string;
}

export interface TableOptions {
  /** The column(s) to predict; several only for 'gaussian'. */
  targets: readonly string[];
  loss: LossName;
  /** The input columns. Default: every column that is not a target. */
  inputs?: readonly string[];
  /** The file's name for messages. Default '<csv>'. */
  file?: string;
}

const F32_MAX = 3.4028234663852886e38;

/**
 * The rows of `table` as a Dataset for `loss`. For categorical and bernoulli the target column must have
 * been read as text (readCsv(path, { text: [target] })) or as numbers; either way its distinct labels
 * become the classes.
 */
export function tableData(table: CsvTable, o: TableOptions): TableData {
  const file = o.file ?? '<csv>';
  const { loss } = o;
  const targets = [...o.targets];
  if (targets.length === 0) throw new RangeError(`${file}: no target column`);
  if (new Set(targets).size !== targets.length) throw new RangeError(`${file}: a target column is named twice`);
  if (targets.length > 1 && loss !== 'gaussian') throw new RangeError(`several target columns need the gaussian loss (${loss} has one target per row)`);
  const tcols = targets.map((t) => table.index(t));
  const inputs = o.inputs ? [...o.inputs] : table.columns.filter((_, c) => !tcols.includes(c));
  if (inputs.length === 0) throw new RangeError(`${file}: no input columns left besides the target`);
  const fcols = inputs.map((name) => {
    const c = table.index(name);
    if (tcols.includes(c)) throw new RangeError(`${file}: column "${name}" is both an input and a target`);
    return c;
  });
  const w = table.columns.length;
  const n = table.rows;
  const at = (r: number, c: number) => `${file}:${table.lines[r]}: column "${table.columns[c]}"`;
  const x = new Float32Array(n * fcols.length);
  for (let r = 0; r < n; r++)
    for (let j = 0; j < fcols.length; j++) {
      const v = table.data[r * w + fcols[j]];
      if (Number.isNaN(v)) throw new RangeError(`${at(r, fcols[j])}: not a number (an input column must hold numbers)`);
      if (Math.abs(v) > F32_MAX) throw new RangeError(`${at(r, fcols[j])}: ${v} does not fit in float32`);
      x[r * fcols.length + j] = v;
    }
  const what = `${file}: column "${targets[0]}"`;
  if (hasLabels(loss)) {
    let cells: string[];
    try {
      cells = table.text(targets[0]);
    } catch {
      cells = Array.from(table.column(targets[0]), (v) => String(v));
    }
    const e = encodeLabels(cells, loss, what);
    const outDim = loss === 'categorical' ? e.labels.length : 1;
    const description = `${file}: ${n} rows, ${inputs.length} inputs, target ${targets[0]} (${e.labels.length} classes: ${describeClasses(e)})`;
    return { data: { x, y: e.y, n, inDim: inputs.length }, inputs, targets, outDim, labels: e.labels, counts: e.counts, description };
  }
  const y = new Float32Array(n * tcols.length);
  for (let r = 0; r < n; r++)
    for (let t = 0; t < tcols.length; t++) {
      const v = table.data[r * w + tcols[t]];
      if (Number.isNaN(v)) throw new RangeError(`${at(r, tcols[t])}: not a number (gaussian targets are numbers)`);
      if (Math.abs(v) > F32_MAX) throw new RangeError(`${at(r, tcols[t])}: ${v} does not fit in float32`);
      y[r * tcols.length + t] = v;
    }
  const description = `${file}: ${n} rows, ${inputs.length} inputs, target ${targets.join(', ')}`;
  return { data: { x, y, n, inDim: inputs.length }, inputs, targets, outDim: targets.length, description };
}
