// Class labels as they appear in a file ("setosa", "yes", 1, 2, 3) and the class indices 0 … K−1 that
// the categorical and bernoulli losses take. The distinct labels are sorted — numerically when every
// label is a number, else by text — and class c is the c-th of them; the names are kept (in a model
// bundle) so that predictions come back as the labels the data used. Labels that are already the
// indices 0 … K−1 (or 0 and 1 for bernoulli) map to themselves.
import type { LossName } from '../distributions';
import { NUMBER } from './csv';

export interface EncodedLabels {
  /** [n] class indices 0 … labels.length − 1. */
  y: Float32Array;
  /** labels[c]: the label of class c, as written in the data (numbers in their shortest form). */
  labels: string[];
  /** Rows per class. */
  counts: number[];
}

/** An error in one label, naming the row (`rowName(i)`, e.g. 'FILE:LINE') that holds it. */
export class LabelError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LabelError';
  }
}

/**
 * Encodes the labels of n rows for `loss` ('categorical': K ≥ 2 classes; 'bernoulli': exactly two).
 * `what` names the column in errors (e.g. 'iris.csv: column "species"').
 */
export function encodeLabels(values: readonly string[], loss: 'categorical' | 'bernoulli', what: string): EncodedLabels {
  const numeric = values.every((v) => NUMBER.test(v));
  const key = (v: string) => (numeric ? String(Number(v)) : v);
  const distinct = [...new Set(values.map(key))];
  distinct.sort(numeric ? (a, b) => Number(a) - Number(b) : (a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (distinct.length < 2) throw new LabelError(`${what}: a single label (${JSON.stringify(distinct[0])}); ${loss} needs two or more`);
  if (loss === 'bernoulli' && distinct.length > 2)
    throw new LabelError(`${what}: ${distinct.length} distinct labels (${list(distinct)}); bernoulli takes two — use --loss categorical for more classes`);
  const index = new Map(distinct.map((l, c) => [l, c]));
  const y = new Float32Array(values.length);
  const counts = new Array<number>(distinct.length).fill(0);
  values.forEach((v, i) => {
    const c = index.get(key(v))!;
    y[i] = c;
    counts[c]++;
  });
  return { y, labels: distinct, counts };
}

function list(labels: readonly string[]): string {
  const shown = labels.length <= 12 ? labels : [...labels.slice(0, 10), '…', labels[labels.length - 1]];
  return shown.map((l) => (l === '…' ? l : JSON.stringify(l))).join(', ');
}

/** "setosa (50), versicolor (50), virginica (50)": the classes and their row counts, for messages. */
export function describeClasses(e: EncodedLabels): string {
  const parts = e.labels.map((l, c) => `${l} (${e.counts[c]})`);
  return parts.length <= 12 ? parts.join(', ') : `${parts.slice(0, 10).join(', ')}, …, ${parts[parts.length - 1]}`;
}

/** True when the family takes class labels (and a model bundle keeps their names). */
export const hasLabels = (loss: LossName): loss is 'categorical' | 'bernoulli' => loss !== 'gaussian';
