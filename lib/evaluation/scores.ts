/**
 * Scores of predictions against labels: per-class precision, recall, F1 and
 * support (and the report table with averages), and the mistakes the model was
 * most sure about. Every function checks its input and throws an Error that
 * names the offending argument (empty, mismatched lengths, NaN, out-of-range
 * classes); the checks are shared with the figures in display/.
 */
import type pl from "nodejs-polars";
import { polars } from "../runtime/polars";
import { CLASS_NAMES } from "../data/samples";

// ---------------------------------------------------------------------------
// Input checks
// ---------------------------------------------------------------------------

export type IntList = ArrayLike<number>;

export function isList(v: unknown): v is IntList {
  return Array.isArray(v) || (ArrayBuffer.isView(v) && !(v instanceof DataView));
}

export function describe(v: unknown): string {
  if (typeof v !== "number") return `not a number (${v === null ? "null" : typeof v})`;
  return Number.isNaN(v) ? "NaN" : String(v);
}

/** A non-empty list of class indices in 0..classes-1. */
export function classList(fn: string, name: string, list: unknown, classes: number): IntList {
  if (list === undefined || list === null) throw new Error(`${fn}: ${name} is missing`);
  if (!isList(list)) throw new Error(`${fn}: ${name} must be an array of class indices`);
  if (list.length === 0) throw new Error(`${fn}: ${name} is empty`);
  for (let i = 0; i < list.length; i++) {
    const v: unknown = list[i];
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v >= classes) {
      throw new Error(`${fn}: ${name}[${i}] is ${describe(v)}, expected a class index in 0..${classes - 1}`);
    }
  }
  return list;
}

export function classNameList(fn: string, name: string, names: unknown): readonly string[] {
  if (!Array.isArray(names) || names.length === 0)
    throw new Error(`${fn}: ${name} must be a non-empty array of strings`);
  names.forEach((n, i) => {
    if (typeof n !== "string" || n.trim() === "") throw new Error(`${fn}: ${name}[${i}] must be a non-empty string`);
  });
  if (new Set(names).size !== names.length) throw new Error(`${fn}: ${name} has duplicate names`);
  return names as string[];
}

export function sameLength(fn: string, a: { name: string; list: IntList }, b: { name: string; list: IntList }): void {
  if (a.list.length !== b.list.length) {
    throw new Error(`${fn}: ${b.name} has ${b.list.length} values but ${a.name} has ${a.list.length}`);
  }
}

/** A square matrix of non-negative integer counts matching `classNames`. */
export function countMatrix(fn: string, matrix: unknown, classes: number): number[][] {
  if (!Array.isArray(matrix) || matrix.length === 0) throw new Error(`${fn}: matrix must be a non-empty array of rows`);
  if (matrix.length !== classes) {
    throw new Error(`${fn}: matrix has ${matrix.length} rows but classNames has ${classes} names`);
  }
  return matrix.map((row: unknown, t) => {
    if (!isList(row) || row.length !== classes) {
      throw new Error(`${fn}: matrix[${t}] must hold ${classes} counts (one per class)`);
    }
    return Array.from(row, (v: unknown, p) => {
      if (typeof v !== "number" || !Number.isInteger(v) || v < 0) {
        throw new Error(`${fn}: matrix[${t}][${p}] is ${describe(v)}, expected a count (non-negative integer)`);
      }
      return v;
    });
  });
}

// ---------------------------------------------------------------------------
// Per-class precision / recall / F1 / support
// ---------------------------------------------------------------------------

/** Per-class numbers, also used by {@link classReport}. */
export interface ClassScores {
  /** The class's name (from CLASS_NAMES by default). */
  className: string;
  /** Of the samples predicted as this class, the share that are (0-1; NaN if never predicted). */
  precision: number;
  /** Of the samples of this class, the share predicted right (0-1; NaN if none in the set). */
  recall: number;
  /** Harmonic mean of precision and recall (0-1; NaN when either is). */
  f1: number;
  /** Number of samples of this class in the set. */
  support: number;
}

/**
 * Precision, recall, F1 and support (number of true samples) per class.
 * A score without a denominator is undefined, NaN: the precision of a class
 * never predicted, the recall of a class not in the set (and their F1). The
 * averages of {@link classReport} leave such scores out.
 *
 * @throws Error naming the argument when a list is missing or empty, the
 *   lengths differ, a value is not a class index, or `classNames` has empty
 *   or duplicate names.
 */
export function classScores(
  labels: ArrayLike<number>,
  predicted: ArrayLike<number>,
  classNames: readonly string[] = CLASS_NAMES,
): ClassScores[] {
  return scoresOf("classScores", labels, predicted, classNames);
}

function scoresOf(
  fn: string,
  labels: ArrayLike<number>,
  predicted: ArrayLike<number>,
  classNames: readonly string[],
): ClassScores[] {
  const names = classNameList(fn, "classNames", classNames);
  const k = names.length;
  const l = classList(fn, "labels", labels, k);
  const p = classList(fn, "predicted", predicted, k);
  sameLength(fn, { name: "labels", list: l }, { name: "predicted", list: p });
  const tp = new Array<number>(k).fill(0);
  const support = new Array<number>(k).fill(0);
  const predictedCount = new Array<number>(k).fill(0);
  for (let i = 0; i < l.length; i++) {
    support[l[i]]++;
    predictedCount[p[i]]++;
    if (l[i] === p[i]) tp[l[i]]++;
  }
  return names.map((className, c) => {
    const precision = predictedCount[c] === 0 ? NaN : tp[c] / predictedCount[c];
    const recall = support[c] === 0 ? NaN : tp[c] / support[c];
    const f1 = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
    return { className, precision, recall, f1, support: support[c] };
  });
}

/**
 * The per-class scores as a polars DataFrame with columns
 * class, precision, recall, f1, support, followed by two summary rows:
 * "macro avg" (plain mean over classes) and "weighted avg" (weighted by support),
 * each over the classes whose score is defined.
 *
 * @throws Error naming the argument, as {@link classScores} does.
 */
export function classReport(
  labels: ArrayLike<number>,
  predicted: ArrayLike<number>,
  classNames: readonly string[] = CLASS_NAMES,
): pl.DataFrame {
  const rows = scoresOf("classReport", labels, predicted, classNames);
  const n = rows.reduce((s, r) => s + r.support, 0);
  const mean = (key: "precision" | "recall" | "f1", weighted: boolean) => {
    const defined = rows.filter((r) => !Number.isNaN(r[key]));
    const weight = (r: ClassScores) => (weighted ? r.support : 1);
    const total = defined.reduce((s, r) => s + weight(r), 0);
    return total === 0 ? NaN : defined.reduce((s, r) => s + r[key] * weight(r), 0) / total;
  };
  const all = [
    ...rows,
    {
      className: "macro avg",
      precision: mean("precision", false),
      recall: mean("recall", false),
      f1: mean("f1", false),
      support: n,
    },
    {
      className: "weighted avg",
      precision: mean("precision", true),
      recall: mean("recall", true),
      f1: mean("f1", true),
      support: n,
    },
  ];
  const pl = polars();
  const column = <K extends keyof ClassScores>(name: string, key: K, dtype: Parameters<typeof pl.Series>[2]) =>
    pl.Series(
      name,
      all.map((r) => r[key]),
      dtype,
    );
  return pl.DataFrame({
    class: column("class", "className", pl.Utf8),
    precision: column("precision", "precision", pl.Float64),
    recall: column("recall", "recall", pl.Float64),
    f1: column("f1", "f1", pl.Float64),
    support: column("support", "support", pl.Int64),
  });
}

// ---------------------------------------------------------------------------
// Most confident mistakes
// ---------------------------------------------------------------------------

/** A misclassified sample, as picked by {@link confidentMistakes}. */
export interface Mistake {
  /** The sample's index in the set. */
  index: number;
  /** Its label (0-9). */
  trueClass: number;
  /** The class the model gave it (0-9). */
  predictedClass: number;
  /** The probability the model gave its (wrong) prediction. */
  confidence: number;
}

/**
 * The `count` misclassified samples with the highest predicted probability,
 * most confident first (ties broken by sample index).
 *
 * `probabilities` holds `classes` values per sample, row-major, as returned by
 * `predict`; the predicted class is the arg-max of each row.
 *
 * @throws Error naming the argument when `count` is not a positive whole
 *   number, a list is empty, the lengths disagree (labels x classes), a label
 *   is not a class, or a probability is not in [0, 1] (NaN included).
 */
export function confidentMistakes(
  labels: ArrayLike<number>,
  probabilities: ArrayLike<number>,
  count = 10,
  classes = CLASS_NAMES.length,
): Mistake[] {
  return findMistakes("confidentMistakes", "labels", "probabilities", labels, probabilities, count, classes);
}

export function findMistakes(
  fn: string,
  labelsName: string,
  probsName: string,
  labels: ArrayLike<number>,
  probabilities: ArrayLike<number>,
  count: number,
  classes: number,
): Mistake[] {
  if (!Number.isInteger(count) || count < 1)
    throw new Error(`${fn}: count must be a positive integer, got ${String(count)}`);
  const l = classList(fn, labelsName, labels, classes);
  if (!isList(probabilities) || probabilities.length === 0)
    throw new Error(`${fn}: ${probsName} must be a non-empty array`);
  if (probabilities.length !== l.length * classes) {
    throw new Error(
      `${fn}: ${probsName} has ${probabilities.length} values but ${labelsName} has ${l.length} samples x ${classes} classes = ${l.length * classes}`,
    );
  }
  const mistakes: Mistake[] = [];
  for (let i = 0; i < l.length; i++) {
    let best = 0;
    for (let c = 0; c < classes; c++) {
      const v = probabilities[i * classes + c];
      if (typeof v !== "number" || !Number.isFinite(v) || v < 0 || v > 1) {
        throw new Error(
          `${fn}: ${probsName}[${i * classes + c}] (sample ${i}, class ${c}) is ${describe(v)}, expected a probability in [0, 1]`,
        );
      }
      if (v > probabilities[i * classes + best]) best = c;
    }
    if (best !== l[i])
      mistakes.push({ index: i, trueClass: l[i], predictedClass: best, confidence: probabilities[i * classes + best] });
  }
  return mistakes.sort((a, b) => b.confidence - a.confidence || a.index - b.index).slice(0, count);
}

/**
 * The most confident mistakes as an image grid: each tile shows the image, its
 * true class, the prediction and the probability the model gave it.
 */
