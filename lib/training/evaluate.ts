// A trained model on a labelled set: loss and accuracy, class probabilities and predictions.
import { tf } from "../runtime/tf";
import { checkMemoryPressure } from "../runtime/memory";
import { CLASSES, type LabeledImages } from "../data/samples";
import { NativeTrainer } from "./native/native-train";
import { checkSet, FORWARD_BATCH_SIZE, toTensors } from "./tensors";

/** A model's loss and accuracy on a set, as {@link evaluate} returns them. */
export interface Evaluation {
  /** Mean sparse categorical cross-entropy over the set (natural log). */
  loss: number;
  /** Share of samples whose most likely class is the label, from 0 to 1. */
  accuracy: number;
}

/**
 * Loss and accuracy of a trained model on a labelled set, like Keras's
 * `model.evaluate`, `batchSize` samples at a time (default 64; it changes
 * memory use, not the result). Images must be scaled as the model was trained
 * (the seed's: [0, 1]).
 *
 * @param model - a trained, compiled tfjs LayersModel.
 * @param set - labelled samples, scaled as for training.
 * @param batchSize - samples per forward pass.
 * @throws InvalidInputError when the set is malformed (a label outside 0-9, a
 *   pixel out of range or NaN, lengths that disagree), before any TensorFlow call.
 */
export function evaluate(model: tf.LayersModel, set: LabeledImages, batchSize = FORWARD_BATCH_SIZE): Evaluation {
  // The seed's kind of model is evaluated by the native forward pass, batch by
  // batch from the images as they are: no full-size input tensor (31 MB for
  // the test set) and none of tfjs-layers' intermediate tensors (about 75 MB
  // of peak memory for the 10,000 test images).
  checkSet(set, "evaluate", "set");
  checkMemoryPressure("Evaluation");
  const native = process.env.FMNIST_TRAINER === "layers" ? undefined : NativeTrainer.create(model);
  if (native !== undefined && typeof native !== "string") {
    try {
      return native.evaluate(set, batchSize);
    } finally {
      native.dispose();
    }
  }
  const { x, y } = toTensors(set, "evaluate", "set");
  try {
    const out = model.evaluate(x, y, { batchSize }) as tf.Scalar[];
    const [loss, accuracy] = out.map((t) => t.dataSync()[0]);
    tf.dispose(out);
    return { loss, accuracy };
  } finally {
    tf.dispose([x, y]);
  }
}

/** A model's output on a set, as {@link predict} returns it. */
export interface Predictions {
  /** Class probabilities, 10 per sample, row-major. */
  probabilities: Float32Array;
  /** The most likely class per sample. */
  predicted: Uint8Array;
}

/**
 * The model's class probabilities (10 per sample, each row summing to 1) and
 * its most likely class for every sample of a set, `batchSize` samples at a
 * time (default 64). The labels are checked but not used.
 *
 * @param model - a trained tfjs LayersModel with 10 softmax outputs.
 * @param set - samples, scaled as for training.
 * @param batchSize - samples per forward pass.
 * @throws InvalidInputError when the set is malformed, before any TensorFlow call.
 */
export function predict(model: tf.LayersModel, set: LabeledImages, batchSize = FORWARD_BATCH_SIZE): Predictions {
  checkMemoryPressure("Prediction");
  const { x, y } = toTensors(set, "predict", "set");
  try {
    const probs = model.predict(x, { batchSize }) as tf.Tensor2D;
    const labels = probs.argMax(1);
    const result = { probabilities: probs.dataSync() as Float32Array, predicted: Uint8Array.from(labels.dataSync()) };
    tf.dispose([probs, labels]);
    return result;
  } finally {
    tf.dispose([x, y]);
  }
}

/**
 * For each class, the first test sample of that class the model got wrong
 * (-1 when it got all of them right), as in the seed's section 5.3. Returns
 * sample indices, one per class.
 *
 * @throws Error when `labels` and `predicted` differ in length.
 */
export function firstMistakePerClass(labels: Uint8Array, predicted: Uint8Array, classes = CLASSES): number[] {
  if (labels.length !== predicted.length) {
    throw new Error(`firstMistakePerClass: ${labels.length} labels but ${predicted.length} predictions`);
  }
  const found = new Array<number>(classes).fill(-1);
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] !== predicted[i] && found[labels[i]] === -1) found[labels[i]] = i;
  }
  return found;
}
