// What Fashion-MNIST samples are, named once for the whole library: the image
// size, the pixel count, the classes, and the one type for a set of samples.

/** Side of an image in pixels (28): each image is 28 x 28 grayscale pixels, row by row. */
export const IMAGE_SIZE = 28;
/** Values per image: 784 (28 x 28), one per pixel. */
export const PIXELS = IMAGE_SIZE * IMAGE_SIZE;

/** The ten class names, indexed by label (label 0 is "T-shirt/top", 9 is "Ankle boot"). */
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
/** The number of classes (10); a label is a whole number from 0 to 9. */
export const CLASSES = CLASS_NAMES.length;

/**
 * A set of samples: `images` holds count * PIXELS values (raw bytes 0..255 as
 * loaded, or floats in [0, 1] after normalizeSet), `labels` count class indices.
 * The loader's splits, training and validation data, a test set with its
 * predictions: all are this. Images are row-major, one after another (image i
 * starts at i * PIXELS); `count` is the number of samples.
 */
export interface LabeledImages<T extends Uint8Array | Float32Array = Uint8Array | Float32Array> {
  /** count * PIXELS pixel values, image after image, each row by row. */
  images: T;
  /** One class index (0-9) per sample. */
  labels: Uint8Array;
  /** The number of samples. */
  count: number;
}
