// `sudo npm run bench:hub`: how many students this machine holds on the class's
// JupyterHub. Starts a real hub (scripts/hub.sh, as `npm run hub` does) with a
// throwaway roster (one instructor, the students; usernames with a random
// prefix), on a free port on 127.0.0.1 with its own state folder. For each N of
// the ladder it starts N students' servers at once through the hub's REST API,
// then runs the main notebook's code cells in order in a fresh tslab kernel in
// each server, all at once, over the kernel's websocket (Jupyter messaging
// protocol), and samples every student's processes from /proc meanwhile: peak
// resident memory per student and for the class (plus the hub and its proxy),
// CPU seconds, machine load. Stops climbing at the first N where a run fails
// (a cell error, the time limit, or the machine running short of memory).
// Writes bench/results/<stamp>-hub-load.{json,md}; removes the users, their
// homes and the hub's state at the end, also on failure or Ctrl-C.
//
//   sudo npm run bench:hub -- --students 1,2,4,8        # class size: the grading sizes
//   sudo npm run bench:hub -- --full --students 1       # full-size training (10 epochs)
//
// The modules: bench/hub-load/class.ts (the class and what it runs), student.ts (one student's server
// and notebook), measure.ts (/proc), rung.ts (N students at once), report.ts (sizing and the table).
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { userPath } from "fashion-mnist-lib/dist/runtime/paths";
import { readCommandLine, runMain, UsageError, wholeNumber } from "../scripts/cli";
import { sharedDataDir } from "../test/helpers";
import { freePort } from "../test/lab";
import { type RunningHub, SKIP, startHub } from "../test/hub";
import { gradingSizes, notebookCells, removeClass, ROOT, writeClass } from "./hub-load/class";
import { availableMb, loadavg, r1, sleep } from "./hub-load/measure";
import {
  CLASS_WINDOW_S,
  DEFAULT_EPOCHS,
  FULL_WINDOW_S,
  max,
  mean,
  type NotTried,
  report,
  sizing,
} from "./hub-load/report";
import { type Rung, rung } from "./hub-load/rung";
import { Api } from "./hub-load/student";

const USAGE = `usage: sudo npm run bench:hub -- [options]
  --students LIST   students at once, a ladder climbed in order until a run fails
                    (default 1,2,4,8; e.g. 1,2,4,8,12,16)
  --full            full-size training (all 60,000 images, the notebook's default
                    epochs) instead of the grading sizes from exercises/nbgrader_config.py
  --epochs N        train N epochs (FMNIST_EPOCHS) instead; with --full the report
                    scales the training cell to ${DEFAULT_EPOCHS} epochs
  --timeout S       seconds each rung of the ladder may take, servers' start included
                    (default 1800; 3600 with --full)
  --min-free-mb MB  stop a rung (a failed run) when the machine's available memory
                    falls below this (default 2048), before the system runs out
  --login-over S    start the N servers spread evenly over S seconds, as a class
                    logging in over a minute or two, instead of all at once (default 0);
                    the notebooks still run all at once once every server is up
  --out DIR         where results go (default bench/results)`;

async function main(): Promise<void> {
  const { values } = readCommandLine(
    {
      args: process.argv.slice(2),
      options: {
        students: { type: "string" },
        full: { type: "boolean" },
        epochs: { type: "string" },
        timeout: { type: "string" },
        "min-free-mb": { type: "string" },
        "login-over": { type: "string" },
        out: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    },
    USAGE,
  );
  const ladder = (values.students ?? "1,2,4,8").split(",").map((s) => wholeNumber("--students", s, 1, 200));
  if (ladder.some((n, i) => i > 0 && n <= ladder[i - 1]))
    throw new UsageError(`--students needs increasing numbers (a ladder), got ${JSON.stringify(values.students)}`);
  const full = values.full ?? false;
  const epochs = values.epochs === undefined ? undefined : wholeNumber("--epochs", values.epochs, 1, 100);
  const timeoutS = values.timeout ? wholeNumber("--timeout", values.timeout, 30, 24 * 3600) : full ? 3600 : 1800;
  const minFreeMb = values["min-free-mb"] ? wholeNumber("--min-free-mb", values["min-free-mb"], 0, 1 << 20) : 2048;
  const loginOverS = values["login-over"] ? wholeNumber("--login-over", values["login-over"], 0, 3600) : 0;
  const out = values.out ? userPath(values.out) : path.join(ROOT, "bench", "results");
  if (SKIP) throw new Error(`cannot start a class here: ${SKIP}`);

  // What reaches each kernel: the grading sizes (or the full set), set before the notebook's first cell
  // reads them (fm.runConfig() reads process.env when called).
  const sizes: Record<string, string> = full ? {} : gradingSizes();
  if (epochs !== undefined) sizes.FMNIST_EPOCHS = String(epochs);
  const preamble = Object.entries(sizes)
    .map(([k, v]) => `process.env.${k} = ${JSON.stringify(v)};`)
    .join("\n");
  const cells = notebookCells();
  const trainingCell = cells.find((c) => /fm\.fit\(/.test(c.code))?.index ?? -1;

  const cls = writeClass(ladder[ladder.length - 1]);
  const { prefix, students, everyone, roster, extra, token, state } = cls;
  const dataDir = process.env.FMNIST_DATA_DIR ? userPath(process.env.FMNIST_DATA_DIR) : path.join(ROOT, "data");
  // The dataset's source, as `npm run hub` would use it: the user's mirror, else the shared copy if present.
  const mirror = process.env.FASHION_MNIST_MIRROR || (fs.existsSync(sharedDataDir) ? sharedDataDir : undefined);
  let starting: Promise<RunningHub> | undefined;
  let cleaning: Promise<void> | undefined;
  let interrupted = false;
  // One clean-up, whoever asks first (Ctrl-C or the end of main); both wait for it to finish.
  const cleanup = () => (cleaning ??= removeClass(cls, starting));
  const onSignal = (sig: NodeJS.Signals) => {
    interrupted = true;
    console.error(`bench:hub: ${sig}: stopping the hub and removing the class's users`);
    void cleanup().finally(() => process.exit(130));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);

  const rungs: Rung[] = [];
  let hubPid: number | undefined;
  let notTried: NotTried | undefined;
  try {
    const port = await freePort();
    console.log(`bench:hub: starting a hub for ${students.length} students on 127.0.0.1:${port} (users ${prefix}-*)`);
    starting = startHub(roster, state, port, dataDir, {
      args: ["--extra-config", extra],
      env: { FASHION_MNIST_MIRROR: mirror },
    });
    const hub = await starting;
    hubPid = hub.pid;
    const api = new Api(hub.base, token);
    for (const n of ladder) {
      // A rung that would run the machine short of memory is not started (others use it too): the need is
      // what the machine's available memory fell by per student in the rung before, the largest so far (RSS
      // sums count shared pages once per process and overstate it), with a tenth more for safety.
      const last = rungs[rungs.length - 1];
      const perStudent = last ? (last.availableStartMb - last.minAvailableMb) / last.n : 0;
      const available = availableMb();
      const needMb = Math.round(1.1 * n * perStudent);
      if (perStudent && needMb > available - minFreeMb) {
        notTried = { n, needMb, availableMb: Math.round(available) };
        console.log(`bench:hub: N=${n} not tried: it needs about ${needMb} MB, ${notTried.availableMb} MB available`);
        break;
      }
      console.log(`bench:hub: N=${n}: starting ${n} servers, then the notebook in each (load ${loadavg()})`);
      const r = await rung(api, hub, students.slice(0, n), cells, preamble, timeoutS, minFreeMb, loginOverS);
      rungs.push(r);
      console.log(
        `bench:hub: N=${n}: ${r.students.filter((s) => s.finished).length}/${n} finished; class run ` +
          `${r.classRunS ?? "-"} s; peak RSS/student ${max(r.students.map((s) => s.peakRssMb))} MB; class peak ` +
          `${r.peakClassRssMb} MB; CPU ${r1(mean(r.students.map((s) => s.cpuSeconds)))} s/student; load ${r.loadEnd}`,
      );
      if (!r.finished) break;
      await sleep(3_000); // the stopped servers' memory returned before the next rung
    }
  } finally {
    await cleanup();
    if (interrupted) process.exit(130); // (the signal's handler exits too, once the same clean-up is done)
    process.removeListener("SIGINT", onSignal);
    process.removeListener("SIGTERM", onSignal);
  }

  const mode = full ? "full size" : "class size";
  const size = sizing(
    rungs,
    trainingCell,
    full && epochs !== undefined && epochs < DEFAULT_EPOCHS ? epochs : undefined,
    full ? FULL_WINDOW_S : CLASS_WINDOW_S,
  );
  const lines = report(rungs, mode, sizes, size, notTried, minFreeMb, loginOverS);
  console.log(lines.join("\n"));
  fs.mkdirSync(out, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, "").slice(0, 17);
  const base = path.join(out, `${stamp}-hub-load`);
  fs.writeFileSync(`${base}.md`, lines.join("\n") + "\n");
  fs.writeFileSync(
    `${base}.json`,
    JSON.stringify(
      {
        mode,
        sizes,
        ladder,
        timeoutS,
        minFreeMb,
        loginOverS,
        cores: os.cpus().length,
        node: process.version,
        users: everyone,
        hubPid,
        rungs,
        notTried,
        sizing: size,
      },
      null,
      1,
    ) + "\n",
  );
  console.log(`bench:hub: results in ${base}.{md,json}`);
  if (!rungs.length || !rungs[0].finished) throw new Error(`N=${ladder[0]} did not finish (see above)`);
}

if (require.main === module) runMain("bench:hub", main);
