// The native training step as one TensorFlow graph, run by one TF_SessionRun
// per step through the graph-step addon (lib/native/graph_step.cc), instead of
// ~60 eager ops through tfjs-node's binding. fit's default trainer when the
// addon is built; the eager NativeTrainer is its fallback.
//
// The graph is built by the eager path's own passes (../native/layers.ts),
// unchanged: they describe ops through a Binding, and GraphBinding below adds
// each op to the graph instead of running it. So both paths share the plan,
// the lowering, the hand-written gradients and TensorFlow's Adam; what differs
// is who dispatches the kernels. In a graph TensorFlow also fuses conv/matmul
// with bias and ReLU (oneDNN), which eager mode cannot: ~25% less CPU a step
// (bench/graph-step/README.md).
//
// State keeps the eager trainer's layout (the patch kernel as [taps, filters],
// Adam's moments flat in the model's weight order, the step count in
// JavaScript), so syncToModel, checkpoints and resuming work unchanged, and
// either trainer can continue what the other started.
import { tf } from "../../runtime/tf";
import { FORWARD_BATCH_SIZE } from "../tensors";
import type { LabeledImages } from "../../data/samples";
import { getNativeAdamState, keepNativeAdamState, type AdamState } from "../../model/optimizer-state";
import { Native, nativeBinding, type Binding, type OpAttr } from "../native/binding";
import { Kit } from "../native/ops";
import { passesFor } from "../native/layers";
import { lower, planFor, size, writePatches, type Plan, type Step } from "../native/plan";
import { sampleFloats } from "../native/steps";
import type { EpochMetrics, FastTrainer } from "../native/native-train";
import { loadGraphAddon, type Graph, type GraphAddon, type Values } from "./addon";

// The session's ConfigProto, serialized: experimental { disable_thread_spinning: true }.
// TensorFlow's worker threads otherwise spin while waiting for the next op; with
// one small step after another on two cores that burnt CPU for nothing: 1-2% of
// the step's CPU time (16 turns side by side, twice: 0.728 and 0.722 of the eager
// step against 0.737 and 0.734 without it).
const SESSION_CONFIG = Uint8Array.of(0x82, 0x01, 0x02, 0x48, 0x01);

// Graph output ids are offset far above tfjs-node's tensor ids: Native counts
// every id it sees in one set, shared with the eager trainer in this process.
const ID_BASE = 2 ** 40;

/** A Binding whose "execution" adds the op to a graph: what the native passes call, recorded. */
class GraphBinding implements Binding {
  lastOp = -1;
  /** Every id handed out, so dispose can take them off Native's live-handle count. */
  readonly issued: number[] = [];
  TF_FLOAT: number;
  TF_INT32: number;
  TF_BOOL: number;
  TF_ATTR_STRING: number;
  TF_ATTR_INT: number;
  TF_ATTR_FLOAT: number;
  TF_ATTR_BOOL: number;
  TF_ATTR_TYPE: number;
  TF_ATTR_SHAPE: number;

  constructor(
    private addon: GraphAddon,
    private graph: Graph,
    real: Binding,
  ) {
    // The enum values are TensorFlow's (TF_DataType, TF_AttrType): take them from tfjs-node's binding.
    this.TF_FLOAT = real.TF_FLOAT;
    this.TF_INT32 = real.TF_INT32;
    this.TF_BOOL = real.TF_BOOL;
    this.TF_ATTR_STRING = real.TF_ATTR_STRING;
    this.TF_ATTR_INT = real.TF_ATTR_INT;
    this.TF_ATTR_FLOAT = real.TF_ATTR_FLOAT;
    this.TF_ATTR_BOOL = real.TF_ATTR_BOOL;
    this.TF_ATTR_TYPE = real.TF_ATTR_TYPE;
    this.TF_ATTR_SHAPE = real.TF_ATTR_SHAPE;
  }

  createTensor(shape: number[], _dtype: number, values: Values): number {
    const [op] = this.addon.addConst(this.graph, values, shape);
    this.lastOp = op;
    return this.issue(op * 8);
  }
  deleteTensor(): void {}
  tensorDataSync(): never {
    throw new Error("a graph output has no value until the session runs");
  }
  executeOp(name: string, attrs: OpAttr[], inputs: number[], _n: number, control: number[] = []) {
    const [op, outputs] = this.addon.addOp(
      this.graph,
      name,
      inputs.map((id) => id - ID_BASE),
      attrs,
      control,
    );
    this.lastOp = op;
    return Array.from({ length: outputs }, (_, i) => ({ id: this.issue(op * 8 + i), shape: [] }));
  }
  private issue(raw: number): number {
    this.issued.push(ID_BASE + raw);
    return ID_BASE + raw;
  }
  /** The addon's id of a recorded output (for feeds and fetches). */
  raw(id: number): number {
    return id - ID_BASE;
  }
}

/** One batch size's graph: its feeds, the runners that train on or evaluate a batch, the dropout masks. */
interface BatchGraph {
  train: number;
  evaluate: number;
  /** Train-step targets and the mask outputs, for the test hook's runner (made on first use). */
  targets: number[];
  masks: number[];
  feeds: number[];
  trainWithMasks: number;
}

/** The seed's kind of model trained by one TF_SessionRun per step; create with GraphTrainer.create, always dispose(). */
export class GraphTrainer implements FastTrainer {
  readonly kind = "graph" as const;
  recordedMasks: Float32Array[] | null = null;
  private steps: Step[];
  private gb: GraphBinding;
  private n: Native;
  private kit: Kit;
  private graph: Graph;
  private disposed = false;
  /** Variable shapes, in the model's weight order (the patch kernel as a matrix). */
  private shapes: number[][];
  /** Variable handles (graph outputs): weights, then Adam's m and v, then the loss and hit sums. */
  private vars: number[];
  private batches = new Map<number, BatchGraph>();
  private inputBuffers = new Map<number, Float32Array>();
  /** One sample scaled from bytes (sampleFloats). */
  private sampleScratch: Float32Array;
  private assignRunner: number;
  private readRunner: number;
  private metricRunner: number;
  private resetRunner: number;
  private sampleSize: number;
  private state: AdamState;
  private seen = 0;

  private constructor(
    private addon: GraphAddon,
    private model: tf.LayersModel,
    private plan: Plan,
    real: Binding,
  ) {
    this.steps = lower(plan);
    this.sampleSize = size(plan.inputShape);
    this.sampleScratch = new Float32Array(this.sampleSize);
    this.graph = addon.newGraph();
    try {
      this.gb = new GraphBinding(addon, this.graph, real);
      this.n = new Native(this.gb);
      this.kit = new Kit(this.n);
      const n = this.n;
      const float = n.type("dtype", this.gb.TF_FLOAT);
      this.shapes = plan.weights.map((w) => w.shape as number[]);
      for (const s of this.steps)
        if (s.op === "patches+pool") this.shapes[s.kernel] = [size(s.kShape.slice(0, 3)), s.kShape[3]];
      const all = this.allShapes();
      // Each session has its own resource manager: short names cannot clash with other trainers' variables.
      this.vars = all.map((shape, i) =>
        n.run1(
          "VarHandleOp",
          [
            float,
            { name: "shape", type: this.gb.TF_ATTR_SHAPE, value: shape },
            n.str("container", ""),
            n.str("shared_name", `v${i}`),
          ],
          [],
          null,
        ),
      );
      // Setting every variable from fed values (start, tests), reading them back, the metric sums.
      const feeds = all.map((shape) => this.placeholder(this.gb.TF_FLOAT, shape));
      const assigns = this.vars.map((v, i) => this.target("AssignVariableOp", [float], [v, feeds[i]]));
      this.assignRunner = this.prepare(feeds, [], assigns);
      const reads = this.vars.map((v) => this.readVar(v));
      this.readRunner = this.prepare([], reads, []);
      this.metricRunner = this.prepare([], reads.slice(-2), []);
      const zero = this.kit.floatConst(0);
      const resets = this.vars.slice(-2).map((v) => this.target("AssignVariableOp", [float], [v, zero]));
      this.resetRunner = this.prepare([], [], resets);
      addon.newSession(this.graph, SESSION_CONFIG);

      // Adam's state continues from the model's last native training (either trainer), as NativeTrainer's does.
      const prior = getNativeAdamState(model);
      const fresh =
        !prior || prior.m.length !== this.shapes.length || prior.m.some((a, i) => a.length !== size(this.shapes[i]));
      this.state = fresh
        ? {
            step: 0,
            m: this.shapes.map((s) => new Float32Array(size(s))),
            v: this.shapes.map((s) => new Float32Array(size(s))),
          }
        : prior!;
      this.assign({
        weights: plan.weights.map((w) => w.read().dataSync() as Float32Array),
        m: this.state.m,
        v: this.state.v,
      });
    } catch (err) {
      this.dispose();
      throw err;
    }
  }

  /**
   * A trainer, or the reason the model cannot train as a graph: the addon is
   * missing or fails to load, or the plan declines the model (as the eager path would).
   */
  static create(model: tf.LayersModel): GraphTrainer | string {
    const plan = planFor(model);
    if (typeof plan === "string") return plan;
    const real = nativeBinding();
    if (!real) return "no native binding";
    const addon = loadGraphAddon();
    if (typeof addon === "string") return addon;
    try {
      return new GraphTrainer(addon, model, plan, real);
    } catch (err) {
      return `the graph step could not be built (${(err as Error).message.split("\n")[0]})`;
    }
  }

  private allShapes(): number[][] {
    return [...this.shapes, ...this.shapes, ...this.shapes, [], []];
  }

  private placeholder(dtype: number, shape: number[]): number {
    const n = this.n;
    return n.run1(
      "Placeholder",
      [n.type("dtype", dtype), { name: "shape", type: this.gb.TF_ATTR_SHAPE, value: shape }],
      [],
      null,
    );
  }

  private readVar(v: number): number {
    return this.n.run1("ReadVariableOp", [this.n.type("dtype", this.gb.TF_FLOAT)], [v], null);
  }

  /** Adds an op without outputs and returns its op index (a run target). */
  private target(name: string, attrs: OpAttr[], inputs: number[]): number {
    this.n.run(name, attrs, inputs, 0, null);
    return this.gb.lastOp;
  }

  private prepare(feeds: number[], fetches: number[], targets: number[]): number {
    const raw = (ids: number[]) => ids.map((id) => this.gb.raw(id));
    return this.addon.prepare(this.graph, raw(feeds), raw(fetches), targets);
  }

  private run(runner: number, values: Values[] = [], shapes: number[][] = []): Float32Array[] {
    if (this.disposed) throw new Error("the graph trainer was disposed");
    return this.addon.run(this.graph, runner, values, shapes) as Float32Array[];
  }

  /** Sets weights and Adam's moments (flat, in the model's weight order), and zeroes the metric sums. */
  assign(s: { weights: Float32Array[]; m: Float32Array[]; v: Float32Array[] }): void {
    this.run(
      this.assignRunner,
      [...s.weights, ...s.m, ...s.v, Float32Array.of(0), Float32Array.of(0)],
      this.allShapes(),
    );
    this.seen = 0;
  }

  /** Weights and Adam's moments as they are now (one run). */
  read(): { weights: Float32Array[]; m: Float32Array[]; v: Float32Array[] } {
    const out = this.run(this.readRunner);
    const k = this.shapes.length;
    return { weights: out.slice(0, k), m: out.slice(k, 2 * k), v: out.slice(2 * k, 3 * k) };
  }

  /** The graph for one batch size, built on first use (a session takes new nodes between runs). */
  private batchGraph(batch: number): BatchGraph {
    let bg = this.batches.get(batch);
    if (bg) return bg;
    const n = this.n;
    const T = n.T;
    const float = n.type("dtype", this.gb.TF_FLOAT);
    const k = this.shapes.length;
    const first = this.steps[0];
    const xShape =
      first.op === "patches+pool"
        ? [size(first.kShape.slice(0, 3)), batch * first.geometry.outH * first.geometry.outW]
        : [batch, ...this.plan.inputShape];
    const x = this.placeholder(this.gb.TF_FLOAT, xShape);
    const y = this.placeholder(this.gb.TF_INT32, [batch]);
    const b1p = this.placeholder(this.gb.TF_FLOAT, []);
    const b2p = this.placeholder(this.gb.TF_FLOAT, []);

    const build = (training: boolean) => {
      const weights = this.vars.slice(0, k).map((v) => this.readVar(v));
      const saved = new Map<number, unknown>();
      const acts = [x];
      let h = x;
      for (const [index, step] of this.steps.entries()) {
        h = passesFor(step).forward(step, h, { kit: this.kit, batch, weights, scratch: [], training, saved, index });
        acts.push(h);
      }
      const masks = this.steps.flatMap((s, i) => (s.op === "dropout" && training ? [saved.get(i) as number] : []));
      return { weights, saved, acts, masks, ...this.lossAndCorrect(h, y) };
    };

    // Evaluation: forward only (no dropout), loss sum and hits fetched.
    const ev = build(false);
    const evaluate = this.prepare([x, y], [ev.lossSum, ev.correct], []);

    // Training: forward, metrics into the two sum variables, backward, Adam.
    const tr = build(true);
    // targets[0], the loss sum's update, is set after the backward pass (below).
    const targets = [-1, this.target("AssignAddVariableOp", [float], [this.vars[3 * k + 1], tr.correct])];
    let g = n.run1("Mul", [T], [tr.dLogits, this.kit.floatConst(1 / batch)], null);
    const grads = new Array<number>(k);
    const firstWeighted = this.steps.findIndex((s) => s.op === "patches+pool" || s.op === "conv" || s.op === "matmul");
    for (let i = this.steps.length - 1; i >= firstWeighted; i--) {
      const step = this.steps[i];
      g = passesFor(step).backward(step, g, {
        kit: this.kit,
        batch,
        weights: tr.weights,
        scratch: [],
        training: true,
        saved: tr.saved,
        index: i,
        input: tr.acts[i],
        output: tr.acts[i + 1],
        grads,
        needInputGrad: i > firstWeighted,
      });
    }
    // oneDNN's fused ReLU in the graph turns NaN into 0, so a NaN pixel can
    // poison the weights while the loss stays finite (the eager step's loss
    // turns NaN). Adding 0 x (sum of every gradient) to the loss sum makes it
    // NaN exactly when a gradient is not finite, so fit's divergence check
    // stops the run as it does on the eager path (~0.1 ms a step).
    const sumAttrs = [T, n.type("Tidx", n.b.TF_INT32), n.bool("keep_dims", false)];
    let gradSum = -1;
    for (const gi of grads) {
      const flat = this.kit.reshape(gi, [-1], []);
      const s = n.run1("Sum", sumAttrs, [flat, this.kit.axisConst(0)], null);
      gradSum = gradSum < 0 ? s : n.run1("AddV2", [T], [gradSum, s], null);
    }
    const poison = n.run1("Mul", [T], [gradSum, this.kit.floatConst(0)], null);
    targets[0] = this.target(
      "AssignAddVariableOp",
      [float],
      [this.vars[3 * k], n.run1("AddV2", [T], [tr.lossSum, poison], null)],
    );
    const p = this.plan;
    const consts = [p.learningRate, p.beta1, p.beta2, p.epsilon].map((c) => this.kit.floatConst(c));
    const adamAttrs = [T, n.bool("use_locking", false), n.bool("use_nesterov", false)];
    for (let i = 0; i < k; i++) {
      targets.push(
        this.target("ResourceApplyAdam", adamAttrs, [
          this.vars[i],
          this.vars[k + i],
          this.vars[2 * k + i],
          b1p,
          b2p,
          ...consts,
          grads[i],
        ]),
      );
    }
    const feeds = [x, y, b1p, b2p];
    const train = this.prepare(feeds, [], targets);
    bg = { train, evaluate, targets, masks: tr.masks, feeds, trainWithMasks: -1 };
    this.batches.set(batch, bg);
    return bg;
  }

  /** The eager trainer's lossAndCorrect, as graph nodes. */
  private lossAndCorrect(logits: number, labels: number) {
    const n = this.n;
    const [lossVec, dLogits] = n.run(
      "SparseSoftmaxCrossEntropyWithLogits",
      [n.T, n.type("Tlabels", n.b.TF_INT32)],
      [logits, labels],
      2,
      null,
    );
    const sum = [n.T, n.type("Tidx", n.b.TF_INT32), n.bool("keep_dims", false)];
    const lossSum = n.run1("Sum", sum, [lossVec, this.kit.axisConst(0)], null);
    const predicted = n.run1(
      "ArgMax",
      [n.T, n.type("Tidx", n.b.TF_INT32), n.type("output_type", n.b.TF_INT32)],
      [logits, this.kit.axisConst(1)],
      null,
    );
    const hit = n.run1("Equal", [n.type("T", n.b.TF_INT32)], [predicted, labels], null);
    const hitF = n.run1("Cast", [n.type("SrcT", n.b.TF_BOOL), n.type("DstT", n.b.TF_FLOAT)], [hit], null);
    const correct = n.run1("Sum", sum, [hitF, this.kit.axisConst(0)], null);
    return { dLogits, lossSum, correct };
  }

  /** The batch as the graph takes it (as the eager trainer's makeBatch: image patches for a patch step). */
  private makeBatch(data: LabeledImages, order: Int32Array | null, start: number, batch: number) {
    const sz = this.sampleSize;
    const first = this.steps[0];
    const patches = first.op === "patches+pool" ? first.geometry : null;
    const rowsPerSample = patches ? patches.outH * patches.outW : 1;
    const taps = patches ? patches.kh * patches.kw * patches.channels : sz;
    // One buffer per batch size, reused: the addon copies it into the feed, and
    // taps outside the image (never written) stay 0 at the same places.
    let xs = this.inputBuffers.get(batch);
    if (!xs) this.inputBuffers.set(batch, (xs = new Float32Array(batch * rowsPerSample * taps)));
    const ys = new Int32Array(batch);
    for (let i = 0; i < batch; i++) {
      const s = order ? order[start + i] : start + i;
      const pixels = sampleFloats(data.images, s, sz, this.sampleScratch);
      if (patches) writePatches(patches, pixels, 0, xs, i, batch);
      else xs.set(pixels, i * sz);
      ys[i] = data.labels[s];
    }
    const xShape = patches ? [taps, batch * rowsPerSample] : [batch, ...this.plan.inputShape];
    return { xs, ys, xShape };
  }

  /** One optimizer step on samples order[start .. start+batch): one TF_SessionRun. */
  trainBatch(data: LabeledImages, order: Int32Array | null, start: number, batch: number): void {
    const bg = this.batchGraph(batch);
    const { xs, ys, xShape } = this.makeBatch(data, order, start, batch);
    const t = ++this.state.step;
    const p = this.plan;
    const feeds = [xs, ys, Float32Array.of(Math.pow(p.beta1, t)), Float32Array.of(Math.pow(p.beta2, t))];
    const shapes = [xShape, [batch], [], []];
    if (this.recordedMasks && bg.masks.length) {
      if (bg.trainWithMasks < 0) bg.trainWithMasks = this.prepare(bg.feeds, bg.masks, bg.targets);
      for (const mask of this.run(bg.trainWithMasks, feeds, shapes)) this.recordedMasks.push(mask);
    } else {
      this.run(bg.train, feeds, shapes);
    }
    this.seen += batch;
  }

  /** Mean loss and accuracy over the samples seen this epoch so far (one run fetching two scalars). */
  metrics(): EpochMetrics {
    if (this.seen === 0) return { loss: NaN, accuracy: NaN };
    const [loss, correct] = this.run(this.metricRunner);
    return { loss: loss[0] / this.seen, accuracy: correct[0] / this.seen };
  }

  resetMetrics(): void {
    this.run(this.resetRunner);
    this.seen = 0;
  }

  /** Mean loss and accuracy of the current weights on a data set (forward only), batches of 128 as the eager trainer. */
  evaluate(data: LabeledImages, batchSize = FORWARD_BATCH_SIZE): EpochMetrics {
    let loss = 0;
    let correct = 0;
    for (let start = 0; start < data.count; start += batchSize) {
      const batch = Math.min(batchSize, data.count - start);
      const bg = this.batchGraph(batch);
      const { xs, ys, xShape } = this.makeBatch(data, null, start, batch);
      const [l, c] = this.run(bg.evaluate, [xs, ys], [xShape, [batch]]);
      loss += l[0];
      correct += c[0];
    }
    return { loss: loss / data.count, accuracy: correct / data.count };
  }

  /** Copies the trained weights into the model (and Adam's state into host memory, where the eager trainer keeps it). */
  syncToModel(): void {
    const now = this.read();
    tf.tidy(() => {
      this.plan.weights.forEach((w, i) => w.write(tf.tensor(now.weights[i], w.shape as number[])));
    });
    this.state.m = now.m;
    this.state.v = now.v;
    keepNativeAdamState(this.model, this.state);
  }

  /** Gradients of the mean loss for one batch, without updating (for tests). */
  gradients(data: LabeledImages): Float32Array[] {
    const before = this.read();
    const step = this.state.step;
    // As the eager trainer: one Adam step from zero moments gives m1 = (1 - beta1) g.
    this.assign({
      weights: before.weights,
      m: this.shapes.map((s) => new Float32Array(size(s))),
      v: this.shapes.map((s) => new Float32Array(size(s))),
    });
    this.state.step = 0;
    this.trainBatch(data, null, 0, data.count);
    const grads = this.read().m.map((m) => m.map((x) => x / (1 - this.plan.beta1)));
    this.assign(before);
    this.state.step = step;
    return grads;
  }

  /** Closes the session and frees the graph; idempotent. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (this.n) this.n.dispose();
    if (this.gb) this.n.free(this.gb.issued);
    this.addon.dispose(this.graph);
    this.batches.clear();
    this.inputBuffers.clear();
  }
}
