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
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { spawnSync } from "child_process";
import { repoRoot, userPath } from "fashion-mnist-lib/dist/runtime/paths";
import { readCommandLine, runMain, UsageError, wholeNumber } from "../scripts/cli";
import { sharedDataDir } from "../test/helpers";
import { descendants, freePort } from "../test/lab";
import { homeOf, hubCommand, processesOf, type RunningHub, SKIP, startHub, userExists } from "../test/hub";

const ROOT = repoRoot();
const NOTEBOOK = path.join(ROOT, "notebooks", "fashion-mnist-cnn.ipynb");
const COURSE_CONFIG = path.join(ROOT, "exercises", "nbgrader_config.py");
const SAMPLE_MS = 500;
const CLK_TCK = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout.trim()) || 100;
// The windows the sizing rows assume: a class-size run is an exercise in a lab
// session; a full-size run is homework left running.
const CLASS_WINDOW_S = 10 * 60;
const FULL_WINDOW_S = 60 * 60;
const DEFAULT_EPOCHS = 10; // lib/runtime/config.ts's default, which a full-size run uses

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
  --out DIR         where results go (default bench/results)`;

interface Cell {
  index: number;
  code: string;
}
interface CellResult {
  index: number;
  seconds: number;
  cpuSeconds: number;
  status: string;
}
interface StudentRun {
  user: string;
  uid: number;
  serverStartS?: number;
  kernelStartS?: number;
  runS?: number;
  finished: boolean;
  error?: string;
  cells: CellResult[];
  trainShape?: string;
  testAccuracy?: string;
  trainedLine?: string;
  peakRssMb: number;
  peakPssMb: number;
  cpuSeconds: number;
}
interface Rung {
  n: number;
  finished: boolean;
  stoppedBecause?: string;
  loadStart: string;
  loadEnd: string;
  serversReadyS?: number;
  classRunS?: number;
  classTotalS: number;
  students: StudentRun[];
  peakClassRssMb: number;
  peakClassPssMb: number;
  peakHubProxyRssMb: number;
  availableStartMb: number;
  minAvailableMb: number;
  hubProxyCpuSeconds: number;
  machineBusyCpuSeconds: number;
  cores: number;
}

const mb = (kb: number) => kb / 1024;
const r1 = (x: number) => Math.round(x * 10) / 10;
const loadavg = () => fs.readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The grading sizes, read from the course's configuration (what nbgrader gives a notebook while grading). */
function gradingSizes(): Record<string, string> {
  const text = fs.readFileSync(COURSE_CONFIG, "utf8");
  const sizes: Record<string, string> = {};
  for (const m of text.matchAll(/"(FMNIST_[A-Z_]+)":\s*"(\d+)"/g)) sizes[m[1]] = m[2];
  if (!sizes.FMNIST_TRAIN_LIMIT || !sizes.FMNIST_EPOCHS)
    throw new Error(`found no FMNIST_TRAIN_LIMIT/FMNIST_EPOCHS in ${COURSE_CONFIG}'s kernel_env`);
  return sizes;
}

function notebookCells(): Cell[] {
  const nb = JSON.parse(fs.readFileSync(NOTEBOOK, "utf8")) as {
    cells: { cell_type: string; source: string | string[] }[];
  };
  return nb.cells
    .map((c, index) => ({ index, type: c.cell_type, code: Array.isArray(c.source) ? c.source.join("") : c.source }))
    .filter((c) => c.type === "code" && c.code.trim())
    .map(({ index, code }) => ({ index, code }));
}

// --- /proc ------------------------------------------------------------------------

interface ProcSample {
  pid: number;
  uid: number;
  key: string; // pid and start time: a reused id is another process
  ticks: number;
  rssKb: number;
  pssKb: number;
}

function readProc(pid: number, uid: number): ProcSample | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" "); // f[0] is field 3 (state)
    if (f[0] === "Z") return undefined;
    const ticks = Number(f[11]) + Number(f[12]); // utime + stime
    const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    // PSS shares each shared page (TensorFlow's library, Node) among the processes mapping it.
    let pssKb = rssKb;
    try {
      pssKb = Number(/^Pss:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"))?.[1] ?? rssKb);
    } catch {
      // older kernels: RSS stands in
    }
    return { pid, uid, key: `${pid}:${f[19]}`, ticks, rssKb, pssKb };
  } catch {
    return undefined; // exited meanwhile
  }
}

/** Processes owned by the given uids. */
function procsOf(uids: Set<number>): ProcSample[] {
  const out: ProcSample[] = [];
  for (const n of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(n)) continue;
    let uid: number;
    try {
      uid = fs.statSync(`/proc/${n}`).uid;
    } catch {
      continue;
    }
    if (!uids.has(uid)) continue;
    const s = readProc(Number(n), uid);
    if (s) out.push(s);
  }
  return out;
}

function machineBusyTicks(): number {
  const [, ...v] = fs.readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/);
  const n = v.slice(0, 8).map(Number); // (guest time is counted in user time already)
  return n.reduce((a, b) => a + b, 0) - n[3] - n[4]; // all but idle and iowait
}

function availableMb(): number {
  return mb(Number(/MemAvailable:\s+(\d+)/.exec(fs.readFileSync("/proc/meminfo", "utf8"))?.[1] ?? 0));
}

/** Samples the class's processes every half second: peaks per student and for the class, CPU per process. */
class Sampler {
  private timer?: NodeJS.Timeout;
  private ticks = new Map<string, { uid: number; ticks: number }>();
  private hubTicks = new Map<string, number>();
  private hubTicksAtStart = 0;
  peakRssKb = new Map<number, number>();
  peakPssKb = new Map<number, number>();
  peakClassRssKb = 0;
  peakClassPssKb = 0;
  peakHubKb = 0;
  minAvailableMb = Infinity;
  private busyStart = machineBusyTicks();
  constructor(
    private uids: Set<number>,
    private hubPid: number,
    private onLowMemory: (mb: number) => void,
    private minFreeMb: number,
  ) {
    this.hubTicksAtStart = this.hubSample().ticks;
  }
  /** The hub and its proxy: root's processes in the hub's tree (users' servers run as the users). */
  private hubSample(): { ticks: number; rssKb: number } {
    let ticks = 0;
    let rssKb = 0;
    for (const pid of [this.hubPid, ...descendants(this.hubPid)]) {
      const s = readProc(pid, 0);
      if (!s || fs.statSync(`/proc/${pid}`, { throwIfNoEntry: false })?.uid !== 0) continue;
      this.hubTicks.set(s.key, Math.max(this.hubTicks.get(s.key) ?? 0, s.ticks));
      ticks += s.ticks;
      rssKb += s.rssKb;
    }
    return { ticks, rssKb };
  }
  sample(): void {
    const per = new Map<number, { rss: number; pss: number }>();
    for (const s of procsOf(this.uids)) {
      const t = this.ticks.get(s.key);
      this.ticks.set(s.key, { uid: s.uid, ticks: Math.max(t?.ticks ?? 0, s.ticks) });
      const u = per.get(s.uid) ?? { rss: 0, pss: 0 };
      per.set(s.uid, { rss: u.rss + s.rssKb, pss: u.pss + s.pssKb });
    }
    let classRss = 0;
    let classPss = 0;
    for (const [uid, u] of per) {
      this.peakRssKb.set(uid, Math.max(this.peakRssKb.get(uid) ?? 0, u.rss));
      this.peakPssKb.set(uid, Math.max(this.peakPssKb.get(uid) ?? 0, u.pss));
      classRss += u.rss;
      classPss += u.pss;
    }
    const hub = this.hubSample();
    this.peakHubKb = Math.max(this.peakHubKb, hub.rssKb);
    this.peakClassRssKb = Math.max(this.peakClassRssKb, classRss + hub.rssKb);
    this.peakClassPssKb = Math.max(this.peakClassPssKb, classPss + hub.rssKb);
    const avail = availableMb();
    this.minAvailableMb = Math.min(this.minAvailableMb, avail);
    if (avail < this.minFreeMb) this.onLowMemory(avail);
  }
  start(): void {
    this.timer = setInterval(() => this.sample(), SAMPLE_MS);
  }
  stop(): void {
    clearInterval(this.timer);
    this.sample();
  }
  /** CPU seconds of a uid's processes so far (each process's largest reading: exited ones count). */
  cpuSeconds(uid: number): number {
    let t = 0;
    for (const v of this.ticks.values()) if (v.uid === uid) t += v.ticks;
    return t / CLK_TCK;
  }
  /** A fresh reading of one uid's processes, for a cell's CPU: folds into the per-process maxima. */
  cpuNow(uid: number): number {
    for (const s of procsOf(new Set([uid]))) {
      const t = this.ticks.get(s.key);
      this.ticks.set(s.key, { uid: s.uid, ticks: Math.max(t?.ticks ?? 0, s.ticks) });
    }
    return this.cpuSeconds(uid);
  }
  hubCpuSeconds(): number {
    this.hubSample();
    return ([...this.hubTicks.values()].reduce((a, b) => a + b, 0) - this.hubTicksAtStart) / CLK_TCK;
  }
  machineBusySeconds(): number {
    return (machineBusyTicks() - this.busyStart) / CLK_TCK;
  }
}

// --- the hub's REST API and a kernel's channels ------------------------------------

class Api {
  constructor(
    private base: string,
    private token: string,
  ) {}
  async call(method: string, url: string, body?: unknown): Promise<{ status: number; json: unknown }> {
    let res: Response | undefined;
    // A GET is tried again after a network error (a reused keep-alive connection the server had just
    // closed, under load), as a browser would; other methods are not repeated. The error names its cause.
    for (let attempt = 1; !res; attempt++) {
      try {
        res = await fetch(`${this.base}${url}`, {
          method,
          headers: { Authorization: `token ${this.token}`, "Content-Type": "application/json" },
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: AbortSignal.timeout(60_000),
        });
      } catch (err) {
        const cause = (err as { cause?: { code?: string; message?: string } }).cause;
        const why = `${method} ${url}: ${(err as Error).message}${cause ? ` (${cause.code ?? cause.message})` : ""}`;
        if (method !== "GET" || attempt >= 3 || (err as Error).name === "TimeoutError")
          throw new Error(why, { cause: err });
        console.error(`bench:hub: ${why}; trying again`);
        await sleep(500);
      }
    }
    const text = await res.text();
    let json: unknown = text;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON: kept as text for the error message
    }
    return { status: res.status, json };
  }
  wsUrl(url: string): string {
    return `${this.base.replace(/^http/, "ws")}${url}`;
  }
  get authHeader(): string {
    return `token ${this.token}`;
  }
}

/** POST /hub/api/users/U/server, then polls the user's model until the server is ready; its seconds. */
async function startServer(api: Api, user: string, deadline: number, abort: AbortSignal): Promise<number> {
  const t0 = performance.now();
  const res = await api.call("POST", `/hub/api/users/${user}/server`, {});
  if (res.status !== 201 && res.status !== 202)
    throw new Error(`starting ${user}'s server: HTTP ${res.status} ${JSON.stringify(res.json)}`);
  while (Date.now() < deadline && !abort.aborted) {
    const model = (await api.call("GET", `/hub/api/users/${user}`)).json as {
      servers?: Record<string, { ready?: boolean }>;
    };
    if (model.servers?.[""]?.ready) return (performance.now() - t0) / 1000;
    await sleep(500);
  }
  throw new Error(`${user}'s server was not ready in time`);
}

interface Message {
  channel: string;
  header: { msg_id: string; msg_type: string };
  parent_header: { msg_id?: string };
  content: Record<string, unknown>;
}

/** A kernel's websocket (jupyter_server's JSON messages, one per frame, with a "channel" field). */
class KernelChannels {
  private ws: WebSocket;
  private session = crypto.randomUUID();
  private waiters = new Set<(m: Message) => void>();
  private closed?: string;
  constructor(url: string, authHeader: string) {
    // Node's WebSocket (undici) takes headers as an extension of the standard options.
    this.ws = new WebSocket(`${url}?session_id=${this.session}`, {
      headers: { Authorization: authHeader },
    } as unknown as string[]);
    this.ws.onmessage = (e) => {
      const m = JSON.parse(String(e.data)) as Message;
      for (const w of [...this.waiters]) w(m);
    };
    this.ws.onclose = (e) => {
      this.closed = `the kernel's websocket closed (code ${e.code})`;
      for (const w of [...this.waiters]) w({ channel: "closed" } as Message);
    };
  }
  opened(abort: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      this.ws.onopen = () => resolve();
      this.ws.onerror = () => reject(new Error("the kernel's websocket did not open"));
      abort.addEventListener("abort", () => reject(new Error(String(abort.reason))), { once: true });
    });
  }
  close(): void {
    this.ws.close();
  }
  /** Sends a request; resolves with the reply and the iopub messages up to the kernel's "idle" for it. */
  request(
    channel: string,
    type: string,
    content: Record<string, unknown>,
    abort: AbortSignal,
  ): Promise<{ reply: Message; iopub: Message[] }> {
    const msgId = crypto.randomUUID();
    return new Promise((resolve, reject) => {
      if (this.closed) return reject(new Error(this.closed));
      const iopub: Message[] = [];
      let reply: Message | undefined;
      let idle = false;
      const done = (err?: Error) => {
        this.waiters.delete(waiter);
        abort.removeEventListener("abort", onAbort);
        if (err) reject(err);
        else resolve({ reply: reply!, iopub });
      };
      const onAbort = () => done(new Error(String(abort.reason)));
      const waiter = (m: Message) => {
        if (m.channel === "closed") return done(new Error(this.closed));
        if (m.parent_header?.msg_id !== msgId) return;
        if (m.channel === "iopub") {
          iopub.push(m);
          if (m.header.msg_type === "status" && m.content.execution_state === "idle") idle = true;
        } else if (m.channel === channel) reply = m;
        if (reply && idle) done();
      };
      this.waiters.add(waiter);
      abort.addEventListener("abort", onAbort, { once: true });
      this.ws.send(
        JSON.stringify({
          channel,
          header: {
            msg_id: msgId,
            msg_type: type,
            session: this.session,
            username: "bench",
            date: new Date().toISOString(),
            version: "5.3",
          },
          parent_header: {},
          metadata: {},
          content,
          buffers: [],
        }),
      );
    });
  }
}

const streamText = (iopub: Message[], name?: string) =>
  iopub
    .filter((m) => m.header.msg_type === "stream" && (!name || m.content.name === name))
    .map((m) => String(m.content.text))
    .join("");

/** One student's run: a fresh tslab kernel in their server, the preamble, then every code cell in order. */
async function runNotebook(
  api: Api,
  run: StudentRun,
  uid: number,
  cells: Cell[],
  preamble: string,
  sampler: Sampler,
  abort: AbortSignal,
): Promise<void> {
  const t0 = performance.now();
  const created = await api.call("POST", `/user/${run.user}/api/kernels`, { name: "tslab" });
  const id = (created.json as { id?: string })?.id;
  if (created.status !== 201 || !id)
    throw new Error(`starting a tslab kernel: HTTP ${created.status} ${JSON.stringify(created.json)}`);
  const channels = new KernelChannels(api.wsUrl(`/user/${run.user}/api/kernels/${id}/channels`), api.authHeader);
  try {
    await channels.opened(abort);
    await channels.request("shell", "kernel_info_request", {}, abort);
    run.kernelStartS = (performance.now() - t0) / 1000;
    const all: Cell[] = preamble ? [{ index: -1, code: preamble }, ...cells] : cells;
    for (const cell of all) {
      const c0 = performance.now();
      const cpu0 = sampler.cpuNow(uid);
      const { reply, iopub } = await channels.request(
        "shell",
        "execute_request",
        { code: cell.code, silent: false, store_history: true, user_expressions: {}, allow_stdin: false },
        abort,
      );
      const status = String(reply.content.status);
      run.cells.push({
        index: cell.index,
        seconds: r1((performance.now() - c0) / 1000),
        cpuSeconds: r1(sampler.cpuNow(uid) - cpu0),
        status,
      });
      const out = streamText(iopub, "stdout");
      run.trainShape ??= /Training data shape: (\[[^\]]*\])/.exec(out)?.[1].replace(/\s+/g, " ");
      run.trainedLine ??= /trained \d+ epochs? in \d+ s/.exec(out)?.[0];
      run.testAccuracy ??= /Test accuracy: ([\d.]+%)/.exec(out)?.[1];
      if (status !== "ok") {
        // tslab sends no traceback: its message is on stderr.
        const why = (streamText(iopub, "stderr") || JSON.stringify(reply.content)).trim().slice(0, 2000);
        throw new Error(`cell ${cell.index} of the notebook failed: ${why}`);
      }
    }
    run.runS = (performance.now() - t0) / 1000;
    run.finished = true;
  } finally {
    channels.close();
    await api.call("DELETE", `/user/${run.user}/api/kernels/${id}`).catch(() => undefined);
  }
}

// --- a rung of the ladder -----------------------------------------------------------

const uidOf = (user: string) => Number(spawnSync("id", ["-u", user], { encoding: "utf8" }).stdout.trim() || NaN);

/** Stops the users' servers (and so their kernels) and waits, bounded, until none of their processes is left. */
async function stopServers(api: Api, users: string[]): Promise<void> {
  await Promise.all(users.map((u) => api.call("DELETE", `/hub/api/users/${u}/server`).catch(() => undefined)));
  const uids = new Set(users.map(uidOf));
  const end = Date.now() + 60_000;
  while (processesOf(uids).length && Date.now() < end) await sleep(500);
  for (const line of processesOf(uids)) {
    try {
      process.kill(Number(line.split(":")[0]), "SIGKILL");
    } catch {
      // gone meanwhile
    }
  }
}

async function rung(
  api: Api,
  hub: RunningHub,
  users: string[],
  cells: Cell[],
  preamble: string,
  timeoutS: number,
  minFreeMb: number,
): Promise<Rung> {
  const uids = new Map(users.map((u) => [u, uidOf(u)]));
  // Earlier rungs' saved models and checkpoints go: every rung starts as a fresh class.
  for (const u of users)
    for (const d of ["models", "checkpoints"])
      fs.rmSync(path.join(homeOf(u), "data", d), { recursive: true, force: true });
  const controller = new AbortController();
  const stop = (why: string) => {
    if (!controller.signal.aborted) controller.abort(why);
  };
  const sampler = new Sampler(
    new Set(uids.values()),
    hub.pid,
    (avail) => stop(`the machine's available memory fell to ${avail.toFixed(0)} MB (below --min-free-mb ${minFreeMb})`),
    minFreeMb,
  );
  const loadStart = loadavg();
  const availableStartMb = Math.round(availableMb());
  const t0 = performance.now();
  const deadline = Date.now() + timeoutS * 1000;
  const timer = setTimeout(() => stop(`the rung's time limit (--timeout ${timeoutS} s) passed`), timeoutS * 1000);
  sampler.start();
  const runs: StudentRun[] = users.map((user) => ({
    user,
    uid: uids.get(user)!,
    finished: false,
    cells: [],
    peakRssMb: 0,
    peakPssMb: 0,
    cpuSeconds: 0,
  }));
  let serversReadyS: number | undefined;
  let classRunS: number | undefined;
  try {
    // Every server at once, as when a class logs in together.
    const started = await Promise.allSettled(
      runs.map(async (r) => (r.serverStartS = r1(await startServer(api, r.user, deadline, controller.signal)))),
    );
    const failed = started.findIndex((s) => s.status === "rejected");
    if (failed >= 0) {
      runs[failed].error = String((started[failed] as PromiseRejectedResult).reason);
      stop(`a server did not start: ${runs[failed].error}`);
    } else {
      serversReadyS = r1((performance.now() - t0) / 1000);
      const t1 = performance.now();
      // Then the notebook in every server at once.
      await Promise.all(
        runs.map((r) =>
          runNotebook(api, r, uids.get(r.user)!, cells, preamble, sampler, controller.signal).catch((err) => {
            r.error = err instanceof Error ? err.message : String(err);
          }),
        ),
      );
      classRunS = r1((performance.now() - t1) / 1000);
    }
  } finally {
    clearTimeout(timer);
    sampler.stop();
  }
  const classTotalS = r1((performance.now() - t0) / 1000);
  for (const r of runs) {
    const uid = uids.get(r.user)!;
    r.peakRssMb = Math.round(mb(sampler.peakRssKb.get(uid) ?? 0));
    r.peakPssMb = Math.round(mb(sampler.peakPssKb.get(uid) ?? 0));
    r.cpuSeconds = r1(sampler.cpuSeconds(uid));
    if (r.runS !== undefined) r.runS = r1(r.runS);
    if (r.kernelStartS !== undefined) r.kernelStartS = r1(r.kernelStartS);
  }
  const result: Rung = {
    n: users.length,
    finished: runs.every((r) => r.finished),
    stoppedBecause: controller.signal.aborted ? String(controller.signal.reason) : undefined,
    loadStart,
    loadEnd: loadavg(),
    serversReadyS,
    classRunS,
    classTotalS,
    students: runs,
    peakClassRssMb: Math.round(mb(sampler.peakClassRssKb)),
    peakClassPssMb: Math.round(mb(sampler.peakClassPssKb)),
    peakHubProxyRssMb: Math.round(mb(sampler.peakHubKb)),
    availableStartMb,
    minAvailableMb: Math.round(sampler.minAvailableMb),
    hubProxyCpuSeconds: r1(sampler.hubCpuSeconds()),
    machineBusyCpuSeconds: r1(sampler.machineBusySeconds()),
    cores: os.cpus().length,
  };
  await stopServers(api, users);
  return result;
}

// --- report -------------------------------------------------------------------------

const max = (xs: number[]) => (xs.length ? Math.max(...xs) : 0);
const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);

interface Sizing {
  perStudentMb: number;
  /** The largest rung's fall of the machine's available memory, per student (shared pages counted once). */
  usedPerStudentMb: number;
  studentsPerGbUsed: number;
  hubProxyMb: number;
  studentsPerGb: number;
  cpuSecondsPerRun: number;
  windowS: number;
  studentsPerCore: number;
  scaledFromEpochs?: number;
}

/** Per-student figures from the rungs that finished: the largest peak anyone had, the mean CPU per run. */
function sizing(rungs: Rung[], trainingCell: number, scaleEpochs: number | undefined, window: number): Sizing | null {
  const ok = rungs.filter((r) => r.finished);
  if (!ok.length) return null;
  const students = ok.flatMap((r) => r.students);
  const perStudentMb = max(students.map((s) => s.peakRssMb));
  // A run trained for fewer epochs: its training cell's CPU scaled to the default epochs.
  const cpu = students.map((s) => {
    if (!scaleEpochs) return s.cpuSeconds;
    const train = s.cells.find((c) => c.index === trainingCell)?.cpuSeconds ?? 0;
    return s.cpuSeconds + train * (DEFAULT_EPOCHS / scaleEpochs - 1);
  });
  const cpuSecondsPerRun = mean(cpu);
  const top = ok[ok.length - 1];
  const usedPerStudentMb = Math.round((top.availableStartMb - top.minAvailableMb) / top.n);
  return {
    perStudentMb,
    usedPerStudentMb,
    studentsPerGbUsed: r1(1024 / usedPerStudentMb),
    hubProxyMb: max(ok.map((r) => r.peakHubProxyRssMb)),
    studentsPerGb: r1(1024 / perStudentMb),
    cpuSecondsPerRun: r1(cpuSecondsPerRun),
    windowS: window,
    studentsPerCore: r1(window / cpuSecondsPerRun),
    scaledFromEpochs: scaleEpochs,
  };
}

interface NotTried {
  n: number;
  needMb: number;
  availableMb: number;
}

function report(
  rungs: Rung[],
  mode: string,
  sizes: Record<string, string>,
  size: Sizing | null,
  notTried: NotTried | undefined,
  minFreeMb: number,
): string[] {
  const held = rungs.filter((r) => r.finished).map((r) => r.n);
  const lines = [
    `# Hub load (${new Date().toISOString()})`,
    "",
    `The main notebook (${mode}: ${
      Object.entries(sizes)
        .map(([k, v]) => `${k}=${v}`)
        .join(", ") || "no FMNIST_* limits"
    }) run at once in N students' JupyterLab servers on a real JupyterHub ` +
      `(started through its REST API, a fresh tslab kernel each, cells over the kernel's websocket). ` +
      `${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GB, Node ${process.version}. ` +
      "Memory: each student's processes (server, kernel) summed, sampled every 0.5 s; RSS counts shared " +
      "pages in every process, PSS shares them out. CPU: user+system seconds of each student's processes.",
    "",
    "| N | finished | servers ready (s) | class run (s) | slowest student (s) | peak RSS/student, max (MB) | " +
      "peak PSS/student, max (MB) | class peak RSS incl. hub+proxy (MB) | CPU s/student, mean | " +
      "machine busy CPU s | available memory fell by (MB) | load avg start → end |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ...rungs.map(
      (r) =>
        `| ${r.n} | ${r.students.filter((s) => s.finished).length}/${r.n} | ${r.serversReadyS ?? "-"} | ` +
        `${r.classRunS ?? "-"} | ${max(r.students.map((s) => s.runS ?? 0)) || "-"} | ` +
        `${max(r.students.map((s) => s.peakRssMb))} | ${max(r.students.map((s) => s.peakPssMb))} | ` +
        `${r.peakClassRssMb} | ${r1(mean(r.students.map((s) => s.cpuSeconds)))} | ${r.machineBusyCpuSeconds} | ` +
        `${r.availableStartMb - r.minAvailableMb} | ${r.loadStart} → ${r.loadEnd} |`,
    ),
    "",
    held.length
      ? `Largest N with every run finished: **${max(held)}**` +
        (rungs.some((r) => !r.finished) || notTried ? "." : " (the top of the ladder: larger N were not tried).")
      : "No rung finished.",
  ];
  if (notTried)
    lines.push(
      "",
      `N=${notTried.n} was not tried: it would need about ${notTried.needMb} MB (N times what the machine's ` +
        "available memory fell by per student in the rung before, plus a tenth) and " +
        `${notTried.availableMb} MB were available, less the --min-free-mb ${minFreeMb} MB kept free.`,
    );
  for (const r of rungs.filter((x) => !x.finished)) {
    lines.push("", `N=${r.n} failed${r.stoppedBecause ? `: ${r.stoppedBecause}` : ""}.`);
    for (const s of r.students.filter((x) => x.error)) lines.push(`- ${s.user}: ${s.error!.slice(0, 400)}`);
  }
  const accs = rungs.flatMap((r) => r.students.map((s) => s.testAccuracy).filter(Boolean));
  if (accs.length) lines.push("", `Test accuracy printed by the runs: ${[...new Set(accs)].join(", ")}.`);
  if (size)
    lines.push(
      "",
      "Sizing from the rungs that finished: memory per student = the largest per-student peak RSS (an upper " +
        "bound), and what the machine's available memory fell by per student in the largest rung (shared pages " +
        "counted once; other work on the machine moves it); students " +
        `per core = a ${size.windowS / 60}-minute window / mean CPU seconds per run` +
        (size.scaledFromEpochs
          ? ` (training cell's CPU scaled from ${size.scaledFromEpochs} to ${DEFAULT_EPOCHS} epochs)`
          : "") +
        `; add the hub and proxy (${size.hubProxyMb} MB) once.`,
      "",
      "| per student: peak RSS (MB) | students per GB (RSS) | available memory used per student (MB) | " +
        "students per GB (used) | CPU s per run | students per core |",
      "| --- | --- | --- | --- | --- | --- |",
      `| ${size.perStudentMb} | ${size.studentsPerGb} | ${size.usedPerStudentMb} | ${size.studentsPerGbUsed} | ` +
        `${size.cpuSecondsPerRun} | ${size.studentsPerCore} |`,
    );
  return lines;
}

// --- main -----------------------------------------------------------------------------

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

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "hub-load-"));
  fs.chmodSync(tmp, 0o755); // the state's exchange inside must be reachable by the class
  const prefix = `hl${crypto.randomBytes(3).toString("hex")}`;
  const students = Array.from({ length: ladder[ladder.length - 1] }, (_, i) => `${prefix}-s${i + 1}`);
  const everyone = [`${prefix}-t`, ...students];
  const roster = path.join(tmp, "roster.csv");
  fs.writeFileSync(
    roster,
    ["username,role,name", `${prefix}-t,instructor,Load Instructor`, ...students.map((s) => `${s},student,Load ${s}`)]
      .join("\n")
      .concat("\n"),
  );
  // An API token for this bench: a JupyterHub service with a role that may start, reach and read servers.
  const token = crypto.randomBytes(32).toString("hex");
  const extra = path.join(tmp, "bench-service.py");
  fs.writeFileSync(
    extra,
    [
      "c.JupyterHub.services = [{'name': 'hub-load-bench', 'api_token': " + JSON.stringify(token) + "}]",
      "c.JupyterHub.load_roles = [{'name': 'hub-load-bench', 'services': ['hub-load-bench'],",
      "                            'scopes': ['admin:servers', 'access:servers', 'read:users']}]",
      "",
    ].join("\n"),
    { mode: 0o600 },
  );
  const state = path.join(tmp, "state");
  const dataDir = process.env.FMNIST_DATA_DIR ? userPath(process.env.FMNIST_DATA_DIR) : path.join(ROOT, "data");
  // The dataset's source, as `npm run hub` would use it: the user's mirror, else the shared copy if present.
  const mirror = process.env.FASHION_MNIST_MIRROR || (fs.existsSync(sharedDataDir) ? sharedDataDir : undefined);
  let starting: Promise<RunningHub> | undefined;
  let cleaning: Promise<void> | undefined;
  let interrupted = false;
  // One clean-up, whoever asks first (Ctrl-C or the end of main); both wait for it to finish.
  const cleanup = () => (cleaning ??= removeClass());
  const removeClass = async () => {
    await starting?.then(
      (h) => h.stop(),
      () => undefined,
    );
    const teardown = hubCommand(["--teardown", "--state", state]);
    if (teardown.status !== 0) console.error(`bench:hub: --teardown failed:\n${teardown.output}`);
    for (const u of everyone) if (userExists(u)) spawnSync("userdel", ["--remove", "--force", u], { timeout: 30_000 });
    fs.rmSync(tmp, { recursive: true, force: true });
    const left = everyone.filter(userExists);
    if (left.length) console.error(`bench:hub: could not remove the users ${left.join(", ")}`);
  };
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
      const r = await rung(api, hub, students.slice(0, n), cells, preamble, timeoutS, minFreeMb);
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
  const lines = report(rungs, mode, sizes, size, notTried, minFreeMb);
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
