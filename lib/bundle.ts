// A model bundle: everything a trained model needs to predict on raw inputs, in one JSON file —
// the architecture and parameters, the loss, the input columns and their standardization, the target
// columns and the class labels. `natgrad train --out DIR` writes DIR/model.json (at every epoch and at
// the end); `loadModel(DIR)` restores it, and `natgrad predict` uses it.
//
//   const m = loadModel('run/');                       // or a path to model.json, or its parsed JSON
//   const { labels, probabilities } = m.predict([[5.1, 3.5, 1.4, 0.2]]);   // raw inputs, as in the CSV
//   m.evaluate(x, ['setosa', …])                       // loss, and accuracy or RMSE
import { arrayName, checkDtype, type Floats, toDtype, zeros } from './util/floats';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { NUMBER } from './data/csv';
import { applyStandardizer, type Standardizer } from './data/standardize';
import { distribution, type LossName, type OutputFamily } from './distributions';
import { fromJSON, type Sequential, type SequentialJSON } from './nn/sequential';
import { evaluate as evaluateModel } from './train/trainer';
import { writeFileAtomic } from './util/atomic_file';
import { describe } from './util/validate';

export const BUNDLE_FORMAT = 'natgrad-model';
export const BUNDLE_VERSION = 1;

/** model.json as natgrad train writes it. */
export interface ModelBundleJSON {
  format: typeof BUNDLE_FORMAT;
  version: typeof BUNDLE_VERSION;
  loss: LossName;
  model: SequentialJSON;
  /** The input columns, in the order the model takes them. */
  inputs: string[];
  /** x' = (x − mean) / std before the model, or null when the inputs are used as they are. */
  standardize: Standardizer | null;
  /** The target column(s). */
  targets: string[];
  /** categorical, bernoulli: labels[c] is the label of class c (bernoulli: class 1 is P(y = 1)); null for gaussian. */
  labels: string[] | null;
}

/** What the bundle knows besides the model. */
export type BundleInfo = Omit<ModelBundleJSON, 'format' | 'version' | 'model'>;

/** predict(): the model's outputs and what they mean for its loss. */
export interface Prediction {
  /** Rows predicted. */
  n: number;
  /** η [n, outDim]: the model's raw outputs (logits for categorical and bernoulli). */
  outputs: Floats;
  /** gaussian: the predicted means [n, targets] (= outputs). */
  values?: Floats;
  /** categorical, bernoulli: the most probable class of each row, its label, and the probabilities. */
  classes?: Int32Array;
  labels?: string[];
  /** categorical: [n, K] softmax(η); bernoulli: [n] P(class 1) = σ(η). */
  probabilities?: Floats;
}

/** evaluate(): the mean loss (gaussian: ½·squared error per target, summed), and accuracy or RMSE. */
export interface Evaluation {
  loss: number;
  /** categorical, bernoulli: the fraction of rows whose most probable class is the label. */
  accuracy?: number;
  /** gaussian: √(mean squared error) over every target value. */
  rmse?: number;
}

/** Raw input rows: a typed array of the model's dtype [n, inputs] (Float32Array; Float64Array for a float64 model) or an array of rows. */
export type InputRows = Floats | readonly (readonly number[])[];

export class ModelBundle {
  readonly model: Sequential;
  readonly family: OutputFamily;
  readonly info: BundleInfo;

  constructor(model: Sequential, info: BundleInfo) {
    const fn = 'ModelBundle';
    this.family = distribution(info.loss, fn, "'loss'");
    this.family.checkOutputs(fn, "the model's output width", model.outDim);
    if (!Array.isArray(info.inputs) || info.inputs.length !== model.inDim)
      throw new RangeError(`${fn}: 'inputs' must name the model's ${model.inDim} input columns, got ${describe(info.inputs)}`);
    if (info.standardize !== null && (info.standardize?.mean?.length !== model.inDim || info.standardize?.std?.length !== model.inDim))
      throw new RangeError(`${fn}: 'standardize' must hold ${model.inDim} means and standard deviations`);
    const classes = info.loss === 'categorical' ? model.outDim : info.loss === 'bernoulli' ? 2 : 0;
    if (classes > 0 && (!Array.isArray(info.labels) || info.labels.length !== classes))
      throw new RangeError(`${fn}: 'labels' must hold the ${classes} class labels of a ${info.loss} model, got ${describe(info.labels)}`);
    if (classes === 0 && info.labels !== null) throw new RangeError(`${fn}: a gaussian model has no class labels ('labels' must be null)`);
    this.model = model;
    this.info = { ...info, inputs: [...info.inputs], targets: [...info.targets] };
  }

  /** Raw inputs (as in the data file) → the model's inputs: [n, inDim] of its dtype, standardized. */
  private prepare(fn: string, x: InputRows, n?: number): { xs: Floats; n: number } {
    const d = this.model.inDim;
    let flat: Floats;
    if (x instanceof Float32Array || x instanceof Float64Array) {
      checkDtype(fn, 'x', x, this.model.dtype);
      const rows = n ?? x.length / d;
      if (!Number.isInteger(rows) || rows < 1 || rows * d !== x.length)
        throw new RangeError(`${fn}: x has ${x.length} values, not rows of ${d} inputs (${this.info.inputs.join(', ')})`);
      flat = x;
    } else if (Array.isArray(x)) {
      flat = zeros(this.model.dtype, x.length * d);
      x.forEach((row, i) => {
        if (!Array.isArray(row) || row.length !== d)
          throw new RangeError(`${fn}: row ${i} must hold ${d} numbers (${this.info.inputs.join(', ')}), got ${describe(row)}`);
        for (let j = 0; j < d; j++) flat[i * d + j] = row[j];
      });
    } else throw new TypeError(`${fn}: x must be a ${arrayName(this.model.dtype)} or an array of rows, got ${describe(x)}`);
    const rows = flat.length / d;
    for (let i = 0; i < flat.length; i++)
      if (!Number.isFinite(flat[i])) throw new RangeError(`${fn}: input ${this.info.inputs[i % d]} of row ${Math.floor(i / d)} is ${flat[i]}`);
    const s = this.info.standardize;
    return { xs: s ? applyStandardizer(s, flat, rows, d) : flat, n: rows };
  }

  /** Predictions for raw inputs x: rows of the input columns, as a Float32Array [n, inputs] or an array of rows. */
  predict(x: InputRows, n?: number): Prediction {
    const { xs, n: rows } = this.prepare('predict', x, n);
    const outputs = this.model.forward(xs, rows);
    const k = this.model.outDim;
    if (this.info.loss === 'gaussian') return { n: rows, outputs, values: outputs };
    const width = this.info.loss === 'categorical' ? k : 1;
    const probabilities = zeros(this.model.dtype, rows * width);
    const classes = new Int32Array(rows);
    const eta = new Float64Array(k),
      mu = new Float64Array(k);
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < k; j++) eta[j] = outputs[i * k + j];
      this.family.mean(eta, mu);
      let best = 0;
      for (let j = 0; j < width; j++) {
        probabilities[i * width + j] = mu[j];
        if (mu[j] > mu[best]) best = j;
      }
      classes[i] = this.info.loss === 'bernoulli' ? (mu[0] > 0.5 ? 1 : 0) : best;
    }
    const labels = this.info.labels!;
    return { n: rows, outputs, classes, labels: Array.from(classes, (c) => labels[c]), probabilities };
  }

  /** Class indices of labels as written in the data (categorical, bernoulli); a RangeError names a label the model does not know. */
  encodeLabels(values: readonly (string | number)[]): Floats {
    const labels = this.info.labels;
    if (!labels) throw new RangeError('encodeLabels: a gaussian model has no class labels');
    // the rule of encodeLabels (data/labels.ts): numeric labels match by value ("1.0" is "1")
    const numeric = labels.every((l) => NUMBER.test(l));
    const index = new Map(labels.map((l, c) => [l, c]));
    return toDtype(
      this.model.dtype,
      values.map((v, i) => {
        const key = numeric && NUMBER.test(String(v)) ? String(Number(v)) : String(v);
        const c = index.get(key);
        if (c === undefined)
          throw new RangeError(`evaluate: row ${i} has the label ${JSON.stringify(v)}, which the model does not know (its labels: ${labels.join(', ')})`);
        return c;
      })
    );
  }

  /**
   * The loss and accuracy (or RMSE) on raw inputs x and targets y: class labels as written in the data
   * (strings or numbers) or class indices as a Float32Array for categorical and bernoulli; the target
   * values [n, targets] for gaussian.
   */
  evaluate(x: InputRows, y: Floats | readonly (string | number)[], n?: number): Evaluation {
    const { xs, n: rows } = this.prepare('evaluate', x, n);
    const ys =
      y instanceof Float32Array || y instanceof Float64Array
        ? (checkDtype('evaluate', 'y', y, this.model.dtype), y)
        : this.info.labels
          ? this.encodeLabels(y)
          : toDtype(this.model.dtype, y as readonly number[]);
    const tw = this.family.targetWidth(this.model.outDim);
    if (ys.length !== rows * tw) throw new RangeError(`evaluate: y must hold ${rows * tw} values (${rows} rows × ${tw}), got ${ys.length}`);
    const { loss, acc } = evaluateModel(this.model, this.family, { x: xs, y: ys, n: rows, inDim: this.model.inDim });
    if (this.info.loss !== 'gaussian') return { loss, accuracy: acc };
    const eta = this.model.forward(xs, rows);
    let sq = 0;
    for (let i = 0; i < ys.length; i++) sq += (eta[i] - ys[i]) ** 2;
    return { loss, rmse: Math.sqrt(sq / ys.length) };
  }

  toJSON(): ModelBundleJSON {
    return { format: BUNDLE_FORMAT, version: BUNDLE_VERSION, ...this.info, model: this.model.toJSON() };
  }

  /** Writes the bundle to `file` atomically (a crash leaves the old file or the new one). */
  save(file: string): void {
    writeFileAtomic(file, Buffer.from(JSON.stringify(this.toJSON())));
  }
}

/**
 * A bundle from a folder (its model.json), a file, or the parsed JSON. Errors name the file and what is
 * wrong: not found, not JSON, not a natgrad model, a newer version.
 */
export function loadModel(source: string | ModelBundleJSON): ModelBundle {
  let json: unknown = source;
  let name = '<json>';
  if (typeof source === 'string') {
    name = fs.existsSync(source) && fs.statSync(source).isDirectory() ? path.join(source, 'model.json') : source;
    let text: string;
    try {
      text = fs.readFileSync(name, 'utf8');
    } catch (e) {
      throw new Error(`loadModel: cannot read ${name} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new Error(`loadModel: ${name} is not JSON (${(e as Error).message})`);
    }
  }
  const j = json as Partial<ModelBundleJSON> | null;
  if (typeof j !== 'object' || j === null || j.format !== BUNDLE_FORMAT)
    throw new Error(
      `loadModel: ${name} is not a natgrad model bundle (format '${BUNDLE_FORMAT}'); a bare model from model.toJSON() loads with sequential.fromJSON`
    );
  if (j.version !== BUNDLE_VERSION) throw new Error(`loadModel: ${name} has version ${describe(j.version)}; this natgrad reads version ${BUNDLE_VERSION}`);
  try {
    const { format: _f, version: _v, model, ...info } = j as ModelBundleJSON;
    return new ModelBundle(fromJSON(model), info);
  } catch (e) {
    throw new Error(`loadModel: ${name}: ${(e as Error).message}`);
  }
}

/**
 * predict() for a bare model (no bundle): the inputs are used as they are (no standardization), and the
 * classes are named by their indices ('0', '1', …). For raw data and named labels, use a bundle.
 */
export function predict(model: Sequential, loss: LossName, x: InputRows, n?: number): Prediction {
  const classes = loss === 'categorical' ? model.outDim : loss === 'bernoulli' ? 2 : 0;
  const bundle = new ModelBundle(model, {
    loss,
    inputs: Array.from({ length: model.inDim }, (_, i) => `x${i}`),
    standardize: null,
    targets: Array.from({ length: loss === 'gaussian' ? model.outDim : 1 }, (_, i) => `y${i}`),
    labels: classes ? Array.from({ length: classes }, (_, c) => String(c)) : null,
  });
  return bundle.predict(x, n);
}
