// A run the system kills (the cgroup's OOM killer, kill -9) cannot say so
// itself. So a long run leaves a note when it starts and removes it when it
// ends, however it ends in JavaScript; the next start (a kernel's restart and
// its import cell, the next `npm run train`) reads the notes of processes that
// are gone and says what happened, naming memory when the OOM killer fired.
import * as fs from "fs";
import * as path from "path";
import { dataDir } from "./paths";
import { memoryLimits, oomKills } from "./memory";

interface Note {
  pid: number;
  /** /proc/<pid>/stat's start time, so a reused pid is not taken for the run. */
  startTicks?: string;
  what: string;
  started: string;
  /** How to go on from what was saved. */
  resume: string;
  limit?: { mb: number; source: string; cgroup?: string };
  oomKillsAtStart?: number;
}

const notesDir = () => path.join(dataDir(), ".runs");

function startTicks(pid: number): string | undefined {
  try {
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

function alive(note: Note): boolean {
  try {
    process.kill(note.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  return note.startTicks === undefined || startTicks(note.pid) === note.startTicks;
}

/**
 * Leaves a note that `what` is running (removed by the function returned,
 * which the caller runs however the work ends). Never throws: without a
 * writable data folder there is just no note.
 */
export function noteRunStart(what: string, resume: string): () => void {
  try {
    const limit = memoryLimits().find((l) => l.kind === "resident");
    const note: Note = {
      pid: process.pid,
      startTicks: startTicks(process.pid),
      what,
      started: new Date().toISOString(),
      resume,
      limit: limit && { mb: Math.round(limit.mb), source: limit.source, cgroup: limit.cgroup },
      oomKillsAtStart: limit && oomKills(limit),
    };
    fs.mkdirSync(notesDir(), { recursive: true });
    const file = path.join(notesDir(), `${process.pid}-${Date.now()}.json`);
    fs.writeFileSync(file, JSON.stringify(note));
    return () => fs.rmSync(file, { force: true });
  } catch {
    return () => undefined;
  }
}

/**
 * What the runs whose process is gone without removing their note were doing,
 * and why they most likely ended: one message each (their notes removed).
 * Never throws.
 */
export function killedRuns(): string[] {
  const messages: string[] = [];
  let files: string[];
  try {
    files = fs.readdirSync(notesDir()).filter((f) => f.endsWith(".json"));
  } catch {
    return messages;
  }
  for (const f of files) {
    const file = path.join(notesDir(), f);
    try {
      const note = JSON.parse(fs.readFileSync(file, "utf8")) as Note;
      if (alive(note)) continue;
      fs.rmSync(file, { force: true });
      const at = note.started.replace("T", " ").slice(0, 16);
      const kills = note.limit?.cgroup ? oomKills({ ...note.limit, kind: "resident" }) : undefined;
      const byMemory = kills !== undefined && note.oomKillsAtStart !== undefined && kills > note.oomKillsAtStart;
      messages.push(
        byMemory
          ? `The previous run (${note.what}, started ${at} UTC) was stopped by the memory limit: ` +
              `${note.limit?.source} allows ${note.limit?.mb} MB and the system's out-of-memory killer ended the process. ` +
              `${note.resume} To need less memory, train on fewer images (FMNIST_TRAIN_LIMIT) or close other kernels.`
          : `The previous run (${note.what}, started ${at} UTC) did not finish: its process was ended from outside ` +
              `(killed, or the machine stopped)${note.limit ? `; if memory ran out, the limit is ${note.limit.mb} MB (${note.limit.source})` : ""}. ` +
              note.resume,
      );
    } catch {
      fs.rmSync(file, { force: true });
    }
  }
  return messages;
}
