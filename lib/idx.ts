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
import * as zlib from 'zlib';

/** A malformed or unexpected IDX / gzip file. `file` is the name or path given by the caller. */
export class IdxError extends Error {
  readonly file: string;
  constructor(file: string, message: string) {
    super(message);
    this.name = 'IdxError';
    this.file = file;
  }
}

export interface IdxArray {
  dims: number[];
  /** The values, a view into the input bytes (no copy). */
  data: Uint8Array;
}

export interface IdxImages {
  count: number;
  rows: number;
  cols: number;
  /** count * rows * cols bytes, row-major, one image after another. */
  pixels: Uint8Array;
}

export interface IdxLabels {
  count: number;
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
const REDOWNLOAD = 'delete the file and download it again';

function fail(file: string, what: string, todo: string = REDOWNLOAD): never {
  throw new IdxError(file, `${file}: ${what}; ${todo}.`);
}

/** Parses an uncompressed IDX file holding unsigned bytes with 1 or 3 dimensions. */
export function parseIdx(bytes: Uint8Array, file: string): IdxArray {
  if (bytes.length < 4) {
    fail(file, `only ${bytes.length} bytes, too short for an IDX header (at least 4 bytes)`);
  }
  const magic = ((bytes[0] << 24) | (bytes[1] << 16) | (bytes[2] << 8) | bytes[3]) >>> 0;
  const hex = '0x' + magic.toString(16).padStart(8, '0');
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    fail(file, `bad IDX magic number ${hex} (expected 0x00000801 for labels or 0x00000803 for images); ` +
      'this is not an IDX file (is it still gzip-compressed, or the wrong file?)');
  }
  if (bytes[2] !== UBYTE) {
    fail(file, `IDX value type 0x${bytes[2].toString(16).padStart(2, '0')} in magic ${hex} is not ` +
      'unsigned byte (0x08), which is what Fashion-MNIST uses');
  }
  const ndim = bytes[3];
  if (ndim !== 1 && ndim !== 3) {
    fail(file, `IDX magic ${hex} declares ${ndim} dimensions; expected 1 (labels) or 3 (images)`);
  }
  const headerLength = 4 + 4 * ndim;
  if (bytes.length < headerLength) {
    fail(file, `header is cut short: ${ndim} dimensions need ${headerLength} header bytes but the file has ${bytes.length} (truncated)`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  let expected = 1;
  for (let i = 0; i < ndim; i++) {
    const d = view.getUint32(4 + 4 * i, false);
    dims.push(d);
    expected *= d;
  }
  const actual = bytes.length - headerLength;
  if (actual < expected) {
    fail(file, `data is truncated: dimensions ${dims.join('x')} need ${expected} bytes after the header but only ${actual} are present`);
  }
  if (actual > expected) {
    fail(file, `${actual - expected} trailing bytes after the ${expected} data bytes that dimensions ${dims.join('x')} call for`);
  }
  return { dims, data: bytes.subarray(headerLength) };
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
    throw new IdxError(file,
      `${file}: not a valid gzip file or truncated download (${detail}); delete it and download again.`);
  }
}

/** Asynchronous gunzipIdx: runs on the libuv thread pool, so several files can inflate at once. */
export function gunzipIdxAsync(gz: Uint8Array, file: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    zlib.gunzip(gz, { chunkSize: inflateChunk(gz) }, (err, out) => {
      if (err) {
        reject(new IdxError(file,
          `${file}: not a valid gzip file or truncated download (${err.message}); delete it and download again.`));
      } else {
        resolve(out);
      }
    });
  });
}

/**
 * Parses an IDX image file (3 dimensions: count, rows, cols).
 * Pass `expect` to also insist on a size, e.g. { rows: 28, cols: 28 }.
 */
export function parseImages(bytes: Uint8Array, file: string, expect?: { rows?: number; cols?: number }): IdxImages {
  const { dims, data } = parseIdx(bytes, file);
  if (dims.length !== 3) {
    fail(file, `holds a ${dims.length}-dimensional array (${dims.join('x')}) but an image file must have 3 dimensions ` +
      '(count, rows, cols)', 'check that you passed the images file and not the labels file');
  }
  const [count, rows, cols] = dims;
  if ((expect?.rows !== undefined && rows !== expect.rows) || (expect?.cols !== undefined && cols !== expect.cols)) {
    fail(file, `images are ${rows}x${cols} but ${expect?.rows ?? rows}x${expect?.cols ?? cols} was expected`,
      'check that this is the right dataset file, or delete it and download it again');
  }
  return { count, rows, cols, pixels: data };
}

/** Parses an IDX label file (1 dimension). Every label must be a class index 0..9. */
export function parseLabels(bytes: Uint8Array, file: string, numClasses = 10): IdxLabels {
  const { dims, data } = parseIdx(bytes, file);
  if (dims.length !== 1) {
    fail(file, `holds a ${dims.length}-dimensional array (${dims.join('x')}) but a label file must have 1 dimension`,
      'check that you passed the labels file and not the images file');
  }
  for (let i = 0; i < data.length; i++) {
    if (data[i] >= numClasses) {
      fail(file, `label at index ${i} is ${data[i]}, outside the class range 0..${numClasses - 1}`);
    }
  }
  return { count: dims[0], labels: data };
}
