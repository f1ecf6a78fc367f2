// Memory as a failure of its own: what a run needs (estimated from its
// settings), the limit in force (cgroup or `ulimit -v`), a check before the
// long work starts, and one message for an allocation that fails anyway.
import * as fs from "fs";
import * as path from "path";
import { TEST_IMAGES, TRAIN_IMAGES } from "./config";

/** The sizes that decide a run's memory: RunConfig's limits (unset: the whole dataset). */
export interface RunSizes {
  trainLimit?: number;
  testLimit?: number;
  /** Images per training step (default 32, the seed's). */
  batchSize?: number;
}

/**
 * Memory a run needs, in MB (2^20 bytes), from its training and test image
 * limits (unset: the whole dataset); `inKernel` adds the tslab kernel, whose
 * TypeScript compiler checks every cell (default: whether this process is a
 * tslab kernel). Never throws.
 *
 * Fitted to bench/memory.py's measurements (a cgroup per run, Node 24,
 * 2026-12-07), from above: the main notebook's peak charge was 418 MB at the
 * grading sizes (2,000 + 1,000 images), 491 MB with 25,000 + 10,000 and 468
 * MB at full size; the CLI's 188, 233 and 244 MB. So 430 MB in a kernel and
 * 190 MB in the CLI, plus 1.1 KB (kernel) or 1.0 KB (CLI) per image used:
 * each estimate within 10% of its measurement (the table is in BENCHMARKS.md).
 */
export function estimateRunMemoryMb(size: RunSizes, inKernel = runningInKernel()): number {
  const images = (size.trainLimit ?? TRAIN_IMAGES) + (size.testLimit ?? TEST_IMAGES);
  // Batches larger than the seed's 32 hold more per step: 0.4 MB per image more (CLI, batches of 256: +86 MB).
  const batch = Math.max(0, (size.batchSize ?? 32) - 32) * 0.4;
  return Math.ceil((inKernel ? 430 + (images * 1.1) / 1024 : 190 + images / 1024) + batch);
}

function runningInKernel(): boolean {
  return process.argv.some((a) => /[\\/]tslab([\\/]|$)|tslab-ipc-kernel/.test(a));
}

/**
 * Address space (`ulimit -v`) a run needs, in MB: TensorFlow and V8 reserve
 * far more than they touch. Measured VmPeak: 3.1 GB for a run of 2,000 images
 * and for a full one, so this does not depend on the run's size.
 */
export const ADDRESS_SPACE_MB = 3400;

/** A memory limit in force on this process. */
export interface MemoryLimit {
  /** The limit, in MB (2^20 bytes). */
  mb: number;
  /** Where it comes from, in the words a user would look it up by (the file or the command). */
  source: string;
  /** `resident`: a cgroup's limit on memory charged; `address space`: `ulimit -v`. */
  kind: "resident" | "address space";
  /** The cgroup folder that sets it (resident limits): where the memory in use is read. */
  cgroup?: string;
}

function readText(file: string): string | undefined {
  try {
    return fs.readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
}

function readNumber(file: string): number | undefined {
  const text = readText(file)?.trim();
  return text !== undefined && /^\d+$/.test(text) ? Number(text) : undefined;
}

/**
 * This process's cgroup folders, from /proc/self/cgroup and the mounts in
 * /proc/self/mountinfo: the memory controller's (cgroup v1) or the unified
 * hierarchy's (v2). A process in a child cgroup without a namespace of its
 * own (systemd's slices, a hub spawner's cgroup) sees the whole tree, so its
 * own folder is the mount point joined with its path, not the mount point.
 */
function ownCgroups(): { dir: string; mount: string; v2: boolean }[] {
  const found: { dir: string; mount: string; v2: boolean }[] = [];
  const mounts = (readText("/proc/self/mountinfo") ?? "").split("\n").map((line) => {
    const [left, right = ""] = line.split(" - ");
    const f = left.split(" ");
    const [fstype, , options = ""] = right.split(" ");
    return { root: f[3], point: f[4], fstype, options };
  });
  for (const line of (readText("/proc/self/cgroup") ?? "").split("\n")) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    const v2 = m[1] === "0" && m[2] === "";
    if (!v2 && !m[2].split(",").includes("memory")) continue;
    const mount = mounts.find((x) =>
      v2 ? x.fstype === "cgroup2" : x.fstype === "cgroup" && x.options.split(",").includes("memory"),
    );
    if (!mount?.point) continue;
    // Inside a cgroup namespace (or a mount of a subtree) the path is relative to the mount's root.
    const rel = mount.root && mount.root !== "/" && m[3].startsWith(mount.root) ? m[3].slice(mount.root.length) : m[3];
    const dir = path.join(mount.point, rel);
    found.push({ dir: fs.existsSync(dir) ? dir : mount.point, mount: mount.point, v2 });
  }
  return found;
}

/**
 * The memory limits on this process: the lowest cgroup limit on its own
 * cgroup or any ancestor (memory.max for v2, memory.limit_in_bytes for v1),
 * and `ulimit -v`. Linux only (elsewhere: none). Never throws.
 */
export function memoryLimits(): MemoryLimit[] {
  const limits: MemoryLimit[] = [];
  const unlimited = 2 ** 50; // cgroup v1 writes "no limit" as a number near 2^63
  for (const { dir, mount, v2 } of ownCgroups()) {
    const file = v2 ? "memory.max" : "memory.limit_in_bytes";
    let lowest: MemoryLimit | undefined;
    for (let d = dir; ; d = path.dirname(d)) {
      const bytes = readNumber(path.join(d, file));
      if (bytes !== undefined && bytes < unlimited && (!lowest || bytes / 2 ** 20 < lowest.mb)) {
        const where = d === mount ? "" : ` of cgroup ${path.relative(mount, d)}`;
        lowest = { mb: bytes / 2 ** 20, source: `${file}${where}`, kind: "resident", cgroup: d };
      }
      if (d === mount || d === path.dirname(d)) break;
    }
    if (lowest) limits.push(lowest);
  }
  const m = /^Max address space\s+(\d+|unlimited)/m.exec(readText("/proc/self/limits") ?? "");
  if (m && m[1] !== "unlimited")
    limits.push({ mb: Number(m[1]) / 2 ** 20, source: "ulimit -v", kind: "address space" });
  return limits;
}

/**
 * Memory in use that the limit's cgroup cannot reclaim, in MB: anonymous
 * memory and shared memory of every process in it (page cache is left out:
 * the kernel drops it before it kills). Undefined where it cannot be read.
 */
export function memoryInUseMb(limit: MemoryLimit): number | undefined {
  if (!limit.cgroup) return undefined;
  const stat = readText(path.join(limit.cgroup, "memory.stat"));
  if (!stat) return undefined;
  const field = (name: string) => Number(new RegExp(`^${name} (\\d+)$`, "m").exec(stat)?.[1] ?? NaN);
  const v2 = limit.source.startsWith("memory.max");
  const bytes = v2 ? field("anon") + field("shmem") : field("total_rss") + field("total_shmem");
  return Number.isFinite(bytes) ? bytes / 2 ** 20 : undefined;
}

/**
 * How many times the cgroup's OOM killer has killed a process in it (memory.events'
 * oom_kill, v2; memory.oom_control's, v1), or undefined where the kernel does not say.
 */
export function oomKills(limit: MemoryLimit): number | undefined {
  if (!limit.cgroup) return undefined;
  const v2 = limit.source.startsWith("memory.max");
  const text = readText(path.join(limit.cgroup, v2 ? "memory.events" : "memory.oom_control"));
  const m = text && /^oom_kill (\d+)$/m.exec(text);
  return m ? Number(m[1]) : undefined;
}

/**
 * When a resident limit is this close, the run stops at its next safe point:
 * 1/16 of the limit, at least 32 MB (the rest is page cache the kernel can
 * still drop, and TensorFlow's code must stay in memory to run).
 */
export function stopMarginMb(limitMb: number): number {
  return Math.max(32, limitMb / 16);
}

/**
 * Why a run must stop now to stay clear of the memory limit, or undefined:
 * the memory in use is within {@link stopMarginMb} of a cgroup limit.
 */
export function memoryPressure(limits = residentLimits()): string | undefined {
  for (const limit of limits) {
    const used = memoryInUseMb(limit);
    if (used === undefined || used < limit.mb - stopMarginMb(limit.mb)) continue;
    return (
      `the memory in use (${Math.round(used)} MB) reached the limit of ${Math.round(limit.mb)} MB ` +
      `(${limit.source}) within ${Math.round(stopMarginMb(limit.mb))} MB`
    );
  }
  return undefined;
}

let residentCache: { at: number; limits: MemoryLimit[] } | undefined;
/** The resident limits, read again at most once a minute (they rarely change during a run). */
function residentLimits(): MemoryLimit[] {
  const now = Date.now();
  if (!residentCache || now - residentCache.at > 60_000)
    residentCache = { at: now, limits: memoryLimits().filter((l) => l.kind === "resident") };
  return residentCache.limits;
}

/**
 * A run refused before it started ({@link checkMemory}: the limit in force is
 * below what it needs) or stopped at a safe point (the memory in use came
 * within a margin of a cgroup limit): its message says the memory, the limit,
 * what was saved and what to lower.
 */
export class MemoryLimitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MemoryLimitError";
  }
}

/**
 * Throws a {@link MemoryLimitError} saying that `doing` was not started, when
 * the memory in use is already within the margin of a limit.
 */
export function checkMemoryPressure(doing: string): void {
  const why = memoryPressure();
  if (why) {
    throw new MemoryLimitError(
      `${doing} was not started: ${why}. Free memory first (shut down other notebooks' kernels, or restart this one ` +
        "and run only what you need), or lower FMNIST_TRAIN_LIMIT / FMNIST_TEST_LIMIT.",
    );
  }
}

/** This process's anonymous memory, in MB (0 where /proc cannot be read). */
function ownAnonMb(): number {
  const m = /^RssAnon:\s+(\d+) kB/m.exec(readText("/proc/self/status") ?? "");
  return m ? Number(m[1]) / 1024 : 0;
}

/** A suggestion that fits: the largest training-image limit (in thousands) whose estimate is under `mb`. */
function fittingTrainLimit(mb: number, size: RunSizes): number {
  for (let n = TRAIN_IMAGES; n >= 1000; n -= 1000) if (estimateRunMemoryMb({ ...size, trainLimit: n }) <= mb) return n;
  return 0;
}

/**
 * Throws, before any data is loaded, when a limit in force is below what the
 * run needs ({@link estimateRunMemoryMb}), naming the limit, what the run
 * needs, and the setting to lower with a value that fits (FMNIST_TRAIN_LIMIT
 * or --train-limit).
 *
 * @throws {@link MemoryLimitError} when a cgroup limit is below the estimate,
 *   or `ulimit -v` below ADDRESS_SPACE_MB (3,400 MB).
 */
export function checkMemory(size: RunSizes, limits = memoryLimits()): void {
  const need = estimateRunMemoryMb(size);
  for (const limit of limits) {
    // Other processes under the same cgroup limit (another notebook's kernel, the Jupyter server) count too.
    const others = limit.kind === "resident" ? Math.max(0, (memoryInUseMb(limit) ?? 0) - ownAnonMb()) : 0;
    // What the run may use: the limit, less the others' share and the margin where training would stop.
    const budget = limit.mb - others - stopMarginMb(limit.mb);
    if (limit.kind === "address space" ? limit.mb >= ADDRESS_SPACE_MB : budget >= need) continue;
    // Advice with room to spare: what else runs under the limit moves by a few MB from one start to the next.
    const fit = fittingTrainLimit(budget * 0.95, size);
    const batch32 = estimateRunMemoryMb({ ...size, batchSize: 32 });
    const smallerBatch = (size.batchSize ?? 32) > 32 && batch32 <= budget ? batch32 : 0;
    const taken = others >= 1 ? `, of which other processes under that limit already use ${Math.round(others)} MB` : "";
    throw new MemoryLimitError(
      limit.kind === "address space"
        ? addressSpaceMessage(limit.mb)
        : `This run needs about ${need} MB of memory and ${limit.source} allows ${Math.round(limit.mb)} MB${taken} ` +
            `(training stops ${Math.round(stopMarginMb(limit.mb))} MB short of the limit). ` +
            ([
              fit >= 1000 &&
                `Use fewer training images: FMNIST_TRAIN_LIMIT=${fit} (or --train-limit ${fit}) needs about ` +
                  `${estimateRunMemoryMb({ ...size, trainLimit: fit })} MB.`,
              smallerBatch &&
                `Use batches of 32 (FMNIST_BATCH_SIZE=32 or --batch-size 32): that needs about ${smallerBatch} MB.`,
            ]
              .filter(Boolean)
              .join(" Or: ") || "Raise the limit and run again."),
    );
  }
}

/** What `ulimit -v` of `mb` MB stops, and what to do. */
export function addressSpaceMessage(mb: number): string {
  return (
    `ulimit -v allows ${Math.round(mb)} MB of address space; Node and TensorFlow need about ${ADDRESS_SPACE_MB} MB of it ` +
    "whatever the run size (they reserve far more than they use; what they use is far less). " +
    "Raise it (ulimit -v unlimited, or a cgroup memory limit instead, which counts what is used) and run again."
  );
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
