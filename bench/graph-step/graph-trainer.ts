// Spike: the native path's training step as one TensorFlow graph, run by one
// TF_SessionRun per step through a small addon (addon/graph_step.cc) instead
// of ~60 eager ops through tfjs-node's binding.
//
// The graph is built by the native path's own passes (lib/training/native/
// layers.ts), unchanged: they describe ops through a Binding, and GraphBinding
// below adds each op to a graph instead of executing it. So the graph runs the
// same kernels on the same values as the eager step (gradients hand-written
// and checked against tfjs autodiff by test/native-train.test.ts), and what
// changes is only who dispatches them: TensorFlow's executor, with Grappler's
// rewrites and independent ops run side by side, instead of JavaScript.
import * as path from "path";
import { tf } from "fashion-mnist-lib/dist/runtime/tf";
import { repoRoot } from "fashion-mnist-lib/dist/runtime/paths";
import type { LabeledImages } from "fashion-mnist-lib/dist/data/samples";
import { Native, nativeBinding, type Binding, type OpAttr } from "fashion-mnist-lib/dist/training/native/binding";
import { Kit } from "fashion-mnist-lib/dist/training/native/ops";
import { passesFor } from "fashion-mnist-lib/dist/training/native/layers";
import { lower, planFor, size, writePatches, type Plan, type Step } from "fashion-mnist-lib/dist/training/native/plan";

type Graph = { readonly __graph: unique symbol };
type Values = Float32Array | Int32Array;

/** The addon's functions (bench/graph-step/addon/graph_step.cc). */
export interface GraphAddon {
  newGraph(): Graph;
  /** Returns [op index, number of outputs]; inputs are output ids (op * 8 + index). */
  addOp(g: Graph, type: string, inputs: number[], attrs: OpAttr[], control: number[]): [number, number];
  addConst(g: Graph, values: Values, shape: number[]): [number, number];
  newSession(g: Graph, config: Uint8Array | null): void;
  prepare(g: Graph, feeds: number[], fetches: number[], targets: number[]): number;
  /** With trace, a serialized RunMetadata (step stats of a FULL_TRACE run) follows the fetched values. */
  run(g: Graph, runner: number, values: Values[], shapes: number[][], trace?: boolean): (Values | Uint8Array)[];
  /** TF_AddGradients: output ids of d(sum dys . ys)/dxs, from TensorFlow's C++ gradient registry. */
  addGradients(g: Graph, ys: number[], xs: number[], dys: number[]): number[];
}

export const ADDON_PATH = path.join(repoRoot(), "build", "graph-step", "graph_step.node");

export function loadAddon(): GraphAddon {
  return require(ADDON_PATH) as GraphAddon;
}

/** A serialized ConfigProto with the two thread-pool sizes (fields 2 and 5, varints; 0 = TensorFlow's choice). */
export function threadConfig(intraOp: number, interOp: number): Uint8Array {
  return Uint8Array.of(0x10, intraOp, 0x28, interOp);
}

// Graph output ids are offset far above tfjs-node's tensor ids: Native counts
// every id it sees in one set, shared with the eager trainer in this process.
const ID_BASE = 2 ** 40;

/** A Binding whose "execution" adds the op to a graph: what the native passes call, recorded. */
class GraphBinding implements Binding {
  lastOp = -1;
  constructor(
    private addon: GraphAddon,
    readonly graph: Graph,
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
  TF_FLOAT: number;
  TF_INT32: number;
  TF_BOOL: number;
  TF_ATTR_STRING: number;
  TF_ATTR_INT: number;
  TF_ATTR_FLOAT: number;
  TF_ATTR_BOOL: number;
  TF_ATTR_TYPE: number;
  TF_ATTR_SHAPE: number;

  createTensor(shape: number[], _dtype: number, values: Values): number {
    const [op] = this.addon.addConst(this.graph, values, shape);
    this.lastOp = op;
    return ID_BASE + op * 8;
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
    return Array.from({ length: outputs }, (_, i) => ({ id: ID_BASE + op * 8 + i, shape: [] }));
  }
  /** The addon's id of a recorded output (for feeds and fetches). */
  raw(id: number): number {
    return id - ID_BASE;
  }
}

/** One batch size's step: its feeds, and the runners that train on or evaluate a batch. */
interface BatchGraph {
  x: number;
  y: number;
  b1p: number;
  b2p: number;
  train: number;
  evaluate: number;
}

export interface GraphTrainerOptions {
  /** Serialized ConfigProto for the session (threadConfig), or null for TensorFlow's defaults. */
  config?: Uint8Array | null;
  /**
   * "passes" (default): the native path's hand-written backward passes; "registry": TF_AddGradients
   * (TensorFlow's C++ gradient functions) from the gradient at the logits.
   */
  gradients?: "passes" | "registry";
}

/** The seed's kind of model trained by one TF_SessionRun per step. */
export class GraphTrainer {
  readonly plan: Plan;
  private steps: Step[];
  private gb: GraphBinding;
  private n: Native;
  private kit: Kit;
  private graph: Graph;
  private shapes: number[][];
  /** Variable handles (graph outputs): weights, then Adam's m and v, then the two metric sums. */
  private vars: number[] = [];
  private batches = new Map<number, BatchGraph>();
  private inputBuffers = new Map<number, Float32Array>();
  private assignRunner: number;
  private readRunner: number;
  private metricRunner: number;
  private resetRunner: number;
  private sampleSize: number;
  private gradientSource: "passes" | "registry";
  step = 0;
  seen = 0;

  constructor(
    private addon: GraphAddon,
    model: tf.LayersModel,
    options: GraphTrainerOptions = {},
  ) {
    const plan = planFor(model);
    const real = nativeBinding();
    if (typeof plan === "string" || !real) throw new Error(`no native plan: ${String(plan)}`);
    this.plan = plan;
    this.steps = lower(plan);
    this.sampleSize = size(plan.inputShape);
    this.gradientSource = options.gradients ?? "passes";
    this.graph = addon.newGraph();
    this.gb = new GraphBinding(addon, this.graph, real);
    this.n = new Native(this.gb);
    this.kit = new Kit(this.n);
    const n = this.n;
    // The same variable shapes as the native trainer: the patch kernel as a [taps, filters] matrix.
    this.shapes = plan.weights.map((w) => w.shape as number[]);
    for (const s of this.steps)
      if (s.op === "patches+pool") this.shapes[s.kernel] = [size(s.kShape.slice(0, 3)), s.kShape[3]];
    const all = [...this.shapes, ...this.shapes, ...this.shapes, [], []];
    // Each session has its own resource manager: short names cannot clash with the eager trainer's variables.
    this.vars = all.map((shape, i) =>
      n.run1(
        "VarHandleOp",
        [
          n.type("dtype", this.gb.TF_FLOAT),
          { name: "shape", type: this.gb.TF_ATTR_SHAPE, value: shape },
          n.str("container", ""),
          n.str("shared_name", `v${i}`),
        ],
        [],
        null,
      ),
    );
    // Assigning every variable from fed values (start, checkpoints, tests) and reading them back.
    const feeds = all.map((shape) => this.placeholder(this.gb.TF_FLOAT, shape));
    const assigns = this.vars.map((v, i) => {
      n.run("AssignVariableOp", [n.type("dtype", this.gb.TF_FLOAT)], [v, feeds[i]], 0, null);
      return this.gb.lastOp;
    });
    this.assignRunner = this.prepare(feeds, [], assigns);
    const reads = this.vars.map((v) => this.readVar(v));
    this.readRunner = this.prepare([], reads, []);
    this.metricRunner = this.prepare([], reads.slice(-2), []);
    const zero = this.kit.floatConst(0);
    const resets = this.vars.slice(-2).map((v) => {
      n.run("AssignVariableOp", [n.type("dtype", this.gb.TF_FLOAT)], [v, zero], 0, null);
      return this.gb.lastOp;
    });
    this.resetRunner = this.prepare([], [], resets);
    addon.newSession(this.graph, options.config ?? null);
    const start = plan.weights.map((w) => w.read().dataSync() as Float32Array);
    this.assign({
      weights: start,
      m: this.shapes.map((s) => new Float32Array(size(s))),
      v: this.shapes.map((s) => new Float32Array(size(s))),
    });
    this.addon.run(this.graph, this.resetRunner, [], []);
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

  private prepare(feeds: number[], fetches: number[], targets: number[]): number {
    const raw = (ids: number[]) => ids.map((id) => this.gb.raw(id));
    return this.addon.prepare(this.graph, raw(feeds), raw(fetches), targets);
  }

  /** Sets weights and Adam's moments (flat, in the model's weight order; the patch kernel's values in the same order). */
  assign(s: { weights: Float32Array[]; m: Float32Array[]; v: Float32Array[] }): void {
    const values = [...s.weights, ...s.m, ...s.v, Float32Array.of(0), Float32Array.of(0)];
    const shapes = [...this.shapes, ...this.shapes, ...this.shapes, [], []];
    this.addon.run(this.graph, this.assignRunner, values, shapes);
  }

  /** Weights and Adam's moments as they are now. */
  read(): { weights: Float32Array[]; m: Float32Array[]; v: Float32Array[] } {
    const out = this.addon.run(this.graph, this.readRunner, [], []) as Float32Array[];
    const k = this.shapes.length;
    return { weights: out.slice(0, k), m: out.slice(k, 2 * k), v: out.slice(2 * k, 3 * k) };
  }

  /** The graph for one batch size, built on first use (a session takes new nodes between runs). */
  private batchGraph(batch: number): BatchGraph {
    let bg = this.batches.get(batch);
    if (bg) return bg;
    const n = this.n;
    const T = n.T;
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
        h = passesFor(step).forward(step, h, {
          kit: this.kit,
          batch,
          weights,
          scratch: [],
          training,
          saved,
          index,
        });
        acts.push(h);
      }
      return { weights, saved, acts, ...this.lossAndCorrect(h, y) };
    };

    // Evaluation: forward only, loss sum and hits fetched.
    const ev = build(false);
    const evaluate = this.prepare([x, y], [ev.lossSum, ev.correct], []);

    // Training: forward, metrics into the two sum variables, backward, Adam.
    const tr = build(true);
    const targets: number[] = [];
    const addTo = (v: number, value: number) => {
      n.run("AssignAddVariableOp", [n.type("dtype", this.gb.TF_FLOAT)], [v, value], 0, null);
      targets.push(this.gb.lastOp);
    };
    addTo(this.vars[3 * k], tr.lossSum);
    addTo(this.vars[3 * k + 1], tr.correct);
    let g = n.run1("Mul", [T], [tr.dLogits, this.kit.floatConst(1 / batch)], null);
    let grads = new Array<number>(k);
    if (this.gradientSource === "registry") {
      const raw = this.addon.addGradients(
        this.graph,
        [this.gb.raw(tr.acts[tr.acts.length - 1])],
        tr.weights.map((w) => this.gb.raw(w)),
        [this.gb.raw(g)],
      );
      grads = raw.map((id) => id + ID_BASE);
    } else {
      const firstWeighted = this.steps.findIndex(
        (s) => s.op === "patches+pool" || s.op === "conv" || s.op === "matmul",
      );
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
    }
    const p = this.plan;
    const consts = [p.learningRate, p.beta1, p.beta2, p.epsilon].map((c) => this.kit.floatConst(c));
    const adamAttrs = [T, n.bool("use_locking", false), n.bool("use_nesterov", false)];
    for (let i = 0; i < k; i++) {
      n.run(
        "ResourceApplyAdam",
        adamAttrs,
        [this.vars[i], this.vars[k + i], this.vars[2 * k + i], b1p, b2p, ...consts, grads[i]],
        0,
        null,
      );
      targets.push(this.gb.lastOp);
    }
    const train = this.prepare([x, y, b1p, b2p], [], targets);
    bg = { x, y, b1p, b2p, train, evaluate };
    this.batches.set(batch, bg);
    return bg;
  }

  /** The native trainer's lossAndCorrect, as graph nodes. */
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

  /** The batch as the graph takes it (the native trainer's makeBatch: image patches for a patch step). */
  private makeBatch(data: LabeledImages<Float32Array>, order: Int32Array | null, start: number, batch: number) {
    const sz = this.sampleSize;
    const first = this.steps[0];
    const patches = first.op === "patches+pool" ? first.geometry : null;
    const rowsPerSample = patches ? patches.outH * patches.outW : 1;
    const taps = patches ? patches.kh * patches.kw * patches.channels : sz;
    let xs = this.inputBuffers.get(batch);
    if (!xs) this.inputBuffers.set(batch, (xs = new Float32Array(batch * rowsPerSample * taps)));
    const ys = new Int32Array(batch);
    for (let i = 0; i < batch; i++) {
      const s = order ? order[start + i] : start + i;
      if (patches) writePatches(patches, data.images, s * sz, xs, i, batch);
      else xs.set(data.images.subarray(s * sz, (s + 1) * sz), i * sz);
      ys[i] = data.labels[s];
    }
    const xShape = patches ? [taps, batch * rowsPerSample] : [batch, ...this.plan.inputShape];
    return { xs, ys, xShape };
  }

  /**
   * One optimizer step on samples order[start .. start+batch): one TF_SessionRun.
   * With trace, returns the run's serialized RunMetadata (per-node times; for profiling).
   */
  trainBatch(
    data: LabeledImages<Float32Array>,
    order: Int32Array | null,
    start: number,
    batch: number,
    trace = false,
  ): Uint8Array | undefined {
    const bg = this.batchGraph(batch);
    const { xs, ys, xShape } = this.makeBatch(data, order, start, batch);
    const t = ++this.step;
    const p = this.plan;
    const out = this.addon.run(
      this.graph,
      bg.train,
      [xs, ys, Float32Array.of(Math.pow(p.beta1, t)), Float32Array.of(Math.pow(p.beta2, t))],
      [xShape, [batch], [], []],
      trace,
    );
    this.seen += batch;
    return trace ? (out[0] as Uint8Array) : undefined;
  }

  /** Mean loss and accuracy since the last reset (one run fetching two scalars). */
  metrics(): { loss: number; accuracy: number } {
    const [loss, correct] = this.addon.run(this.graph, this.metricRunner, [], []) as Float32Array[];
    return { loss: loss[0] / this.seen, accuracy: correct[0] / this.seen };
  }

  resetMetrics(): void {
    this.addon.run(this.graph, this.resetRunner, [], []);
    this.seen = 0;
  }

  /** Mean loss and accuracy of the current weights (forward only), batches of 128 as the native trainer. */
  evaluate(data: LabeledImages<Float32Array>, batchSize = 128): { loss: number; accuracy: number } {
    let loss = 0;
    let correct = 0;
    for (let start = 0; start < data.count; start += batchSize) {
      const batch = Math.min(batchSize, data.count - start);
      const bg = this.batchGraph(batch);
      const { xs, ys, xShape } = this.makeBatch(data, null, start, batch);
      const [l, c] = this.addon.run(this.graph, bg.evaluate, [xs, ys], [xShape, [batch]]) as Float32Array[];
      loss += l[0];
      correct += c[0];
    }
    return { loss: loss / data.count, accuracy: correct / data.count };
  }
}
