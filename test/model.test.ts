import { test } from "node:test";
import assert from "node:assert/strict";
import { tf, assertNativeBackend, runtimeVersions } from "fashion-mnist-lib/dist/runtime/tf";
import { createModel, summarize, summaryText } from "fashion-mnist-lib/dist/model/model";
import { summaryHtml } from "fashion-mnist-lib/dist/display/views";

test("tfjs runs on the native TensorFlow backend", () => {
  assert.equal(tf.getBackend(), "tensorflow");
  assertNativeBackend();
  const v = runtimeVersions();
  assert.match(v.tensorflow, /^\d+\.\d+\.\d+/, "the addon reports TensorFlow's C library version");
});

test("the model has the seed's layers, shapes and 394,530 parameters", () => {
  const model = createModel({ seed: 1 });
  const s = summarize(model);
  assert.equal(s.totalParams, 394530);
  assert.equal(s.trainableParams, 394530);
  assert.equal(s.nonTrainableParams, 0);
  assert.deepEqual(
    s.rows.map((r) => [r.name, r.type, r.outputShape, r.params]),
    [
      ["conv2d", "Conv2D", "(None, 26, 26, 28)", 280],
      ["max_pooling2d", "MaxPooling2D", "(None, 13, 13, 28)", 0],
      ["conv2d_1", "Conv2D", "(None, 11, 11, 56)", 14168],
      ["flatten", "Flatten", "(None, 6776)", 0],
      ["dense", "Dense", "(None, 56)", 379512],
      ["dense_1", "Dense", "(None, 10)", 570],
    ],
  );
  const text = summaryText(s);
  assert.match(text, /Total params: 394,530 \(1\.51 MB\)/);
  assert.match(text, /Non-trainable params: 0 \(0\.00 B\)/);
  assert.match(summaryHtml(s), /<td[^>]*>14,168<\/td>/);
  model.dispose();
});

test("the model maps a batch of images to 10 probabilities each", () => {
  const model = createModel({ seed: 2 });
  const out = tf.tidy(() => model.predict(tf.zeros([3, 28, 28, 1])) as tf.Tensor);
  assert.deepEqual(out.shape, [3, 10]);
  const sums = tf.tidy(() => out.sum(1).arraySync() as number[]);
  for (const s of sums) assert.ok(Math.abs(s - 1) < 1e-5, `softmax row sums to ${s}`);
  out.dispose();
  model.dispose();
});

test("the same seed gives the same initial weights; another seed does not", () => {
  const first = (seed: number) => {
    const m = createModel({ seed });
    const w = m.layers[0].getWeights()[0].dataSync().slice(0, 20);
    m.dispose();
    return Array.from(w);
  };
  assert.deepEqual(first(7), first(7));
  assert.notDeepEqual(first(7), first(8));
});

test("createModel rejects a non-positive learning rate", () => {
  assert.throws(() => createModel({ learningRate: 0 }), /learningRate must be > 0/);
});
