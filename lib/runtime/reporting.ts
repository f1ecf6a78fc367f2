// Where long work reports progress, and whether we are in a notebook. Data
// loading and training ask here for their reporters; the notebook ones live in
// display/live.ts, which registers them when the package loads (index.ts
// imports it), so data and training never import display.
import type { Progress } from "../data/download";
import type { TrainingProgress } from "../training/train";

let notebookOverride: boolean | undefined;

/**
 * True when running inside the tslab Jupyter kernel, which is started as
 * `node .../tslab kernel --config-path <connection file>`.
 * {@link setNotebookOverride} forces the answer (for tests).
 */
export function inNotebook(): boolean {
  if (notebookOverride !== undefined) return notebookOverride;
  return isTslabKernelArgv(process.argv);
}

/** The argv test behind {@link inNotebook}, exposed for unit tests. */
export function isTslabKernelArgv(argv: readonly string[]): boolean {
  const script = argv[1] ?? "";
  const isTslab = /(^|[\\/])tslab(\.js|\.cmd)?$/i.test(script) || /[\\/]tslab[\\/](bin|dist)[\\/]/i.test(script);
  if (!isTslab) return false;
  const rest = argv.slice(2);
  return rest.includes("kernel") && rest.some((a) => a === "--config-path" || a.startsWith("--config-path="));
}

/** Forces {@link inNotebook} to return `value`; `undefined` restores detection. */
export function setNotebookOverride(value: boolean | undefined): void {
  notebookOverride = value;
}

/** The notebook reporters display/live.ts registers. */
export const notebookReporters: {
  download?: (label: string) => (p: Progress) => void;
  training?: (epochs: number, steps: number) => TrainingProgress;
} = {};
