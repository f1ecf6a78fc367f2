// What every step's passes work with (layers.ts holds the passes): the kit of
// constants and shared ops, and the forward and backward contexts.
import type { Native, OpAttr } from "./binding";
import type { PatchGeometry } from "./steps";

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
