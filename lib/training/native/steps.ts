// The fast path's vocabulary, shared by plan.ts (which reads a model into
// layers and lowers them to steps), layers.ts (each kind's reading, lowering
// and passes) and the trainers: the layers and steps themselves, and the patch
// layout of the input convolution (one MatMul over image patches with its pool
// folded in).

export type Layer =
  | {
      kind: "conv";
      kernel: number;
      bias: number | null;
      strides: number[];
      padding: string;
      relu: boolean;
      inShape: number[];
      outShape: number[];
    }
  | { kind: "pool"; ksize: number[]; strides: number[]; padding: string }
  | { kind: "flatten"; inShape: number[]; size: number }
  | { kind: "dense"; kernel: number; bias: number | null; relu: boolean; softmax: boolean }
  | { kind: "dropout"; rate: number };

/**
 * What one training step runs, in order: the plan's layers lowered to single
 * TensorFlow ops, with two rewrites that change the cost but not the result.
 * Each was kept because the benchmark shows it pays (BENCHMARKS.md, "Session
 * 4": epoch time with each turned off through FMNIST_NATIVE_PLAIN).
 * - The input conv, when a max pool whose windows tile its output follows it
 *   (the seed's 2x2 on 26x26), is one MatMul over image patches that
 *   makeBatch builds in JavaScript, laid out window position first, so the
 *   pool is a Max over the first axis and its gradient a mask (Equal, Cast,
 *   Sum, RealDiv, Mul) instead of MaxPoolGrad. Against Conv2D and MaxPool:
 *   about 9% less epoch time. (Patches without the folded pool were slower
 *   than Conv2D, 5% more epoch time, and are not used.) The mask splits the
 *   gradient evenly among tied maxima, where MaxPoolGrad gives it all to the
 *   first. Ties come from identical patches (the black background of every
 *   image), whose kernel-gradient contributions are identical, so the sum is
 *   the same; a tie between different patches would get the mean of their
 *   contributions, which is as valid a (sub)gradient of max.
 * - A conv layer followed by max pooling adds its bias and applies ReLU after
 *   the pooling, on a tensor 4x smaller: the window maximum of x + b is the
 *   maximum of x plus b (float rounding is monotonic, so even bit for bit),
 *   and ReLU commutes with max too, so outputs and gradients are unchanged.
 *   About 6% less epoch time.
 */
export type Step =
  | { op: "patches+pool"; kernel: number; kShape: number[]; geometry: PatchGeometry }
  | { op: "conv"; kernel: number; kShape: number[]; strides: number[]; padding: string; inShape: number[] }
  | { op: "pool"; ksize: number[]; strides: number[]; padding: string }
  | { op: "bias"; bias: number }
  | { op: "relu" }
  | { op: "reshape"; shape: number[]; inShape: number[] }
  | { op: "matmul"; kernel: number }
  | { op: "dropout"; rate: number };

/** The "patches+pool" step's conv output ([windows, rows, filters]) and its window maxima. */
export interface Pooled {
  conv: number;
  max: number;
}

/**
 * Where a conv on the input reads each kernel tap from (see writePatches).
 * ph x pw is the max-pool window folded into the layout (1 x 1: none).
 */
export interface PatchGeometry {
  height: number;
  width: number;
  channels: number;
  kh: number;
  kw: number;
  sy: number;
  sx: number;
  outH: number;
  outW: number;
  padTop: number;
  padLeft: number;
  ph: number;
  pw: number;
}

export function patchGeometry(conv: Extract<Layer, { kind: "conv" }>, kShape: number[]): PatchGeometry {
  const [height, width, channels] = conv.inShape;
  const [outH, outW] = conv.outShape;
  const [kh, kw] = kShape;
  const [, sy, sx] = conv.strides;
  // SAME padding: TensorFlow puts the odd pixel at the bottom/right. VALID: none.
  const pad = (out: number, stride: number, k: number, size: number) =>
    conv.padding === "SAME" ? Math.floor(Math.max((out - 1) * stride + k - size, 0) / 2) : 0;
  return {
    height,
    width,
    channels,
    kh,
    kw,
    sy,
    sx,
    outH,
    outW,
    padTop: pad(outH, sy, kh, height),
    padLeft: pad(outW, sx, kw, width),
    ph: 1,
    pw: 1,
  };
}

/** Pooling that tiles the conv's output exactly: a window size equal to its stride, dividing the output, no padding. */
export function tilingPool(conv: PatchGeometry, pool: Layer | undefined): number[] | null {
  if (pool?.kind !== "pool" || pool.padding !== "VALID") return null;
  const [, ph, pw] = pool.ksize;
  const [, sy, sx] = pool.strides;
  return ph === sy && pw === sx && conv.outH % ph === 0 && conv.outW % pw === 0 ? [ph, pw] : null;
}

/**
 * Sample `s`'s pixels as floats in [0, 1]: a view when the set already holds
 * floats; bytes divided by 255 into `scratch` (the same floats normalize
 * gives) otherwise, so a set of bytes is scaled batch by batch and never
 * copied whole (220 MB of floats for all 70,000 images).
 */
export function sampleFloats(
  images: Uint8Array | Float32Array,
  s: number,
  size: number,
  scratch: Float32Array,
): Float32Array {
  if (images instanceof Float32Array) return images.subarray(s * size, (s + 1) * size);
  for (let i = 0, at = s * size; i < size; i++) scratch[i] = images[at + i] / 255;
  return scratch;
}

/**
 * Writes sample `sample` of `batch` into `out`, a [kh*kw*channels, rows]
 * matrix: one row per kernel tap, so the inner loop is a long strided copy
 * (0.5 ms a batch against 1.5 ms for one row per patch). Columns run over
 * (pool window position, sample, pooled y, pooled x); without a pool that is
 * just (sample, y, x). Taps that fall outside the image stay 0: the buffer
 * starts zeroed and, for a given batch size, those places are never written.
 */
export function writePatches(
  g: PatchGeometry,
  image: Float32Array,
  from: number,
  out: Float32Array,
  sample: number,
  batch: number,
): void {
  const { height, width, channels, kh, kw, sy, sx, padTop, padLeft, ph, pw } = g;
  const pooledH = g.outH / ph;
  const pooledW = g.outW / pw;
  const perWindow = batch * pooledH * pooledW;
  const rows = perWindow * ph * pw;
  const step = pw * sx * channels;
  let tap = 0;
  for (let ky = 0; ky < kh; ky++) {
    for (let kx = 0; kx < kw; kx++) {
      for (let c = 0; c < channels; c++, tap++) {
        for (let dy = 0; dy < ph; dy++) {
          for (let dx = 0; dx < pw; dx++) {
            // The pooled columns whose input column is inside the image.
            const left = dx * sx + kx - padLeft;
            const px0 = Math.max(0, Math.ceil(-left / (pw * sx)));
            const px1 = Math.min(pooledW, Math.floor((width - 1 - left) / (pw * sx)) + 1);
            const base = tap * rows + (dy * pw + dx) * perWindow + sample * pooledH * pooledW;
            for (let py = 0; py < pooledH; py++) {
              const iy = (py * ph + dy) * sy + ky - padTop;
              if (iy < 0 || iy >= height) continue;
              const o = base + py * pooledW;
              let src = from + (iy * width + px0 * pw * sx + left) * channels + c;
              for (let px = px0; px < px1; px++, src += step) out[o + px] = image[src];
            }
          }
        }
      }
    }
  }
}

export function size(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}
