// Preloaded (node --require) into a process under test: counts the calls that
// change files below FAULT_ROOT (mkdir, open for writing, write, fsync, close,
// rename, rm) and kills the process with SIGKILL right before call number
// FAULT_KILL_AT, as a crash or `kill -9` would at that point. Every counted
// call is logged to FAULT_LOG, so a test knows how many kill points there are.
// Nothing in the library knows about it.
import * as path from "path";

// The module object itself (an `import * as` copy would have getters only).

const fs = require("fs") as typeof import("fs");

const root = path.resolve(process.env.FAULT_ROOT ?? "/nonexistent");
const killAt = Number(process.env.FAULT_KILL_AT ?? "0");
const logFile = process.env.FAULT_LOG;
const appendLog = fs.appendFileSync;
const tracked = new Set<number>();
let count = 0;

let logging = false;
const under = (p: unknown): boolean => {
  if (logging || !(typeof p === "string" || p instanceof URL)) return false;
  const full = path.resolve(p instanceof URL ? p.pathname : p);
  return full === root || full.startsWith(root + path.sep);
};

function step(what: string, target: unknown): void {
  count++;
  logging = true; // the log's own writes are not counted
  try {
    if (logFile) appendLog(logFile, `${count} ${what} ${String(target)}\n`);
  } finally {
    logging = false;
  }
  if (count === killAt) process.kill(process.pid, "SIGKILL");
}

type Fn = (...args: unknown[]) => unknown;
const mod = fs as unknown as Record<string, Fn>;
function wrap(
  name: string,
  counts: (args: unknown[]) => unknown | undefined,
  after?: (result: unknown, args: unknown[]) => void,
): void {
  const original = mod[name];
  mod[name] = function (this: unknown, ...args: unknown[]) {
    const target = counts(args);
    if (target !== undefined) step(name, target);
    const result = original.apply(this, args);
    after?.(result, args);
    return result;
  };
}

const writing = (flags: unknown) => typeof flags === "string" && /[wa+]/.test(flags);
wrap(
  "openSync",
  (a) => (under(a[0]) && writing(a[1]) ? a[0] : undefined),
  (fd, a) => {
    if (under(a[0])) tracked.add(fd as number); // also folders opened to fsync them
  },
);
wrap("writeSync", (a) => (tracked.has(a[0] as number) ? `fd ${a[0]}` : undefined));
wrap("writeFileSync", (a) => (tracked.has(a[0] as number) ? `fd ${a[0]}` : under(a[0]) ? a[0] : undefined));
wrap("fsyncSync", (a) => (tracked.has(a[0] as number) ? `fd ${a[0]}` : undefined));
wrap(
  "closeSync",
  (a) => (tracked.has(a[0] as number) ? `fd ${a[0]}` : undefined),
  (_r, a) => tracked.delete(a[0] as number),
);
wrap("mkdirSync", (a) => (under(a[0]) ? a[0] : undefined));
wrap("renameSync", (a) => (under(a[0]) || under(a[1]) ? `${String(a[0])} -> ${String(a[1])}` : undefined));
wrap("rmSync", (a) => (under(a[0]) ? a[0] : undefined));
