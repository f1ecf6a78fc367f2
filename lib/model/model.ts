// The seed's convolutional network and a Keras-style summary of it.
import { tf } from "../runtime/tf";
import { IMAGE_SIZE } from "../data/samples";

/** Options of {@link createModel}. */
export interface ModelOptions {
  /** Seed for the weight initializers; omit for a random start each time. */
  seed?: number;
  /** Adam's learning rate (Keras's default is 0.001). */
  learningRate?: number;
}

/**
 * Conv2D(28, 3x3, relu) -> MaxPooling2D(2x2) -> Conv2D(56, 3x3, relu) ->
 * Flatten -> Dense(56, relu) -> Dense(10, softmax): 394,530 parameters.
 * Initializers match Keras's defaults (Glorot-uniform kernels, zero biases),
 * and layer names follow Keras's so the summary reads the same. Input: images
 * of shape [28, 28, 1] (pixels scaled to [0, 1]); output: 10 class
 * probabilities. Compiled by {@link compileModel} (Adam, `learningRate`).
 * The same seed gives the same starting weights.
 */
export function createModel(options: ModelOptions = {}): tf.Sequential {
  const { seed, learningRate = 0.001 } = options;
  if (!(learningRate > 0)) throw new Error(`createModel: learningRate must be > 0, got ${learningRate}`);
  const kernelInitializer = kernelInitializers(seed);

  const model = tf.sequential({ name: "sequential" });
  model.add(
    tf.layers.conv2d({
      name: "conv2d",
      inputShape: [IMAGE_SIZE, IMAGE_SIZE, 1],
      filters: 28,
      kernelSize: 3,
      activation: "relu",
      kernelInitializer: kernelInitializer(),
    }),
  );
  model.add(tf.layers.maxPooling2d({ name: "max_pooling2d", poolSize: 2 }));
  model.add(
    tf.layers.conv2d({
      name: "conv2d_1",
      filters: 56,
      kernelSize: 3,
      activation: "relu",
      kernelInitializer: kernelInitializer(),
    }),
  );
  model.add(tf.layers.flatten({ name: "flatten" }));
  model.add(tf.layers.dense({ name: "dense", units: 56, activation: "relu", kernelInitializer: kernelInitializer() }));
  model.add(
    tf.layers.dense({ name: "dense_1", units: 10, activation: "softmax", kernelInitializer: kernelInitializer() }),
  );
  compileModel(model, learningRate);
  return model;
}

/**
 * Keras's default kernel initializer (Glorot-uniform) for one layer after
 * another: each call gives the next layer's, seeded seed, seed + 1, ... so a
 * seeded model starts the same every time while its layers draw different
 * numbers. The notebook builds the seed's network with it, as createModel does.
 * Unseeded (`seed` undefined), every layer draws at random.
 */
export function kernelInitializers(seed?: number): () => ReturnType<typeof tf.initializers.glorotUniform> {
  let next = seed;
  return () => tf.initializers.glorotUniform(next === undefined ? {} : { seed: next++ });
}

/**
 * The seed's compile step, in place: Adam (learning rate default 0.001,
 * Keras's), sparse categorical cross-entropy on integer labels 0-9, accuracy
 * as the metric. Any optimizer state the model had is replaced.
 */
export function compileModel(model: tf.LayersModel, learningRate = 0.001): void {
  model.compile({
    optimizer: tf.train.adam(learningRate),
    loss: "sparseCategoricalCrossentropy",
    metrics: ["accuracy"],
  });
}

export interface SummaryRow {
  name: string;
  type: string;
  outputShape: string;
  params: number;
}

export interface ModelSummary {
  name: string;
  rows: SummaryRow[];
  totalParams: number;
  trainableParams: number;
  nonTrainableParams: number;
}

/**
 * The numbers behind Keras's `model.summary()`: each layer's name, type,
 * output shape and parameter count, and the total, trainable and
 * non-trainable parameter counts.
 */
export function summarize(model: tf.LayersModel): ModelSummary {
  const rows = model.layers.map((layer) => ({
    name: layer.name,
    type: layer.getClassName(),
    outputShape: formatShape(layer.outputShape as (number | null)[]),
    params: layer.countParams(),
  }));
  const count = (weights: tf.LayerVariable[]) =>
    weights.reduce((n, w) => n + w.shape.reduce((a: number, b) => a * (b ?? 1), 1), 0);
  const trainableParams = count(model.trainableWeights);
  const nonTrainableParams = count(model.nonTrainableWeights);
  return {
    name: model.name,
    rows,
    totalParams: trainableParams + nonTrainableParams,
    trainableParams,
    nonTrainableParams,
  };
}

function formatShape(shape: (number | null)[]): string {
  return `(${shape.map((d) => (d === null ? "None" : String(d))).join(", ")})`;
}

/** 394530 -> "394,530". */
export const thousands = (n: number) => n.toLocaleString("en-US");

/** Parameter memory as Keras prints it: 4 bytes each, binary units. */
function paramBytes(n: number): string {
  const bytes = n * 4;
  if (bytes === 0) return "0.00 B";
  const units = ["B", "KB", "MB", "GB"];
  const i = Math.min(units.length - 1, Math.floor(Math.log(bytes) / Math.log(1024)));
  return `${(bytes / 1024 ** i).toFixed(2)} ${units[i]}`;
}

/** The summary's closing lines: total, trainable and non-trainable parameters with their size. */
export function totals(s: ModelSummary): [string, string][] {
  return [
    ["Total params", `${thousands(s.totalParams)} (${paramBytes(s.totalParams)})`],
    ["Trainable params", `${thousands(s.trainableParams)} (${paramBytes(s.trainableParams)})`],
    ["Non-trainable params", `${thousands(s.nonTrainableParams)} (${paramBytes(s.nonTrainableParams)})`],
  ];
}

/**
 * A {@link summarize} result as a plain-text table with Keras's columns
 * (Layer (type), Output Shape, Param #) and totals with their size (4 bytes
 * per parameter, in binary KB/MB), for terminals and logs.
 */
export function summaryText(s: ModelSummary): string {
  const header = ["Layer (type)", "Output Shape", "Param #"];
  const body = s.rows.map((r) => [`${r.name} (${r.type})`, r.outputShape, thousands(r.params)]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i].length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 2 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join("   ");
  const rule = "-".repeat(widths.reduce((a, b) => a + b + 3, -3));
  return [
    `Model: "${s.name}"`,
    rule,
    line(header),
    rule.replace(/-/g, "="),
    ...body.map(line),
    rule,
    ...totals(s).map(([k, v]) => `${k}: ${v}`),
  ].join("\n");
}
