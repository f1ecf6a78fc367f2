// Checkpoints: after each epoch fit saves what it needs to go on from there
// (weights, Adam's state, the history so far, how far the shuffling generator
// has gone, and the run's settings) under data/checkpoints/<name>/, with the
// same crash-safe writes as saved models. fit({ resume: true }) and
// `npm run train -- --resume` continue from the last complete epoch; a run
// that is not resumed refuses to replace an unfinished one unless told to
// (restart: true, --restart); a missing or damaged part is named, with the fix.
import * as path from "path";
import type { tf } from "../runtime/tf";
import { dataDir } from "../runtime/paths";
import { checkName, checkSaveTarget, modelFromFiles, modelFiles } from "../model/persist";
import { decodeOptimizerState } from "../model/optimizer-state";
import { readFolder, writeFolder } from "../model/safe-folder";
import type { EpochLog } from "./progress";

/**
 * The folder checkpoints go in: `checkpoints/` in {@link dataDir} (not created here).
 *
 * @throws Error when no project folder is found, as {@link dataDir} says.
 */
export function checkpointsDir(): string {
  return path.join(dataDir(), "checkpoints");
}

/** What a checkpoint records besides the model and its optimizer. */
export interface CheckpointInfo {
  /** The last complete epoch. */
  epoch: number;
  /** The run's settings: a resumed run must use the same ones. */
  epochs: number;
  /** Samples per training step. */
  batchSize: number;
  /** The shuffle's seed (undefined: unseeded). */
  seed?: number;
  /** Training samples. */
  trainCount: number;
  /** Validation samples (0 without a validation set). */
  validationCount: number;
  /** How many numbers the shuffling generator has drawn (so the next epoch shuffles as it would have). */
  randomDraws: number;
  /** The metrics of each epoch done. */
  history: EpochLog[];
  /** The trainer that ran, as in fit's result. */
  trainer: "graph" | "native" | "layers";
}

export async function writeCheckpoint(
  model: tf.LayersModel,
  name: string,
  info: CheckpointInfo,
  dir = checkpointsDir(),
): Promise<string> {
  checkName(name);
  try {
    return await writeFolder(dir, name, async () => ({
      ...(await modelFiles(model)),
      "checkpoint.json": JSON.stringify(info),
    }));
  } catch (err) {
    throw new Error(`Could not write the checkpoint "${name}" to ${path.join(dir, name)}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/** How the ways on are called where the error is read: fit's options, or the train CLI's flags. */
export interface CheckpointWords {
  resume: string;
  restart: string;
  rename: string;
}
export const FIT_WORDS: CheckpointWords = {
  resume: "resume: true",
  restart: "restart: true",
  rename: "another checkpoint name",
};

/**
 * A checkpoint that cannot be used as asked: an earlier unfinished run a new
 * one would replace ("unfinished"), a part missing ("missing") or damaged
 * ("damaged"). The message names the folder, the file and the ways on
 * (resume, restart, or another checkpoint name).
 */
export class CheckpointError extends Error {
  /** "CheckpointError". */
  override name = "CheckpointError";
  constructor(
    message: string,
    /** What is wrong: an unfinished run in the way, a part missing, or a part damaged. */
    readonly kind: "unfinished" | "missing" | "damaged",
    /** The checkpoint's folder. */
    readonly folder: string,
    /** The file at fault, when one is. */
    readonly file?: string,
  ) {
    super(message);
  }
}

/** The files a resume needs besides checkpoint.json, and what each holds. */
const PARTS: Record<string, string> = {
  "model.json": "the model's layers",
  "weights.bin": "the weights",
  "optimizer.json": "Adam's state",
  "optimizer.bin": "Adam's state",
};

function damaged(folder: string, file: string, problem: string, words: CheckpointWords): CheckpointError {
  return new CheckpointError(
    `${path.join(folder, file)} is damaged (${problem}): the run in ${folder} cannot be continued. ` +
      `Start over with ${words.restart} (it replaces the checkpoint) or ${words.rename}; ` +
      `or put a good copy of ${file} back to resume.`,
    "damaged",
    folder,
    file,
  );
}

function missing(folder: string, file: string, words: CheckpointWords): CheckpointError {
  return new CheckpointError(
    `The checkpoint ${folder} has no ${file} (${file === "checkpoint.json" ? "the run's settings and history" : PARTS[file]}): ` +
      `resuming without it would not continue the same run. Start over with ${words.restart} (it replaces the checkpoint) ` +
      `or ${words.rename}; or put ${file} back to resume.`,
    "missing",
    folder,
    file,
  );
}

/** checkpoint.json's record, each field checked, or the first problem in words. */
function parseInfo(text: string): CheckpointInfo | string {
  let info: unknown;
  try {
    info = JSON.parse(text);
  } catch (err) {
    return `not JSON: ${(err as Error).message}`;
  }
  if (typeof info !== "object" || info === null || Array.isArray(info)) return "not a checkpoint record";
  const r = info as Record<string, unknown>;
  const whole: [string, number][] = [
    ["epoch", 1],
    ["epochs", 1],
    ["batchSize", 1],
    ["trainCount", 1],
    ["validationCount", 0],
    ["randomDraws", 0],
  ];
  for (const [key, min] of whole) {
    if (!(key in r)) return `"${key}" is missing`;
    const v = r[key];
    if (!(typeof v === "number" && Number.isInteger(v) && v >= min))
      return `"${key}" is ${JSON.stringify(v)}, not a whole number of ${min} or more`;
  }
  if (r.seed !== undefined && !(typeof r.seed === "number" && Number.isFinite(r.seed)))
    return `"seed" is ${JSON.stringify(r.seed)}, not a number`;
  if ((r.epoch as number) > (r.epochs as number)) return `"epoch" ${r.epoch} is past "epochs" ${r.epochs}`;
  if (!Array.isArray(r.history) || r.history.length !== r.epoch)
    return `"history" does not hold the ${r.epoch as number} epochs done`;
  if (!["graph", "native", "layers"].includes(r.trainer as string))
    return `"trainer" is ${JSON.stringify(r.trainer)}, not graph, native or layers`;
  return r as unknown as CheckpointInfo;
}

/** The checkpoint's record alone (checkpoint.json, checked), or undefined when there is no checkpoint. */
export async function readCheckpointInfo(
  name: string,
  dir = checkpointsDir(),
  words: CheckpointWords = FIT_WORDS,
): Promise<{ info: CheckpointInfo; folder: string; files: Record<string, Buffer> } | undefined> {
  checkName(name);
  const folder = path.join(dir, name);
  const files = await readFolder(dir, name);
  if (!files) return undefined;
  if (!files["checkpoint.json"]) throw missing(folder, "checkpoint.json", words);
  const info = parseInfo(files["checkpoint.json"].toString("utf8"));
  if (typeof info === "string") throw damaged(folder, "checkpoint.json", info, words);
  return { info, folder, files };
}

/** Bytes per value of each dtype tfjs writes in weights.bin. */
const DTYPE_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1 };

/**
 * The checkpoint's model (compiled, optimizer restored) and record, or
 * undefined when there is none. A checkpoint missing a part a resume needs, or
 * with a damaged one, is a CheckpointError naming the file and the ways on.
 * `fit(..., { checkpoint: name, resume: true })` does this itself.
 *
 * @throws CheckpointError when a part is missing or damaged.
 * @throws Error when the name is not letters, digits, '.', '_' or '-'.
 */
export async function readCheckpoint(
  name: string,
  dir = checkpointsDir(),
  words: CheckpointWords = FIT_WORDS,
): Promise<
  | {
      /** The model at the last complete epoch, compiled, with Adam's state. */
      model: tf.LayersModel;
      /** What the checkpoint records. */
      info: CheckpointInfo;
    }
  | undefined
> {
  const read = await readCheckpointInfo(name, dir, words);
  if (!read) return undefined;
  const { info, folder, files } = read;
  for (const file of Object.keys(PARTS)) if (!files[file]) throw missing(folder, file, words);
  let manifest: { weights?: { shape?: number[]; dtype?: string }[] }[];
  try {
    const json = JSON.parse(files["model.json"].toString("utf8")) as {
      modelTopology?: unknown;
      weightsManifest?: unknown;
    };
    if (typeof json?.modelTopology !== "object" || !Array.isArray(json.weightsManifest))
      throw damaged(folder, "model.json", "not a saved model: no modelTopology or weightsManifest", words);
    manifest = json.weightsManifest as typeof manifest;
  } catch (err) {
    if (err instanceof CheckpointError) throw err;
    throw damaged(folder, "model.json", `not JSON: ${(err as Error).message}`, words);
  }
  const expected = manifest
    .flatMap((group) => group.weights ?? [])
    .reduce((sum, w) => sum + (w.shape ?? []).reduce((a, b) => a * b, 1) * (DTYPE_BYTES[w.dtype ?? "float32"] ?? 4), 0);
  if (files["weights.bin"].length !== expected) {
    const bytes = files["weights.bin"].length;
    throw damaged(
      folder,
      "weights.bin",
      `${bytes < expected ? "truncated: " : ""}${bytes.toLocaleString("en-US")} bytes where model.json lists ${expected.toLocaleString("en-US")}`,
      words,
    );
  }
  const optimizer = files["optimizer.json"].toString("utf8");
  let sizes: unknown;
  try {
    sizes = (JSON.parse(optimizer) as { sizes?: unknown }).sizes;
  } catch (err) {
    throw damaged(folder, "optimizer.json", `not JSON: ${(err as Error).message}`, words);
  }
  const values = Array.isArray(sizes) ? 2 * sizes.reduce((a: number, b) => a + Number(b), 0) : NaN;
  const bytes = files["optimizer.bin"].length;
  if (Number.isFinite(values) && bytes !== values * 4) {
    throw damaged(
      folder,
      "optimizer.bin",
      `${bytes < values * 4 ? "truncated: " : ""}${bytes.toLocaleString("en-US")} bytes where optimizer.json lists ${(values * 4).toLocaleString("en-US")}`,
      words,
    );
  }
  try {
    decodeOptimizerState(optimizer, files["optimizer.bin"]);
  } catch (err) {
    const message = (err as Error).message;
    const file = /^optimizer\.bin/.test(message) ? "optimizer.bin" : "optimizer.json";
    throw damaged(folder, file, message.replace(/^optimizer\.(bin|json) /, ""), words);
  }
  try {
    return { model: await modelFromFiles(files, folder), info };
  } catch (err) {
    throw damaged(folder, "model.json", (err as Error).message, words);
  }
}

/**
 * Whether a run may use the checkpoint `name` as asked, checked before it
 * trains: the checkpoints folder can take it (as checkSaveTarget checks a
 * model's), a resume finds every part whole, and a run that is not resumed
 * does not replace an earlier unfinished run's progress unless `restart` says so.
 * Returns the checkpoint a resume will continue, if any.
 */
export async function checkCheckpointStart(
  name: string,
  o: { resume?: boolean; restart?: boolean },
  dir = checkpointsDir(),
  words: CheckpointWords = FIT_WORDS,
): Promise<CheckpointInfo | undefined> {
  if (o.resume && o.restart) throw new Error(`${words.resume} and ${words.restart} contradict each other: choose one`);
  checkSaveTarget(name, dir, { folder: "the checkpoints folder", item: "the checkpoint" });
  if (o.restart) return undefined;
  if (o.resume) {
    const saved = await readCheckpoint(name, dir, words);
    saved?.model.dispose();
    return saved?.info;
  }
  const read = await readCheckpointInfo(name, dir, words);
  if (read && read.info.epoch < read.info.epochs) {
    const { info, folder } = read;
    throw new CheckpointError(
      `The checkpoint ${folder} holds an earlier run that did not finish (epoch ${info.epoch} of ${info.epochs}, ` +
        `batch size ${info.batchSize}, seed ${info.seed ?? "none"}); this run would replace it. ` +
        `Continue it with ${words.resume}, start over with ${words.restart}, or use ${words.rename}.`,
      "unfinished",
      folder,
      "checkpoint.json",
    );
  }
  return undefined;
}
