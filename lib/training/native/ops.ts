// Every step the fast path runs, with its forward pass and its backward pass
// side by side: to teach the fast path a layer, add its kind to plan.ts
// (planFor reads it from the model, lower turns it into steps) and its steps
// here. The gradient checks in test/native-train.test.ts compare every step
// with tfjs's autodiff.
import type { Native, OpAttr } from "./binding";
import type { PatchGeometry, Step } from "./plan";

/** Constants kept for the trainer's life, and the ops several steps use. */
export class Kit {
  constructor(readonly n: Native) {}

  shapeConst(shape: number[]): number {
    return this.n.constant(`shape:${shape.join(",")}`, () => Int32Array.from(shape), [shape.length]);
  }

  axisConst(axis: number): number {
    return this.n.constant(`axis${axis}`, () => Int32Array.of(axis), []);
  }

  floatConst(value: number): number {
    return this.n.constant(`float:${value}`, () => Float32Array.of(value), []);
  }

  reshape(h: number, shape: number[], scratch: number[]): number {
    const n = this.n;
    return n.run1("Reshape", [n.T, n.type("Tshape", n.b.TF_INT32)], [h, this.shapeConst(shape)], scratch);
  }

  matmul(a: number, b: number, transposeA: boolean, transposeB: boolean, scratch: number[]): number {
    const n = this.n;
    return n.run1(
      "MatMul",
      [n.T, n.bool("transpose_a", transposeA), n.bool("transpose_b", transposeB)],
      [a, b],
      scratch,
    );
  }

  poolAttrs(step: { ksize: number[]; strides: number[]; padding: string }): OpAttr[] {
    const n = this.n;
    return [n.T, n.ints("ksize", step.ksize), n.ints("strides", step.strides), n.str("padding", step.padding)];
  }

  /** The "patches+pool" shapes for `batch` samples: pool windows, rows per window position, the pooled NHWC shape. */
  pooledLayout(step: { geometry: PatchGeometry; kShape: number[] }, batch: number) {
    const g = step.geometry;
    const pooledH = g.outH / g.ph;
    const pooledW = g.outW / g.pw;
    return {
      windows: g.ph * g.pw,
      rows: batch * pooledH * pooledW,
      pooledShape: [batch, pooledH, pooledW, step.kShape[3]],
    };
  }
}

/** What a step's forward pass works with. All handles it makes go to `scratch`. */
export interface Forward {
  kit: Kit;
  batch: number;
  weights: number[];
  scratch: number[];
  /** Dropout drops only while training. */
  training: boolean;
  /** What a step keeps for its own backward pass, by step index. */
  saved: Map<number, unknown>;
  index: number;
}

/** What a step's backward pass works with, besides the forward's. */
export interface Backward extends Forward {
  /** The step's input and output in the forward pass. */
  input: number;
  output: number;
  /** Weight gradients, by weight index, for the steps that own weights to fill in. */
  grads: number[];
  /** False for the first weighted step: nothing below it needs a gradient. */
  needInputGrad: boolean;
}

interface StepOp<S extends Step> {
  forward(step: S, h: number, c: Forward): number;
  /** The gradient at the step's input, from the gradient at its output. */
  backward(step: S, g: number, c: Backward): number;
}

type Ops = { [K in Step["op"]]: StepOp<Extract<Step, { op: K }>> };

const OPS: Ops = {
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

  pool: {
    forward: (step, h, { kit, scratch }) => kit.n.run1("MaxPool", kit.poolAttrs(step), [h], scratch),
    backward: (step, g, { kit, scratch, input, output }) =>
      kit.n.run1("MaxPoolGrad", kit.poolAttrs(step), [input, output, g], scratch),
  },

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

  reshape: {
    forward: (step, h, { kit, batch, scratch }) => kit.reshape(h, [batch, ...step.shape], scratch),
    backward: (step, g, { kit, batch, scratch }) => kit.reshape(g, [batch, ...step.inShape], scratch),
  },

  matmul: {
    forward: (step, h, { kit, weights, scratch }) => kit.matmul(h, weights[step.kernel], false, false, scratch),
    backward: (step, g, { kit, weights, scratch, input, grads, needInputGrad }) => {
      grads[step.kernel] = kit.matmul(input, g, true, false, scratch);
      return needInputGrad ? kit.matmul(g, weights[step.kernel], false, true, scratch) : g;
    },
  },

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

/** The forward and backward pass of a step. */
export function opFor(step: Step): StepOp<Step> {
  return OPS[step.op] as StepOp<Step>;
}
