/**
 * Evaluation views: the confusion matrix as heatmaps, a per-class
 * precision/recall/F1/support table, the class distribution of the data
 * splits, and a grid of the mistakes the model was most sure about.
 *
 * Figures are plain Plotly JSON (show them with `showPlotly`), the table is a
 * nodejs-polars DataFrame (show it with `showFrame` or `frameHtml`), the grid
 * is a self-contained HTML fragment (show it with `showHtml`).
 *
 * Every function checks its input and throws an Error that names the
 * offending argument (empty, mismatched lengths, NaN, out-of-range classes).
 *
 * Imports only leaf modules (plots, images, dataset); nothing in lib/ imports
 * this module except index.ts, so there is no cycle for tslab to trip over.
 */
import pl from "nodejs-polars";
import { CLASS_NAMES, PIXELS, type LabeledImages } from "./samples";
import { imageGridHtml, type GridItem } from "./images";
import { axisStyle, baseLayout, plotlyConfig, subplotTitle, THEME, type PlotlyFigure, type PlotlyTrace } from "./plots";

// ---------------------------------------------------------------------------
// Input checks
// ---------------------------------------------------------------------------

type IntList = ArrayLike<number>;

function isList(v: unknown): v is IntList {
  return Array.isArray(v) || (ArrayBuffer.isView(v) && !(v instanceof DataView));
}

function describe(v: unknown): string {
  if (typeof v !== "number") return `not a number (${v === null ? "null" : typeof v})`;
  return Number.isNaN(v) ? "NaN" : String(v);
}

/** A non-empty list of class indices in 0..classes-1. */
function classList(fn: string, name: string, list: unknown, classes: number): IntList {
  if (list === undefined || list === null) throw new Error(`${fn}: ${name} is missing`);
  if (!isList(list)) throw new Error(`${fn}: ${name} must be an array of class indices`);
  if (list.length === 0) throw new Error(`${fn}: ${name} is empty`);
  for (let i = 0; i < list.length; i++) {
    const v: unknown = list[i];
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v >= classes) {
      throw new Error(`${fn}: ${name}[${i}] is ${describe(v)}, expected a class index in 0..${classes - 1}`);
    }
  }
  return list;
}

function classNameList(fn: string, name: string, names: unknown): readonly string[] {
  if (!Array.isArray(names) || names.length === 0)
    throw new Error(`${fn}: ${name} must be a non-empty array of strings`);
  names.forEach((n, i) => {
    if (typeof n !== "string" || n.trim() === "") throw new Error(`${fn}: ${name}[${i}] must be a non-empty string`);
  });
  if (new Set(names).size !== names.length) throw new Error(`${fn}: ${name} has duplicate names`);
  return names as string[];
}

function sameLength(fn: string, a: { name: string; list: IntList }, b: { name: string; list: IntList }): void {
  if (a.list.length !== b.list.length) {
    throw new Error(`${fn}: ${b.name} has ${b.list.length} values but ${a.name} has ${a.list.length}`);
  }
}

/** A square matrix of non-negative integer counts matching `classNames`. */
function countMatrix(fn: string, matrix: unknown, classes: number): number[][] {
  if (!Array.isArray(matrix) || matrix.length === 0) throw new Error(`${fn}: matrix must be a non-empty array of rows`);
  if (matrix.length !== classes) {
    throw new Error(`${fn}: matrix has ${matrix.length} rows but classNames has ${classes} names`);
  }
  return matrix.map((row: unknown, t) => {
    if (!isList(row) || row.length !== classes) {
      throw new Error(`${fn}: matrix[${t}] must hold ${classes} counts (one per class)`);
    }
    return Array.from(row, (v: unknown, p) => {
      if (typeof v !== "number" || !Number.isInteger(v) || v < 0) {
        throw new Error(`${fn}: matrix[${t}][${p}] is ${describe(v)}, expected a count (non-negative integer)`);
      }
      return v;
    });
  });
}

// ---------------------------------------------------------------------------
// Confusion matrix heatmaps
// ---------------------------------------------------------------------------

/** Options for {@link confusionMatrixFigure}. */
export interface ConfusionFigureOptions {
  /** Class names for both axes (default: the ten Fashion-MNIST classes). */
  classNames?: readonly string[];
  title?: string;
  width?: number;
  height?: number;
}

/**
 * The confusion matrix as two heatmaps side by side: raw counts (left) and
 * each row divided by its total (right, the share of each true class that got
 * each prediction, so the diagonal is per-class recall). True class on the y
 * axis (top to bottom), predicted class on the x axis, every cell labelled.
 *
 * `matrix[t][p]` counts samples of true class t predicted as p, as returned by
 * `confusionMatrix(labels, predicted)`.
 */
export function confusionMatrixFigure(
  matrix: readonly (readonly number[])[],
  opts: ConfusionFigureOptions = {},
): PlotlyFigure {
  const fn = "confusionMatrixFigure";
  const names = classNameList(fn, "opts.classNames", opts.classNames ?? CLASS_NAMES);
  const counts = countMatrix(fn, matrix, names.length);
  const total = counts.reduce((s, row) => s + row.reduce((a, b) => a + b, 0), 0);
  if (total === 0) throw new Error(`${fn}: matrix is all zeros (no samples counted)`);

  const rowShare = counts.map((row) => {
    const n = row.reduce((a, b) => a + b, 0);
    return row.map((v) => (n === 0 ? null : v / n));
  });
  const maxOffDiagonal = Math.max(1, ...counts.flatMap((row, t) => row.filter((_, p) => p !== t)));

  const left: [number, number] = [0, 0.47];
  const right: [number, number] = [0.53, 1];
  const shared = {
    type: "heatmap",
    x: [...names],
    y: [...names],
    colorscale: THEME.sequential,
    xgap: 1,
    ygap: 1,
    textfont: { size: 10 },
  };
  const countTrace: PlotlyTrace = {
    ...shared,
    name: "counts",
    uid: "confusion-counts",
    z: counts,
    text: counts.map((row) => row.map(String)),
    texttemplate: "%{text}",
    // Saturate the colour at the largest mistake so the off-diagonal cells are
    // readable; the diagonal (much larger) simply shows the darkest colour.
    zmin: 0,
    zmax: maxOffDiagonal,
    // No colour bar: every cell carries its count, and a bar here would collide
    // with the right-hand panel.
    showscale: false,
    hovertemplate: "true %{y}<br>predicted %{x}<br>%{z} samples<extra></extra>",
    xaxis: "x",
    yaxis: "y",
  };
  const shareTrace: PlotlyTrace = {
    ...shared,
    name: "row share",
    uid: "confusion-share",
    z: rowShare,
    text: rowShare.map((row) =>
      row.map((v) => (v === null ? "" : v >= 0.995 ? "1.00" : v.toFixed(2).replace(/^0/, ""))),
    ),
    texttemplate: "%{text}",
    zmin: 0,
    zmax: 1,
    colorbar: { x: 1.01, len: 0.85, thickness: 10, tickformat: ".0%", title: { text: "share of row", side: "right" } },
    hovertemplate: "true %{y}<br>predicted %{x}<br>%{z:.1%} of the true class<extra></extra>",
    xaxis: "x2",
    yaxis: "y2",
  };

  const axisX = (domain: [number, number], anchor: string) =>
    axisStyle("predicted class", {
      domain,
      anchor,
      tickangle: -45,
      showgrid: false,
      showline: false,
      ticks: "",
      constrain: "domain",
    });
  // Both panels share their rows, so only the left one labels them.
  const axisY = (anchor: string, showTitle: boolean) =>
    axisStyle(showTitle ? "true class" : "", {
      anchor,
      autorange: "reversed",
      showgrid: false,
      showline: false,
      ticks: "",
      scaleanchor: anchor,
      constrain: "domain",
      showticklabels: showTitle,
    });

  const width = opts.width ?? THEME.width;
  const height = opts.height ?? 520;
  return {
    data: [countTrace, shareTrace],
    layout: {
      ...baseLayout({
        title: opts.title ?? `Confusion matrix (${total.toLocaleString("en-US")} samples)`,
        width,
        height,
        legend: false,
        margin: { l: 96, r: 70, t: 90, b: 110 },
      }),
      xaxis: axisX(left, "y"),
      yaxis: axisY("x", true),
      xaxis2: axisX(right, "y2"),
      yaxis2: axisY("x2", false),
      annotations: [subplotTitle("Counts", left), subplotTitle("Share of each true class", right)],
    },
    config: plotlyConfig("confusion-matrix"),
  };
}

// ---------------------------------------------------------------------------
// Per-class precision / recall / F1 / support
// ---------------------------------------------------------------------------

/** Per-class numbers, also used by {@link classReport}. */
export interface ClassScores {
  className: string;
  precision: number;
  recall: number;
  f1: number;
  support: number;
}

/**
 * Precision, recall, F1 and support (number of true samples) per class.
 * A score without a denominator is undefined, NaN: the precision of a class
 * never predicted, the recall of a class not in the set (and their F1). The
 * averages of {@link classReport} leave such scores out.
 */
export function classScores(
  labels: ArrayLike<number>,
  predicted: ArrayLike<number>,
  classNames: readonly string[] = CLASS_NAMES,
): ClassScores[] {
  return scoresOf("classScores", labels, predicted, classNames);
}

function scoresOf(
  fn: string,
  labels: ArrayLike<number>,
  predicted: ArrayLike<number>,
  classNames: readonly string[],
): ClassScores[] {
  const names = classNameList(fn, "classNames", classNames);
  const k = names.length;
  const l = classList(fn, "labels", labels, k);
  const p = classList(fn, "predicted", predicted, k);
  sameLength(fn, { name: "labels", list: l }, { name: "predicted", list: p });
  const tp = new Array<number>(k).fill(0);
  const support = new Array<number>(k).fill(0);
  const predictedCount = new Array<number>(k).fill(0);
  for (let i = 0; i < l.length; i++) {
    support[l[i]]++;
    predictedCount[p[i]]++;
    if (l[i] === p[i]) tp[l[i]]++;
  }
  return names.map((className, c) => {
    const precision = predictedCount[c] === 0 ? NaN : tp[c] / predictedCount[c];
    const recall = support[c] === 0 ? NaN : tp[c] / support[c];
    const f1 = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
    return { className, precision, recall, f1, support: support[c] };
  });
}

/**
 * The per-class scores as a polars DataFrame with columns
 * class, precision, recall, f1, support, followed by two summary rows:
 * "macro avg" (plain mean over classes) and "weighted avg" (weighted by support),
 * each over the classes whose score is defined.
 */
export function classReport(
  labels: ArrayLike<number>,
  predicted: ArrayLike<number>,
  classNames: readonly string[] = CLASS_NAMES,
): pl.DataFrame {
  const rows = scoresOf("classReport", labels, predicted, classNames);
  const n = rows.reduce((s, r) => s + r.support, 0);
  const mean = (key: "precision" | "recall" | "f1", weighted: boolean) => {
    const defined = rows.filter((r) => !Number.isNaN(r[key]));
    const weight = (r: ClassScores) => (weighted ? r.support : 1);
    const total = defined.reduce((s, r) => s + weight(r), 0);
    return total === 0 ? NaN : defined.reduce((s, r) => s + r[key] * weight(r), 0) / total;
  };
  const all = [
    ...rows,
    {
      className: "macro avg",
      precision: mean("precision", false),
      recall: mean("recall", false),
      f1: mean("f1", false),
      support: n,
    },
    {
      className: "weighted avg",
      precision: mean("precision", true),
      recall: mean("recall", true),
      f1: mean("f1", true),
      support: n,
    },
  ];
  return pl.DataFrame({
    class: pl.Series(
      "class",
      all.map((r) => r.className),
      pl.Utf8,
    ),
    precision: pl.Series(
      "precision",
      all.map((r) => r.precision),
      pl.Float64,
    ),
    recall: pl.Series(
      "recall",
      all.map((r) => r.recall),
      pl.Float64,
    ),
    f1: pl.Series(
      "f1",
      all.map((r) => r.f1),
      pl.Float64,
    ),
    support: pl.Series(
      "support",
      all.map((r) => r.support),
      pl.Int64,
    ),
  });
}

// ---------------------------------------------------------------------------
// Class distribution of the splits
// ---------------------------------------------------------------------------

/** One data split for {@link classDistributionFigure}. */
export interface NamedLabels {
  /** e.g. "training", "validation", "test". */
  name: string;
  labels: ArrayLike<number>;
}

/**
 * How many samples of each class every split holds: grouped bars (one colour
 * per split), with each bar's share of its split in the hover text. A balanced
 * dataset shows bars of equal height within each split.
 */
export function classDistributionFigure(
  splits: readonly NamedLabels[],
  opts: { classNames?: readonly string[]; title?: string; width?: number; height?: number } = {},
): PlotlyFigure {
  const fn = "classDistributionFigure";
  const names = classNameList(fn, "opts.classNames", opts.classNames ?? CLASS_NAMES);
  if (!Array.isArray(splits) || splits.length === 0) {
    throw new Error(`${fn}: splits must be a non-empty array of {name, labels}`);
  }
  const seen = new Set<string>();
  const colors = [THEME.colors.train, THEME.colors.validation, THEME.colors.highlight, ...THEME.palette.slice(3)];
  const data: PlotlyTrace[] = splits.map((split, s) => {
    if (!split || typeof split !== "object") throw new Error(`${fn}: splits[${s}] must be an object {name, labels}`);
    if (typeof split.name !== "string" || split.name.trim() === "")
      throw new Error(`${fn}: splits[${s}].name must be a non-empty string`);
    if (seen.has(split.name)) throw new Error(`${fn}: splits[${s}].name "${split.name}" is used twice`);
    seen.add(split.name);
    const labels = classList(fn, `splits[${s}].labels`, split.labels, names.length);
    const counts = new Array<number>(names.length).fill(0);
    for (let i = 0; i < labels.length; i++) counts[labels[i]]++;
    return {
      type: "bar",
      name: `${split.name} (${labels.length.toLocaleString("en-US")})`,
      uid: `distribution-${s}`,
      x: [...names],
      y: counts,
      customdata: counts.map((c) => c / labels.length),
      marker: { color: colors[s % colors.length] },
      hovertemplate: `${split.name}<br>%{x}: %{y} samples (%{customdata:.1%})<extra></extra>`,
    };
  });
  return {
    data,
    layout: {
      ...baseLayout({
        title: opts.title ?? "Class distribution of the splits",
        width: opts.width ?? THEME.width,
        height: opts.height ?? THEME.height,
        margin: { b: 110 },
      }),
      barmode: "group",
      bargap: 0.2,
      xaxis: axisStyle("class", { tickangle: -30, showgrid: false }),
      yaxis: axisStyle("samples", { rangemode: "tozero" }),
      legend: { orientation: "h", x: 0.5, xanchor: "center", y: -0.35, yanchor: "top" },
    },
    config: plotlyConfig("class-distribution"),
  };
}

// ---------------------------------------------------------------------------
// Most confident mistakes
// ---------------------------------------------------------------------------

/** A misclassified sample, as picked by {@link confidentMistakes}. */
export interface Mistake {
  index: number;
  trueClass: number;
  predictedClass: number;
  /** The probability the model gave its (wrong) prediction. */
  confidence: number;
}

/**
 * The `count` misclassified samples with the highest predicted probability,
 * most confident first (ties broken by sample index).
 *
 * `probabilities` holds `classes` values per sample, row-major, as returned by
 * `predict`; the predicted class is the arg-max of each row.
 */
export function confidentMistakes(
  labels: ArrayLike<number>,
  probabilities: ArrayLike<number>,
  count = 10,
  classes = CLASS_NAMES.length,
): Mistake[] {
  return findMistakes("confidentMistakes", "labels", "probabilities", labels, probabilities, count, classes);
}

function findMistakes(
  fn: string,
  labelsName: string,
  probsName: string,
  labels: ArrayLike<number>,
  probabilities: ArrayLike<number>,
  count: number,
  classes: number,
): Mistake[] {
  if (!Number.isInteger(count) || count < 1)
    throw new Error(`${fn}: count must be a positive integer, got ${String(count)}`);
  const l = classList(fn, labelsName, labels, classes);
  if (!isList(probabilities) || probabilities.length === 0)
    throw new Error(`${fn}: ${probsName} must be a non-empty array`);
  if (probabilities.length !== l.length * classes) {
    throw new Error(
      `${fn}: ${probsName} has ${probabilities.length} values but ${labelsName} has ${l.length} samples x ${classes} classes = ${l.length * classes}`,
    );
  }
  const mistakes: Mistake[] = [];
  for (let i = 0; i < l.length; i++) {
    let best = 0;
    for (let c = 0; c < classes; c++) {
      const v = probabilities[i * classes + c];
      if (typeof v !== "number" || !Number.isFinite(v) || v < 0 || v > 1) {
        throw new Error(
          `${fn}: ${probsName}[${i * classes + c}] (sample ${i}, class ${c}) is ${describe(v)}, expected a probability in [0, 1]`,
        );
      }
      if (v > probabilities[i * classes + best]) best = c;
    }
    if (best !== l[i])
      mistakes.push({ index: i, trueClass: l[i], predictedClass: best, confidence: probabilities[i * classes + best] });
  }
  return mistakes.sort((a, b) => b.confidence - a.confidence || a.index - b.index).slice(0, count);
}

/**
 * The most confident mistakes as an image grid: each tile shows the image, its
 * true class, the prediction and the probability the model gave it.
 */
export function confidentMistakesGrid(
  set: LabeledImages,
  predictions: { probabilities: ArrayLike<number> },
  opts: { count?: number; classNames?: readonly string[]; columns?: number } = {},
): string {
  const fn = "confidentMistakesGrid";
  const names = classNameList(fn, "opts.classNames", opts.classNames ?? CLASS_NAMES);
  if (!set || typeof set !== "object") throw new Error(`${fn}: set must be {images, labels, count}`);
  if (!predictions || typeof predictions !== "object") throw new Error(`${fn}: predictions must be {probabilities}`);
  const pixels = PIXELS;
  if (!isList(set.images) || set.images.length !== set.count * pixels) {
    throw new Error(
      `${fn}: set.images must hold set.count x ${PIXELS} = ${set.count * pixels} values, got ${isList(set.images) ? set.images.length : "none"}`,
    );
  }
  if (!isList(set.labels) || set.labels.length !== set.count) {
    throw new Error(
      `${fn}: set.labels has ${isList(set.labels) ? set.labels.length : "no"} values but set.count is ${set.count}`,
    );
  }
  const picked = findMistakes(
    fn,
    "set.labels",
    "predictions.probabilities",
    set.labels,
    predictions.probabilities,
    opts.count ?? 10,
    names.length,
  );
  if (picked.length === 0) {
    return `<p style="font-family:${THEME.font.family.replace(/"/g, "'")}">No mistakes: every sample was classified correctly.</p>`;
  }
  const items: GridItem[] = picked.map((m) => ({
    pixels: set.images.subarray(m.index * pixels, (m.index + 1) * pixels),
    caption: `True: ${names[m.trueClass]}`,
    subcaption: `Predicted: ${names[m.predictedClass]} (${(m.confidence * 100).toFixed(1)}%) · #${m.index}`,
    tone: "bad",
  }));
  return imageGridHtml(items, {
    columns: opts.columns ?? 5,
    scale: 4,
    title:
      picked.length === 1
        ? "The mistake the model was most sure about"
        : `The ${picked.length} mistakes the model was most sure about`,
  });
}
