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
import { tf, assertNativeBackend, runtimeVersions } from "fashion-mnist-lib/dist/tf";
import { loadFashionMnist, splitValidation, takeFirst, defaultCacheDir } from "fashion-mnist-lib/dist/dataset";
import { createModel } from "fashion-mnist-lib/dist/model";
import { fit, evaluate } from "fashion-mnist-lib/dist/train";

function emit(obj: unknown): void {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

function arg(name: string): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : NaN;
  if (!Number.isInteger(v) || v <= 0) {
    emit({ error: `project_worker: --${name} needs a positive integer, got ${process.argv[i + 1]}` });
    process.exit(2);
  }
  return v;
}

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
  const samples = arg("samples");
  const validationCount = arg("validation");
  const testCount = arg("test");
  const epochs = arg("epochs");
  const batchSize = arg("batch-size");
  const seed = arg("seed");
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
      emit({ epoch: { ...log, cpu_seconds: cpuSeconds() - cpu0, live_tensors: tf.memory().numTensors, peak_rss_mb: peakRssMb() } });
      if (log.epoch < epochs) {
        await waitFor("epoch");
        cpu0 = cpuSeconds();
      }
    },
  });
  await waitFor("finish");
  const ev = evaluate(model, testSet);
  emit({ finish: { test_loss: ev.loss, test_accuracy: ev.accuracy, peak_rss_mb: peakRssMb(), fit_seconds: run.seconds } });
  model.dispose();
  lines.return?.();
  process.stdin.destroy();
}

main().catch((err: unknown) => {
  emit({ error: err instanceof Error ? err.message : String(err) });
  process.exit(1);
});
