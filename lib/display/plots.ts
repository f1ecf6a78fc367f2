/**
 * Plotly figures as plain JSON-ready data (`{data, layout, config}`), and the
 * theme every chart of the project shares (THEME, baseLayout, axisStyle,
 * plotlyConfig, subplotTitle), so that they all look alike. The figures
 * themselves are built in training-curves.ts and evaluation-figures.ts; pass
 * them to `showPlotly` from ./display.
 */

/** One Plotly trace. Only the fields the builders rely on are typed. */
export interface PlotlyTrace {
  type: string;
  name?: string;
  x?: unknown[];
  y?: unknown[];
  [key: string]: unknown;
}

/** A Plotly annotation (the subset used here, plus anything else Plotly accepts). */
export interface PlotlyAnnotation {
  text: string;
  x: number | string;
  y: number | string;
  xref?: string;
  yref?: string;
  [key: string]: unknown;
}

/** A Plotly layout (loosely typed; the common fields are spelled out). */
export interface PlotlyLayout {
  title?: { text: string; [key: string]: unknown };
  width?: number;
  height?: number;
  annotations?: PlotlyAnnotation[];
  shapes?: Record<string, unknown>[];
  [key: string]: unknown;
}

/**
 * A Plotly chart as JupyterLab's `application/vnd.plotly.v1+json` renderer
 * takes it: traces (`data`), `layout` and an optional `config`, plain JSON.
 * The figure functions return one; {@link showPlotly} shows it.
 */
export interface PlotlyFigure {
  /** The traces: lines, bars, heatmaps... */
  data: PlotlyTrace[];
  /** Titles, axes, size in pixels, margins, annotations. */
  layout: PlotlyLayout;
  /** Plotly's display options (mode bar, responsiveness). */
  config?: Record<string, unknown>;
}

// ---------------------------------------------------------------------------
// Theme
// ---------------------------------------------------------------------------

/** Colours, fonts and default sizes shared by all charts. */
export const THEME = {
  font: {
    family: 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif',
    size: 12,
    color: "#2b2b2b",
  },
  titleSize: 16,
  subtitleSize: 13,
  colors: {
    /** Training series. */
    train: "#1f77b4",
    /** Validation series. */
    validation: "#ff7f0e",
    /** Highlights such as the best epoch. */
    highlight: "#2ca02c",
    /** Correct / incorrect, e.g. for confusion-matrix diagonals and errors. */
    good: "#2e7d32",
    bad: "#c62828",
    grid: "#e6e6e6",
    axisLine: "#9e9e9e",
    muted: "#6b6b6b",
    background: "#ffffff",
  },
  /** A ten-colour categorical palette (one per Fashion-MNIST class). */
  palette: [
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
  ],
  /** A sequential colour scale for heatmaps (white to deep blue). */
  sequential: [
    [0, "#ffffff"],
    [0.25, "#d6e6f4"],
    [0.5, "#8fbfe0"],
    [0.75, "#3b88c4"],
    [1, "#08306b"],
  ] as [number, string][],
  /** Default figure size, fitting a JupyterLab notebook column. */
  width: 900,
  height: 380,
} as const;

/** Options for {@link baseLayout}. */
export interface BaseLayoutOptions {
  title?: string;
  width?: number;
  height?: number;
  /** Plot margins in pixels. */
  margin?: { l?: number; r?: number; t?: number; b?: number };
  /** Show the legend (horizontal, centred below the plots). Default true. */
  legend?: boolean;
}

/** A themed layout to start any chart from; spread more fields over it. */
export function baseLayout(opts: BaseLayoutOptions = {}): PlotlyLayout {
  const margin = { l: 64, r: 24, t: opts.title ? 72 : 40, b: 64, ...opts.margin };
  const layout: PlotlyLayout = {
    width: opts.width ?? THEME.width,
    height: opts.height ?? THEME.height,
    autosize: false,
    margin,
    font: { ...THEME.font },
    paper_bgcolor: THEME.colors.background,
    plot_bgcolor: THEME.colors.background,
    hovermode: "closest",
    hoverlabel: { font: { family: THEME.font.family } },
    showlegend: opts.legend ?? true,
    legend: { orientation: "h", x: 0.5, xanchor: "center", y: -0.2, yanchor: "top", font: { size: 12 } },
  };
  if (opts.title) {
    layout.title = {
      text: opts.title,
      x: 0,
      xref: "paper",
      xanchor: "left",
      y: 0.98,
      yref: "container",
      yanchor: "top",
      font: { size: THEME.titleSize },
    };
  }
  return layout;
}

/** A themed axis with a title; `extra` fields override the defaults. */
export function axisStyle(title: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    title: { text: title, standoff: 8 },
    showline: true,
    linecolor: THEME.colors.axisLine,
    linewidth: 1,
    mirror: false,
    ticks: "outside",
    ticklen: 4,
    tickcolor: THEME.colors.axisLine,
    showgrid: true,
    gridcolor: THEME.colors.grid,
    zeroline: false,
    automargin: true,
    ...extra,
  };
}

/** A centred title above one subplot whose x domain is `[x0, x1]` (paper coordinates). */
export function subplotTitle(text: string, domain: readonly [number, number]): PlotlyAnnotation {
  return {
    text: `<b>${text}</b>`,
    x: (domain[0] + domain[1]) / 2,
    y: 1,
    xref: "paper",
    yref: "paper",
    xanchor: "center",
    yanchor: "bottom",
    yshift: 6,
    showarrow: false,
    font: { size: THEME.subtitleSize },
  };
}

/** Plotly config shared by all charts: no logo, PNG export named `filename`. */
export function plotlyConfig(filename = "chart"): Record<string, unknown> {
  return {
    displaylogo: false,
    responsive: true,
    modeBarButtonsToRemove: ["lasso2d", "select2d"],
    toImageButtonOptions: { format: "png", filename, scale: 2 },
  };
}
