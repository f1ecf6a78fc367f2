// The graph trainer (lib/training/graph/: the native step as one TensorFlow
// graph, fit's default) against the eager native trainer it replaces: the same
// steps from the same weights and batches, the same evaluation, Adam's state
// carried across fit calls and across a switch between the two, the fallback
// when its addon is missing, and no growth in memory or handles over epochs.
// (Its gradients against tfjs autodiff: native-train.test.ts; checkpoint and
// resume: checkpoint.test.ts.)
import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as fs from "fs";
import { tf } from "fashion-mnist-lib/dist/runtime/tf";
import { normalizeSet, splitValidation, takeFirst, type FashionMnist } from "fashion-mnist-lib/dist/data/dataset";
import { createModel } from "fashion-mnist-lib/dist/model/model";
import { fit, seededPermutation } from "fashion-mnist-lib/dist/training/train";
import { NativeTrainer, nativeHandleCount } from "fashion-mnist-lib/dist/training/native/native-train";
import { GraphTrainer } from "fashion-mnist-lib/dist/training/graph/graph-trainer";
import { getNativeAdamState } from "fashion-mnist-lib/dist/model/optimizer-state";
import { loadSharedDataset } from "./helpers";

let data: FashionMnist;

before(async () => {
  data = await loadSharedDataset();
});

async function withEnv<T>(env: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  const set = (vars: Record<string, string | undefined>) => {
    for (const [k, v] of Object.entries(vars))
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
  };
  set(env);
  try {
    return await fn();
  } finally {
    set(saved);
  }
}

/** Largest |a - b| over all arrays, and the largest |a|. */
function maxDiff(a: ArrayLike<number>[], b: ArrayLike<number>[]): { diff: number; scale: number } {
  let diff = 0;
  let scale = 0;
  a.forEach((x, i) => {
    assert.equal(x.length, b[i].length);
    for (let j = 0; j < x.length; j++) {
      diff = Math.max(diff, Math.abs(x[j] - b[i][j]));
      scale = Math.max(scale, Math.abs(x[j]));
    }
  });
  return { diff, scale };
}

function weightsOf(model: tf.LayersModel): Float32Array[] {
  return model.getWeights().map((w) => w.dataSync() as Float32Array);
}

test("a graph step equals the eager step after 1 and after 50 steps, and evaluation is equal", () => {
  const train = normalizeSet(takeFirst(data.train, 1600));
  const order = seededPermutation(train.count, 4);
  // Two models with the same seeded weights; each trainer copies its model's weights in.
  const a = createModel({ seed: 4 });
  const b = createModel({ seed: 4 });
  const eager = NativeTrainer.create(a);
  const graph = GraphTrainer.create(b);
  assert.ok(typeof eager !== "string" && typeof graph !== "string", `both trainers take the model (${graph})`);
  try {
    let done = 0;
    for (const steps of [1, 50]) {
      for (; done < steps; done++) {
        eager.trainBatch(train, order, done * 32, 32);
        graph.trainBatch(train, order, done * 32, 32);
      }
      eager.syncToModel();
      graph.syncToModel();
      const w = maxDiff(weightsOf(b), weightsOf(a));
      const sa = getNativeAdamState(a)!;
      const sb = getNativeAdamState(b)!;
      assert.equal(sb.step, steps);
      assert.equal(sa.step, steps);
      const m = maxDiff(sb.m, sa.m);
      // Adam moves a weight by at most about the learning rate (1e-3) a step.
      // The graph runs oneDNN's fused kernels, which sum in another order:
      // after one step the spike measured 1.2e-10 (1e-7 of a step); after 50
      // the differences feed back through the weights. 1e-6 after 1 step and
      // 2e-5 after 50 (2% of one step, 0.04% of how far 50 steps can move a
      // weight) leave room for the rounding and catch any real difference
      // (a wrong gradient or update moves weights by ~1e-3 a step).
      const bound = steps === 1 ? 1e-6 : 2e-5;
      assert.ok(w.diff < bound, `after ${steps} steps: weights differ by up to ${w.diff} (bound ${bound})`);
      assert.ok(
        m.diff < bound * 10 * Math.max(1, m.scale),
        `after ${steps} steps: Adam's first moments differ by up to ${m.diff} (max ${m.scale})`,
      );
      console.log(
        `graph vs eager after ${steps} step(s): weights ${w.diff.toExponential(2)}, m ${m.diff.toExponential(2)}`,
      );
    }
    const set = normalizeSet(takeFirst(data.test, 1000));
    const ev = { eager: eager.evaluate(set), graph: graph.evaluate(set) };
    assert.ok(Math.abs(ev.eager.loss - ev.graph.loss) < 1e-5, `loss: ${JSON.stringify(ev)}`);
    assert.ok(Math.abs(ev.eager.accuracy - ev.graph.accuracy) <= 1 / set.count, `accuracy: ${JSON.stringify(ev)}`);
  } finally {
    eager.dispose();
    graph.dispose();
    a.dispose();
    b.dispose();
  }
  assert.equal(nativeHandleCount(), 0, "both trainers free their handles");
});

test("Adam's state carries across fit calls and across a switch between the graph and eager trainers", async () => {
  const train = normalizeSet(takeFirst(data.train, 640));
  const opts = { epochs: 1, batchSize: 32, shuffle: false, progress: "none" as const };
  const steps = train.count / 32;
  const twoEpochs = async (first: string, second: string) => {
    const model = createModel({ seed: 6 });
    const r1 = await withEnv({ FMNIST_TRAINER: first }, () => fit(model, train, undefined, opts));
    const r2 = await withEnv({ FMNIST_TRAINER: second }, () => fit(model, train, undefined, opts));
    assert.deepEqual([r1.trainer, r2.trainer], [first, second]);
    assert.equal(getNativeAdamState(model)?.step, 2 * steps, `${first} then ${second}: the step count carries on`);
    const w = weightsOf(model);
    model.dispose();
    return w;
  };
  const reference = await (async () => {
    const model = createModel({ seed: 6 });
    const r = await withEnv({ FMNIST_TRAINER: "graph" }, () => fit(model, train, undefined, { ...opts, epochs: 2 }));
    assert.equal(r.trainer, "graph");
    const w = weightsOf(model);
    model.dispose();
    return w;
  })();
  // 40 steps with Adam's bias correction: a restarted optimizer (step 1 again)
  // moves every weight by ~1e-3 at once, far beyond the rounding allowed here.
  for (const [first, second] of [
    ["graph", "graph"],
    ["graph", "native"],
    ["native", "graph"],
  ]) {
    const { diff } = maxDiff(await twoEpochs(first, second), reference);
    assert.ok(diff < 1e-4, `${first} then ${second} vs two graph epochs in one fit: weights differ by ${diff}`);
  }
  assert.equal(nativeHandleCount(), 0);
});

test("without the graph-step addon, fit trains op by op and says why", async () => {
  const train = normalizeSet(takeFirst(data.train, 320));
  const missing = "/nonexistent/fm-graph-step/graph_step.node";
  assert.ok(!fs.existsSync(missing));
  const lines: string[] = [];
  const log = console.log;
  console.log = (...args: unknown[]) => {
    lines.push(args.join(" "));
  };
  const model = createModel({ seed: 2 });
  try {
    const r = await withEnv({ FMNIST_GRAPH_ADDON: missing, FMNIST_TRAINER: undefined }, () =>
      fit(model, train, undefined, { epochs: 1, progress: "terminal" }),
    );
    assert.equal(r.trainer, "native");
    assert.match(
      r.declined ?? "",
      /the graph-step addon is not built \(no \/nonexistent\/fm-graph-step\/graph_step\.node/,
    );
    assert.ok(Number.isFinite(r.history[0].loss));
    // An addon file that is not one: the load error is the reason.
    const bogus = `${__filename}.node`;
    fs.writeFileSync(bogus, "not an ELF file");
    try {
      const r2 = await withEnv({ FMNIST_GRAPH_ADDON: bogus, FMNIST_TRAINER: undefined }, () =>
        fit(model, train, undefined, { epochs: 1, progress: "none" }),
      );
      assert.equal(r2.trainer, "native");
      assert.match(r2.declined ?? "", /the graph-step addon failed to load/);
    } finally {
      fs.rmSync(bogus, { force: true });
    }
  } finally {
    console.log = log;
    model.dispose();
  }
  assert.ok(
    lines.some((l) =>
      /^Training on the native fast path \(1 epoch, batches of 32\), op by op because the graph-step addon is not built/.test(
        l,
      ),
    ),
    lines.join("\n"),
  );
  assert.equal(nativeHandleCount(), 0);
});

/** Open file descriptors of this process (Linux). */
function openFiles(): number {
  return fs.readdirSync("/proc/self/fd").length;
}

test(
  "the graph trainer does not grow tensors, handles or memory over epochs and fits",
  { timeout: 10 * 60_000 },
  async () => {
    const { train, validation } = splitValidation(normalizeSet(takeFirst(data.train, 2400)), 400);
    const model = createModel({ seed: 3 });
    const samples: { rss: number; files: number; tensors: number }[] = [];
    const sample = () => {
      samples.push({ rss: process.memoryUsage().rss, files: openFiles(), tensors: tf.memory().numTensors });
    };
    try {
      await withEnv({ FMNIST_TRAINER: "graph" }, async () => {
        // Epochs within one fit, then fits one after another (each builds and closes a session).
        const r = await fit(model, train, validation, { epochs: 8, seed: 3, progress: "none", onEpochEnd: sample });
        assert.equal(r.trainer, "graph");
        for (let i = 0; i < 8; i++) {
          await fit(model, train, validation, { epochs: 1, seed: i, progress: "none" });
          assert.equal(nativeHandleCount(), 0, "no handles left after a fit");
          sample();
        }
      });
    } finally {
      model.dispose();
    }
    const mb = (x: number) => (x / 2 ** 20).toFixed(1);
    console.log(samples.map((s) => `${mb(s.rss)} MB/${s.files} fds/${s.tensors} tensors`).join(", "));
    // From the third sample on everything is warm (graphs for each batch size
    // built, allocator pools filled). A leaked session (~ its variables and
    // graph, some MB) or a leaked epoch buffer would show over 14 more epochs.
    const warm = samples.slice(2);
    const rss = warm.map((s) => s.rss);
    const growth = rss[rss.length - 1] - Math.min(...rss);
    assert.ok(growth < 40 * 2 ** 20, `RSS grew by ${mb(growth)} MB over ${warm.length} epochs`);
    assert.ok(
      warm.every((s) => s.files === warm[0].files),
      `open files stay the same: ${warm.map((s) => s.files).join(", ")}`,
    );
    assert.ok(
      warm.every((s) => s.tensors === warm[0].tensors),
      `tfjs tensors stay the same: ${warm.map((s) => s.tensors).join(", ")}`,
    );
  },
);
