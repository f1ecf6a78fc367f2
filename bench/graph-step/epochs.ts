// Whole-process run for the spike: load the data, train the seed's model for
// --epochs epochs of 48,000 (batch 32, validation on 12,000 after each, as
// the bench's runs), test on 10,000, and exit; the process's own CPU time is
// what `time` around it reports, to set beside Keras's reference script run
// the same way.
//   node build/bench/graph-step/epochs.js --trainer graph|native [--epochs 2]
// native: the project's fit (lib/training/train.ts), the code the notebook runs.
// graph: GraphTrainer (one TF_SessionRun per step) in an equivalent loop.
import { parseArgs } from "util";
import type * as Fm from "fashion-mnist-lib";
import type * as Train from "fashion-mnist-lib/dist/training/train";
import type * as GraphTrainerMod from "./graph-trainer";

const { values: args } = parseArgs({
  options: {
    trainer: { type: "string", default: "graph" },
    epochs: { type: "string", default: "2" },
    seed: { type: "string", default: "1" },
  },
});

/** fit's shuffle (lib/training/train.ts: mulberry32, one stream over the epochs), so both trainers see one batch order. */
function fitOrders(n: number, seed: number): () => Int32Array {
  let a = seed >>> 0;
  const random = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return () => {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [p[i], p[j]] = [p[j], p[i]];
    }
    return p;
  };
}

const cpuSeconds = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

async function main(): Promise<void> {
  const fm = require("fashion-mnist-lib") as typeof Fm;
  const { fit, seededPermutation } = require("fashion-mnist-lib/dist/training/train") as typeof Train;
  const { GraphTrainer, loadAddon } = require("./graph-trainer") as typeof GraphTrainerMod;
  fm.assertNativeBackend();
  const epochs = Number(args.epochs);
  const seed = Number(args.seed);
  const data = await fm.loadFashionMnist({
    cacheDir: process.env.FASHION_MNIST_MIRROR ?? "/work/shared/data/fashion-mnist",
    mirrors: [],
    officialMirrors: false,
    quiet: true,
    scale: true,
  });
  const { train, validation } = fm.splitValidation(data.train, 12000);
  const model = fm.createModel({ seed });
  const ready = cpuSeconds();
  const perEpoch: number[] = [];
  if (args.trainer === "native") {
    let c0 = cpuSeconds();
    const r = await fit(model, train, validation, {
      epochs,
      batchSize: 32,
      seed,
      progress: "none",
      onEpochEnd: () => {
        perEpoch.push(cpuSeconds() - c0);
        c0 = cpuSeconds();
      },
    });
    if (r.trainer !== "native") throw new Error(`fit took the ${r.trainer} path`);
  } else {
    const graph = new GraphTrainer(loadAddon(), model);
    const nextOrder = fitOrders(train.count, seed);
    for (let e = 0; e < epochs; e++) {
      const c0 = cpuSeconds();
      const order = nextOrder();
      const first = e === 0 ? seededPermutation(train.count, seed) : null;
      if (first && order.some((v, i) => v !== first[i])) throw new Error("fitOrders no longer matches fit's shuffle");
      graph.resetMetrics();
      for (let start = 0; start < train.count; start += 32)
        graph.trainBatch(train, order, start, Math.min(32, train.count - start));
      graph.metrics();
      graph.evaluate(validation);
      perEpoch.push(cpuSeconds() - c0);
    }
    // The test pass below reads the model: copy the trained weights back, as the native trainer does.
    const w = graph.read().weights;
    model.trainableWeights.forEach((v, i) => v.write(fm.tf.tensor(w[i], v.shape as number[])));
  }
  const test = fm.evaluate(model, data.test);
  console.log(
    JSON.stringify({
      trainer: args.trainer,
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
