// Samples as tfjs tensors and as the native trainer's floats, checked first.
import { tf } from "../runtime/tf";
import { normalize } from "../data/dataset";
import { IMAGE_SIZE, type LabeledImages } from "../data/samples";
import { checkSamples } from "../data/checks";

/**
 * Samples per step where a trained model only runs forward (evaluate, predict,
 * interpret, and validation during fit). TensorFlow's oneDNN kernels keep
 * buffers sized by the largest batch they have run: after interpreting 1,000
 * test images a process held 112 MB more at 256 per batch and 36 MB more at
 * 64, in the same time and with the same results (measured 2026-12-07).
 */
export const FORWARD_BATCH_SIZE = 64;

/** Normalized [N, 28, 28, 1] images and [N, 1] labels, ready for fit/evaluate. */
export function toTensors(set: LabeledImages, caller = "toTensors", name = "set"): { x: tf.Tensor4D; y: tf.Tensor2D } {
  checkSet(set, caller, name);
  return tf.tidy(() => ({
    x: tf.tensor4d(set.images instanceof Uint8Array ? normalize(set.images) : set.images, [
      set.count,
      IMAGE_SIZE,
      IMAGE_SIZE,
      1,
    ]),
    y: tf.tensor2d(Float32Array.from(set.labels), [set.count, 1]),
  }));
}

/** Checks a set where it enters (see data/checks.ts): InvalidInputError naming the call, the set, the sample and the value. */
export function checkSet(set: LabeledImages, caller: string, name: string): void {
  checkSamples(set, caller, name);
}
