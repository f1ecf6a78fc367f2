// fm.interpret: one object with everything the evaluation section shows,
// computed once and consistent with itself; and one rule for scores without a
// denominator (NaN, left out of averages) across classScores, classReport and
// perClassAccuracy.
import { test } from "node:test";
import assert from "node:assert/strict";
import { normalizeSet, takeFirst } from "fashion-mnist-lib/dist/data/dataset";
import { createModel } from "fashion-mnist-lib/dist/model/model";
import { evaluate } from "fashion-mnist-lib/dist/training/train";
import { interpret } from "fashion-mnist-lib/dist/evaluation/interpretation";
import { classReport, classScores } from "fashion-mnist-lib/dist/evaluation/scores";
import { perClassAccuracy, confusionMatrix } from "fashion-mnist-lib/dist/evaluation/metrics";
import { loadSharedDataset } from "./helpers";

test("interpret: loss, accuracy, predictions, confusion, per-class scores and mistakes agree with each other", async () => {
  const data = await loadSharedDataset();
  const set = normalizeSet(takeFirst(data.test, 600));
  const model = createModel({ seed: 11 });
  const ev = interpret(model, set);
  const direct = evaluate(model, set);
  assert.ok(
    Math.abs(ev.loss - direct.loss) < 1e-6 && Math.abs(ev.accuracy - direct.accuracy) < 1e-9,
    "the same loss and accuracy as evaluate",
  );
  for (let i = 0; i < set.count; i++) {
    const row = ev.probabilities.subarray(i * 10, i * 10 + 10);
    assert.equal(
      ev.predicted[i],
      row.indexOf(Math.max(...row)),
      `sample ${i}: the prediction is the most likely class`,
    );
  }
  const total = ev.confusion.flat().reduce((a, b) => a + b, 0);
  const diagonal = ev.confusion.reduce((s, row, c) => s + row[c], 0);
  assert.equal(total, 600);
  assert.ok(Math.abs(diagonal / total - ev.accuracy) < 1e-6, "accuracy is the confusion matrix's diagonal share");
  ev.classes.forEach((c, k) => {
    const column = ev.confusion.reduce((s, row) => s + row[k], 0);
    const support = ev.confusion[k].reduce((a, b) => a + b, 0);
    assert.equal(c.support, support);
    assert.ok(Object.is(c.precision, column === 0 ? NaN : ev.confusion[k][k] / column), `class ${k} precision`);
  });
  const mistakes = ev.mistakes(5);
  assert.ok(
    mistakes.every(
      (m, i) => m.trueClass !== m.predictedClass && (i === 0 || mistakes[i - 1].confidence >= m.confidence),
    ),
  );
  ev.firstMistakes().forEach((i, c) => assert.ok(i === -1 || (set.labels[i] === c && ev.predicted[i] !== c)));
  assert.ok(
    ev
      .mostConfused(3)
      .every((p) => p.trueClass !== p.predictedClass && ev.confusion[p.trueClass][p.predictedClass] === p.count),
  );
  assert.equal(ev.report().height, 12, "ten classes and two averages");
  model.dispose();
});

test("one rule for a score without a denominator: NaN everywhere, left out of averages", () => {
  // Class 2 is never predicted (no precision); class 3 never occurs (no recall).
  const labels = [0, 0, 1, 1, 2];
  const predicted = [0, 1, 1, 1, 3];
  const names = ["a", "b", "c", "d"];
  const s = classScores(labels, predicted, names);
  assert.ok(Number.isNaN(s[2].precision), "never predicted: precision NaN");
  assert.equal(s[2].recall, 0, "present, never found: recall 0");
  assert.ok(Number.isNaN(s[3].recall), "absent: recall NaN");
  assert.equal(s[3].precision, 0, "predicted, never right: precision 0");
  const recall = perClassAccuracy(confusionMatrix(labels, predicted, 4));
  s.forEach((c, k) =>
    assert.ok(Object.is(c.recall, recall[k]), `class ${k}: classScores and perClassAccuracy agree on recall`),
  );
  const rows = classReport(labels, predicted, names).toRecords();
  const macroPrecision = (1 + 2 / 3 + 0) / 3; // class c (NaN) left out
  assert.ok(Math.abs((rows[4].precision as number) - macroPrecision) < 1e-12, `macro precision ${rows[4].precision}`);
});
