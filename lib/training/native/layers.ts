// The layer kinds the fast path knows, one section each: how a Keras layer of
// that class is read from the model (its settings, or why the path declines
// it), the steps it lowers to, and each step's forward and backward pass side
// by side. To teach the fast path a layer, add a section here (Dropout is the
// shortest example) and its shapes to steps.ts's Layer and Step; plan.ts and
// the trainers need no change. The gradient checks in
// test/native-train.test.ts compare every step with tfjs's autodiff.
import type { tf } from "../../runtime/tf";
import type { Backward, Forward } from "./ops";
import { patchGeometry, tilingPool, type Layer, type Step } from "./steps";

/** How planFor reads one layer: its config, input shape, weights and activation. */
export interface Read {
  layer: tf.layers.Layer;
  cfg: Record<string, unknown>;
  inShape: number[];
  activation: unknown;
  /** Registers a trainable weight; returns its index in the plan. */
  addWeight(w: tf.LayerVariable): number;
}

/** What a layer's lowering sees: the next layer, and the steps lowered so far. */
export interface Lower {
  index: number;
  next: Layer | undefined;
  weights: tf.LayerVariable[];
  tricks: { patches: boolean; lateActivation: boolean };
  steps: Step[];
  /** A conv's bias and ReLU, waiting to run after the pool below it. */
  deferred: Step[];
  /** The next layer is part of this one's steps (a folded pool). */
  skipNext(): void;
}

export interface StepPasses<S extends Step> {
  forward(step: S, h: number, c: Forward): number;
  /** The gradient at the step's input, from the gradient at its output. */
  backward(step: S, g: number, c: Backward): number;
}
type StepOf<K extends Step["op"]> = Extract<Step, { op: K }>;

interface Kind<L extends Layer> {
  /** The Keras class name. */
  className: string;
  read(r: Read): L | string;
  lower(layer: L, c: Lower): void;
}

const pair = (v: unknown): number[] | null => {
  const a = Array.isArray(v) ? v : [v, v];
  return a.length === 2 && a.every((x) => Number.isInteger(x) && x > 0) ? (a as number[]) : null;
};

/** A conv's or dense layer's bias and ReLU steps. */
function activationSteps(layer: { bias: number | null; relu: boolean }): Step[] {
  return [
    ...(layer.bias !== null ? [{ op: "bias" as const, bias: layer.bias }] : []),
    ...(layer.relu ? [{ op: "relu" as const }] : []),
  ];
}

// ------------------------------------------------------------ Conv2D

const conv: Kind<Extract<Layer, { kind: "conv" }>> = {
  className: "Conv2D",
  read: ({ layer, cfg, inShape, activation, addWeight }) => {
    const strides = pair(cfg.strides);
    const dil = pair(cfg.dilationRate ?? 1);
    const out = layer.outputShape;
    const outShape = Array.isArray(out) && !Array.isArray(out[0]) ? (out.slice(1) as number[]) : null;
    if (
      !strides ||
      !dil ||
      dil[0] !== 1 ||
      dil[1] !== 1 ||
      cfg.dataFormat !== "channelsLast" ||
      !outShape ||
      inShape.length !== 3
    ) {
      return `conv layer ${layer.name} has unsupported settings`;
    }
    const w = layer.trainableWeights;
    return {
      kind: "conv",
      kernel: addWeight(w[0]),
      bias: cfg.useBias ? addWeight(w[1]) : null,
      strides: [1, strides[0], strides[1], 1],
      padding: String(cfg.padding).toUpperCase(),
      relu: activation === "relu",
      inShape,
      outShape,
    };
  },
  lower: (layer, c) => {
    const kShape = c.weights[layer.kernel].shape as number[];
    const activation = activationSteps(layer);
    // The input conv with a pool that tiles its output: one MatMul over patches, the pool folded in.
    const geometry = c.index === 0 && c.tricks.patches ? patchGeometry(layer, kShape) : null;
    const tiles = geometry ? tilingPool(geometry, c.next) : null;
    if (geometry && tiles) {
      c.steps.push(
        { op: "patches+pool", kernel: layer.kernel, kShape, geometry: { ...geometry, ph: tiles[0], pw: tiles[1] } },
        ...activation,
      );
      c.skipNext();
      return;
    }
    c.steps.push({
      op: "conv",
      kernel: layer.kernel,
      kShape,
      strides: layer.strides,
      padding: layer.padding,
      inShape: layer.inShape,
    });
    // Bias and ReLU after a following max pool, on a 4x smaller tensor (see plan.ts).
    if (c.next?.kind === "pool" && c.tricks.lateActivation) c.deferred.push(...activation);
    else c.steps.push(...activation);
  },
};

const convSteps: { conv: StepPasses<StepOf<"conv">>; "patches+pool": StepPasses<StepOf<"patches+pool">> } = {
  conv: {
    forward: (step, h, { kit, weights, scratch }) =>
      kit.n.run1(
        "Conv2D",
        [kit.n.T, kit.n.ints("strides", step.strides), kit.n.str("padding", step.padding)],
        [h, weights[step.kernel]],
        scratch,
      ),
    backward: (step, g, { kit, batch, weights, scratch, input, grads, needInputGrad }) => {
      const n = kit.n;
      const attrs = [n.T, n.ints("strides", step.strides), n.str("padding", step.padding)];
      grads[step.kernel] = n.run1("Conv2DBackpropFilter", attrs, [input, kit.shapeConst(step.kShape), g], scratch);
      if (!needInputGrad) return g;
      return n.run1(
        "Conv2DBackpropInput",
        attrs,
        [kit.shapeConst([batch, ...step.inShape]), weights[step.kernel], g],
        scratch,
      );
    },
  },
  "patches+pool": {
    // The input conv as one MatMul of image patches (built in JavaScript) and the kernel, the max pool
    // folded in: patches laid out window position first, so the pool is a Max over axis 0.
    forward: (step, h, { kit, batch, weights, scratch, saved, index }) => {
      const n = kit.n;
      const { windows, rows, pooledShape } = kit.pooledLayout(step, batch);
      const conv = kit.reshape(
        kit.matmul(h, weights[step.kernel], true, false, scratch),
        [windows, rows, step.kShape[3]],
        scratch,
      );
      const max = n.run1(
        "Max",
        [n.T, n.type("Tidx", n.b.TF_INT32), n.bool("keep_dims", false)],
        [conv, kit.axisConst(0)],
        scratch,
      );
      saved.set(index, { conv, max });
      return kit.reshape(max, pooledShape, scratch);
    },
    // Each window's gradient goes to its maxima, split evenly among ties (see plan.ts's Step).
    backward: (step, g, { kit, batch, scratch, saved, index, input, grads }) => {
      const n = kit.n;
      const { windows, rows } = kit.pooledLayout(step, batch);
      const { conv, max } = saved.get(index) as { conv: number; max: number };
      const isMax = n.run1(
        "Cast",
        [n.type("SrcT", n.b.TF_BOOL), n.type("DstT", n.b.TF_FLOAT)],
        [n.run1("Equal", [n.T], [conv, max], scratch)],
        scratch,
      );
      const ties = n.run1(
        "Sum",
        [n.T, n.type("Tidx", n.b.TF_INT32), n.bool("keep_dims", false)],
        [isMax, kit.axisConst(0)],
        scratch,
      );
      const share = n.run1("RealDiv", [n.T], [kit.reshape(g, [rows, step.kShape[3]], scratch), ties], scratch);
      const dConv = kit.reshape(
        n.run1("Mul", [n.T], [isMax, share], scratch),
        [windows * rows, step.kShape[3]],
        scratch,
      );
      grads[step.kernel] = kit.matmul(input, dConv, false, false, scratch);
      return g;
    },
  },
};

// ------------------------------------------------------------ MaxPooling2D

const pool: Kind<Extract<Layer, { kind: "pool" }>> = {
  className: "MaxPooling2D",
  read: ({ layer, cfg }) => {
    const size = pair(cfg.poolSize);
    const strides = pair(cfg.strides ?? cfg.poolSize);
    if (!size || !strides || cfg.dataFormat !== "channelsLast")
      return `pooling layer ${layer.name} has unsupported settings`;
    return {
      kind: "pool",
      ksize: [1, size[0], size[1], 1],
      strides: [1, strides[0], strides[1], 1],
      padding: String(cfg.padding).toUpperCase(),
    };
  },
  lower: (layer, c) => {
    c.steps.push({ op: "pool", ksize: layer.ksize, strides: layer.strides, padding: layer.padding }, ...c.deferred);
    c.deferred.length = 0;
  },
};

const poolSteps: { pool: StepPasses<StepOf<"pool">> } = {
  pool: {
    forward: (step, h, { kit, scratch }) => kit.n.run1("MaxPool", kit.poolAttrs(step), [h], scratch),
    backward: (step, g, { kit, scratch, input, output }) =>
      kit.n.run1("MaxPoolGrad", kit.poolAttrs(step), [input, output, g], scratch),
  },
};

// ------------------------------------------------------------ Flatten

const flatten: Kind<Extract<Layer, { kind: "flatten" }>> = {
  className: "Flatten",
  read: ({ inShape }) => ({ kind: "flatten", inShape, size: inShape.reduce((a, b) => a * b, 1) }),
  lower: (layer, c) => {
    c.steps.push({ op: "reshape", shape: [layer.size], inShape: layer.inShape });
  },
};

const flattenSteps: { reshape: StepPasses<StepOf<"reshape">> } = {
  reshape: {
    forward: (step, h, { kit, batch, scratch }) => kit.reshape(h, [batch, ...step.shape], scratch),
    backward: (step, g, { kit, batch, scratch }) => kit.reshape(g, [batch, ...step.inShape], scratch),
  },
};

// ------------------------------------------------------------ Dense

const dense: Kind<Extract<Layer, { kind: "dense" }>> = {
  className: "Dense",
  read: ({ layer, cfg, inShape, activation, addWeight }) => {
    if (inShape.length !== 1) return `dense layer ${layer.name} takes a ${inShape.length}-D input`;
    const w = layer.trainableWeights;
    return {
      kind: "dense",
      kernel: addWeight(w[0]),
      bias: cfg.useBias ? addWeight(w[1]) : null,
      relu: activation === "relu",
      softmax: activation === "softmax",
    };
  },
  lower: (layer, c) => {
    c.steps.push({ op: "matmul", kernel: layer.kernel }, ...activationSteps(layer));
  },
};

const denseSteps: { matmul: StepPasses<StepOf<"matmul">> } = {
  matmul: {
    forward: (step, h, { kit, weights, scratch }) => kit.matmul(h, weights[step.kernel], false, false, scratch),
    backward: (step, g, { kit, weights, scratch, input, grads, needInputGrad }) => {
      grads[step.kernel] = kit.matmul(input, g, true, false, scratch);
      return needInputGrad ? kit.matmul(g, weights[step.kernel], false, true, scratch) : g;
    },
  },
};

// ------------------------------------------------------------ Dropout

const dropout: Kind<Extract<Layer, { kind: "dropout" }>> = {
  className: "Dropout",
  read: ({ layer, cfg }) => {
    const rate = cfg.rate;
    if (typeof rate !== "number" || !(rate >= 0 && rate < 1) || cfg.noiseShape != null) {
      return `dropout layer ${layer.name} has unsupported settings`;
    }
    return { kind: "dropout", rate };
  },
  lower: (layer, c) => {
    if (layer.rate > 0) c.steps.push({ op: "dropout", rate: layer.rate });
  },
};

const dropoutSteps: { dropout: StepPasses<StepOf<"dropout">> } = {
  dropout: {
    // Keep each value with probability 1 - rate, scaled by 1 / (1 - rate), as Keras does; nothing when evaluating.
    forward: (step, h, { kit, scratch, training, saved, index }) => {
      if (!training) return h;
      const n = kit.n;
      const shape = n.run1("Shape", [n.T, n.type("out_type", n.b.TF_INT32)], [h], scratch);
      const uniform = n.run1(
        "RandomUniform",
        [n.type("T", n.b.TF_INT32), n.type("dtype", n.b.TF_FLOAT), n.ints("seed", 0), n.ints("seed2", 0)],
        [shape],
        scratch,
      );
      const keep = n.run1("GreaterEqual", [n.T], [uniform, kit.floatConst(step.rate)], scratch);
      const kept = n.run1("Cast", [n.type("SrcT", n.b.TF_BOOL), n.type("DstT", n.b.TF_FLOAT)], [keep], scratch);
      const mask = n.run1("Mul", [n.T], [kept, kit.floatConst(1 / (1 - step.rate))], scratch);
      saved.set(index, mask);
      return n.run1("Mul", [n.T], [h, mask], scratch);
    },
    backward: (_step, g, { kit, scratch, saved, index }) =>
      kit.n.run1("Mul", [kit.n.T], [g, saved.get(index) as number], scratch),
  },
};

// ------------------------------------------------------------ steps shared by Conv2D and Dense

const activationStepPasses: { bias: StepPasses<StepOf<"bias">>; relu: StepPasses<StepOf<"relu">> } = {
  bias: {
    forward: (step, h, { kit, weights, scratch }) => kit.n.run1("BiasAdd", [kit.n.T], [h, weights[step.bias]], scratch),
    backward: (step, g, { kit, scratch, grads }) => {
      grads[step.bias] = kit.n.run1("BiasAddGrad", [kit.n.T], [g], scratch);
      return g;
    },
  },
  relu: {
    forward: (_step, h, { kit, scratch }) => kit.n.run1("Relu", [kit.n.T], [h], scratch),
    backward: (_step, g, { kit, scratch, output }) => kit.n.run1("ReluGrad", [kit.n.T], [g, output], scratch),
  },
};

// ------------------------------------------------------------ the tables

/** The layer kinds, by Keras class name. */
export const LAYER_KINDS: Record<string, Kind<Layer>> = Object.fromEntries(
  [conv, pool, flatten, dense, dropout].map((k) => [k.className, k as unknown as Kind<Layer>]),
);

/** The kinds by the plan's layer kind (for lowering). */
export const KIND_OF: Record<Layer["kind"], Kind<Layer>> = {
  conv: conv as unknown as Kind<Layer>,
  pool: pool as unknown as Kind<Layer>,
  flatten: flatten as unknown as Kind<Layer>,
  dense: dense as unknown as Kind<Layer>,
  dropout: dropout as unknown as Kind<Layer>,
};

type Passes = { [K in Step["op"]]: StepPasses<StepOf<K>> };
const PASSES: Passes = {
  ...convSteps,
  ...poolSteps,
  ...flattenSteps,
  ...denseSteps,
  ...dropoutSteps,
  ...activationStepPasses,
};

/** The forward and backward pass of a step. */
export function passesFor(step: Step): StepPasses<Step> {
  return PASSES[step.op] as StepPasses<Step>;
}
