// Loads the graph-step addon (lib/native/graph_step.cc), which
// lib/bin/setup-native.sh builds into tfjs-node's lib/fm-graph-step/ so that
// its relative rpath finds the same libtensorflow tfjs-node loads. Optional:
// when it is missing or fails to load, the reason is returned and fit trains
// on the eager native path instead.
import * as fs from "fs";
import * as path from "path";
import type { OpAttr } from "../native/binding";

/** An opaque graph (with its session) owned by the addon. */
export type Graph = { readonly __graph: unique symbol };
export type Values = Float32Array | Int32Array;

/** The addon's functions (lib/native/graph_step.cc). */
export interface GraphAddon {
  newGraph(): Graph;
  /** Returns [op index, number of outputs]; inputs are output ids (op * 8 + index). */
  addOp(g: Graph, type: string, inputs: number[], attrs: OpAttr[], control: number[]): [number, number];
  addConst(g: Graph, values: Values, shape: number[]): [number, number];
  newSession(g: Graph, config: Uint8Array | null): void;
  prepare(g: Graph, feeds: number[], fetches: number[], targets: number[]): number;
  run(g: Graph, runner: number, values: Values[], shapes: number[][]): Values[];
  /** Closes the session and frees the graph now (the finalizer is only a backstop). */
  dispose(g: Graph): void;
}

/**
 * Where the addon is looked for. FMNIST_GRAPH_ADDON overrides it; it exists
 * for the tests, which point it at a missing file to exercise the fallback.
 */
export function graphAddonPath(): string {
  const override = process.env.FMNIST_GRAPH_ADDON;
  if (override) return path.resolve(override);
  // Resolved from this file, so an installed package finds the tfjs-node beside it.
  const tfjs = path.dirname(require.resolve("@tensorflow/tfjs-node/package.json", { paths: [__dirname] }));
  return path.join(tfjs, "lib", "fm-graph-step", "graph_step.node");
}

const loaded = new Map<string, GraphAddon | string>();

/** The addon, or why it cannot be used (one line). */
export function loadGraphAddon(): GraphAddon | string {
  let file: string;
  try {
    file = graphAddonPath();
  } catch (err) {
    return `the graph-step addon's location is unknown (${(err as Error).message.split("\n")[0]})`;
  }
  let result = loaded.get(file);
  if (result === undefined) {
    if (!fs.existsSync(file)) {
      result = `the graph-step addon is not built (no ${file}; \`npx fashion-mnist-setup\` builds it)`;
    } else {
      try {
        const addon = require(file) as Partial<GraphAddon>;
        result =
          typeof addon.newGraph === "function" && typeof addon.dispose === "function"
            ? (addon as GraphAddon)
            : `the graph-step addon at ${file} is an older build (run \`npx fashion-mnist-setup\`)`;
      } catch (err) {
        result = `the graph-step addon failed to load (${(err as Error).message.split("\n")[0]})`;
      }
    }
    loaded.set(file, result);
  }
  return result;
}
