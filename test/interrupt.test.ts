// Interrupting a training cell (JupyterLab's stop button sends the kernel an
// interrupt): the kernel stays usable, training stops, its memory is freed.
// Ctrl-C during `npm run train`: where the checkpoint is and the command that
// continues; the run that continues times only its own epochs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { makeTempDir, removeDir, repoRoot, sharedDataDir } from "./helpers";

test("interrupting training in the tslab kernel stops it and frees its tensors", { timeout: 5 * 60_000 }, () => {
  const tmp = makeTempDir("fmnist-int-");
  try {
    const res = spawnSync(
      path.join(repoRoot, ".venv", "bin", "python"),
      [path.join(repoRoot, "test", "kernel_interrupt.py"), repoRoot],
      {
        encoding: "utf8",
        env: { ...process.env, FASHION_MNIST_MIRROR: sharedDataDir, FMNIST_DATA_DIR: tmp },
      },
    );
    assert.equal(res.status, 0, res.stderr);
    const seen = JSON.parse(res.stdout.trim().split("\n").pop()!);
    assert.equal(seen.setup, "ok");
    assert.equal(seen.interrupted_status, "error", "the interrupted cell ends with an error");
    assert.ok(seen.interrupt_seconds < 30, `the cell returned ${seen.interrupt_seconds} s after the interrupt`);
    assert.equal(seen.after.handles, 0, "no native training tensors left: training stopped");
    assert.equal(seen.after.tensors, seen.before.tensors, "tfjs tensor count back to where it was");
    assert.deepEqual(seen.next_cell, ["ok", "2"]);
  } finally {
    removeDir(tmp);
  }
});

test(
  "Ctrl-C during npm run train names the checkpoint and the command that continues; a run without --resume keeps it; times count only this run's epochs",
  { timeout: 5 * 60_000 },
  async () => {
    const tmp = makeTempDir("fmnist-sigint-");
    const cli = path.join(repoRoot, "build", "scripts", "train.js");
    const args = [
      "--train-limit",
      "1000",
      "--test-limit",
      "200",
      "--seed",
      "3",
      "--mirror",
      sharedDataDir,
      "--save",
      "m",
    ];
    const env = { ...process.env, FMNIST_DATA_DIR: tmp };
    try {
      const child = spawn(process.execPath, [cli, ...args, "--epochs", "6"], {
        env,
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      let waiting: NodeJS.Timeout | undefined;
      child.stdout.on("data", (b: Buffer) => {
        out += b;
        // Once the first epoch's checkpoint is in place (it is written right after the epoch's line).
        if (/Epoch 1\/6 - /.test(out) && !waiting) {
          waiting = setInterval(() => {
            if (!fs.existsSync(path.join(tmp, "checkpoints", "m", "checkpoint.json"))) return;
            clearInterval(waiting);
            if (child.exitCode === null) child.kill("SIGINT");
          }, 20);
        }
      });
      child.stderr.on("data", (b: Buffer) => (out += b));
      const code = await new Promise<number | null>((resolve) => child.on("close", (c) => resolve(c)));
      assert.equal(code, 130, out);
      const saved = JSON.parse(fs.readFileSync(path.join(tmp, "checkpoints", "m", "checkpoint.json"), "utf8")) as {
        epoch: number;
      };
      assert.ok(saved.epoch >= 1 && saved.epoch < 6, `the checkpoint holds epoch ${saved.epoch}`);
      const said =
        /Interrupted\. The checkpoint (.*) keeps epoch (\d+) of 6\. Continue with:\n {2}npm run train -- (.*)\n/.exec(
          out,
        );
      assert.ok(said, `no word of the checkpoint:\n${out}`);
      assert.equal(said[1], path.join(tmp, "checkpoints", "m"));
      assert.equal(Number(said[2]), saved.epoch, "the epoch said is the checkpoint's");
      const again = said[3].split(" ");
      assert.deepEqual(again, [...args, "--epochs", "6", "--resume"]);

      // The same command without --resume would replace it: refused before loading anything.
      const refused = spawnSync(process.execPath, [cli, ...args, "--epochs", "6"], { encoding: "utf8", env });
      assert.equal(refused.status, 2, refused.stderr);
      assert.match(
        refused.stderr,
        new RegExp(
          `The checkpoint .*/checkpoints/m holds an earlier run that did not finish \\(epoch ${saved.epoch} of 6, batch size 32, seed 3\\); ` +
            "this run would replace it\\. Continue it with --resume, start over with --restart, or use another --save name\\.",
        ),
      );
      assert.doesNotMatch(refused.stdout, /Epoch 1\/6/);

      // The command it printed continues; its time is for the epochs it trained.
      const resumed = spawnSync(process.execPath, [cli, ...again], { encoding: "utf8", env });
      assert.equal(resumed.status, 0, resumed.stderr);
      const left = 6 - saved.epoch;
      const time =
        /Training time: ([\d.]+) s, ([\d.]+) s\/epoch \((\d+) epochs? trained; (\d+) resumed from the checkpoint\)/.exec(
          resumed.stdout,
        );
      assert.ok(time, resumed.stdout);
      assert.deepEqual([Number(time[3]), Number(time[4])], [left, saved.epoch]);
      assert.ok(
        Math.abs(Number(time[2]) - Number(time[1]) / left) < 0.06,
        `per epoch: ${time[2]} s for ${time[1]} s over ${left} epochs`,
      );
      // Nothing left to do: no time per epoch made up.
      const done = spawnSync(process.execPath, [cli, ...again], { encoding: "utf8", env });
      assert.equal(done.status, 0, done.stderr);
      assert.match(done.stdout, /Training time: none \(the checkpoint had all 6 epochs done\)\./);
    } finally {
      removeDir(tmp);
    }
  },
);
