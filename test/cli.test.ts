// The terminal entry point, `npm run train`, run as a user would.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { makeTempDir, removeDir, repoRoot, sharedDataDir } from "./helpers";

const cli = path.join(repoRoot, "build", "scripts", "train.js");
const run = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  spawnSync(process.execPath, [cli, ...args], { encoding: "utf8", env: { ...process.env, ...env } });

test("train CLI: a small run prints per-epoch metrics, test accuracy, and saves the model", () => {
  const tmp = makeTempDir("fmnist-cli-");
  try {
    const res = run(["--train-limit", "1500", "--test-limit", "500", "--epochs", "2", "--seed", "4", "--mirror", sharedDataDir, "--save", "cli-model"], {
      FMNIST_DATA_DIR: tmp,
    });
    assert.equal(res.status, 0, res.stderr);
    assert.match(res.stdout, /training 1200, validation 300, test 500 samples/);
    assert.match(res.stdout, /Total params: 394,530/);
    assert.match(res.stdout, /Epoch 1\/2 - [\d.]+s - accuracy: 0\.\d{4} - loss: \d\.\d{4} - val_accuracy: 0\.\d{4} - val_loss: \d\.\d{4}/);
    assert.match(res.stdout, /Epoch 2\/2/);
    assert.match(res.stdout, /Test accuracy: \d+\.\d\d%/);
    assert.ok(fs.existsSync(path.join(tmp, "models", "cli-model", "model.json")), "model saved under FMNIST_DATA_DIR/models");
  } finally {
    removeDir(tmp);
  }
});

test("train CLI: --help, and bad values name the setting", () => {
  const help = run(["--help"]);
  assert.equal(help.status, 0);
  assert.match(help.stdout, /--epochs N/);
  const bad = run(["--epochs", "zero"]);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /--epochs \(FMNIST_EPOCHS\)="zero" must be an integer >= 1/);
  const unknown = run(["--epoch", "3"]);
  assert.equal(unknown.status, 1);
  assert.match(unknown.stderr, /Unknown option '--epoch'/);
});
