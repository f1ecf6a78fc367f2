// Input is checked where it enters: fit, evaluate, predict and interpret refuse
// bad labels and images before any TensorFlow call, on every trainer
// (FMNIST_TRAINER graph, native, layers), with one InvalidInputError naming the
// call, the set, the sample and the value; the same for JavaScript callers who
// pass plain arrays or Float32Array labels. Real data, 64 samples.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { tf } from "fashion-mnist-lib/dist/runtime/tf";
import { normalizeSet, takeFirst, type FashionMnist } from "fashion-mnist-lib/dist/data/dataset";
import { InvalidInputError, checkSamples } from "fashion-mnist-lib/dist/data/checks";
import type { LabeledImages } from "fashion-mnist-lib/dist/data/samples";
import { createModel } from "fashion-mnist-lib/dist/model/model";
import { fit, evaluate, predict } from "fashion-mnist-lib/dist/training/train";
import { interpret } from "fashion-mnist-lib/dist/evaluation/interpretation";
import * as fm from "fashion-mnist-lib";
import { loadSharedDataset } from "./helpers";

let data: FashionMnist;
let raw: LabeledImages<Uint8Array>;
let scaled: LabeledImages<Float32Array>;

before(async () => {
  data = await loadSharedDataset();
  raw = takeFirst(data.train, 64);
  scaled = normalizeSet(raw);
});

async function withTrainer<T>(trainer: string, fn: () => Promise<T>): Promise<T> {
  const saved = process.env.FMNIST_TRAINER;
  process.env.FMNIST_TRAINER = trainer;
  try {
    return await fn();
  } finally {
    if (saved === undefined) delete process.env.FMNIST_TRAINER;
    else process.env.FMNIST_TRAINER = saved;
  }
}

/** A copy of a set with some of it changed (a JavaScript caller's own arrays, types bypassed). */
function bad(base: () => LabeledImages, change: (s: { images: unknown; labels: unknown; count: unknown }) => void) {
  return () => {
    const b = base();
    const s = { images: b.images.slice(), labels: b.labels.slice() as unknown, count: b.count as unknown };
    change(s);
    return s as unknown as LabeledImages;
  };
}

interface Case {
  input: string;
  make: () => LabeledImages;
  part: string;
  index: number | undefined;
  value: unknown;
  /** The message after "<call>: <set> " */
  message: RegExp;
}

const CASES: Case[] = [
  {
    input: "label 12",
    make: bad(
      () => scaled,
      (s) => ((s.labels as Uint8Array)[5] = 12),
    ),
    part: "labels",
    index: 5,
    value: 12,
    message:
      /^labels: label 12 at index 5 is not a class: labels must be whole numbers from 0 to 9 .*Correct or remove/,
  },
  {
    input: "label 255 (raw images)",
    make: bad(
      () => raw,
      (s) => ((s.labels as Uint8Array)[63] = 255),
    ),
    part: "labels",
    index: 63,
    value: 255,
    message: /^labels: label 255 at index 63 is not a class: labels must be whole numbers from 0 to 9/,
  },
  {
    input: "Float32Array labels with 2.5",
    make: bad(
      () => scaled,
      (s) => {
        const f = Float32Array.from(s.labels as Uint8Array);
        f[7] = 2.5;
        s.labels = f;
      },
    ),
    part: "labels",
    index: 7,
    value: 2.5,
    message: /^labels: label 2\.5 at index 7 is not a whole number: labels must be whole numbers from 0 to 9/,
  },
  {
    input: "plain-array labels with -1",
    make: bad(
      () => scaled,
      (s) => {
        const a = Array.from(s.labels as Uint8Array);
        a[2] = -1;
        s.labels = a;
      },
    ),
    part: "labels",
    index: 2,
    value: -1,
    message: /^labels: label -1 at index 2 is not a class/,
  },
  {
    input: "NaN pixel",
    make: bad(
      () => scaled,
      (s) => ((s.images as Float32Array)[3 * 784 + 17] = NaN),
    ),
    part: "images",
    index: 3,
    value: NaN,
    message: /^images: image 3 holds NaN at pixel 17 \(images\[2369\]\): image values must be finite numbers/,
  },
  {
    input: "Infinity pixel",
    make: bad(
      () => scaled,
      (s) => ((s.images as Float32Array)[10 * 784] = Infinity),
    ),
    part: "images",
    index: 10,
    value: Infinity,
    message: /^images: image 10 holds Infinity at pixel 0 \(images\[7840\]\): image values must be finite/,
  },
  {
    input: "raw bytes as floats (not scaled)",
    make: () => ({ images: Float32Array.from(raw.images), labels: raw.labels, count: raw.count }),
    part: "images",
    index: 0,
    get value() {
      return raw.images.find((v) => v > 1);
    },
    message: /^images: image 0 holds \d+ at pixel \d+ .*outside \[0, 1\]: .*normalizeSet.*Uint8Array/,
  },
  {
    input: "images 10 values short",
    make: bad(
      () => raw,
      (s) => (s.images = (s.images as Uint8Array).subarray(10)),
    ),
    part: "images",
    index: undefined,
    value: 64 * 784 - 10,
    message: /^images: 50166 values, expected 64 x 784 = 50176 \(64 images of 28 x 28 pixels\)/,
  },
  {
    input: "images as a plain array",
    make: bad(
      () => scaled,
      (s) => (s.images = Array.from(s.images as Float32Array)),
    ),
    part: "images",
    index: undefined,
    value: "Array",
    message:
      /^images: Array given, expected a Uint8Array of raw bytes \(0 to 255\) or a Float32Array scaled to \[0, 1\]/,
  },
  {
    input: "one label too many",
    make: bad(
      () => scaled,
      (s) => (s.labels = Uint8Array.from([...(s.labels as Uint8Array), 0])),
    ),
    part: "labels",
    index: undefined,
    value: 65,
    message: /^labels: 65 labels for 64 images; pass one label per image/,
  },
];

type Call = (model: tf.LayersModel, set: LabeledImages) => unknown;
const CALLS: { caller: string; set: string; call: Call }[] = [
  {
    caller: "fit",
    set: "train",
    call: (m, s) => fit(m, s, undefined, { epochs: 1, progress: "none" }),
  },
  {
    caller: "fit",
    set: "validation",
    call: (m, s) => fit(m, scaled, s, { epochs: 1, progress: "none" }),
  },
  { caller: "evaluate", set: "set", call: (m, s) => evaluate(m, s) },
  { caller: "interpret", set: "set", call: (m, s) => interpret(m, s) },
  { caller: "predict", set: "set", call: (m, s) => predict(m, s) },
];

const TRAINERS = ["graph", "native", "layers"];

test("each call x trainer x bad input: one InvalidInputError before any TensorFlow work", async () => {
  const model = createModel({ seed: 3 });
  const weights = model.getWeights().map((w) => w.dataSync().slice());
  let checked = 0;
  for (const trainer of TRAINERS) {
    for (const { caller, set, call } of CALLS) {
      for (const c of CASES) {
        const where = `${caller} (${set}) x ${trainer} x ${c.input}`;
        const tensors = tf.memory().numTensors;
        await withTrainer(trainer, async () => {
          await assert.rejects(
            async () => call(model, c.make()),
            (err: unknown) => {
              assert.ok(err instanceof InvalidInputError, `${where}: ${String(err)}`);
              assert.ok(err instanceof fm.InvalidInputError, "the class the public API exports");
              assert.equal(err.name, "InvalidInputError");
              assert.equal(err.caller, caller, where);
              assert.equal(err.set, set, where);
              assert.equal(err.part, c.part, where);
              assert.equal(err.index, c.index, where);
              assert.deepEqual(err.value, c.value, where);
              const prefix = `${caller}: ${set} `;
              assert.ok(err.message.startsWith(prefix), `${where}: ${err.message}`);
              assert.match(err.message.slice(prefix.length), c.message, where);
              return true;
            },
          );
        });
        assert.equal(tf.memory().numTensors, tensors, `${where}: no tensor made`);
        checked++;
      }
    }
  }
  assert.equal(checked, TRAINERS.length * CALLS.length * CASES.length);
  model.getWeights().forEach((w, i) => assert.deepEqual(w.dataSync(), weights[i], "the model is untouched"));
  model.dispose();
});

test("the table's trainers are the ones that run on a good set", async () => {
  for (const trainer of TRAINERS) {
    const model = createModel({ seed: 3 });
    const run = await withTrainer(trainer, () => fit(model, scaled, scaled, { epochs: 1, seed: 1, progress: "none" }));
    // Without the graph-step addon (an optional build) "graph" falls back to the op-by-op step and says why.
    const ran = trainer === "graph" && run.trainer === "native" && run.declined ? "graph" : run.trainer;
    assert.equal(ran, trainer, `${trainer} asked, ${run.trainer} ran (${run.declined})`);
    assert.ok(Number.isFinite(run.history[0].loss));
    model.dispose();
  }
});

test("not a set at all, or no samples: the same error, naming the call and the set", async () => {
  const model = createModel({ seed: 3 });
  const calls: [string, () => unknown][] = [
    [
      "fit: train: expected a set of samples { images, labels, count }",
      () => fit(model, undefined as never, undefined),
    ],
    ["evaluate: set count: no samples (count is 0)", () => evaluate(model, { ...scaled, count: 0 })],
    [
      "interpret: set labels: undefined given, expected a Uint8Array",
      () => interpret(model, { ...scaled, labels: undefined as never }),
    ],
  ];
  for (const [message, call] of calls) {
    await assert.rejects(
      async () => call(),
      (err: unknown) => {
        assert.ok(err instanceof InvalidInputError);
        assert.ok(err.message.startsWith(message), err.message);
        return true;
      },
    );
  }
  model.dispose();
});

test("the real dataset passes, and the check costs little against an epoch", () => {
  const train = normalizeSet(data.train);
  let worst = 0;
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    checkSamples(train, "fit", "train");
    checkSamples(data.train, "fit", "train");
    checkSamples(data.test, "evaluate", "set");
    worst = Math.max(worst, performance.now() - t);
  }
  // One typed pass over 47M floats: about 35 ms here, against 20-60 s per epoch.
  console.log(`checking 60,000 scaled + 60,000 raw + 10,000 raw images and their labels: ${worst.toFixed(1)} ms`);
  assert.ok(worst < 1000, `the check took ${worst} ms`);
});
