// Long runs survive: a seeded run stopped after its first epoch and resumed
// from its checkpoint ends with the same history, within float tolerance, as
// the same run uninterrupted, on both trainers; a saved model keeps Adam's
// state, so it trains on as the original would; a checkpoint made with other
// settings is refused; and a checkpoint write killed at each of its
// file-system steps leaves the previous checkpoint or the new one, whole.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import { normalizeSet, splitValidation, takeFirst, type FashionMnist } from "fashion-mnist-lib/dist/data/dataset";
import { createModel } from "fashion-mnist-lib/dist/model/model";
import { fit, type EpochLog } from "fashion-mnist-lib/dist/training/train";
import { loadModel, saveModel } from "fashion-mnist-lib/dist/model/persist";
import { CheckpointError, readCheckpoint, readCheckpointInfo } from "fashion-mnist-lib/dist/training/checkpoint";
import { loadSharedDataset, makeTempDir, removeDir, repoRoot, runNode } from "./helpers";

let data: FashionMnist;
before(async () => {
  data = await loadSharedDataset();
});

function sets() {
  return splitValidation(normalizeSet(takeFirst(data.train, 1800)), 300);
}

/** Runs fn with FMNIST_DATA_DIR and FMNIST_TRAINER set, restoring both after. */
async function withEnv<T>(env: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  try {
    return await fn();
  } finally {
    for (const [k, v] of Object.entries(saved))
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
  }
}

function assertSameHistory(a: EpochLog[], b: EpochLog[], what: string): void {
  assert.equal(a.length, b.length, `${what}: epochs`);
  for (let i = 0; i < a.length; i++) {
    for (const key of ["loss", "accuracy", "val_loss", "val_accuracy"] as const) {
      assert.ok(
        Math.abs((a[i][key] ?? 0) - (b[i][key] ?? 0)) < 2e-3,
        `${what}: epoch ${i + 1} ${key}: ${a[i][key]} vs ${b[i][key]}`,
      );
    }
  }
}

for (const trainer of ["graph", "native", "layers"]) {
  test(
    `${trainer} trainer: stopped after epoch 1 and resumed, a seeded run ends as the uninterrupted one`,
    { timeout: 10 * 60_000 },
    async () => {
      const tmp = makeTempDir("fmnist-ckpt-");
      try {
        await withEnv({ FMNIST_DATA_DIR: tmp, FMNIST_TRAINER: trainer }, async () => {
          const { train, validation } = sets();
          const opts = { epochs: 3, batchSize: 32, seed: 5, progress: "none" as const };
          const whole = createModel({ seed: 5 });
          const full = await fit(whole, train, validation, { ...opts, checkpoint: "whole" });
          assert.equal(full.trainer, trainer);

          const first = createModel({ seed: 5 });
          await assert.rejects(
            fit(first, train, validation, {
              ...opts,
              checkpoint: "cut",
              onEpochEnd: (log) => {
                if (log.epoch === 1) throw new Error("stopped by the test");
              },
            }),
            /stopped by the test/,
          );
          first.dispose();
          const saved = await readCheckpoint("cut");
          assert.equal(saved?.info.epoch, 1, "the checkpoint holds the first epoch");
          saved?.model.dispose();

          // A fresh process would start from a fresh model: resume must restore everything.
          const fresh = createModel({ seed: 99 });
          const resumed = await fit(fresh, train, validation, { ...opts, checkpoint: "cut", resume: true });
          assertSameHistory(resumed.history, full.history, `${trainer} resumed`);
          const wa = whole.getWeights().map((w) => w.dataSync());
          const wb = fresh.getWeights().map((w) => w.dataSync());
          let diff = 0;
          wa.forEach((w, i) =>
            w.forEach((x, j) => {
              diff = Math.max(diff, Math.abs(x - wb[i][j]));
            }),
          );
          assert.ok(diff < 5e-3, `${trainer}: final weights agree (largest difference ${diff})`);
          whole.dispose();
          fresh.dispose();

          await assert.rejects(
            fit(createModel({ seed: 5 }), train, validation, {
              ...opts,
              batchSize: 64,
              checkpoint: "cut",
              resume: true,
            }),
            /The checkpoint "cut" was made with other settings \(batch size 32, now 64\)/,
          );
        });
      } finally {
        removeDir(tmp);
      }
    },
  );
}

test(
  "a loaded model trains on as the original would: saveModel keeps Adam's state",
  { timeout: 10 * 60_000 },
  async () => {
    const tmp = makeTempDir("fmnist-optstate-");
    try {
      await withEnv({ FMNIST_DATA_DIR: tmp }, async () => {
        const { train, validation } = sets();
        const opts = { epochs: 1, batchSize: 32, seed: 3, progress: "none" as const };
        const original = createModel({ seed: 3 });
        await fit(original, train, validation, opts);
        await saveModel(original, "m");
        assert.ok(
          fs.existsSync(path.join(tmp, "models", "m", "optimizer.bin")),
          "the optimizer's state is saved with the model",
        );
        const loaded = await loadModel("m");
        const a = await fit(original, train, validation, { ...opts, seed: 4 });
        const b = await fit(loaded, train, validation, { ...opts, seed: 4 });
        assertSameHistory(b.history, a.history, "loaded vs original, one more epoch");
        original.dispose();
        loaded.dispose();
      });
    } finally {
      removeDir(tmp);
    }
  },
);

test(
  "a checkpoint write killed before any of its file-system steps leaves the previous checkpoint or the new one",
  { timeout: 10 * 60_000 },
  async () => {
    const tmp = makeTempDir("fmnist-ckpt-kill-");
    const hook = path.join(repoRoot, "build", "test", "fault-hook.js");
    const lib = (m: string) => JSON.stringify(path.join(repoRoot, "lib", "dist", `${m}.js`));
    // Writes checkpoint epoch 1, then (under the hook) epoch 2, of a model trained nowhere: the content is what matters.
    const script = (dir: string) => `
const { createModel } = require(${lib("model/model")});
const { writeCheckpoint } = require(${lib("training/checkpoint")});
const info = (epoch, seed) => ({ epoch, epochs: 3, batchSize: 32, seed, trainCount: 10, validationCount: 0, randomDraws: epoch * 10, history: Array.from({ length: epoch }, (_, i) => ({ epoch: i + 1 })), trainer: "native" });
(async () => {
  if (process.env.FIRST) await writeCheckpoint(createModel({ seed: 1 }), "c", info(1, 1), ${JSON.stringify(dir)});
  else await writeCheckpoint(createModel({ seed: 2 }), "c", info(2, 2), ${JSON.stringify(dir)});
})().catch((e) => { console.error(e); process.exit(1); });`;
    const node = (dir: string, env: NodeJS.ProcessEnv) => runNode(script(dir), env, hook);
    try {
      let points = 0;
      const seen = new Set<number>();
      for (let k = 1; k < 200; k++) {
        const dir = path.join(tmp, `k${k}`);
        const first = await node(dir, { FIRST: "1", FAULT_ROOT: "/nonexistent" });
        assert.equal(first.code, 0, first.output);
        const log = path.join(tmp, `k${k}.log`);
        const r = await node(dir, { FAULT_ROOT: dir, FAULT_KILL_AT: String(k), FAULT_LOG: log });
        if (r.signal !== "SIGKILL") {
          assert.equal(r.code, 0, r.output);
          points = k - 1;
          break;
        }
        // (Models trained nowhere have no Adam state to resume with: the record is what is compared.)
        const saved = await readCheckpointInfo("c", dir);
        assert.ok(saved, `killed before step ${k}: a checkpoint is there`);
        seen.add(saved.info.epoch);
        assert.deepEqual(fs.readdirSync(dir), ["c"], `killed before step ${k}: leftovers cleaned`);
      }
      console.log(`checkpoint kill points: ${points}`);
      assert.ok(points >= 15, `a checkpoint write has at least 15 steps (${points})`);
      assert.deepEqual([...seen].sort(), [1, 2], "kills early keep the previous checkpoint, kills late the new one");
    } finally {
      removeDir(tmp);
    }
  },
);

test(
  "a run never replaces an earlier unfinished run's checkpoint unasked: refused before training, restart: true replaces it",
  { timeout: 5 * 60_000 },
  async () => {
    const tmp = makeTempDir("fmnist-ckpt-keep-");
    try {
      await withEnv({ FMNIST_DATA_DIR: tmp }, async () => {
        const { train, validation } = sets();
        const opts = { epochs: 3, batchSize: 32, seed: 5, progress: "none" as const, checkpoint: "m" };
        await assert.rejects(
          fit(createModel({ seed: 5 }), train, validation, {
            ...opts,
            onEpochEnd: (log) => {
              if (log.epoch === 1) throw new Error("stopped by the test");
            },
          }),
          /stopped by the test/,
        );
        let epochs = 0;
        const folder = path.join(tmp, "checkpoints", "m");
        await assert.rejects(
          fit(createModel({ seed: 5 }), train, validation, { ...opts, onEpochEnd: () => void epochs++ }),
          (err: Error) =>
            err instanceof CheckpointError &&
            err.kind === "unfinished" &&
            err.message ===
              `The checkpoint ${folder} holds an earlier run that did not finish (epoch 1 of 3, batch size 32, seed 5); ` +
                "this run would replace it. Continue it with resume: true, start over with restart: true, or use another checkpoint name.",
        );
        assert.equal(epochs, 0, "refused before training");
        assert.equal((await readCheckpointInfo("m"))?.info.epoch, 1, "the checkpoint is kept");
        await assert.rejects(
          fit(createModel({ seed: 5 }), train, validation, { ...opts, resume: true, restart: true }),
          /contradict/,
        );
        const restarted = await fit(createModel({ seed: 5 }), train, validation, { ...opts, epochs: 1, restart: true });
        assert.equal(restarted.resumedEpochs, 0);
        assert.deepEqual((await readCheckpointInfo("m"))?.info.epochs, 1, "restart replaced it");
        // A finished run's checkpoint is nothing to lose: the next run replaces it.
        const again = await fit(createModel({ seed: 5 }), train, validation, { ...opts, epochs: 1 });
        assert.equal(again.history.length, 1);
      });
    } finally {
      removeDir(tmp);
    }
  },
);

test(
  "a checkpoint missing a part or damaged is refused on resume, naming the folder, the file and the fix (table)",
  { timeout: 5 * 60_000 },
  async () => {
    const tmp = makeTempDir("fmnist-ckpt-damage-");
    try {
      await withEnv({ FMNIST_DATA_DIR: tmp }, async () => {
        const { train, validation } = sets();
        const opts = { epochs: 2, batchSize: 32, seed: 5, progress: "none" as const };
        await assert.rejects(
          fit(createModel({ seed: 5 }), train, validation, {
            ...opts,
            checkpoint: "good",
            onEpochEnd: () => {
              throw new Error("stopped by the test");
            },
          }),
          /stopped by the test/,
        );
        const good = path.join(tmp, "checkpoints", "good");
        const truncate =
          (file: string, keep = 0.5) =>
          (dir: string) => {
            const bytes = fs.readFileSync(path.join(dir, file));
            fs.writeFileSync(path.join(dir, file), bytes.subarray(0, Math.floor(bytes.length * keep)));
          };
        const write = (file: string, text: string) => (dir: string) => fs.writeFileSync(path.join(dir, file), text);
        const edit = (change: (info: Record<string, unknown>) => void) => (dir: string) => {
          const file = path.join(dir, "checkpoint.json");
          const info = JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, unknown>;
          change(info);
          fs.writeFileSync(file, JSON.stringify(info));
        };
        const remove = (file: string) => (dir: string) => fs.rmSync(path.join(dir, file));
        const cases: [string, (dir: string) => void, string, RegExp][] = [
          ["truncated checkpoint.json", truncate("checkpoint.json"), "checkpoint.json", /is damaged \(not JSON: /],
          [
            "checkpoint.json not JSON",
            write("checkpoint.json", "epoch 1"),
            "checkpoint.json",
            /is damaged \(not JSON: /,
          ],
          [
            "{} as checkpoint.json",
            write("checkpoint.json", "{}"),
            "checkpoint.json",
            /damaged \("epoch" is missing\)/,
          ],
          [
            '"epoch": "two"',
            edit((i) => (i.epoch = "two")),
            "checkpoint.json",
            /damaged \("epoch" is "two", not a whole number of 1 or more\)/,
          ],
          ["epoch past epochs", edit((i) => (i.epoch = 7)), "checkpoint.json", /"epoch" 7 is past "epochs" 2/],
          ["truncated model.json", truncate("model.json"), "model.json", /is damaged \(not JSON: /],
          ["model.json not JSON", write("model.json", "<html>"), "model.json", /is damaged \(not JSON: /],
          ["model.json not a model", write("model.json", "{}"), "model.json", /damaged \(not a saved model/],
          [
            "truncated weights.bin",
            truncate("weights.bin"),
            "weights.bin",
            /damaged \(truncated: 789,060 bytes where model.json lists 1,578,120\)/,
          ],
          [
            "truncated optimizer.bin",
            truncate("optimizer.bin", 0.0001),
            "optimizer.bin",
            /damaged \(truncated: 315 bytes where optimizer\.json lists 3,156,240\)/,
          ],
          ["optimizer.json not JSON", write("optimizer.json", "{"), "optimizer.json", /is damaged \(/],
          [
            "no checkpoint.json",
            remove("checkpoint.json"),
            "checkpoint.json",
            /has no checkpoint\.json \(the run's settings and history\)/,
          ],
          ["no model.json", remove("model.json"), "model.json", /has no model\.json/],
          ["no weights.bin", remove("weights.bin"), "weights.bin", /has no weights\.bin \(the weights\)/],
          ["no optimizer.json", remove("optimizer.json"), "optimizer.json", /has no optimizer\.json \(Adam's state\)/],
          [
            "no optimizer.bin",
            remove("optimizer.bin"),
            "optimizer.bin",
            /has no optimizer\.bin \(Adam's state\): resuming without it/,
          ],
        ];
        for (const [i, [what, damage, file, message]] of cases.entries()) {
          const name = `case${i}`;
          const folder = path.join(tmp, "checkpoints", name);
          fs.cpSync(good, folder, { recursive: true });
          damage(folder);
          let trained = 0;
          await assert.rejects(
            fit(createModel({ seed: 5 }), train, validation, {
              ...opts,
              checkpoint: name,
              resume: true,
              onEpochEnd: () => void trained++,
            }),
            (err: Error) => {
              assert.ok(err instanceof CheckpointError, `${what}: ${err.stack}`);
              assert.equal(err.file, file, what);
              assert.ok(err.message.includes(folder), `${what}: names the folder: ${err.message}`);
              assert.ok(err.message.includes(file), `${what}: names the file: ${err.message}`);
              assert.match(err.message, message, what);
              assert.match(
                err.message,
                /Start over with restart: true \(it replaces the checkpoint\) or another checkpoint name/,
                what,
              );
              return true;
            },
          );
          assert.equal(trained, 0, `${what}: nothing trained`);
        }
      });
    } finally {
      removeDir(tmp);
    }
  },
);
