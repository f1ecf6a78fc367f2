// Crash-safe saves, proven by killing: a process overwriting a saved model is
// killed with SIGKILL before each file-system step of the save in turn
// (test/fault-hook.ts counts mkdir, open, write, fsync, close, rename, rm);
// after every kill, loadModel returns the previous model or the new one,
// whole, and the killed process's leftovers are gone. Then three processes
// save and load one name at once: no errors, every load whole (never "nothing
// saved" while another process swaps), one whole model at the end.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import { createModel } from "fashion-mnist-lib/dist/model/model";
import { loadModel, saveModel } from "fashion-mnist-lib/dist/model/persist";
import { tf } from "fashion-mnist-lib/dist/runtime/tf";
import { makeTempDir, removeDir, repoRoot, runNode } from "./helpers";

const persistJs = path.join(repoRoot, "lib", "dist", "model", "persist.js");
const modelJs = path.join(repoRoot, "lib", "dist", "model", "model.js");
const hook = path.join(repoRoot, "build", "test", "fault-hook.js");

// Saves the model of \`seed\` \`times\` times; with times > 1 it loads after each
// save and checks the loaded weights are whole ones of seed 1, 2 or 3 (a read
// that mixed two saves' files would match none).
const saveScript = (dir: string, seed: number, times = 1) => `
const { createModel } = require(${JSON.stringify(modelJs)});
const { saveModel, loadModel } = require(${JSON.stringify(persistJs)});
const weights = (m) => JSON.stringify(m.getWeights().map((w) => Array.from(w.dataSync())));
(async () => {
  const model = createModel({ seed: ${seed} });
  const whole = ${times} > 1 ? [1, 2, 3].map((s) => weights(createModel({ seed: s }))) : [];
  for (let i = 0; i < ${times}; i++) {
    await saveModel(model, "m", ${JSON.stringify(dir)});
    if (${times} === 1) continue;
    const loaded = await loadModel("m", ${JSON.stringify(dir)});
    if (!whole.includes(weights(loaded))) throw new Error("load " + i + " returned weights of no whole save");
    loaded.dispose();
  }
  console.log("saved");
})().catch((e) => { console.error("FAILED " + e.stack); process.exit(1); });`;

const weightsOf = (m: tf.LayersModel): number[][] => m.getWeights().map((w) => Array.from(w.dataSync()));

test(
  "a save killed before any of its file-system steps leaves the previous or the new model, whole",
  { timeout: 20 * 60_000 },
  async (t) => {
    const tmp = makeTempDir("fmnist-crash-");
    try {
      const before = createModel({ seed: 1 });
      const after = createModel({ seed: 2 });
      const old = weightsOf(before);
      const fresh = weightsOf(after);
      let points = 0;
      let sawOld = 0;
      let sawNew = 0;
      for (let k = 1; k < 200; k++) {
        const dir = path.join(tmp, `k${k}`);
        await saveModel(before, "m", dir);
        const log = path.join(tmp, `k${k}.log`);
        const r = await runNode(
          saveScript(dir, 2),
          { FAULT_ROOT: dir, FAULT_KILL_AT: String(k), FAULT_LOG: log },
          hook,
        );
        const steps = fs.readFileSync(log, "utf8").trim().split("\n");
        if (r.signal !== "SIGKILL") {
          assert.equal(r.code, 0, r.output);
          assert.equal(steps.length, k - 1, "the save finished: every step ran");
          points = k - 1;
          t.diagnostic(
            `${points} kill points; the steps of one save:\n${steps.map((l) => l.replace(tmp, "<tmp>")).join("\n")}`,
          );
          break;
        }
        const loaded = await loadModel("m", dir);
        const w = weightsOf(loaded);
        loaded.dispose();
        const isOld = JSON.stringify(w) === JSON.stringify(old);
        const isNew = JSON.stringify(w) === JSON.stringify(fresh);
        assert.ok(
          isOld || isNew,
          `killed before step ${k} (${steps.at(-1)}): the loaded model is neither the previous nor the new one`,
        );
        if (isOld) sawOld++;
        else sawNew++;
        assert.deepEqual(
          fs.readdirSync(dir),
          ["m"],
          `killed before step ${k}: the dead save's leftovers are cleaned up by the next load`,
        );
      }
      assert.ok(points >= 10, `a save has at least 10 steps (${points})`);
      assert.ok(
        sawOld > 0 && sawNew > 0,
        `kills early give the previous model, kills late the new one (${sawOld} / ${sawNew})`,
      );
      before.dispose();
      after.dispose();
    } finally {
      removeDir(tmp);
    }
  },
);

test(
  "a save killed between its two renames: the next save, not only a load, recovers",
  { timeout: 5 * 60_000 },
  async () => {
    const tmp = makeTempDir("fmnist-crash2-");
    try {
      const dir = path.join(tmp, "models");
      const first = createModel({ seed: 1 });
      await saveModel(first, "m", dir);
      // Find the step that moves NAME aside, and kill right after it.
      const log = path.join(tmp, "steps.log");
      await runNode(saveScript(dir, 2), { FAULT_ROOT: dir, FAULT_KILL_AT: "0", FAULT_LOG: log }, hook);
      const steps = fs.readFileSync(log, "utf8").trim().split("\n");
      const aside = steps.findIndex((l) => / renameSync .*\/m -> .*\.m\.previous-/.test(l));
      assert.ok(aside >= 0, steps.join("\n"));
      await saveModel(first, "m", dir);
      const r = await runNode(saveScript(dir, 2), { FAULT_ROOT: dir, FAULT_KILL_AT: String(aside + 2) }, hook);
      assert.equal(r.signal, "SIGKILL");
      assert.ok(!fs.existsSync(path.join(dir, "m")), "the gap: no m/ right now");
      const third = createModel({ seed: 3 });
      await saveModel(third, "m", dir);
      const loaded = await loadModel("m", dir);
      assert.equal(JSON.stringify(weightsOf(loaded)), JSON.stringify(weightsOf(third)));
      assert.deepEqual(fs.readdirSync(dir), ["m"]);
      for (const m of [first, third, loaded]) m.dispose();
    } finally {
      removeDir(tmp);
    }
  },
);

test(
  "three processes saving and loading one name at once: no errors, every load whole, one model at the end",
  { timeout: 10 * 60_000 },
  async () => {
    const tmp = makeTempDir("fmnist-concurrent-");
    try {
      const dir = path.join(tmp, "models");
      const runs = await Promise.all([1, 2, 3].map((seed) => runNode(saveScript(dir, seed, 25), {})));
      for (const r of runs) assert.equal(r.code, 0, r.output);
      for (const r of runs) assert.doesNotMatch(r.output, /ENOENT|ENOTEMPTY|EEXIST|FAILED/);
      const loaded = await loadModel("m", dir);
      const w = JSON.stringify(weightsOf(loaded));
      const candidates = [1, 2, 3].map((seed) => {
        const m = createModel({ seed });
        const s = JSON.stringify(weightsOf(m));
        m.dispose();
        return s;
      });
      assert.ok(candidates.includes(w), "the final model is one of the saved ones, whole");
      loaded.dispose();
      assert.deepEqual(fs.readdirSync(dir), ["m"], "no staging, previous or trash folders left");
    } finally {
      removeDir(tmp);
    }
  },
);
