// Checks a set of samples where it enters the library (fit, evaluate, predict,
// interpret), before any TensorFlow call: the shape of the set, labels that are
// class indices, images that are raw bytes or floats scaled to [0, 1]. One
// error type for all of it, naming the call, the set, the sample and the value.
// One pass over each array: about 30 ms for 60,000 images as floats (docs/operations.md, reliability table).
import { CLASSES, PIXELS } from "./samples";

/**
 * Which part of a set {@link InvalidInputError} is about: the whole set (its
 * type), its `count`, its `images` or its `labels`.
 */
export type InputPart = "set" | "count" | "images" | "labels";

/**
 * A set of samples that {@link fit}, {@link evaluate}, {@link predict} or
 * {@link interpret} refuse, checked before any TensorFlow call: a label that
 * is not a class 0-9, an image value that is neither a byte 0-255 nor a float
 * in [0, 1] (NaN included), or lengths that disagree with `count`. The message
 * names the call, the set, the sample and the value.
 */
export class InvalidInputError extends Error {
  /** The call that was given the set: "fit", "evaluate", "predict", "interpret". */
  readonly caller: string;
  /** The set's name: "train" or "validation" for fit, the argument's name ("set") otherwise. */
  readonly set: string;
  /** Which part of the set is wrong. */
  readonly part: InputPart;
  /** The sample (image and label number) at fault; undefined when the whole set is (a length, a type). */
  readonly index: number | undefined;
  /** The offending value (a label, a pixel value, a length, a type name). */
  readonly value: unknown;
  constructor(caller: string, set: string, part: InputPart, index: number | undefined, value: unknown, detail: string) {
    super(`${caller}: ${set}${part === "set" ? "" : ` ${part}`}: ${detail}`);
    this.name = "InvalidInputError";
    this.caller = caller;
    this.set = set;
    this.part = part;
    this.index = index;
    this.value = value;
  }
}

function typeName(x: unknown): string {
  if (x === null) return "null";
  if (typeof x !== "object") return typeof x;
  return (x as object).constructor?.name ?? "object";
}

/**
 * Throws InvalidInputError unless `set` is `{ images, labels, count }` with
 * count * PIXELS image values (a Uint8Array of raw bytes, or a Float32Array of
 * finite values in [0, 1] as normalizeSet makes them) and count labels, each a
 * whole number in [0, classes). Written for JavaScript callers too: any
 * array-like labels (a plain array, a Float32Array) are checked value by value.
 */
export function checkSamples(set: unknown, caller: string, name: string, classes = CLASSES): void {
  const fail = (part: InputPart, index: number | undefined, value: unknown, detail: string): never => {
    throw new InvalidInputError(caller, name, part, index, value, detail);
  };
  if (typeof set !== "object" || set === null) {
    fail("set", undefined, set, `expected a set of samples { images, labels, count } as loadFashionMnist returns, got ${typeName(set)}.`);
  }
  const { images, labels, count } = set as { images: unknown; labels: unknown; count: unknown };
  if (typeof count !== "number" || !Number.isInteger(count) || count <= 0) {
    fail("count", undefined, count, `no samples (count is ${String(count)}); pass a set with at least one image.`);
  }
  const n = count as number;
  if (!(images instanceof Uint8Array) && !(images instanceof Float32Array)) {
    fail(
      "images",
      undefined,
      typeName(images),
      `${typeName(images)} given, expected a Uint8Array of raw bytes (0 to 255) or a Float32Array scaled to [0, 1] ` +
        `(normalizeSet); convert it with Uint8Array.from(...) or Float32Array.from(...).`,
    );
  }
  const pixels = images as Uint8Array | Float32Array;
  if (pixels.length !== n * PIXELS) {
    fail(
      "images",
      undefined,
      pixels.length,
      `${pixels.length} values, expected ${n} x ${PIXELS} = ${n * PIXELS} (${n} images of 28 x 28 pixels); ` +
        `pass whole images, as loadFashionMnist returns them, and a count that matches.`,
    );
  }
  if (typeof labels !== "object" || labels === null || typeof (labels as ArrayLike<number>).length !== "number") {
    fail("labels", undefined, typeName(labels), `${typeName(labels)} given, expected a Uint8Array of class indices, one per image.`);
  }
  const ys = labels as ArrayLike<number>;
  if (ys.length !== n) {
    fail("labels", undefined, ys.length, `${ys.length} labels for ${n} images; pass one label per image.`);
  }
  const bad = firstBadLabel(ys, classes);
  if (bad >= 0) {
    const v = ys[bad];
    const why = typeof v === "number" && Number.isInteger(v) ? "is not a class" : "is not a whole number";
    fail(
      "labels",
      bad,
      v,
      `label ${String(v)} at index ${bad} ${why}: labels must be whole numbers from 0 to ${classes - 1} ` +
        `(the class's place in CLASS_NAMES). Correct or remove that sample; the labels loadFashionMnist returns are always valid.`,
    );
  }
  if (pixels instanceof Float32Array) {
    const at = firstOutOfUnit(pixels);
    if (at >= 0) {
      const v = pixels[at];
      const image = Math.floor(at / PIXELS);
      const where = `image ${image} holds ${v} at pixel ${at % PIXELS} (images[${at}])`;
      fail(
        "images",
        image,
        v,
        Number.isFinite(v)
          ? `${where}, outside [0, 1]: images in a Float32Array must be scaled to [0, 1] as normalizeSet makes them. ` +
              `Divide raw pixel values by 255 (normalizeSet), or pass the raw bytes as a Uint8Array.`
          : `${where}: image values must be finite numbers. Correct or remove that image.`,
      );
    }
  }
}

/** The first label that is not a whole number in [0, classes), or -1. */
function firstBadLabel(ys: ArrayLike<number>, classes: number): number {
  if (ys instanceof Uint8Array) {
    for (let i = 0; i < ys.length; i++) if (ys[i] >= classes) return i;
    return -1;
  }
  for (let i = 0; i < ys.length; i++) {
    const v = ys[i];
    if (!(typeof v === "number" && v >= 0 && v < classes && Math.floor(v) === v)) return i;
  }
  return -1;
}

/** The first value that is not in [0, 1] (NaN and infinities included), or -1. */
function firstOutOfUnit(xs: Float32Array): number {
  for (let i = 0; i < xs.length; i++) {
    const v = xs[i];
    if (!(v >= 0 && v <= 1)) return i;
  }
  return -1;
}
