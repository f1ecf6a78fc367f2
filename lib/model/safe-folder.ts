// Writing a folder so that a crash at any point leaves either its previous
// content or its new content, whole (used for saved models and checkpoints).
//
// NAME/ is always a plain folder (it can be copied or handed in as it is). A
// write puts a complete copy beside it and swaps it in:
//   1. .NAME.saving-PID-R/: every file written and fsynced, then saved.json
//      (the "complete" mark) last;
//   2. NAME -> .NAME.previous-PID-R (rename);
//   3. .NAME.saving-PID-R -> NAME (rename);
//   4. .NAME.previous-PID-R -> .NAME.trash-PID-R (rename), then removed.
// Between 2 and 3 there is no NAME. Whoever next reads or writes NAME puts back
// the newest complete copy (a finished staging copy, else the previous one),
// so the gap is never seen as "nothing saved". Leftovers of processes that are
// gone are removed by the next read or write; several processes writing one
// name at once each finish with one whole folder in place. Reads take a
// snapshot of every file and keep it only if the folder's mark was the same
// before and after, so a reader never mixes two writes, and waits out another
// live process's swap instead of reporting nothing saved.
import * as fs from "fs";
import * as path from "path";
import { processAlive } from "../runtime/leftovers";

const MARK = "saved.json";
type Kind = "saving" | "previous" | "trash";

/**
 * The longest entry a write of NAME puts in its folder, .NAME.previous-PID-R
 * (a Linux PID has up to 7 digits, R 8 characters): what a name's length
 * must leave room for.
 */
export function longestWorkingName(name: string): string {
  return `.${name}.previous-${"9".repeat(7)}-${"r".repeat(8)}`;
}

interface Sibling {
  path: string;
  kind: Kind;
  pid: number;
}

/** The .NAME.<kind>-PID-R folders beside NAME. */
function siblings(dir: string, name: string): Sibling[] {
  const prefix = `.${name}.`;
  let entries: string[];
  try {
    entries = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const found: Sibling[] = [];
  for (const entry of entries) {
    if (!entry.startsWith(prefix)) continue;
    const m = /^(saving|previous|trash|old)-(\d+)-?/.exec(entry.slice(prefix.length));
    // "old" is how earlier versions of this module named the previous copy.
    if (m)
      found.push({
        path: path.join(dir, entry),
        kind: (m[1] === "old" ? "previous" : m[1]) as Kind,
        pid: Number(m[2]),
      });
  }
  return found;
}

/** When a complete copy was finished (its mark), or undefined if it is not complete. */
function completedAt(folder: string, kind: Kind): number | undefined {
  try {
    const mark = JSON.parse(fs.readFileSync(path.join(folder, MARK), "utf8")) as { savedAt?: number };
    return typeof mark.savedAt === "number" ? mark.savedAt : 0;
  } catch {
    // A previous copy without a mark is a whole save from before marks existed.
    return kind === "previous" && fs.existsSync(path.join(folder, "model.json")) ? 0 : undefined;
  }
}

function fsyncDir(dir: string): void {
  try {
    const fd = fs.openSync(dir, "r");
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    // Not every file system can sync a folder; the renames are still atomic.
  }
}

function writeDurably(file: string, data: string | Uint8Array): void {
  const fd = fs.openSync(file, "w");
  try {
    fs.writeFileSync(fd, data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === "ENOENT";
}

/** rename, where a source that is already gone (another process moved it) is no error. */
function moveIfThere(from: string, to: string): boolean {
  try {
    fs.renameSync(from, to);
    return true;
  } catch (err) {
    if (isMissing(err)) return false;
    throw err;
  }
}

function isTaken(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === "ENOTEMPTY" || code === "EEXIST" || code === "EISDIR" || code === "ENOTDIR";
}

/**
 * When NAME is missing (a save was killed between its two renames), puts the
 * newest complete copy in its place. Then removes what processes that are gone
 * left behind. Returns whether NAME exists afterwards.
 */
export function repair(dir: string, name: string): boolean {
  const target = path.join(dir, name);
  for (let attempt = 0; attempt < 5 && !fs.existsSync(target); attempt++) {
    const candidates = siblings(dir, name)
      .filter((s) => s.kind !== "trash")
      .map((s) => ({ ...s, at: completedAt(s.path, s.kind) }))
      .filter((s): s is Sibling & { at: number } => s.at !== undefined)
      .sort((a, b) => b.at - a.at);
    if (candidates.length === 0) break;
    try {
      fs.renameSync(candidates[0].path, target);
      fsyncDir(dir);
    } catch (err) {
      if (!isMissing(err) && !isTaken(err)) throw err;
      // Another process moved it first: look again.
    }
  }
  for (const s of siblings(dir, name)) {
    if (processAlive(s.pid)) continue;
    if (s.kind === "saving" && completedAt(s.path, s.kind) === undefined) {
      fs.rmSync(s.path, { recursive: true, force: true });
    } else if (s.kind !== "saving" && fs.existsSync(target)) {
      fs.rmSync(s.path, { recursive: true, force: true });
    } else if (s.kind === "saving" && fs.existsSync(target)) {
      // A complete copy whose process died before swapping it in: older or
      // newer than NAME, it was never the saved model; NAME stays.
      fs.rmSync(s.path, { recursive: true, force: true });
    }
  }
  return fs.existsSync(target);
}

/** Whether a process other than this one is in the middle of writing NAME. */
function othersWriting(dir: string, name: string): boolean {
  return siblings(dir, name).some((s) => s.kind !== "trash" && s.pid !== process.pid && processAlive(s.pid));
}

function markText(folder: string): string | undefined {
  try {
    return fs.readFileSync(path.join(folder, MARK), "utf8");
  } catch {
    return undefined;
  }
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Every file of dir/name (name -> bytes), all from one write, or undefined when
 * nothing is saved under that name. While another process is swapping NAME,
 * waits for it (up to about 10 s) rather than reading half of each.
 */
export async function readFolder(dir: string, name: string): Promise<Record<string, Buffer> | undefined> {
  const target = path.join(dir, name);
  let failure: unknown;
  for (let attempt = 0; attempt < 60; attempt++) {
    if (attempt > 0) await pause(Math.min(250, 5 * attempt));
    if (!repair(dir, name)) {
      if (othersWriting(dir, name)) continue;
      return undefined;
    }
    const before = markText(target);
    try {
      const files: Record<string, Buffer> = {};
      for (const entry of fs.readdirSync(target, { withFileTypes: true }))
        if (entry.isFile() && entry.name !== MARK) files[entry.name] = fs.readFileSync(path.join(target, entry.name));
      if (markText(target) === before) return files;
    } catch (err) {
      // Moved away while read (another process's swap), or unreadable.
      failure = err;
      if (!othersWriting(dir, name) && fs.existsSync(target)) throw err;
    }
  }
  throw new Error(`${target} kept changing while it was read: other processes are writing it`, { cause: failure });
}

// Writes of one folder within this process run one after another.
const queues = new Map<string, Promise<unknown>>();

/**
 * Replaces dir/name with a folder holding `files` (name -> content), crash-safe
 * as described above. `files` is computed first (it may fail without touching
 * anything). Returns the folder.
 */
export async function writeFolder(
  dir: string,
  name: string,
  files: () => Promise<Record<string, string | Uint8Array>>,
): Promise<string> {
  const target = path.join(dir, name);
  const key = path.resolve(target);
  const before = queues.get(key) ?? Promise.resolve();
  const run = before.catch(() => undefined).then(async () => swapIn(dir, name, target, await files()));
  queues.set(key, run);
  try {
    return await run;
  } finally {
    if (queues.get(key) === run) queues.delete(key);
  }
}

function swapIn(dir: string, name: string, target: string, files: Record<string, string | Uint8Array>): string {
  const tag = () => `${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
  let staging: string | undefined;
  try {
    fs.mkdirSync(dir, { recursive: true });
    repair(dir, name);
    staging = path.join(dir, `.${name}.saving-${tag()}`);
    fs.mkdirSync(staging);
    for (const [file, content] of Object.entries(files)) writeDurably(path.join(staging, file), content);
    const mark = { name, savedAt: Date.now(), pid: process.pid, id: tag() };
    writeDurably(path.join(staging, MARK), JSON.stringify(mark));
    fsyncDir(staging);
    // Swap it in. Other processes may be swapping the same name: whatever
    // they do, retry until this copy is NAME or another finished copy took
    // its place after it (then this one was simply overwritten).
    for (let attempt = 0; ; attempt++) {
      const id = tag();
      const previous = path.join(dir, `.${name}.previous-${id}`);
      const trash = path.join(dir, `.${name}.trash-${id}`);
      const moved = moveIfThere(target, previous);
      try {
        fs.renameSync(staging, target);
        fsyncDir(dir);
      } catch (err) {
        if (!isTaken(err) && !isMissing(err)) throw err;
        if (isMissing(err) && fs.existsSync(target) && !fs.existsSync(staging)) {
          // A reader put this very copy in place during the gap (repair): done.
        } else {
          // Someone else's copy is NAME now; the one moved aside is older than it.
          if (moved) moveIfThere(previous, trash);
          if (attempt >= 20) throw new Error(`another process keeps replacing ${target}`, { cause: err });
          continue;
        }
      }
      if (moved && moveIfThere(previous, trash)) fs.rmSync(trash, { recursive: true, force: true });
      break;
    }
    staging = undefined;
    return target;
  } finally {
    if (staging) fs.rmSync(staging, { recursive: true, force: true });
    // Trash of this process (a retried swap) goes now.
    for (const s of siblings(dir, name))
      if (s.kind === "trash" && s.pid === process.pid) fs.rmSync(s.path, { recursive: true, force: true });
  }
}
