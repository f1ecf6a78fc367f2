// Interrupting a training cell (JupyterLab's stop button sends the kernel an
// interrupt): the kernel stays usable, training stops, its memory is freed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "child_process";
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
