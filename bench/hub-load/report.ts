// The bench's report: per-student sizing from the rungs that finished, and the Markdown table.
import * as os from "os";
import { r1 } from "./measure";
import type { Rung } from "./rung";

// The windows the sizing rows assume: a class-size run is an exercise in a lab
// session; a full-size run is homework left running.
export const CLASS_WINDOW_S = 10 * 60;
export const FULL_WINDOW_S = 60 * 60;
export const DEFAULT_EPOCHS = 10; // lib/runtime/config.ts's default, which a full-size run uses

export const max = (xs: number[]) => (xs.length ? Math.max(...xs) : 0);
export const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);

export interface Sizing {
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
export function sizing(
  rungs: Rung[],
  trainingCell: number,
  scaleEpochs: number | undefined,
  window: number,
): Sizing | null {
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

export interface NotTried {
  n: number;
  needMb: number;
  availableMb: number;
}

export function report(
  rungs: Rung[],
  mode: string,
  sizes: Record<string, string>,
  size: Sizing | null,
  notTried: NotTried | undefined,
  minFreeMb: number,
  loginOverS = 0,
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
      `(started through its REST API${loginOverS ? `, spread over ${loginOverS} s` : ", all at once"}, a fresh tslab ` +
      `kernel each, cells over the kernel's websocket). ` +
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
