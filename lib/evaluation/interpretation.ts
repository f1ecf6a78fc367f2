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

export class Interpretation implements Evaluation, Predictions {
  readonly loss: number;
  readonly accuracy: number;
  /** Class probabilities, CLASS_NAMES.length per sample, row-major. */
  readonly probabilities: Float32Array;
  readonly predicted: Uint8Array;
  readonly labels: Uint8Array;
  /** confusion[t][p]: samples of true class t predicted as p. */
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

  /** Runs the model over the set once for its predictions and once for the loss (batched, native where it can). */
  static of(model: tf.LayersModel, set: LabeledImages, batchSize = 256): Interpretation {
    checkSamples(set, "interpret", "set");
    return new Interpretation(evaluate(model, set, batchSize), predict(model, set, batchSize), set.labels);
  }

  /** The per-class table with macro and weighted averages, as a polars DataFrame. */
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

/** Interpretation.of: how the model does on a labelled set, computed once. */
export function interpret(model: tf.LayersModel, set: LabeledImages, batchSize = 256): Interpretation {
  return Interpretation.of(model, set, batchSize);
}
