// `npm run bench`: the project's training and a Keras reference of the seed,
// side by side in one invocation, on the same data, alternating epoch by epoch
// so machine noise hits both. Also data loading, notebook kernel start-up and a
// small notebook end to end. In full mode then whole processes
// (bench/processes.ts): pairs of the project's CLI and the Keras reference,
// alternating which goes first (the headline CPU-time ratio), and seconds per
// epoch over training sizes and batch sizes. Writes bench/results/<stamp>.json,
// a Plotly chart (.html, plotly.js embedded) and a Markdown table (.md).
//
//   npm run bench                        # 3 epochs x 48,000 samples, 3 pairs, scaling (~30 min)
//   npm run bench -- --quick             # 2 epochs x 6,000 samples, no pairs (~1 min)
//   npm run bench -- --epochs 10 --samples 48000 --label after
//   npm run bench -- --help
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as readline from "readline";
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from "child_process";
import { repoRoot, userPath } from "fashion-mnist-lib/dist/runtime/paths";
import { readCommandLine, runMain, UsageError, wholeNumber } from "../scripts/cli";
import { pairsMarkdown, runPairs, runScaling, scalingMarkdown, type PairsSummary, type ScalingRow } from "./processes";

const ROOT = repoRoot();
const BENCH_VENV = path.join(ROOT, ".venv-bench");
const BENCH_PY = path.join(BENCH_VENV, "bin", "python");
const REQUIREMENTS = path.join(ROOT, "bench", "requirements.txt");

export interface BenchOptions {
  epochs: number;
  samples: number;
  validation: number;
  test: number;
  batchSize: number;
  seed: number;
  /** Several seeds in one invocation (--seeds), for accuracy comparisons that need more than one run. */
  seeds: number[];
  /** yes: create .venv-bench if needed; if-installed: skip Keras when it is missing; no: skip. */
  keras: "yes" | "no" | "if-installed";
  notebook: boolean;
  /** Pairs of whole-process runs (CLI and Keras reference), alternating which goes first; 0 to skip. */
  pairs: number;
  /** Seconds per epoch over training sizes and batch sizes, both sides, whole processes. */
  scaling: boolean;
  outDir: string;
  label: string;
}

const HELP = `usage: npm run bench -- [options]

  --epochs N          epochs for both sides (default 3)
  --samples N         training samples, the first N of the 48,000 (default 48000)
  --validation N      validation samples from the last 12,000 (default samples/4, at most 12000)
  --test N            test samples (default 10000)
  --batch-size N      (default 32, the seed's)
  --seed N            initialization and shuffling seed (default 1)
  --seeds A,B,...     one full run per seed, one after the other, then a summary
                      across them (accuracy mean and spread of both sides, ratios)
  --quick             2 epochs x 6,000 samples, 1,500 validation, 2,000 test (about a minute)
  --keras MODE        yes (default; creates .venv-bench on first use) | if-installed | no
  --no-notebook       skip the notebook kernel start-up and end-to-end timings
  --pairs N           whole-process pairs after the side-by-side run: the project's CLI
                      and the Keras reference on the same settings, alternating which
                      goes first (default 3; 0 with --quick)
  --no-scaling        skip seconds per epoch at 6,000-48,000 images and batch 32-128
                      (both sides, whole processes; on by default, off with --quick)
  --out DIR           results folder (default bench/results)
  --label TEXT        added to the result file names
Data: the cached Fashion-MNIST files (FMNIST_DATA_DIR, default data/), downloaded
first from FASHION_MNIST_MIRROR or the official mirrors when missing.`;

export function parseArgs(argv: string[]): BenchOptions {
  const { values } = readCommandLine(
    {
      args: argv,
      options: {
        epochs: { type: "string" },
        samples: { type: "string" },
        validation: { type: "string" },
        test: { type: "string" },
        "batch-size": { type: "string" },
        seed: { type: "string" },
        seeds: { type: "string" },
        quick: { type: "boolean" },
        keras: { type: "string" },
        "no-notebook": { type: "boolean" },
        pairs: { type: "string" },
        "no-scaling": { type: "boolean" },
        out: { type: "string" },
        label: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    },
    HELP,
  );
  const int = (name: keyof typeof values, fallback: number, max: number) => {
    const v = values[name];
    return typeof v === "string" ? wholeNumber(`--${name}`, v, 1, max) : fallback;
  };
  const quick = values.quick === true;
  const o: BenchOptions = {
    epochs: int("epochs", quick ? 2 : 3, 1000),
    samples: int("samples", quick ? 6000 : 48000, 48000),
    validation: 0,
    test: int("test", quick ? 2000 : 10000, 10000),
    batchSize: int("batch-size", 32, 4096),
    seed: int("seed", 1, Number.MAX_SAFE_INTEGER),
    seeds: [],
    keras: "yes",
    notebook: values["no-notebook"] !== true,
    pairs: typeof values.pairs === "string" ? wholeNumber("--pairs", values.pairs, 0, 50) : quick ? 0 : 3,
    scaling: !quick && values["no-scaling"] !== true,
    outDir: values.out !== undefined ? userPath(values.out) : path.join(ROOT, "bench", "results"),
    label: (values.label ?? "").replace(/[^\w.-]+/g, "-"),
  };
  o.validation =
    values.validation !== undefined
      ? int("validation", 0, 12000)
      : quick
        ? 1500
        : Math.min(12000, Math.max(1, Math.floor(o.samples / 4)));
  if (values.seeds !== undefined) {
    o.seeds = values.seeds.split(",").map((x) => wholeNumber("--seeds", x.trim()));
    if (o.seeds.length < 2 || new Set(o.seeds).size !== o.seeds.length) {
      throw new UsageError(`--seeds needs two or more different seeds separated by commas, got ${values.seeds}`);
    }
  }
  if (values.keras !== undefined) {
    const m = values.keras;
    if (m !== "yes" && m !== "no" && m !== "if-installed")
      throw new UsageError(`--keras takes yes, no or if-installed, got ${m}`);
    o.keras = m;
  }
  return o;
}

// ---------------------------------------------------------------- workers

interface Worker {
  name: string;
  proc: ChildProcessWithoutNullStreams;
  next(): Promise<Record<string, unknown>>;
  send(line: string): void;
}

function startWorker(name: string, cmd: string, args: string[]): Worker {
  const proc = spawn(cmd, args, { cwd: ROOT, env: process.env, stdio: ["pipe", "pipe", "pipe"] });
  const stderr: string[] = [];
  proc.stderr.on("data", (d: Buffer) => {
    stderr.push(d.toString());
    if (stderr.length > 200) stderr.shift();
  });
  const lines = readline.createInterface({ input: proc.stdout })[Symbol.asyncIterator]();
  return {
    name,
    proc,
    async next() {
      for (;;) {
        const r = await lines.next();
        if (r.done)
          throw new Error(
            `${name} worker ended unexpectedly (exit ${proc.exitCode}). Its stderr:\n${stderr.join("").slice(-4000)}`,
          );
        const text = String(r.value).trim();
        if (!text.startsWith("{")) continue; // stray library output
        const msg = JSON.parse(text) as Record<string, unknown>;
        if (msg.error) throw new Error(`${name} worker: ${msg.error}\n${stderr.join("").slice(-2000)}`);
        return msg;
      }
    },
    send(line) {
      proc.stdin.write(line + "\n");
    },
  };
}

async function expect<T>(w: Worker, key: string): Promise<T> {
  const msg = await w.next();
  if (!(key in msg)) throw new Error(`${w.name} worker sent ${JSON.stringify(msg).slice(0, 200)}, expected "${key}"`);
  return msg[key] as T;
}

/** Creates .venv-bench (pinned TensorFlow + Keras) once; a stamp records the requirements it was built from. */
function ensureBenchVenv(mode: BenchOptions["keras"]): string | null {
  if (mode === "no") return "skipped: --keras no";
  const stamp = path.join(BENCH_VENV, ".requirements");
  const want = fs.readFileSync(REQUIREMENTS, "utf8");
  const ok = fs.existsSync(BENCH_PY) && fs.existsSync(stamp) && fs.readFileSync(stamp, "utf8") === want;
  if (ok) return null;
  if (mode === "if-installed") return "skipped: .venv-bench is not installed (run `npm run bench` once to create it)";
  console.error("[bench] creating .venv-bench with tensorflow-cpu and keras (bench/requirements.txt), once");
  const py = process.env.PYTHON ?? "python3";
  const run = (cmd: string, args: string[]) => {
    const r = spawnSync(cmd, args, { cwd: ROOT, stdio: ["ignore", "inherit", "inherit"] });
    if (r.status !== 0)
      throw new Error(
        `[bench] '${cmd} ${args.join(" ")}' failed (exit ${r.status}); fix the error above or pass --keras no`,
      );
  };
  if (!fs.existsSync(BENCH_PY)) run(py, ["-m", "venv", BENCH_VENV]);
  // The tensorflow-cpu wheel is usually cached by scripts/setup.sh already.
  run(BENCH_PY, [
    "-m",
    "pip",
    "install",
    "--quiet",
    "--disable-pip-version-check",
    "--find-links",
    path.join(ROOT, ".cache", "wheels"),
    "-r",
    REQUIREMENTS,
  ]);
  fs.writeFileSync(stamp, want);
  return null;
}

// ---------------------------------------------------------------- statistics

export interface EpochRecord {
  epoch: number;
  seconds: number;
  cpu_seconds: number;
  loss: number;
  accuracy: number;
  val_loss?: number;
  val_accuracy?: number;
  /** VmHWM after the epoch (how the peak grows over training). */
  peak_rss_mb?: number;
}

interface Finish {
  test_loss: number;
  test_accuracy: number;
  peak_rss_mb: number;
  /** Which of fit's trainers ran (the project side only). */
  trainer?: string;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length === 0 ? NaN : s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function sideSummary(epochs: EpochRecord[], finish: Finish, samples: number) {
  const secs = epochs.map((e) => e.seconds);
  const med = median(secs);
  return {
    epoch_seconds_median: med,
    epoch_seconds_min: Math.min(...secs),
    epoch_seconds_max: Math.max(...secs),
    cpu_seconds_median: median(epochs.map((e) => e.cpu_seconds)),
    samples_per_second: samples / med,
    peak_rss_mb: finish.peak_rss_mb,
    test_accuracy: finish.test_accuracy,
    final_val_accuracy: epochs[epochs.length - 1]?.val_accuracy ?? null,
  };
}

// ---------------------------------------------------------------- notebook

function notebookTimings(dataDir: string): Record<string, unknown> | string {
  const py = path.join(ROOT, ".venv", "bin", "python");
  if (!fs.existsSync(py)) return "skipped: .venv is missing (run npm run setup)";
  const start = spawnSync(py, [path.join(ROOT, "bench", "notebook_timing.py"), path.join(ROOT, "notebooks")], {
    cwd: ROOT,
    encoding: "utf8",
    timeout: 600_000,
  });
  if (start.status !== 0) throw new Error(`notebook kernel timing failed: ${start.stderr.slice(-2000)}`);
  const kernel = JSON.parse(start.stdout.trim().split("\n").pop() ?? "{}") as Record<string, number>;

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "fmnist-bench-"));
  try {
    const env = {
      ...process.env,
      FMNIST_TRAIN_LIMIT: "2000",
      FMNIST_TEST_LIMIT: "1000",
      FMNIST_EPOCHS: "1",
      FMNIST_DATA_DIR: tmp,
      FASHION_MNIST_MIRROR: dataDir,
    };
    const t0 = performance.now();
    const nb = spawnSync(
      py,
      [
        path.join(ROOT, "scripts", "run_notebook.py"),
        path.join(ROOT, "notebooks", "fashion-mnist-cnn.ipynb"),
        "--output",
        path.join(tmp, "out.ipynb"),
      ],
      { cwd: ROOT, env, encoding: "utf8", timeout: 900_000 },
    );
    const seconds = (performance.now() - t0) / 1000;
    if (nb.status !== 0) throw new Error(`notebook end-to-end run failed: ${(nb.stderr + nb.stdout).slice(-2000)}`);
    return {
      kernel_start_seconds: kernel.kernel_start_seconds,
      import_seconds: kernel.import_seconds,
      end_to_end_seconds: seconds,
      end_to_end_settings:
        "notebooks/fashion-mnist-cnn.ipynb, FMNIST_TRAIN_LIMIT=2000 FMNIST_TEST_LIMIT=1000 FMNIST_EPOCHS=1",
    };
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- output

function writeAtomic(file: string, text: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

const f = (v: unknown, d = 1) => (typeof v === "number" && Number.isFinite(v) ? v.toFixed(d) : "-");

export function markdownTable(r: BenchResult): string {
  const p = r.summary.project;
  const k = r.summary.keras;
  const row = (name: string, pv: string, kv: string) => `| ${name} | ${pv} | ${kv} |`;
  const lines = [
    `Run ${r.date} on ${r.machine.cpu} (${r.machine.cores} cores, load average ${r.machine.loadavg_start.map((x) => x.toFixed(1)).join("/")} at start)`,
    `Command: \`${r.command}\``,
    `Versions: ${Object.entries(r.versions.project)
      .map(([a, b]) => `${a} ${b}`)
      .join(", ")}` +
      (r.versions.keras
        ? `; reference: ${Object.entries(r.versions.keras)
            .map(([a, b]) => `${a} ${b}`)
            .join(", ")}`
        : ""),
    "",
    `| ${r.options.epochs} epochs x ${r.options.samples} samples, batch ${r.options.batchSize} | project (tfjs-node, ${r.project.finish.trainer ?? "?"} trainer) | Keras |`,
    "| --- | ---: | ---: |",
    row(
      "epoch seconds, median (min-max)",
      `${f(p.epoch_seconds_median)} (${f(p.epoch_seconds_min)}-${f(p.epoch_seconds_max)})`,
      k ? `${f(k.epoch_seconds_median)} (${f(k.epoch_seconds_min)}-${f(k.epoch_seconds_max)})` : "skipped",
    ),
    row("CPU seconds per epoch, median", f(p.cpu_seconds_median), k ? f(k.cpu_seconds_median) : "-"),
    row("samples/s", f(p.samples_per_second, 0), k ? f(k.samples_per_second, 0) : "-"),
    row("peak RSS, MB", f(p.peak_rss_mb, 0), k ? f(k.peak_rss_mb, 0) : "-"),
    row("test accuracy", f(p.test_accuracy * 100, 2) + "%", k ? f(k.test_accuracy * 100, 2) + "%" : "-"),
    row(
      "data loading, s (all 70,000 images)",
      f(r.data_loading.project_seconds, 2),
      f(r.data_loading.keras_numpy_seconds, 2),
    ),
    "",
    r.summary.ratio
      ? `Ratio project/Keras: epoch time ${f(r.summary.ratio.epoch_seconds, 2)} (per epoch pair: ${r.summary.ratio.per_epoch.map((x) => f(x, 2)).join(", ")}), CPU time ${f(r.summary.ratio.cpu_seconds, 2)}.`
      : `Keras reference ${r.keras_skipped}.`,
  ];
  if (r.notebook && typeof r.notebook === "object") {
    const n = r.notebook as Record<string, number | string>;
    lines.push(
      `Notebook: kernel start ${f(n.kernel_start_seconds, 2)} s, import cell ${f(n.import_seconds, 2)} s, small notebook end to end ${f(n.end_to_end_seconds, 1)} s.`,
    );
  } else if (typeof r.notebook === "string") {
    lines.push(`Notebook timings ${r.notebook}.`);
  }
  lines.push(
    "",
    typeof r.whole_process === "string" ? `Whole-process pairs ${r.whole_process}.` : pairsMarkdown(r.whole_process),
  );
  lines.push("", typeof r.scaling === "string" ? `Scaling ${r.scaling}.` : scalingMarkdown(r.scaling));
  return lines.join("\n") + "\n";
}

export function chartHtml(r: BenchResult): string {
  const plotly = fs.readFileSync(require.resolve("plotly.js-dist-min"), "utf8").replace(/<\/script/gi, "<\\/script");
  const sides = [
    ["project (tfjs-node)", r.project.epochs, "#2563eb"],
    ["Keras", r.keras?.epochs ?? [], "#dc2626"],
  ] as const;
  const traces = sides.flatMap(([name, epochs, color]) =>
    epochs.length === 0
      ? []
      : [
          {
            type: "bar",
            name: `${name}: wall s`,
            x: epochs.map((e) => e.epoch),
            y: epochs.map((e) => e.seconds),
            marker: { color },
          },
          {
            type: "scatter",
            mode: "markers",
            name: `${name}: CPU s`,
            x: epochs.map((e) => e.epoch),
            y: epochs.map((e) => e.cpu_seconds),
            marker: { color, symbol: "diamond", size: 10 },
          },
        ],
  );
  const layout = {
    title: { text: `Seconds per epoch, ${r.options.samples} samples, batch ${r.options.batchSize} (${r.date})` },
    barmode: "group",
    xaxis: { title: { text: "epoch" }, dtick: 1 },
    yaxis: { title: { text: "seconds" }, rangemode: "tozero" },
    template: { layout: { font: { family: "sans-serif" } } },
  };
  const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;");
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>Benchmark ${esc(r.date)}</title>
<script>${plotly}</script></head>
<body><div id="chart" style="width:900px;height:500px"></div>
<pre>${esc(markdownTable(r))}</pre>
<script>Plotly.newPlot("chart", ${JSON.stringify(traces)}, ${JSON.stringify(layout)});</script>
</body></html>
`;
}

export interface BenchResult {
  schema: 1;
  date: string;
  command: string;
  options: BenchOptions;
  machine: { cpu: string; cores: number; memory_gb: number; loadavg_start: number[]; loadavg_end: number[] };
  versions: { project: Record<string, string>; keras: Record<string, string> | null };
  project: { ready: Record<string, unknown>; epochs: EpochRecord[]; finish: Finish };
  keras: { ready: Record<string, unknown>; epochs: EpochRecord[]; finish: Finish } | null;
  keras_skipped: string | null;
  data_loading: { project_seconds: number; keras_numpy_seconds: number | null };
  notebook: Record<string, unknown> | string;
  /** Whole processes (bench/processes.ts): pairs on these settings, and the scaling table. */
  whole_process: PairsSummary | string;
  scaling: ScalingRow[] | string;
  summary: {
    project: ReturnType<typeof sideSummary>;
    keras: ReturnType<typeof sideSummary> | null;
    ratio: { epoch_seconds: number; cpu_seconds: number; per_epoch: number[] } | null;
  };
}

// ---------------------------------------------------------------- several seeds

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
/** Sample standard deviation (n - 1). */
const sd = (xs: number[]) => {
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / Math.max(1, xs.length - 1));
};

export interface SeedsSummary {
  date: string;
  command: string;
  runs: {
    seed: number;
    file: string;
    project_accuracy: number;
    keras_accuracy: number | null;
    difference: number | null;
    epoch_ratio: number | null;
    cpu_ratio: number | null;
    project_peak_rss_mb: number;
    keras_peak_rss_mb: number | null;
  }[];
  project_accuracy: { mean: number; sd: number };
  keras_accuracy: { mean: number; sd: number } | null;
  /** Project minus Keras, in accuracy (not points): mean over seeds and its standard error. */
  difference: { mean: number; standard_error: number } | null;
  epoch_ratio_median: number | null;
  cpu_ratio_median: number | null;
}

/** Accuracy and speed across seeds: one seed's accuracy gap says little when Keras alone varies by a point. */
export function seedsSummary(
  runs: { seed: number; file: string; result: BenchResult }[],
  command: string,
): SeedsSummary {
  const rows = runs.map(({ seed, file, result: r }) => ({
    seed,
    file,
    project_accuracy: r.summary.project.test_accuracy,
    keras_accuracy: r.summary.keras?.test_accuracy ?? null,
    difference: r.summary.keras ? r.summary.project.test_accuracy - r.summary.keras.test_accuracy : null,
    epoch_ratio: r.summary.ratio?.epoch_seconds ?? null,
    cpu_ratio: r.summary.ratio?.cpu_seconds ?? null,
    project_peak_rss_mb: r.summary.project.peak_rss_mb,
    keras_peak_rss_mb: r.summary.keras?.peak_rss_mb ?? null,
  }));
  const withKeras = rows.every((x) => x.keras_accuracy !== null);
  const p = rows.map((x) => x.project_accuracy);
  const k = rows.map((x) => x.keras_accuracy ?? NaN);
  const d = rows.map((x) => x.difference ?? NaN);
  return {
    date: new Date().toISOString(),
    command,
    runs: rows,
    project_accuracy: { mean: mean(p), sd: sd(p) },
    keras_accuracy: withKeras ? { mean: mean(k), sd: sd(k) } : null,
    difference: withKeras ? { mean: mean(d), standard_error: sd(d) / Math.sqrt(d.length) } : null,
    epoch_ratio_median: withKeras ? median(rows.map((x) => x.epoch_ratio ?? NaN)) : null,
    cpu_ratio_median: withKeras ? median(rows.map((x) => x.cpu_ratio ?? NaN)) : null,
  };
}

export function seedsMarkdown(s: SeedsSummary): string {
  const pct = (v: number | null) => (v === null ? "-" : f(v * 100, 2) + "%");
  const lines = [
    `Seeds summary ${s.date}`,
    `Command: \`${s.command}\``,
    "",
    "| seed | project test accuracy | Keras test accuracy | difference, points | epoch ratio | CPU ratio | peak RSS project / Keras, MB |",
    "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...s.runs.map(
      (r) =>
        `| ${r.seed} | ${pct(r.project_accuracy)} | ${pct(r.keras_accuracy)} | ` +
        `${r.difference === null ? "-" : f(r.difference * 100, 2)} | ${f(r.epoch_ratio, 2)} | ${f(r.cpu_ratio, 2)} | ` +
        `${f(r.project_peak_rss_mb, 0)} / ${f(r.keras_peak_rss_mb, 0)} |`,
    ),
    `| mean (sd) | ${pct(s.project_accuracy.mean)} (${f(s.project_accuracy.sd * 100, 2)}) | ` +
      `${s.keras_accuracy ? `${pct(s.keras_accuracy.mean)} (${f(s.keras_accuracy.sd * 100, 2)})` : "-"} | ` +
      `${s.difference ? `${f(s.difference.mean * 100, 2)} ± ${f(s.difference.standard_error * 100, 2)} (s.e.)` : "-"} | ` +
      `${f(s.epoch_ratio_median, 2)} (median) | ${f(s.cpu_ratio_median, 2)} (median) | |`,
  ];
  return lines.join("\n") + "\n";
}

// ---------------------------------------------------------------- main

export async function runBench(o: BenchOptions, command: string): Promise<{ result: BenchResult; files: string[] }> {
  const date = new Date().toISOString();
  const loadStart = os.loadavg();
  const kerasSkipped = ensureBenchVenv(o.keras);
  if (kerasSkipped) console.error(`[bench] Keras reference ${kerasSkipped}`);

  const common = [
    "--samples",
    o.samples,
    "--validation",
    o.validation,
    "--test",
    o.test,
    "--epochs",
    o.epochs,
    "--batch-size",
    o.batchSize,
    "--seed",
    o.seed,
  ].map(String);
  const project = startWorker("project", process.execPath, [path.join(__dirname, "project_worker.js"), ...common]);
  const workers: Worker[] = [project];
  try {
    const pReady = await expect<Record<string, unknown>>(project, "ready");
    console.error(`[bench] project ready: data loaded in ${f(pReady.load_seconds, 2)} s`);
    let keras: Worker | null = null;
    let kReady: Record<string, unknown> | null = null;
    if (!kerasSkipped) {
      keras = startWorker("keras", BENCH_PY, [
        path.join(ROOT, "bench", "keras_reference.py"),
        "--data-dir",
        String(pReady.data_dir),
        ...common,
      ]);
      workers.push(keras);
      kReady = await expect<Record<string, unknown>>(keras, "ready");
      console.error(
        `[bench] keras ready: TensorFlow ${(kReady.versions as Record<string, string>).tensorflow}, imports ${f(kReady.import_seconds, 1)} s`,
      );
    }
    const pEpochs: EpochRecord[] = [];
    const kEpochs: EpochRecord[] = [];
    for (let e = 1; e <= o.epochs; e++) {
      // Alternate who goes first so a slow stretch of the machine does not always hit the same side.
      const order: [Worker, EpochRecord[]][] = [[project, pEpochs]];
      if (keras) order.push([keras, kEpochs]);
      if (e % 2 === 0) order.reverse();
      for (const [w, list] of order) {
        w.send("epoch");
        const rec = await expect<EpochRecord>(w, "epoch");
        list.push(rec);
        console.error(
          `[bench] epoch ${e}/${o.epochs} ${w.name.padEnd(7)} ${f(rec.seconds, 2)} s (CPU ${f(rec.cpu_seconds, 1)} s) ` +
            `loss ${f(rec.loss, 4)} val_accuracy ${f(rec.val_accuracy, 4)}`,
        );
      }
    }
    project.send("finish");
    const pFinish = await expect<Finish>(project, "finish");
    let kFinish: Finish | null = null;
    if (keras) {
      keras.send("finish");
      kFinish = await expect<Finish>(keras, "finish");
    }
    for (const w of workers) w.proc.kill(); // (finished) out of the way of the whole-process runs
    const notebook = o.notebook ? notebookTimings(String(pReady.data_dir)) : "skipped: --no-notebook";
    const dataDir = String(pReady.data_dir);
    const log = (line: string) => console.error(`[bench] ${line}`);
    const settings = {
      samples: o.samples,
      validation: o.validation,
      test: o.test,
      epochs: o.epochs,
      batchSize: o.batchSize,
      seed: o.seed,
    };
    const noKeras = kerasSkipped ? `skipped: Keras reference ${kerasSkipped}` : null;
    const wholeProcess =
      o.pairs === 0 ? "skipped: --pairs 0" : (noKeras ?? (await runPairs(settings, o.pairs, dataDir, BENCH_PY, log)));
    const scaling = !o.scaling
      ? "skipped (--no-scaling or --quick)"
      : (noKeras ?? (await runScaling(settings, [6000, 12000, 24000, 48000], [32, 64, 128], dataDir, BENCH_PY, log)));
    const pSum = sideSummary(pEpochs, pFinish, o.samples);
    const kSum = kFinish ? sideSummary(kEpochs, kFinish, o.samples) : null;
    const perEpoch = kFinish ? pEpochs.map((p, i) => p.seconds / kEpochs[i].seconds) : [];
    const result: BenchResult = {
      schema: 1,
      date,
      command,
      options: o,
      machine: {
        cpu: os.cpus()[0]?.model ?? "?",
        cores: os.cpus().length,
        memory_gb: os.totalmem() / 2 ** 30,
        loadavg_start: loadStart,
        loadavg_end: os.loadavg(),
      },
      versions: {
        project: pReady.versions as Record<string, string>,
        keras: (kReady?.versions as Record<string, string>) ?? null,
      },
      project: { ready: pReady, epochs: pEpochs, finish: pFinish },
      keras: kReady && kFinish ? { ready: kReady, epochs: kEpochs, finish: kFinish } : null,
      keras_skipped: kerasSkipped,
      data_loading: {
        project_seconds: Number(pReady.load_seconds),
        keras_numpy_seconds: kReady ? Number(kReady.load_seconds) : null,
      },
      notebook,
      whole_process: wholeProcess,
      scaling,
      summary: {
        project: pSum,
        keras: kSum,
        ratio: kSum
          ? {
              epoch_seconds: median(perEpoch),
              cpu_seconds: pSum.cpu_seconds_median / kSum.cpu_seconds_median,
              per_epoch: perEpoch,
            }
          : null,
      },
    };
    const stamp = date.replace(/[:]/g, "").replace(/\..*/, "") + (o.label ? `-${o.label}` : "");
    const base = path.join(o.outDir, stamp);
    const files = [`${base}.json`, `${base}.html`, `${base}.md`];
    writeAtomic(files[0], JSON.stringify(result, null, 2) + "\n");
    writeAtomic(files[1], chartHtml(result));
    writeAtomic(files[2], markdownTable(result));
    return { result, files };
  } finally {
    for (const w of workers) if (w.proc.exitCode === null) w.proc.kill();
  }
}

if (require.main === module) {
  runMain("bench", async () => {
    const argv = process.argv.slice(2);
    const o = parseArgs(argv);
    // Settings that change what is measured are part of the command.
    const env = ["FMNIST_TRAINER", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "TF_ENABLE_ONEDNN_OPTS"]
      .filter((k) => process.env[k] !== undefined)
      .map((k) => `${k}=${process.env[k]} `)
      .join("");
    const command = env + ["npm run bench", ...(argv.length ? ["--", ...argv] : [])].join(" ");
    if (o.seeds.length === 0) {
      const { result, files } = await runBench(o, command);
      console.log(markdownTable(result));
      console.log(`Results: ${files.map((x) => path.relative(ROOT, x)).join(", ")}`);
      return;
    }
    const runs: { seed: number; file: string; result: BenchResult }[] = [];
    for (const [i, seed] of o.seeds.entries()) {
      console.error(`[bench] seed ${seed} (${i + 1} of ${o.seeds.length})`);
      // The notebook timings do not depend on the seed: once is enough.
      const one = {
        ...o,
        seed,
        notebook: o.notebook && i === 0,
        pairs: 0, // (--seeds compares side by side per seed; the pairs already take a seed each)
        scaling: false,
        label: [o.label, `seed${seed}`].filter(Boolean).join("-"),
      };
      const { result, files } = await runBench(one, command);
      console.log(markdownTable(result));
      runs.push({ seed, file: path.relative(ROOT, files[0]), result });
    }
    const summary = seedsSummary(runs, command);
    const base = path.join(
      o.outDir,
      summary.date.replace(/[:]/g, "").replace(/\..*/, "") + `-${[o.label, "seeds"].filter(Boolean).join("-")}`,
    );
    writeAtomic(`${base}.json`, JSON.stringify(summary, null, 2) + "\n");
    writeAtomic(`${base}.md`, seedsMarkdown(summary));
    console.log(seedsMarkdown(summary));
    console.log(`Summary: ${path.relative(ROOT, base)}.json, .md`);
  });
}
