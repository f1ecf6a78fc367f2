/**
 * Fashion-MNIST: download (once, verified) and load into typed arrays.
 *
 *   const data = await loadFashionMnist();
 *   const { train, validation } = splitValidation(data.train);   // 48000 / 12000
 *   const x = normalize(train.images);                              // Float32 in [0, 1]
 */
import * as fsp from "fs/promises";
import * as path from "path";
import { fetchToCache, progressBar, Progress } from "./download";
import { inNotebook } from "../runtime/reporting";
import { dataDir } from "../runtime/paths";
import { IMAGE_SIZE, type LabeledImages } from "./samples";
import { checkMemoryPressure, isOutOfMemory, OutOfMemoryError } from "../runtime/memory";
import { IdxError, gunzipIdxAsync, gunzipIdxHead, gunzipImagesScaled, parseImages, parseLabels } from "./idx";

export interface FileSpec {
  name: string;
  /** SHA-256 of the .gz file (what downloads are checked against). */
  sha256: string;
  /** Official MD5 of the .gz file, as published by Zalando Research. */
  md5?: string;
  bytes?: number;
}

export type FileKey = "trainImages" | "trainLabels" | "testImages" | "testLabels";

/**
 * The four official Fashion-MNIST files (gzipped IDX): name, SHA-256 every
 * load checks, Zalando Research's MD5 and size in bytes (about 30 MB in all).
 */
export const FILES: Readonly<Record<FileKey, FileSpec>> = {
  trainImages: {
    name: "train-images-idx3-ubyte.gz",
    sha256: "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
    md5: "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    bytes: 26_421_880,
  },
  trainLabels: {
    name: "train-labels-idx1-ubyte.gz",
    sha256: "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
    md5: "25c81989df183df01b3e8a0aad5dffbe",
    bytes: 29_515,
  },
  testImages: {
    name: "t10k-images-idx3-ubyte.gz",
    sha256: "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
    md5: "bef4ecab320f06d8554ea6380940ec79",
    bytes: 4_422_102,
  },
  testLabels: {
    name: "t10k-labels-idx1-ubyte.gz",
    sha256: "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    md5: "bb300cfdad3c16e7a12a480ee83cd310",
    bytes: 5_148,
  },
};

/**
 * The dataset as {@link loadFashionMnist} returns it: pixels as bytes 0-255
 * (`Uint8Array`), or floats in [0, 1] (`Float32Array`) when loaded with
 * `scale: true`.
 */
export interface FashionMnist<T extends Uint8Array | Float32Array = Uint8Array> {
  /** The 60,000 training images and labels (the validation set is cut from these). */
  train: LabeledImages<T>;
  /** The 10,000 test images and labels. */
  test: LabeledImages<T>;
  /** Image height in pixels (28). */
  rows: number;
  /** Image width in pixels (28). */
  cols: number;
}

/** Options of {@link loadFashionMnist}; every one has a default. */
export interface LoadOptions {
  /** Cache folder (default `fashion-mnist/` in FMNIST_DATA_DIR, or else in the project's `data/`). */
  cacheDir?: string;
  /** Mirrors tried first (default: env FASHION_MNIST_MIRROR if set). */
  mirrors?: string[];
  /** Also try the official locations (default true). */
  officialMirrors?: boolean;
  /** Download progress; default is a progress bar on stderr unless `quiet`. */
  onProgress?: (p: Progress) => void;
  /** No progress output. */
  quiet?: boolean;
  /** Receives notices such as a corrupt cached copy being replaced (default: printed to stderr). */
  onWarning?: (message: string) => void;
  /** Per-request timeout in ms (default 30000). */
  timeoutMs?: number;
  /** Attempts per mirror (default 2). */
  attempts?: number;
  /** Replace entries of the file table (for tests and custom copies). */
  files?: Partial<Record<FileKey, FileSpec>>;
  /**
   * Return the images already scaled to [0, 1] (the same floats as
   * normalizeSet), scaling each piece while the next one inflates: a little
   * faster than loading then normalizing (0.44 against 0.48 s for all 70,000
   * images in fresh processes here), and the raw bytes are never held whole.
   */
  scale?: boolean;
  /**
   * Keep only the first N training images (and labels): only those are
   * inflated and held, so a run of 2,000 images holds 1.6 MB of pixels, not
   * 47 MB. Default: all 60,000. `RunConfig`'s `trainLimit`, as
   * `loadFashionMnist(cfg)` passes it; the same images as `takeFirst`.
   */
  trainLimit?: number;
  /** Keep only the first N test images (default all 10,000); see trainLimit. */
  testLimit?: number;
}

/**
 * The folder downloaded files are cached in: `fashion-mnist/` in
 * {@link dataDir} (FMNIST_DATA_DIR, or the project's `data/`). Not created here.
 *
 * @throws Error when no project folder is found, as {@link dataDir} says.
 */
export function defaultCacheDir(): string {
  return path.join(dataDir(), "fashion-mnist");
}

interface Fetched {
  path: string;
  data: Buffer;
}

async function readSplit(
  imagesFile: Fetched,
  labelsFile: Fetched,
  scale: boolean,
  limit: number | undefined,
): Promise<{ split: LabeledImages; rows: number; cols: number }> {
  const imagesName = path.basename(imagesFile.path);
  const labelsName = path.basename(labelsFile.path);
  // With a limit, only the first `limit` records of each file are inflated (and the
  // counts the two files declare are still compared).
  const head = (f: Fetched, name: string) =>
    limit === undefined ? undefined : gunzipIdxHead(f.data, name, limit);
  const [imagesHead, labelsHead] = [head(imagesFile, imagesName), head(labelsFile, labelsName)];
  const [images, labelsRaw] = await Promise.all([
    imagesHead
      ? imagesHead.then(({ bytes }) => {
          const parsed = parseImages(bytes, imagesName, { rows: IMAGE_SIZE, cols: IMAGE_SIZE });
          return { ...parsed, pixels: scale ? normalize(parsed.pixels) : plain(parsed.pixels) };
        })
      : scale
        ? gunzipImagesScaled(imagesFile.data, imagesName, { rows: IMAGE_SIZE, cols: IMAGE_SIZE })
        : gunzipIdxAsync(imagesFile.data, imagesName).then((raw) => {
            const parsed = parseImages(raw, imagesName, { rows: IMAGE_SIZE, cols: IMAGE_SIZE });
            return { ...parsed, pixels: plain(parsed.pixels) };
          }),
    labelsHead ? labelsHead.then(({ bytes }) => bytes) : gunzipIdxAsync(labelsFile.data, labelsName),
  ]);
  const labels = parseLabels(labelsRaw, labelsName);
  const declared = imagesHead && labelsHead ? [(await imagesHead).declaredCount, (await labelsHead).declaredCount] : [images.count, labels.count];
  if (declared[0] !== declared[1] || images.count !== labels.count) {
    throw new IdxError(
      imagesName,
      `${imagesName} holds ${declared[0]} images but ${labelsName} holds ${declared[1]} labels; ` +
        `the two files do not belong together. Delete both from ${path.dirname(imagesFile.path)} and download them again.`,
    );
  }
  return {
    split: { images: images.pixels, labels: plain(labels.labels), count: images.count },
    rows: images.rows,
    cols: images.cols,
  };
}

/** A plain Uint8Array view over the same memory (not a Buffer, so printing and slicing behave as usual). */
function plain(a: Uint8Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.length);
}

/**
 * Loads Fashion-MNIST (60,000 training and 10,000 test images of 28 x 28
 * pixels, labels 0-9), downloading missing files into the cache first (about
 * 30 MB, from FASHION_MNIST_MIRROR or `mirrors`, then the official
 * locations). All four files are checked against their SHA-256 on every
 * load; a download is written to a `.part` file and renamed only once
 * verified. With `scale: true` the pixels come as floats in [0, 1] (as
 * {@link normalizeSet} gives), otherwise as bytes 0-255. Progress is a bar
 * (a live one in a notebook) unless `quiet` or `onProgress`.
 *
 * @param opts - where to cache and download from, progress, and `scale`; see {@link LoadOptions}.
 *
 * @throws DownloadError when no mirror delivers a verified copy of a file
 *   (its `failures` say what each mirror did).
 * @throws CacheDirError when the cache folder cannot be created or written
 *   (read-only, disk full).
 * @throws IdxError when a file is not valid gzip/IDX or the images and labels
 *   files do not match.
 * @throws OutOfMemoryError when the images cannot be allocated.
 * @throws MemoryLimitError when the memory in use is already within the stop
 *   margin of a cgroup limit (nothing is read).
 *
 * @example
 * ```ts
 * import * as fm from "fashion-mnist-lib";
 * const data = await fm.loadFashionMnist({ scale: true });
 * const { train, validation } = fm.splitValidation(data.train); // 48,000 / 12,000
 * console.log(train.count, data.test.count, fm.valueRange(train.images)); // 48000 10000 [ 0, 1 ]
 * ```
 */
export async function loadFashionMnist(opts: LoadOptions & { scale: true }): Promise<FashionMnist<Float32Array>>;
/**
 * Loads Fashion-MNIST with its pixels as bytes 0-255, downloading missing
 * files into the cache first (every file checked against its SHA-256).
 *
 * @throws DownloadError, CacheDirError, IdxError, OutOfMemoryError or MemoryLimitError, as with
 *   `scale: true` (see that overload).
 *
 * @example
 * ```ts
 * const data = await fm.loadFashionMnist();
 * fm.CLASS_NAMES[data.train.labels[0]]; // "Ankle boot"
 * ```
 */
export async function loadFashionMnist(opts?: LoadOptions & { scale?: false }): Promise<FashionMnist>;
export async function loadFashionMnist(opts: LoadOptions = {}): Promise<FashionMnist | FashionMnist<Float32Array>> {
  try {
    return await load(opts);
  } catch (err) {
    // Short of memory is said as such, not as a damaged file (the cache is left as it is).
    if (isOutOfMemory(err) || (err instanceof IdxError && /not enough memory/.test(err.message))) {
      throw new OutOfMemoryError("loading the Fashion-MNIST files", err);
    }
    throw err;
  }
}

async function load(opts: LoadOptions): Promise<FashionMnist | FashionMnist<Float32Array>> {
  // Not started when the memory in use is already at the limit in force: a clear stop, not the OOM killer mid-read.
  checkMemoryPressure("Loading Fashion-MNIST");
  const cacheDir = opts.cacheDir ? path.resolve(opts.cacheDir) : defaultCacheDir();
  const table: Record<FileKey, FileSpec> = { ...FILES, ...opts.files };
  const onProgress = opts.onProgress ?? (opts.quiet ? undefined : defaultProgress());
  const got = {} as Record<FileKey, Fetched>;
  for (const key of ["trainImages", "trainLabels", "testImages", "testLabels"] as const) {
    const spec = table[key];
    const result = await fetchToCache({
      name: spec.name,
      sha256: spec.sha256,
      md5: spec.md5,
      cacheDir,
      mirrors: opts.mirrors,
      officialMirrors: opts.officialMirrors,
      timeoutMs: opts.timeoutMs,
      attempts: opts.attempts,
      onProgress,
      onWarning: opts.onWarning,
      returnData: true,
    });
    got[key] = { path: result.path, data: result.data ?? (await fsp.readFile(result.path)) };
  }
  const [train, test] = await Promise.all([
    readSplit(got.trainImages, got.trainLabels, opts.scale === true, limit("trainLimit", opts.trainLimit)),
    readSplit(got.testImages, got.testLabels, opts.scale === true, limit("testLimit", opts.testLimit)),
  ]);
  // Both splits hold bytes, or both floats (opts.scale), as the overloads say.
  return { train: train.split, test: test.split, rows: train.rows, cols: train.cols } as
    FashionMnist | FashionMnist<Float32Array>;
}

/** The notebook's download bar, put here by display/live.ts when the package loads (data never imports display). */
export const notebookDownload: { bar?: (label: string) => (p: Progress) => void } = {};

/** A limit as given, checked: undefined (all), or a whole number of at least 1. */
function limit(name: string, n: number | undefined): number | undefined {
  if (n === undefined) return undefined;
  if (!Number.isInteger(n) || n < 1) {
    throw new RangeError(`loadFashionMnist: ${name} must be a whole number of at least 1 (or left out for all), got ${n}.`);
  }
  return n;
}

/** A live bar in a notebook, a terminal bar on stderr elsewhere. */
function defaultProgress(): (p: Progress) => void {
  const notebook = inNotebook() ? notebookDownload.bar : undefined;
  return notebook ? notebook("fashion-mnist") : progressBar("fashion-mnist");
}

/** Pixel bytes 0-255 to floats in [0, 1] (value / 255), in a new array of the same length. Never throws. */
export function normalize(pixels: Uint8Array): Float32Array {
  const out = new Float32Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) out[i] = pixels[i] / 255;
  return out;
}

/**
 * The same set with its images scaled from bytes 0-255 to floats in [0, 1]
 * (a new array four times the size; the labels are shared, not copied).
 */
export function normalizeSet(set: LabeledImages<Uint8Array>): LabeledImages<Float32Array> {
  return { images: normalize(set.images), labels: set.labels, count: set.count };
}

/** Smallest and largest value, e.g. `[0, 1]` after scaling; `[Infinity, -Infinity]` when empty. */
export function valueRange(values: ArrayLike<number>): [number, number] {
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return [min, max];
}

type AnySplit = LabeledImages<Uint8Array> | LabeledImages<Float32Array>;

function sampleSize(set: AnySplit): number {
  if (
    !Number.isInteger(set.count) ||
    set.count < 0 ||
    set.labels.length !== set.count ||
    (set.count > 0 && set.images.length % set.count !== 0)
  ) {
    throw new Error(
      `inconsistent sample set: count ${set.count}, ${set.labels.length} labels, ` +
        `${set.images.length} image bytes; pass a set as returned by loadFashionMnist.`,
    );
  }
  return set.count === 0 ? 0 : set.images.length / set.count;
}

function range<S extends AnySplit>(set: S, per: number, start: number, end: number): S {
  return {
    images: set.images.subarray(start * per, end * per) as S["images"],
    labels: set.labels.subarray(start, end),
    count: end - start,
  } as S;
}

/**
 * Holds out the LAST `valCount` samples as validation (like `x[-12000:]` in the Keras
 * notebook). The results are views into `set` (no copies). Default 12,000,
 * the seed's split of the 60,000 training images into 48,000 + 12,000.
 *
 * @throws RangeError unless `valCount` is a whole number from 1 to count - 1.
 * @throws Error when the set is inconsistent (labels, count and images disagree).
 */
export function splitValidation<S extends AnySplit>(
  set: S,
  valCount = 12000,
): {
  /** The first count - valCount samples, to train on. */
  train: S;
  /** The last valCount samples, held out. */
  validation: S;
} {
  const per = sampleSize(set);
  if (!Number.isInteger(valCount) || valCount <= 0 || valCount >= set.count) {
    throw new RangeError(
      `splitValidation: valCount must be an integer between 1 and ${set.count - 1} ` +
        `(the set has ${set.count} samples), got ${valCount}.`,
    );
  }
  const cut = set.count - valCount;
  return { train: range(set, per, 0, cut), validation: range(set, per, cut, set.count) };
}

/**
 * The first `n` samples (all of them when n >= count), as views into `set`
 * (no copies): a smaller run on the same data.
 *
 * @throws RangeError unless `n` is a positive whole number.
 * @throws Error when the set is inconsistent (labels, count and images disagree).
 */
export function takeFirst<S extends AnySplit>(set: S, n: number): S {
  const per = sampleSize(set);
  if (!Number.isInteger(n) || n <= 0) {
    throw new RangeError(`takeFirst: n must be a positive integer, got ${n}.`);
  }
  return range(set, per, 0, Math.min(n, set.count));
}
