// Evaluation views: numbers checked by hand on small inputs, and every kind of
// bad input rejected with the argument's name.
import { test } from "node:test";
import assert from "node:assert/strict";
import { classReport, classScores, confidentMistakes } from "fashion-mnist-lib/dist/evaluation/scores";
import {
  classDistributionFigure,
  confidentMistakesGrid,
  confusionMatrixFigure,
} from "fashion-mnist-lib/dist/display/evaluation-figures";
import { confusionMatrix } from "fashion-mnist-lib/dist/evaluation/metrics";
import { CLASS_NAMES } from "fashion-mnist-lib/dist/data/samples";

const labels = [0, 0, 1, 1, 1, 2];
const predicted = [0, 1, 1, 1, 2, 2];
const names = ["a", "b", "c"];

test("classScores: precision, recall, F1 and support per class", () => {
  const s = classScores(labels, predicted, names);
  assert.deepEqual(
    s.map((r) => r.support),
    [2, 3, 1],
  );
  assert.deepEqual(
    s.map((r) => r.precision),
    [1, 2 / 3, 1 / 2],
  );
  assert.deepEqual(
    s.map((r) => r.recall),
    [1 / 2, 2 / 3, 1],
  );
  assert.ok(Math.abs(s[0].f1 - 2 / 3) < 1e-12);
});

test("classReport: a polars DataFrame with macro and weighted averages", () => {
  const df = classReport(labels, predicted, names);
  assert.deepEqual(df.columns, ["class", "precision", "recall", "f1", "support"]);
  assert.equal(df.height, 5);
  const rows = df.toRecords();
  assert.equal(rows[3].class, "macro avg");
  assert.ok(Math.abs((rows[3].recall as number) - (1 / 2 + 2 / 3 + 1) / 3) < 1e-12);
  assert.ok(Math.abs((rows[4].recall as number) - 4 / 6) < 1e-12, "weighted recall equals accuracy");
  assert.equal(rows[4].support, 6);
});

test("confusionMatrixFigure: counts and row shares with class names on both axes", () => {
  const fig = confusionMatrixFigure(confusionMatrix(labels, predicted, 3), { classNames: names });
  const [counts, share] = fig.data;
  assert.equal(counts.type, "heatmap");
  assert.deepEqual(counts.x, names);
  assert.deepEqual(counts.y, names);
  assert.deepEqual(counts.z, [
    [1, 1, 0],
    [0, 2, 1],
    [0, 0, 1],
  ]);
  assert.deepEqual((share.z as number[][])[1], [0, 2 / 3, 1 / 3]);
  assert.match(String(fig.layout.title?.text), /6 samples/);
});

test("classDistributionFigure: one bar series per split", () => {
  const fig = classDistributionFigure(
    [
      { name: "train", labels: [0, 1, 1] },
      { name: "test", labels: [2] },
    ],
    { classNames: names },
  );
  assert.deepEqual(
    fig.data.map((t) => t.y),
    [
      [1, 2, 0],
      [0, 0, 1],
    ],
  );
  assert.deepEqual(
    fig.data.map((t) => t.name),
    ["train (3)", "test (1)"],
  );
});

test("confidentMistakes: wrong predictions, most confident first", () => {
  const probs = [
    [0.9, 0.1, 0], // right
    [0.3, 0.7, 0], // wrong, 0.7
    [0, 0.05, 0.95], // wrong, 0.95
  ].flat();
  const m = confidentMistakes([0, 0, 1], probs, 5, 3);
  assert.deepEqual(
    m.map((x) => [x.index, x.predictedClass, x.confidence]),
    [
      [2, 2, 0.95],
      [1, 1, 0.7],
    ],
  );
});

test("confidentMistakesGrid: captions with true class, prediction and probability", () => {
  const images = new Uint8Array(2 * 784).fill(7);
  const probs = new Float32Array(20);
  probs[0 * 10 + 3] = 1; // sample 0: true 0, predicted Dress
  probs[1 * 10 + 1] = 1; // sample 1: right
  const html = confidentMistakesGrid({ images, labels: Uint8Array.of(0, 1), count: 2 }, { probabilities: probs });
  assert.match(html, /True: T-shirt\/top/);
  assert.match(html, /Predicted: Dress \(100\.0%\)/);
  assert.equal((html.match(/<img /g) ?? []).length, 1);
});

test("bad input names the argument", () => {
  const cases: [() => unknown, RegExp][] = [
    [() => classReport([], []), /classReport: labels is empty/],
    [() => classReport([0, 1], [0]), /classReport: predicted has 1 values but labels has 2/],
    [() => classReport([0, NaN], [0, 1]), /classReport: labels\[1\] is NaN/],
    [() => classScores([0, 10], [0, 1]), /classScores: labels\[1\] is 10, expected a class index in 0\.\.9/],
    [() => confusionMatrixFigure([]), /confusionMatrixFigure: matrix must be a non-empty array/],
    [
      () =>
        confusionMatrixFigure([
          [1, 2],
          [3, 4],
        ]),
      /matrix has 2 rows but classNames has 10 names/,
    ],
    [
      () =>
        confusionMatrixFigure(
          [
            [1, NaN],
            [0, 1],
          ],
          { classNames: ["x", "y"] },
        ),
      /matrix\[0\]\[1\] is NaN/,
    ],
    [
      () =>
        confusionMatrixFigure(
          [
            [0, 0],
            [0, 0],
          ],
          { classNames: ["x", "y"] },
        ),
      /matrix is all zeros/,
    ],
    [() => confusionMatrixFigure([[1]], { classNames: ["x", "x"] }), /opts\.classNames has duplicate names/],
    [() => classDistributionFigure([]), /classDistributionFigure: splits must be a non-empty array/],
    [() => classDistributionFigure([{ name: "train", labels: [] }]), /splits\[0\]\.labels is empty/],
    [() => classDistributionFigure([{ name: "", labels: [1] }]), /splits\[0\]\.name must be a non-empty string/],
    [() => confidentMistakes([0], [0.5, 0.5]), /probabilities has 2 values but labels has 1 samples x 10 classes/],
    [() => confidentMistakes([0], [NaN, 0, 0, 0, 0, 0, 0, 0, 0, 0]), /probabilities\[0\] \(sample 0, class 0\) is NaN/],
    [() => confidentMistakes([0], new Array(10).fill(0.1), 0), /count must be a positive integer/],
    [
      () =>
        confidentMistakesGrid(
          { images: new Uint8Array(784), labels: Uint8Array.of(0), count: 1 },
          { probabilities: new Float32Array(9) },
        ),
      /confidentMistakesGrid: predictions\.probabilities has 9 values but set\.labels has 1 samples/,
    ],
    [
      () =>
        confidentMistakesGrid(
          { images: new Uint8Array(700), labels: Uint8Array.of(0), count: 1 },
          { probabilities: new Float32Array(10) },
        ),
      /confidentMistakesGrid: set\.images must hold set\.count x 784/,
    ],
  ];
  for (const [fn, re] of cases) assert.throws(fn, re);
  assert.equal(CLASS_NAMES.length, 10);
});
