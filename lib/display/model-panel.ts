/**
 * The model panel: the trained network in the page, offline.
 *
 * `showModelPanel(model, test)` shows one HTML output that carries the model
 * (its layers' JSON and compact weights), a few test images with the
 * notebook's probabilities for them, and TensorFlow.js's browser builds (npm's
 * tfjs-core, tfjs-backend-cpu and tfjs-layers of the library's tfjs version). In the
 * page, the reader clicks an image of a grid (a sample, the first mistake per
 * class, the most confident mistakes) or picks a test image by index, draws on
 * a 28x28 pad, or chooses or drops an image file; a bar chart gives the
 * model's ten class probabilities, computed in the page (tfjs's cpu backend).
 * Nothing is requested from the network.
 *
 * Weights: 8 bits per value, per channel of the last axis (`u8c`), unless that
 * moves any probability of the test set by more than `tolerance` (default
 * 1e-3) or changes any predicted class; then float16, then float32. The check
 * decodes the weights with the page's own decoder and loads them the way the
 * page does, so the bound stated in the panel is the one the page meets.
 *
 * Exports: jupyter/fm_model_panel.py keeps the runtime once per page and, when
 * sanitizing, puts a short note in the panel's place. In an untrusted notebook
 * JupyterLab strips scripts, leaving the note the panel starts with.
 */

import * as fs from "fs";
import * as path from "path";
import { tf } from "../runtime/tf";
import { CLASS_NAMES } from "../data/samples";
import type { LabeledImages } from "../data/samples";
import { predict } from "../training/evaluate";
import { firstMistakePerClass } from "../training/evaluate";
import { confidentMistakes } from "../evaluation/scores";
import { escapeHtml, inNotebook, showHtml, showText } from "./display";
import { DECODE_JS, PANEL_JS } from "./model-panel-page";

/** How the weights travel in the page. */
export type WeightCodec = "u8c" | "u16c" | "f16" | "f32";

/** Options for {@link modelPanelHtml} and {@link showModelPanel}. */
export interface ModelPanelOptions {
  /** Heading of the panel (default "the trained CNN"). */
  title?: string;
  /** Largest probability difference the compact weights may cause on the test set (default 1e-3). */
  tolerance?: number;
  /** Force a codec instead of the smallest that stays within `tolerance`. */
  weights?: WeightCodec;
  /** Test images reachable by index: the first N (default 100), besides those in the grids. */
  pickable?: number;
  /** Sample grid: this many images per class (default 2). */
  perClass?: number;
  /** Most confident mistakes shown (default 10). */
  confident?: number;
  /** Class names (default Fashion-MNIST's). */
  classNames?: readonly string[];
}

/** What the panel carries and how close its weights are, returned by {@link modelPanelHtml}. */
export interface ModelPanelInfo {
  /** The panel's HTML fragment. */
  html: string;
  /** Bytes of the HTML output, and of its parts. */
  bytes: number;
  /** Bytes of TensorFlow.js's browser code in it. */
  runtimeBytes: number;
  /** Bytes of the encoded weights in it. */
  weightBytes: number;
  /** How the weights are stored: "u8c" (8 bits per channel), "u16c", "f16" or "f32". */
  codec: WeightCodec;
  /** Largest |p(page weights) - p(model)| over the test set, measured in Node with the page's decoder. */
  maxDifference: number;
  /** Test images whose predicted class differs between the page's weights and the model (0 when within tolerance). */
  classChanges: number;
  /** Test set indices the page carries, and the notebook's probabilities for them (row per image). */
  indices: number[];
  /** The notebook's probabilities for those images, one row of 10 per image. */
  expected: number[][];
  /** Grid name -> test indices (sample, mistakes, confident). */
  grids: Record<string, number[]>;
  /** The version of TensorFlow.js the page runs (the library's). */
  tfjsVersion: string;
}

const CODEC_NAMES: Record<WeightCodec, string> = {
  u8c: "8-bit, per channel",
  u16c: "16-bit, per channel",
  f16: "float16",
  f32: "float32",
};

// ---------------------------------------------------------------------------
// The browser runtime
// ---------------------------------------------------------------------------

let runtimeCache: { version: string; code: string } | undefined;

/** The npm builds the page runs, in load order: what `tf.loadLayersModel` and `model.predict` need on the cpu backend. */
const RUNTIME_PARTS = [
  ["tfjs-core", "tf-core.es2017.min.js"],
  ["tfjs-backend-cpu", "tf-backend-cpu.es2017.min.js"],
  ["tfjs-layers", "tf-layers.es2017.min.js"],
] as const;

function packageDir(name: string): string {
  // Where npm put it: next to the library, or under tfjs-node / tfjs (whose dependency it is).
  const from = (pkg: string, paths?: string[]) => path.dirname(require.resolve(`${pkg}/package.json`, { paths }));
  const tries: (() => string)[] = [
    () => from(`@tensorflow/${name}`),
    () => from(`@tensorflow/${name}`, [from("@tensorflow/tfjs-node")]),
    () => from(`@tensorflow/${name}`, [from("@tensorflow/tfjs", [from("@tensorflow/tfjs-node")])]),
  ];
  for (const attempt of tries) {
    try {
      return attempt();
    } catch {
      // the next place
    }
  }
  throw new Error(`showModelPanel: @tensorflow/${name} is not installed (it comes with @tensorflow/tfjs-node)`);
}

/**
 * TensorFlow.js for the page: the browser builds (ES2017, minified) of
 * `@tensorflow/tfjs-core`, `-backend-cpu` and `-layers`, each checked to be the
 * version the library runs, so the page computes what the notebook does.
 */
export function browserRuntime(): { version: string; code: string } {
  if (runtimeCache) return runtimeCache;
  const versions = tf.version as Record<string, string>;
  const want = String(versions["tfjs-core"]);
  const code = RUNTIME_PARTS.map(([name, file]) => {
    const dir = packageDir(name);
    const version = String(
      (JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")) as { version: string }).version,
    );
    if (version !== want) {
      throw new Error(
        `showModelPanel: @tensorflow/${name} ${version} is installed but the library runs tfjs ${want}; ` +
          `install @tensorflow/${name}@${want} so the page computes what the notebook does`,
      );
    }
    return fs.readFileSync(path.join(dir, "dist", file), "utf8").replace(/\/\/# sourceMappingURL=\S*/g, "");
  }).join("\n;\n");
  runtimeCache = { version: want, code };
  return runtimeCache;
}

// ---------------------------------------------------------------------------
// Weights
// ---------------------------------------------------------------------------

interface Artifacts {
  modelTopology: unknown;
  weightSpecs: { name: string; shape: number[]; dtype: string }[];
  weightData: ArrayBuffer;
}

async function artifactsOf(model: tf.LayersModel): Promise<Artifacts> {
  type SaveHandler = Parameters<typeof tf.io.withSaveHandler>[0];
  let saved: Parameters<SaveHandler>[0] | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      saved = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON" } };
    }),
  );
  if (!saved?.modelTopology || !saved.weightSpecs || !saved.weightData) {
    throw new Error("showModelPanel: the model could not be serialized (no topology or weights)");
  }
  const raw = saved.weightData as ArrayBuffer | ArrayBuffer[];
  const buffers = Array.isArray(raw) ? raw : [raw];
  const joined = new Uint8Array(buffers.reduce((n, b) => n + b.byteLength, 0));
  let at = 0;
  for (const b of buffers) {
    joined.set(new Uint8Array(b), at);
    at += b.byteLength;
  }
  return {
    modelTopology: saved.modelTopology,
    weightSpecs: saved.weightSpecs.map((s: Artifacts["weightSpecs"][number]) => ({
      name: s.name,
      shape: s.shape,
      dtype: s.dtype,
    })),
    weightData: joined.buffer,
  };
}

const f32Box = new Float32Array(1);
const u32Box = new Uint32Array(f32Box.buffer);

/** float32 -> IEEE half bits, rounded to nearest even. */
export function toHalf(v: number): number {
  f32Box[0] = v;
  const x = u32Box[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let m = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (m ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    m |= 0x800000;
    const shift = 14 - e;
    let h = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (m >>> 13);
  const rem = m & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;
  return sign | h;
}

interface Entry {
  name: string;
  shape: number[];
  codec: WeightCodec | "raw";
  dtype: string;
  offset: number;
  bytes: number;
}

/** The weights as one blob and its entries (the page's `fmDecodeWeights` reads them back). */
export function encodeWeights(a: Artifacts, codec: WeightCodec): { blob: Uint8Array; entries: Entry[] } {
  const chunks: Uint8Array[] = [];
  const entries: Entry[] = [];
  let offset = 0;
  let src = 0;
  for (const spec of a.weightSpecs) {
    const n = spec.shape.reduce((p, d) => p * d, 1);
    const width = spec.dtype === "float32" || spec.dtype === "int32" ? 4 : spec.dtype === "bool" ? 1 : 4;
    const raw = new Uint8Array(a.weightData, src, n * width);
    src += n * width;
    let chunk: Uint8Array;
    let c: Entry["codec"] = codec;
    if (spec.dtype !== "float32") {
      c = "raw";
      chunk = raw.slice();
    } else {
      const values = new Float32Array(raw.slice().buffer);
      if (codec === "f32") chunk = new Uint8Array(values.buffer);
      else if (codec === "f16") {
        const h = new Uint16Array(n);
        for (let i = 0; i < n; i++) h[i] = toHalf(values[i]);
        chunk = new Uint8Array(h.buffer);
      } else {
        const ch = spec.shape.length ? spec.shape[spec.shape.length - 1] : 1;
        const mins = new Float32Array(ch).fill(Infinity);
        const maxs = new Float32Array(ch).fill(-Infinity);
        for (let i = 0; i < n; i++) {
          const k = i % ch;
          if (values[i] < mins[k]) mins[k] = values[i];
          if (values[i] > maxs[k]) maxs[k] = values[i];
        }
        const levels = codec === "u16c" ? 65535 : 255;
        const codeBytes = codec === "u16c" ? 2 : 1;
        const scales = new Float32Array(ch);
        for (let k = 0; k < ch; k++) scales[k] = maxs[k] > mins[k] ? (maxs[k] - mins[k]) / levels : 0;
        chunk = new Uint8Array(8 * ch + codeBytes * n);
        chunk.set(new Uint8Array(mins.buffer), 0);
        chunk.set(new Uint8Array(scales.buffer), 4 * ch);
        for (let i = 0; i < n; i++) {
          const k = i % ch;
          const q = scales[k] ? Math.min(levels, Math.max(0, Math.round((values[i] - mins[k]) / scales[k]))) : 0;
          chunk[8 * ch + codeBytes * i] = q & 255;
          if (codeBytes === 2) chunk[8 * ch + 2 * i + 1] = q >> 8;
        }
      }
    }
    entries.push({ name: spec.name, shape: spec.shape, codec: c, dtype: spec.dtype, offset, bytes: chunk.length });
    chunks.push(chunk);
    offset += chunk.length;
  }
  const blob = new Uint8Array(offset);
  let at = 0;
  for (const c of chunks) {
    blob.set(c, at);
    at += c.length;
  }
  return { blob, entries };
}

type Decoder = (bytes: Uint8Array, entries: Entry[]) => { specs: Artifacts["weightSpecs"]; data: ArrayBuffer };

/** The page's decoder, run in Node. */
export const decodeWeights = new Function(`${DECODE_JS}; return fmDecodeWeights;`)() as Decoder;

/** The model as the page loads it: the topology and the decoded weights, through tfjs's loader. */
export async function pageModel(a: Artifacts, blob: Uint8Array, entries: Entry[]): Promise<tf.LayersModel> {
  const w = decodeWeights(blob, entries);
  return tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: a.modelTopology as object,
      weightSpecs: w.specs as Parameters<typeof tf.io.fromMemory>[1],
      weightData: w.data,
    }),
  );
}

// ---------------------------------------------------------------------------
// The panel
// ---------------------------------------------------------------------------

function pixelBytes(set: LabeledImages, i: number, size: number): Uint8Array {
  const src = set.images.subarray(i * size, (i + 1) * size);
  if (src instanceof Uint8Array) return src.slice();
  const out = new Uint8Array(size);
  for (let k = 0; k < size; k++) out[k] = Math.min(255, Math.max(0, Math.round(src[k] * 255)));
  return out;
}

function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, "\\u003c");
}

function fmtBound(x: number): string {
  return x === 0 ? "0" : x.toExponential(1);
}

/**
 * The panel as one HTML fragment, with what it carries and the measured effect
 * of its compact weights. Async: the model is serialized and checked.
 *
 * @throws Error when `model` is not a tfjs LayersModel, `test` is empty or
 *   its images do not fit the model's input, or tfjs's browser packages are
 *   missing or of another version than the library's tfjs.
 */
export async function modelPanelHtml(
  model: tf.LayersModel,
  test: LabeledImages,
  opts: ModelPanelOptions = {},
): Promise<ModelPanelInfo> {
  const fn = "showModelPanel";
  if (!model || typeof (model as { predict?: unknown }).predict !== "function") {
    throw new Error(`${fn}: model must be a tfjs LayersModel`);
  }
  if (!test || typeof test !== "object" || !(test.count > 0)) throw new Error(`${fn}: test must be a non-empty set`);
  const names = [...(opts.classNames ?? CLASS_NAMES)];
  const tolerance = opts.tolerance ?? 1e-3;
  const inputShape = (model.inputs[0].shape ?? []).slice(1).map((d) => Number(d));
  const side = Math.round(Math.sqrt(inputShape.reduce((p, d) => p * d, 1)));
  const size = side * side;
  if (size * test.count !== test.images.length) {
    throw new Error(
      `${fn}: the model takes ${inputShape.join("x")} inputs but the test images have ${test.images.length / test.count} values`,
    );
  }

  // The notebook's probabilities, for the whole test set.
  const notebook = predict(model, test);
  const classes = names.length;

  // The images the page carries: the grids, then the first `pickable` for the index picker.
  const perClass = opts.perClass ?? 2;
  const sample: number[] = [];
  const taken = new Array<number>(classes).fill(0);
  for (let i = 0; i < test.count && sample.length < perClass * classes; i++) {
    const c = test.labels[i];
    if (taken[c] < perClass) {
      taken[c]++;
      sample.push(i);
    }
  }
  sample.sort((a, b) => test.labels[a] - test.labels[b] || a - b);
  const mistakes = firstMistakePerClass(Uint8Array.from(test.labels), notebook.predicted, classes).filter(
    (i) => i >= 0,
  );
  const confident = confidentMistakes(test.labels, notebook.probabilities, opts.confident ?? 10, classes).map(
    (m) => m.index,
  );
  const pickable = Math.min(test.count, opts.pickable ?? 100);
  const indices: number[] = [];
  const posOf = new Map<number, number>();
  const add = (i: number) => {
    if (!posOf.has(i)) {
      posOf.set(i, indices.length);
      indices.push(i);
    }
    return posOf.get(i) as number;
  };
  const grids = [
    { id: "sample", title: `Sample (${perClass} per class)`, items: sample.map(add) },
    { id: "mistakes", title: "First mistake per class", items: mistakes.map(add) },
    { id: "confident", title: "Most confident mistakes", items: confident.map(add) },
  ];
  for (let i = 0; i < pickable; i++) add(i);
  // The smallest weights whose predictions stay within tolerance.
  const art = await artifactsOf(model);
  const order: WeightCodec[] = opts.weights ? [opts.weights] : ["u8c", "u16c", "f32"];
  let chosen:
    | { codec: WeightCodec; blob: Uint8Array; entries: Entry[]; diff: number; changes: number; shownChanges: number }
    | undefined;
  for (const codec of order) {
    const { blob, entries } = encodeWeights(art, codec);
    const m = await pageModel(art, blob, entries);
    let diff = 0;
    let changes = 0;
    let shownChanges = 0;
    try {
      const page = predict(m, test);
      for (let i = 0; i < notebook.probabilities.length; i++) {
        diff = Math.max(diff, Math.abs(page.probabilities[i] - notebook.probabilities[i]));
      }
      for (let i = 0; i < test.count; i++) if (page.predicted[i] !== notebook.predicted[i]) changes++;
      for (const i of indices) if (page.predicted[i] !== notebook.predicted[i]) shownChanges++;
    } finally {
      m.dispose();
    }
    chosen = { codec, blob, entries, diff, changes, shownChanges };
    if (opts.weights || (diff <= tolerance && shownChanges === 0)) break;
  }
  if (!chosen) throw new Error(`${fn}: no weight codec`);

  const pixels = Buffer.alloc(indices.length * size);
  indices.forEach((i, p) => pixels.set(pixelBytes(test, i, size), p * size));
  const expected = indices.map((i) =>
    Array.from(notebook.probabilities.subarray(i * classes, (i + 1) * classes), (v) => Number(v.toPrecision(8))),
  );

  const runtime = browserRuntime();
  const weightsB64 = Buffer.from(chosen.blob).toString("base64");
  const facts =
    `weights ${CODEC_NAMES[chosen.codec]} (${Math.round(chosen.blob.length / 1024)} kB); on the ${test.count.toLocaleString("en-US")} ` +
    `test images the page's probabilities differ from the notebook's predict by at most ${fmtBound(chosen.diff)}` +
    (chosen.changes
      ? `; same predicted class for every image shown here, ${chosen.changes} near-ties elsewhere differ`
      : ", same predicted class for every one");
  const data = {
    title: opts.title ?? "the trained CNN",
    facts,
    classNames: names,
    side,
    inputShape,
    topology: art.modelTopology,
    entries: chosen.entries,
    weights: weightsB64,
    codec: chosen.codec,
    bound: chosen.diff,
    images: pixels.toString("base64"),
    indices,
    labels: indices.map((i) => test.labels[i]),
    expected,
    grids,
    pickNote:
      pickable > 0
        ? `The page carries test images #0-#${pickable - 1} and those in the grids.`
        : "The page carries the images in the grids.",
  };
  const id = `fm-model-panel-${Math.random().toString(36).slice(2, 10)}`;
  const note =
    "Interactive model panel: the trained network, run in this page by TensorFlow.js. " +
    "It needs its script: in JupyterLab run the cell (a notebook opened from disk is untrusted and shows this note), " +
    "in an HTML export leave “Sanitize HTML output” unchecked.";
  const html = [
    `<div class="fm-model-panel" id="${id}" data-fm-model-panel="1">`,
    `<p class="fm-model-panel-note" style="color:#5f6368;font-style:italic">${escapeHtml(note)}</p>`,
    `<script type="application/json" class="fm-model-panel-data">${scriptJson(data)}</script>`,
    `</div>`,
    `<script data-fm-tfjs="${escapeHtml(runtime.version)}">/* TensorFlow.js ${runtime.version} ` +
      `(npm builds tf-core, tf-backend-cpu, tf-layers), embedded once */\n` +
      `if (!(window.tf && window.tf.version_layers === "${runtime.version}")) (function (define, exports, module) {\n` +
      `${runtime.code.replace(/<\/script/gi, "<\\/script")}\n}).call(window);</script>`,
    `<script>${PANEL_JS.replace(/<\/script/gi, "<\\/script")}\nfmModelPanel(document.currentScript);</script>`,
  ].join("\n");
  return {
    html,
    bytes: Buffer.byteLength(html),
    runtimeBytes: Buffer.byteLength(runtime.code),
    weightBytes: chosen.blob.length,
    codec: chosen.codec,
    maxDifference: chosen.diff,
    classChanges: chosen.changes,
    indices,
    expected,
    grids: { sample, mistakes, confident },
    tfjsVersion: runtime.version,
  };
}

/** What {@link showModelPanel} says about the panel, one line. */
export function modelPanelSummary(info: ModelPanelInfo): string {
  return (
    `model panel: ${(info.bytes / 1e6).toFixed(2)} MB (TensorFlow.js ${info.tfjsVersion} ${(info.runtimeBytes / 1e6).toFixed(2)} MB, ` +
    `weights ${CODEC_NAMES[info.codec]} ${Math.round(info.weightBytes / 1024)} kB, ${info.indices.length} test images); ` +
    `max probability difference from predict ${fmtBound(info.maxDifference)}, ` +
    `${info.classChanges} predicted classes changed`
  );
}

/**
 * Shows the trained model in the page: one self-contained HTML output (no
 * network) that runs the model with TensorFlow.js in the browser on test
 * images picked from grids or by index, on a 28x28 drawing pad, or on an image
 * file, with a bar chart of the ten class probabilities. The weights are
 * stored compactly (8 bits by default) only when that moves no probability on
 * the test set by more than `tolerance` (1e-3) and changes no predicted
 * class. Returns what the panel carries (sizes in bytes, codec, measured
 * difference). Outside a notebook, prints its one-line summary.
 *
 * @throws Error as {@link modelPanelHtml} does.
 */
export async function showModelPanel(
  model: tf.LayersModel,
  test: LabeledImages,
  opts: ModelPanelOptions = {},
): Promise<ModelPanelInfo> {
  const info = await modelPanelHtml(model, test, opts);
  if (inNotebook()) showHtml(info.html);
  else showText(modelPanelSummary(info));
  return info;
}
