import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { runConfig, SETTINGS } from "fashion-mnist-lib/dist/runtime/config";

test("defaults are the seed's settings", () => {
  assert.deepEqual(runConfig({}), {
    epochs: 10,
    batchSize: 32,
    trainLimit: undefined,
    testLimit: undefined,
    validationSize: 12000,
    seed: undefined,
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
  assert.throws(() => runConfig({ FMNIST_EPOCHS: "0" }), /FMNIST_EPOCHS="0" must be a whole number from 1 to 10,000/);
  assert.throws(() => runConfig({ FMNIST_BATCH_SIZE: "3.5" }), /FMNIST_BATCH_SIZE/);
  assert.throws(() => runConfig({ FMNIST_TRAIN_LIMIT: "abc" }), /FMNIST_TRAIN_LIMIT/);
  assert.throws(
    () => runConfig({ FMNIST_TRAIN_LIMIT: "100", FMNIST_VALIDATION: "100" }),
    /FMNIST_VALIDATION \(100\) must be smaller/,
  );
});

test("numbers are read strictly: every odd form is refused with the variable's name (table)", () => {
  const odd = ["0x2", "1e3", "2.0", "2.5", "-1", "+3", "10 epochs", "١٢", "Infinity", "NaN", "1_000", "0b11", "3 4"];
  for (const [key, { env }] of Object.entries(SETTINGS)) {
    for (const value of odd) {
      assert.throws(
        () => runConfig({ [env]: value }),
        new RegExp(`${env}="${value.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}" must be a whole number`),
        `${key}: ${value}`,
      );
    }
  }
  assert.throws(
    () => runConfig({ FMNIST_EPOCHS: "1000000000" }),
    /FMNIST_EPOCHS="1000000000" must be a whole number from 1 to 10,000/,
  );
  assert.throws(
    () => runConfig({ FMNIST_TRAIN_LIMIT: "100000" }),
    /FMNIST_TRAIN_LIMIT="100000" must be a whole number from 2 to 60,000/,
  );
  assert.equal(runConfig({ FMNIST_EPOCHS: " 3 " }).epochs, 3, "spaces around a number are fine");
  assert.equal(runConfig({ FMNIST_EPOCHS: "" }).epochs, 10, "blank is the default");
});

test("settings that cannot train are refused before any work: batch larger than the training set, no samples left", () => {
  assert.throws(
    () => runConfig({ FMNIST_BATCH_SIZE: "50000" }),
    /FMNIST_BATCH_SIZE \(50000\) is larger than the 48,000 samples left to train on/,
  );
  assert.throws(
    () => runConfig({ FMNIST_TRAIN_LIMIT: "100", FMNIST_BATCH_SIZE: "81" }),
    /FMNIST_BATCH_SIZE \(81\) is larger than the 80 samples/,
  );
  assert.throws(() => runConfig({ FMNIST_VALIDATION: "59999", FMNIST_BATCH_SIZE: "2" }), /larger than the 1 samples/);
  assert.equal(runConfig({ FMNIST_VALIDATION: "59999", FMNIST_BATCH_SIZE: "1" }).validationSize, 59999);
  assert.throws(
    () => runConfig({ FMNIST_VALIDATION: "60000" }),
    /FMNIST_VALIDATION="60000" must be a whole number from 1 to 59,999/,
  );
  assert.throws(
    () => runConfig({ FMNIST_TRAIN_LIMIT: "500", FMNIST_VALIDATION: "600" }),
    /FMNIST_VALIDATION \(600\) must be smaller than FMNIST_TRAIN_LIMIT \(500\)/,
  );
});

test("property: any text for any setting either reads as the plain decimal number it is, within bounds, or is refused naming the variable", () => {
  const keys = Object.keys(SETTINGS) as (keyof typeof SETTINGS)[];
  fc.assert(
    fc.property(
      fc.constantFrom(...keys),
      fc.oneof(
        fc.string(),
        fc.integer({ min: -5, max: 70000 }).map(String),
        fc.stringMatching(/^[0-9a-fxe.+\- ]{0,8}$/),
      ),
      (key, raw) => {
        const { env, min, max } = SETTINGS[key];
        const plain = /^\s*\d+\s*$/.test(raw) && Number(raw) >= min && Number(raw) <= max;
        // Keep the cross-checks out of the way: a small batch, a small validation split.
        const base =
          key === "batchSize" ? { FMNIST_VALIDATION: "1" } : key === "validationSize" ? { FMNIST_BATCH_SIZE: "1" } : {};
        let result: ReturnType<typeof runConfig> | undefined;
        let error: Error | undefined;
        try {
          result = runConfig({ ...base, [env]: raw });
        } catch (err) {
          error = err as Error;
        }
        if (raw.trim() === "") return result !== undefined;
        if (plain) {
          // a valid number may still be refused by a cross-check, which then names it too
          return result !== undefined ? result[key] === Number(raw) : error!.message.includes(env);
        }
        return error !== undefined && error.message.includes(`${env}="${raw}"`);
      },
    ),
    { numRuns: 3000 },
  );
});
