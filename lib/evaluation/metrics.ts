import { CLASSES } from "../data/samples";

// Counting what the model got right and wrong.

/**
 * The confusion matrix: `counts[t][p]` is how many samples of true class t
 * were predicted as p (`classes` x `classes`, default 10 x 10).
 *
 * @throws Error when the lengths differ or a label or prediction is outside 0..classes - 1.
 */
export function confusionMatrix(
  labels: ArrayLike<number>,
  predicted: ArrayLike<number>,
  classes = CLASSES,
): number[][] {
  if (labels.length !== predicted.length) {
    throw new Error(`confusionMatrix: ${labels.length} labels but ${predicted.length} predictions`);
  }
  const counts = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  for (let i = 0; i < labels.length; i++) {
    const t = labels[i];
    const p = predicted[i];
    if (!(t >= 0 && t < classes && p >= 0 && p < classes)) {
      throw new Error(`confusionMatrix: sample ${i} has label ${t} / prediction ${p}, outside 0..${classes - 1}`);
    }
    counts[t][p]++;
  }
  return counts;
}

/**
 * The share of samples whose prediction equals the label, from 0 to 1.
 *
 * @throws Error when there are no samples.
 */
export function accuracyOf(labels: ArrayLike<number>, predicted: ArrayLike<number>): number {
  if (labels.length === 0) throw new Error("accuracyOf: no samples");
  let right = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i] === predicted[i]) right++;
  return right / labels.length;
}

/** One cell of a confusion matrix off its diagonal: a kind of mistake and how often it happened. */
export interface Confusion {
  /** The class the samples are (0-9). */
  trueClass: number;
  /** The class the model said (0-9). */
  predictedClass: number;
  /** How many samples. */
  count: number;
}

/** The k largest off-diagonal cells of a confusion matrix (the most frequent mistakes), largest first; empty cells are left out. */
export function topConfusions(matrix: number[][], k = 3): Confusion[] {
  const cells: Confusion[] = [];
  matrix.forEach((row, t) =>
    row.forEach((count, p) => {
      if (t !== p && count > 0) cells.push({ trueClass: t, predictedClass: p, count });
    }),
  );
  return cells.sort((a, b) => b.count - a.count).slice(0, k);
}

/** Per-class recall from a confusion matrix (share of each true class predicted correctly, 0-1); NaN for a class not in the set. */
export function perClassAccuracy(matrix: number[][]): number[] {
  return matrix.map((row, t) => {
    const total = row.reduce((a, b) => a + b, 0);
    return total === 0 ? NaN : row[t] / total;
  });
}
