// The training curves figure: accuracy and loss per epoch, training and
// validation side by side, the best validation epoch marked (and an x axis
// that can span the planned epochs, for the live chart).
import {
  axisStyle,
  baseLayout,
  plotlyConfig,
  subplotTitle,
  THEME,
  type PlotlyAnnotation,
  type PlotlyLayout,
  type PlotlyFigure,
  type PlotlyTrace,
} from "./plots";
// ---------------------------------------------------------------------------
// Input checks
// ---------------------------------------------------------------------------

type NumberList = readonly number[] | Float32Array | Float64Array;

function isNumberList(v: unknown): v is NumberList {
  return Array.isArray(v) || v instanceof Float32Array || v instanceof Float64Array;
}

function describeNumber(v: unknown): string {
  if (typeof v !== "number") return `not a number (${v === null ? "null" : typeof v})`;
  if (Number.isNaN(v)) return "NaN";
  return v > 0 ? "Infinity" : "-Infinity";
}

/** Checks `list` is a non-empty list of finite numbers; returns it as a plain array. */
function finiteList(fn: string, name: string, list: unknown, expectedLength?: { n: number; of: string }): number[] {
  if (list === undefined || list === null) throw new Error(`${fn}: ${name} is missing`);
  if (!isNumberList(list)) throw new Error(`${fn}: ${name} must be an array of numbers`);
  if (list.length === 0) throw new Error(`${fn}: ${name} is empty`);
  if (expectedLength && list.length !== expectedLength.n) {
    throw new Error(`${fn}: ${name} has ${list.length} values but ${expectedLength.of} has ${expectedLength.n}`);
  }
  const out: number[] = new Array(list.length);
  for (let i = 0; i < list.length; i++) {
    const v: unknown = list[i];
    if (typeof v !== "number" || !Number.isFinite(v)) {
      throw new Error(`${fn}: ${name}[${i}] is ${describeNumber(v)}`);
    }
    out[i] = v;
  }
  return out;
}

function checkUnitInterval(fn: string, name: string, values: number[]): void {
  values.forEach((v, i) => {
    if (v < 0 || v > 1) throw new Error(`${fn}: ${name}[${i}] = ${v} is outside [0, 1] (accuracy is a fraction)`);
  });
}

function positiveNumber(fn: string, name: string, v: unknown, integer = false): number {
  if (typeof v !== "number" || !Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v))) {
    throw new Error(`${fn}: ${name} must be a positive ${integer ? "integer" : "number"}, got ${String(v)}`);
  }
  return v;
}

// ---------------------------------------------------------------------------
// Training curves
// ---------------------------------------------------------------------------

/** Per-epoch metrics, as collected during training (Keras/tfjs History style). */
export interface TrainingHistory {
  /**
   * Epoch numbers, strictly increasing. Plotted as is when they start at 1 or
   * later; a list starting at 0 (tfjs/Keras `History.epoch`) is shifted by one so
   * the x axis always starts at epoch 1 (see {@link TrainingCurvesOptions.epochBase}).
   */
  epoch: readonly number[];
  loss: readonly number[];
  /** Fractions in [0, 1]. */
  accuracy: readonly number[];
  val_loss?: readonly number[];
  /** Fractions in [0, 1]. */
  val_accuracy?: readonly number[];
}

/** Options for {@link trainingCurves}. */
export interface TrainingCurvesOptions {
  /** Figure title (default "Training history"). */
  title?: string;
  /** Figure size in pixels (default 900 x 380). */
  width?: number;
  /** Figure height in pixels (default 380). */
  height?: number;
  /**
   * Fix the x axis to 1..totalEpochs, so a live chart does not rescale as
   * epochs arrive. Default: fit the data.
   */
  totalEpochs?: number;
  /**
   * How `history.epoch` counts: 1 = epoch numbers (plotted as is), 0 = zero-based
   * indices (plotted +1). Default 'auto': 0 if the first entry is 0, else 1.
   */
  epochBase?: 0 | 1 | "auto";
}

/** The epoch (as plotted, 1-based) with the highest validation accuracy. */
export interface BestEpoch {
  epoch: number;
  index: number;
  valAccuracy: number;
}

/**
 * Index and value of the first maximum of `values` (ties go to the earliest epoch).
 */
function argmax(values: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

function percentFormat(values: number[]): string {
  const span = Math.max(...values) - Math.min(...values);
  return span >= 0.05 ? ".0%" : ".1%";
}

function epochTicks(first: number, last: number): Record<string, unknown> {
  const n = last - first + 1;
  const dtick = n <= 12 ? 1 : n <= 30 ? 2 : n <= 60 ? 5 : Math.ceil(n / 10 / 5) * 5;
  return { tickmode: "linear", tick0: dtick === 1 ? first : 0, dtick };
}

/**
 * Side-by-side accuracy and loss curves (training vs validation) with the
 * best validation-accuracy epoch marked. Works for a partial history (one
 * point while the first epoch finishes), so it can be redrawn every epoch.
 *
 * Throws an Error naming the offending field for empty or mismatched arrays
 * and for NaN/Infinity values, e.g.
 * `trainingCurves: history.val_loss has 3 values but history.epoch has 4`.
 */
export function trainingCurves(history: TrainingHistory, opts: TrainingCurvesOptions = {}): PlotlyFigure {
  const fn = "trainingCurves";
  if (history === null || typeof history !== "object") {
    throw new Error(`${fn}: history must be an object with epoch, loss and accuracy arrays`);
  }
  if (opts === null || typeof opts !== "object") throw new Error(`${fn}: opts must be an object`);

  // --- validate -----------------------------------------------------------
  const rawEpochs = finiteList(fn, "history.epoch", history.epoch);
  const n = rawEpochs.length;
  const sameLength = { n, of: "history.epoch" };
  rawEpochs.forEach((e, i) => {
    if (!Number.isInteger(e) || e < 0) {
      throw new Error(`${fn}: history.epoch[${i}] = ${e} is not a non-negative integer`);
    }
    if (i > 0 && e <= rawEpochs[i - 1]) {
      throw new Error(
        `${fn}: history.epoch must be strictly increasing, but history.epoch[${i}] = ${e} follows ${rawEpochs[i - 1]}`,
      );
    }
  });
  const loss = finiteList(fn, "history.loss", history.loss, sameLength);
  const accuracy = finiteList(fn, "history.accuracy", history.accuracy, sameLength);
  checkUnitInterval(fn, "history.accuracy", accuracy);
  const valLoss =
    history.val_loss === undefined ? undefined : finiteList(fn, "history.val_loss", history.val_loss, sameLength);
  const valAccuracy =
    history.val_accuracy === undefined
      ? undefined
      : finiteList(fn, "history.val_accuracy", history.val_accuracy, sameLength);
  if (valAccuracy) checkUnitInterval(fn, "history.val_accuracy", valAccuracy);

  const base = opts.epochBase ?? "auto";
  if (base !== 0 && base !== 1 && base !== "auto") {
    throw new Error(`${fn}: opts.epochBase must be 0, 1 or 'auto', got ${String(base)}`);
  }
  const shift = base === 0 || (base === "auto" && rawEpochs[0] === 0) ? 1 : 0;
  if (base === 1 && rawEpochs[0] === 0) {
    throw new Error(`${fn}: history.epoch[0] is 0 but opts.epochBase is 1 (epochs count from 1)`);
  }
  const epochs = rawEpochs.map((e) => e + shift);

  const width = opts.width === undefined ? THEME.width : positiveNumber(fn, "opts.width", opts.width);
  const height = opts.height === undefined ? THEME.height : positiveNumber(fn, "opts.height", opts.height);
  let lastEpoch = epochs[n - 1];
  if (opts.totalEpochs !== undefined) {
    const total = positiveNumber(fn, "opts.totalEpochs", opts.totalEpochs, true);
    if (total < lastEpoch) {
      throw new Error(`${fn}: opts.totalEpochs is ${total} but history already reaches epoch ${lastEpoch}`);
    }
    lastEpoch = total;
  }

  // --- traces ---------------------------------------------------------------
  const { train: trainColor, validation: valColor, highlight } = THEME.colors;
  const leftDomain: [number, number] = [0, 0.44];
  const rightDomain: [number, number] = [0.56, 1];

  const series = (name: "training" | "validation", metric: "accuracy" | "loss", y: number[]): PlotlyTrace => {
    const isAcc = metric === "accuracy";
    const color = name === "training" ? trainColor : valColor;
    return {
      type: "scatter",
      mode: "lines+markers",
      name,
      legendgroup: name,
      showlegend: isAcc,
      uid: `${metric}-${name}`,
      x: epochs,
      y,
      xaxis: isAcc ? "x" : "x2",
      yaxis: isAcc ? "y" : "y2",
      line: { color, width: 2 },
      marker: { color, size: 6 },
      hovertemplate: `epoch %{x}<br>${metric} %{y:${isAcc ? ".2%" : ".4f"}}<extra>${name}</extra>`,
    };
  };

  const data: PlotlyTrace[] = [series("training", "accuracy", accuracy)];
  if (valAccuracy) data.push(series("validation", "accuracy", valAccuracy));
  data.push(series("training", "loss", loss));
  if (valLoss) data.push(series("validation", "loss", valLoss));

  const annotations: PlotlyAnnotation[] = [subplotTitle("Accuracy", leftDomain), subplotTitle("Loss", rightDomain)];
  const shapes: Record<string, unknown>[] = [];

  if (valAccuracy) {
    const i = argmax(valAccuracy);
    const bestEpoch = epochs[i];
    const bestAcc = valAccuracy[i];
    const label = `best ${(bestAcc * 100).toFixed(2)}% @ epoch ${bestEpoch}`;
    data.push({
      type: "scatter",
      mode: "markers",
      name: "best validation accuracy",
      uid: "best-val-accuracy",
      x: [bestEpoch],
      y: [bestAcc],
      xaxis: "x",
      yaxis: "y",
      marker: { symbol: "star", size: 15, color: highlight, line: { color: "#ffffff", width: 1 } },
      hovertemplate: `${label}<extra></extra>`,
      meta: { bestEpoch, bestIndex: i, bestValAccuracy: bestAcc },
    });
    annotations.push({
      text: label,
      x: bestEpoch,
      y: bestAcc,
      xref: "x",
      yref: "y",
      showarrow: true,
      arrowhead: 2,
      arrowsize: 1,
      arrowwidth: 1,
      arrowcolor: highlight,
      ax: 0,
      ay: 32,
      font: { size: 11, color: highlight },
      bgcolor: "rgba(255,255,255,0.85)",
    });
    // A faint vertical guide at the best epoch on both subplots.
    for (const xref of ["x", "x2"]) {
      shapes.push({
        type: "line",
        xref,
        yref: "paper",
        x0: bestEpoch,
        x1: bestEpoch,
        y0: 0,
        y1: 1,
        line: { color: highlight, width: 1, dash: "dot" },
        layer: "below",
      });
    }
  }

  // --- layout ---------------------------------------------------------------
  const firstEpoch = epochs[0];
  const xRange = [firstEpoch - 0.5, lastEpoch + 0.5];
  const xCommon = { ...epochTicks(firstEpoch, lastEpoch), range: xRange, autorange: false };
  const allAcc = valAccuracy ? accuracy.concat(valAccuracy) : accuracy;

  const layout: PlotlyLayout = {
    ...baseLayout({ title: opts.title ?? "Training history", width, height, margin: { t: 80, b: 90 } }),
    xaxis: axisStyle("epoch", { ...xCommon, domain: leftDomain, anchor: "y" }),
    yaxis: axisStyle("accuracy", { anchor: "x", tickformat: percentFormat(allAcc), hoverformat: ".2%" }),
    xaxis2: axisStyle("epoch", { ...xCommon, domain: rightDomain, anchor: "y2" }),
    yaxis2: axisStyle("loss", { anchor: "x2" }),
    annotations,
    shapes,
  };

  return { data, layout, config: plotlyConfig("training-history") };
}

/**
 * The best validation-accuracy epoch marked by {@link trainingCurves}, read back
 * from a figure (undefined when the history had no validation data).
 */
export function bestEpochOf(fig: PlotlyFigure): BestEpoch | undefined {
  const trace = fig.data.find((t) => t.uid === "best-val-accuracy");
  const meta = trace?.meta as { bestEpoch: number; bestIndex: number; bestValAccuracy: number } | undefined;
  return meta ? { epoch: meta.bestEpoch, index: meta.bestIndex, valAccuracy: meta.bestValAccuracy } : undefined;
}
