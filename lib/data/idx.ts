/**
 * Reader for the IDX format used by (Fashion-)MNIST.
 *
 * An IDX file is a big-endian header followed by raw values:
 *   bytes 0-1  always zero
 *   byte  2    value type (0x08 = unsigned byte, the only type accepted here)
 *   byte  3    number of dimensions
 *   then one uint32 size per dimension, then prod(sizes) values.
 * Label files are 1-D (magic 0x00000801), image files 3-D (magic 0x00000803).
 *
 * Every error is an IdxError that names the offending file, says what is wrong,
 * and says what to do about it.
 */
import * as fsp from "fs/promises";
import * as zlib from "zlib";
import { CLASSES } from "./samples";

/**
 * A malformed or unexpected IDX / gzip file: its message names the file, what
 * is wrong and what to do (usually delete it and download again). `file` is
 * the name or path given by the caller.
 */
export class IdxError extends Error {
  /** The file's name or path, as the caller gave it. */
  readonly file: string;
  constructor(file: string, message: string) {
    super(message);
    this.name = "IdxError";
    this.file = file;
  }
}

export interface IdxArray {
  dims: number[];
  /** The values, a view into the input bytes (no copy). */
  data: Uint8Array;
}

/** An IDX image file's contents, as {@link parseImages} returns them. */
export interface IdxImages {
  /** Number of images. */
  count: number;
  /** Image height in pixels. */
  rows: number;
  /** Image width in pixels. */
  cols: number;
  /** count * rows * cols bytes, row-major, one image after another. */
  pixels: Uint8Array;
}

/** An IDX label file's contents, as {@link parseLabels} returns them. */
export interface IdxLabels {
  /** Number of labels. */
  count: number;
  /** One class index (0-9) per sample, a view into the input bytes. */
  labels: Uint8Array;
}

const UBYTE = 0x08;
/**
 * Output chunk size for inflating. Node's default (16 KB) makes a 47 MB file
 * inflate in thousands of pieces that are then concatenated; one chunk the
 * size of the whole output (the gzip trailer's ISIZE field holds it, modulo
 * 2^32) inflated the training images about 1.25 times faster than 1 MB chunks
 * and twice as fast as the default. The size is only a hint: a wrong trailer
 * (damaged file) just means more chunks, and zlib still reports the damage.
 */
function inflateChunk(gz: Uint8Array): number {
  return Math.min(1 << 28, Math.max(1 << 16, (gzipInflatedSize(gz) ?? 0) + 1));
}

/**
 * The inflated size a gzip file declares in its trailer (ISIZE, modulo 2^32),
 * or undefined if it is too short to have one. A hint only: nothing checks it
 * until the file is inflated.
 */
function gzipInflatedSize(gz: Uint8Array): number | undefined {
  const n = gz.length;
  if (n < 18) return undefined;
  return (gz[n - 4] | (gz[n - 3] << 8) | (gz[n - 2] << 16) | (gz[n - 1] << 24)) >>> 0;
}
const REDOWNLOAD = "delete the file and download it again";

function fail(file: string, what: string, todo: string = REDOWNLOAD): never {
  throw new IdxError(file, `${file}: ${what}; ${todo}.`);
}

/** Checks an IDX header (magic, value type, dimensions) at the start of `bytes`. */
function parseIdxHeader(bytes: Uint8Array, file: string): { dims: number[]; headerLength: number; expected: number } {
  if (bytes.length < 4) {
    fail(file, `only ${bytes.length} bytes, too short for an IDX header (at least 4 bytes)`);
  }
  const magic = ((bytes[0] << 24) | (bytes[1] << 16) | (bytes[2] << 8) | bytes[3]) >>> 0;
  const hex = "0x" + magic.toString(16).padStart(8, "0");
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    fail(
      file,
      `bad IDX magic number ${hex} (expected 0x00000801 for labels or 0x00000803 for images); ` +
        "this is not an IDX file (is it still gzip-compressed, or the wrong file?)",
    );
  }
  if (bytes[2] !== UBYTE) {
    fail(
      file,
      `IDX value type 0x${bytes[2].toString(16).padStart(2, "0")} in magic ${hex} is not ` +
        "unsigned byte (0x08), which is what Fashion-MNIST uses",
    );
  }
  const ndim = bytes[3];
  if (ndim !== 1 && ndim !== 3) {
    fail(file, `IDX magic ${hex} declares ${ndim} dimensions; expected 1 (labels) or 3 (images)`);
  }
  const headerLength = 4 + 4 * ndim;
  if (bytes.length < headerLength) {
    fail(
      file,
      `header is cut short: ${ndim} dimensions need ${headerLength} header bytes but the file has ${bytes.length} (truncated)`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  let expected = 1;
  for (let i = 0; i < ndim; i++) {
    const d = view.getUint32(4 + 4 * i, false);
    dims.push(d);
    expected *= d;
  }
  return { dims, headerLength, expected };
}

/** Parses an uncompressed IDX file holding unsigned bytes with 1 or 3 dimensions. */
export function parseIdx(bytes: Uint8Array, file: string): IdxArray {
  const { dims, headerLength, expected } = parseIdxHeader(bytes, file);
  checkDataLength(file, dims, expected, bytes.length - headerLength);
  return { dims, data: bytes.subarray(headerLength) };
}

function checkDataLength(file: string, dims: number[], expected: number, actual: number): void {
  if (actual < expected) {
    fail(
      file,
      `data is truncated: dimensions ${dims.join("x")} need ${expected} bytes after the header but only ${actual} are present`,
    );
  }
  if (actual > expected) {
    fail(
      file,
      `${actual - expected} trailing bytes after the ${expected} data bytes that dimensions ${dims.join("x")} call for`,
    );
  }
}

/**
 * Decompresses a gzip file, turning zlib failures into an IdxError that names the file.
 * `gz` may be a Buffer or any Uint8Array.
 */
export function gunzipIdx(gz: Uint8Array, file: string): Buffer {
  try {
    return zlib.gunzipSync(gz, { chunkSize: inflateChunk(gz) });
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    throw new IdxError(
      file,
      `${file}: not a valid gzip file or truncated download (${detail}); delete it and download again.`,
    );
  }
}

/** Asynchronous gunzipIdx: runs on the libuv thread pool, so several files can inflate at once. */
export function gunzipIdxAsync(gz: Uint8Array, file: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    zlib.gunzip(gz, { chunkSize: inflateChunk(gz) }, (err, out) => {
      if (err) {
        reject(
          new IdxError(
            file,
            `${file}: not a valid gzip file or truncated download (${err.message}); delete it and download again.`,
          ),
        );
      } else {
        resolve(out);
      }
    });
  });
}

/**
 * The first `records` records of a gzipped IDX file, as an IDX file of their
 * own (its header's count rewritten to the number taken): inflation stops as
 * soon as they are in, so a run of 2,000 images never holds the other 58,000
 * (1.6 MB instead of 47 MB). Also returns the count the full file declares.
 * The pieces inflated are checked as the whole file's would be (header,
 * dimensions); the file's integrity is its SHA-256, checked whole by the loader.
 */
export function gunzipIdxHead(
  gz: Uint8Array,
  file: string,
  records: number,
): Promise<{ bytes: Buffer; declaredCount: number }> {
  return new Promise((resolve, reject) => {
    const inflater = zlib.createGunzip({ chunkSize: 1 << 20 });
    const chunks: Buffer[] = [];
    let have = 0;
    let need = Infinity; // known once the header is in
    let header: { dims: number[]; headerLength: number } | undefined;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      inflater.destroy();
      try {
        const all = Buffer.concat(chunks, Math.min(have, need));
        if (!header) header = parseIdxHeader(all, file); // throws: too short
        const count = Math.min(records, header.dims[0]);
        all.writeUInt32BE(count, 4);
        resolve({ bytes: all, declaredCount: header.dims[0] });
      } catch (err) {
        reject(err);
      }
    };
    inflater.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      have += chunk.length;
      if (!header && have >= 4) {
        const start = Buffer.concat(chunks, have);
        const ndim = start[3];
        if (have >= 4 + 4 * ndim || ndim > 3) {
          try {
            header = parseIdxHeader(start, file);
          } catch (err) {
            done = true;
            inflater.destroy();
            reject(err);
            return;
          }
          const perRecord = header.dims.slice(1).reduce((a, b) => a * b, 1);
          need = header.headerLength + Math.min(records, header.dims[0]) * perRecord;
        }
      }
      if (have >= need) finish();
    });
    inflater.on("error", (err) =>
      done
        ? undefined
        : ((done = true),
          reject(
            new IdxError(
              file,
              `${file}: not a valid gzip file or truncated download (${err.message}); delete it and download again.`,
            ),
          )),
    );
    // The stream ended before `need` bytes: parseIdx's checks then name what is short.
    inflater.on("end", () => {
      if (done) return;
      done = true;
      const all = Buffer.concat(chunks, have);
      try {
        const { dims, headerLength } = parseIdxHeader(all, file);
        const perRecord = dims.slice(1).reduce((a, b) => a * b, 1);
        const count = Math.min(records, dims[0]);
        checkDataLength(file, [count, ...dims.slice(1)], count * perRecord, Math.min(all.length - headerLength, count * perRecord));
        all.writeUInt32BE(count, 4);
        resolve({ bytes: all.subarray(0, headerLength + count * perRecord), declaredCount: dims[0] });
      } catch (err) {
        reject(err);
      }
    });
    inflater.end(gz);
  });
}

/**
 * Parses an IDX image file (3 dimensions: count, rows, cols), already
 * decompressed. The pixels are bytes 0-255, a view into `bytes` (no copy).
 * Pass `expect` to also insist on a size, e.g. { rows: 28, cols: 28 };
 * `file` names the file in error messages.
 *
 * @throws IdxError when the header is not IDX unsigned bytes, the array is not
 *   3-dimensional, the size differs from `expect`, or the data is truncated
 *   or followed by extra bytes.
 */
export function parseImages(bytes: Uint8Array, file: string, expect?: { rows?: number; cols?: number }): IdxImages {
  const { dims, data } = parseIdx(bytes, file);
  const [count, rows, cols] = checkImageDims(dims, file, expect);
  return { count, rows, cols, pixels: data };
}

function checkImageDims(dims: number[], file: string, expect?: { rows?: number; cols?: number }): number[] {
  if (dims.length !== 3) {
    fail(
      file,
      `holds a ${dims.length}-dimensional array (${dims.join("x")}) but an image file must have 3 dimensions ` +
        "(count, rows, cols)",
      "check that you passed the images file and not the labels file",
    );
  }
  const [, rows, cols] = dims;
  if ((expect?.rows !== undefined && rows !== expect.rows) || (expect?.cols !== undefined && cols !== expect.cols)) {
    fail(
      file,
      `images are ${rows}x${cols} but ${expect?.rows ?? rows}x${expect?.cols ?? cols} was expected`,
      "check that this is the right dataset file, or delete it and download it again",
    );
  }
  return dims;
}

export interface IdxImagesScaled {
  count: number;
  rows: number;
  cols: number;
  /** count * rows * cols values in [0, 1]. */
  pixels: Float32Array;
}

/**
 * gunzipIdxAsync + parseImages + scaling to [0, 1] (value / 255: the floats
 * dataset.normalize gives) in one pass. zlib inflates 1 MB pieces on the libuv
 * thread pool while this thread scales the piece before, so the scaling
 * overlaps the inflating instead of following it, with the page faults of
 * the 4x larger output taken on the thread pool (prefault), and the raw
 * bytes are never held whole. Same checks and errors as the two-step path.
 */
export function gunzipImagesScaled(
  gz: Uint8Array,
  file: string,
  expect?: { rows?: number; cols?: number },
): Promise<IdxImagesScaled> {
  return new Promise((resolve, reject) => {
    const inflater = zlib.createGunzip({ chunkSize: 1 << 20 });
    // For a large file, allocate the output from the size the gzip trailer
    // declares (a 16-byte header, then the pixels) and take its page faults
    // on the thread pool while the first pieces inflate; scaling starts when
    // that is done. Used only if the header then asks for exactly that size.
    const declared = gzipInflatedSize(gz);
    let early: Float32Array | null = null;
    let ready = true;
    // Only where the trailer is plausible (the official image files inflate
    // 1.8x): pre-faulting a size a damaged trailer made up could exhaust memory.
    if (declared !== undefined && declared >= 1 << 20 && declared <= Math.min(gz.length * 64, 1 << 30)) {
      early = floats(declared - 16);
    }
    if (early) {
      ready = false;
      void prefault(new Uint8Array(early.buffer)).then(() => {
        ready = true;
        later();
      });
    }
    const pieces: Buffer[] = [];
    let head: Buffer | null = Buffer.alloc(0); // the first bytes, until the 16-byte header is complete
    let images: IdxImagesScaled | null = null;
    let unheld = `its gzip trailer disagrees with its IDX header; ${REDOWNLOAD}`; // why images can stay null
    let header = { dims: [] as number[], headerLength: 0, expected: 0 };
    let filled = 0;
    let ended = false;
    let scheduled = false;
    let settled = false;
    const stop = (err: unknown) => {
      if (settled) return;
      settled = true;
      inflater.destroy();
      reject(err);
    };
    const scale = (piece: Uint8Array) => {
      if (filled + piece.length > header.expected) {
        checkDataLength(file, header.dims, header.expected, filled + piece.length);
      }
      const out = images?.pixels;
      if (out) for (let i = 0; i < piece.length; i++) out[filled + i] = piece[i] / 255;
      filled += piece.length;
    };
    const startImages = (bytes: Buffer) => {
      header = parseIdxHeader(bytes, file);
      const [count, rows, cols] = checkImageDims(header.dims, file, expect);
      head = null;
      // Allocate only what the file can hold: no more than the gzip trailer
      // declares, nor than deflate's ~1032:1 limit allows. A header asking for
      // more is damaged; the bytes are then only counted, so the error says
      // how many are present, as the two-step path's does.
      const trailerSays =
        declared !== undefined && header.headerLength + header.expected < 2 ** 32 ? declared : Infinity;
      const possible = Math.min(trailerSays, gz.length * 1032) - header.headerLength;
      if (header.expected <= possible) {
        const pixels = early?.length === header.expected ? early : floats(header.expected);
        if (pixels) images = { count, rows, cols, pixels };
        else unheld = `there is not enough memory for its ${header.expected} pixels as floats`;
      }
      early = null;
      scale(bytes.subarray(header.headerLength));
    };
    const drain = () => {
      scheduled = false;
      if (!ready) return; // prefault() calls again when it is done
      try {
        for (let piece = pieces.shift(); piece; piece = pieces.shift()) {
          if (head) {
            head = Buffer.concat([head, piece]);
            if (head.length >= 16) startImages(head);
          } else {
            scale(piece);
          }
        }
        if (ended && !settled) {
          if (head) startImages(head); // a file shorter than a header: parseIdxHeader says what is wrong
          checkDataLength(file, header.dims, header.expected, filled);
          if (!images) throw new IdxError(file, `${file}: ${unheld}.`);
          settled = true;
          resolve(images);
        }
      } catch (err) {
        stop(err);
      }
    };
    // Scale on the next turn of the event loop, not inside the 'data' event:
    // zlib queues its next piece only after the event returns.
    const later = () => {
      if (!scheduled) {
        scheduled = true;
        setImmediate(drain);
      }
    };
    inflater.on("data", (piece: Buffer) => {
      pieces.push(piece);
      later();
    });
    inflater.on("end", () => {
      ended = true;
      later();
    });
    inflater.on("error", (err) =>
      stop(
        new IdxError(
          file,
          `${file}: not a valid gzip file or truncated download (${err.message}); delete it and download again.`,
        ),
      ),
    );
    inflater.end(gz);
  });
}

/** A zeroed Float32Array, or null where that much memory cannot be had. */
function floats(n: number): Float32Array | null {
  try {
    return new Float32Array(n);
  } catch {
    return null;
  }
}

/**
 * Touches every page of fresh memory from the libuv thread pool, by reading
 * /dev/zero into it, so that the page faults (half the cost of scaling 47 M
 * pixels into 188 MB) are taken there while other work goes on. Where
 * /dev/zero cannot be read (Windows), it does nothing: only speed is lost.
 */
async function prefault(target: Uint8Array): Promise<void> {
  let zero: fsp.FileHandle | undefined;
  try {
    zero = await fsp.open("/dev/zero", "r");
    for (let at = 0; at < target.length;) {
      const { bytesRead } = await zero.read(target, at, Math.min(16 << 20, target.length - at), null);
      if (bytesRead <= 0) break;
      at += bytesRead;
    }
  } catch {
    // no /dev/zero: the scaling takes the faults itself
  } finally {
    await zero?.close();
  }
}

/**
 * Parses an IDX label file (1 dimension), already decompressed; the labels are
 * a view into `bytes`. Every label must be a class index 0..numClasses - 1 (0..9).
 *
 * @throws IdxError when the header is not IDX unsigned bytes, the array is not
 *   1-dimensional, a label is out of range, or the length is wrong.
 */
export function parseLabels(bytes: Uint8Array, file: string, numClasses = CLASSES): IdxLabels {
  const { dims, data } = parseIdx(bytes, file);
  if (dims.length !== 1) {
    fail(
      file,
      `holds a ${dims.length}-dimensional array (${dims.join("x")}) but a label file must have 1 dimension`,
      "check that you passed the labels file and not the images file",
    );
  }
  for (let i = 0; i < data.length; i++) {
    if (data[i] >= numClasses) {
      fail(file, `label at index ${i} is ${data[i]}, outside the class range 0..${numClasses - 1}`);
    }
  }
  return { count: dims[0], labels: data };
}
