// `npm run lockstep`: the project's training step against Keras's, from the
// same weights on the same batches. Both sides start from the project's
// initial weights and take the same batches in the same order; the weights are
// compared after the first step and after the last. After one step they agree
// to float rounding, which shows the update is Keras's (same gradients, same
// Adam); after more steps they drift apart, because Adam turns rounding-size
// differences in near-zero gradients into steps of the full learning rate.
//
// The project's side is fit's default trainer, the graph step
// (lib/training/graph/); --trainer native takes the eager step instead.
//
//   npm run lockstep                 # 1 and 10 steps of batch 32
//   npm run lockstep -- --steps 100
//   npm run lockstep -- --trainer native
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { spawnSync } from "child_process";
import { repoRoot } from "fashion-mnist-lib/dist/runtime/paths";
import type * as Fm from "fashion-mnist-lib";
import type * as NativeTrain from "fashion-mnist-lib/dist/training/native/native-train";
import type * as GraphTrain from "fashion-mnist-lib/dist/training/graph/graph-trainer";
import type * as Train from "fashion-mnist-lib/dist/training/train";
import { readCommandLine, runMain, UsageError, wholeNumber } from "../scripts/cli";

const ROOT = repoRoot();
const BENCH_PY = path.join(ROOT, ".venv-bench", "bin", "python");

export interface LockstepRow {
  step: number;
  weight: string;
  /** Largest |Keras - project| over the weight's values. */
  max_difference: number;
  /** Largest distance Keras moved a value from the start. */
  max_moved: number;
}

const USAGE = `usage: npm run lockstep -- [--steps N] [--seed N] [--trainer graph|native]
  --steps N     training steps of batch 32 compared (default 10, at most 1500)
  --seed N      the project's initialization and batch order (default 1)
  --trainer T   the project's step: graph (fit's default, one TensorFlow graph a step) or native (op by op)`;

export async function lockstep(
  steps: number,
  seed: number,
  dir: string,
  kind: "graph" | "native" = "graph",
): Promise<LockstepRow[]> {
  // TensorFlow loads here, not when the command line is read (--help stays instant).
  const { assertNativeBackend, createModel, defaultCacheDir, loadFashionMnist, splitValidation } =
    require("fashion-mnist-lib") as typeof Fm;
  const { NativeTrainer } = require("fashion-mnist-lib/dist/training/native/native-train") as typeof NativeTrain;
  const { GraphTrainer } = require("fashion-mnist-lib/dist/training/graph/graph-trainer") as typeof GraphTrain;
  const { seededPermutation } = require("fashion-mnist-lib/dist/training/train") as typeof Train;
  assertNativeBackend();
  if (!fs.existsSync(BENCH_PY))
    throw new Error("lockstep needs the Keras reference's .venv-bench: run `npm run bench` once to create it");
  const data = await loadFashionMnist({ quiet: true, scale: true });
  const train = splitValidation(data.train, 12000).train;
  const model = createModel({ seed });
  const save = (tag: string) =>
    model.trainableWeights.forEach((w, i) => {
      const v = w.read().dataSync() as Float32Array;
      fs.writeFileSync(path.join(dir, `${tag}_${i}.f32`), Buffer.from(v.buffer, v.byteOffset, v.byteLength));
    });
  save("init");
  // The batches fit would take first with this seed: every side sees them in this order.
  const order = seededPermutation(train.count, seed);
  const used = order.subarray(0, steps * 32);
  fs.writeFileSync(path.join(dir, "order.i32"), Buffer.from(used.buffer, used.byteOffset, used.byteLength));
  const trainer = kind === "graph" ? GraphTrainer.create(model) : NativeTrainer.create(model);
  if (typeof trainer === "string") throw new Error(`the seed's model should take the ${kind} path: ${trainer}`);
  try {
    const batchData = { images: train.images, labels: train.labels, count: train.count };
    for (let s = 1; s <= steps; s++) {
      trainer.trainBatch(batchData, used, (s - 1) * 32, 32);
      if (s === 1 || s === steps) {
        trainer.syncToModel();
        save(`step${s}`);
      }
    }
  } finally {
    trainer.dispose();
    model.dispose();
  }
  const r = spawnSync(
    BENCH_PY,
    [
      path.join(ROOT, "bench", "lockstep_keras.py"),
      "--dir",
      dir,
      "--steps",
      String(steps),
      "--data-dir",
      defaultCacheDir(),
    ],
    { encoding: "utf8" },
  );
  if (r.status !== 0) throw new Error(`the Keras side failed (exit ${r.status}):\n${r.stderr.slice(-3000)}`);
  return JSON.parse(r.stdout.trim().split("\n").pop() ?? "[]") as LockstepRow[];
}

if (require.main === module) {
  runMain("lockstep", async () => {
    const { values } = readCommandLine(
      {
        options: {
          steps: { type: "string" },
          seed: { type: "string" },
          trainer: { type: "string" },
          help: { type: "boolean", short: "h" },
        },
      },
      USAGE,
    );
    const steps = values.steps === undefined ? 10 : wholeNumber("--steps", values.steps, 1, 1500);
    const seed = values.seed === undefined ? 1 : wholeNumber("--seed", values.seed, 0);
    const kind = values.trainer ?? "graph";
    if (kind !== "graph" && kind !== "native") throw new UsageError(`--trainer must be graph or native, not "${kind}"`);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fmnist-lockstep-"));
    try {
      const rows = await lockstep(steps, seed, dir, kind);
      console.log(`The project's side: the ${kind} trainer.\n`);
      console.log(
        `| step | weight | max abs difference Keras - project | max move from start (Keras) | difference / move |`,
      );
      console.log(`| ---: | --- | ---: | ---: | ---: |`);
      for (const r of rows) {
        console.log(
          `| ${r.step} | ${r.weight} | ${r.max_difference.toExponential(2)} | ${r.max_moved.toExponential(2)} | ${(r.max_difference / r.max_moved).toExponential(2)} |`,
        );
      }
      const first = rows.filter((r) => r.step === 1);
      const worst = Math.max(...first.map((r) => r.max_difference / r.max_moved));
      console.log(
        `\nAfter one step the largest difference is ${worst.toExponential(2)} of the step's size` +
          (worst < 1e-3 ? ": the same update." : ": NOT the same update."),
      );
      if (worst >= 1e-3) process.exitCode = 1;
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}
