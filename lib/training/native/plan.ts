// Which models the fast path takes and how it runs them: planFor checks what
// holds for the whole model (optimizer, loss, metrics, softmax last) and reads
// each layer through its kind in layers.ts (or says why it declines the
// model); lower turns the plan into the steps the trainer runs, again through
// the kinds; the data structures they share, and the patch geometry of the
// input convolution (one MatMul over image patches with its pool folded in).
import { tf } from "../../runtime/tf";
import { nativeBinding } from "./binding";
import { KIND_OF, LAYER_KINDS } from "./layers";

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

export interface Plan {
  layers: Layer[];
  weights: tf.LayerVariable[];
  inputShape: number[];
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
}

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

/**
 * The layout tricks lower applies (all by default). FMNIST_NATIVE_PLAIN, a
 * comma list of "patches" and "late-activation", turns them off:
 * for the benchmark that measures what each one buys (BENCHMARKS.md) and the
 * test that checks the plain steps' gradients too.
 */
export function layoutTricks(env: NodeJS.ProcessEnv = process.env) {
  const off = (env.FMNIST_NATIVE_PLAIN ?? "").split(",").map((t) => t.trim());
  return { patches: !off.includes("patches"), lateActivation: !off.includes("late-activation") };
}

export function lower(plan: Plan, tricks = layoutTricks()): Step[] {
  const steps: Step[] = [];
  const deferred: Step[] = [];
  for (let i = 0; i < plan.layers.length; i++) {
    let skip = false;
    KIND_OF[plan.layers[i].kind].lower(plan.layers[i], {
      index: i,
      next: plan.layers[i + 1],
      weights: plan.weights,
      tricks,
      steps,
      deferred,
      skipNext: () => {
        skip = true;
      },
    });
    if (skip) i++;
  }
  return steps;
}

const dims = (shape: unknown): number[] | null => {
  if (!Array.isArray(shape) || Array.isArray(shape[0])) return null;
  const rest = shape.slice(1);
  return rest.every((d) => Number.isInteger(d) && d > 0) ? (rest as number[]) : null;
};

/**
 * The native plan for a model, or a reason why the model needs tfjs-layers'
 * generic fit (any other layer, activation, loss, metric, optimizer or setting).
 */
export function planFor(model: tf.LayersModel): Plan | string {
  if (!nativeBinding()) return "the native TensorFlow backend is not in use";
  const opt = model.optimizer as unknown as
    { getClassName?: () => string; getConfig?: () => Record<string, unknown> } | undefined;
  if (!opt || opt.getClassName?.() !== "Adam") return "the optimizer is not Adam";
  const oc = opt.getConfig?.() ?? {};
  const losses = (model as unknown as { loss?: unknown }).loss;
  const lossName = Array.isArray(losses) ? losses[0] : losses;
  if (lossName !== "sparseCategoricalCrossentropy" && lossName !== "sparse_categorical_crossentropy") {
    return "the loss is not sparse categorical cross-entropy";
  }
  const metrics = (model as unknown as { metrics?: unknown }).metrics;
  const metricNames = Array.isArray(metrics) ? metrics : metrics === undefined ? [] : [metrics];
  if (metricNames.some((m) => m !== "accuracy" && m !== "acc")) return "a metric other than accuracy is compiled";
  if (model.inputs.length !== 1 || model.outputs.length !== 1) return "the model has several inputs or outputs";

  const weights: tf.LayerVariable[] = [];
  const layers: Layer[] = [];
  const addWeight = (w: tf.LayerVariable) => weights.push(w) - 1;
  for (let i = 0; i < model.layers.length; i++) {
    const layer = model.layers[i];
    const cls = layer.getClassName();
    const cfg = layer.getConfig() as Record<string, unknown>;
    const last = i === model.layers.length - 1;
    if (cls === "InputLayer") continue;
    const input = layer.input;
    const inShape = Array.isArray(input) ? null : dims(input.shape);
    if (!inShape || !layer.trainable) return `layer ${layer.name} has an unknown input shape or is frozen`;
    if (
      cfg.kernelRegularizer ||
      cfg.biasRegularizer ||
      cfg.activityRegularizer ||
      cfg.kernelConstraint ||
      cfg.biasConstraint
    ) {
      return `layer ${layer.name} has a regularizer or constraint`;
    }
    const act = cfg.activation;
    if (act !== undefined && act !== "relu" && act !== "linear" && !(act === "softmax" && last && cls === "Dense")) {
      return `layer ${layer.name} uses activation ${String(act)}`;
    }
    const kind = LAYER_KINDS[cls];
    if (!kind) return `layer ${layer.name} is a ${cls}`;
    const read = kind.read({ layer, cfg, inShape, activation: act, addWeight });
    if (typeof read === "string") return read;
    layers.push(read);
  }
  const lastLayer = layers[layers.length - 1];
  if (!lastLayer || lastLayer.kind !== "dense" || !lastLayer.softmax)
    return "the last layer is not a softmax Dense layer";
  if (weights.length !== model.trainableWeights.length || model.nonTrainableWeights.length > 0) {
    return "the model has weights outside Conv2D/Dense layers";
  }
  const inputShape = dims(model.inputs[0].shape);
  if (!inputShape) return "the input shape is not fixed";
  const num = (v: unknown, d: number) => (typeof v === "number" && Number.isFinite(v) ? v : d);
  return {
    layers,
    weights,
    inputShape,
    learningRate: num(oc.learningRate, 0.001),
    beta1: num(oc.beta1, 0.9),
    beta2: num(oc.beta2, 0.999),
    // tfjs's Adam defaults epsilon to the backend's (1e-7, Keras's default too).
    epsilon: num(oc.epsilon, tf.backend().epsilon()),
  };
}

export function size(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}
