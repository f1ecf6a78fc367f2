// Adam's state (step count and both moments of every weight), read from and
// written into a model whichever trainer last trained it, and its file form:
// what saveModel and checkpoints keep so that training continues as it would
// have (the moments decide the next steps' sizes).
import { tf } from "../runtime/tf";

export interface OptimizerState {
  step: number;
  /** First and second moments, flat, one array per trainable weight in the model's order. */
  m: Float32Array[];
  v: Float32Array[];
}

/** Adam's state as the native trainer keeps it (the same fields as OptimizerState). */
export type AdamState = OptimizerState;

/** The native trainer's Adam state per model between fit calls (garbage-collected with the model). */
const nativeStates = new WeakMap<tf.LayersModel, AdamState>();

/** The native trainer's Adam state for a model (moments flat, in the model's trainable-weight order). */
export function getNativeAdamState(model: tf.LayersModel): AdamState | undefined {
  return nativeStates.get(model);
}

/** Where the native trainer keeps its state after an epoch (shared, not copied). */
export function keepNativeAdamState(model: tf.LayersModel, state: AdamState): void {
  nativeStates.set(model, state);
}

/** Sets the Adam state the next native training of this model starts from (a saved model, a checkpoint). */
export function setNativeAdamState(model: tf.LayersModel, state: AdamState): void {
  nativeStates.set(model, { step: state.step, m: state.m.map((a) => a.slice()), v: state.v.map((a) => a.slice()) });
}

const trainedBy = new WeakMap<tf.LayersModel, "native" | "layers">();

/** Called by fit: which trainer holds the model's current optimizer state. */
export function noteTrainer(model: tf.LayersModel, trainer: "native" | "layers"): void {
  trainedBy.set(model, trainer);
}

function adamOf(model: tf.LayersModel): tf.Optimizer | undefined {
  const opt = (model as unknown as { optimizer?: tf.Optimizer }).optimizer;
  return opt && opt.getClassName() === "Adam" ? opt : undefined;
}

/** The model's Adam state, or undefined when it was never trained (or uses another optimizer). */
export async function readOptimizerState(model: tf.LayersModel): Promise<OptimizerState | undefined> {
  if (trainedBy.get(model) === "native") return getNativeAdamState(model);
  const opt = adamOf(model);
  if (!opt) return undefined;
  const weights = await opt.getWeights(); // [iterations, first moments..., second moments...]
  if (weights.length < 3) return getNativeAdamState(model);
  const k = (weights.length - 1) / 2;
  const flat = (i: number) => Float32Array.from(weights[i].tensor.dataSync() as Float32Array);
  return {
    step: (await weights[0].tensor.data())[0],
    m: Array.from({ length: k }, (_, i) => flat(1 + i)),
    v: Array.from({ length: k }, (_, i) => flat(1 + k + i)),
  };
}

/** Makes both trainers continue from `state` (the model must be compiled with Adam). */
export async function writeOptimizerState(model: tf.LayersModel, state: OptimizerState): Promise<void> {
  const weights = model.trainableWeights;
  if (
    state.m.length !== weights.length ||
    state.m.some((m, i) => m.length !== weights[i].shape.reduce((a: number, b) => a * (b ?? 1), 1))
  ) {
    throw new Error(
      `the saved optimizer state does not fit this model (${state.m.length} weights saved, ${weights.length} in the model)`,
    );
  }
  setNativeAdamState(model, state);
  const opt = adamOf(model);
  if (!opt) return;
  const named = (arrays: Float32Array[]) =>
    arrays.map((a, i) => ({ name: weights[i].originalName, tensor: tf.tensor(a, weights[i].shape as number[]) }));
  await opt.setWeights([
    { name: "iter", tensor: tf.scalar(state.step, "int32") },
    ...named(state.m),
    ...named(state.v),
  ]);
}

/** The state as files: optimizer.json (step, sizes) and optimizer.bin (every m, then every v, float32). */
export function encodeOptimizerState(state: OptimizerState): { "optimizer.json": string; "optimizer.bin": Uint8Array } {
  const arrays = [...state.m, ...state.v];
  const bin = new Float32Array(arrays.reduce((n, a) => n + a.length, 0));
  let at = 0;
  for (const a of arrays) {
    bin.set(a, at);
    at += a.length;
  }
  return {
    "optimizer.json": JSON.stringify({ kind: "adam", step: state.step, sizes: state.m.map((a) => a.length) }),
    "optimizer.bin": new Uint8Array(bin.buffer),
  };
}

export function decodeOptimizerState(json: string, bin: Uint8Array): OptimizerState {
  const head = JSON.parse(json) as { kind?: string; step?: number; sizes?: number[] };
  if (head.kind !== "adam" || typeof head.step !== "number" || !Array.isArray(head.sizes))
    throw new Error("optimizer.json is not an Adam state");
  const floats = new Float32Array(bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength));
  const total = head.sizes.reduce((a, b) => a + b, 0);
  if (floats.length !== 2 * total)
    throw new Error(`optimizer.bin holds ${floats.length} values, expected ${2 * total}`);
  let at = 0;
  const take = () => head.sizes!.map((n) => floats.slice(at, (at += n)));
  const m = take();
  const v = take();
  return { step: head.step, m, v };
}
