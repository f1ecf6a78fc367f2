// The public API of fashion-mnist-lib: `import * as fm from "fashion-mnist-lib"`.
// Grouped by the path the data takes (ARCHITECTURE.md shows it). Anything not
// listed here is internal: tests reach it as "fashion-mnist-lib/dist/<module>",
// and users should not need it.

// Runtime: TensorFlow (the native backend, checked), run settings, where things live.
export { tf, assertNativeBackend, runtimeVersions } from "./tf";
export { runConfig, type RunConfig } from "./config";
export { dataDir } from "./paths";
export { checkMemory, estimateRunMemoryMb, isOutOfMemory, OutOfMemoryError } from "./memory";

// Data: what a sample is, download and cache, IDX files, loading, scaling, splitting.
export { IMAGE_SIZE, PIXELS, CLASSES, CLASS_NAMES, type LabeledImages } from "./samples";
export {
  fetchToCache,
  CacheDirError,
  DownloadError,
  type FetchOptions,
  type FetchResult,
  type Progress,
} from "./download";
export { parseImages, parseLabels, IdxError, type IdxImages, type IdxLabels } from "./idx";
export {
  loadFashionMnist,
  defaultCacheDir,
  normalize,
  normalizeSet,
  splitValidation,
  takeFirst,
  valueRange,
  FILES,
  type FashionMnist,
  type LoadOptions,
} from "./dataset";

// Model: the seed's network, its summary, saving and loading (with the optimizer's state), checkpoints.
export {
  createModel,
  compileModel,
  kernelInitializers,
  summarize,
  summaryText,
  summaryHtml,
  type ModelOptions,
} from "./model";
export { saveModel, loadModel, modelsDir, checkSaveTarget } from "./persist";
export { readCheckpoint, checkpointsDir, type CheckpointInfo } from "./checkpoint";

// Training: fit (native fast path or tfjs-layers, progress, checkpoints, resume), evaluate, predict.
export {
  fit,
  evaluate,
  predict,
  historyFrame,
  toCurves,
  firstMistakePerClass,
  type EpochLog,
  type Evaluation,
  type Predictions,
  type ProgressMode,
  type TrainOptions,
  type TrainResult,
} from "./train";

// Evaluation: one object for a model on a set, and the counts and scores behind it.
export { interpret, Interpretation } from "./interpretation";
export { confusionMatrix, accuracyOf, perClassAccuracy, topConfusions, type Confusion } from "./metrics";
export { classScores, classReport, confidentMistakes, type ClassScores, type Mistake } from "./evaluation-plots";

// Display: notebook output (one MIME type per message, plain text outside a notebook), charts, images, tables.
export {
  showPlotly,
  showHtml,
  showPng,
  showMarkdown,
  showText,
  showJson,
  liveDisplay,
  inNotebook,
  escapeHtml,
  PLOTLY_MIME,
} from "./display";
export { trainingCurves, bestEpochOf, type PlotlyFigure, type TrainingCurvesOptions } from "./plots";
export { confusionMatrixFigure, classDistributionFigure, confidentMistakesGrid } from "./evaluation-plots";
export { encodePng, imageToPng, imageGridPng, imageGridHtml, type GridItem } from "./images";
export { showSummary, showFrame, frameHtml, sampleGrid, mistakesGrid, observations, plural } from "./views";
export { runFacts, runFactsMarkdown, RUN_FACTS_KIND, type RunFacts } from "./run-facts";
