// A rung of the ladder: N students' servers started at once, the notebook run in each at once, their
// processes sampled meanwhile; then the servers stopped and nothing of theirs left running.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { spawnSync } from "child_process";
import { homeOf, processesOf, type RunningHub } from "../../test/hub";
import { availableMb, loadavg, mb, r1, Sampler, sleep } from "./measure";
import { type Api, type Cell, runNotebook, startServer, type StudentRun } from "./student";

export interface Rung {
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

export async function rung(
  api: Api,
  hub: RunningHub,
  users: string[],
  cells: Cell[],
  preamble: string,
  timeoutS: number,
  minFreeMb: number,
  loginOverS = 0,
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
    // Every server at once, as when a class logs in together, or spread over --login-over seconds.
    const started = await Promise.allSettled(
      runs.map(async (r, i) => {
        await sleep((i * loginOverS * 1000) / runs.length);
        r.serverStartS = r1(await startServer(api, r.user, deadline, controller.signal));
      }),
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
