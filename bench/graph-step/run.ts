// Spike measurements for the graph step (graph-trainer.ts) against the native
// path (lib/training/native/), in one process on the real data:
//   1. per-op overhead: a scalar op through tfjs-node's binding, and an empty
//      TF_SessionRun through the addon;
//   2. correctness: from the same weights and batch, one step of each path
//      gives the same gradients (Adam's first moment from zero moments) and
//      the same updated weights;
//   3. speed: the two trainers take turns every --steps steps on the same
//      shuffled training data (batch 32), CPU and wall time per step per turn;
//      medians and the ratio graph/native;
//   4. optionally (--profile), the native step's time per op name.
//
//   bash bench/graph-step/build.sh && node_modules/.bin/tsc -b tsconfig.json
//   node build/bench/graph-step/run.js [--turns 12] [--steps 50] [--intra 0] [--inter 0] [--config-hex HEX] [--profile]
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parseArgs } from "util";
import type * as Fm from "fashion-mnist-lib";
import type * as NativeTrain from "fashion-mnist-lib/dist/training/native/native-train";
import type * as BindingMod from "fashion-mnist-lib/dist/training/native/binding";
import type * as Train from "fashion-mnist-lib/dist/training/train";
import type * as GraphTrainerMod from "./graph-trainer";

const { values: args } = parseArgs({
  options: {
    turns: { type: "string", default: "12" },
    steps: { type: "string", default: "50" },
    intra: { type: "string", default: "0" },
    inter: { type: "string", default: "0" },
    // Any serialized ConfigProto, as hex (e.g. from Python's tf.compat.v1.ConfigProto(...).SerializeToString().hex()).
    "config-hex": { type: "string" },
    seed: { type: "string", default: "1" },
    profile: { type: "boolean", default: false },
    // passes: the native path's hand-written gradients in the graph; registry: TF_AddGradients.
    gradients: { type: "string", default: "passes" },
  },
});
const TURNS = Number(args.turns);
const STEPS = Number(args.steps);
const BATCH = 32;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
/** CPU and wall milliseconds of fn. */
function timed(fn: () => void): { cpu: number; wall: number } {
  const c0 = cpuMs();
  const w0 = performance.now();
  fn();
  return { cpu: cpuMs() - c0, wall: performance.now() - w0 };
}
const fmt = (x: number, d = 2) => x.toFixed(d);

function maxRelDiff(a: Float32Array, b: Float32Array): { diff: number; scale: number } {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(a[i]));
  }
  return { diff, scale };
}

async function main(): Promise<void> {
  const fm = require("fashion-mnist-lib") as typeof Fm;
  const { NativeTrainer } = require("fashion-mnist-lib/dist/training/native/native-train") as typeof NativeTrain;
  const { nativeBinding } = require("fashion-mnist-lib/dist/training/native/binding") as typeof BindingMod;
  const { seededPermutation } = require("fashion-mnist-lib/dist/training/train") as typeof Train;
  const { GraphTrainer, loadAddon, threadConfig } = require("./graph-trainer") as typeof GraphTrainerMod;
  fm.assertNativeBackend();
  const addon = loadAddon();
  const mirror = process.env.FASHION_MNIST_MIRROR ?? "/work/shared/data/fashion-mnist";
  const data = await fm.loadFashionMnist({
    cacheDir: mirror,
    mirrors: [],
    officialMirrors: false,
    quiet: true,
    scale: true,
  });
  const { train } = fm.splitValidation(data.train, 12000);
  const seed = Number(args.seed);
  const gradients = args.gradients === "registry" ? "registry" : "passes";
  const config = args["config-hex"]
    ? Uint8Array.from(Buffer.from(args["config-hex"], "hex"))
    : Number(args.intra) || Number(args.inter)
      ? threadConfig(Number(args.intra), Number(args.inter))
      : null;
  console.log(
    `node ${process.version}, batch ${BATCH}, ${train.count} training images, gradients: ${gradients}, session config ${
      args["config-hex"] ? `hex ${args["config-hex"]}` : config ? `intra ${args.intra} inter ${args.inter}` : "default"
    }`,
  );

  // ---- 1. per-op overhead ---------------------------------------------------
  const b = nativeBinding()!;
  const T = { name: "T", type: b.TF_ATTR_TYPE, value: b.TF_FLOAT };
  const a = b.createTensor([], b.TF_FLOAT, Float32Array.of(1));
  const ops = 20000;
  const roundTrip = () => {
    for (let i = 0; i < ops; i++) b.deleteTensor(b.executeOp("AddV2", [T], [a, a], 1)[0].id);
  };
  roundTrip(); // warm-up
  const eager = timed(roundTrip);
  b.deleteTensor(a);
  const tiny = addon.newGraph();
  const [c] = addon.addConst(tiny, Float32Array.of(1), []);
  const [noop] = addon.addOp(tiny, "NoOp", [], [], [c]);
  addon.newSession(tiny, config);
  const empty = addon.prepare(tiny, [], [], [noop]);
  const fetchOne = addon.prepare(tiny, [], [c * 8], []);
  const runs = (runner: number) => () => {
    for (let i = 0; i < ops; i++) addon.run(tiny, runner, [], []);
  };
  runs(empty)();
  const sessEmpty = timed(runs(empty));
  const sessFetch = timed(runs(fetchOne));
  console.log(
    `per-op overhead: eager AddV2 on scalars through tfjs-node's binding ${fmt((eager.cpu / ops) * 1000, 1)} us CPU, ` +
      `${fmt((eager.wall / ops) * 1000, 1)} us wall; empty TF_SessionRun ${fmt((sessEmpty.cpu / ops) * 1000, 1)} us CPU, ` +
      `${fmt((sessEmpty.wall / ops) * 1000, 1)} us wall; fetching one scalar ${fmt((sessFetch.cpu / ops) * 1000, 1)} us CPU`,
  );

  // ---- 2. correctness -------------------------------------------------------
  {
    const model = fm.createModel({ seed });
    const batch = fm.takeFirst(train, BATCH);
    const native = NativeTrainer.create(model);
    if (typeof native === "string") throw new Error(native);
    const graph = new GraphTrainer(addon, model, { config, gradients });
    try {
      const nGrads = native.gradients(batch);
      // The graph's gradient the same way: one Adam step from zero moments at t = 1, m1 = (1 - beta1) g.
      graph.trainBatch(batch, null, 0, BATCH);
      const after = graph.read();
      const gGrads = after.m.map((m) => m.map((x) => x / (1 - graph.plan.beta1)));
      native.trainBatch(batch, null, 0, BATCH);
      native.syncToModel();
      const nWeights = model.trainableWeights.map((w) => w.read().dataSync() as Float32Array);
      const start = fm.createModel({ seed }).trainableWeights.map((w) => w.read().dataSync() as Float32Array);
      let worstGrad = 0;
      let worstWeight = 0;
      model.trainableWeights.forEach((w, i) => {
        const g = maxRelDiff(nGrads[i], gGrads[i]);
        let moved = 0;
        for (let j = 0; j < start[i].length; j++) moved = Math.max(moved, Math.abs(nWeights[i][j] - start[i][j]));
        const u = maxRelDiff(nWeights[i], after.weights[i]);
        worstGrad = Math.max(worstGrad, g.diff / g.scale);
        worstWeight = Math.max(worstWeight, u.diff / moved);
        console.log(
          `  ${w.name.padEnd(18)} grad max|native-graph| ${g.diff.toExponential(2)} (max|g| ${g.scale.toExponential(2)}); ` +
            `weights after one step ${u.diff.toExponential(2)} (step ${moved.toExponential(2)})`,
        );
      });
      const ok = worstGrad < 1e-5 && worstWeight < 1e-3;
      console.log(
        `correctness: worst gradient difference ${worstGrad.toExponential(2)} of max|g|, worst weight difference ` +
          `${worstWeight.toExponential(2)} of the step: ${ok ? "OK" : "MISMATCH"}`,
      );
      if (!ok) process.exitCode = 1;
      const nEval = native.evaluate(fm.takeFirst(train, 1000));
      const gEval = graph.evaluate(fm.takeFirst(train, 1000));
      console.log(
        `evaluate on 1,000: native loss ${nEval.loss.toFixed(6)} acc ${nEval.accuracy}, graph loss ${gEval.loss.toFixed(6)} acc ${gEval.accuracy}`,
      );
    } finally {
      native.dispose();
      model.dispose();
    }
  }

  // ---- 3. speed, taking turns -------------------------------------------------
  const order = seededPermutation(train.count, seed);
  const nModel = fm.createModel({ seed });
  const gModel = fm.createModel({ seed });
  const native = NativeTrainer.create(nModel);
  if (typeof native === "string") throw new Error(native);
  const graph = new GraphTrainer(addon, gModel, { config, gradients });
  const perStep = {
    native: { cpu: [] as number[], wall: [] as number[] },
    graph: { cpu: [] as number[], wall: [] as number[] },
  };
  const stepsPerEpoch = Math.floor(train.count / BATCH);
  const positions = { native: 0, graph: 0 };
  const turn = (who: "native" | "graph") => {
    const trainer = who === "native" ? native : graph;
    const t = timed(() => {
      for (let s = 0; s < STEPS; s++) {
        const k = positions[who]++ % stepsPerEpoch;
        trainer.trainBatch(train, order, k * BATCH, BATCH);
      }
    });
    perStep[who].cpu.push(t.cpu / STEPS);
    perStep[who].wall.push(t.wall / STEPS);
  };
  turn("native"); // warm-up turns, not counted
  turn("graph");
  perStep.native.cpu.length = perStep.native.wall.length = perStep.graph.cpu.length = perStep.graph.wall.length = 0;
  for (let i = 0; i < TURNS; i++) {
    // Who goes first alternates, so neither always follows the other's cache state.
    const pair: ("native" | "graph")[] = i % 2 ? ["graph", "native"] : ["native", "graph"];
    for (const who of pair) turn(who);
  }
  const nm = native.metrics();
  const gm = graph.metrics();
  const ratios = perStep.graph.cpu.map((g, i) => g / perStep.native.cpu[i]);
  const wallRatios = perStep.graph.wall.map((g, i) => g / perStep.native.wall[i]);
  console.log(`speed: ${TURNS} turns of ${STEPS} steps each (batch ${BATCH}), per step:`);
  for (const who of ["native", "graph"] as const) {
    const p = perStep[who];
    console.log(
      `  ${who.padEnd(6)} CPU ms median ${fmt(median(p.cpu))} (${fmt(Math.min(...p.cpu))}-${fmt(Math.max(...p.cpu))}), ` +
        `wall ms median ${fmt(median(p.wall))} (${fmt(Math.min(...p.wall))}-${fmt(Math.max(...p.wall))})`,
    );
  }
  console.log(
    `  graph/native: CPU ${fmt(median(ratios), 3)} (per turn ${fmt(Math.min(...ratios), 3)}-${fmt(Math.max(...ratios), 3)}), ` +
      `wall ${fmt(median(wallRatios), 3)} (per turn ${fmt(Math.min(...wallRatios), 3)}-${fmt(Math.max(...wallRatios), 3)})`,
  );
  console.log(
    `  training metrics so far: native loss ${nm.loss.toFixed(4)} acc ${nm.accuracy.toFixed(4)}; graph loss ${gm.loss.toFixed(4)} acc ${gm.accuracy.toFixed(4)}`,
  );

  // Validation pass (12,000 images, batches of 128), once each.
  const { validation } = fm.splitValidation(data.train, 12000);
  const ve = timed(() => native.evaluate(validation));
  const vg = timed(() => graph.evaluate(validation));
  console.log(
    `validation of ${validation.count}: native ${fmt(ve.cpu / 1000)} s CPU ${fmt(ve.wall / 1000)} s wall; graph ${fmt(vg.cpu / 1000)} s CPU ${fmt(vg.wall / 1000)} s wall`,
  );

  // ---- 4. the native step's time per op -----------------------------------
  if (args.profile) {
    const byOp = new Map<string, { n: number; ms: number }>();
    // The binding's methods are read-only: the trainer's Native gets a stand-in that inherits them.
    const timedBinding = Object.create(b) as typeof b;
    Object.defineProperty(timedBinding, "executeOp", {
      value: (name: string, attrs: BindingMod.OpAttr[], inputs: number[], count: number) => {
        const t0 = performance.now();
        const r = b.executeOp(name, attrs, inputs, count);
        const e = byOp.get(name) ?? { n: 0, ms: 0 };
        e.n++;
        e.ms += performance.now() - t0;
        byOp.set(name, e);
        return r;
      },
    });
    const holder = (native as unknown as { n: { b: typeof b } }).n;
    holder.b = timedBinding;
    const steps = 200;
    const all = timed(() => {
      for (let s = 0; s < steps; s++) native.trainBatch(train, order, (s % stepsPerEpoch) * BATCH, BATCH);
    });
    holder.b = b;
    const rows = [...byOp.entries()].sort((x, y) => y[1].ms - x[1].ms);
    const opsPerStep = rows.reduce((s, [, e]) => s + e.n, 0) / steps;
    const inOps = rows.reduce((s, [, e]) => s + e.ms, 0) / steps;
    console.log(
      `native step profile (${steps} steps): ${fmt(all.wall / steps)} ms wall, ${fmt(all.cpu / steps)} ms CPU, ` +
        `${opsPerStep} ops a step, ${fmt(inOps)} ms wall inside executeOp`,
    );
    for (const [name, e] of rows)
      console.log(`  ${name.padEnd(36)} ${fmt(e.n / steps, 1).padStart(5)}x ${fmt(e.ms / steps, 3)} ms`);
  }
  // ---- 5. the graph step's time per node (RunMetadata of traced runs, summed by bench/graph-step/step_stats.py) --
  if (args.profile) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "graph-step-trace-"));
    const traced = 50;
    for (let s = 0; s < traced; s++) {
      const meta = graph.trainBatch(train, order, (s % stepsPerEpoch) * BATCH, BATCH, true)!;
      fs.writeFileSync(path.join(dir, `step${s}.pb`), meta);
    }
    console.log(
      `graph step traces: ${traced} RunMetadata files in ${dir} (python bench/graph-step/step_stats.py ${dir})`,
    );
  }
  native.dispose();
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
