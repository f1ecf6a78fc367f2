// Saving and loading trained models under data/models/, crash-safe: whatever
// kills a save (a crash, kill -9, a full disk), loadModel(NAME) afterwards
// returns the previous model or the new one, whole.
//
// models/NAME/ is always a plain folder (it can be copied or handed in as it
// is). A save writes a complete copy beside it and swaps it in:
//   1. .NAME.saving-PID-R/: model.json and weights.bin, each written and
//      fsynced, then saved.json (the "complete" mark) last;
//   2. NAME -> .NAME.previous-PID-R (rename);
//   3. .NAME.saving-PID-R -> NAME (rename);
//   4. .NAME.previous-PID-R -> .NAME.trash-PID-R (rename), then removed.
// Between 2 and 3 there is no NAME. Whoever next loads or saves NAME puts back
// the newest complete copy (a finished staging copy, else the previous one),
// so the gap is never seen as "no saved model". Leftovers of processes that
// are gone (staging, previous and trash folders) are removed by the next save
// or load; several processes saving one name at once each finish with one
// whole model in place.
import * as fs from "fs";
import * as path from "path";
import { tf } from "./tf";
import { dataDir } from "./paths";
import { compileModel } from "./model";
import { processAlive } from "./leftovers";

export function modelsDir(): string {
  return path.join(dataDir(), "models");
}

function checkName(name: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) {
    throw new Error(`Model name "${name}" is not allowed: use letters, digits, '.', '_' or '-' (no slashes)`);
  }
}

const MARK = "saved.json";
const KINDS = ["saving", "previous", "trash"] as const;
type Kind = (typeof KINDS)[number];

interface Sibling {
  path: string;
  kind: Kind;
  pid: number;
}

/** The .NAME.<kind>-PID-R folders beside NAME. */
function siblings(dir: string, name: string): Sibling[] {
  const prefix = `.${name}.`;
  let entries: string[];
  try {
    entries = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const found: Sibling[] = [];
  for (const entry of entries) {
    if (!entry.startsWith(prefix)) continue;
    const m = /^(saving|previous|trash|old)-(\d+)-?/.exec(entry.slice(prefix.length));
    // "old" is how earlier versions of this module named the previous copy.
    if (m) found.push({ path: path.join(dir, entry), kind: (m[1] === "old" ? "previous" : m[1]) as Kind, pid: Number(m[2]) });
  }
  return found;
}

/** When a complete copy was finished (its mark), or undefined if it is not complete. */
function completedAt(folder: string, kind: Kind): number | undefined {
  try {
    const mark = JSON.parse(fs.readFileSync(path.join(folder, MARK), "utf8")) as { savedAt?: number };
    return typeof mark.savedAt === "number" ? mark.savedAt : 0;
  } catch {
    // A previous copy without a mark is a whole save from before marks existed.
    return kind === "previous" && fs.existsSync(path.join(folder, "model.json")) ? 0 : undefined;
  }
}

function fsyncDir(dir: string): void {
  try {
    const fd = fs.openSync(dir, "r");
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    // Not every file system can sync a folder; the renames are still atomic.
  }
}

function writeDurably(file: string, data: string | Uint8Array): void {
  const fd = fs.openSync(file, "w");
  try {
    fs.writeFileSync(fd, data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === "ENOENT";
}

/** rename, where a source that is already gone (another process moved it) is no error. */
function moveIfThere(from: string, to: string): boolean {
  try {
    fs.renameSync(from, to);
    return true;
  } catch (err) {
    if (isMissing(err)) return false;
    throw err;
  }
}

function isTaken(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === "ENOTEMPTY" || code === "EEXIST" || code === "EISDIR" || code === "ENOTDIR";
}

/**
 * When NAME is missing (a save was killed between its two renames), puts the
 * newest complete copy in its place. Then removes what processes that are gone
 * left behind. Returns whether NAME exists afterwards.
 */
function repair(dir: string, name: string): boolean {
  const target = path.join(dir, name);
  for (let attempt = 0; attempt < 5 && !fs.existsSync(target); attempt++) {
    const candidates = siblings(dir, name)
      .filter((s) => s.kind !== "trash")
      .map((s) => ({ ...s, at: completedAt(s.path, s.kind) }))
      .filter((s): s is Sibling & { at: number } => s.at !== undefined)
      .sort((a, b) => b.at - a.at);
    if (candidates.length === 0) break;
    try {
      fs.renameSync(candidates[0].path, target);
      fsyncDir(dir);
    } catch (err) {
      if (!isMissing(err) && !isTaken(err)) throw err;
      // Another process moved it first: look again.
    }
  }
  for (const s of siblings(dir, name)) {
    if (processAlive(s.pid)) continue;
    if (s.kind === "saving" && completedAt(s.path, s.kind) === undefined) {
      fs.rmSync(s.path, { recursive: true, force: true });
    } else if (s.kind !== "saving" && fs.existsSync(target)) {
      fs.rmSync(s.path, { recursive: true, force: true });
    } else if (s.kind === "saving" && fs.existsSync(target)) {
      // A complete copy whose process died before swapping it in: older or
      // newer than NAME, it was never the saved model; NAME stays.
      fs.rmSync(s.path, { recursive: true, force: true });
    }
  }
  return fs.existsSync(target);
}

/** The model's files, as tfjs-node's file:// saver writes them (model.json + weights.bin). */
async function artifactsOf(model: tf.LayersModel): Promise<{ json: string; weights: Uint8Array }> {
  let json = "";
  let weights = new Uint8Array(0);
  await model.save(tf.io.withSaveHandler(async (artifacts) => {
    const data = artifacts.weightData === undefined ? new ArrayBuffer(0) : tf.io.CompositeArrayBuffer.join(artifacts.weightData);
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
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON", weightDataBytes: weights.byteLength } };
  }));
  return { json, weights };
}

/** Room a save needs: the seed's model is 1.6 MB; a staging copy sits beside the old one. */
const SAVE_SPACE_BYTES = 64 * 2 ** 20;

/**
 * Everything saveModel(model, name, dir) will need, checked now, before the
 * minutes of training that come first: a valid name, a models folder that is a
 * folder and writable, room on its disk, and no file where the model's folder
 * goes. Returns the folder the model will be saved to.
 */
export function checkSaveTarget(name: string, dir = modelsDir()): string {
  checkName(name);
  const target = path.join(dir, name);
  const where = `the models folder ${dir}`;
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(code === "EEXIST" || code === "ENOTDIR"
      ? `${where} cannot be created: ${dir} or a folder above it is a file. Move that file away, or set FMNIST_DATA_DIR to another folder.`
      : `${where} cannot be created (${(err as Error).message}). Set FMNIST_DATA_DIR to a folder you can write to.`);
  }
  if (!fs.statSync(dir).isDirectory()) {
    throw new Error(`${where} is a file, not a folder. Move it away, or set FMNIST_DATA_DIR to another folder.`);
  }
  if (fs.existsSync(target) && !fs.statSync(target).isDirectory()) {
    throw new Error(`${target} is a file, where the saved model "${name}" goes. Move it away or choose another name.`);
  }
  const probe = path.join(dir, `.write-probe-${process.pid}`);
  try {
    fs.writeFileSync(probe, "ok");
  } catch (err) {
    throw new Error(`Cannot write to ${where} (${(err as Error).message}). Set FMNIST_DATA_DIR to a folder you can write to.`);
  } finally {
    fs.rmSync(probe, { force: true });
  }
  const disk = fs.statfsSync(dir);
  const free = disk.bavail * disk.bsize;
  if (free < SAVE_SPACE_BYTES) {
    throw new Error(`Only ${(free / 2 ** 20).toFixed(1)} MB free on the disk of ${where}; saving needs about ` +
      `${SAVE_SPACE_BYTES / 2 ** 20} MB. Free some space or set FMNIST_DATA_DIR to another disk.`);
  }
  return target;
}

// Saves of one name within this process run one after another.
const queues = new Map<string, Promise<unknown>>();

/** Saves to data/models/<name>/ (model.json + weights.bin) and returns that folder. */
export async function saveModel(model: tf.LayersModel, name: string, dir = modelsDir()): Promise<string> {
  checkName(name);
  const target = path.join(dir, name);
  const key = path.resolve(target);
  const before = queues.get(key) ?? Promise.resolve();
  const run = before.catch(() => undefined).then(() => save(model, name, dir, target));
  queues.set(key, run);
  try {
    return await run;
  } finally {
    if (queues.get(key) === run) queues.delete(key);
  }
}

async function save(model: tf.LayersModel, name: string, dir: string, target: string): Promise<string> {
  const tag = () => `${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
  let staging: string | undefined;
  try {
    const { json, weights } = await artifactsOf(model);
    fs.mkdirSync(dir, { recursive: true });
    repair(dir, name);
    staging = path.join(dir, `.${name}.saving-${tag()}`);
    fs.mkdirSync(staging);
    writeDurably(path.join(staging, "model.json"), json);
    writeDurably(path.join(staging, "weights.bin"), weights);
    writeDurably(path.join(staging, MARK), JSON.stringify({ name, savedAt: Date.now(), pid: process.pid }));
    fsyncDir(staging);
    // Swap it in. Other processes may be swapping the same name: whatever
    // they do, retry until this copy is NAME or another finished copy took
    // its place after it (then this one was simply overwritten).
    for (let attempt = 0; ; attempt++) {
      const id = tag();
      const previous = path.join(dir, `.${name}.previous-${id}`);
      const trash = path.join(dir, `.${name}.trash-${id}`);
      const moved = moveIfThere(target, previous);
      try {
        fs.renameSync(staging, target);
        fsyncDir(dir);
      } catch (err) {
        if (!isTaken(err) && !isMissing(err)) throw err;
        if (isMissing(err) && fs.existsSync(target) && !fs.existsSync(staging)) {
          // A loader put this very copy in place during the gap (repair): done.
        } else {
          // Someone else's copy is NAME now; the one moved aside is older than it.
          if (moved) moveIfThere(previous, trash);
          if (attempt >= 20) throw new Error(`another process keeps replacing ${target}`);
          continue;
        }
      }
      if (moved && moveIfThere(previous, trash)) fs.rmSync(trash, { recursive: true, force: true });
      break;
    }
    staging = undefined;
    return target;
  } catch (err) {
    throw new Error(`Could not save model "${name}" to ${target}: ${(err as Error).message}`);
  } finally {
    if (staging) fs.rmSync(staging, { recursive: true, force: true });
    // Trash of this process (a retried swap) goes now.
    for (const s of siblings(dir, name)) if (s.kind === "trash" && s.pid === process.pid) fs.rmSync(s.path, { recursive: true, force: true });
  }
}

/** Loads data/models/<name>/ and compiles it like createModel does, ready to evaluate or train on. */
export async function loadModel(name: string, dir = modelsDir()): Promise<tf.LayersModel> {
  checkName(name);
  const folder = path.join(dir, name);
  const file = path.join(folder, "model.json");
  repair(dir, name);
  if (!fs.existsSync(file)) {
    throw new Error(`No saved model "${name}": ${file} does not exist. Save one with saveModel(model, "${name}").`);
  }
  let model: tf.LayersModel;
  try {
    model = await tf.loadLayersModel(`file://${file}`);
  } catch (err) {
    // Another process may have swapped NAME while it was read: once more.
    repair(dir, name);
    model = await tf.loadLayersModel(`file://${file}`).catch(() => {
      throw new Error(`The saved model "${name}" in ${folder} cannot be read: ${(err as Error).message}`);
    });
  }
  compileModel(model);
  return model;
}
