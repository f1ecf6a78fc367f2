// Whether we are in a notebook, which decides how long work reports progress.
// The notebook reporters are display/live.ts's: when the package loads
// (index.ts imports it) it puts them into the slots data and training keep for
// them (data/dataset.ts's notebookDownload, training/progress.ts's
// notebookTraining), so data and training never import display.

let notebookOverride: boolean | undefined;

/**
 * True when running inside the tslab Jupyter kernel, which is started as
 * `node .../tslab kernel --config-path <connection file>`: then the show*
 * functions send notebook outputs, otherwise they print text. Tests can force
 * the answer with `setNotebookOverride` (fashion-mnist-lib/dist/display/display).
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
