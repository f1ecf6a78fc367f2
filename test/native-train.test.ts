// The native training path (lib/training/native/) that fit uses for the seed's
// model, op by op and as one graph a step (lib/training/graph/): both
// trainers' gradients must be tfjs's autodiff gradients, they must free every
// TensorFlow handle they make, and train as well as model.fit does.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { tf } from "fashion-mnist-lib/dist/runtime/tf";
import { normalizeSet, splitValidation, takeFirst, type FashionMnist } from "fashion-mnist-lib/dist/data/dataset";
import { compileModel, createModel, kernelInitializers } from "fashion-mnist-lib/dist/model/model";
import { fit, evaluate } from "fashion-mnist-lib/dist/training/train";
import {
  NativeTrainer,
  nativeHandleCount,
  planFor,
  type FastTrainer,
} from "fashion-mnist-lib/dist/training/native/native-train";
import { GraphTrainer } from "fashion-mnist-lib/dist/training/graph/graph-trainer";
import { loadSharedDataset } from "./helpers";

let data: FashionMnist;

before(async () => {
  data = await loadSharedDataset();
});

/**
 * Both fast trainers' gradients of the mean loss on `count` images equal
 * tfjs's autodiff gradients (then the model is disposed). Dropout layers are
 * applied with the masks the trainer's step drew (read back through its test
 * hook: handles read eagerly, outputs fetched from the graph), so both sides
 * drop the same values.
 */
function assertGradientsMatchAutodiff(model: tf.LayersModel, count: number): void {
  try {
    for (const create of [NativeTrainer.create, GraphTrainer.create]) assertTrainerGradients(model, count, create);
  } finally {
    model.dispose();
  }
  assert.equal(nativeHandleCount(), 0, "every native handle is freed");
}

function assertTrainerGradients(
  model: tf.LayersModel,
  count: number,
  create: (model: tf.LayersModel) => FastTrainer | string,
): void {
  const batch = normalizeSet(takeFirst(data.train, count));
  const trainer = create(model);
  assert.ok(typeof trainer !== "string", `the model takes the native path (${trainer})`);
  const kind = trainer.kind;
  try {
    trainer.recordedMasks = [];
    const native = trainer.gradients(batch);
    const masks = trainer.recordedMasks;
    const dropouts = model.layers.filter((l) => l.getClassName() === "Dropout");
    assert.equal(masks.length, dropouts.length, `${kind}: one mask per dropout layer`);
    const x = tf.tensor4d(batch.images, [batch.count, 28, 28, 1]);
    const y = tf.tensor1d(Int32Array.from(batch.labels), "int32");
    const forward = () => {
      let h: tf.Tensor = x;
      let k = 0;
      for (const layer of model.layers) {
        h = layer.getClassName() === "Dropout" ? h.mul(tf.tensor(masks[k++], h.shape)) : (layer.apply(h) as tf.Tensor);
      }
      return h as tf.Tensor2D;
    };
    const { value, grads } = tf.variableGrads(() =>
      // Mean sparse categorical cross-entropy of the softmax output.
      tf.losses.softmaxCrossEntropy(tf.oneHot(y, 10), tf.log(forward())),
    );
    model.trainableWeights.forEach((w, i) => {
      const auto = grads[(w.read() as tf.Variable).name].dataSync();
      assert.equal(auto.length, native[i].length);
      let maxDiff = 0;
      let maxAbs = 0;
      for (let j = 0; j < auto.length; j++) {
        maxDiff = Math.max(maxDiff, Math.abs(auto[j] - native[i][j]));
        maxAbs = Math.max(maxAbs, Math.abs(auto[j]));
      }
      assert.ok(maxAbs > 1e-4, `${kind} ${w.name}: gradient is not all zero`);
      assert.ok(
        maxDiff < 1e-5 * Math.max(1, maxAbs * 100),
        `${kind} ${w.name}: max |${kind} - autodiff| = ${maxDiff} (max |g| ${maxAbs})`,
      );
    });
    tf.dispose([x, y, value, ...Object.values(grads)]);
  } finally {
    trainer.dispose();
  }
}

test("native gradients equal tfjs autodiff gradients of the seed's loss", () => {
  assertGradientsMatchAutodiff(createModel({ seed: 5 }), 48);
});

test("dropout: the fast path takes it, with autodiff's gradients for the same masks, and none when evaluating", async () => {
  const model = tf.sequential();
  model.add(
    tf.layers.conv2d({
      inputShape: [28, 28, 1],
      filters: 6,
      kernelSize: 3,
      activation: "relu",
      kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }),
    }),
  );
  model.add(tf.layers.maxPooling2d({ poolSize: 2 }));
  model.add(tf.layers.dropout({ rate: 0.25 }));
  model.add(tf.layers.flatten());
  model.add(
    tf.layers.dense({ units: 32, activation: "relu", kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) }),
  );
  model.add(tf.layers.dropout({ rate: 0.5 }));
  model.add(
    tf.layers.dense({
      units: 10,
      activation: "softmax",
      kernelInitializer: tf.initializers.glorotUniform({ seed: 4 }),
    }),
  );
  model.compile({ optimizer: "adam", loss: "sparseCategoricalCrossentropy", metrics: ["accuracy"] });
  const plan = planFor(model);
  assert.ok(typeof plan !== "string", `a model with Dropout takes the native path (${plan})`);
  // The masks keep about 1 - rate of the values, scaled by 1 / (1 - rate).
  const trainer = NativeTrainer.create(model) as NativeTrainer;
  trainer.recordedMasks = [];
  trainer.gradients(normalizeSet(takeFirst(data.train, 64)));
  const [first, second] = trainer.recordedMasks;
  trainer.dispose();
  const share = (m: Float32Array, rate: number) => {
    assert.ok(
      m.every((v) => v === 0 || Math.abs(v - 1 / (1 - rate)) < 1e-6),
      "mask values are 0 or 1 / (1 - rate)",
    );
    return m.filter((v) => v === 0).length / m.length;
  };
  assert.ok(Math.abs(share(first, 0.25) - 0.25) < 0.02, "about a quarter dropped");
  assert.ok(Math.abs(share(second, 0.5) - 0.5) < 0.05, "about half dropped");
  // Evaluation uses no dropout: the native loss equals tfjs-layers' (which also drops nothing when not training).
  const test = normalizeSet(takeFirst(data.test, 300));
  const native = evaluate(model, test);
  const x = tf.tensor4d(test.images, [test.count, 28, 28, 1]);
  const y = tf.tensor1d(Int32Array.from(test.labels), "float32");
  const [loss] = (model.evaluate(x, y) as tf.Scalar[]).map((t) => t.dataSync()[0]);
  assert.ok(Math.abs(native.loss - loss) < 1e-4, `evaluation ignores dropout: native ${native.loss}, layers ${loss}`);
  tf.dispose([x, y]);
  assertGradientsMatchAutodiff(model, 48);
  assert.equal(nativeHandleCount(), 0, "every native handle is freed");
});

test("native gradients also match for padded, strided and unpooled convolutions", () => {
  // Exercises the other branches of the lowering: image patches with SAME
  // padding and stride 2, an overlapping SAME pool after a conv (bias and ReLU
  // moved after it), and a conv not followed by pooling.
  const model = tf.sequential();
  model.add(
    tf.layers.conv2d({
      inputShape: [28, 28, 1],
      filters: 6,
      kernelSize: 5,
      strides: 2,
      padding: "same",
      activation: "relu",
      kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }),
    }),
  );
  model.add(tf.layers.maxPooling2d({ poolSize: 3, strides: 2, padding: "same" }));
  model.add(
    tf.layers.conv2d({
      filters: 8,
      kernelSize: 3,
      padding: "same",
      activation: "relu",
      kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }),
    }),
  );
  model.add(tf.layers.flatten());
  model.add(
    tf.layers.dense({ units: 16, activation: "relu", kernelInitializer: tf.initializers.glorotUniform({ seed: 4 }) }),
  );
  model.add(
    tf.layers.dense({
      units: 10,
      activation: "softmax",
      kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }),
    }),
  );
  model.compile({ optimizer: tf.train.adam(), loss: "sparseCategoricalCrossentropy", metrics: ["accuracy"] });
  assertGradientsMatchAutodiff(model, 24);
});

test("native gradients also match with a pool folded into padded patches", () => {
  // A SAME conv (28x28 output, taps outside the image) under a 4x4 pool that
  // tiles it: the window-first patch layout with a 16-way max.
  const model = tf.sequential();
  model.add(
    tf.layers.conv2d({
      inputShape: [28, 28, 1],
      filters: 4,
      kernelSize: 5,
      padding: "same",
      activation: "relu",
      kernelInitializer: tf.initializers.glorotUniform({ seed: 5 }),
    }),
  );
  model.add(tf.layers.maxPooling2d({ poolSize: 4 }));
  model.add(tf.layers.flatten());
  model.add(
    tf.layers.dense({
      units: 10,
      activation: "softmax",
      kernelInitializer: tf.initializers.glorotUniform({ seed: 6 }),
    }),
  );
  model.compile({ optimizer: tf.train.adam(), loss: "sparseCategoricalCrossentropy", metrics: ["accuracy"] });
  assertGradientsMatchAutodiff(model, 24);
});

test("evaluate's native forward pass gives tfjs-layers' loss and accuracy", async () => {
  const model = createModel({ seed: 3 });
  const set = normalizeSet(takeFirst(data.test, 600));
  await fit(model, normalizeSet(takeFirst(data.train, 640)), undefined, { epochs: 1, seed: 3, progress: "none" });
  const native = evaluate(model, set, 128);
  const saved = process.env.FMNIST_TRAINER;
  process.env.FMNIST_TRAINER = "layers";
  try {
    const layers = evaluate(model, set, 128);
    assert.ok(Math.abs(native.loss - layers.loss) < 1e-5, `loss: native ${native.loss}, layers ${layers.loss}`);
    assert.ok(
      Math.abs(native.accuracy - layers.accuracy) < 1e-6,
      `accuracy: native ${native.accuracy}, layers ${layers.accuracy}`,
    );
    assert.ok(native.loss > 0 && native.accuracy > 0.3, "a trained model, not a trivial one");
  } finally {
    if (saved === undefined) delete process.env.FMNIST_TRAINER;
    else process.env.FMNIST_TRAINER = saved;
    model.dispose();
  }
  assert.equal(nativeHandleCount(), 0, "evaluate frees its native handles");
});

test("fit on the native path trains like model.fit and frees all native handles", async () => {
  const subset = normalizeSet(takeFirst(data.train, 3000));
  const { train, validation } = splitValidation(subset, 600);
  const run = async (trainer: string | undefined) => {
    const saved = process.env.FMNIST_TRAINER;
    if (trainer === undefined) delete process.env.FMNIST_TRAINER;
    else process.env.FMNIST_TRAINER = trainer;
    try {
      const model = createModel({ seed: 7 });
      const r = await fit(model, train, validation, { epochs: 2, batchSize: 32, seed: 7, progress: "none" });
      const ev = evaluate(model, validation); // the model holds the trained weights
      model.optimizer.dispose(); // Adam's two step-count scalars (tfjs's, not ours)
      model.dispose();
      return { r, ev };
    } finally {
      if (saved === undefined) delete process.env.FMNIST_TRAINER;
      else process.env.FMNIST_TRAINER = saved;
    }
  };
  const tensorsBefore = tf.memory().numTensors;
  const native = await run(undefined);
  assert.equal(nativeHandleCount(), 0, "native handles freed after fit");
  assert.equal(tf.memory().numTensors, tensorsBefore, "no tfjs tensors left behind");
  const layers = await run("layers");
  const nv = native.r.history[1].val_accuracy!;
  const lv = layers.r.history[1].val_accuracy!;
  assert.ok(nv > 0.7, `native validation accuracy ${nv}`);
  assert.ok(Math.abs(nv - lv) < 0.05, `native ${nv} vs model.fit ${lv}`);
  // The epoch metrics fit reports are those of the weights it leaves in the model.
  assert.ok(Math.abs(native.ev.accuracy - nv) < 1e-6, `evaluate ${native.ev.accuracy} vs val_accuracy ${nv}`);
  assert.ok(native.r.history[1].loss < native.r.history[0].loss);
});

test("a failing epoch callback still frees the native handles", async () => {
  const model = createModel({ seed: 2 });
  const set = normalizeSet(takeFirst(data.train, 320));
  await assert.rejects(
    fit(model, set, undefined, {
      epochs: 2,
      progress: "none",
      onEpochEnd: () => {
        throw new Error("stop here");
      },
    }),
    /stop here/,
  );
  assert.equal(nativeHandleCount(), 0);
  model.dispose();
});

test("models outside the native path are named with the reason and train with model.fit", async () => {
  const model = tf.sequential();
  model.add(tf.layers.flatten({ inputShape: [28, 28, 1] }));
  model.add(tf.layers.dense({ units: 16, activation: "tanh" }));
  model.add(tf.layers.dense({ units: 10, activation: "softmax" }));
  model.compile({ optimizer: tf.train.adam(), loss: "sparseCategoricalCrossentropy", metrics: ["accuracy"] });
  assert.match(String(planFor(model)), /activation tanh/);
  const set = normalizeSet(takeFirst(data.train, 320));
  const r = await fit(model, set, undefined, { epochs: 1, progress: "none" });
  assert.ok(Number.isFinite(r.history[0].loss));
  const sgd = createModel();
  sgd.compile({ optimizer: tf.train.sgd(0.1), loss: "sparseCategoricalCrossentropy", metrics: ["accuracy"] });
  assert.match(String(planFor(sgd)), /not Adam/);
  model.dispose();
  sgd.dispose();
});

test("a model with Dropout trains on the fast path as well as model.fit trains it", async () => {
  const { train, validation } = splitValidation(normalizeSet(takeFirst(data.train, 3000)), 600);
  // The seed's network with dropout before its dense layers, as a student might add it.
  const build = () => {
    const init = kernelInitializers(8);
    const m = tf.sequential({
      layers: [
        tf.layers.conv2d({
          inputShape: [28, 28, 1],
          filters: 28,
          kernelSize: 3,
          activation: "relu",
          kernelInitializer: init(),
        }),
        tf.layers.maxPooling2d({ poolSize: 2 }),
        tf.layers.conv2d({ filters: 56, kernelSize: 3, activation: "relu", kernelInitializer: init() }),
        tf.layers.flatten(),
        tf.layers.dropout({ rate: 0.3 }),
        tf.layers.dense({ units: 56, activation: "relu", kernelInitializer: init() }),
        tf.layers.dense({ units: 10, activation: "softmax", kernelInitializer: init() }),
      ],
    });
    compileModel(m);
    return m;
  };
  const saved = process.env.FMNIST_TRAINER;
  try {
    const results: Record<string, number> = {};
    for (const trainer of ["graph", "native", "layers"]) {
      process.env.FMNIST_TRAINER = trainer;
      const model = build();
      const r = await fit(model, train, validation, { epochs: 2, batchSize: 32, seed: 8, progress: "none" });
      assert.equal(r.trainer, trainer);
      results[trainer] = r.history[1].val_accuracy!;
      model.dispose();
    }
    assert.ok(results.graph > 0.7 && results.native > 0.7 && results.layers > 0.7, JSON.stringify(results));
    assert.ok(
      Math.abs(results.native - results.layers) < 0.05 && Math.abs(results.graph - results.layers) < 0.05,
      `same training within noise: ${JSON.stringify(results)}`,
    );
  } finally {
    if (saved === undefined) delete process.env.FMNIST_TRAINER;
    else process.env.FMNIST_TRAINER = saved;
  }
  assert.equal(nativeHandleCount(), 0);
});

test("with the layout tricks turned off (FMNIST_NATIVE_PLAIN, for the benchmark), the plain steps' gradients match autodiff too", () => {
  const saved = process.env.FMNIST_NATIVE_PLAIN;
  try {
    for (const plain of ["late-activation", "patches", "patches,late-activation"]) {
      process.env.FMNIST_NATIVE_PLAIN = plain;
      assertGradientsMatchAutodiff(createModel({ seed: 6 }), 32);
    }
  } finally {
    if (saved === undefined) delete process.env.FMNIST_NATIVE_PLAIN;
    else process.env.FMNIST_NATIVE_PLAIN = saved;
  }
});
