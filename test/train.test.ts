import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import { tf } from "fashion-mnist-lib/dist/runtime/tf";
import { normalizeSet, splitValidation, takeFirst, type FashionMnist } from "fashion-mnist-lib/dist/data/dataset";
import { createModel } from "fashion-mnist-lib/dist/model/model";
import {
  fit,
  evaluate,
  predict,
  firstMistakePerClass,
  historyFrame,
  toTensors,
} from "fashion-mnist-lib/dist/training/train";
import { saveModel, loadModel } from "fashion-mnist-lib/dist/model/persist";
import { loadSharedDataset, makeTempDir, removeDir } from "./helpers";

let tmp: string;
let data: FashionMnist;

before(async () => {
  tmp = makeTempDir();
  data = await loadSharedDataset();
});
after(() => removeDir(tmp));

test("a short training run on real data lowers the loss and leaks no tensors", async () => {
  const subset = normalizeSet(takeFirst(data.train, 2500));
  const { train, validation } = splitValidation(subset, 500);
  const model = createModel({ seed: 3 });
  const before = evaluate(model, train);
  const tensorsAfterEpoch: number[] = [];
  const run = await fit(model, train, validation, {
    epochs: 3,
    batchSize: 32,
    seed: 3,
    progress: "none",
    onEpochEnd: () => {
      tensorsAfterEpoch.push(tf.memory().numTensors);
    },
  });
  const afterEval = evaluate(model, train);
  assert.equal(run.history.length, 3);
  assert.ok(afterEval.loss < before.loss * 0.7, `loss ${before.loss.toFixed(3)} -> ${afterEval.loss.toFixed(3)}`);
  assert.ok(run.history[2].loss < run.history[0].loss, "training loss falls across epochs");
  assert.ok(run.history[2].val_accuracy! > 0.6, `validation accuracy ${run.history[2].val_accuracy}`);
  // Adam creates its slot variables during the first epoch; after that the count must not grow.
  assert.equal(tensorsAfterEpoch[1], tensorsAfterEpoch[0], `live tensors per epoch: ${tensorsAfterEpoch}`);
  assert.equal(tensorsAfterEpoch[2], tensorsAfterEpoch[0], `live tensors per epoch: ${tensorsAfterEpoch}`);

  const df = run.frame();
  assert.deepEqual(df.columns, ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds"]);
  assert.equal(df.height, 3);
  assert.deepEqual(df.getColumn("epoch").toArray(), [1, 2, 3]);

  const preds = predict(model, validation);
  assert.equal(preds.predicted.length, validation.count);
  assert.equal(preds.probabilities.length, validation.count * 10);
  const agree = preds.predicted.filter((p, i) => p === validation.labels[i]).length / validation.count;
  const ev = evaluate(model, validation);
  assert.ok(Math.abs(agree - ev.accuracy) < 1e-6, `predict (${agree}) and evaluate (${ev.accuracy}) agree on accuracy`);

  // Saved and reloaded, the model predicts the same.
  const dir = path.join(tmp, "models");
  const saved = await saveModel(model, "tiny", dir);
  assert.ok(fs.existsSync(path.join(saved, "model.json")));
  await saveModel(model, "tiny", dir); // overwriting an existing save works and leaves no staging folders
  assert.deepEqual(fs.readdirSync(dir), ["tiny"]);
  const reloaded = await loadModel("tiny", dir);
  assert.deepEqual(Array.from(predict(reloaded, validation).predicted), Array.from(preds.predicted));
  model.dispose();
  reloaded.dispose();
});

test("the same seed gives the same training run", async () => {
  const subset = normalizeSet(takeFirst(data.train, 600));
  const once = async () => {
    const model = createModel({ seed: 11 });
    const run = await fit(model, subset, undefined, { epochs: 1, batchSize: 32, seed: 11, progress: "none" });
    model.dispose();
    return run.history[0].loss;
  };
  assert.equal(await once(), await once());
});

test("bad training settings are rejected before any work", async () => {
  const model = createModel();
  const set = normalizeSet(takeFirst(data.train, 64));
  await assert.rejects(fit(model, set, undefined, { epochs: 0 }), /epochs must be a positive integer, got 0/);
  await assert.rejects(fit(model, set, undefined, { batchSize: -1 }), /batchSize must be a positive integer/);
  await assert.rejects(fit(model, { ...set, count: 65 }, undefined, {}), /fit: train images: 50176 values, expected/);
  assert.throws(() => toTensors({ images: new Uint8Array(784), labels: new Uint8Array(2), count: 1 }), /1 images/);
  await assert.rejects(loadModel("../escape", tmp), /not allowed/);
  await assert.rejects(loadModel("missing", tmp), /No saved model "missing"/);
  model.dispose();
});

test("firstMistakePerClass finds the first wrong prediction of each class", () => {
  const labels = Uint8Array.from([0, 1, 0, 2, 1, 2]);
  const predicted = Uint8Array.from([0, 2, 1, 2, 0, 2]);
  assert.deepEqual(firstMistakePerClass(labels, predicted, 3), [2, 1, -1]);
  assert.throws(() => firstMistakePerClass(labels, predicted.subarray(1), 3), /6 labels but 5 predictions/);
});

test("historyFrame leaves out validation columns when there was no validation", () => {
  const df = historyFrame([{ epoch: 1, loss: 0.5, accuracy: 0.8, seconds: 1 }]);
  assert.deepEqual(df.columns, ["epoch", "loss", "accuracy", "seconds"]);
});

for (const trainer of ["graph", "native", "layers"] as const) {
  test(`a NaN loss stops training with the epoch and batch (${trainer} path)`, async () => {
    const saved = process.env.FMNIST_TRAINER;
    process.env.FMNIST_TRAINER = trainer;
    try {
      const set = normalizeSet(takeFirst(data.train, 1280));
      // (images are checked before training: a NaN pixel is refused there) The output layer's first
      // bias made NaN poisons the first batch's loss, as a diverging run does (after ReLUs, which
      // oneDNN's fused kernels let hide a NaN).
      const model = createModel({ seed: 5 });
      const last = model.layers[model.layers.length - 1];
      const [kernel, bias] = last.getWeights();
      const values = bias.dataSync().slice();
      values[0] = NaN;
      tf.tidy(() => last.setWeights([kernel, tf.tensor(values, bias.shape)]));
      await assert.rejects(
        fit(model, set, undefined, { epochs: 2, batchSize: 32, shuffle: false, progress: "none" }),
        /Training diverged: the loss became NaN in epoch 1 by batch (1|2|20)\b/,
      );
      model.dispose();
    } finally {
      if (saved === undefined) delete process.env.FMNIST_TRAINER;
      else process.env.FMNIST_TRAINER = saved;
    }
  });
}

test("the tfjs-layers path (FMNIST_TRAINER=layers) also trains and matches the native path's accuracy", async () => {
  const subset = normalizeSet(takeFirst(data.train, 2500));
  const { train, validation } = splitValidation(subset, 500);
  const run = async (trainer: string) => {
    process.env.FMNIST_TRAINER = trainer;
    const model = createModel({ seed: 9 });
    const r = await fit(model, train, validation, { epochs: 2, batchSize: 32, seed: 9, progress: "none" });
    model.dispose();
    return r.history[1].val_accuracy!;
  };
  const saved = process.env.FMNIST_TRAINER;
  try {
    const layers = await run("layers");
    const native = await run("native");
    assert.ok(layers > 0.65 && native > 0.65, `validation accuracy: layers ${layers}, native ${native}`);
    assert.ok(
      Math.abs(layers - native) < 0.05,
      `same training, same accuracy within noise: layers ${layers}, native ${native}`,
    );
  } finally {
    if (saved === undefined) delete process.env.FMNIST_TRAINER;
    else process.env.FMNIST_TRAINER = saved;
  }
});

test("fit says which trainer runs, and why the fast path declined a model (a tanh layer)", async () => {
  const { train } = splitValidation(normalizeSet(takeFirst(data.train, 300)), 100);
  const model = tf.sequential({
    layers: [
      tf.layers.flatten({ inputShape: [28, 28, 1] }),
      tf.layers.dense({ units: 16, activation: "tanh", name: "my_tanh" }),
      tf.layers.dense({ units: 10, activation: "softmax" }),
    ],
  });
  model.compile({ optimizer: "adam", loss: "sparseCategoricalCrossentropy", metrics: ["accuracy"] });
  const lines: string[] = [];
  const log = console.log;
  console.log = (...args: unknown[]) => {
    lines.push(args.join(" "));
  };
  try {
    const r = await fit(model, train, undefined, { epochs: 1, batchSize: 50, progress: "terminal" });
    assert.equal(r.trainer, "layers");
    assert.match(r.declined ?? "", /layer my_tanh uses activation tanh/);
    const seed = createModel({ seed: 1 });
    const n = await fit(seed, train, undefined, { epochs: 1, batchSize: 50, progress: "terminal" });
    assert.equal(n.trainer, "graph", `the graph step runs by default (${n.declined})`);
    assert.equal(n.declined, undefined);
    seed.dispose();
  } finally {
    console.log = log;
    model.dispose();
  }
  assert.ok(
    lines.some((l) =>
      /^Training with tfjs-layers' model\.fit, 2-3x slower than the native fast path, because layer my_tanh uses activation tanh\.$/.test(
        l,
      ),
    ),
    lines.join("\n"),
  );
  assert.ok(
    lines.some((l) => /^Training on the native fast path \(1 epoch, batches of 50\)\.$/.test(l)),
    lines.join("\n"),
  );
});

test("a set of bytes trains and evaluates exactly as its float copy (each batch scaled as it is taken), on every trainer", async () => {
  const bytes = takeFirst(data.train, 900);
  const test = takeFirst(data.test, 300);
  const saved = process.env.FMNIST_TRAINER;
  try {
    for (const trainer of ["graph", "native", "layers"]) {
      process.env.FMNIST_TRAINER = trainer;
      const runs = [];
      for (const set of [bytes, normalizeSet(bytes)]) {
        const { train, validation } = splitValidation(set, 150);
        const model = createModel({ seed: 5 });
        const run = await fit(model, train, validation, { epochs: 1, batchSize: 32, seed: 5, progress: "none" });
        const testSet = set === bytes ? test : normalizeSet(test);
        runs.push({
          trainer: run.trainer,
          history: run.history.map(({ seconds: _, ...log }) => log),
          test: evaluate(model, testSet),
          predicted: predict(model, testSet).predicted,
        });
      }
      assert.equal(runs[0].trainer, runs[1].trainer);
      assert.deepEqual(runs[0], runs[1], `${trainer}: bytes and floats differ`);
    }
  } finally {
    if (saved === undefined) delete process.env.FMNIST_TRAINER;
    else process.env.FMNIST_TRAINER = saved;
  }
});
