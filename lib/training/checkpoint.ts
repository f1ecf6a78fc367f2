// Checkpoints: after each epoch fit saves what it needs to go on from there
// (weights, Adam's state, the history so far, how far the shuffling generator
// has gone, and the run's settings) under data/checkpoints/<name>/, with the
// same crash-safe writes as saved models. fit({ resume: true }) and
// `npm run train -- --resume` continue from the last complete epoch.
import * as path from "path";
import type { tf } from "../runtime/tf";
import { dataDir } from "../runtime/paths";
import { checkName, modelFromFiles, modelFiles } from "../model/persist";
import { readFolder, writeFolder } from "../model/safe-folder";
import type { EpochLog } from "./train";

export function checkpointsDir(): string {
  return path.join(dataDir(), "checkpoints");
}

/** What a checkpoint records besides the model and its optimizer. */
export interface CheckpointInfo {
  /** The last complete epoch. */
  epoch: number;
  /** The run's settings: a resumed run must use the same ones. */
  epochs: number;
  batchSize: number;
  seed?: number;
  trainCount: number;
  validationCount: number;
  /** How many numbers the shuffling generator has drawn (so the next epoch shuffles as it would have). */
  randomDraws: number;
  history: EpochLog[];
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

/** The checkpoint's model (compiled, optimizer restored) and record, or undefined when there is none. */
export async function readCheckpoint(
  name: string,
  dir = checkpointsDir(),
): Promise<{ model: tf.LayersModel; info: CheckpointInfo } | undefined> {
  checkName(name);
  const folder = path.join(dir, name);
  const files = await readFolder(dir, name);
  if (!files?.["checkpoint.json"]) return undefined;
  const info = JSON.parse(files["checkpoint.json"].toString("utf8")) as CheckpointInfo;
  return { model: await modelFromFiles(files, folder), info };
}
