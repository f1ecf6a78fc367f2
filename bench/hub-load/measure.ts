// The bench's measurements: every student's processes read from /proc (resident and proportional
// memory, CPU ticks), the hub's and proxy's, the machine's busy time and available memory.
import * as fs from "fs";
import { spawnSync } from "child_process";
import { descendants } from "../../test/lab";

const SAMPLE_MS = 500;
const CLK_TCK = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout.trim()) || 100;

export const mb = (kb: number) => kb / 1024;
export const r1 = (x: number) => Math.round(x * 10) / 10;
export const loadavg = () => fs.readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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

export function availableMb(): number {
  return mb(Number(/MemAvailable:\s+(\d+)/.exec(fs.readFileSync("/proc/meminfo", "utf8"))?.[1] ?? 0));
}

/** Samples the class's processes every half second: peaks per student and for the class, CPU per process. */
export class Sampler {
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
