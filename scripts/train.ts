// Terminal version of the notebook's main job:
//   npm run train -- --epochs 10 --batch-size 32 [--train-limit N] [--seed S] [--save NAME]
import type * as Fm from "fashion-mnist-lib";
import { runConfig, SETTINGS, type RunConfig } from "fashion-mnist-lib/dist/runtime/config";
import { checkMemory } from "fashion-mnist-lib/dist/runtime/memory";
import { userPath } from "fashion-mnist-lib/dist/runtime/paths";
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
  -h, --help         show this help
Relative folders are taken from the folder the command is typed in.`;

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
  // Memory the run will need, against the limits in force: said now, not as a crash later.
  checkMemory(cfg);
  // --mirror is tried first, then FASHION_MNIST_MIRROR, then the official mirrors.
  const mirrors = [values.mirror, process.env.FASHION_MNIST_MIRROR?.trim()]
    .filter((m): m is string => typeof m === "string" && m !== "")
    .map((m) => (/^(https?|file):/i.test(m) ? m : userPath(m)));

  // TensorFlow loads only now, after the command line was found good.

  const fm = require("fashion-mnist-lib") as typeof Fm;
  // Where the model will be saved, checked before minutes of training.
  if (values.save) {
    try {
      fm.checkSaveTarget(values.save);
    } catch (err) {
      throw new UsageError(`--save ${values.save}: ${(err as Error).message}`);
    }
  }
  fm.assertNativeBackend();
  console.log(fm.runtimeVersions());
  // Scaled to [0, 1] while inflating (lib/idx.ts): no separate normalize pass.
  const data = await fm.loadFashionMnist({ mirrors, scale: true });
  const trainAll = fm.takeFirst(data.train, cfg.trainLimit ?? data.train.count);
  const test = fm.takeFirst(data.test, cfg.testLimit ?? data.test.count);
  const { train, validation } = fm.splitValidation(trainAll, cfg.validationSize);
  console.log(`training ${train.count}, validation ${validation.count}, test ${test.count} samples`);

  const model = fm.createModel({ seed: cfg.seed });
  fm.showSummary(model);
  const run = await fm.fit(model, train, validation, {
    epochs: cfg.epochs,
    batchSize: cfg.batchSize,
    seed: cfg.seed,
    progress: "terminal",
    checkpoint: values.save || "train",
    resume: values.resume === true,
  });
  console.log(run.frame().toString());
  const result = fm.evaluate(model, test);
  console.log(`Test accuracy: ${(result.accuracy * 100).toFixed(2)}% (loss ${result.loss.toFixed(4)})`);
  console.log(`Training time: ${run.seconds.toFixed(1)} s, ${(run.seconds / run.history.length).toFixed(1)} s/epoch`);
  if (values.save) console.log(`Saved model to ${await fm.saveModel(model, values.save)}`);
}

runMain("train", main);
