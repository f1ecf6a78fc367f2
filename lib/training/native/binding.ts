// TensorFlow ops called straight through tfjs-node's binding: op attributes,
// tensor handles (counted, so tests can see that training frees them),
// constants, and resource variables for the weights and Adam's moments.
import { tf } from "../../runtime/tf";

export interface OpAttr {
  name: string;
  type: number;
  value: boolean | number | string | number[];
}

export interface Binding {
  createTensor(shape: number[], dtype: number, values: Float32Array | Int32Array): number;
  deleteTensor(id: number): void;
  tensorDataSync(id: number): Float32Array | Int32Array | Uint8Array;
  executeOp(name: string, attrs: OpAttr[], inputs: number[], numOutputs: number): { id: number; shape: number[] }[];
  TF_FLOAT: number;
  TF_INT32: number;
  TF_BOOL: number;
  TF_ATTR_STRING: number;
  TF_ATTR_INT: number;
  TF_ATTR_FLOAT: number;
  TF_ATTR_BOOL: number;
  TF_ATTR_TYPE: number;
  TF_ATTR_SHAPE: number;
}

export function nativeBinding(): Binding | undefined {
  if (tf.getBackend() !== "tensorflow") return undefined;
  const b = (tf.backend() as unknown as { binding?: Binding }).binding;
  return b && typeof b.executeOp === "function" ? b : undefined;
}

/** Tensor handles this module holds right now (0 between fit calls: tested). */
const liveHandles = new Set<number>();
export function nativeHandleCount(): number {
  return liveHandles.size;
}

let variableCounter = 0;
// Variables with the same shared_name are the same variable in TensorFlow: the
// token keeps two copies of this module in one process (a notebook importing
// the library from two paths) from sharing each other's weights.
const instanceToken = `${process.pid}_${Math.random().toString(36).slice(2, 10)}`;

/** Thin wrapper over the binding: every handle it creates is tracked and freed. */
export class Native {
  readonly b: Binding;
  readonly T: OpAttr;
  private consts = new Map<string, number>();
  constructor(b: Binding) {
    this.b = b;
    this.T = { name: "T", type: b.TF_ATTR_TYPE, value: b.TF_FLOAT };
  }
  type(name: string, dtype: number): OpAttr {
    return { name, type: this.b.TF_ATTR_TYPE, value: dtype };
  }
  ints(name: string, value: number[] | number): OpAttr {
    return { name, type: this.b.TF_ATTR_INT, value };
  }
  str(name: string, value: string): OpAttr {
    return { name, type: this.b.TF_ATTR_STRING, value };
  }
  bool(name: string, value: boolean): OpAttr {
    return { name, type: this.b.TF_ATTR_BOOL, value };
  }
  /** Runs an op; outputs are added to `scratch` (freed by the caller) unless it is null. */
  run(name: string, attrs: OpAttr[], inputs: number[], outputs: number, scratch: number[] | null): number[] {
    const ids = this.b.executeOp(name, attrs, inputs, outputs).map((m) => m.id);
    for (const id of ids) {
      liveHandles.add(id);
      scratch?.push(id);
    }
    return ids;
  }
  run1(name: string, attrs: OpAttr[], inputs: number[], scratch: number[] | null): number {
    return this.run(name, attrs, inputs, 1, scratch)[0];
  }
  tensor(shape: number[], values: Float32Array | Int32Array): number {
    const id = this.b.createTensor(shape, values instanceof Int32Array ? this.b.TF_INT32 : this.b.TF_FLOAT, values);
    liveHandles.add(id);
    return id;
  }
  /** A constant kept until dispose(). */
  constant(key: string, make: () => Float32Array | Int32Array, shape: number[]): number {
    let id = this.consts.get(key);
    if (id === undefined) {
      id = this.tensor(shape, make());
      this.consts.set(key, id);
    }
    return id;
  }
  free(ids: number[]): void {
    for (const id of ids) {
      this.b.deleteTensor(id);
      liveHandles.delete(id);
    }
    ids.length = 0;
  }
  read(id: number): Float32Array {
    return this.b.tensorDataSync(id) as Float32Array;
  }
  scalar(id: number): number {
    return this.read(id)[0];
  }
  dispose(): void {
    this.free([...this.consts.values()]);
    this.consts.clear();
  }
}

/** A TensorFlow resource variable (what Keras's weights are), float32. */
export class Variable {
  readonly handle: number;
  constructor(
    private n: Native,
    readonly shape: number[],
    values: Float32Array,
  ) {
    const b = n.b;
    this.handle = n.run1(
      "VarHandleOp",
      [
        n.type("dtype", b.TF_FLOAT),
        { name: "shape", type: b.TF_ATTR_SHAPE, value: shape },
        n.str("container", ""),
        n.str("shared_name", `fmnist_native_${instanceToken}_${++variableCounter}`),
      ],
      [],
      null,
    );
    this.assign(values);
  }
  assign(values: Float32Array): void {
    const v = this.n.tensor(this.shape, values);
    this.n.run("AssignVariableOp", [this.n.type("dtype", this.n.b.TF_FLOAT)], [this.handle, v], 0, null);
    this.n.free([v]);
  }
  read(scratch: number[]): number {
    return this.n.run1("ReadVariableOp", [this.n.type("dtype", this.n.b.TF_FLOAT)], [this.handle], scratch);
  }
  values(): Float32Array {
    const scratch: number[] = [];
    const out = Float32Array.from(this.n.read(this.read(scratch)));
    this.n.free(scratch);
    return out;
  }
  dispose(): void {
    this.n.run("DestroyResourceOp", [this.n.bool("ignore_lookup_error", true)], [this.handle], 0, null);
    this.n.free([this.handle]);
  }
}
