// What the notebook shows, composed from the data, metrics and display pieces.
import type pl from "nodejs-polars";
import { tf } from "../runtime/tf";
import { CLASS_NAMES, PIXELS } from "../data/samples";
import { escapeHtml, inNotebook, showHtml } from "./display";
import { imageGridHtml } from "./images";
import { confusionMatrix, topConfusions, perClassAccuracy } from "../evaluation/metrics";
import { summarize, summaryText, thousands, totals, type ModelSummary } from "../model/model";
import type { EpochLog, Evaluation, LabeledImages, Predictions } from "../training/train";
import { firstMistakePerClass } from "../training/train";

const pixelsOf = (set: LabeledImages, i: number) => set.images.subarray(i * PIXELS, (i + 1) * PIXELS);

/** Shows the Keras-style model summary (layers, output shapes, parameter counts): an HTML table in a notebook, text in a terminal. */
export function showSummary(model: tf.LayersModel): void {
  const s = summarize(model);
  if (inNotebook()) showHtml(summaryHtml(s));
  else console.log(summaryText(s));
}

/** A polars DataFrame as an escaped HTML table, floats rounded to `digits` decimals (default 4) for reading. */
export function frameHtml(df: pl.DataFrame, digits = 4): string {
  const cell = (v: unknown) => (typeof v === "number" && !Number.isInteger(v) ? v.toFixed(digits) : String(v ?? ""));
  const head = df.columns.map((c) => `<th style="padding:2px 10px;text-align:right">${escapeHtml(c)}</th>`).join("");
  const body = df
    .toRecords()
    .map(
      (r) =>
        `<tr>${df.columns.map((c) => `<td style="padding:2px 10px;text-align:right">${escapeHtml(cell(r[c]))}</td>`).join("")}</tr>`,
    )
    .join("");
  return `<table style="border-collapse:collapse;font-family:monospace"><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

/** Shows a polars DataFrame: an HTML table ({@link frameHtml}) in a notebook, polars' text table in a terminal. */
export function showFrame(df: pl.DataFrame): void {
  if (inNotebook()) showHtml(frameHtml(df));
  else console.log(df.toString());
}

/**
 * An HTML grid of the first `perClass` images (default 4) of each class in a
 * set, one row per class, captioned with the class and the sample's index.
 * Show it with {@link showHtml}.
 */
export function sampleGrid(set: LabeledImages, perClass = 4): string {
  const picked: number[][] = CLASS_NAMES.map(() => []);
  for (let i = 0; i < set.count && picked.some((p) => p.length < perClass); i++) {
    const bucket = picked[set.labels[i]];
    if (bucket.length < perClass) bucket.push(i);
  }
  const items = picked.flatMap((indices, c) =>
    indices.map((i) => ({ pixels: pixelsOf(set, i), caption: CLASS_NAMES[c], subcaption: `#${i}` })),
  );
  return imageGridHtml(items, { columns: perClass * 2, scale: 3, title: `Training samples, ${perClass} per class` });
}

/**
 * The seed's section 5.3: for each class, the first test image the model got
 * wrong, with true label, prediction and the predicted probability (in %), as
 * an HTML grid (a class without mistakes says so). `predictions` is what
 * {@link predict} or {@link interpret} returns for `test`.
 *
 * @throws Error when the labels and predictions differ in length.
 */
export function mistakesGrid(test: LabeledImages, predictions: Predictions): string {
  const first = firstMistakePerClass(test.labels, predictions.predicted);
  const items = first.map((i, c) => {
    if (i < 0)
      return {
        pixels: new Uint8Array(PIXELS),
        caption: `${CLASS_NAMES[c]}`,
        subcaption: "no mistakes",
        tone: "ok" as const,
      };
    const p = predictions.predicted[i];
    const prob = predictions.probabilities[i * 10 + p];
    return {
      pixels: pixelsOf(test, i),
      caption: `True: ${CLASS_NAMES[test.labels[i]]}`,
      subcaption: `Predicted: ${CLASS_NAMES[p]} (${(prob * 100).toFixed(0)}%) · #${i}`,
      tone: "bad" as const,
    };
  });
  return imageGridHtml(items, { columns: 5, scale: 4, title: "First misclassified test image of each class" });
}

const pct = (v: number) => `${(v * 100).toFixed(2)}%`;

/**
 * A few observations written from the run's own numbers, as Markdown: the
 * best validation epoch and the gap between training and validation accuracy,
 * the test accuracy, the hardest and easiest classes and the three most
 * frequent confusions. `history` is fit's; `test` an {@link Interpretation}.
 *
 * @throws Error when neither an Interpretation nor labels and predictions are given.
 */
export function observations(
  history: EpochLog[],
  test: Evaluation & { labels?: Uint8Array; predicted?: Uint8Array },
  labels = test.labels,
  predicted = test.predicted,
): string {
  if (!labels || !predicted)
    throw new Error("observations: pass an Interpretation (fm.interpret), or the labels and predictions");
  const lines: string[] = [];
  const last = history[history.length - 1];
  if (last?.val_accuracy !== undefined) {
    const best = history.reduce((a, b) => ((b.val_accuracy ?? -1) > (a.val_accuracy ?? -1) ? b : a));
    const gap = last.accuracy - last.val_accuracy;
    lines.push(
      `- **Fit.** After ${plural(last.epoch, "epoch")} training accuracy is ${pct(last.accuracy)} and validation accuracy ${pct(last.val_accuracy)}: ` +
        (gap > 0.02
          ? `a gap of ${(gap * 100).toFixed(1)} points, so the model fits the training set better than new data (overfitting).`
          : `a gap of ${(gap * 100).toFixed(1)} points, so little overfitting so far.`),
    );
    const minLoss = history.reduce((a, b) => ((b.val_loss ?? Infinity) < (a.val_loss ?? Infinity) ? b : a));
    lines.push(
      `- **Best epoch.** Validation accuracy peaked at ${pct(best.val_accuracy ?? NaN)} in epoch ${best.epoch}; validation loss was lowest in epoch ${minLoss.epoch}` +
        (minLoss.epoch < last.epoch
          ? ` and rose afterwards (${(minLoss.val_loss ?? NaN).toFixed(3)} → ${(last.val_loss ?? NaN).toFixed(3)}).`
          : "."),
    );
  }
  lines.push(`- **Test.** Test accuracy is ${pct(test.accuracy)} (the original Keras notebook reached 90.28%).`);
  const cm = confusionMatrix(labels, predicted);
  const perClass = perClassAccuracy(cm);
  const order = perClass
    .map((a, c) => ({ a, c }))
    .filter((x) => !Number.isNaN(x.a))
    .sort((x, y) => x.a - y.a);
  if (order.length > 1) {
    const worst = order[0];
    const bestC = order[order.length - 1];
    lines.push(
      `- **Classes.** Hardest: ${CLASS_NAMES[worst.c]} (${pct(worst.a)} recognized); easiest: ${CLASS_NAMES[bestC.c]} (${pct(bestC.a)}).`,
    );
  }
  const top = topConfusions(cm, 3);
  if (top.length > 0) {
    lines.push(
      `- **Confusions.** Most frequent mistakes: ` +
        top
          .map((t) => `${CLASS_NAMES[t.trueClass]} taken for ${CLASS_NAMES[t.predictedClass]} (${t.count}×)`)
          .join("; ") +
        ".",
    );
  }
  return lines.join("\n");
}

/** "1 epoch", "2 epochs", "12,000 samples": a count with its noun, in the right number. */
export function plural(n: number, noun: string, many = `${noun}s`): string {
  return `${n.toLocaleString("en-US")} ${n === 1 ? noun : many}`;
}

/** The model summary of {@link summarize} as an HTML table for a notebook (all strings escaped), Keras's columns and totals. */
export function summaryHtml(s: ModelSummary): string {
  const td = (v: string, right = false) =>
    `<td style="text-align:${right ? "right" : "left"};padding:2px 12px">${escapeHtml(v)}</td>`;
  const rows = s.rows
    .map((r) => `<tr>${td(`${r.name} (${r.type})`)}${td(r.outputShape)}${td(thousands(r.params), true)}</tr>`)
    .join("");
  const foot = totals(s)
    .map(([k, v]) => `<div><b>${escapeHtml(k)}:</b> ${escapeHtml(v)}</div>`)
    .join("");
  return (
    `<div class="fmnist-summary"><div><b>Model:</b> "${escapeHtml(s.name)}"</div>` +
    `<table style="border-collapse:collapse;font-family:monospace;margin:6px 0">` +
    `<thead><tr><th style="text-align:left;padding:2px 12px">Layer (type)</th><th style="text-align:left;padding:2px 12px">Output Shape</th>` +
    `<th style="text-align:right;padding:2px 12px">Param #</th></tr></thead><tbody>${rows}</tbody></table>${foot}</div>`
  );
}
