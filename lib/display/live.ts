// The notebook's live views of long work: a download bar and the training
// view (progress bar, epoch table, curves over the planned epochs), one
// output each, updated in place. Put into data's and training's slots for them
// (notebookDownload, notebookTraining) as soon as this module loads.
import { escapeHtml, liveDisplay } from "./display";
import { trainingCurves } from "./training-curves";
import type { Progress } from "../data/download";
import { notebookDownload } from "../data/dataset";
import { notebookTraining } from "../training/progress";
import { epochLine, fmt, toCurves, type TrainingProgress } from "../training/train";
import type { tf } from "../runtime/tf";

/** The same progress as one live bar in a notebook output (tslab's stderr would show it in red). */
export function notebookProgressBar(label = "download"): (p: Progress) => void {
  const view = liveDisplay();
  let lastDraw = 0;
  return (p) => {
    const now = Date.now();
    if (!p.done && p.received > 0 && now - lastDraw < 250) return;
    lastDraw = now;
    const pct = p.total ? Math.min(100, (p.received * 100) / p.total) : p.done ? 100 : 0;
    const mb = (n: number) => (n / 1048576).toFixed(1);
    const size = p.total !== undefined ? `${mb(p.received)}/${mb(p.total)} MB` : `${mb(p.received)} MB`;
    view.showHtml(
      `<div style="font-family:monospace">${escapeHtml(`${label}: ${p.file} ${size}`)}${p.done ? " ✓" : ""}</div>` +
        `<div style="background:#e5e7eb;width:320px;height:8px;border-radius:4px">` +
        `<div style="background:#2563eb;width:${pct.toFixed(1)}%;height:8px;border-radius:4px"></div></div>`,
    );
  };
}

/**
 * One live output: a progress bar, the epoch table and the training curves so
 * far. With FMNIST_ECHO_PROGRESS=1 (set by the headless runner) each epoch is
 * also printed, so the terminal that runs the notebook sees progress.
 */
export function notebookProgress(epochs: number, steps: number): TrainingProgress {
  const echo = process.env.FMNIST_ECHO_PROGRESS === "1";
  const view = liveDisplay();
  const chart = liveDisplay();
  let epoch = 0;
  let lastDraw = 0;
  let rows = "";
  const render = (done: number, logs?: tf.Logs) => {
    const pct = ((done / steps) * 100).toFixed(1);
    const current =
      done < steps
        ? `<div style="font-family:monospace">Epoch ${epoch}/${epochs} ${done}/${steps} - accuracy ${fmt(logs?.acc as number)} - loss ${fmt(logs?.loss as number)}</div>` +
          `<div style="background:#e5e7eb;width:320px;height:8px;border-radius:4px"><div style="background:#2563eb;width:${pct}%;height:8px;border-radius:4px"></div></div>`
        : "";
    view.showHtml(
      `<div>${current}<table style="font-family:monospace;border-collapse:collapse;margin-top:4px">` +
        `<thead><tr>${["epoch", "seconds", "accuracy", "loss", "val_accuracy", "val_loss"].map((h) => `<th style="padding:1px 10px;text-align:right">${escapeHtml(h)}</th>`).join("")}</tr></thead>` +
        `<tbody>${rows}</tbody></table></div>`,
    );
  };
  return {
    epochStart(e) {
      epoch = e;
      render(0);
    },
    batch(done, getLogs) {
      const now = performance.now();
      if (now - lastDraw < 1000) return;
      lastDraw = now;
      render(done, getLogs?.());
    },
    epochEnd(log, history) {
      const cells = [
        String(log.epoch),
        log.seconds.toFixed(1),
        fmt(log.accuracy),
        fmt(log.loss),
        fmt(log.val_accuracy),
        fmt(log.val_loss),
      ];
      rows += `<tr>${cells.map((c) => `<td style="padding:1px 10px;text-align:right">${escapeHtml(c)}</td>`).join("")}</tr>`;
      render(steps);
      if (echo) console.log(epochLine(log, epochs));
      // The x axis spans the planned epochs from the first one on: the chart does not rescale as epochs arrive.
      chart.showPlotly(trainingCurves(toCurves(history), { totalEpochs: epochs }));
    },
    done() {},
  };
}

notebookDownload.bar = notebookProgressBar;
notebookTraining.view = notebookProgress;
