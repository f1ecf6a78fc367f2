// The bench's whole-process comparisons (bench/run.ts, full mode): the
// project's CLI (`node build/scripts/train.js`, what `npm run train` runs) and
// the Keras reference (bench/keras_reference.py) each as a process of its own,
// start-up, data loading, training and test included, on the same data and
// epochs. bench/measure_process.py runs each and reads its CPU time and peak
// memory from the kernel's accounting (wait4), so the headline ratio is of
// what a user waits for and pays, not of a loop inside one process.
//
// - pairs: N pairs of full runs, alternating which side goes first (the
//   machine is noisy: a slow stretch should not always hit the same side);
// - scaling: seconds per epoch at several training sizes and batch sizes, for
//   both sides (a pair per setting), to show how each side's cost grows.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as readline from "readline";
import { spawn } from "child_process";
import { repoRoot } from "fashion-mnist-lib/dist/runtime/paths";

const ROOT = repoRoot();
const PYTHON = path.join(ROOT, ".venv", "bin", "python");
const MEASURE = path.join(ROOT, "bench", "measure_process.py");
const TRAIN_JS = path.join(ROOT, "build", "scripts", "train.js");

export type Side = "project" | "keras";

/** One training run's settings (the same for both sides). */
export interface RunSettings {
  samples: number;
  validation: number;
  test: number;
  epochs: number;
  batchSize: number;
  seed: number;
}

export interface ProcessRun {
  side: Side;
  settings: RunSettings;
  wall_seconds: number;
  cpu_seconds: number;
  user_seconds: number;
  system_seconds: number;
  peak_rss_mb: number;
  /** Each epoch's own seconds, as the side reports them (training and validation). */
  epoch_seconds: number[];
  /** From the process's start to its first training step: start-up, imports, data, model. */
  first_step_seconds: number;
  test_accuracy: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length === 0 ? NaN : s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** The command line of one side (the Keras side also needs its stdin script: `kerasInput`). */
function command(side: Side, s: RunSettings, dataDir: string, kerasPython: string): string[] {
  if (side === "project")
    return [
      process.execPath,
      TRAIN_JS,
      ...["--epochs", s.epochs, "--batch-size", s.batchSize, "--seed", s.seed].map(String),
      // The first samples + validation images, the last `validation` of them held out: for 48,000 +
      // 12,000 the same images as the Keras side's (its first N of the 48,000, first V of the last 12,000).
      ...["--train-limit", s.samples + s.validation, "--validation", s.validation, "--test-limit", s.test].map(String),
      "--save",
      "",
    ];
  return [
    kerasPython,
    path.join(ROOT, "bench", "keras_reference.py"),
    "--data-dir",
    dataDir,
    ...["--samples", s.samples, "--validation", s.validation, "--test", s.test].map(String),
    ...["--epochs", s.epochs, "--batch-size", s.batchSize, "--seed", s.seed].map(String),
  ];
}

/** Runs one side as a whole process (bounded by `timeoutMs`) and reads what it reports and what it cost. */
export async function runProcess(
  side: Side,
  s: RunSettings,
  dataDir: string,
  kerasPython: string,
  timeoutMs = 60 * 60_000,
): Promise<ProcessRun> {
  const out = path.join(os.tmpdir(), `fmnist-bench-${process.pid}-${side}-${Date.now()}.json`);
  const argv = [MEASURE, out, "--", ...command(side, s, dataDir, kerasPython)];
  // The project's CLI reads the cached files from FMNIST_DATA_DIR (the folder the Keras side reads).
  const env = { ...process.env, FMNIST_DATA_DIR: path.dirname(dataDir), TF_CPP_MIN_LOG_LEVEL: "2" };
  const started = performance.now();
  const child = spawn(PYTHON, argv, { cwd: ROOT, env, stdio: ["pipe", "pipe", "pipe"] });
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const stderr: string[] = [];
  child.stderr.on("data", (d: Buffer) => {
    stderr.push(d.toString());
    if (stderr.length > 100) stderr.shift();
  });
  if (side === "keras") child.stdin.end("epoch\n".repeat(s.epochs) + "finish\n");
  else child.stdin.end();
  const epochs: number[] = [];
  let firstEpochEnd = NaN;
  let accuracy = NaN;
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  for await (const line of readline.createInterface({ input: child.stdout })) {
    const at = (performance.now() - started) / 1000;
    let seconds: number | undefined;
    if (side === "project") {
      const epoch = /^Epoch \d+\/\d+ - ([\d.]+)s/.exec(line);
      if (epoch) seconds = Number(epoch[1]);
      const test = /^Test accuracy: ([\d.]+)%/.exec(line);
      if (test) accuracy = Number(test[1]) / 100;
    } else if (line.startsWith("{")) {
      const msg = JSON.parse(line) as Record<string, Record<string, number> | string>;
      if (typeof msg.error === "string") throw new Error(`keras reference: ${msg.error}`);
      if (typeof msg.epoch === "object") seconds = msg.epoch.seconds;
      if (typeof msg.finish === "object") accuracy = msg.finish.test_accuracy;
    }
    if (seconds !== undefined) {
      if (epochs.length === 0) firstEpochEnd = at;
      epochs.push(seconds);
    }
  }
  const code = await exited;
  clearTimeout(timer);
  const tail = stderr.join("").slice(-3000);
  if (code !== 0) throw new Error(`${side} run (${JSON.stringify(s)}) exited with ${code}:\n${tail}`);
  const cost = JSON.parse(fs.readFileSync(out, "utf8")) as Omit<ProcessRun, "side" | "settings">;
  fs.rmSync(out, { force: true });
  if (epochs.length !== s.epochs || !Number.isFinite(accuracy))
    throw new Error(`${side} run reported ${epochs.length} of ${s.epochs} epochs, test accuracy ${accuracy}:\n${tail}`);
  return {
    side,
    settings: s,
    wall_seconds: cost.wall_seconds,
    cpu_seconds: cost.cpu_seconds,
    user_seconds: cost.user_seconds,
    system_seconds: cost.system_seconds,
    peak_rss_mb: cost.peak_rss_mb,
    epoch_seconds: epochs,
    first_step_seconds: firstEpochEnd - epochs[0],
    test_accuracy: accuracy,
  };
}

export interface Pair {
  first: Side;
  project: ProcessRun;
  keras: ProcessRun;
  /** project / Keras */
  cpu_ratio: number;
  wall_ratio: number;
  epoch_ratio: number;
}

/** One pair: both sides on the same settings, `first` going first. */
export async function runPair(
  s: RunSettings,
  first: Side,
  dataDir: string,
  kerasPython: string,
  log: (line: string) => void,
): Promise<Pair> {
  const runs: Partial<Record<Side, ProcessRun>> = {};
  for (const side of first === "project" ? (["project", "keras"] as const) : (["keras", "project"] as const)) {
    const r = await runProcess(side, s, dataDir, kerasPython);
    runs[side] = r;
    log(
      `${side.padEnd(7)} ${s.samples} samples, batch ${s.batchSize}, ${s.epochs} epochs: wall ${r.wall_seconds.toFixed(1)} s, ` +
        `CPU ${r.cpu_seconds.toFixed(1)} s, epochs ${r.epoch_seconds.map((x) => x.toFixed(1)).join("/")} s, ` +
        `first step at ${r.first_step_seconds.toFixed(1)} s, peak ${r.peak_rss_mb.toFixed(0)} MB, test ${(r.test_accuracy * 100).toFixed(2)}%`,
    );
  }
  const p = runs.project!;
  const k = runs.keras!;
  return {
    first,
    project: p,
    keras: k,
    cpu_ratio: p.cpu_seconds / k.cpu_seconds,
    wall_ratio: p.wall_seconds / k.wall_seconds,
    epoch_ratio: median(p.epoch_seconds) / median(k.epoch_seconds),
  };
}

const spread = (xs: number[]) => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs) });

export interface PairsSummary {
  settings: RunSettings;
  pairs: Pair[];
  cpu_ratio: ReturnType<typeof spread>;
  wall_ratio: ReturnType<typeof spread>;
  epoch_ratio: ReturnType<typeof spread>;
  project: { peak_rss_mb: number; test_accuracy: number; first_step_seconds: number; cpu_seconds: number };
  keras: { peak_rss_mb: number; test_accuracy: number; first_step_seconds: number; cpu_seconds: number };
}

function sideMedians(runs: ProcessRun[]) {
  return {
    peak_rss_mb: median(runs.map((r) => r.peak_rss_mb)),
    /** The mean over the pairs' seeds. */
    test_accuracy: runs.reduce((a, r) => a + r.test_accuracy, 0) / runs.length,
    first_step_seconds: median(runs.map((r) => r.first_step_seconds)),
    cpu_seconds: median(runs.map((r) => r.cpu_seconds)),
  };
}

/**
 * `count` pairs on the same settings but the seed (pair i uses seed + i, the same on both sides:
 * the accuracies then compare over several initializations), the first side alternating.
 */
export async function runPairs(
  s: RunSettings,
  count: number,
  dataDir: string,
  kerasPython: string,
  log: (line: string) => void,
): Promise<PairsSummary> {
  const pairs: Pair[] = [];
  for (let i = 0; i < count; i++) {
    log(`pair ${i + 1} of ${count}`);
    pairs.push(await runPair({ ...s, seed: s.seed + i }, i % 2 === 0 ? "project" : "keras", dataDir, kerasPython, log));
  }
  return {
    settings: s,
    pairs,
    cpu_ratio: spread(pairs.map((p) => p.cpu_ratio)),
    wall_ratio: spread(pairs.map((p) => p.wall_ratio)),
    epoch_ratio: spread(pairs.map((p) => p.epoch_ratio)),
    project: sideMedians(pairs.map((p) => p.project)),
    keras: sideMedians(pairs.map((p) => p.keras)),
  };
}

export interface ScalingRow {
  samples: number;
  batch_size: number;
  /** Seconds of the faster of the two epochs: the first carries each side's warm-up, and either may hold
   *  one of Keras's occasional stalls (a second epoch of 20 s against its usual 10 s was seen here). */
  project_epoch_seconds: number;
  keras_epoch_seconds: number;
  project_cpu_seconds: number;
  keras_cpu_seconds: number;
  epoch_ratio: number;
}

/** Per-epoch seconds over training sizes (batch 32) and batch sizes (at the largest size), 2 epochs each. */
export async function runScaling(
  base: RunSettings,
  sizes: number[],
  batches: number[],
  dataDir: string,
  kerasPython: string,
  log: (line: string) => void,
): Promise<ScalingRow[]> {
  const settings: RunSettings[] = [
    ...sizes.map((samples) => ({ ...base, samples, validation: Math.floor(samples / 4), batchSize: 32 })),
    ...batches
      .filter((b) => b !== 32)
      .map((batchSize) => ({ ...base, samples: Math.max(...sizes), validation: Math.max(...sizes) / 4, batchSize })),
  ].map((s) => ({ ...s, epochs: 2 }));
  const rows: ScalingRow[] = [];
  for (const [i, s] of settings.entries()) {
    const pair = await runPair(s, i % 2 === 0 ? "project" : "keras", dataDir, kerasPython, log);
    const fastest = (r: ProcessRun) => Math.min(...r.epoch_seconds);
    rows.push({
      samples: s.samples,
      batch_size: s.batchSize,
      project_epoch_seconds: fastest(pair.project),
      keras_epoch_seconds: fastest(pair.keras),
      project_cpu_seconds: pair.project.cpu_seconds,
      keras_cpu_seconds: pair.keras.cpu_seconds,
      epoch_ratio: fastest(pair.project) / fastest(pair.keras),
    });
  }
  return rows;
}

const f = (v: number, d = 2) => (Number.isFinite(v) ? v.toFixed(d) : "-");

export function pairsMarkdown(p: PairsSummary): string {
  const s = p.settings;
  const pct = (v: number) => `${f(v * 100, 2)}%`;
  return [
    `Whole processes: ${p.pairs.length} pairs of \`npm run train\`'s CLI and the Keras reference, ` +
      `${s.epochs} epochs x ${s.samples} samples (validation ${s.validation}, test ${s.test}), batch ${s.batchSize}, ` +
      `seeds ${s.seed}-${s.seed + p.pairs.length - 1} (one per pair):`,
    "",
    "| pair (first) | CPU s project / Keras | ratio | wall s project / Keras | ratio | epoch ratio | peak MB project / Keras | test accuracy project / Keras |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...p.pairs.map(
      (x, i) =>
        `| ${i + 1} (${x.first}) | ${f(x.project.cpu_seconds, 1)} / ${f(x.keras.cpu_seconds, 1)} | ${f(x.cpu_ratio)} | ` +
        `${f(x.project.wall_seconds, 1)} / ${f(x.keras.wall_seconds, 1)} | ${f(x.wall_ratio)} | ${f(x.epoch_ratio)} | ` +
        `${f(x.project.peak_rss_mb, 0)} / ${f(x.keras.peak_rss_mb, 0)} | ${pct(x.project.test_accuracy)} / ${pct(x.keras.test_accuracy)} |`,
    ),
    "",
    `Ratio project/Keras, median (range): CPU time ${f(p.cpu_ratio.median)} (${f(p.cpu_ratio.min)}-${f(p.cpu_ratio.max)}), ` +
      `wall time ${f(p.wall_ratio.median)} (${f(p.wall_ratio.min)}-${f(p.wall_ratio.max)}), ` +
      `per epoch ${f(p.epoch_ratio.median)} (${f(p.epoch_ratio.min)}-${f(p.epoch_ratio.max)}). ` +
      `Time to the first training step: project ${f(p.project.first_step_seconds, 1)} s, Keras ${f(p.keras.first_step_seconds, 1)} s. ` +
      `Peak memory (median): project ${f(p.project.peak_rss_mb, 0)} MB, Keras ${f(p.keras.peak_rss_mb, 0)} MB. ` +
      `Mean test accuracy over the seeds: project ${pct(p.project.test_accuracy)}, Keras ${pct(p.keras.test_accuracy)} ` +
      `(difference ${f((p.project.test_accuracy - p.keras.test_accuracy) * 100, 2)} points).`,
  ].join("\n");
}

export function scalingMarkdown(rows: ScalingRow[]): string {
  return [
    "Seconds per epoch (the faster of two; whole processes, a pair per row):",
    "",
    "| training images | batch | project s/epoch | Keras s/epoch | ratio | CPU s (whole run) project / Keras |",
    "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ...rows.map(
      (r) =>
        `| ${r.samples} | ${r.batch_size} | ${f(r.project_epoch_seconds)} | ${f(r.keras_epoch_seconds)} | ${f(r.epoch_ratio)} | ` +
        `${f(r.project_cpu_seconds, 1)} / ${f(r.keras_cpu_seconds, 1)} |`,
    ),
  ].join("\n");
}
