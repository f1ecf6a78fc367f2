/**
 * The public API of fashion-mnist-lib: `import * as fm from "fashion-mnist-lib"`.
 * Grouped by the path the data takes (ARCHITECTURE.md shows it). Anything not
 * listed here is internal: tests reach it as `fashion-mnist-lib/dist/<module>`,
 * and users should not need it.
 *
 * `fm.tf` is TensorFlow.js on its native backend (the `@tensorflow/tfjs-node`
 * namespace, loaded after the library's checks): its reference is
 * TensorFlow.js's own API documentation, so this site leaves it out.
 *
 * @module fashion-mnist-lib
 */

// Runtime: TensorFlow (the native backend, checked), run settings, where things live.
export { tf, assertNativeBackend, runtimeVersions } from "./runtime/tf";
export { runConfig, type RunConfig } from "./runtime/config";
export { dataDir } from "./runtime/paths";
export {
  checkMemory,
  estimateRunMemoryMb,
  memoryLimits,
  isOutOfMemory,
  OutOfMemoryError,
  MemoryLimitError,
  type MemoryLimit,
} from "./runtime/memory";

// Data: what a sample is, download and cache, IDX files, loading, scaling, splitting.
export { IMAGE_SIZE, PIXELS, CLASSES, CLASS_NAMES, type LabeledImages } from "./data/samples";
export {
  fetchToCache,
  CacheDirError,
  DownloadError,
  type FetchOptions,
  type FetchResult,
  type Progress,
} from "./data/download";
export { parseImages, parseLabels, IdxError, type IdxImages, type IdxLabels } from "./data/idx";
export { InvalidInputError, type InputPart } from "./data/checks";
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
} from "./data/dataset";

// Model: the seed's network, its summary, saving and loading (with the optimizer's state), checkpoints.
export {
  createModel,
  compileModel,
  kernelInitializers,
  summarize,
  summaryText,
  type ModelOptions,
} from "./model/model";
export { saveModel, loadModel, modelsDir, checkSaveTarget } from "./model/persist";
export { readCheckpoint, checkpointsDir, CheckpointError, type CheckpointInfo } from "./training/checkpoint";

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
} from "./training/train";

// Evaluation: one object for a model on a set, and the counts and scores behind it.
export { interpret, Interpretation } from "./evaluation/interpretation";
export { confusionMatrix, accuracyOf, perClassAccuracy, topConfusions, type Confusion } from "./evaluation/metrics";
export { classScores, classReport, confidentMistakes, type ClassScores, type Mistake } from "./evaluation/scores";

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
} from "./display/display";
export { type PlotlyFigure } from "./display/plots";
export { trainingCurves, bestEpochOf, type TrainingCurvesOptions } from "./display/training-curves";
export { confusionMatrixFigure, classDistributionFigure, confidentMistakesGrid } from "./display/evaluation-figures";
export { encodePng, imageToPng, imageGridPng, imageGridHtml, type GridItem } from "./display/images";
export {
  showSummary,
  summaryHtml,
  showFrame,
  frameHtml,
  sampleGrid,
  mistakesGrid,
  observations,
  plural,
} from "./display/views";
// The notebook's live views of downloads and training register themselves here.
import "./display/live";
export { runFacts, runFactsMarkdown, RUN_FACTS_KIND, type RunFacts } from "./display/run-facts";
// The trained model in the page: grids, index, drawing pad, image file; TensorFlow.js and the weights embedded.
export {
  showModelPanel,
  modelPanelHtml,
  modelPanelSummary,
  type ModelPanelOptions,
  type ModelPanelInfo,
} from "./display/model-panel";

// In a notebook kernel, the heap is collected as cells leave garbage (runtime/kernel-heap.ts says why).
import { inNotebook as inKernel } from "./runtime/reporting";
import { keepHeapNearLive } from "./runtime/kernel-heap";
import { killedRuns } from "./runtime/unfinished";
if (inKernel()) {
  keepHeapNearLive();
  // A kernel the system killed mid-run: its restart's import cell says so (stderr shows in the cell).
  for (const message of killedRuns()) console.warn(message);
}
