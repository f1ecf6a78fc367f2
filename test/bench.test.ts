// Smoke run of the benchmark harness (`npm run bench`) with minimal sizes: it
// must run both sides end to end and write well-formed results. No timing
// assertions: timings on a shared machine say nothing about correctness.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import { spawnSync } from "child_process";
import { repoRoot, makeTempDir, removeDir, sharedDataDir } from "./helpers";
import { parseArgs, median, seedsSummary, seedsMarkdown, type BenchResult } from "../bench/run";
import { runProcess } from "../bench/processes";

test("bench options: defaults, --quick and bad values", () => {
  const d = parseArgs([]);
  assert.equal(d.epochs, 3);
  assert.equal(d.samples, 48000);
  assert.equal(d.validation, 12000);
  assert.equal(d.batchSize, 32);
  const q = parseArgs(["--quick"]);
  assert.deepEqual([q.epochs, q.samples, q.validation, q.test], [2, 6000, 1500, 2000]);
  assert.equal(parseArgs(["--samples", "400"]).validation, 100);
  assert.deepEqual([d.pairs, d.scaling, q.pairs, q.scaling], [3, true, 0, false]);
  assert.equal(parseArgs(["--pairs", "5", "--no-scaling"]).scaling, false);
  assert.throws(() => parseArgs(["--pairs", "two"]), /--pairs needs a whole number from 0 to 50/);
  assert.throws(() => parseArgs(["--samples", "50000"]), /--samples needs a whole number from 1 to 48000, got "50000"/);
  assert.throws(() => parseArgs(["--epochs", "x"]), /--epochs/);
  assert.throws(() => parseArgs(["--keras", "maybe"]), /--keras takes yes, no or if-installed/);
  assert.throws(() => parseArgs(["--fast"]), /Unknown option .--fast./);
  assert.deepEqual(parseArgs(["--seeds", "1, 2,5"]).seeds, [1, 2, 5]);
  assert.throws(() => parseArgs(["--seeds", "3"]), /--seeds needs two or more different seeds/);
  assert.throws(() => parseArgs(["--seeds", "1,1"]), /--seeds needs two or more different seeds/);
  assert.throws(() => parseArgs(["--seeds", "1,x"]), /--seeds needs a whole number/);
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 2, 3]), 2.5);
});

test("the seeds summary: accuracy mean and spread per side, the mean difference and its standard error", () => {
  const run = (seed: number, project: number, keras: number, ratio: number) => ({
    seed,
    file: `r${seed}.json`,
    result: {
      summary: {
        project: { test_accuracy: project, peak_rss_mb: 800 },
        keras: { test_accuracy: keras, peak_rss_mb: 1000 },
        ratio: { epoch_seconds: ratio, cpu_seconds: ratio + 0.05, per_epoch: [] },
      },
    } as unknown as BenchResult,
  });
  const s = seedsSummary(
    [run(1, 0.91, 0.9, 0.8), run(2, 0.92, 0.905, 0.9), run(3, 0.9, 0.91, 1.0)],
    "npm run bench -- --seeds 1,2,3",
  );
  assert.ok(Math.abs(s.project_accuracy.mean - 0.91) < 1e-12);
  assert.ok(Math.abs(s.project_accuracy.sd - 0.01) < 1e-12, "sample standard deviation");
  assert.ok(Math.abs(s.keras_accuracy!.mean - 0.905) < 1e-12);
  // Differences 0.01, 0.015, -0.01: mean 0.005, sd 0.01323, s.e. 0.00764.
  assert.ok(Math.abs(s.difference!.mean - 0.005) < 1e-12);
  assert.ok(Math.abs(s.difference!.standard_error - 0.0076376) < 1e-6);
  assert.equal(s.epoch_ratio_median, 0.9);
  const md = seedsMarkdown(s);
  assert.match(md, /\| 3 \| 90\.00% \| 91\.00% \| -1\.00 \| 1\.00 \| 1\.05 \| 800 \/ 1000 \|/);
  assert.match(
    md,
    /\| mean \(sd\) \| 91\.00% \(1\.00\) \| 90\.50% \(0\.50\) \| 0\.50 ± 0\.76 \(s\.e\.\) \| 0\.90 \(median\)/,
  );
});

test("npm run bench smoke run writes JSON, chart and table", (t) => {
  const out = makeTempDir("fmnist-bench-");
  const data = makeTempDir("fmnist-bench-data-");
  try {
    const r = spawnSync(
      process.execPath,
      [
        path.join(repoRoot, "build", "bench", "run.js"),
        "--epochs",
        "2",
        "--samples",
        "96",
        "--validation",
        "32",
        "--test",
        "64",
        "--no-notebook",
        "--pairs",
        "1",
        "--no-scaling",
        "--keras",
        "if-installed",
        "--out",
        out,
      ],
      {
        cwd: repoRoot,
        encoding: "utf8",
        timeout: 600_000,
        env: { ...process.env, FMNIST_DATA_DIR: data, FASHION_MNIST_MIRROR: sharedDataDir },
      },
    );
    assert.equal(r.status, 0, `bench failed:\n${r.stderr}\n${r.stdout}`);
    const skipped = /Keras reference (skipped[^\n]*)/.exec(r.stderr);
    if (skipped) t.diagnostic(`Keras side ${skipped[1]}`);

    const files = fs.readdirSync(out).sort();
    assert.equal(files.length, 3, `result files: ${files}`);
    assert.deepEqual(
      files.map((f) => path.extname(f)),
      [".html", ".json", ".md"],
    );
    const res = JSON.parse(fs.readFileSync(path.join(out, files[1]), "utf8"));
    assert.equal(res.schema, 1);
    assert.equal(res.options.samples, 96);
    assert.equal(res.project.epochs.length, 2);
    for (const e of res.project.epochs) {
      assert.ok(
        e.seconds > 0 && e.cpu_seconds > 0 && Number.isFinite(e.loss) && e.val_accuracy >= 0,
        JSON.stringify(e),
      );
    }
    assert.equal(res.project.ready.params, 394530);
    assert.ok(res.project.finish.test_accuracy >= 0 && res.project.finish.test_accuracy <= 1);
    assert.ok(res.project.finish.peak_rss_mb > 50);
    assert.ok(res.data_loading.project_seconds > 0);
    assert.equal(res.versions.project.backend, "tensorflow");
    assert.ok(res.summary.project.samples_per_second > 0);
    if (res.keras) {
      assert.equal(res.keras_skipped, null);
      assert.equal(res.keras.epochs.length, 2);
      assert.equal(res.keras.ready.params, 394530, "the Keras reference builds the same model");
      assert.equal(
        res.versions.keras.tensorflow,
        res.versions.project.tensorflow,
        "both sides run the same TensorFlow",
      );
      assert.equal(res.summary.ratio.per_epoch.length, 2);
      assert.ok(res.summary.ratio.epoch_seconds > 0);
      const [pair] = res.whole_process.pairs;
      assert.equal(res.whole_process.pairs.length, 1);
      for (const run of [pair.project, pair.keras]) {
        assert.equal(run.epoch_seconds.length, 2, `${run.side}: two epochs`);
        assert.ok(run.cpu_seconds > 0 && run.first_step_seconds > 0 && run.first_step_seconds < run.wall_seconds);
      }
      assert.ok(pair.cpu_ratio > 0 && pair.wall_ratio > 0, JSON.stringify(pair));
    } else {
      assert.match(res.keras_skipped, /skipped/);
      assert.equal(res.summary.ratio, null);
      assert.match(res.whole_process, /skipped/);
    }
    const html = fs.readFileSync(path.join(out, files[0]), "utf8");
    assert.ok(html.includes("Plotly.newPlot"), "the chart is drawn");
    assert.ok(!/<script[^>]+src=/i.test(html), "no remote scripts: plotly.js is embedded");
    const md = fs.readFileSync(path.join(out, files[2]), "utf8");
    assert.match(md, /\| epoch seconds, median \(min-max\) \|/);
    assert.match(md, /Command: `([A-Z_]+=\S+ )*npm run bench -- --epochs 2 --samples 96/);
  } finally {
    removeDir(out);
    removeDir(data);
  }
});

test("a whole process's cost comes from the kernel's accounting: the project's CLI, 2 epochs", async () => {
  const data = makeTempDir("fmnist-bench-process-");
  const saved = process.env.FASHION_MNIST_MIRROR;
  try {
    // The CLI fills its cache from the mirror (the same path a user's first run takes).
    process.env.FASHION_MNIST_MIRROR = sharedDataDir;
    const settings = { samples: 256, validation: 64, test: 128, epochs: 2, batchSize: 32, seed: 3 };
    const run = await runProcess("project", settings, path.join(data, "fashion-mnist"), "unused");
    assert.equal(run.epoch_seconds.length, 2);
    assert.ok(run.test_accuracy > 0 && run.test_accuracy <= 1, `test accuracy ${run.test_accuracy}`);
    // TensorFlow alone makes the process hold well over 100 MB; its CPU time includes loading it.
    assert.ok(run.peak_rss_mb > 100, `peak ${run.peak_rss_mb} MB`);
    assert.ok(run.cpu_seconds > 0.5 && Math.abs(run.cpu_seconds - run.user_seconds - run.system_seconds) < 1e-6);
    assert.ok(run.first_step_seconds > 0 && run.first_step_seconds < run.wall_seconds, JSON.stringify(run));
  } finally {
    if (saved === undefined) delete process.env.FASHION_MNIST_MIRROR;
    else process.env.FASHION_MNIST_MIRROR = saved;
    removeDir(data);
  }
});
