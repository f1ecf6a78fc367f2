// Terminal version of the notebook's main job:
//   npm run train -- --epochs 10 --batch-size 32 [--train-limit N] [--seed S] [--save NAME]
import { parseArgs } from "util";
import * as fm from "fashion-mnist-lib";

const usage = `Usage: npm run train -- [options]
  --epochs N         training epochs (default 10, or FMNIST_EPOCHS)
  --batch-size N     mini-batch size (default 32, or FMNIST_BATCH_SIZE)
  --train-limit N    use only the first N training images (validation: the last fifth of them)
  --test-limit N     use only the first N test images
  --validation N     validation samples taken from the end of the training set (default 12000)
  --seed N           seed initialization and shuffling for a repeatable run
  --mirror URL|DIR   extra place to download the dataset from (also FASHION_MNIST_MIRROR)
  --save NAME        save the trained model to data/models/NAME (default fashion-mnist-cnn; "" to skip)
  -h, --help         show this help`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    strict: true,
    options: {
      epochs: { type: "string" },
      "batch-size": { type: "string" },
      "train-limit": { type: "string" },
      "test-limit": { type: "string" },
      validation: { type: "string" },
      seed: { type: "string" },
      mirror: { type: "string" },
      save: { type: "string", default: "fashion-mnist-cnn" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(usage);
    return;
  }
  // Command-line flags override the same settings read from the environment.
  const env = { ...process.env };
  const given = new Map<string, string>();
  const flag = (name: string, envName: string) => {
    const v = (values as Record<string, unknown>)[name];
    if (typeof v === "string") {
      env[envName] = v;
      given.set(envName, name);
    }
  };
  flag("epochs", "FMNIST_EPOCHS");
  flag("batch-size", "FMNIST_BATCH_SIZE");
  flag("train-limit", "FMNIST_TRAIN_LIMIT");
  flag("test-limit", "FMNIST_TEST_LIMIT");
  flag("validation", "FMNIST_VALIDATION");
  flag("seed", "FMNIST_SEED");
  let cfg: fm.RunConfig;
  try {
    cfg = fm.runConfig(env);
  } catch (err) {
    // Say which flag carried the bad value, not only its environment variable.
    let message = (err as Error).message;
    for (const [envName, name] of given) message = message.replace(`Environment variable ${envName}`, `--${name} (${envName})`);
    throw new Error(message);
  }

  fm.assertNativeBackend();
  console.log(fm.runtimeVersions());
  // Scaled to [0, 1] while inflating (lib/idx.ts): no separate normalize pass.
  const data = await fm.loadFashionMnist({ mirrors: values.mirror ? [values.mirror] : undefined, scale: true });
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

main().catch((err: Error) => {
  console.error(`train: ${err.message}`);
  process.exit(1);
});
