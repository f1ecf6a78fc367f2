// The graph step (lib/training/graph/, fit's default) against the eager
// native step (lib/training/native/, FMNIST_TRAINER=native) in one process on
// the real data:
//   1. correctness: from the same weights and batch, both give the same
//      gradients and, after one Adam step, the same weights;
//   2. speed: the two trainers take turns every --steps steps on the same
//      shuffled training data (batch 32; who goes first alternates), CPU and
//      wall time per step per turn; medians and the ratio graph/eager;
//   3. a validation pass of 12,000 images with each.
//
//   node build/bench/graph-step/side-by-side.js [--turns 12] [--steps 50] [--seed 1]
import { parseArgs } from "util";
import type * as Fm from "fashion-mnist-lib";
import type * as NativeTrain from "fashion-mnist-lib/dist/training/native/native-train";
import type * as GraphTrain from "fashion-mnist-lib/dist/training/graph/graph-trainer";
import type * as Train from "fashion-mnist-lib/dist/training/train";

const { values: args } = parseArgs({
  options: {
    turns: { type: "string", default: "12" },
    steps: { type: "string", default: "50" },
    seed: { type: "string", default: "1" },
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

function maxDiff(a: Float32Array, b: Float32Array): { diff: number; scale: number } {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(a[i]));
  }
  return { diff, scale };
}

async function main(): Promise<void> {
  // TensorFlow loads here, after the command line is read.
  const fm = require("fashion-mnist-lib") as typeof Fm;
  const { NativeTrainer } = require("fashion-mnist-lib/dist/training/native/native-train") as typeof NativeTrain;
  const { GraphTrainer } = require("fashion-mnist-lib/dist/training/graph/graph-trainer") as typeof GraphTrain;
  const { seededPermutation } = require("fashion-mnist-lib/dist/training/train") as typeof Train;
  fm.assertNativeBackend();
  const data = await fm.loadFashionMnist({
    cacheDir: process.env.FASHION_MNIST_MIRROR ?? fm.defaultCacheDir(),
    quiet: true,
    scale: true,
  });
  const { train, validation } = fm.splitValidation(data.train, 12000);
  const seed = Number(args.seed);
  const both = (model: () => Fm.tf.LayersModel) => {
    const eager = NativeTrainer.create(model());
    const graph = GraphTrainer.create(model());
    if (typeof eager === "string" || typeof graph === "string") throw new Error(String(graph));
    return { eager, graph };
  };
  console.log(`node ${process.version}, batch ${BATCH}, ${train.count} training images`);

  // ---- 1. correctness -------------------------------------------------------
  {
    const models = [fm.createModel({ seed }), fm.createModel({ seed })];
    const { eager, graph } = both(() => models.shift()!);
    const batch = fm.takeFirst(train, BATCH);
    const ge = eager.gradients(batch);
    const gg = graph.gradients(batch);
    let worst = 0;
    ge.forEach((g, i) => {
      const d = maxDiff(g, gg[i]);
      worst = Math.max(worst, d.diff / d.scale);
      console.log(
        `  weight ${i}: max |eager - graph| gradient ${d.diff.toExponential(2)} (max |g| ${d.scale.toExponential(2)})`,
      );
    });
    const e = {
      eager: eager.evaluate(fm.takeFirst(validation, 1000)),
      graph: graph.evaluate(fm.takeFirst(validation, 1000)),
    };
    console.log(
      `correctness: worst gradient difference ${worst.toExponential(2)} of max |g|; evaluation ${JSON.stringify(e)}`,
    );
    if (worst > 1e-5) process.exitCode = 1;
    eager.dispose();
    graph.dispose();
  }

  // ---- 2. speed, taking turns -------------------------------------------------
  const order = seededPermutation(train.count, seed);
  const { eager, graph } = both(() => fm.createModel({ seed }));
  const perStep = {
    eager: { cpu: [] as number[], wall: [] as number[] },
    graph: { cpu: [] as number[], wall: [] as number[] },
  };
  const stepsPerEpoch = Math.floor(train.count / BATCH);
  const positions = { eager: 0, graph: 0 };
  const turn = (who: "eager" | "graph") => {
    const trainer = who === "eager" ? eager : graph;
    const t = timed(() => {
      for (let s = 0; s < STEPS; s++) {
        const k = positions[who]++ % stepsPerEpoch;
        trainer.trainBatch(train, order, k * BATCH, BATCH);
      }
    });
    perStep[who].cpu.push(t.cpu / STEPS);
    perStep[who].wall.push(t.wall / STEPS);
  };
  turn("eager"); // warm-up turns, not counted
  turn("graph");
  for (const p of Object.values(perStep)) p.cpu.length = p.wall.length = 0;
  for (let i = 0; i < TURNS; i++) {
    const pair: ("eager" | "graph")[] = i % 2 ? ["graph", "eager"] : ["eager", "graph"];
    for (const who of pair) turn(who);
  }
  const ratios = perStep.graph.cpu.map((g, i) => g / perStep.eager.cpu[i]);
  const wallRatios = perStep.graph.wall.map((g, i) => g / perStep.eager.wall[i]);
  console.log(`speed: ${TURNS} turns of ${STEPS} steps each (batch ${BATCH}), per step:`);
  for (const who of ["eager", "graph"] as const) {
    const p = perStep[who];
    console.log(
      `  ${who.padEnd(6)} CPU ms median ${fmt(median(p.cpu))} (${fmt(Math.min(...p.cpu))}-${fmt(Math.max(...p.cpu))}), ` +
        `wall ms median ${fmt(median(p.wall))} (${fmt(Math.min(...p.wall))}-${fmt(Math.max(...p.wall))})`,
    );
  }
  console.log(
    `  graph/eager: CPU ${fmt(median(ratios), 3)} (per turn ${fmt(Math.min(...ratios), 3)}-${fmt(Math.max(...ratios), 3)}), ` +
      `wall ${fmt(median(wallRatios), 3)} (per turn ${fmt(Math.min(...wallRatios), 3)}-${fmt(Math.max(...wallRatios), 3)})`,
  );
  const em = eager.metrics();
  const gm = graph.metrics();
  console.log(
    `  running metrics: eager loss ${em.loss.toFixed(4)} acc ${em.accuracy.toFixed(4)}; graph loss ${gm.loss.toFixed(4)} acc ${gm.accuracy.toFixed(4)}`,
  );

  // ---- 3. a validation pass (batches of 128) ----------------------------------
  const ve = timed(() => eager.evaluate(validation));
  const vg = timed(() => graph.evaluate(validation));
  console.log(
    `validation of ${validation.count}: eager ${fmt(ve.cpu / 1000)} s CPU ${fmt(ve.wall / 1000)} s wall; graph ${fmt(vg.cpu / 1000)} s CPU ${fmt(vg.wall / 1000)} s wall`,
  );
  eager.dispose();
  graph.dispose();
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
