// natgrad predict — a trained model bundle (natgrad train --out DIR writes DIR/model.json) on a CSV file
// of raw inputs: the columns the model was trained on, by name, in any order (others are ignored).
//
//   natgrad predict --model run/ --data new.csv [--out predictions.csv]
//
// Writes one row per input row: the prediction (the class label, or the target values) and, for
// classification, the probability of each class. When the file has the target column(s) too, prints
// the accuracy (classification) or the RMSE (regression) and the loss. Without --out the predictions go
// to stdout and the summary to stderr, so that `natgrad predict … > out.csv` keeps a clean CSV.
import { writeFileSync } from 'node:fs';
import { loadModel } from '../bundle';
import { readCsv } from '../data/csv';
import { helpText, type OptionSpec, parseArgs, UsageError } from './args';

export const PREDICT_USAGE = 'usage: natgrad predict --model DIR|FILE --data FILE.csv [--out FILE.csv] [--delimiter auto|C]';

const SPEC: Record<string, OptionSpec> = {
  model: { kind: 'string', help: 'the model bundle: a folder written by natgrad train --out, or its model.json' },
  data: { kind: 'string', help: 'CSV file with the input columns the model was trained on (by name; other columns are ignored)' },
  out: { kind: 'string', help: 'where to write the predictions as CSV (default: stdout)' },
  delimiter: { kind: 'string', help: "the field separator: 'auto' (default) or one character ('tab' for a tab)" },
  help: { kind: 'flag', help: 'this help' },
};

/** A CSV cell: quoted when it holds the separator, a quote or a line break. */
const cell = (s: string) => (/[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
const num = (v: number) => String(Number(v.toPrecision(7)));

export function predict(argv: string[]): number {
  const o = parseArgs('predict', argv, SPEC, PREDICT_USAGE);
  if (o.help) {
    console.log(helpText(PREDICT_USAGE, SPEC, 10));
    return 0;
  }
  if (o.model === undefined) throw new UsageError(`--model is required (a folder written by natgrad train --out)\n${PREDICT_USAGE}`);
  if (o.data === undefined) throw new UsageError(`--data is required (a CSV file of inputs)\n${PREDICT_USAGE}`);
  const bundle = loadModel(o.model as string);
  const { inputs, targets, labels, loss } = bundle.info;
  const file = o.data as string;
  const delimiter = o.delimiter === 'tab' ? '\t' : ((o.delimiter as string | undefined) ?? 'auto');
  const table = readCsv(file, { delimiter, text: (c) => !inputs.includes(c) });
  const missing = inputs.filter((c) => !table.columns.includes(c));
  if (missing.length)
    throw new Error(
      `${file} lacks the input column(s) ${missing.map((c) => `"${c}"`).join(', ')} that the model was trained on (it takes ${inputs.join(', ')})`
    );
  const n = table.rows;
  const x = new Float32Array(n * inputs.length);
  inputs.forEach((name, j) => {
    const col = table.column(name);
    for (let i = 0; i < n; i++) x[i * inputs.length + j] = col[i];
  });
  const p = bundle.predict(x, n);
  // the predictions as CSV
  const header: string[] = [];
  const rows: string[] = [];
  if (labels) {
    header.push(`predicted_${targets[0]}`, ...(loss === 'categorical' ? labels.map((l) => `p_${l}`) : [`p_${labels[1]}`]));
    const w = loss === 'categorical' ? labels.length : 1;
    for (let i = 0; i < n; i++) rows.push([cell(p.labels![i]), ...Array.from(p.probabilities!.subarray(i * w, (i + 1) * w), num)].join(','));
  } else {
    header.push(...targets.map((t) => `predicted_${t}`));
    const k = targets.length;
    for (let i = 0; i < n; i++) rows.push(Array.from(p.values!.subarray(i * k, (i + 1) * k), num).join(','));
  }
  const csv = `${header.map(cell).join(',')}\n${rows.join('\n')}\n`;
  const say = o.out ? console.log : console.error;
  if (o.out) writeFileSync(o.out as string, csv);
  else process.stdout.write(csv);
  say(`natgrad predict: ${n} rows of ${file} through ${o.model} (${loss}, ${inputs.length} inputs)${o.out ? ` → ${o.out}` : ''}`);
  // with the targets in the file: how good the predictions are
  if (targets.every((t) => table.columns.includes(t))) {
    if (labels) {
      const y = bundle.encodeLabels(table.text(targets[0]));
      const ev = bundle.evaluate(x, y, n);
      const right = Math.round(ev.accuracy! * n);
      say(`  accuracy ${(100 * ev.accuracy!).toFixed(2)}% (${right}/${n}), loss ${ev.loss.toExponential(3)} (mean cross-entropy)`);
    } else {
      const y = new Float32Array(n * targets.length);
      targets.forEach((t, j) => {
        const cells = table.text(t);
        cells.forEach((s, i) => {
          const v = Number(s);
          if (!Number.isFinite(v)) throw new Error(`${file}:${table.lines[i]}: column "${t}": ${JSON.stringify(s)} is not a number`);
          y[i * targets.length + j] = v;
        });
      });
      const ev = bundle.evaluate(x, y, n);
      say(`  RMSE ${ev.rmse!.toExponential(3)}, loss ${ev.loss.toExponential(3)} (½·squared error per row)`);
    }
  } else say(`  (no ${targets.join(', ')} column in ${file}: predictions only)`);
  return 0;
}
