// What every kernel that runs a notebook needs before it starts: a working
// sandbox (or the choice to go without one), the dataset in the cache, and the
// memory that decides how many run side by side.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { estimateRunMemoryMb, memoryInUseMb, memoryLimits } from "fashion-mnist-lib/dist/runtime/memory";
import { defaultCacheDir, FILES } from "fashion-mnist-lib/dist/data/dataset";
import { fetchToCache, progressBar } from "fashion-mnist-lib/dist/data/download";
import { CourseError, type CourseOptions, venvBin } from "./nbgrader";

/** Why students' code cannot be sandboxed here (kernel_sandbox.py's own check), or undefined when it can. */
function sandboxProblem(opts: CourseOptions): string | undefined {
  const script = path.join(opts.course, "kernel_sandbox.py");
  if (!fs.existsSync(script)) return `${script} is missing (copy it from the project's exercises/ folder)`;
  const res = spawnSync(path.join(venvBin(), "python"), [script, "--check"], { encoding: "utf8" });
  return res.status === 0 ? undefined : (res.stderr || res.error?.message || `exit ${res.status}`).trim();
}

/**
 * The dataset files every notebook loads, downloaded now if missing (with
 * progress): sandboxed kernels have no network, and a download in each of 30
 * kernels would be 30 downloads.
 */
async function fillDatasetCache(opts: CourseOptions): Promise<void> {
  for (const file of Object.values(FILES)) {
    await fetchToCache({
      name: file.name,
      sha256: file.sha256,
      cacheDir: defaultCacheDir(),
      onProgress: opts.quiet ? undefined : progressBar("course: download"),
    });
  }
}

/**
 * Before any kernel runs: the sandbox works here (or --no-sandbox was chosen,
 * which warns), and the dataset is in the cache.
 */
export async function prepareKernels(opts: CourseOptions): Promise<void> {
  if (opts.sandbox !== false) {
    const problem = sandboxProblem(opts);
    if (problem)
      throw new CourseError(
        `cannot sandbox students' code: ${problem}.\nFix that, or run without a sandbox with --no-sandbox ` +
          "(students' code then runs with your rights: only for submissions you trust).",
      );
  } else {
    console.warn(
      "course: warning: --no-sandbox: students' code runs with your rights (it can read the gradebook and " +
        "hidden tests, other submissions, and the network); submissions are graded one at a time and checked after each.",
    );
  }
  await fillDatasetCache(opts);
}

/** Side-by-side gradings: cores, and the memory a notebook's kernel peaks at (the limit, or the estimate). */
export function defaultJobs(opts: CourseOptions): number {
  const perNotebook = Math.max(opts.memoryLimitMb || 0, kernelMemoryMb());
  // What is free on the machine, or under a cgroup limit the grader runs in (a container's, a hub server's),
  // whichever is less: the host's free memory says nothing about a 1 GB pod.
  let freeMb = os.freemem() / 2 ** 20;
  for (const limit of memoryLimits())
    if (limit.kind === "resident") freeMb = Math.min(freeMb, limit.mb - (memoryInUseMb(limit) ?? 0));
  const byMemory = Math.floor((0.8 * freeMb) / (perNotebook + 200)); // + nbgrader's own Python
  return Math.max(1, Math.min(os.availableParallelism(), byMemory));
}

export function kernelMemoryMb(): number {
  return estimateRunMemoryMb(
    {
      trainLimit: Number(process.env.FMNIST_TRAIN_LIMIT ?? 2000),
      testLimit: Number(process.env.FMNIST_TEST_LIMIT ?? 1000),
    },
    true,
  );
}
