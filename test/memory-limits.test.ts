// Memory limits as a hub or a container sets them: on a child cgroup made
// here (cgroup v1 or v2, whichever this machine has; removed afterwards), with
// the CLI exactly as users run it (npm run train). Root only: skipped, with
// the reason, where cgroups cannot be made.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import {
  copyCourse,
  makeTempDir,
  readNb,
  removeCourseDir,
  removeDir,
  repoRoot,
  smallRunEnv,
  useCourseData,
  withSolution,
  writeNb,
} from "./helpers";
import * as course from "../scripts/course";

const MB = 2 ** 20;

interface Cgroup {
  dir: string;
  v2: boolean;
  setLimit(mb: number): void;
  oomKills(): number;
  /** What the cgroup cannot reclaim (anonymous and shared memory), in MB. */
  inUseMb(): number;
}
const made: string[] = [];

/** A fresh memory cgroup (a child of `parent` when given), or why none can be made here. */
function makeCgroup(name: string, parent?: Cgroup): Cgroup | string {
  if (process.getuid?.() !== 0) return "needs root to make cgroups";
  const v1 = "/sys/fs/cgroup/memory";
  const v2 = !fs.existsSync(v1);
  let base = parent?.dir;
  if (!base) {
    if (!v2) base = v1;
    else {
      const own = /^0::(.*)$/m.exec(fs.readFileSync("/proc/self/cgroup", "utf8"))?.[1] ?? "/";
      base = path.dirname(path.join("/sys/fs/cgroup", own));
      if (!fs.readFileSync(path.join(base, "cgroup.subtree_control"), "utf8").includes("memory"))
        return `the memory controller is not enabled for children of ${base}`;
    }
  }
  const dir = path.join(base, `${name}-${process.pid}`);
  try {
    fs.mkdirSync(dir);
  } catch (err) {
    return `cannot make a cgroup in ${base}: ${(err as Error).message}`;
  }
  made.unshift(dir);
  if (v2 && parent) fs.writeFileSync(path.join(parent.dir, "cgroup.subtree_control"), "+memory");
  return {
    dir,
    v2,
    setLimit: (mb) => fs.writeFileSync(path.join(dir, v2 ? "memory.max" : "memory.limit_in_bytes"), String(mb * MB)),
    inUseMb: () => {
      const stat = fs.readFileSync(path.join(dir, "memory.stat"), "utf8");
      const field = (n: string) => Number(new RegExp(`^${n} (\\d+)$`, "m").exec(stat)?.[1] ?? 0);
      return (v2 ? field("anon") + field("shmem") : field("total_rss") + field("total_shmem")) / MB;
    },
    oomKills: () =>
      Number(
        /^oom_kill (\d+)$/m.exec(
          fs.readFileSync(path.join(dir, v2 ? "memory.events" : "memory.oom_control"), "utf8"),
        )?.[1] ?? 0,
      ),
  };
}

after(() => {
  for (const dir of made) {
    for (let i = 0; i < 50; i++) {
      try {
        fs.rmdirSync(dir);
        break;
      } catch {
        spawnSync("sleep", ["0.1"]);
      }
    }
  }
});

/**
 * argv run inside the cgroup (the shell joins it, then becomes the command);
 * `killFirst` makes it (and what it starts) the OOM killer's first choice.
 */
function inCgroup(cg: Cgroup, argv: string[], killFirst = false): string[] {
  const adj = killFirst ? " && echo 1000 > /proc/self/oom_score_adj" : "";
  return ["sh", "-c", `echo $$ > "$0/cgroup.procs"${adj} && exec "$@"`, cg.dir, ...argv];
}

function run(argv: string[], env: NodeJS.ProcessEnv, timeout = 300_000) {
  const r = spawnSync(argv[0], argv.slice(1), { cwd: repoRoot, env, encoding: "utf8", timeout });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

/** argv started from the checkout: its output (stdout and stderr) as it comes, whether it runs, its exit code. */
function start(argv: string[], env: NodeJS.ProcessEnv) {
  const child = spawn(argv[0], argv.slice(1), { cwd: repoRoot, env });
  const started = {
    env,
    out: "",
    running: () => child.exitCode === null && child.signalCode === null,
    exited: new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code))),
    kill: () => child.kill("SIGKILL"),
  };
  child.stdout.on("data", (d) => (started.out += d));
  child.stderr.on("data", (d) => (started.out += d));
  return started;
}

/** `npm run train` on 30,000 images for 6 epochs inside the cgroup, saving as `save`. */
function startTraining(cg: Cgroup, dataDir: string, save: string, killFirst = false) {
  const env = { ...process.env, ...smallRunEnv(dataDir), FMNIST_TRAIN_LIMIT: "30000", FMNIST_EPOCHS: "6" };
  return start(inCgroup(cg, ["npm", "run", "--silent", "train", "--", "--save", save], killFirst), env);
}

/** A process in the cgroup holding memory: `js` allocates it. */
function neighbour(cg: Cgroup, js: string) {
  const argv = inCgroup(cg, ["node", "-e", `${js}; setTimeout(() => held, 120000)`]);
  return spawn(argv[0], argv.slice(1), { stdio: "ignore" });
}

const LIMITS_JS =
  'const m = require("fashion-mnist-lib/dist/runtime/memory"); console.log(JSON.stringify(m.memoryLimits()))';

test("the limit set on a parent cgroup is found from a child cgroup, ulimit -v beside it, and autograde's default --jobs counts it", (t) => {
  const parent = makeCgroup("fm-limit-parent");
  if (typeof parent === "string") return t.skip(parent);
  const child = makeCgroup("kid", parent);
  if (typeof child === "string") return t.skip(child);
  parent.setLimit(700);
  const env = { ...process.env };
  const found = JSON.parse(run(inCgroup(child, ["node", "-e", LIMITS_JS]), env).out) as {
    mb: number;
    source: string;
  }[];
  assert.equal(found.length, 1, JSON.stringify(found));
  assert.equal(found[0].mb, 700);
  assert.match(found[0].source, new RegExp(`of cgroup .*${path.basename(parent.dir)}$`));
  // The child's own lower limit wins; `ulimit -v` is listed beside it.
  child.setLimit(600);
  const both = JSON.parse(
    run(inCgroup(child, ["sh", "-c", `ulimit -v 5000000 && exec node -e '${LIMITS_JS}'`]), env).out,
  ) as { mb: number; kind: string }[];
  assert.deepEqual(
    both.map((l) => [Math.round(l.mb), l.kind]),
    [
      [600, "resident"],
      [4883, "address space"],
    ],
  );
  // How many submissions autograde runs side by side counts the limit too, not only the host's free memory.
  const jobs = (argv: string[]) => Number(run(argv, env).out.trim());
  const JOBS_JS = 'console.log(require("./build/scripts/course/kernels").defaultJobs({ memoryLimitMb: 0 }))';
  assert.equal(jobs(inCgroup(child, ["node", "-e", JOBS_JS])), 1, "one at a time under 600 MB");
  assert.equal(jobs(["node", "-e", JOBS_JS]), os.availableParallelism(), "outside it");
});

test("npm run train: a limit too small is refused before loading, and the training-set size it advises fits and finishes", (t) => {
  const cg = makeCgroup("fm-limit-advice");
  if (typeof cg === "string") return t.skip(cg);
  cg.setLimit(280);
  const tmp = makeTempDir();
  try {
    const env = { ...process.env, ...smallRunEnv(path.join(tmp, "data")) };
    delete env.FMNIST_TRAIN_LIMIT;
    delete env.FMNIST_TEST_LIMIT;
    const refused = run(inCgroup(cg, ["npm", "run", "--silent", "train", "--", "--epochs", "1", "--save", ""]), env);
    assert.notEqual(refused.code, 0, refused.out);
    const m =
      /This run needs about (\d+) MB of memory and (memory\.\S+) of cgroup \S+ allows 280 MB.*FMNIST_TRAIN_LIMIT=(\d+) \(or --train-limit \3\) needs about (\d+) MB/.exec(
        refused.out,
      );
    assert.ok(m, refused.out);
    assert.ok(Number(m[1]) > Number(m[4]) && Number(m[4]) <= 280 - 32, refused.out);
    assert.doesNotMatch(refused.out, /Downloading|training \d+/);
    const advised = run(
      inCgroup(cg, ["npm", "run", "--silent", "train", "--", "--epochs", "1", "--save", "", "--train-limit", m[3]]),
      env,
    );
    assert.equal(advised.code, 0, advised.out);
    assert.match(advised.out, /Test accuracy: \d/);
    assert.equal(cg.oomKills(), 0);
  } finally {
    removeDir(tmp);
  }
});

test("npm run train stops at a safe point when another process fills the shared limit, with the checkpoint and the command that resumes", async (t) => {
  const cg = makeCgroup("fm-limit-guard");
  if (typeof cg === "string") return t.skip(cg);
  cg.setLimit(500);
  const tmp = makeTempDir();
  try {
    const training = startTraining(cg, path.join(tmp, "data"), "guarded", true);
    // Once the first epoch's checkpoint is written, a neighbour in the same cgroup (another kernel of the
    // same student) grows by 10 MB every 0.1 s, up to 400 MB; the CLI is the OOM killer's first choice.
    const checkpoint = path.join(tmp, "data", "checkpoints", "guarded", "checkpoint.json");
    for (let i = 0; i < 1200 && !fs.existsSync(checkpoint) && training.running(); i++)
      await new Promise((r) => setTimeout(r, 100));
    assert.ok(fs.existsSync(checkpoint), `no checkpoint after the first epoch:\n${training.out}`);
    const hog = neighbour(
      cg,
      "const held = []; const t = setInterval(() => held.length < 40 ? held.push(Buffer.alloc(10 * 2 ** 20, 1)) : clearInterval(t), 100)",
    );
    try {
      const code = await training.exited;
      const out = training.out;
      assert.equal(code, 1, out);
      assert.match(out, /Training stopped in epoch \d+ after batch \d+ to stay clear of the memory limit/);
      assert.match(out, /the memory in use \(\d+ MB\) reached the limit of 500 MB \(memory\.\S+ of cgroup \S+\)/);
      assert.match(out, /The checkpoint "guarded" \(.*checkpoints\/guarded\) holds epoch \d/);
      assert.match(out, /npm run train -- --resume/);
      assert.equal(cg.oomKills(), 0, "the OOM killer fired");
    } finally {
      hog.kill("SIGKILL");
    }
  } finally {
    removeDir(tmp);
  }
});

test("npm run train killed by the out-of-memory killer: its exit, and the next start, say it was the memory limit", async (t) => {
  const cg = makeCgroup("fm-limit-killed");
  if (typeof cg === "string") return t.skip(cg);
  cg.setLimit(400);
  const tmp = makeTempDir();
  try {
    const training = startTraining(cg, path.join(tmp, "data"), "killed");
    for (let i = 0; i < 1200 && !/Training on the/.test(training.out) && training.running(); i++)
      await new Promise((r) => setTimeout(r, 100));
    // The CLI is paused, so no check between batches can see it coming, and a neighbour takes 300 MB:
    // the cgroup runs out, and the OOM killer ends the CLI.
    const pids = fs.readFileSync(path.join(cg.dir, "cgroup.procs"), "utf8").split(/\s+/).filter(Boolean);
    const trainer = pids.find((pid) => {
      try {
        return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("build/scripts/train.js");
      } catch {
        return false;
      }
    });
    assert.ok(trainer, `no train.js among ${pids.join(" ")}:\n${training.out}`);
    process.kill(Number(trainer), "SIGSTOP");
    fs.writeFileSync(`/proc/${trainer}/oom_score_adj`, "1000"); // the killer's choice: not npm, nor the wrapper
    const hog = neighbour(cg, "const held = Buffer.alloc(300 * 2 ** 20, 1)");
    try {
      for (let i = 0; i < 300 && cg.oomKills() === 0; i++) await new Promise((r) => setTimeout(r, 100));
      const code = await training.exited;
      assert.ok(cg.oomKills() > 0, "the OOM killer did not fire");
      assert.equal(code, 137, training.out);
      assert.match(
        training.out,
        /npm run train was killed by the system \(SIGKILL\)\. The previous run \(training with fit, started .*\) was stopped by the memory limit: memory\.\S+ of cgroup \S+ allows 400 MB/,
      );
    } finally {
      hog.kill("SIGKILL");
    }
    // Said once: the next start has nothing more to say about it.
    const next = run(
      ["node", "build/scripts/train.js", "--epochs", "1", "--train-limit", "300", "--save", ""],
      training.env,
    );
    assert.equal(next.code, 0, next.out);
    assert.doesNotMatch(next.out, /previous run/);
  } finally {
    removeDir(tmp);
  }
});

// A notebook's kernel training in a cgroup (the driver joins it first, so the kernel starts inside),
// paused while a neighbour takes 300 MB, so the OOM killer ends it; then a new kernel's import cell.
const KILLED_KERNEL = String.raw`
import json, os, signal, subprocess, sys, time
from jupyter_client.manager import start_new_kernel

cgroup, root = sys.argv[1], sys.argv[2]
with open(os.path.join(cgroup, "cgroup.procs"), "w") as f:
    f.write(str(os.getpid()))
km, kc = start_new_kernel(kernel_name="tslab", cwd=os.path.join(root, "notebooks"), startup_timeout=120)
kc.execute('import * as fm from "fashion-mnist-lib";\n'
           'const data = await fm.loadFashionMnist({ trainLimit: 30000, testLimit: 1000 });\n'
           'const { train, validation } = fm.splitValidation(data.train, 6000);\n'
           'await fm.fit(fm.createModel({ seed: 1 }), train, validation, { epochs: 6, checkpoint: "nbkilled" });')
seen = ""
deadline = time.time() + 240
while "Training on" not in seen and time.time() < deadline:
    try:
        msg = kc.get_iopub_msg(timeout=5)
    except Exception:
        continue
    seen += msg["content"].get("text", "") if msg["msg_type"] == "stream" else ""
pid = km.provisioner.process.pid
os.kill(pid, signal.SIGSTOP)
with open("/proc/%d/oom_score_adj" % pid, "w") as f:
    f.write("1000")
hog = subprocess.Popen(["node", "-e", "const b = Buffer.alloc(300 * 2 ** 20, 1); setTimeout(() => b, 120000)"])
for _ in range(300):
    if not km.is_alive():
        break
    time.sleep(0.1)
dead = not km.is_alive()
hog.kill()
km.cleanup_resources()
# The kernel's restart (here: a new kernel on the same data folder), and the notebook's first cell.
km2, kc2 = start_new_kernel(kernel_name="tslab", cwd=os.path.join(root, "notebooks"), startup_timeout=120)
said = []
kc2.execute_interactive('import * as fm from "fashion-mnist-lib";', timeout=120,
                        output_hook=lambda m: said.append(m["content"].get("text", "")) if m["msg_type"] == "stream" else None)
km2.shutdown_kernel(now=True)
print(json.dumps({"dead": dead, "training": "Training on" in seen, "import": "".join(said)}))
`;

test("a notebook kernel the OOM killer ended: the import cell after its restart says it was the memory limit", (t) => {
  const cg = makeCgroup("fm-limit-kernel");
  if (typeof cg === "string") return t.skip(cg);
  cg.setLimit(500);
  const tmp = makeTempDir();
  try {
    const env = { ...process.env, ...smallRunEnv(path.join(tmp, "data")) };
    const r = spawnSync(path.join(repoRoot, ".venv", "bin", "python"), ["-c", KILLED_KERNEL, cg.dir, repoRoot], {
      env,
      encoding: "utf8",
      timeout: 600_000,
    });
    assert.equal(r.status, 0, r.stderr);
    const seen = JSON.parse(r.stdout.trim().split("\n").pop()!) as { dead: boolean; training: boolean; import: string };
    assert.ok(seen.training && seen.dead, JSON.stringify(seen));
    assert.ok(cg.oomKills() > 0, "the OOM killer did not fire");
    assert.match(
      seen.import,
      /The previous run \(training with fit, started .*\) was stopped by the memory limit: memory\.\S+ of cgroup \S+ allows 500 MB/,
    );
    assert.match(seen.import, /The checkpoint "nbkilled" keeps its last complete epoch: resume with fit\(/);
  } finally {
    removeDir(tmp);
  }
});

test("under ulimit -v too small for Node and TensorFlow, npm run train names the limit and the size needed, not the install", () => {
  // (Below about 1.2 GB npm itself cannot start: Node's own "Failed to reserve virtual memory" is all there is.)
  const r = run(["sh", "-c", "ulimit -v 1500000 && exec npm run --silent train -- --epochs 1"], { ...process.env });
  assert.equal(r.code, 2, r.out);
  assert.match(r.out, /ulimit -v allows 1464 MB of address space; Node and TensorFlow need about 3400 MB/);
  assert.doesNotMatch(r.out, /setup|reinstall|addon|Fatal/i);
  // The notebook's path (the library loaded in a process already running): the addon's failure is said as the limit.
  const lib = run(["sh", "-c", `ulimit -v 2000000 && exec node -e 'require("fashion-mnist-lib")'`], { ...process.env });
  assert.notEqual(lib.code, 0);
  assert.match(lib.out, /ulimit -v allows 1953 MB of address space; Node and TensorFlow need about 3400 MB/, lib.out);
  assert.doesNotMatch(lib.out, /npm run setup|fashion-mnist-setup/);
});

/**
 * `npm run course -- autograde confusion` for one student, run inside the cgroup as an instructor's
 * server or a container runs it; `whileGrading` is called once the student's kernel holds the library and
 * is running the notebook (250 MB of its own).
 */
async function autogradeIn(cg: Cgroup, root: string, student: string, whileGrading?: () => void) {
  const course = ["npm", "run", "--silent", "course", "--", "autograde", "confusion", "--course", root];
  const grader = start(inCgroup(cg, [...course, "--student", student, "--jobs", "1"]), { ...process.env });
  if (whileGrading) {
    const kernelStarted = () =>
      fs
        .readFileSync(path.join(cg.dir, "cgroup.procs"), "utf8")
        .split(/\s+/)
        .some((pid) => {
          try {
            if (pid === "" || !fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("tslab-ipc-kernel"))
              return false;
            const anon = /^RssAnon:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
            return Number(anon?.[1] ?? 0) >= 250 * 1024;
          } catch {
            return false;
          }
        });
    for (let i = 0; i < 1200 && !kernelStarted() && grader.running(); i++) await new Promise((r) => setTimeout(r, 100));
    whileGrading();
  }
  return { code: await grader.exited, out: grader.out };
}

/** Grows by up to 20 MB every 50 ms until what the cgroup cannot reclaim is within `roomMb` of its limit, then holds. */
const FILLER = String.raw`
const fs = require("fs");
const [folder, limitMb, roomMb] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3])];
const inUseMb = () => {
  const stat = fs.readFileSync(folder + "/memory.stat", "utf8");
  const field = (n) => Number((new RegExp("^" + n + " (\\d+)$", "m").exec(stat) || [])[1] || 0);
  const v1 = /^total_rss /m.test(stat);
  return (v1 ? field("total_rss") + field("total_shmem") : field("anon") + field("shmem")) / 2 ** 20;
};
const held = [];
setInterval(() => {
  const gap = Math.floor(Math.min(20, limitMb - roomMb - inUseMb()));
  if (gap > 0) held.push(Buffer.alloc(gap * 2 ** 20, 1));
}, 50);
setTimeout(() => process.exit(0), 240000);
`;
const fill = (cg: Cgroup, limitMb: number, roomMb: number) => {
  const argv = inCgroup(cg, ["node", "-e", FILLER, cg.dir, String(limitMb), String(roomMb)]);
  return spawn(argv[0], argv.slice(1), { stdio: "ignore" });
};

test("grading under the machine's memory limit: short of memory because of others, no grade; a notebook that takes it all, graded", async (t) => {
  const cg = makeCgroup("fm-limit-grading");
  if (typeof cg === "string") return t.skip(cg);
  cg.setLimit(1000);
  const tmp = makeTempDir("fmnist-grading-memory-");
  const restoreEnv = useCourseData(tmp);
  try {
    const root = copyCourse(tmp, ["confusion"]);
    const opts: course.CourseOptions = { course: root, assignments: ["confusion"], quiet: true };
    course.generate(opts);
    const source = readNb(path.join(root, "source", "confusion", "confusion.ipynb"));
    const submitted = (student: string) => path.join(root, "submitted", student, "confusion", "confusion.ipynb");
    const graded = () => course.grades(opts).table.toRecords() as { student_id: string; score: number }[];

    // A right submission, graded while another process under the same limit (another grading, say) fills it.
    writeNb(submitted("crowded"), source);
    let filler: ReturnType<typeof spawn> | undefined;
    const crowded = await autogradeIn(cg, root, "crowded", () => (filler = fill(cg, 1000, 40)));
    filler?.kill("SIGKILL");
    assert.match(
      crowded.out,
      /could not grade: .*the grading kernel was stopped 62 MB short of the grading machine's memory limit \(memory\.\S+ of cgroup \S+ allows 1000 MB; other processes under it held \d+ MB, this notebook's kernel \d+ MB\)\. No grade was recorded for this submission; grade it again with more memory/,
      crowded.out,
    );
    assert.equal(cg.oomKills(), 0, "the OOM killer fired");
    assert.deepEqual(
      graded().filter((r) => r.student_id === "crowded"),
      [],
      "no grade, and no zero",
    );

    // A submission whose own code takes the memory, 8 MB every 50 ms: its kernel is stopped short of the limit and
    // graded from there, as for the grader's own memory limit.
    writeNb(
      submitted("greedy"),
      withSolution(
        source,
        (s) =>
          `${s}\nconst hoard: Buffer[] = [];\nfor (let i = 0; i < 200; i++) { hoard.push(Buffer.alloc(8 * 2 ** 20, 1)); await new Promise((r) => setTimeout(r, 50)); }\n`,
      ),
    );
    const greedy = await autogradeIn(cg, root, "greedy");
    assert.equal(greedy.code, 0, greedy.out);
    assert.equal(cg.oomKills(), 0, "the OOM killer fired");
    const rows = graded().filter((r) => r.student_id === "greedy");
    assert.equal(rows.length, 1, greedy.out);
    const outputs = readNb(path.join(root, "autograded", "greedy", "confusion", "confusion.ipynb"))
      .cells.flatMap((c) => c.outputs ?? [])
      .filter((o) => o.output_type === "error");
    assert.ok(
      outputs.some(
        (o) =>
          o.ename === "MemoryLimitExceeded" &&
          /^the notebook used \d+ MB and the kernel was stopped 62 MB short of the grading machine's memory limit \(1000 MB\)$/.test(
            o.evalue ?? "",
          ),
      ),
      JSON.stringify(outputs),
    );
  } finally {
    restoreEnv();
    removeCourseDir(tmp);
  }
});

test("loading the dataset with the memory in use already at the limit: not started, and the message says why", async (t) => {
  const cg = makeCgroup("fm-limit-load");
  if (typeof cg === "string") return t.skip(cg);
  cg.setLimit(400);
  const tmp = makeTempDir();
  try {
    // The library loaded (TensorFlow with it), then a wait until the cgroup is full, then the load.
    const go = path.join(tmp, "go");
    const js =
      `const fm = require("fashion-mnist-lib"); console.log("ready"); const fs = require("fs");` +
      `const t = setInterval(() => { if (!fs.existsSync(${JSON.stringify(go)})) return; clearInterval(t);` +
      `fm.loadFashionMnist({ quiet: true }).then(() => console.log("loaded"), (e) => { console.log(e.name + ": " + e.message); process.exit(3); }); }, 100);`;
    const loader = start(inCgroup(cg, ["node", "-e", js]), { ...process.env, ...smallRunEnv(path.join(tmp, "data")) });
    for (let i = 0; i < 600 && !loader.out.includes("ready"); i++) await new Promise((r) => setTimeout(r, 100));
    const filler = fill(cg, 400, 16);
    try {
      for (let i = 0; i < 300 && cg.inUseMb() < 400 - 32; i++) await new Promise((r) => setTimeout(r, 100));
      fs.writeFileSync(go, "");
      assert.equal(await loader.exited, 3, loader.out);
      assert.match(
        loader.out,
        /MemoryLimitError: Loading Fashion-MNIST was not started: the memory in use \(\d+ MB\) reached the limit of 400 MB \(memory\.\S+ of cgroup \S+\) within 32 MB\. Free memory first/,
      );
      assert.equal(cg.oomKills(), 0, "the OOM killer fired");
    } finally {
      filler.kill("SIGKILL");
      loader.kill();
    }
  } finally {
    removeDir(tmp);
  }
});
