// Run settings for notebooks and scripts, read from the environment so the same
// notebook runs full size for users and small in tests and grading.
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

function readInt(env: NodeJS.ProcessEnv, name: string, min: number): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw.trim() === "") return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) {
    throw new Error(`Environment variable ${name}="${raw}" must be an integer >= ${min}`);
  }
  return value;
}

export function runConfig(env: NodeJS.ProcessEnv = process.env): RunConfig {
  const trainLimit = readInt(env, "FMNIST_TRAIN_LIMIT", 2);
  const validationSize = readInt(env, "FMNIST_VALIDATION", 1) ?? (trainLimit ? Math.max(1, Math.round(trainLimit / 5)) : 12000);
  if (trainLimit !== undefined && validationSize >= trainLimit) {
    throw new Error(`FMNIST_VALIDATION (${validationSize}) must be smaller than FMNIST_TRAIN_LIMIT (${trainLimit})`);
  }
  return {
    epochs: readInt(env, "FMNIST_EPOCHS", 1) ?? 10,
    batchSize: readInt(env, "FMNIST_BATCH_SIZE", 1) ?? 32,
    trainLimit,
    testLimit: readInt(env, "FMNIST_TEST_LIMIT", 1),
    validationSize,
    seed: readInt(env, "FMNIST_SEED", 0),
  };
}
