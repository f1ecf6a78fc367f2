/**
 * Evaluation figures: the confusion matrix as heatmaps, the class distribution
 * of the data splits, and a grid of the mistakes the model was most sure about.
 * Figures are plain Plotly JSON (show them with `showPlotly`), the grid a
 * self-contained HTML fragment (show it with `showHtml`). Input is checked as
 * evaluation/scores.ts checks it.
 */
import { CLASS_NAMES, PIXELS, type LabeledImages } from "../data/samples";
import { imageGridHtml, type GridItem } from "./images";
import { axisStyle, baseLayout, plotlyConfig, subplotTitle, THEME, type PlotlyFigure, type PlotlyTrace } from "./plots";
import { classList, classNameList, countMatrix, findMistakes, isList } from "../evaluation/scores";

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
 * `confusionMatrix(labels, predicted)`. Show it with {@link showPlotly}.
 *
 * @throws Error when the matrix is not square with one row per class name,
 *   holds a value that is not a non-negative whole number, or is all zeros.
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
 *
 * @throws Error when `splits` is empty, a split has no name or a name used
 *   twice, or its labels are empty or not class indices.
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

/**
 * The misclassified samples the model was most sure of, as an HTML grid of
 * captioned images (true class, predicted class and its probability in %),
 * most confident first: `opts.count` of them (default 10) in `opts.columns`
 * columns. Self-contained (PNG data URLs); show it with {@link showHtml}. A
 * set without mistakes gives a one-line note instead.
 *
 * @throws Error when the set's images or labels do not match its count, the
 *   probabilities are not 10 per sample, a probability is outside [0, 1], or
 *   `opts.count` is not a positive whole number.
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
