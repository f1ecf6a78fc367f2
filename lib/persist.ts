// Saving and loading trained models under data/models/, atomically: a crash
// while saving leaves the previous copy loadable.
import * as fs from "fs";
import * as path from "path";
import { tf } from "./tf";
import { dataDir } from "./paths";
import { compileModel } from "./model";

export function modelsDir(): string {
  return path.join(dataDir(), "models");
}

function checkName(name: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) {
    throw new Error(`Model name "${name}" is not allowed: use letters, digits, '.', '_' or '-' (no slashes)`);
  }
}

/** Saves to data/models/<name>/ (model.json + weights.bin) and returns that folder. */
export async function saveModel(model: tf.LayersModel, name: string, dir = modelsDir()): Promise<string> {
  checkName(name);
  const target = path.join(dir, name);
  fs.mkdirSync(dir, { recursive: true });
  // Write a complete copy beside the target, then swap it in with renames.
  const staging = fs.mkdtempSync(path.join(dir, `.${name}.saving-`));
  const old = `${target}.old-${process.pid}`;
  try {
    await model.save(`file://${staging}`);
    if (fs.existsSync(target)) fs.renameSync(target, old);
    fs.renameSync(staging, target);
  } catch (err) {
    fs.rmSync(staging, { recursive: true, force: true });
    if (!fs.existsSync(target) && fs.existsSync(old)) fs.renameSync(old, target);
    throw new Error(`Could not save model "${name}" to ${target}: ${(err as Error).message}`);
  }
  fs.rmSync(old, { recursive: true, force: true });
  return target;
}

/** Loads data/models/<name>/ and compiles it like createModel does, ready to evaluate or train on. */
export async function loadModel(name: string, dir = modelsDir()): Promise<tf.LayersModel> {
  checkName(name);
  const file = path.join(dir, name, "model.json");
  if (!fs.existsSync(file)) throw new Error(`No saved model "${name}": ${file} does not exist. Save one with saveModel(model, "${name}").`);
  const model = await tf.loadLayersModel(`file://${file}`);
  compileModel(model);
  return model;
}
