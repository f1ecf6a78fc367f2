// Memory as a failure of its own: what a run needs (estimated from its
// settings), the limit in force (cgroup or `ulimit -v`), a check before the
// long work starts, and one message for an allocation that fails anyway.
import * as fs from "fs";
import { TEST_IMAGES, TRAIN_IMAGES } from "./config";

/** The sizes that decide a run's memory: RunConfig's limits (unset: the whole dataset). */
export interface RunSizes {
  trainLimit?: number;
  testLimit?: number;
}

/**
 * Resident memory a run needs, in MB (2^20 bytes), from its training and test
 * image limits (unset: the whole dataset); `inKernel` adds the tslab kernel's
 * TypeScript compiler (default: whether this process is a tslab kernel).
 * Never throws.
 *
 * Measured on this project's machine with Measured on this project's machine with
 * the seed's model (peak resident set size, `/usr/bin/time -f %M`, Node 24):
 * `npm run train` peaks at 757-820 MB whatever its size (it loads all 70,000
 * images, scaled to floats, before taking a subset); the main notebook under
 * the tslab kernel (which holds a TypeScript compiler) peaks at 1.0 GB at the
 * grading sizes (2,000 + 1,000 images) and at 1.16 GB at full size (it also
 * keeps float copies of the images it uses). So: 850 MB, 160 MB more in a
 * kernel, and 4.5 KB per image used; each measured peak is under its estimate
 * (CLI 864 / 1,158 MB, notebook 1,024 / 1,318 MB).
 */
export function estimateRunMemoryMb(size: RunSizes, inKernel = runningInKernel()): number {
  const images = (size.trainLimit ?? TRAIN_IMAGES) + (size.testLimit ?? TEST_IMAGES);
  return Math.ceil(850 + (inKernel ? 160 : 0) + (images * 4.5) / 1024);
}

function runningInKernel(): boolean {
  return process.argv.some((a) => /[\\/]tslab([\\/]|$)/.test(a));
}

/**
 * Address space (`ulimit -v`) a run needs, in MB: TensorFlow and V8 reserve
 * far more than they touch. Measured VmPeak: 3.1 GB for a run of 2,000 images
 * and for a full one, so this does not depend on the run's size.
 */
export const ADDRESS_SPACE_MB = 3400;

export interface MemoryLimit {
  mb: number;
  /** Where it comes from, in the words a user would look it up by. */
  source: string;
  kind: "resident" | "address space";
}

function readNumber(file: string): number | undefined {
  try {
    const text = fs.readFileSync(file, "utf8").trim();
    return /^\d+$/.test(text) ? Number(text) : undefined;
  } catch {
    return undefined;
  }
}

/** The tightest memory limit on this process: its cgroup's (v2 or v1) and `ulimit -v`. Linux only. */
export function memoryLimits(): MemoryLimit[] {
  const limits: MemoryLimit[] = [];
  const huge = 2 ** 50; // "unlimited" as cgroup v1 writes it
  const v2 = readNumber("/sys/fs/cgroup/memory.max");
  if (v2 !== undefined && v2 < huge)
    limits.push({ mb: v2 / 2 ** 20, source: "the cgroup's memory.max", kind: "resident" });
  const v1 = readNumber("/sys/fs/cgroup/memory/memory.limit_in_bytes");
  if (v1 !== undefined && v1 < huge)
    limits.push({ mb: v1 / 2 ** 20, source: "the cgroup's memory.limit_in_bytes", kind: "resident" });
  try {
    const m = /^Max address space\s+(\d+|unlimited)/m.exec(fs.readFileSync("/proc/self/limits", "utf8"));
    if (m && m[1] !== "unlimited")
      limits.push({ mb: Number(m[1]) / 2 ** 20, source: "ulimit -v", kind: "address space" });
  } catch {
    // not Linux
  }
  return limits;
}

/** A suggestion that fits: the largest training-image limit (in thousands) whose estimate is under `mb`. */
function fittingTrainLimit(mb: number, size: RunSizes): number {
  for (let n = TRAIN_IMAGES; n >= 1000; n -= 1000) if (estimateRunMemoryMb({ ...size, trainLimit: n }) <= mb) return n;
  return 0;
}

/**
 * Checks, before any data is loaded, that the run fits the memory limits in
 * force on Linux (the cgroup's memory.max or memory.limit_in_bytes, and
 * `ulimit -v`), so a run stops with advice instead of being killed by the
 * kernel's OOM killer. Returns nothing when it fits or no limit is set.
 *
 * @param size - the run's image limits (as in {@link RunConfig}).
 * @param limits - the limits to check against (default: this process's).
 * @throws Error naming the limit (in MB), the estimate, and a training-image
 *   limit that would fit, or, for `ulimit -v` below about 3,400 MB, that it
 *   must be raised whatever the run's size.
 */
export function checkMemory(size: RunSizes, limits = memoryLimits()): void {
  const need = estimateRunMemoryMb(size);
  for (const limit of limits) {
    const needed = limit.kind === "address space" ? ADDRESS_SPACE_MB : need;
    if (limit.mb >= needed) continue;
    const fit = fittingTrainLimit(limit.mb, size);
    throw new Error(
      limit.kind === "address space"
        ? `${limit.source} allows ${Math.round(limit.mb)} MB of address space; TensorFlow and Node need about ${ADDRESS_SPACE_MB} MB ` +
            "of it whatever the run size (they reserve far more than they use). Raise it (ulimit -v unlimited) and run again."
        : `This run needs about ${need} MB of memory and ${limit.source} allows ${Math.round(limit.mb)} MB. ` +
            (fit >= 1000
              ? `Use fewer training images (FMNIST_TRAIN_LIMIT=${fit} or --train-limit ${fit} fits) `
              : "Raise the limit ") +
            "and run again.",
    );
  }
}

/**
 * Whether an error is an allocation failure: ENOMEM, Node's
 * ERR_MEMORY_ALLOCATION_FAILED, or V8's and TensorFlow's messages for a
 * buffer that could not be allocated. Never throws.
 */
export function isOutOfMemory(err: unknown): boolean {
  const e = err as NodeJS.ErrnoException | undefined;
  if (!e) return false;
  if (e.code === "ENOMEM" || e.code === "ERR_MEMORY_ALLOCATION_FAILED") return true;
  return /allocation failed|out of memory|Cannot allocate memory|Invalid typed array length|Array buffer allocation/i.test(
    String(e.message),
  );
}

/**
 * An allocation that failed during a step of the library: its message says
 * "Out of memory while (the step)", the cause, what a full run needs (MB), the
 * limits in force, and to use fewer images (FMNIST_TRAIN_LIMIT). The dataset
 * cache is left unchanged. Thrown by {@link loadFashionMnist} and by training
 * and evaluation steps.
 */
export class OutOfMemoryError extends Error {
  constructor(doing: string, cause: unknown) {
    const limits = memoryLimits()
      .map((l) => `${l.source}: ${Math.round(l.mb)} MB`)
      .join(", ");
    super(
      `Out of memory while ${doing} (${(cause as Error)?.message ?? cause}). A full run needs about ` +
        `${estimateRunMemoryMb({})} MB${limits ? ` (limits in force: ${limits})` : ""}; use fewer images ` +
        "(FMNIST_TRAIN_LIMIT, --train-limit) or free memory. Nothing in the cache was changed.",
    );
    this.name = "OutOfMemoryError";
  }
}
