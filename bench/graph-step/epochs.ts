// A whole process for timing beside Keras (bench/keras_reference.py run the
// same way): load the data, train the seed's model with the project's fit for
// --epochs epochs of 48,000 (batch 32, validation on 12,000 after each), test
// on 10,000, and exit; `time` around it gives the process's CPU.
//   node build/bench/graph-step/epochs.js --trainer graph|native [--epochs 2]
// graph is fit's default (lib/training/graph/); native is the eager step
// (FMNIST_TRAINER=native).
import { parseArgs } from "util";
import type * as Fm from "fashion-mnist-lib";

const { values: args } = parseArgs({
  options: {
    trainer: { type: "string", default: "graph" },
    epochs: { type: "string", default: "2" },
    seed: { type: "string", default: "1" },
  },
});

const cpuSeconds = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

async function main(): Promise<void> {
  if (args.trainer !== "graph" && args.trainer !== "native") throw new Error("--trainer must be graph or native");
  process.env.FMNIST_TRAINER = args.trainer;
  const fm = require("fashion-mnist-lib") as typeof Fm;
  fm.assertNativeBackend();
  const epochs = Number(args.epochs);
  const seed = Number(args.seed);
  const data = await fm.loadFashionMnist({
    cacheDir: process.env.FASHION_MNIST_MIRROR ?? fm.defaultCacheDir(),
    quiet: true,
    scale: true,
  });
  const { train, validation } = fm.splitValidation(data.train, 12000);
  const model = fm.createModel({ seed });
  const ready = cpuSeconds();
  const perEpoch: number[] = [];
  let c0 = cpuSeconds();
  const r = await fm.fit(model, train, validation, {
    epochs,
    batchSize: 32,
    seed,
    progress: "none",
    onEpochEnd: () => {
      perEpoch.push(cpuSeconds() - c0);
      c0 = cpuSeconds();
    },
  });
  if (r.trainer !== args.trainer) throw new Error(`fit took the ${r.trainer} path (${r.declined})`);
  const test = fm.evaluate(model, data.test);
  console.log(
    JSON.stringify({
      trainer: r.trainer,
      startup_cpu_s: +ready.toFixed(2),
      epoch_cpu_s: perEpoch.map((c) => +c.toFixed(2)),
      total_cpu_s: +cpuSeconds().toFixed(2),
      test_accuracy: test.accuracy,
    }),
  );
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
