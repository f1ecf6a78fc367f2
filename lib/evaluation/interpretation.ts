// One object for "how did the model do on this set": everything the notebook's
// evaluation section shows, computed once from one pass over the set (as
// fastai's ClassificationInterpretation does): loss and accuracy, each
// sample's probabilities and prediction, the confusion matrix, per-class
// precision, recall, F1 and support, and the mistakes ranked by confidence.
//
// One rule for a class that leaves a score without a denominator (never
// predicted: no precision; absent from the set: no recall): the score is
// undefined, NaN, and averages leave it out. classScores, classReport and
// perClassAccuracy follow the same rule.
import type pl from "nodejs-polars";
import { tf } from "../runtime/tf";
import { CLASS_NAMES } from "../data/samples";
import { checkSamples } from "../data/checks";
import { FORWARD_BATCH_SIZE } from "../training/tensors";
import { classReport, classScores, confidentMistakes, type ClassScores, type Mistake } from "./scores";
import { confusionMatrix, topConfusions, type Confusion } from "./metrics";
import {
  evaluate,
  firstMistakePerClass,
  predict,
  type Evaluation,
  type LabeledImages,
  type Predictions,
} from "../training/train";

/**
 * How a model does on a labelled set, computed once by {@link interpret}:
 * loss, accuracy, each sample's probabilities and predicted class, the
 * confusion matrix and per-class scores, with methods for the report table,
 * the most confused pairs and the most confident mistakes. Scores a class
 * leaves without a denominator are NaN (see {@link classScores}).
 */
export class Interpretation implements Evaluation, Predictions {
  /** Mean cross-entropy loss over the set. */
  readonly loss: number;
  /** Share of samples predicted right, from 0 to 1. */
  readonly accuracy: number;
  /** Class probabilities, CLASS_NAMES.length per sample, row-major. */
  readonly probabilities: Float32Array;
  /** The most likely class (0-9) of each sample. */
  readonly predicted: Uint8Array;
  /** The set's labels (shared with the set, not copied). */
  readonly labels: Uint8Array;
  /** `confusion[t][p]`: the number of samples of true class t predicted as p. */
  readonly confusion: number[][];
  /** Precision, recall, F1 and support per class (NaN where undefined, see above). */
  readonly classes: ClassScores[];

  private constructor(evaluation: Evaluation, predictions: Predictions, labels: Uint8Array) {
    this.loss = evaluation.loss;
    this.accuracy = evaluation.accuracy;
    this.probabilities = predictions.probabilities;
    this.predicted = predictions.predicted;
    this.labels = labels;
    this.confusion = confusionMatrix(labels, this.predicted, CLASS_NAMES.length);
    this.classes = classScores(labels, this.predicted);
  }

  /**
   * Runs the model over the set once for its predictions and once for the loss (batched, native where it can).
   *
   * @throws InvalidInputError when the set is malformed, before any TensorFlow call.
   */
  static of(model: tf.LayersModel, set: LabeledImages, batchSize = FORWARD_BATCH_SIZE): Interpretation {
    checkSamples(set, "interpret", "set");
    return new Interpretation(evaluate(model, set, batchSize), predict(model, set, batchSize), set.labels);
  }

  /** The per-class table (class, precision, recall, f1, support) with macro and weighted averages, as a polars DataFrame. */
  report(): pl.DataFrame {
    return classReport(this.labels, this.predicted);
  }

  /** The k pairs of classes most often mixed up, most frequent first. */
  mostConfused(k = 3): Confusion[] {
    return topConfusions(this.confusion, k);
  }

  /** The `count` mistakes the model was most sure of. */
  mistakes(count = 10): Mistake[] {
    return confidentMistakes(this.labels, this.probabilities, count);
  }

  /** For each class, the first sample of it that was misclassified (-1: none). */
  firstMistakes(): number[] {
    return firstMistakePerClass(this.labels, this.predicted, CLASS_NAMES.length);
  }
}

/**
 * Evaluates a trained model on a labelled set in one go and returns an
 * {@link Interpretation}: loss, accuracy (0-1), probabilities, predictions,
 * confusion matrix and per-class precision, recall, F1 and support, computed
 * once so every chart and table of the evaluation reads the same numbers.
 * Images must be scaled as for training ([0, 1] for the seed's model);
 * `batchSize` (default 64) changes memory use, not the result.
 *
 * @param model - a trained, compiled tfjs LayersModel with 10 softmax outputs.
 * @param set - labelled samples, usually the test set, scaled as for training.
 * @param batchSize - samples per forward pass.
 * @throws InvalidInputError when the set is malformed (a label outside 0-9, a
 *   pixel out of range or NaN, lengths that disagree), before any TensorFlow call.
 *
 * @example
 * ```ts
 * const test = fm.normalizeSet(data.test);
 * const result = fm.interpret(model, test);
 * console.log(result.accuracy); // e.g. 0.904
 * fm.showFrame(result.report()); // precision, recall, f1, support per class
 * fm.showPlotly(fm.confusionMatrixFigure(result.confusion));
 * result.mostConfused(3); // e.g. Shirt taken for T-shirt/top first
 * ```
 */
export function interpret(model: tf.LayersModel, set: LabeledImages, batchSize = FORWARD_BATCH_SIZE): Interpretation {
  return Interpretation.of(model, set, batchSize);
}
