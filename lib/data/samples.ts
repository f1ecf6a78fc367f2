// What Fashion-MNIST samples are, named once for the whole library: the image
// size, the pixel count, the classes, and the one type for a set of samples.

/** Images are IMAGE_SIZE x IMAGE_SIZE grayscale pixels. */
export const IMAGE_SIZE = 28;
/** Values per image (28 x 28). */
export const PIXELS = IMAGE_SIZE * IMAGE_SIZE;

/** The ten classes, in label order (label 0 is "T-shirt/top"). */
export const CLASS_NAMES: readonly string[] = [
  "T-shirt/top",
  "Trouser",
  "Pullover",
  "Dress",
  "Coat",
  "Sandal",
  "Shirt",
  "Sneaker",
  "Bag",
  "Ankle boot",
];
/** The number of classes (10). */
export const CLASSES = CLASS_NAMES.length;

/**
 * A set of samples: `images` holds count * PIXELS values (raw bytes 0..255 as
 * loaded, or floats in [0, 1] after normalizeSet), `labels` count class indices.
 * The loader's splits, training and validation data, a test set with its
 * predictions: all are this.
 */
export interface LabeledImages<T extends Uint8Array | Float32Array = Uint8Array | Float32Array> {
  images: T;
  labels: Uint8Array;
  count: number;
}
