// Saving and loading trained models under data/models/, crash-safe (see
// safe-folder.ts): whatever kills a save (a crash, kill -9, a full disk),
// loadModel(NAME) afterwards returns the previous model or the new one, whole.
// A saved model keeps its optimizer's state, so a loaded model trains on as
// the original would have.
import * as fs from "fs";
import * as path from "path";
import { tf } from "../runtime/tf";
import { dataDir } from "../runtime/paths";
import { compileModel } from "./model";
import { longestWorkingName, readFolder, writeFolder } from "./safe-folder";
import { decodeOptimizerState, encodeOptimizerState, readOptimizerState, writeOptimizerState } from "./optimizer-state";

/**
 * The folder saved models go in: `models/` in {@link dataDir} (not created here).
 *
 * @throws Error when no project folder is found, as {@link dataDir} says.
 */
export function modelsDir(): string {
  return path.join(dataDir(), "models");
}

export function checkName(name: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) {
    throw new Error(`Model name "${name}" is not allowed: use letters, digits, '.', '_' or '-' (no slashes)`);
  }
}

/** The model's files, as tfjs-node's file:// saver writes them (model.json + weights.bin). */
async function artifactsOf(model: tf.LayersModel): Promise<{ json: string; weights: Uint8Array }> {
  let json = "";
  let weights = new Uint8Array(0);
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const data =
        artifacts.weightData === undefined ? new ArrayBuffer(0) : tf.io.CompositeArrayBuffer.join(artifacts.weightData);
      weights = new Uint8Array(data);
      json = JSON.stringify({
        modelTopology: artifacts.modelTopology,
        format: artifacts.format,
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy,
        trainingConfig: artifacts.trainingConfig,
        userDefinedMetadata: artifacts.userDefinedMetadata,
        weightsManifest: [{ paths: ["./weights.bin"], weights: artifacts.weightSpecs ?? [] }],
      });
      return {
        modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON", weightDataBytes: weights.byteLength },
      };
    }),
  );
  return { json, weights };
}

/** Every file of a saved model: the model (as tfjs-node writes it) and, once it has trained, Adam's state. */
export async function modelFiles(model: tf.LayersModel): Promise<Record<string, string | Uint8Array>> {
  const { json, weights } = await artifactsOf(model);
  const state = await readOptimizerState(model);
  return { "model.json": json, "weights.bin": weights, ...(state ? encodeOptimizerState(state) : {}) };
}

/** How tfjs describes the tensors in weights.bin. */
type WeightSpecs = NonNullable<Parameters<typeof tf.io.fromMemory>[1]>;

/** The model in files read from a folder written by modelFiles: compiled, with its optimizer state restored. */
export async function modelFromFiles(files: Record<string, Buffer>, where: string): Promise<tf.LayersModel> {
  const json = files["model.json"];
  const weights = files["weights.bin"];
  if (!json || !weights) throw new Error(`${where} has no ${json ? "weights.bin" : "model.json"}`);
  const saved = JSON.parse(json.toString("utf8")) as {
    modelTopology: object;
    weightsManifest: { weights: WeightSpecs }[];
  };
  const data = weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength) as ArrayBuffer;
  const model = await tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: saved.modelTopology,
      weightSpecs: saved.weightsManifest.flatMap((group) => group.weights),
      weightData: data,
    }),
  );
  compileModel(model);
  const optimizer = files["optimizer.json"];
  if (optimizer && files["optimizer.bin"]) {
    await writeOptimizerState(model, decodeOptimizerState(optimizer.toString("utf8"), files["optimizer.bin"]));
  }
  return model;
}

/** Room a save needs: the seed's model is 1.6 MB; a staging copy sits beside the old one. */
const SAVE_SPACE_BYTES = 64 * 2 ** 20;
/** Linux's limits: one name in a folder, and a whole path. */
const NAME_MAX = 255;
const PATH_MAX = 4096;
/** The longest file a saved folder holds (checkpoints add checkpoint.json to a model's files). */
const LONGEST_FILE = "checkpoint.json";

/** What a write target is called in messages: the saved model's folder or a checkpoint's. */
export interface TargetKind {
  /** "the models folder" */
  folder: string;
  /** "the saved model" */
  item: string;
}
const MODEL_TARGET: TargetKind = { folder: "the models folder", item: "the saved model" };

/** Why `dir` cannot be created or written, in words: read-only file system, permission, or the system's message. */
export function unwritableReason(dir: string, err: unknown): string {
  let code = (err as NodeJS.ErrnoException).code;
  if (code === "ENOENT") {
    // mkdir -p reports a read-only or forbidden parent as ENOENT: ask the nearest folder that exists.
    let up = dir;
    while (!fs.existsSync(up) && path.dirname(up) !== up) up = path.dirname(up);
    try {
      fs.accessSync(up, fs.constants.W_OK);
    } catch (e) {
      code = (e as NodeJS.ErrnoException).code;
      if (code === "EROFS") return `${up} is on a read-only file system`;
      if (code === "EACCES" || code === "EPERM") return `${up} is not writable by you (permission denied)`;
    }
  }
  if (code === "EROFS") return `${dir} is on a read-only file system`;
  if (code === "EACCES" || code === "EPERM") return `${dir} is not writable by you (permission denied)`;
  return (err as Error).message;
}

/**
 * Everything saveModel(model, name, dir) will need, checked now, before the
 * minutes of training that come first: a valid name short enough for every
 * folder a save creates, a models folder that is a folder and writable (a
 * read-only mount named as such), room on its disk, and no file where the
 * model's folder goes. Returns the folder the model will be saved to.
 * (Checkpoints are checked the same way, with their own words: kind.)
 *
 * @throws Error naming the problem and its fix: a name with characters other
 *   than letters, digits, '.', '_' and '-', a path too long for Linux, a
 *   folder that is a file or not writable (read-only mount, permissions), or
 *   less than 64 MB free on its disk.
 */
export function checkSaveTarget(name: string, dir = modelsDir(), kind: TargetKind = MODEL_TARGET): string {
  checkName(name);
  const target = path.join(dir, name);
  const where = `${kind.folder} ${dir}`;
  const working = longestWorkingName(name);
  if (working.length > NAME_MAX) {
    throw new Error(
      `The name "${name.length > 40 ? `${name.slice(0, 40)}...` : name}" is too long (${name.length} characters): ` +
        `saving makes working folders beside it (.NAME.previous-PID-XXXXXXXX) of up to ${working.length} characters, ` +
        `where the system allows ${NAME_MAX}. Use a name of at most ${name.length - (working.length - NAME_MAX)} characters.`,
    );
  }
  const longest = path.join(path.resolve(dir), working, LONGEST_FILE);
  if (longest.length >= PATH_MAX) {
    throw new Error(
      `The path of ${kind.item} "${name}" would be too long (${longest.length} characters with its working folder; ` +
        `the system allows ${PATH_MAX - 1}): use a shorter name or set FMNIST_DATA_DIR to a shorter folder.`,
    );
  }
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(
      code === "EEXIST" || code === "ENOTDIR"
        ? `${where} cannot be created: ${dir} or a folder above it is a file. Move that file away, or set FMNIST_DATA_DIR to another folder.`
        : `${where} cannot be created: ${unwritableReason(dir, err)}. Set FMNIST_DATA_DIR to a folder you can write to.`,
      { cause: err },
    );
  }
  if (!fs.statSync(dir).isDirectory()) {
    throw new Error(`${where} is a file, not a folder. Move it away, or set FMNIST_DATA_DIR to another folder.`);
  }
  if (fs.existsSync(target) && !fs.statSync(target).isDirectory()) {
    throw new Error(`${target} is a file, where ${kind.item} "${name}" goes. Move it away or choose another name.`);
  }
  const probe = path.join(dir, `.write-probe-${process.pid}`);
  try {
    fs.writeFileSync(probe, "ok");
  } catch (err) {
    throw new Error(
      `Cannot write to ${where}: ${unwritableReason(dir, err)}. Set FMNIST_DATA_DIR to a folder you can write to.`,
      { cause: err },
    );
  } finally {
    fs.rmSync(probe, { force: true });
  }
  const disk = fs.statfsSync(dir);
  const free = disk.bavail * disk.bsize;
  if (free < SAVE_SPACE_BYTES) {
    throw new Error(
      `Only ${(free / 2 ** 20).toFixed(1)} MB free on the disk of ${where}; saving needs about ` +
        `${SAVE_SPACE_BYTES / 2 ** 20} MB. Free some space or set FMNIST_DATA_DIR to another disk.`,
    );
  }
  return target;
}

/**
 * Saves a model to `<dir>/<name>/` (default `data/models/<name>/`):
 * model.json, weights.bin and, once it has trained, Adam's state, so a loaded
 * model trains on as this one would. Crash-safe: the files are written to a
 * staging folder, synced, then swapped in, so a killed save leaves the old
 * model or the new one, never a mix. Returns the model's folder. The seed's
 * model takes about 1.6 MB (4.7 MB with Adam's state).
 *
 * @param model - the tfjs LayersModel to save (trained or not).
 * @param name - the folder's name: letters, digits, '.', '_' and '-' only.
 * @param dir - the folder that holds saved models (default {@link modelsDir}).
 * @returns the model's folder.
 * @throws Error when the name is not letters, digits, '.', '_' or '-', or the
 *   files cannot be written (the message names the folder and the cause;
 *   {@link checkSaveTarget} checks this before training).
 *
 * @example
 * ```ts
 * const folder = await fm.saveModel(model, "my-model"); // .../data/models/my-model
 * const again = await fm.loadModel("my-model");
 * ```
 */
export async function saveModel(model: tf.LayersModel, name: string, dir = modelsDir()): Promise<string> {
  checkName(name);
  try {
    return await writeFolder(dir, name, () => modelFiles(model));
  } catch (err) {
    throw new Error(`Could not save model "${name}" to ${path.join(dir, name)}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/**
 * Loads a model saved by {@link saveModel} from `<dir>/<name>/` (default
 * `data/models/<name>/`), compiled like createModel and with its optimizer
 * state: ready to evaluate or train on.
 *
 * @param name - the name it was saved under.
 * @param dir - the folder that holds saved models (default {@link modelsDir}).
 * @throws Error when the name is not allowed, no model of that name was
 *   saved, or its files cannot be read (damaged or incomplete).
 */
export async function loadModel(name: string, dir = modelsDir()): Promise<tf.LayersModel> {
  checkName(name);
  const folder = path.join(dir, name);
  const files = await readFolder(dir, name);
  if (!files?.["model.json"]) {
    const file = path.join(folder, "model.json");
    throw new Error(`No saved model "${name}": ${file} does not exist. Save one with saveModel(model, "${name}").`);
  }
  try {
    return await modelFromFiles(files, folder);
  } catch (err) {
    throw new Error(`The saved model "${name}" in ${folder} cannot be read: ${(err as Error).message}`, { cause: err });
  }
}
