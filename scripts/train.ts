// Terminal version of the notebook's main job:
//   npm run train -- --epochs 10 --batch-size 32 [--train-limit N] [--seed S] [--save NAME]
import type * as Fm from "fashion-mnist-lib";
import { runConfig, type RunConfig } from "fashion-mnist-lib/dist/config";
import { userPath } from "fashion-mnist-lib/dist/paths";
import { readCommandLine, runMain, UsageError, wholeNumber } from "./cli";

const usage = `Usage: npm run train -- [options]
  --epochs N         training epochs (default 10, or FMNIST_EPOCHS)
  --batch-size N     mini-batch size (default 32, or FMNIST_BATCH_SIZE)
  --train-limit N    use only the first N training images (validation: the last fifth of them)
  --test-limit N     use only the first N test images
  --validation N     validation samples taken from the end of the training set (default 12000)
  --seed N           seed initialization and shuffling for a repeatable run
  --mirror URL|DIR   extra place to download the dataset from (also FASHION_MNIST_MIRROR)
  --save NAME        save the trained model to data/models/NAME (default fashion-mnist-cnn; "" to skip)
  -h, --help         show this help
Relative folders are taken from the folder the command is typed in.`;

// flag -> the environment variable it overrides, and its smallest value
const NUMBERS: Record<string, [string, number]> = {
  epochs: ["FMNIST_EPOCHS", 1],
  "batch-size": ["FMNIST_BATCH_SIZE", 1],
  "train-limit": ["FMNIST_TRAIN_LIMIT", 2],
  "test-limit": ["FMNIST_TEST_LIMIT", 1],
  validation: ["FMNIST_VALIDATION", 1],
  seed: ["FMNIST_SEED", 0],
};

async function main(): Promise<void> {
  const { values } = readCommandLine({
    options: {
      ...Object.fromEntries(Object.keys(NUMBERS).map((k) => [k, { type: "string" as const }])),
      mirror: { type: "string" },
      save: { type: "string", default: "fashion-mnist-cnn" },
      help: { type: "boolean", short: "h" },
    },
  }, usage);
  // Command-line flags override the same settings read from the environment.
  const env = { ...process.env };
  const given = new Map<string, string>();
  for (const [flag, [envName, min]] of Object.entries(NUMBERS)) {
    const v = (values as Record<string, unknown>)[flag];
    if (typeof v !== "string") continue;
    env[envName] = String(wholeNumber(`--${flag}`, v, min));
    given.set(envName, flag);
  }
  let cfg: RunConfig;
  try {
    cfg = runConfig(env);
  } catch (err) {
    // Say which flag carried the bad value, not only its environment variable.
    let message = (err as Error).message;
    for (const [envName, name] of given) message = message.replace(new RegExp(`(Environment variable )?\\b${envName}\\b`, "g"), `--${name}`);
    throw new UsageError(message);
  }
  const mirror = typeof values.mirror === "string" && values.mirror !== "" ? values.mirror : undefined;

  // TensorFlow loads only now, after the command line was found good.
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const fm = require("fashion-mnist-lib") as typeof Fm;
  fm.assertNativeBackend();
  console.log(fm.runtimeVersions());
  // Scaled to [0, 1] while inflating (lib/idx.ts): no separate normalize pass.
  const mirrors = mirror ? [/^(https?|file):/i.test(mirror) ? mirror : userPath(mirror)] : undefined;
  const data = await fm.loadFashionMnist({ mirrors, scale: true });
  const trainAll = fm.takeFirst(data.train, cfg.trainLimit ?? data.train.count);
  const test = fm.takeFirst(data.test, cfg.testLimit ?? data.test.count);
  const { train, validation } = fm.splitValidation(trainAll, cfg.validationSize);
  console.log(`training ${train.count}, validation ${validation.count}, test ${test.count} samples`);

  const model = fm.createModel({ seed: cfg.seed });
  fm.showSummary(model);
  const run = await fm.fit(model, train, validation, { epochs: cfg.epochs, batchSize: cfg.batchSize, seed: cfg.seed, progress: "terminal" });
  console.log(run.frame().toString());
  const result = fm.evaluate(model, test);
  console.log(`Test accuracy: ${(result.accuracy * 100).toFixed(2)}% (loss ${result.loss.toFixed(4)})`);
  console.log(`Training time: ${run.seconds.toFixed(1)} s, ${(run.seconds / run.history.length).toFixed(1)} s/epoch`);
  if (values.save) console.log(`Saved model to ${await fm.saveModel(model, values.save)}`);
}

runMain("train", main);
