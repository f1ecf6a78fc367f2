// Which models the fast path takes and how it runs them: planFor checks what
// holds for the whole model (optimizer, loss, metrics, softmax last) and reads
// each layer through its kind in layers.ts (or says why it declines the
// model); lower turns the plan into the steps the trainer runs, again through
// the kinds (the layers and steps themselves are steps.ts's).
import { tf } from "../../runtime/tf";
import { nativeBinding } from "./binding";
import { KIND_OF, LAYER_KINDS } from "./layers";
import type { Layer, Step } from "./steps";
// The trainers import these from here with the plan.
export { size, writePatches, type Layer, type Step } from "./steps";

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
