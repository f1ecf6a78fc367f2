// A fast training path for the seed's kind of model (Conv2D / MaxPooling2D /
// Flatten / Dropout / Dense chains with ReLU, softmax last, sparse categorical
// cross-entropy, Adam), used by train.ts's fit. Dropout draws its mask with
// TensorFlow's RandomUniform while training and passes values through when
// evaluating, as Keras does.
//
// Why: tfjs-layers' model.fit runs every training step as ~315 separate eager
// ops, each paying tfjs's JavaScript bookkeeping (engine scopes, the gradient
// tape, kernel lookup, tensor tracking) on top of TensorFlow's own per-op cost,
// and it slices each batch out of the data with extra ops. Here one step is ~60
// TensorFlow ops called straight through tfjs-node's binding: the forward pass,
// the hand-written backward pass (the same TensorFlow gradient kernels Keras's
// graph uses: Conv2DBackpropFilter/Input, MaxPoolGrad, ReluGrad, BiasAddGrad),
// fused softmax cross-entropy, and TensorFlow's own Adam update
// (ResourceApplyAdam) on resource variables, which is the update rule Keras uses.
// Batches are assembled in JavaScript memory from the shuffled index order, and
// metrics stay on the device until progress is drawn or the epoch ends.
//
// The model's weights are copied into TensorFlow variables when training
// starts and back into the model after every epoch, so evaluate, predict and
// saving see the trained weights. Adam's moments and step count live in host
// memory between fit calls (per model), so calling fit again continues training.
import { tf } from "../../runtime/tf";
import { FORWARD_BATCH_SIZE } from "../tensors";
import type { LabeledImages } from "../../data/samples";
import { getNativeAdamState, keepNativeAdamState, type AdamState } from "../../model/optimizer-state";
import { Native, nativeBinding, Variable, type Binding } from "./binding";
import { lower, planFor, size, writePatches, type Plan, type Step } from "./plan";
import { sampleFloats } from "./steps";
import { Kit } from "./ops";
import { passesFor } from "./layers";

export { nativeHandleCount } from "./binding";
export { planFor } from "./plan";

export interface EpochMetrics {
  loss: number;
  accuracy: number;
}

/** What fit needs of a fast trainer: this eager one, or the graph one (../graph/graph-trainer.ts). */
export interface FastTrainer {
  readonly kind: "graph" | "native";
  /** When set (tests only), every dropout mask a training step draws is read back here. */
  recordedMasks: Float32Array[] | null;
  trainBatch(data: LabeledImages, order: Int32Array | null, start: number, batch: number): void;
  metrics(): EpochMetrics;
  /** Starts the running loss and accuracy sums again (each epoch). */
  resetMetrics(): void;
  evaluate(data: LabeledImages, batchSize?: number): EpochMetrics;
  syncToModel(): void;
  gradients(data: LabeledImages): Float32Array[];
  dispose(): void;
}

/**
 * One epoch over `data` in `order` (null: as stored) with either fast trainer. Yields to the event
 * loop about every 50 ms so notebooks and progress bars stay live.
 */
export async function trainEpoch(
  trainer: FastTrainer,
  data: LabeledImages,
  order: Int32Array | null,
  batchSize: number,
  onBatch?: (done: number, metrics: () => EpochMetrics) => void,
): Promise<EpochMetrics> {
  trainer.resetMetrics();
  let lastYield = performance.now();
  let done = 0;
  for (let start = 0; start < data.count; start += batchSize) {
    trainer.trainBatch(data, order, start, Math.min(batchSize, data.count - start));
    done++;
    onBatch?.(done, () => trainer.metrics());
    if (performance.now() - lastYield > 50) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      lastYield = performance.now();
    }
  }
  const result = trainer.metrics();
  trainer.resetMetrics();
  return result;
}

/** Trains one model natively, op by op; create with NativeTrainer.create, always dispose(). */
export class NativeTrainer implements FastTrainer {
  readonly kind = "native" as const;
  private n: Native;
  private kit: Kit;
  private vars: Variable[];
  private m: Variable[];
  private v: Variable[];
  private state: AdamState;
  private sampleSize: number;
  private steps: Step[];
  private inputBuffers = new Map<number, Float32Array>();
  /** One sample scaled from bytes (sampleFloats). */
  private sampleScratch: Float32Array;
  /** Index of the first step with weights: the backward pass stops there. */
  private firstWeighted: number;
  // Device-side running sums for the current epoch.
  private lossSum = -1;
  private correctSum = -1;
  private seen = 0;
  /** When set (tests only), every dropout mask a training step draws is read back here. */
  recordedMasks: Float32Array[] | null = null;

  private constructor(
    private model: tf.LayersModel,
    private plan: Plan,
    b: Binding,
  ) {
    this.n = new Native(b);
    this.kit = new Kit(this.n);
    this.sampleSize = plan.inputShape.reduce((a, c) => a * c, 1);
    this.sampleScratch = new Float32Array(this.sampleSize);
    this.steps = lower(plan);
    this.firstWeighted = this.steps.findIndex((s) => s.op === "patches+pool" || s.op === "conv" || s.op === "matmul");
    // A kernel applied to image patches is kept as the [taps, filters] matrix
    // the MatMul takes (the same values in the same order), saving two reshapes a step.
    const shapes = plan.weights.map((w) => w.shape as number[]);
    for (const s of this.steps)
      if (s.op === "patches+pool") shapes[s.kernel] = [size(s.kShape.slice(0, 3)), s.kShape[3]];
    this.vars = plan.weights.map((w, i) => new Variable(this.n, shapes[i], w.read().dataSync() as Float32Array));
    const prior = getNativeAdamState(model);
    const fresh = !prior || prior.m.length !== shapes.length || prior.m.some((a, i) => a.length !== size(shapes[i]));
    this.state = fresh
      ? { step: 0, m: shapes.map((s) => new Float32Array(size(s))), v: shapes.map((s) => new Float32Array(size(s))) }
      : prior!;
    this.m = shapes.map((s, i) => new Variable(this.n, s, this.state.m[i]));
    this.v = shapes.map((s, i) => new Variable(this.n, s, this.state.v[i]));
  }

  /** A trainer, or the reason the model needs the generic path. */
  static create(model: tf.LayersModel): NativeTrainer | string {
    const plan = planFor(model);
    const b = nativeBinding();
    if (typeof plan === "string" || !b) return typeof plan === "string" ? plan : "no native binding";
    return new NativeTrainer(model, plan, b);
  }

  /** The forward pass (training: dropout active) of `batch` samples at handle x; each step's input is kept for the backward pass. */
  private forward(x: number, batch: number, weights: number[], scratch: number[], training = true) {
    const saved = new Map<number, unknown>();
    const acts: number[] = [x]; // acts[i] = input of step i
    let h = x;
    for (const [index, step] of this.steps.entries()) {
      h = passesFor(step).forward(step, h, { kit: this.kit, batch, weights, scratch, training, saved, index });
      if (this.recordedMasks && step.op === "dropout" && training)
        this.recordedMasks.push(this.n.read(saved.get(index) as number));
      acts.push(h);
    }
    return { logits: h, acts, saved };
  }

  /** Gradients of the weights, from the gradient of the mean loss at the logits. */
  private backward(
    g: number,
    batch: number,
    weights: number[],
    acts: number[],
    saved: Map<number, unknown>,
    scratch: number[],
  ) {
    const grads = new Array<number>(weights.length);
    for (let i = this.steps.length - 1; i >= this.firstWeighted; i--) {
      const step = this.steps[i];
      g = passesFor(step).backward(step, g, {
        kit: this.kit,
        batch,
        weights,
        scratch,
        training: true,
        saved,
        index: i,
        input: acts[i],
        output: acts[i + 1],
        grads,
        needInputGrad: i > this.firstWeighted,
      });
    }
    return grads;
  }

  /** Per-sample losses and the number of correct predictions (handles in scratch). */
  private lossAndCorrect(logits: number, labels: number, scratch: number[]) {
    const n = this.n;
    const [lossVec, dLogits] = n.run(
      "SparseSoftmaxCrossEntropyWithLogits",
      [n.T, n.type("Tlabels", n.b.TF_INT32)],
      [logits, labels],
      2,
      scratch,
    );
    const axis0 = this.kit.axisConst(0);
    const axis1 = this.kit.axisConst(1);
    const lossSum = n.run1(
      "Sum",
      [n.T, n.type("Tidx", n.b.TF_INT32), n.bool("keep_dims", false)],
      [lossVec, axis0],
      scratch,
    );
    const predicted = n.run1(
      "ArgMax",
      [n.T, n.type("Tidx", n.b.TF_INT32), n.type("output_type", n.b.TF_INT32)],
      [logits, axis1],
      scratch,
    );
    const hit = n.run1("Equal", [n.type("T", n.b.TF_INT32)], [predicted, labels], scratch);
    const hitF = n.run1("Cast", [n.type("SrcT", n.b.TF_BOOL), n.type("DstT", n.b.TF_FLOAT)], [hit], scratch);
    const correct = n.run1(
      "Sum",
      [n.T, n.type("Tidx", n.b.TF_INT32), n.bool("keep_dims", false)],
      [hitF, axis0],
      scratch,
    );
    return { dLogits, lossSum, correct };
  }

  private accumulate(lossSum: number, correct: number, count: number): void {
    const n = this.n;
    const add = (acc: number, v: number) => {
      if (acc < 0) return n.run1("Identity", [n.T], [v], null);
      const out = n.run1("AddV2", [n.T], [acc, v], null);
      n.free([acc]);
      return out;
    };
    this.lossSum = add(this.lossSum, lossSum);
    this.correctSum = add(this.correctSum, correct);
    this.seen += count;
  }

  /** Mean loss and accuracy over the samples seen this epoch so far (reads two scalars). */
  metrics(): EpochMetrics {
    if (this.seen === 0) return { loss: NaN, accuracy: NaN };
    return { loss: this.n.scalar(this.lossSum) / this.seen, accuracy: this.n.scalar(this.correctSum) / this.seen };
  }

  resetMetrics(): void {
    this.n.free([this.lossSum, this.correctSum].filter((id) => id >= 0));
    this.lossSum = this.correctSum = -1;
    this.seen = 0;
  }

  private makeBatch(data: LabeledImages, order: Int32Array | null, start: number, batch: number, scratch: number[]) {
    const size = this.sampleSize;
    const first = this.steps[0];
    const patches = first.op === "patches+pool" ? first.geometry : null;
    const rowsPerSample = patches ? patches.outH * patches.outW : 1;
    const taps = patches ? patches.kh * patches.kw * patches.channels : size;
    // One buffer per batch size, reused: TensorFlow borrows it only until the
    // step frees its handles, and the taps outside the image (never written)
    // stay 0 because the same batch size puts them at the same places.
    let xs = this.inputBuffers.get(batch);
    if (!xs) this.inputBuffers.set(batch, (xs = new Float32Array(batch * rowsPerSample * taps)));
    const ys = new Int32Array(batch);
    for (let i = 0; i < batch; i++) {
      const s = order ? order[start + i] : start + i;
      const pixels = sampleFloats(data.images, s, size, this.sampleScratch);
      if (patches) writePatches(patches, pixels, 0, xs, i, batch);
      else xs.set(pixels, i * size);
      ys[i] = data.labels[s];
    }
    const x = this.n.tensor(patches ? [taps, batch * rowsPerSample] : [batch, ...this.plan.inputShape], xs);
    const y = this.n.tensor([batch], ys);
    scratch.push(x, y);
    return { x, y };
  }

  /** One optimizer step on samples order[start .. start+batch). */
  trainBatch(data: LabeledImages, order: Int32Array | null, start: number, batch: number): void {
    const n = this.n;
    const T = n.T;
    const scratch: number[] = [];
    try {
      const { x, y } = this.makeBatch(data, order, start, batch, scratch);
      const weights = this.vars.map((v) => v.read(scratch));
      const { logits, acts, saved } = this.forward(x, batch, weights, scratch);
      const { dLogits, lossSum, correct } = this.lossAndCorrect(logits, y, scratch);
      this.accumulate(lossSum, correct, batch);

      // Backward: d(mean loss)/d(logits) = (softmax - onehot) / batch.
      const grads = this.backward(
        n.run1("Mul", [T], [dLogits, this.kit.floatConst(1 / batch)], scratch),
        batch,
        weights,
        acts,
        saved,
        scratch,
      );

      // TensorFlow's Adam (the update rule of Keras's Adam).
      const p = this.plan;
      const t = ++this.state.step;
      const b1p = n.tensor([], Float32Array.of(Math.pow(p.beta1, t)));
      const b2p = n.tensor([], Float32Array.of(Math.pow(p.beta2, t)));
      scratch.push(b1p, b2p);
      const consts = [
        this.kit.floatConst(p.learningRate),
        this.kit.floatConst(p.beta1),
        this.kit.floatConst(p.beta2),
        this.kit.floatConst(p.epsilon),
      ];
      const adamAttrs = [T, n.bool("use_locking", false), n.bool("use_nesterov", false)];
      for (let k = 0; k < grads.length; k++) {
        n.run(
          "ResourceApplyAdam",
          adamAttrs,
          [this.vars[k].handle, this.m[k].handle, this.v[k].handle, b1p, b2p, ...consts, grads[k]],
          0,
          null,
        );
      }
    } finally {
      n.free(scratch);
    }
  }

  /**
   * Mean loss and accuracy of the current weights on a data set (forward only).
   * Batches of 128 measured faster than 500 (1.7 vs 2.6 CPU s per 6,000 images)
   * and keep peak RSS ~150 MB lower (smaller conv activations).
   */
  evaluate(data: LabeledImages, batchSize = FORWARD_BATCH_SIZE): EpochMetrics {
    const n = this.n;
    let loss = 0;
    let correct = 0;
    const weightScratch: number[] = [];
    try {
      const weights = this.vars.map((v) => v.read(weightScratch));
      for (let start = 0; start < data.count; start += batchSize) {
        const batch = Math.min(batchSize, data.count - start);
        const scratch: number[] = [];
        try {
          const { x, y } = this.makeBatch(data, null, start, batch, scratch);
          const { logits } = this.forward(x, batch, weights, scratch, false);
          const r = this.lossAndCorrect(logits, y, scratch);
          loss += n.scalar(r.lossSum);
          correct += n.scalar(r.correct);
        } finally {
          n.free(scratch);
        }
      }
    } finally {
      n.free(weightScratch);
    }
    return { loss: loss / data.count, accuracy: correct / data.count };
  }

  /** Copies the trained weights into the model (and Adam's state into host memory). */
  syncToModel(): void {
    tf.tidy(() => {
      this.plan.weights.forEach((w, i) => w.write(tf.tensor(this.vars[i].values(), w.shape as number[])));
    });
    this.state.m = this.m.map((v) => v.values());
    this.state.v = this.v.map((v) => v.values());
    keepNativeAdamState(this.model, this.state);
  }

  /** Gradients of the mean loss for one batch, without updating (for tests). */
  gradients(data: LabeledImages): Float32Array[] {
    const saved = this.vars.map((v) => v.values());
    const m = this.m.map((v) => v.values());
    const vv = this.v.map((v) => v.values());
    const step = this.state.step;
    // Plain gradient descent cannot be asked of ResourceApplyAdam, so recover
    // the gradient from one Adam step started at zero moments: m1 = (1 - beta1) g.
    this.m.forEach((v) => v.assign(new Float32Array(v.values().length)));
    this.v.forEach((v) => v.assign(new Float32Array(v.values().length)));
    this.state.step = 0;
    this.trainBatch(data, null, 0, data.count);
    this.resetMetrics();
    const grads = this.m.map((v) => v.values().map((x) => x / (1 - this.plan.beta1)));
    this.vars.forEach((v, i) => v.assign(saved[i]));
    this.m.forEach((v, i) => v.assign(m[i]));
    this.v.forEach((v, i) => v.assign(vv[i]));
    this.state.step = step;
    return grads;
  }

  dispose(): void {
    this.resetMetrics();
    for (const v of [...this.vars, ...this.m, ...this.v]) v.dispose();
    this.n.dispose();
  }
}
