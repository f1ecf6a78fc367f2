/**
 * Rich output for notebooks, with a plain-text fallback everywhere else.
 *
 * Inside the tslab kernel the show* functions send one MIME bundle through
 * tslab's `display` object (one MIME type per message). Outside it (CLI
 * scripts, `node --test`) they print a one-line summary to stdout instead and
 * never throw, so library code can call them unconditionally.
 *
 * `tslab` is only loaded when we are actually inside the kernel: requiring it
 * elsewhere would pull in the TypeScript compiler and ZeroMQ for nothing.
 */

import type * as Tslab from "tslab";
import type { PlotlyFigure } from "./plots";
import { inNotebook } from "../runtime/reporting";
import { pngSize } from "./png";

// Notebook detection lives in runtime/ (data and training ask it too); tests reach its hooks here.
export { inNotebook, isTslabKernelArgv, setNotebookOverride } from "../runtime/reporting";

// No runtime imports from other lib/ modules: ./images imports escapeHtml from
// here, and tslab's loader for local modules cannot resolve import cycles (it
// recurses until the stack overflows), unlike plain node.

/** The MIME type JupyterLab's Plotly renderer (from the Python plotly package) handles, and {@link showPlotly} sends. */
export const PLOTLY_MIME = "application/vnd.plotly.v1+json";

/** The subset of tslab's `Display` used here. */
export interface DisplaySink {
  html(s: string): void;
  markdown(s: string): void;
  png(b: Uint8Array): void;
  text(s: string): void;
  raw(contentType: string, b: string | Uint8Array): unknown;
}

/** Where notebook output goes: tslab's module, or a stand-in in tests. */
export interface DisplayBackend {
  display: DisplaySink;
  newDisplay(): DisplaySink;
}

/** The show* methods, shared by the module-level functions and {@link liveDisplay}. */
export interface Shower {
  /** A Plotly figure (`{data, layout, config?}`), rendered by JupyterLab's Plotly MIME renderer. */
  showPlotly(fig: PlotlyFigure): void;
  /** An HTML fragment. Use {@link escapeHtml} for any text placed in it. */
  showHtml(html: string): void;
  /** PNG file bytes (e.g. from `encodePng`). */
  showPng(bytes: Uint8Array): void;
  /** Markdown text (printed as is outside a notebook). */
  showMarkdown(md: string): void;
  /** Plain text. */
  showText(text: string): void;
  /** A JSON value (`application/json`, JupyterLab's collapsible JSON viewer; safe when untrusted). */
  showJson(value: unknown): void;
}

// ---------------------------------------------------------------------------
// Environment detection and test hooks
// ---------------------------------------------------------------------------

let backendOverride: DisplayBackend | undefined;
let textWriter: ((line: string) => void) | undefined;

/**
 * Replaces tslab as the destination of notebook output (for tests);
 * `undefined` restores tslab. Only used while {@link inNotebook} is true.
 */
export function setDisplayBackend(backend: DisplayBackend | undefined): void {
  backendOverride = backend;
}

/**
 * Replaces the writer for the plain-text fallback (default: a line on stdout);
 * `undefined` restores the default.
 */
export function setTextOutput(write: ((line: string) => void) | undefined): void {
  textWriter = write;
}

function writeLine(line: string): void {
  try {
    if (textWriter) textWriter(line);
    else process.stdout.write(line.endsWith("\n") ? line : `${line}\n`);
  } catch {
    // Output is best effort; a closed stdout must not break training.
  }
}

function backend(): DisplayBackend {
  if (backendOverride) return backendOverride;
  // Inside the kernel, tslab hooks require('tslab') to return its own live instance.

  return require("tslab") as typeof Tslab;
}

// ---------------------------------------------------------------------------
// HTML escaping
// ---------------------------------------------------------------------------

const HTML_ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/** Escapes `& < > " '` so `s` (any value, turned into a string) is safe as HTML text or a quoted attribute value. */
export function escapeHtml(s: unknown): string {
  return String(s).replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]);
}

// ---------------------------------------------------------------------------
// Text summaries for the terminal
// ---------------------------------------------------------------------------

function formatBytes(n: number): string {
  return n < 1024 ? `${n} B` : `${(n / 1024).toFixed(1)} kB`;
}

function oneLine(s: string, max = 100): string {
  const flat = s.replace(/\s+/g, " ").trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/** A one-line description of a Plotly figure. */
export function summarizePlotly(fig: unknown): string {
  if (!fig || typeof fig !== "object") return "[plotly] (not a figure)";
  const f = fig as { data?: unknown; layout?: { title?: unknown } };
  const traces = Array.isArray(f.data) ? (f.data as { name?: unknown }[]) : [];
  const rawTitle = f.layout?.title;
  const title =
    typeof rawTitle === "string"
      ? rawTitle
      : rawTitle && typeof rawTitle === "object" && typeof (rawTitle as { text?: unknown }).text === "string"
        ? (rawTitle as { text: string }).text
        : "";
  const names = [...new Set(traces.map((t) => (t && typeof t.name === "string" ? t.name : "")).filter(Boolean))];
  const label = title ? `${oneLine(title.replace(/<[^>]*>/g, " "), 80)}: ` : "";
  const named = names.length ? ` (${names.join(", ")})` : "";
  return `[plotly] ${label}${traces.length} trace${traces.length === 1 ? "" : "s"}${named}`;
}

/** A one-line description of an HTML fragment: its visible text, shortened. */
export function summarizeHtml(html: string): string {
  const text = String(html)
    .replace(/<(script|style)\b[\s\S]*?<\/\1\s*>/gi, " ")
    .replace(/<[^>]*>/g, " ")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, "&");
  const images = (String(html).match(/<img\b/gi) ?? []).length;
  const parts = [oneLine(text, 80) || "(no text)"];
  if (images) parts.push(`${images} image${images === 1 ? "" : "s"}`);
  parts.push(formatBytes(Buffer.byteLength(String(html))));
  return `[html] ${parts.join(", ")}`;
}

/** A one-line description of PNG bytes. */
export function summarizePng(bytes: Uint8Array): string {
  const size = bytes instanceof Uint8Array ? pngSize(bytes) : undefined;
  const length = bytes instanceof Uint8Array ? bytes.length : 0;
  return size
    ? `[png] ${size.width}x${size.height}, ${formatBytes(length)}`
    : `[png] ${formatBytes(length)} (not a PNG)`;
}

/** Turns typed arrays into plain arrays so the figure survives JSON serialisation intact. */
function plainJson(fig: PlotlyFigure): PlotlyFigure {
  return JSON.parse(
    JSON.stringify(fig, (_key, value: unknown) =>
      ArrayBuffer.isView(value) && !(value instanceof DataView)
        ? Array.from(value as unknown as ArrayLike<number>)
        : value,
    ),
  ) as PlotlyFigure;
}

// ---------------------------------------------------------------------------
// Showing things
// ---------------------------------------------------------------------------

type Rich =
  | { mime: "plotly"; fig: PlotlyFigure }
  | { mime: "html" | "markdown" | "text"; s: string }
  | { mime: "png"; b: Uint8Array }
  | { mime: "json"; value: unknown };

function summarize(item: Rich): string {
  switch (item.mime) {
    case "plotly":
      return summarizePlotly(item.fig);
    case "html":
      return summarizeHtml(item.s);
    case "png":
      return summarizePng(item.b);
    case "markdown":
    case "text":
      return String(item.s);
    case "json":
      return JSON.stringify(item.value, null, 2);
  }
}

function send(sink: DisplaySink, item: Rich): void {
  switch (item.mime) {
    case "plotly":
      // tslab passes non-Uint8Array payloads through untouched, so the figure goes
      // out as a JSON object; its declared parameter type is just narrower.
      sink.raw(PLOTLY_MIME, plainJson(item.fig) as unknown as string);
      return;
    case "html":
      sink.html(String(item.s));
      return;
    case "png":
      sink.png(item.b);
      return;
    case "markdown":
      sink.markdown(String(item.s));
      return;
    case "text":
      sink.text(String(item.s));
      return;
    case "json":
      // Like the Plotly figure: tslab forwards a non-Uint8Array payload as is.
      sink.raw("application/json", JSON.parse(JSON.stringify(item.value)) as string);
      return;
  }
}

/**
 * Sends `item` to the notebook when in one, otherwise prints its summary.
 * Any failure (no kernel, "Not ready" outside a cell, a bad figure) falls back
 * to the text summary rather than throwing.
 */
function emit(item: Rich, getSink: () => DisplaySink, printText: (line: string) => void): void {
  if (inNotebook()) {
    try {
      send(getSink(), item);
      return;
    } catch (err) {
      printText(`${safeSummary(item)}  [display failed: ${err instanceof Error ? err.message : String(err)}]`);
      return;
    }
  }
  printText(safeSummary(item));
}

function safeSummary(item: Rich): string {
  try {
    return summarize(item);
  } catch {
    return `[${item.mime}]`;
  }
}

function makeShower(getSink: () => DisplaySink, printText: (line: string) => void): Shower {
  return {
    showPlotly: (fig) => emit({ mime: "plotly", fig }, getSink, printText),
    showHtml: (html) => emit({ mime: "html", s: html }, getSink, printText),
    showPng: (bytes) => emit({ mime: "png", b: bytes }, getSink, printText),
    showMarkdown: (md) => emit({ mime: "markdown", s: md }, getSink, printText),
    showText: (text) => emit({ mime: "text", s: text }, getSink, printText),
    showJson: (value) => emit({ mime: "json", value }, getSink, printText),
  };
}

const shared = makeShower(() => backend().display, writeLine);

/**
 * Shows an interactive Plotly chart in the notebook as one
 * `application/vnd.plotly.v1+json` output, drawn by JupyterLab's Plotly
 * renderer (the Python `plotly` package where the Jupyter server runs) and
 * turned into an interactive chart, or a picture, by every HTML export of the
 * project. Outside a notebook it prints a one-line summary of the figure
 * instead. Never throws: a figure the kernel cannot send is reported as that
 * summary with the reason.
 *
 * @example
 * ```ts
 * const result = await fm.fit(model, train, validation);
 * fm.showPlotly(fm.trainingCurves(fm.toCurves(result.history)));
 * fm.showPlotly(fm.confusionMatrixFigure(fm.interpret(model, test).confusion));
 * ```
 *
 * @param fig - the figure: traces, layout and optional config, as the figure functions return them.
 * @function
 */
export const showPlotly: (fig: PlotlyFigure) => void = shared.showPlotly;
/**
 * Shows an HTML fragment (`text/html`; escape text put in it with {@link
 * escapeHtml}); prints its text outside a notebook. Never throws.
 *
 * @function
 */
export const showHtml: (html: string) => void = shared.showHtml;
/**
 * Shows a PNG file's bytes (`image/png`, e.g. from {@link encodePng}); prints
 * its size in pixels outside a notebook. Never throws.
 *
 * @function
 */
export const showPng: (bytes: Uint8Array) => void = shared.showPng;
/**
 * Shows Markdown (`text/markdown`); prints it as is outside a notebook. Never
 * throws.
 *
 * @function
 */
export const showMarkdown: (md: string) => void = shared.showMarkdown;
/**
 * Shows plain text (`text/plain`); prints it outside a notebook. Never throws.
 *
 * @function
 */
export const showText: (text: string) => void = shared.showText;
/**
 * Shows a JSON value (`application/json`, JupyterLab's collapsible viewer);
 * prints it indented outside a notebook. Never throws.
 *
 * @function
 */
export const showJson: (value: unknown) => void = shared.showJson;

/**
 * An output area that each call overwrites (tslab's `newDisplay()`), for live
 * views such as training curves updated every epoch. The output is created on
 * the first show* call, so create the live display in the cell that shows it.
 *
 * Outside a notebook it prints the text summary, skipping a line identical to
 * the previous one so per-batch updates do not flood the terminal. Returns an
 * object with the same show* functions as the module (showPlotly, showHtml, ...).
 */
export function liveDisplay(): Shower {
  let sink: DisplaySink | undefined;
  let lastLine: string | undefined;
  let showingPlotly = false;
  const getSink = () => (sink ??= backend().newDisplay());
  const shower = makeShower(getSink, (line) => {
    if (line === lastLine) return;
    lastLine = line;
    writeLine(line);
  });
  // JupyterLab hands an updated output of the same MIME type to the renderer
  // already on the page, and Plotly's renderer ignores any figure after its
  // first one: a live chart would stay at its first state (the training curves
  // at epoch 1). Replacing it with a one-line text version first makes
  // JupyterLab drop that renderer and draw the new figure with a fresh one.
  const tracked =
    <A extends unknown[]>(show: (...args: A) => void, plotly: boolean) =>
    (...args: A): void => {
      show(...args);
      showingPlotly = plotly;
    };
  return {
    showPlotly: tracked((fig: PlotlyFigure) => {
      if (showingPlotly && inNotebook()) {
        try {
          getSink().text(summarizePlotly(fig));
        } catch {
          // The figure itself is sent next, with its own fallback on failure.
        }
      }
      shower.showPlotly(fig);
    }, true),
    showHtml: tracked(shower.showHtml, false),
    showPng: tracked(shower.showPng, false),
    showMarkdown: tracked(shower.showMarkdown, false),
    showText: tracked(shower.showText, false),
    showJson: tracked(shower.showJson, false),
  };
}
