// Terminal version of the notebook's main job:
//   npm run train -- --epochs 10 --batch-size 32 [--train-limit N] [--seed S] [--save NAME]
import type * as Fm from "fashion-mnist-lib";
import { runConfig, SETTINGS, type RunConfig } from "fashion-mnist-lib/dist/runtime/config";
import { checkMemory } from "fashion-mnist-lib/dist/runtime/memory";
import { killedRuns } from "fashion-mnist-lib/dist/runtime/unfinished";
import * as path from "path";
import { dataDir, userPath } from "fashion-mnist-lib/dist/runtime/paths";
import type * as Checkpoints from "fashion-mnist-lib/dist/training/checkpoint";
import { readCommandLine, runMain, UsageError, wholeNumber } from "./cli";

const usage = `Usage: npm run train -- [options]
  --epochs N         training epochs (default 10, or FMNIST_EPOCHS)
  --batch-size N     mini-batch size (default 32, or FMNIST_BATCH_SIZE)
  --train-limit N    use only the first N training images (validation: the last fifth of them)
  --test-limit N     use only the first N test images
  --validation N     validation samples taken from the end of the training set (default 12000)
  --seed N           seed initialization and shuffling for a repeatable run
  --mirror URL|DIR   extra place to download the dataset from, tried first (then FASHION_MNIST_MIRROR,
                     then the official mirrors)
  --save NAME        save the trained model to data/models/NAME (default fashion-mnist-cnn; "" to skip);
                     after every epoch a checkpoint goes to data/checkpoints/NAME (or .../train)
  --resume           continue from that checkpoint's last complete epoch (same settings and data)
  --restart          start over, replacing that checkpoint when it holds an earlier run that did not
                     finish (without --resume or --restart such a run is refused, so nothing is lost)
  -h, --help         show this help
Each flag is given once. Relative folders are taken from the folder the command is typed in.
Ctrl-C stops the run and prints the command that continues it from its checkpoint.`;

// flag -> the setting it overrides (its environment variable and bounds: lib/config.ts)
const NUMBERS: Record<string, keyof typeof SETTINGS> = {
  epochs: "epochs",
  "batch-size": "batchSize",
  "train-limit": "trainLimit",
  "test-limit": "testLimit",
  validation: "validationSize",
  seed: "seed",
};

async function main(): Promise<void> {
  const { values } = readCommandLine(
    {
      options: {
        ...Object.fromEntries(Object.keys(NUMBERS).map((k) => [k, { type: "string" as const }])),
        mirror: { type: "string" },
        save: { type: "string", default: "fashion-mnist-cnn" },
        resume: { type: "boolean" },
        restart: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    },
    usage,
  );
  // Command-line flags override the same settings read from the environment.
  const env = { ...process.env };
  const given = new Map<string, string>();
  for (const [flag, key] of Object.entries(NUMBERS)) {
    const v = (values as Record<string, unknown>)[flag];
    if (typeof v !== "string") continue;
    const { env: envName, min, max } = SETTINGS[key];
    env[envName] = String(wholeNumber(`--${flag}`, v, min, max));
    given.set(envName, flag);
  }
  let cfg: RunConfig;
  try {
    cfg = runConfig(env);
  } catch (err) {
    // Say which flag carried the bad value, not only its environment variable.
    let message = (err as Error).message;
    for (const [envName, name] of given)
      message = message.replace(new RegExp(`(Environment variable )?\\b${envName}\\b`, "g"), `--${name}`);
    throw new UsageError(message);
  }
  // A run before this one that the system killed (the memory limit, most often): said first.
  for (const message of killedRuns()) console.error(`${message}\n`);
  // Memory the run will need, against the limits in force: said now, not as a crash later.
  checkMemory(cfg);
  // --mirror is tried first, then FASHION_MNIST_MIRROR, then the official mirrors.
  const mirrors = [values.mirror, process.env.FASHION_MNIST_MIRROR?.trim()]
    .filter((m): m is string => typeof m === "string" && m !== "")
    .map((m) => (/^(https?|file):/i.test(m) ? m : userPath(m)));

  // TensorFlow loads only now, after the command line was found good.

  const fm = require("fashion-mnist-lib") as typeof Fm;
  const { checkCheckpointStart, CheckpointError } =
    require("fashion-mnist-lib/dist/training/checkpoint") as typeof Checkpoints;
  // Where the model and the checkpoints will be saved, checked before minutes of training.
  if (values.save) {
    try {
      fm.checkSaveTarget(values.save);
    } catch (err) {
      const shown = values.save.length > 40 ? `${values.save.slice(0, 40)}...` : values.save;
      throw new UsageError(`--save ${shown}: ${(err as Error).message}`);
    }
  }
  const checkpoint = values.save || "train";
  const resume = values.resume === true;
  const restart = values.restart === true;
  // An earlier unfinished run in the checkpoint, or a damaged one to resume, is refused now.
  let resumedInfo: Checkpoints.CheckpointInfo | undefined;
  try {
    resumedInfo = await checkCheckpointStart(checkpoint, { resume, restart }, checkpointsDir(), CLI_WORDS);
  } catch (err) {
    const message = (err as Error).message;
    throw new UsageError(err instanceof CheckpointError ? message : `the checkpoint "${checkpoint}": ${message}`);
  }
  fm.assertNativeBackend();
  console.log(fm.runtimeVersions());
  // Only the images this run uses, kept as bytes: training and evaluation scale each batch as they take it.
  const data = await fm.loadFashionMnist({
    mirrors,
    trainLimit: cfg.trainLimit,
    testLimit: cfg.testLimit,
  });
  const { train: trainAll, test } = data;
  const { train, validation } = fm.splitValidation(trainAll, cfg.validationSize);
  console.log(`training ${train.count}, validation ${validation.count}, test ${test.count} samples`);

  const model = fm.createModel({ seed: cfg.seed });
  fm.showSummary(model);
  // Ctrl-C: say what the checkpoint holds and the command that continues from it.
  let saved = resumedInfo?.epoch;
  const onInterrupt = () => {
    console.log(interruptMessage(checkpoint, saved, cfg.epochs, restart));
    process.exit(130);
  };
  process.on("SIGINT", onInterrupt);
  const run = await fm.fit(model, train, validation, {
    epochs: cfg.epochs,
    batchSize: cfg.batchSize,
    seed: cfg.seed,
    progress: "terminal",
    checkpoint,
    resume,
    restart,
    onEpochEnd: (log) => {
      saved = log.epoch; // called once the epoch's checkpoint is written
    },
  });
  process.off("SIGINT", onInterrupt);
  console.log(run.frame().toString());
  const result = fm.evaluate(model, test);
  console.log(`Test accuracy: ${(result.accuracy * 100).toFixed(2)}% (loss ${result.loss.toFixed(4)})`);
  console.log(trainingTime(run.seconds, run.history.length - run.resumedEpochs, run.resumedEpochs));
  if (values.save) console.log(`Saved model to ${await fm.saveModel(model, values.save)}`);
}

const checkpointsDir = () => path.join(dataDir(), "checkpoints");

/** The checkpoint errors in this command's words. */
const CLI_WORDS = { resume: "--resume", restart: "--restart", rename: "another --save name" };

/** A command line as it can be typed again (each argument quoted for the shell when it needs it). */
function commandLine(args: string[]): string {
  const quote = (a: string) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);
  return ["npm run train --", ...args.map(quote)].join(" ");
}

/** What Ctrl-C leaves: the checkpoint's folder and epoch, and the command that goes on from it. */
function interruptMessage(name: string, epoch: number | undefined, epochs: number, restart: boolean): string {
  const folder = path.join(checkpointsDir(), name);
  const args = process.argv.slice(2).filter((a) => a !== "--resume" && a !== "--restart");
  if (epoch === undefined) {
    const again = commandLine(restart ? [...args, "--restart"] : args);
    return (
      `\nInterrupted before this run's first checkpoint was written (after its first epoch): nothing to resume` +
      `${restart ? ` (${folder} still holds the earlier run)` : ""}. Start again with:\n  ${again}`
    );
  }
  return (
    `\nInterrupted. The checkpoint ${folder} keeps epoch ${epoch} of ${epochs}. Continue with:\n` +
    `  ${commandLine([...args, "--resume"])}`
  );
}

/** The training time of this run's epochs (a resumed run's earlier epochs are not in it). */
function trainingTime(seconds: number, trained: number, resumed: number): string {
  if (trained === 0) return `Training time: none (the checkpoint had all ${resumed} epochs done).`;
  const earlier = resumed ? `; ${resumed} resumed from the checkpoint` : "";
  return `Training time: ${seconds.toFixed(1)} s, ${(seconds / trained).toFixed(1)} s/epoch (${trained} epoch${trained === 1 ? "" : "s"} trained${earlier})`;
}

runMain("train", main);
