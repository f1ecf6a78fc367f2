// Training, evaluation and prediction for the seed's model, with progress that
// shows in a notebook (one live output) and in a terminal (a progress bar).
import * as path from "path";
import type pl from "nodejs-polars";
import { polars } from "../runtime/polars";
import { tf } from "../runtime/tf";
import { inNotebook } from "../runtime/reporting";
import { NativeTrainer, trainEpoch, type FastTrainer } from "./native/native-train";
import { GraphTrainer } from "./graph/graph-trainer";
import type { LabeledImages } from "../data/samples";
import { type EpochLog, makeProgress, type ProgressMode, TrainingGuard, type TrainingProgress } from "./progress";
import { checkSet, toTensors } from "./tensors";
export type { LabeledImages } from "../data/samples";
import { checkCheckpointStart, checkpointsDir, readCheckpoint, writeCheckpoint } from "./checkpoint";
import { MemoryLimitError } from "../runtime/memory";
import { noteRunStart } from "../runtime/unfinished";
import { noteTrainer, readOptimizerState, writeOptimizerState } from "../model/optimizer-state";

// Defined with the progress that reports them (progress.ts imports nothing from here), re-exported as before.
export type { EpochLog, ProgressMode } from "./progress";

/** Options of {@link fit}; each has the seed notebook's value as its default. */
export interface TrainOptions {
  /** Passes over the training set (default 10); with `resume`, the total including the epochs already done. */
  epochs?: number;
  /** Samples per gradient step (default 32); the last batch of an epoch may be smaller. */
  batchSize?: number;
  /** Seeds the per-epoch shuffle; pair it with createModel({seed}) for a repeatable run. */
  seed?: number;
  /** Shuffle the training set before each epoch (default true, as Keras does). */
  shuffle?: boolean;
  /** Where to show progress; "auto" picks the notebook inside tslab, else the terminal. */
  progress?: ProgressMode;
  /** Called after each epoch with its metrics (e.g. to log or to stop early by throwing). */
  onEpochEnd?: (log: EpochLog) => void | Promise<void>;
  /**
   * Name of a checkpoint written after every epoch under data/checkpoints/
   * (weights, optimizer state, history, shuffling position); off when omitted.
   */
  checkpoint?: string;
  /** Continue from the checkpoint's last complete epoch (needs `checkpoint`; starts afresh when there is none). */
  resume?: boolean;
  /**
   * Start over, replacing the checkpoint of an earlier run that did not
   * finish. Without it (or `resume`) fit refuses such a checkpoint before
   * training (a CheckpointError), so saved progress is never dropped unasked.
   */
  restart?: boolean;
}

/** What {@link fit} returns: the epochs' metrics, the time taken and the trainer used. */
export interface TrainResult {
  /** One entry per epoch, in order (with `resume`, the checkpoint's epochs first). */
  history: EpochLog[];
  /** This run's training time in seconds: resumed epochs (resumedEpochs) are not in it. */
  seconds: number;
  /** How many of history's epochs came from the checkpoint a resume continued (0 otherwise). */
  resumedEpochs: number;
  /**
   * Which trainer ran: "graph" (the native fast path, each step one TensorFlow
   * graph run), "native" (the same step op by op), or "layers" (tfjs-layers' model.fit).
   */
  trainer: "graph" | "native" | "layers";
  /** Why a faster trainer did not run (undefined when the graph step ran). */
  declined?: string;
  /** The history as a polars DataFrame: epoch, loss, accuracy, val_loss, val_accuracy, seconds. */
  frame(): pl.DataFrame;
}

function positiveInt(value: number, name: string): number {
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} must be a positive integer, got ${value}`);
  return value;
}

/** Small, fast, seedable PRNG (mulberry32) for shuffling. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The order fit visits `n` samples in, in its first epoch with this seed. */
export function seededPermutation(n: number, seed: number): Int32Array {
  return permutation(n, rng(seed));
}

function permutation(n: number, random: () => number): Int32Array {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return p;
}

/**
 * Trains a model on a labelled set with the seed's settings (10 epochs, batch 32),
 * shuffling every epoch with our own seedable permutation, and reports loss
 * and accuracy on `validation` after each epoch when one is given.
 *
 * Images may be bytes 0-255 or floats in [0, 1] (as normalizeSet makes them;
 * the seed's model expects [0, 1]); labels are classes 0-9. Progress shows as
 * a live chart in a notebook and a bar in a terminal (`progress`). The model
 * is trained in place; the result holds each epoch's metrics (loss is the
 * mean cross-entropy, accuracy a fraction 0-1, `seconds` wall time).
 *
 * Models built like the seed's (Conv2D/MaxPooling2D/Flatten/Dropout/Dense,
 * softmax, sparse categorical cross-entropy, Adam) train on the native fast
 * path: each step one TensorFlow graph run (training/graph/, when its addon is
 * built), else the same step op by op (training/native/); any other model uses
 * tfjs-layers' model.fit. FMNIST_TRAINER picks one: "graph" (the default, with
 * those fallbacks), "native" (op by op) or "layers".
 *
 * With `checkpoint: name` the model, Adam's state and the history are saved
 * under data/checkpoints/name/ after every epoch; `resume: true` continues
 * from the last complete one.
 *
 * @param model - a compiled tfjs LayersModel (e.g. {@link createModel}'s), trained in place.
 * @param train - the training set (images as the model expects them, labels 0-9).
 * @param validation - the set scored after each epoch (val_loss, val_accuracy), or undefined.
 * @param options - epochs, batch size, seed, progress, checkpointing; see {@link TrainOptions}.
 * @throws InvalidInputError when a set is malformed (a label outside 0-9, a
 *   pixel out of range or NaN, lengths that disagree), before any training.
 * @throws Error when `epochs` or `batchSize` is not a positive whole number,
 *   FMNIST_TRAINER is unknown, the loss becomes NaN or infinite ("Training
 *   diverged"), or the kernel is interrupted (the model keeps the weights
 *   reached so far), and when a resumed checkpoint was made with other settings.
 * @throws CheckpointError when `checkpoint` names an unfinished earlier run
 *   and neither `resume` nor `restart` is set, or a checkpoint is damaged.
 *
 * @example
 * ```ts
 * import * as fm from "fashion-mnist-lib";
 * const data = await fm.loadFashionMnist({ scale: true });
 * const { train, validation } = fm.splitValidation(data.train);
 * const model = fm.createModel({ seed: 1 });
 * const result = await fm.fit(model, train, validation, { epochs: 3, seed: 1 });
 * result.history.at(-1)?.val_accuracy; // about 0.90
 * fm.showFrame(result.frame()); // epoch, loss, accuracy, val_loss, val_accuracy, seconds
 * ```
 */
export async function fit(
  model: tf.LayersModel,
  train: LabeledImages,
  validation: LabeledImages | undefined,
  options: TrainOptions = {},
): Promise<TrainResult> {
  let saved: number | undefined; // the last epoch whose checkpoint is written (onEpochEnd comes after it)
  const tracked: TrainOptions = {
    ...options,
    onEpochEnd: async (log) => {
      saved = log.epoch;
      await options.onEpochEnd?.(log);
    },
  };
  // A note for the next start, should the system kill this process (runtime/unfinished.ts).
  const resume = options.checkpoint
    ? `The checkpoint "${options.checkpoint}" keeps its last complete epoch: resume with fit(..., { checkpoint: ` +
      `"${options.checkpoint}", resume: true }) in a notebook, or npm run train -- --resume.`
    : "It had no checkpoint (fit's checkpoint option), so its training is lost.";
  const done = noteRunStart("training with fit", resume);
  try {
    return await fitting(model, train, validation, tracked);
  } catch (err) {
    if (!(err instanceof MemoryLimitError)) throw err;
    const name = options.checkpoint;
    const kept =
      name && saved !== undefined
        ? `The checkpoint "${name}" (${path.join(checkpointsDir(), name)}) holds epoch ${saved}; resume with ` +
          "fit(..., { checkpoint, resume: true }) in a notebook or npm run train -- --resume."
        : name
          ? `No epoch was complete, so the checkpoint "${name}" holds nothing of this run.`
          : "No checkpoint was asked for (fit's checkpoint option), so only the model in memory keeps the weights reached.";
    throw new MemoryLimitError(
      `${err.message} ${kept} To need less, train on fewer images (FMNIST_TRAIN_LIMIT) or free memory ` +
        "(other notebooks' kernels count against the same limit on a hub).",
    );
  } finally {
    done();
  }
}

/** fit's work; fit adds what a stop for memory leaves. */
async function fitting(
  model: tf.LayersModel,
  train: LabeledImages,
  validation: LabeledImages | undefined,
  options: TrainOptions,
): Promise<TrainResult> {
  const epochs = positiveInt(options.epochs ?? 10, "epochs");
  const batchSize = positiveInt(options.batchSize ?? 32, "batchSize");
  checkSet(train, "fit", "train");
  if (validation) checkSet(validation, "fit", "validation");
  // Every number the shuffling draws is counted, so a resumed run can skip to where it was.
  const generator = options.seed === undefined ? Math.random : rng(options.seed);
  let draws = 0;
  const random = () => {
    draws++;
    return generator();
  };
  const say = (line: string) => {
    if (options.progress !== "none") console.log(line);
  };
  // The checkpoint's folder, and an earlier unfinished run in it, before any training.
  if (options.checkpoint) await checkCheckpointStart(options.checkpoint, options);
  const start = await resumePoint(model, train, validation, { ...options, epochs, batchSize }, say);
  for (let i = 0; i < start.randomDraws; i++) random();
  const { fast, declined } = chooseTrainer(model);
  const trainer = fast ? fast.kind : "layers";
  // Both fast trainers keep Adam's state in the same place.
  noteTrainer(model, fast ? "native" : "layers");
  // After each epoch: the checkpoint (when asked for), then the caller's callback.
  const afterEpoch = async (log: EpochLog, history: EpochLog[]) => {
    if (options.checkpoint) {
      await writeCheckpoint(model, options.checkpoint, {
        epoch: log.epoch,
        epochs,
        batchSize,
        seed: options.seed,
        trainCount: train.count,
        validationCount: validation?.count ?? 0,
        randomDraws: draws,
        history,
        trainer,
      });
    }
    await options.onEpochEnd?.(log);
  };
  const progress = makeProgress(options.progress ?? "auto", epochs, Math.ceil(train.count / batchSize));
  const guard = new TrainingGuard(inNotebook());
  // One line says which trainer runs, and why when it is a slower one.
  if (fast) {
    const how = fast.kind === "graph" || !declined ? "" : `, op by op because ${declined.replace(/\.$/, "")}`;
    say(`Training on the native fast path (${epochs} epoch${epochs === 1 ? "" : "s"}, batches of ${batchSize})${how}.`);
    try {
      return await fitNative(fast, declined, train, validation, {
        epochs,
        batchSize,
        random,
        shuffle: options.shuffle !== false,
        progress,
        guard,
        start: start.history,
        afterEpoch,
      });
    } finally {
      guard.dispose();
    }
  }
  const why = declined ?? "it was not chosen";
  say(
    `Training with tfjs-layers' model.fit, 2-3x slower than the native fast path, because ${why.replace(/\.$/, "")}.`,
  );

  const trainT = toTensors(train, "fit", "train");
  const valT = validation ? toTensors(validation, "fit", "validation") : undefined;
  const history: EpochLog[] = [...start.history];
  const started = performance.now();
  try {
    for (let epoch = history.length + 1; epoch <= epochs; epoch++) {
      const epochStart = performance.now();
      const [x, y] = options.shuffle === false ? [trainT.x, trainT.y] : shuffled(trainT.x, trainT.y, random);
      try {
        progress.epochStart(epoch);
        const h = await model.fit(x, y, {
          epochs: 1,
          batchSize,
          shuffle: false,
          verbose: 0,
          validationData: valT ? [valT.x, valT.y] : undefined,
          callbacks: {
            onBatchEnd: async (batch, logs) => {
              progress.batch(batch + 1, () => logs ?? {});
              if (guard.stopReason(epoch, batch + 1, logs?.loss as number | undefined)) model.stopTraining = true;
            },
          },
        });
        guard.throwIfStopped();
        const last = (key: string) => (h.history[key] as number[] | undefined)?.[0];
        const log: EpochLog = {
          epoch,
          loss: last("loss") ?? NaN,
          accuracy: last("acc") ?? last("accuracy") ?? NaN,
          val_loss: last("val_loss"),
          val_accuracy: last("val_acc") ?? last("val_accuracy"),
          seconds: (performance.now() - epochStart) / 1000,
        };
        if (!Number.isFinite(log.loss)) {
          throw new Error(
            `Training diverged: loss is ${log.loss} after epoch ${epoch}. Lower the learning rate or check the inputs.`,
          );
        }
        history.push(log);
        progress.epochEnd(log, history);
        await afterEpoch(log, history);
      } finally {
        if (x !== trainT.x) tf.dispose([x, y]);
      }
    }
  } finally {
    tf.dispose([trainT.x, trainT.y]);
    if (valT) tf.dispose([valT.x, valT.y]);
    progress.done();
    guard.dispose();
  }
  const seconds = (performance.now() - started) / 1000;
  return {
    history,
    seconds,
    resumedEpochs: start.history.length,
    trainer: "layers",
    declined,
    frame: () => historyFrame(history),
  };
}

/**
 * The fastest trainer FMNIST_TRAINER allows that takes the model: the graph
 * step, the eager native step, or none (tfjs-layers), with the reason the
 * first choice was passed over.
 */
function chooseTrainer(model: tf.LayersModel): { fast?: FastTrainer; declined?: string } {
  const asked = (process.env.FMNIST_TRAINER ?? "").trim();
  const choice = asked || "graph";
  if (choice === "layers") return { declined: "FMNIST_TRAINER=layers asks for it" };
  if (choice !== "graph" && choice !== "native")
    throw new Error(`FMNIST_TRAINER must be graph, native or layers (or unset), not "${choice}"`);
  let declined: string | undefined;
  if (choice === "graph") {
    const graph = GraphTrainer.create(model);
    if (typeof graph !== "string") return { fast: graph };
    declined = graph;
  } else {
    declined = asked ? "FMNIST_TRAINER=native asks for it" : undefined;
  }
  const native = NativeTrainer.create(model);
  // A model the plan declines is declined by both: report that reason alone.
  return typeof native === "string" ? { declined: native } : { fast: native, declined };
}

/**
 * Where a run starts: epoch 0, or, with `resume`, the checkpoint's last epoch
 * (its weights and optimizer state copied into `model`). A checkpoint made
 * with other settings or data is refused, naming what differs.
 */
async function resumePoint(
  model: tf.LayersModel,
  train: LabeledImages,
  validation: LabeledImages | undefined,
  o: TrainOptions & { epochs: number; batchSize: number },
  say: (line: string) => void,
): Promise<{ history: EpochLog[]; randomDraws: number }> {
  if (!o.resume) return { history: [], randomDraws: 0 };
  if (!o.checkpoint) throw new Error("fit: resume needs the checkpoint's name (options.checkpoint)");
  const saved = await readCheckpoint(o.checkpoint);
  if (!saved) {
    say(`No checkpoint "${o.checkpoint}" to resume from: training from the first epoch.`);
    return { history: [], randomDraws: 0 };
  }
  const { info } = saved;
  try {
    const differs = (
      [
        ["batch size", info.batchSize, o.batchSize],
        ["seed", info.seed ?? "none", o.seed ?? "none"],
        ["training samples", info.trainCount, train.count],
        ["validation samples", info.validationCount, validation?.count ?? 0],
      ] as const
    ).filter(([, was, now]) => was !== now);
    if (differs.length) {
      throw new Error(
        `The checkpoint "${o.checkpoint}" was made with other settings (${differs.map(([what, was, now]) => `${what} ${was}, now ${now}`).join("; ")}): ` +
          "run with the same ones to resume, or without resuming to start afresh.",
      );
    }
    if (info.epoch > o.epochs)
      throw new Error(`The checkpoint "${o.checkpoint}" is at epoch ${info.epoch}, past the ${o.epochs} planned now.`);
    model.setWeights(saved.model.getWeights());
    const state = await readOptimizerState(saved.model);
    if (state) await writeOptimizerState(model, state);
  } finally {
    saved.model.dispose();
  }
  say(`Resuming from the checkpoint "${o.checkpoint}": ${info.epoch} of ${o.epochs} epochs were done.`);
  return { history: info.history, randomDraws: info.randomDraws };
}

async function fitNative(
  native: FastTrainer,
  declined: string | undefined,
  train: LabeledImages,
  validation: LabeledImages | undefined,
  o: {
    epochs: number;
    batchSize: number;
    random: () => number;
    shuffle: boolean;
    progress: TrainingProgress;
    guard: TrainingGuard;
    start: EpochLog[];
    afterEpoch: (log: EpochLog, history: EpochLog[]) => Promise<void>;
  },
): Promise<TrainResult> {
  // Sets of bytes are scaled batch by batch as the trainer takes them (steps.ts's sampleFloats).
  const trainData = train;
  const valData = validation;
  const history: EpochLog[] = [...o.start];
  const started = performance.now();
  try {
    for (let epoch = history.length + 1; epoch <= o.epochs; epoch++) {
      const epochStart = performance.now();
      // The same permutation sequence as the model.fit path for the same seed.
      const order = o.shuffle ? permutation(train.count, o.random) : null;
      o.progress.epochStart(epoch);
      const m = await trainEpoch(native, trainData, order, o.batchSize, (done, metrics) => {
        o.progress.batch(done, () => {
          const now = metrics();
          return { loss: now.loss, acc: now.accuracy };
        });
        // Reading the loss syncs with the device, so look every 20 batches.
        if (o.guard.stopReason(epoch, done, done % 20 === 0 ? metrics().loss : undefined)) o.guard.throwIfStopped();
      });
      const val = valData ? native.evaluate(valData) : undefined;
      native.syncToModel();
      const log: EpochLog = {
        epoch,
        loss: m.loss,
        accuracy: m.accuracy,
        val_loss: val?.loss,
        val_accuracy: val?.accuracy,
        seconds: (performance.now() - epochStart) / 1000,
      };
      if (!Number.isFinite(log.loss)) {
        throw new Error(
          `Training diverged: loss is ${log.loss} after epoch ${epoch}. Lower the learning rate or check the inputs.`,
        );
      }
      history.push(log);
      o.progress.epochEnd(log, history);
      await o.afterEpoch(log, history);
    }
  } finally {
    native.dispose();
    o.progress.done();
  }
  const seconds = (performance.now() - started) / 1000;
  return {
    history,
    seconds,
    resumedEpochs: o.start.length,
    trainer: native.kind,
    declined,
    frame: () => historyFrame(history),
  };
}

function shuffled(x: tf.Tensor4D, y: tf.Tensor2D, random: () => number): [tf.Tensor4D, tf.Tensor2D] {
  return tf.tidy(() => {
    const idx = tf.tensor1d(permutation(x.shape[0], random), "int32");
    return [tf.gather(x, idx), tf.gather(y, idx)] as [tf.Tensor4D, tf.Tensor2D];
  });
}

/**
 * Epoch metrics as a polars DataFrame: epoch, loss, accuracy, then val_loss and
 * val_accuracy when the history has them, and seconds (an epoch's wall time).
 */
export function historyFrame(history: EpochLog[]): pl.DataFrame {
  const pl = polars();
  const col = (k: keyof EpochLog) => history.map((h) => (h[k] ?? NaN) as number);
  const columns: Record<string, pl.Series> = {
    epoch: pl.Series("epoch", col("epoch"), pl.Int32),
    loss: pl.Series("loss", col("loss"), pl.Float64),
    accuracy: pl.Series("accuracy", col("accuracy"), pl.Float64),
  };
  if (history.some((h) => h.val_loss !== undefined)) {
    columns.val_loss = pl.Series("val_loss", col("val_loss"), pl.Float64);
    columns.val_accuracy = pl.Series("val_accuracy", col("val_accuracy"), pl.Float64);
  }
  columns.seconds = pl.Series("seconds", col("seconds"), pl.Float64);
  return pl.DataFrame(columns);
}

/**
 * The epoch logs as the columns {@link trainingCurves} takes: epoch, loss,
 * accuracy, and val_loss / val_accuracy when any epoch has them (NaN where one lacks them).
 */
export function toCurves(history: EpochLog[]) {
  const hasVal = history.some((h) => h.val_loss !== undefined);
  return {
    /** Epoch numbers, from 1. */
    epoch: history.map((h) => h.epoch),
    /** Training loss per epoch. */
    loss: history.map((h) => h.loss),
    /** Training accuracy per epoch (0-1). */
    accuracy: history.map((h) => h.accuracy),
    ...(hasVal
      ? {
          /** Validation loss per epoch. */
          val_loss: history.map((h) => h.val_loss ?? NaN),
          /** Validation accuracy per epoch (0-1). */
          val_accuracy: history.map((h) => h.val_accuracy ?? NaN),
        }
      : {}),
  };
}

// Evaluation and prediction, and the helpers the progress views use, from their own modules.
export { evaluate, predict, firstMistakePerClass, type Evaluation, type Predictions } from "./evaluate";
export { epochLine, fmt, type TrainingProgress } from "./progress";
export { toTensors } from "./tensors";
