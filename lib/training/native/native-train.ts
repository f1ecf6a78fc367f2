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
import type { LabeledImages } from "../../data/samples";
import { getNativeAdamState, keepNativeAdamState, type AdamState } from "../../model/optimizer-state";
import { Native, nativeBinding, Variable, type Binding, type OpAttr } from "./binding";
import { lower, planFor, size, writePatches, type Plan, type PatchGeometry, type Pooled, type Step } from "./plan";

export { nativeHandleCount } from "./binding";
export { planFor } from "./plan";

export interface EpochMetrics {
  loss: number;
  accuracy: number;
}

/** Trains one model natively; create with NativeTrainer.create, always dispose(). */
export class NativeTrainer {
  private n: Native;
  private vars: Variable[];
  private m: Variable[];
  private v: Variable[];
  private state: AdamState;
  private sampleSize: number;
  private steps: Step[];
  private inputBuffers = new Map<number, Float32Array>();
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
    this.sampleSize = plan.inputShape.reduce((a, c) => a * c, 1);
    this.steps = lower(plan);
    this.firstWeighted = this.steps.findIndex(
      (s) => s.op === "patches" || s.op === "patches+pool" || s.op === "conv" || s.op === "matmul",
    );
    // A kernel applied to image patches is kept as the [taps, filters] matrix
    // the MatMul takes (the same values in the same order), saving two reshapes a step.
    const shapes = plan.weights.map((w) => w.shape as number[]);
    for (const s of this.steps)
      if (s.op === "patches" || s.op === "patches+pool") shapes[s.kernel] = [size(s.kShape.slice(0, 3)), s.kShape[3]];
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

  private shapeConst(shape: number[]): number {
    return this.n.constant(`shape:${shape.join(",")}`, () => Int32Array.from(shape), [shape.length]);
  }

  private axisConst(axis: number): number {
    return this.n.constant(`axis${axis}`, () => Int32Array.of(axis), []);
  }

  private floatConst(value: number): number {
    return this.n.constant(`float:${value}`, () => Float32Array.of(value), []);
  }

  /**
   * Forward pass of `batch` samples at handle x (image patches when the first
   * step is "patches"). Returns the logits and each step's input, which the
   * backward pass needs. All handles go to scratch.
   */
  private forward(x: number, batch: number, weights: number[], scratch: number[], training = true) {
    const n = this.n;
    const T = n.T;
    const acts: number[] = [x]; // acts[i] = input of step i
    let pooled: Pooled | null = null; // what the "patches+pool" backward needs
    const masks = new Map<number, number>(); // dropout step -> its mask (0 or 1 / (1 - rate))
    let h = x;
    for (const [index, step] of this.steps.entries()) {
      switch (step.op) {
        case "dropout": {
          if (!training) break;
          // Keep each value with probability 1 - rate, scaled by 1 / (1 - rate), as Keras does.
          const shape = n.run1("Shape", [T, n.type("out_type", n.b.TF_INT32)], [h], scratch);
          const uniform = n.run1(
            "RandomUniform",
            [n.type("T", n.b.TF_INT32), n.type("dtype", n.b.TF_FLOAT), n.ints("seed", 0), n.ints("seed2", 0)],
            [shape],
            scratch,
          );
          const keep = n.run1("GreaterEqual", [T], [uniform, this.floatConst(step.rate)], scratch);
          const kept = n.run1("Cast", [n.type("SrcT", n.b.TF_BOOL), n.type("DstT", n.b.TF_FLOAT)], [keep], scratch);
          const mask = n.run1("Mul", [T], [kept, this.floatConst(1 / (1 - step.rate))], scratch);
          if (this.recordedMasks) this.recordedMasks.push(n.read(mask));
          masks.set(index, mask);
          h = n.run1("Mul", [T], [h, mask], scratch);
          break;
        }
        case "patches": {
          const g = step.geometry;
          h = this.reshape(
            this.matmul(h, weights[step.kernel], true, false, scratch),
            [batch, g.outH, g.outW, step.kShape[3]],
            scratch,
          );
          break;
        }
        case "patches+pool": {
          const { windows, rows, pooledShape } = this.pooledLayout(step, batch);
          const conv = this.reshape(
            this.matmul(h, weights[step.kernel], true, false, scratch),
            [windows, rows, step.kShape[3]],
            scratch,
          );
          const max = n.run1(
            "Max",
            [T, n.type("Tidx", n.b.TF_INT32), n.bool("keep_dims", false)],
            [conv, this.axisConst(0)],
            scratch,
          );
          pooled = { conv, max };
          h = this.reshape(max, pooledShape, scratch);
          break;
        }
        case "conv":
          h = n.run1(
            "Conv2D",
            [T, n.ints("strides", step.strides), n.str("padding", step.padding)],
            [h, weights[step.kernel]],
            scratch,
          );
          break;
        case "pool":
          h = n.run1("MaxPool", this.poolAttrs(step), [h], scratch);
          break;
        case "bias":
          h = n.run1("BiasAdd", [T], [h, weights[step.bias]], scratch);
          break;
        case "relu":
          h = n.run1("Relu", [T], [h], scratch);
          break;
        case "reshape":
          h = this.reshape(h, [batch, ...step.shape], scratch);
          break;
        case "matmul":
          h = this.matmul(h, weights[step.kernel], false, false, scratch);
          break;
      }
      acts.push(h);
    }
    return { logits: h, acts, pooled, masks };
  }

  /** The "patches+pool" shapes for `batch` samples: pool windows, rows per window position, the pooled NHWC shape. */
  private pooledLayout(step: { geometry: PatchGeometry; kShape: number[] }, batch: number) {
    const g = step.geometry;
    const pooledH = g.outH / g.ph;
    const pooledW = g.outW / g.pw;
    return {
      windows: g.ph * g.pw,
      rows: batch * pooledH * pooledW,
      pooledShape: [batch, pooledH, pooledW, step.kShape[3]],
    };
  }

  /** Gradients of the weights, from the gradient of the mean loss at the logits. */
  private backward(
    g: number,
    batch: number,
    weights: number[],
    acts: number[],
    pooled: Pooled | null,
    masks: Map<number, number>,
    scratch: number[],
  ): number[] {
    const n = this.n;
    const T = n.T;
    const grads = new Array<number>(weights.length);
    const steps = this.steps;
    for (let i = steps.length - 1; i >= this.firstWeighted; i--) {
      const step = steps[i];
      const input = acts[i];
      const output = acts[i + 1];
      const needInputGrad = i > this.firstWeighted;
      switch (step.op) {
        case "dropout":
          g = n.run1("Mul", [T], [g, masks.get(i)!], scratch);
          break;
        case "patches": {
          const rows = this.reshape(g, [batch * step.geometry.outH * step.geometry.outW, step.kShape[3]], scratch);
          grads[step.kernel] = this.matmul(input, rows, false, false, scratch);
          break;
        }
        case "patches+pool": {
          // Each window's gradient goes to its maxima, split evenly among ties (see Step).
          const { windows, rows } = this.pooledLayout(step, batch);
          const { conv, max } = pooled!;
          const isMax = n.run1(
            "Cast",
            [n.type("SrcT", n.b.TF_BOOL), n.type("DstT", n.b.TF_FLOAT)],
            [n.run1("Equal", [T], [conv, max], scratch)],
            scratch,
          );
          const ties = n.run1(
            "Sum",
            [T, n.type("Tidx", n.b.TF_INT32), n.bool("keep_dims", false)],
            [isMax, this.axisConst(0)],
            scratch,
          );
          const share = n.run1("RealDiv", [T], [this.reshape(g, [rows, step.kShape[3]], scratch), ties], scratch);
          const dConv = this.reshape(
            n.run1("Mul", [T], [isMax, share], scratch),
            [windows * rows, step.kShape[3]],
            scratch,
          );
          grads[step.kernel] = this.matmul(input, dConv, false, false, scratch);
          break;
        }
        case "conv": {
          const attrs = [T, n.ints("strides", step.strides), n.str("padding", step.padding)];
          grads[step.kernel] = n.run1("Conv2DBackpropFilter", attrs, [input, this.shapeConst(step.kShape), g], scratch);
          if (needInputGrad) {
            g = n.run1(
              "Conv2DBackpropInput",
              attrs,
              [this.shapeConst([batch, ...step.inShape]), weights[step.kernel], g],
              scratch,
            );
          }
          break;
        }
        case "pool":
          g = n.run1("MaxPoolGrad", this.poolAttrs(step), [input, output, g], scratch);
          break;
        case "bias":
          grads[step.bias] = n.run1("BiasAddGrad", [T], [g], scratch);
          break;
        case "relu":
          g = n.run1("ReluGrad", [T], [g, output], scratch);
          break;
        case "reshape":
          g = this.reshape(g, [batch, ...step.inShape], scratch);
          break;
        case "matmul":
          grads[step.kernel] = this.matmul(input, g, true, false, scratch);
          if (needInputGrad) g = this.matmul(g, weights[step.kernel], false, true, scratch);
          break;
      }
    }
    return grads;
  }

  private reshape(h: number, shape: number[], scratch: number[]): number {
    return this.n.run1(
      "Reshape",
      [this.n.T, this.n.type("Tshape", this.n.b.TF_INT32)],
      [h, this.shapeConst(shape)],
      scratch,
    );
  }

  private matmul(a: number, b: number, transposeA: boolean, transposeB: boolean, scratch: number[]): number {
    const n = this.n;
    return n.run1(
      "MatMul",
      [n.T, n.bool("transpose_a", transposeA), n.bool("transpose_b", transposeB)],
      [a, b],
      scratch,
    );
  }

  private poolAttrs(step: { ksize: number[]; strides: number[]; padding: string }): OpAttr[] {
    const n = this.n;
    return [n.T, n.ints("ksize", step.ksize), n.ints("strides", step.strides), n.str("padding", step.padding)];
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
    const axis0 = this.axisConst(0);
    const axis1 = this.axisConst(1);
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

  private resetMetrics(): void {
    this.n.free([this.lossSum, this.correctSum].filter((id) => id >= 0));
    this.lossSum = this.correctSum = -1;
    this.seen = 0;
  }

  private makeBatch(
    data: LabeledImages<Float32Array>,
    order: Int32Array | null,
    start: number,
    batch: number,
    scratch: number[],
  ) {
    const size = this.sampleSize;
    const first = this.steps[0];
    const patches = first.op === "patches" || first.op === "patches+pool" ? first.geometry : null;
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
      if (patches) writePatches(patches, data.images, s * size, xs, i, batch);
      else xs.set(data.images.subarray(s * size, (s + 1) * size), i * size);
      ys[i] = data.labels[s];
    }
    const x = this.n.tensor(patches ? [taps, batch * rowsPerSample] : [batch, ...this.plan.inputShape], xs);
    const y = this.n.tensor([batch], ys);
    scratch.push(x, y);
    return { x, y };
  }

  /** One optimizer step on samples order[start .. start+batch). */
  trainBatch(data: LabeledImages<Float32Array>, order: Int32Array | null, start: number, batch: number): void {
    const n = this.n;
    const T = n.T;
    const scratch: number[] = [];
    try {
      const { x, y } = this.makeBatch(data, order, start, batch, scratch);
      const weights = this.vars.map((v) => v.read(scratch));
      const { logits, acts, pooled, masks } = this.forward(x, batch, weights, scratch);
      const { dLogits, lossSum, correct } = this.lossAndCorrect(logits, y, scratch);
      this.accumulate(lossSum, correct, batch);

      // Backward: d(mean loss)/d(logits) = (softmax - onehot) / batch.
      const grads = this.backward(
        n.run1("Mul", [T], [dLogits, this.floatConst(1 / batch)], scratch),
        batch,
        weights,
        acts,
        pooled,
        masks,
        scratch,
      );

      // TensorFlow's Adam (the update rule of Keras's Adam).
      const p = this.plan;
      const t = ++this.state.step;
      const b1p = n.tensor([], Float32Array.of(Math.pow(p.beta1, t)));
      const b2p = n.tensor([], Float32Array.of(Math.pow(p.beta2, t)));
      scratch.push(b1p, b2p);
      const consts = [
        this.floatConst(p.learningRate),
        this.floatConst(p.beta1),
        this.floatConst(p.beta2),
        this.floatConst(p.epsilon),
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
  evaluate(data: LabeledImages<Float32Array>, batchSize = 128): EpochMetrics {
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

  /**
   * One epoch over `data` in `order` (null: as stored). Yields to the event
   * loop about every 50 ms so notebooks and progress bars stay live.
   */
  async trainEpoch(
    data: LabeledImages<Float32Array>,
    order: Int32Array | null,
    batchSize: number,
    onBatch?: (done: number, metrics: () => EpochMetrics) => void,
  ): Promise<EpochMetrics> {
    this.resetMetrics();
    let lastYield = performance.now();
    let done = 0;
    for (let start = 0; start < data.count; start += batchSize) {
      this.trainBatch(data, order, start, Math.min(batchSize, data.count - start));
      done++;
      onBatch?.(done, () => this.metrics());
      if (performance.now() - lastYield > 50) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        lastYield = performance.now();
      }
    }
    const result = this.metrics();
    this.resetMetrics();
    return result;
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
  gradients(data: LabeledImages<Float32Array>): Float32Array[] {
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
