/**
 * Tiny image helpers for notebooks: a dependency-free PNG encoder (node's zlib
 * does the deflate), pixel-exact upscaling of 28x28 Fashion-MNIST images, and
 * an HTML grid of captioned images.
 *
 * The HTML produced here never contains scripts, `<style>` elements or external
 * resources: every image is an inline `data:image/png;base64,...` URL and all
 * styling sits in `style` attributes. That keeps it rendering in JupyterLab when
 * a notebook is reopened untrusted (the sanitizer strips `<style>` and scripts
 * but keeps inline styles and data-URL images) and in nbconvert's HTML export.
 */

import { createHash } from "crypto";
import { escapeHtml } from "./display";
import { IMAGE_SIZE } from "../data/samples";
import { checkDimension, encodePng } from "./png";

export { crc32, encodePng, pngSize } from "./png";

/** Pixel data accepted by the image helpers. */
export type PixelArray = Uint8Array | Float32Array;

/**
 * How pixel values are interpreted.
 * - `'0..255'`: raw intensities (the default for `Uint8Array`).
 * - `'0..1'`: normalised intensities, multiplied by 255 (the default for `Float32Array`,
 *   which is what a `tf.Tensor` of inputs scaled by 1/255 gives back from `dataSync()`).
 * Values outside the range are clamped; NaN is rejected.
 */
export type PixelRange = "0..255" | "0..1";

/** Shape and scaling options shared by the image helpers. */
export interface ImageShapeOptions {
  /** Image height in source pixels (default 28). */
  rows?: number;
  /** Image width in source pixels (default 28). */
  cols?: number;
  /** Integer upscaling factor: each source pixel becomes a `scale` x `scale` block. */
  scale?: number;
  /** Value range of `pixels`; defaults by array type (see {@link PixelRange}). */
  range?: PixelRange;
}

// ---------------------------------------------------------------------------
// Pixel conversion and upscaling
// ---------------------------------------------------------------------------

interface ResolvedShape {
  rows: number;
  cols: number;
  scale: number;
}

function resolveShape(fn: string, opts: ImageShapeOptions | undefined, defaultScale: number): ResolvedShape {
  const rows = opts?.rows ?? IMAGE_SIZE;
  const cols = opts?.cols ?? IMAGE_SIZE;
  const scale = opts?.scale ?? defaultScale;
  checkDimension(fn, "opts.rows", rows);
  checkDimension(fn, "opts.cols", cols);
  if (!Number.isInteger(scale) || scale <= 0) {
    throw new Error(`${fn}: opts.scale must be a positive integer, got ${String(scale)}`);
  }
  return { rows, cols, scale };
}

function resolveRange(fn: string, pixels: PixelArray, range: PixelRange | undefined): PixelRange {
  if (range === undefined) return pixels instanceof Uint8Array ? "0..255" : "0..1";
  if (range !== "0..255" && range !== "0..1") {
    throw new Error(`${fn}: opts.range must be '0..255' or '0..1', got ${String(range)}`);
  }
  return range;
}

function checkPixelArray(fn: string, name: string, pixels: unknown): asserts pixels is PixelArray {
  if (!(pixels instanceof Uint8Array) && !(pixels instanceof Float32Array)) {
    throw new Error(`${fn}: ${name} must be a Uint8Array or Float32Array`);
  }
}

/**
 * Copies one rows x cols image starting at `offset` into 8-bit grayscale bytes.
 */
function toBytes(
  fn: string,
  name: string,
  pixels: PixelArray,
  offset: number,
  count: number,
  range: PixelRange,
): Uint8Array {
  const out = new Uint8Array(count);
  if (pixels instanceof Uint8Array && range === "0..255") {
    out.set(pixels.subarray(offset, offset + count));
    return out;
  }
  const factor = range === "0..1" ? 255 : 1;
  for (let i = 0; i < count; i++) {
    const v = pixels[offset + i];
    if (Number.isNaN(v)) {
      throw new Error(`${fn}: ${name}[${offset + i}] is NaN`);
    }
    const scaled = Math.round(v * factor);
    out[i] = scaled < 0 ? 0 : scaled > 255 ? 255 : scaled;
  }
  return out;
}

/**
 * Nearest-neighbour integer upscaling of a single-channel image: every source
 * pixel becomes a `scale` x `scale` block of the same value (no interpolation).
 */
export function upscale(pixels: Uint8Array, rows: number, cols: number, scale: number): Uint8Array {
  const fn = "upscale";
  checkDimension(fn, "rows", rows);
  checkDimension(fn, "cols", cols);
  if (!Number.isInteger(scale) || scale <= 0) {
    throw new Error(`${fn}: scale must be a positive integer, got ${String(scale)}`);
  }
  if (pixels.length !== rows * cols) {
    throw new Error(`${fn}: pixels has ${pixels.length} values but rows*cols = ${rows * cols}`);
  }
  if (scale === 1) return pixels.slice();
  const outCols = cols * scale;
  const out = new Uint8Array(rows * scale * outCols);
  for (let y = 0; y < rows; y++) {
    const line = out.subarray(y * scale * outCols, (y * scale + 1) * outCols);
    for (let x = 0; x < cols; x++) {
      line.fill(pixels[y * cols + x], x * scale, (x + 1) * scale);
    }
    for (let r = 1; r < scale; r++) {
      out.copyWithin((y * scale + r) * outCols, y * scale * outCols, (y * scale + 1) * outCols);
    }
  }
  return out;
}

/**
 * Encodes image number `index` of a flat batch of grayscale images as an
 * upscaled PNG.
 *
 * `pixels` holds N images of `rows * cols` values back to back (N >= 1), e.g. the
 * `dataSync()` of an `[N, 28, 28, 1]` tensor or a raw IDX image buffer.
 * `Uint8Array` values are read as 0..255 and `Float32Array` values as 0..1
 * unless `opts.range` says otherwise.
 *
 * @param opts rows/cols default to 28, scale to 4 (a 112x112 PNG)
 * @throws Error when `index` is outside the batch, a dimension or the scale is
 *   not a positive whole number, the length is not a multiple of rows * cols,
 *   or a value is NaN.
 */
export function imageToPng(pixels: PixelArray, index: number, opts?: ImageShapeOptions): Buffer {
  const fn = "imageToPng";
  checkPixelArray(fn, "pixels", pixels);
  const { rows, cols, scale } = resolveShape(fn, opts, 4);
  const range = resolveRange(fn, pixels, opts?.range);
  const size = rows * cols;
  if (pixels.length === 0 || pixels.length % size !== 0) {
    throw new Error(
      `${fn}: pixels has ${pixels.length} values, which is not a positive multiple of rows*cols = ${size}`,
    );
  }
  const count = pixels.length / size;
  if (!Number.isInteger(index) || index < 0 || index >= count) {
    throw new Error(`${fn}: index must be an integer in [0, ${count - 1}], got ${String(index)}`);
  }
  const bytes = toBytes(fn, "pixels", pixels, index * size, size, range);
  return encodePng(cols * scale, rows * scale, upscale(bytes, rows, cols, scale), 1);
}

// ---------------------------------------------------------------------------
// Grids
// ---------------------------------------------------------------------------

/** Options for {@link imageGridPng}. */
export interface ImageGridPngOptions extends ImageShapeOptions {
  /** Images per row (default: up to 10). */
  columns?: number;
  /** Gap between images, in output pixels (default: `scale`, i.e. one source pixel). */
  gap?: number;
  /** Gray level 0..255 of the gaps and unused cells (default 255, white). */
  background?: number;
}

/**
 * One grayscale PNG showing `images` in a plain grid (no text), each image
 * upscaled by `opts.scale` (default 2) and separated by `opts.gap` pixels.
 * Each entry of `images` is one image of `rows * cols` values (bytes 0-255,
 * or floats 0-1 in a Float32Array). Returns the PNG file's bytes.
 *
 * @throws Error when the list is empty, an image has the wrong length, a
 *   size option is not a positive whole number, or a value is NaN.
 */
export function imageGridPng(images: readonly PixelArray[], opts?: ImageGridPngOptions): Buffer {
  const fn = "imageGridPng";
  if (!Array.isArray(images) || images.length === 0) {
    throw new Error(`${fn}: images must be a non-empty array`);
  }
  const { rows, cols, scale } = resolveShape(fn, opts, 2);
  const columns = opts?.columns ?? Math.min(images.length, 10);
  if (!Number.isInteger(columns) || columns <= 0) {
    throw new Error(`${fn}: opts.columns must be a positive integer, got ${String(columns)}`);
  }
  const gap = opts?.gap ?? scale;
  if (!Number.isInteger(gap) || gap < 0) {
    throw new Error(`${fn}: opts.gap must be a non-negative integer, got ${String(gap)}`);
  }
  const background = opts?.background ?? 255;
  if (!Number.isInteger(background) || background < 0 || background > 255) {
    throw new Error(`${fn}: opts.background must be an integer in [0, 255], got ${String(background)}`);
  }

  const size = rows * cols;
  const cellW = cols * scale;
  const cellH = rows * scale;
  const gridCols = Math.min(columns, images.length);
  const gridRows = Math.ceil(images.length / gridCols);
  const width = gridCols * cellW + (gridCols - 1) * gap;
  const height = gridRows * cellH + (gridRows - 1) * gap;
  const out = new Uint8Array(width * height).fill(background);

  images.forEach((img, i) => {
    const name = `images[${i}]`;
    checkPixelArray(fn, name, img);
    if (img.length !== size) {
      throw new Error(`${fn}: ${name} has ${img.length} values but rows*cols = ${size}`);
    }
    const range = resolveRange(fn, img, opts?.range);
    const big = upscale(toBytes(fn, name, img, 0, size, range), rows, cols, scale);
    const x0 = (i % gridCols) * (cellW + gap);
    const y0 = Math.floor(i / gridCols) * (cellH + gap);
    for (let y = 0; y < cellH; y++) {
      out.set(big.subarray(y * cellW, (y + 1) * cellW), (y0 + y) * width + x0);
    }
  });
  return encodePng(width, height, out, 1);
}

/** One captioned image for {@link imageGridHtml}. */
export interface GridItem {
  /** One image of `rows * cols` values: bytes 0-255 in a Uint8Array, floats 0-1 in a Float32Array (clamped; NaN refused). */
  pixels: PixelArray;
  /** First caption line, e.g. the true label. */
  caption: string;
  /** Optional second, smaller line, e.g. "predicted: Shirt (87%)". */
  subcaption?: string;
  /** Frame colour: green for 'ok', red for 'bad', neutral when absent. */
  tone?: "ok" | "bad";
}

/** Options for {@link imageGridHtml}. */
export interface ImageGridHtmlOptions extends ImageShapeOptions {
  /** Figures per row (default: as many as fit a ~880px notebook column, rows balanced). */
  columns?: number;
  /** Optional heading above the grid. */
  title?: string;
}

const GRID_COLORS = {
  text: "#222222",
  muted: "#5f6368",
  frame: "#d0d0d0",
  ok: "#2e7d32",
  bad: "#c62828",
  panel: "#ffffff",
  cell: "#f7f7f7",
};

const GRID_FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';

function styleAttr(decls: Record<string, string | number>): string {
  const css = Object.entries(decls)
    .map(([k, v]) => `${k}:${v}`)
    .join(";");
  return ` style="${escapeHtml(css)}"`;
}

/**
 * Renders captioned images as one self-contained HTML fragment: a CSS grid of
 * `<figure>` elements, each with an upscaled PNG data URL and escaped captions.
 *
 * Images are upscaled in the PNG itself (nearest neighbour, default scale 3) and
 * shown at their natural size, so they stay sharp even where the
 * `image-rendering: pixelated` hint is stripped by a sanitizer. Show it with
 * {@link showHtml}; it needs no script and survives HTML exports.
 *
 * @throws Error when an item's image has the wrong length or a NaN value, or
 *   a size option is not a positive whole number.
 */
export function imageGridHtml(items: readonly GridItem[], opts?: ImageGridHtmlOptions): string {
  const fn = "imageGridHtml";
  if (!Array.isArray(items) || items.length === 0) {
    throw new Error(`${fn}: items must be a non-empty array`);
  }
  const { rows, cols, scale } = resolveShape(fn, opts, 3);
  const size = rows * cols;
  const imgW = cols * scale;
  const imgH = rows * scale;
  const pad = 4;
  const border = 2;
  // Leave room for a caption like "Ankle boot" even when images are small.
  const cellW = Math.max(imgW, 88) + 2 * (pad + border);
  const gap = 8;

  let columns = opts?.columns;
  if (columns === undefined) {
    const fit = Math.max(1, Math.floor((880 + gap) / (cellW + gap)));
    columns = items.length <= fit ? items.length : Math.ceil(items.length / Math.ceil(items.length / fit));
  } else if (!Number.isInteger(columns) || columns <= 0) {
    throw new Error(`${fn}: opts.columns must be a positive integer, got ${String(columns)}`);
  }
  columns = Math.min(columns, items.length);

  const hash = createHash("sha1");
  const figures: string[] = [];
  items.forEach((item, i) => {
    const name = `items[${i}]`;
    if (item === null || typeof item !== "object") {
      throw new Error(`${fn}: ${name} must be an object with pixels and caption`);
    }
    checkPixelArray(fn, `${name}.pixels`, item.pixels);
    if (item.pixels.length !== size) {
      throw new Error(`${fn}: ${name}.pixels has ${item.pixels.length} values but rows*cols = ${size}`);
    }
    if (typeof item.caption !== "string") {
      throw new Error(`${fn}: ${name}.caption must be a string`);
    }
    if (item.subcaption !== undefined && typeof item.subcaption !== "string") {
      throw new Error(`${fn}: ${name}.subcaption must be a string when given`);
    }
    if (item.tone !== undefined && item.tone !== "ok" && item.tone !== "bad") {
      throw new Error(`${fn}: ${name}.tone must be 'ok' or 'bad' when given`);
    }
    const range = resolveRange(fn, item.pixels, opts?.range);
    const bytes = toBytes(fn, `${name}.pixels`, item.pixels, 0, size, range);
    const png = encodePng(imgW, imgH, upscale(bytes, rows, cols, scale), 1);
    const b64 = png.toString("base64");
    hash
      .update(b64)
      .update("\0")
      .update(item.caption)
      .update("\0")
      .update(item.subcaption ?? "");

    const toneColor = item.tone === "ok" ? GRID_COLORS.ok : item.tone === "bad" ? GRID_COLORS.bad : GRID_COLORS.frame;
    const alt = item.subcaption ? `${item.caption} (${item.subcaption})` : item.caption;
    const parts = [
      `<figure${styleAttr({
        margin: 0,
        padding: `${pad}px`,
        border: `${border}px solid ${toneColor}`,
        "border-radius": "4px",
        "background-color": GRID_COLORS.cell,
        "text-align": "center",
        "min-width": 0,
      })}>`,
      `<img src="data:image/png;base64,${b64}" width="${imgW}" height="${imgH}" alt="${escapeHtml(alt)}"${styleAttr({
        display: "block",
        margin: "0 auto",
        width: `${imgW}px`,
        height: `${imgH}px`,
        "image-rendering": "pixelated",
      })}>`,
      `<figcaption${styleAttr({
        margin: "4px 0 0 0",
        "font-size": "12px",
        "line-height": 1.25,
        color: GRID_COLORS.text,
        "overflow-wrap": "break-word",
      })}>`,
      `<span${styleAttr({ display: "block", "font-weight": 600 })}>${escapeHtml(item.caption)}</span>`,
    ];
    if (item.subcaption) {
      parts.push(
        `<span${styleAttr({
          display: "block",
          color: item.tone === "bad" ? GRID_COLORS.bad : GRID_COLORS.muted,
        })}>${escapeHtml(item.subcaption)}</span>`,
      );
    }
    parts.push("</figcaption></figure>");
    figures.push(parts.join(""));
  });
  hash.update(`${opts?.title ?? ""}|${columns}|${scale}|${rows}x${cols}`);
  const cls = `fm-grid-${hash.digest("hex").slice(0, 10)}`;

  const heading = opts?.title
    ? `<div${styleAttr({ margin: "0 0 8px 0", "font-size": "14px", "font-weight": 600, color: GRID_COLORS.text })}>${escapeHtml(opts.title)}</div>`
    : "";
  return [
    `<div class="${cls}"${styleAttr({
      display: "inline-block",
      padding: "8px",
      "background-color": GRID_COLORS.panel,
      "border-radius": "6px",
      "font-family": GRID_FONT,
      color: GRID_COLORS.text,
      "max-width": "100%",
    })}>`,
    heading,
    `<div class="${cls}-grid"${styleAttr({
      display: "grid",
      "grid-template-columns": `repeat(${columns}, ${cellW}px)`,
      gap: `${gap}px`,
    })}>`,
    figures.join("\n"),
    "</div></div>",
  ].join("\n");
}
