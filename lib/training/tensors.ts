// Samples as tfjs tensors and as the native trainer's floats, checked first.
import { tf } from "../runtime/tf";
import { normalize } from "../data/dataset";
import { IMAGE_SIZE, PIXELS, type LabeledImages } from "../data/samples";

/** Normalized [N, 28, 28, 1] images and [N, 1] labels, ready for fit/evaluate. */
export function toTensors(set: LabeledImages, what = "data"): { x: tf.Tensor4D; y: tf.Tensor2D } {
  checkSet(set, what);
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

export function checkSet(set: LabeledImages, what: string): void {
  if (!set || !(set.count > 0)) throw new Error(`${what}: no samples (count is ${set?.count})`);
  if (set.images.length !== set.count * PIXELS) {
    throw new Error(
      `${what}: images hold ${set.images.length} bytes, expected ${set.count} x ${PIXELS} = ${set.count * PIXELS}`,
    );
  }
  if (set.labels.length !== set.count) {
    throw new Error(`${what}: ${set.labels.length} labels for ${set.count} images`);
  }
}

export function floatImages(set: LabeledImages): LabeledImages<Float32Array> {
  return {
    images: set.images instanceof Uint8Array ? normalize(set.images) : set.images,
    labels: set.labels,
    count: set.count,
  };
}
