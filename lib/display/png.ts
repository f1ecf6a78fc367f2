// A dependency-free PNG encoder (node's zlib does the deflate) and a reader of
// a PNG's size: what the image helpers and the display glue build on.
import { deflateSync } from "zlib";

// ---------------------------------------------------------------------------
// PNG encoding
// ---------------------------------------------------------------------------

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

let crcTable: Uint32Array | undefined;

function getCrcTable(): Uint32Array {
  if (crcTable) return crcTable;
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) {
      c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    }
    table[n] = c >>> 0;
  }
  crcTable = table;
  return table;
}

/** CRC-32 (ISO-HDLC, the variant PNG and zlib use) of `data`. */
export function crc32(data: Uint8Array, start = 0, end = data.length): number {
  const table = getCrcTable();
  let c = 0xffffffff;
  for (let i = start; i < end; i++) {
    c = table[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  }
  return (c ^ 0xffffffff) >>> 0;
}

function pngChunk(type: string, data: Uint8Array): Buffer {
  const chunk = Buffer.alloc(12 + data.length);
  chunk.writeUInt32BE(data.length, 0);
  chunk.write(type, 4, "ascii");
  chunk.set(data, 8);
  // The CRC covers the chunk type and the data, not the length.
  chunk.writeUInt32BE(crc32(chunk, 4, 8 + data.length), 8 + data.length);
  return chunk;
}

export function checkDimension(fn: string, name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1 || value > 0x7fffffff) {
    throw new Error(`${fn}: ${name} must be a positive integer, got ${String(value)}`);
  }
}

/**
 * Encodes 8-bit pixels as a PNG file.
 *
 * @param width  image width in pixels
 * @param height image height in pixels
 * @param pixels row-major samples, `width * height * channels` bytes
 *               (grayscale: one byte per pixel; RGB: three bytes per pixel, R G B)
 * @param channels 1 for grayscale, 3 for RGB
 * @returns the PNG file's bytes (one IDAT chunk, zlib-compressed)
 * @throws Error when a dimension is not a positive whole number, `channels`
 *   is not 1 or 3, or `pixels` is not a Uint8Array of `width * height * channels` bytes.
 */
export function encodePng(width: number, height: number, pixels: Uint8Array, channels: 1 | 3): Buffer {
  const fn = "encodePng";
  checkDimension(fn, "width", width);
  checkDimension(fn, "height", height);
  if (channels !== 1 && channels !== 3) {
    throw new Error(`${fn}: channels must be 1 (grayscale) or 3 (RGB), got ${String(channels)}`);
  }
  if (!(pixels instanceof Uint8Array)) {
    throw new Error(`${fn}: pixels must be a Uint8Array`);
  }
  const rowBytes = width * channels;
  if (pixels.length !== rowBytes * height) {
    throw new Error(
      `${fn}: pixels has ${pixels.length} values but width*height*channels = ` +
        `${width}*${height}*${channels} = ${rowBytes * height}`,
    );
  }

  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = channels === 1 ? 0 : 2; // colour type: 0 = grayscale, 2 = truecolour
  ihdr[10] = 0; // compression method: deflate
  ihdr[11] = 0; // filter method: adaptive (we always pick filter type 0, "None")
  ihdr[12] = 0; // no interlace

  // Each scanline is prefixed by its filter type byte.
  const raw = Buffer.alloc((rowBytes + 1) * height);
  for (let y = 0; y < height; y++) {
    const offset = y * (rowBytes + 1);
    raw[offset] = 0;
    raw.set(pixels.subarray(y * rowBytes, (y + 1) * rowBytes), offset + 1);
  }
  const idat = deflateSync(raw, { level: 9 });

  return Buffer.concat([
    PNG_SIGNATURE,
    pngChunk("IHDR", ihdr),
    pngChunk("IDAT", idat),
    pngChunk("IEND", new Uint8Array(0)),
  ]);
}

/** Reads width and height from a PNG's IHDR chunk, or returns undefined if `bytes` is not a PNG. */
export function pngSize(bytes: Uint8Array): { width: number; height: number } | undefined {
  if (bytes.length < 24) return undefined;
  for (let i = 0; i < PNG_SIGNATURE.length; i++) {
    if (bytes[i] !== PNG_SIGNATURE[i]) return undefined;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (String.fromCharCode(bytes[12], bytes[13], bytes[14], bytes[15]) !== "IHDR") return undefined;
  return { width: view.getUint32(16), height: view.getUint32(20) };
}
