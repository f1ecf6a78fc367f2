// The course folder and nbgrader: the options every course command takes,
// nbgrader run in the course (blocking or not), the course's assignments, and
// the check that nothing hidden (tests, solutions) leaks into what students get.
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { repoRoot } from "fashion-mnist-lib/dist/runtime/paths";

export class CourseError extends Error {}

export interface CourseOptions {
  course: string;
  assignments: string[];
  submissions?: string;
  timeout?: number;
  /** Resident memory (MB) each notebook's kernel may use (COURSE_MEMORY_LIMIT_MB; 0 = no limit). */
  memoryLimitMb?: number;
  /** Write nbgrader's own output here (default: this process's stdout/stderr). */
  quiet?: boolean;
  /** Run students' kernels in bubblewrap (default true; --no-sandbox turns it off, with a warning). */
  sandbox?: boolean;
  /** Only these students' submissions (autograde, feedback); default everyone's. */
  students?: string[];
  /** Submissions graded side by side (default: what cores and memory allow; 1 without the sandbox). */
  jobs?: number;
}

export function venvBin(): string {
  return path.join(repoRoot(), ".venv", "bin");
}

/** nbgrader's path and environment for a run in the course folder. */
function nbgraderCommand(opts: CourseOptions, extraEnv: NodeJS.ProcessEnv): { bin: string; env: NodeJS.ProcessEnv } {
  const bin = path.join(venvBin(), "nbgrader");
  if (!fs.existsSync(bin)) throw new CourseError(`${bin} is missing: run \`npm run setup\` first.`);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...extraEnv,
    PATH: `${venvBin()}${path.delimiter}${process.env.PATH ?? ""}`,
    COURSE_SANDBOX: opts.sandbox === false ? "none" : "bwrap",
  };
  if (opts.timeout !== undefined) env.COURSE_CELL_TIMEOUT = String(opts.timeout);
  if (opts.memoryLimitMb !== undefined) env.COURSE_MEMORY_LIMIT_MB = String(opts.memoryLimitMb);
  return { bin, env };
}

/** Runs nbgrader in the course folder; returns its combined output. Throws on a non-zero exit. */
export function nbgrader(opts: CourseOptions, args: string[], extraEnv: NodeJS.ProcessEnv = {}): string {
  const { bin, env } = nbgraderCommand(opts, extraEnv);
  const res = spawnSync(bin, [...args, `--CourseDirectory.root=${opts.course}`], {
    cwd: opts.course,
    env,
    encoding: "utf8",
    maxBuffer: 256 * 1024 * 1024,
  });
  const output = `${res.stdout ?? ""}${res.stderr ?? ""}`;
  if (!opts.quiet) process.stdout.write(output);
  if (res.error) throw new CourseError(`nbgrader ${args.join(" ")}: ${res.error.message}`);
  if (res.status !== 0) {
    throw new CourseError(`nbgrader ${args.join(" ")} failed (exit ${res.status}):\n${lastLines(output, 30)}`);
  }
  return output;
}

/** nbgrader run without blocking this process (for grading side by side): its exit code and combined output. */
export function nbgraderAsync(opts: CourseOptions, args: string[]): Promise<{ code: number | null; output: string }> {
  const { bin, env } = nbgraderCommand(opts, {});
  return new Promise((resolve, reject) => {
    const child = spawn(bin, [...args, `--CourseDirectory.root=${opts.course}`], { cwd: opts.course, env });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, output }));
  });
}

/** The line that says why an nbgrader run failed: its last exception's message, else its last line. */
export function nbgraderFailure(output: string): string {
  const exceptions = [...output.matchAll(/^\s*[\w.]+(?:Error|Exception|MissingEntry): (.+)$/gm)];
  const why = exceptions.length ? exceptions[exceptions.length - 1][1].trim() : lastLines(output, 1);
  const missing = /No assignment with ID '([^']+)' exists in the database/.exec(why);
  return missing ? `${why} (run \`npm run course -- generate ${missing[1]}\` first)` : why;
}

export function lastLines(text: string, n: number): string {
  return text.trimEnd().split("\n").slice(-n).join("\n");
}

/** Assignment names: folders under source/ (or the ones asked for, which must exist). */
export function assignments(opts: CourseOptions): string[] {
  const source = path.join(opts.course, "source");
  if (!fs.existsSync(path.join(opts.course, "nbgrader_config.py"))) {
    throw new CourseError(`${opts.course} is not a course folder (no nbgrader_config.py); pass --course DIR.`);
  }
  const all = fs
    .readdirSync(source, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
  for (const a of opts.assignments) {
    if (!all.includes(a)) throw new CourseError(`no assignment "${a}" in ${source} (have: ${all.join(", ")})`);
  }
  return opts.assignments.length ? opts.assignments : all;
}

export const HIDDEN = /BEGIN HIDDEN TESTS|END HIDDEN TESTS/;
export const SOLUTION = /BEGIN SOLUTION|END SOLUTION/;

export function filesUnder(dir: string, ext: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(ext) && !f.includes(".ipynb_checkpoints"))
    .map((f) => path.join(dir, f));
}

/** Throws if any file holds a hidden test (or, for student versions, a solution). */
export function assertNothingLeaks(files: string[], what: string, patterns: RegExp[]): void {
  for (const file of files) {
    const text = fs.readFileSync(file, "utf8");
    for (const p of patterns) {
      if (p.test(text)) throw new CourseError(`${file}: the ${what} contains "${text.match(p)![0]}"; it must not.`);
    }
  }
}
