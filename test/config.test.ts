import { test } from "node:test";
import assert from "node:assert/strict";
import { runConfig } from "fashion-mnist-lib/dist/config";

test("defaults are the seed's settings", () => {
  assert.deepEqual(runConfig({}), {
    epochs: 10, batchSize: 32, trainLimit: undefined, testLimit: undefined, validationSize: 12000, seed: undefined,
  });
});

test("a train limit shrinks the validation split to a fifth", () => {
  const c = runConfig({ FMNIST_TRAIN_LIMIT: "2000", FMNIST_EPOCHS: "1", FMNIST_SEED: "0" });
  assert.equal(c.trainLimit, 2000);
  assert.equal(c.validationSize, 400);
  assert.equal(c.epochs, 1);
  assert.equal(c.seed, 0);
});

test("bad values name the variable", () => {
  assert.throws(() => runConfig({ FMNIST_EPOCHS: "0" }), /FMNIST_EPOCHS="0" must be an integer >= 1/);
  assert.throws(() => runConfig({ FMNIST_BATCH_SIZE: "3.5" }), /FMNIST_BATCH_SIZE/);
  assert.throws(() => runConfig({ FMNIST_TRAIN_LIMIT: "abc" }), /FMNIST_TRAIN_LIMIT/);
  assert.throws(() => runConfig({ FMNIST_TRAIN_LIMIT: "100", FMNIST_VALIDATION: "100" }), /FMNIST_VALIDATION \(100\) must be smaller/);
});
