// Run settings for notebooks and scripts, read from the environment so the same
// notebook runs full size for users and small in tests and grading.
/** A run's size and seed, as {@link runConfig} reads them from the environment. */
export interface RunConfig {
  /** Training epochs (FMNIST_EPOCHS, default 10 as in the seed). */
  epochs: number;
  /** Mini-batch size (FMNIST_BATCH_SIZE, default 32 as in the seed). */
  batchSize: number;
  /** Use only the first N training images (FMNIST_TRAIN_LIMIT; default all 60,000). */
  trainLimit?: number;
  /** Use only the first N test images (FMNIST_TEST_LIMIT; default all 10,000). */
  testLimit?: number;
  /** Validation samples taken from the end of the training set (FMNIST_VALIDATION;
   * default 12,000, or a fifth of FMNIST_TRAIN_LIMIT when that is set). */
  validationSize: number;
  /** Seed for initialization and shuffling (FMNIST_SEED; default: unseeded). */
  seed?: number;
}

/** The full dataset's sizes: what limits are checked against. */
export const TRAIN_IMAGES = 60000;
export const TEST_IMAGES = 10000;

/** Each setting: its variable, smallest and largest value (sane bounds: a typo of 1e9 epochs is refused). */
export const SETTINGS = {
  epochs: { env: "FMNIST_EPOCHS", min: 1, max: 10000 },
  batchSize: { env: "FMNIST_BATCH_SIZE", min: 1, max: TRAIN_IMAGES },
  trainLimit: { env: "FMNIST_TRAIN_LIMIT", min: 2, max: TRAIN_IMAGES },
  testLimit: { env: "FMNIST_TEST_LIMIT", min: 1, max: TEST_IMAGES },
  validationSize: { env: "FMNIST_VALIDATION", min: 1, max: TRAIN_IMAGES - 1 },
  seed: { env: "FMNIST_SEED", min: 0, max: 2 ** 32 - 1 },
} as const;

/**
 * A setting's value: unset or blank is the default; anything else must be a
 * whole number in plain decimal digits within the setting's bounds ("0x2",
 * "1e3", "2.0", "-1", "10 epochs" are refused, naming the variable).
 */
function readInt(env: NodeJS.ProcessEnv, key: keyof typeof SETTINGS): number | undefined {
  const { env: name, min, max } = SETTINGS[key];
  const raw = env[name];
  if (raw === undefined || raw.trim() === "") return undefined;
  const value = /^\s*\d+\s*$/.test(raw) ? Number(raw) : NaN;
  if (!(value >= min && value <= max)) {
    throw new Error(
      `Environment variable ${name}="${raw}" must be a whole number from ${min} to ${max.toLocaleString("en-US")}`,
    );
  }
  return value;
}

/**
 * Reads a run's settings from environment variables (FMNIST_EPOCHS,
 * FMNIST_BATCH_SIZE, FMNIST_TRAIN_LIMIT, FMNIST_TEST_LIMIT, FMNIST_VALIDATION,
 * FMNIST_SEED), so one notebook runs at full size for a reader and small in
 * tests and grading. Unset or blank means the seed's value: 10 epochs, batch
 * 32, all 60,000 / 10,000 images, 12,000 validation images (a fifth of the
 * training limit when one is set), unseeded.
 *
 * @param env - where to read them (default `process.env`).
 * @throws Error naming the variable when a value is not a whole number in
 *   plain digits within its bounds (e.g. epochs 1-10,000), when the
 *   validation set would take every training image, or when the batch is
 *   larger than the images left to train on.
 */
export function runConfig(env: NodeJS.ProcessEnv = process.env): RunConfig {
  const trainLimit = readInt(env, "trainLimit");
  const validationSize =
    readInt(env, "validationSize") ?? (trainLimit ? Math.max(1, Math.round(trainLimit / 5)) : 12000);
  const epochs = readInt(env, "epochs") ?? 10;
  const batchSize = readInt(env, "batchSize") ?? 32;
  const available = trainLimit ?? TRAIN_IMAGES;
  if (validationSize >= available) {
    throw new Error(
      trainLimit !== undefined
        ? `FMNIST_VALIDATION (${validationSize}) must be smaller than FMNIST_TRAIN_LIMIT (${trainLimit})`
        : `FMNIST_VALIDATION (${validationSize}) must be smaller than the ${TRAIN_IMAGES.toLocaleString("en-US")} training images`,
    );
  }
  const trainCount = available - validationSize;
  if (batchSize > trainCount) {
    const from =
      trainLimit !== undefined
        ? `FMNIST_TRAIN_LIMIT (${trainLimit})`
        : `the ${TRAIN_IMAGES.toLocaleString("en-US")} training images`;
    throw new Error(
      `FMNIST_BATCH_SIZE (${batchSize}) is larger than the ${trainCount.toLocaleString("en-US")} samples left to train on ` +
        `(${from} minus FMNIST_VALIDATION (${validationSize.toLocaleString("en-US")})): ` +
        "each epoch would be a single batch; use a smaller batch size or more training samples",
    );
  }
  return {
    epochs,
    batchSize,
    trainLimit,
    testLimit: readInt(env, "testLimit"),
    validationSize,
    seed: readInt(env, "seed"),
  };
}
