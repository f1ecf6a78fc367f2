// The project side of `npm run bench` (bench/run.ts drives it): trains the
// seed's model with lib/train.ts's fit, exactly as the notebook and the CLI do,
// one epoch per request from the harness, so epochs alternate with the Keras
// reference and both see the same machine noise.
//
// Protocol (one JSON object per line on stdout): {"ready": ...} after loading;
// then one {"epoch": ...} per "epoch" line read from stdin; on "finish" it
// evaluates on the test set, prints {"finish": ...} and exits.
import * as fs from "fs";
import * as readline from "readline";
import type * as Fm from "fashion-mnist-lib";
import { readCommandLine, wholeNumber } from "../scripts/cli";

function emit(obj: unknown): void {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

const NUMBERS = ["samples", "validation", "test", "epochs", "batch-size", "seed"] as const;
const USAGE = `usage: node build/bench/project_worker.js ${NUMBERS.map((n) => `--${n} N`).join(" ")} (started by npm run bench)`;

/** Each flag is required; a bad command line is answered on the protocol (an {"error"} line) and exit 2. */
function readArgs(): Record<(typeof NUMBERS)[number], number> {
  try {
    const { values } = readCommandLine(
      { options: Object.fromEntries(NUMBERS.map((n) => [n, { type: "string" as const }])) },
      USAGE,
    );
    return Object.fromEntries(
      NUMBERS.map((n) => [n, wholeNumber(`--${n}`, values[n] as string | undefined)]),
    ) as Record<(typeof NUMBERS)[number], number>;
  } catch (err) {
    emit({ error: `project_worker: ${(err as Error).message}` });
    process.exit(2);
  }
}

// The command line is read first; TensorFlow loads only after it was found good.
const args = readArgs();

const {
  tf,
  assertNativeBackend,
  runtimeVersions,
  loadFashionMnist,
  splitValidation,
  takeFirst,
  defaultCacheDir,
  createModel,
  fit,
  evaluate,
} = require("fashion-mnist-lib") as typeof Fm;

/** Peak resident set size of this process (VmHWM), in MB. */
export function peakRssMb(): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync("/proc/self/status", "utf8"));
    if (m) return Number(m[1]) / 1024;
  } catch {
    // not Linux: fall through
  }
  return process.resourceUsage().maxRSS / 1024;
}

const cpuSeconds = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

/**
 * Data loading: gunzip + checksum + parse of all four cached files and scaling
 * all 70,000 images to [0, 1], in lib's one-pass form (loadFashionMnist with
 * scale: true, the floats normalizeSet gives, with the scaling overlapping the
 * inflating). Neither side holds the raw bytes through training, as in the
 * Keras reference (`x = x.astype("float32") / 255` rebinds the name).
 */
async function loadScaled() {
  const t0 = performance.now();
  const data = await loadFashionMnist({ quiet: true, scale: true });
  return { trainAll: data.train, test: data.test, loadSeconds: (performance.now() - t0) / 1000 };
}

async function main(): Promise<void> {
  const { samples, validation: validationCount, test: testCount, epochs, "batch-size": batchSize, seed } = args;
  assertNativeBackend();

  const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  const waitFor = async (expected: string) => {
    const next = await lines.next();
    const line = next.done ? "<end of input>" : String(next.value).trim();
    if (line !== expected) throw new Error(`expected '${expected}' on stdin, got '${line}'`);
  };

  const { trainAll, test, loadSeconds } = await loadScaled();

  const { train: train48, validation: val12 } = splitValidation(trainAll, 12000);
  const train = takeFirst(train48, samples);
  const validation = takeFirst(val12, validationCount);
  const testSet = takeFirst(test, testCount);
  const model = createModel({ seed });
  emit({
    ready: {
      load_seconds: loadSeconds,
      peak_rss_mb: peakRssMb(),
      data_dir: defaultCacheDir(),
      params: model.countParams(),
      versions: runtimeVersions(),
    },
  });

  await waitFor("epoch");
  let cpu0 = cpuSeconds();
  const run = await fit(model, train, validation, {
    epochs,
    batchSize,
    seed,
    progress: "none",
    onEpochEnd: async (log) => {
      emit({
        epoch: {
          ...log,
          cpu_seconds: cpuSeconds() - cpu0,
          live_tensors: tf.memory().numTensors,
          peak_rss_mb: peakRssMb(),
        },
      });
      if (log.epoch < epochs) {
        await waitFor("epoch");
        cpu0 = cpuSeconds();
      }
    },
  });
  await waitFor("finish");
  const ev = evaluate(model, testSet);
  emit({
    finish: {
      test_loss: ev.loss,
      test_accuracy: ev.accuracy,
      peak_rss_mb: peakRssMb(),
      fit_seconds: run.seconds,
      trainer: run.trainer,
    },
  });
  model.dispose();
  lines.return?.();
  process.stdin.destroy();
}

main().catch((err: unknown) => {
  emit({ error: err instanceof Error ? err.message : String(err) });
  process.exit(1);
});
