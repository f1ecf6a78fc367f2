// The nbgrader workflow for the TypeScript exercises in exercises/, as one command:
//
//   npm run course -- generate   [assignment...]   student versions into exercises/release/
//   npm run course -- validate   [assignment...]   instructor versions pass, student versions fail every test
//                                                  (and the partial-credit matrix: each solution region alone -> points)
//   npm run course -- autograde  [assignment...] [--submissions DIR]   grade exercises/submitted/ (DIR is copied in first)
//   npm run course -- feedback   [assignment...]   feedback HTML into exercises/feedback/ (hidden tests removed)
//   npm run course -- collect --zip FILE [assignment]   a Canvas or Moodle archive of submissions into exercises/submitted/
//   npm run course -- grades [--format canvas|moodle]   grades.csv plus a per-exercise summary (and the LMS's import file)
//
// Options: --course DIR (default exercises/), --timeout SECONDS (per cell, default 120),
// --memory-limit MB (per notebook's kernel, default 2048; 0 = none), --jobs N, --student NAME,
// --no-sandbox; --help lists them. Every kernel that runs a notebook is sandboxed (kernel_sandbox.py).
// Submissions are laid out as nbgrader expects: <DIR>/<student>/<assignment>/<assignment>.ipynb.
import { spawn, spawnSync } from "child_process";
import { createHash } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import pl from "nodejs-polars";
import { dataDir, repoRoot, userPath } from "fashion-mnist-lib/dist/runtime/paths";
import { estimateRunMemoryMb } from "fashion-mnist-lib/dist/runtime/memory";
import { defaultCacheDir, FILES } from "fashion-mnist-lib/dist/data/dataset";
import { fetchToCache, progressBar } from "fashion-mnist-lib/dist/data/download";
import { readCommandLine, runMain, UsageError, wholeNumber } from "./cli";
import { collectZip, GRADES_FORMATS, type GradesFormat, writeLmsGrades } from "./course-lms";
import { formatClassReport, GRADING_LOG, readGradingLog, recordGrading, writeClassReport } from "./course-report";
import { creditMatrix, creditProblems, formatCredit } from "./course-credit";

const COMMANDS = ["generate", "validate", "collect", "autograde", "feedback", "grades", "report"] as const;
type Command = (typeof COMMANDS)[number];

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

function venvBin(): string {
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
function nbgraderAsync(opts: CourseOptions, args: string[]): Promise<{ code: number | null; output: string }> {
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
function nbgraderFailure(output: string): string {
  const exceptions = [...output.matchAll(/^\s*[\w.]+(?:Error|Exception|MissingEntry): (.+)$/gm)];
  const why = exceptions.length ? exceptions[exceptions.length - 1][1].trim() : lastLines(output, 1);
  const missing = /No assignment with ID '([^']+)' exists in the database/.exec(why);
  return missing ? `${why} (run \`npm run course -- generate ${missing[1]}\` first)` : why;
}

function lastLines(text: string, n: number): string {
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

const HIDDEN = /BEGIN HIDDEN TESTS|END HIDDEN TESTS/;
const SOLUTION = /BEGIN SOLUTION|END SOLUTION/;

function filesUnder(dir: string, ext: string): string[] {
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

export function generate(opts: CourseOptions): void {
  for (const a of assignments(opts)) {
    nbgrader(opts, ["generate_assignment", a, "--force"]);
    assertNothingLeaks(filesUnder(path.join(opts.course, "release", a), ".ipynb"), "student version", [
      HIDDEN,
      SOLUTION,
    ]);
  }
}

export interface ValidationResult {
  notebook: string;
  expected: "pass" | "fail";
  ok: boolean;
  output: string;
}

/**
 * Extra environment for running instructor versions only: the challenge
 * assignment grades a saved full-size model; the instructor's reference copy
 * lives outside the course (data/models/challenge-model) so it is never
 * released nor copied over students' models. Students' notebooks (validate
 * --invert, autograde) look next to the notebook instead.
 */
function instructorEnv(): NodeJS.ProcessEnv {
  return {
    CHALLENGE_MODEL_DIR: process.env.CHALLENGE_MODEL_DIR
      ? userPath(process.env.CHALLENGE_MODEL_DIR)
      : path.join(dataDir(), "models"),
  };
}

/** Instructor versions must pass every test; student versions (run `generate` first) must fail every graded test. */
export async function validate(opts: CourseOptions): Promise<ValidationResult[]> {
  const results: ValidationResult[] = [];
  await prepareKernels(opts);
  for (const a of assignments(opts)) {
    for (const nb of filesUnder(path.join(opts.course, "source", a), ".ipynb")) {
      const out = nbgrader(opts, ["validate", nb], instructorEnv());
      results.push({
        notebook: nb,
        expected: "pass",
        ok: /Success! Your notebook passes all the tests\./.test(out),
        output: out,
      });
    }
    const released = filesUnder(path.join(opts.course, "release", a), ".ipynb");
    if (!released.length)
      throw new CourseError(
        `no student version of "${a}" in ${opts.course}/release: run \`npm run course -- generate\` first.`,
      );
    for (const nb of released) {
      const out = nbgrader(opts, ["validate", "--invert", nb]);
      results.push({
        notebook: nb,
        expected: "fail",
        ok: /Success! The notebook does not pass any tests\./.test(out),
        output: out,
      });
    }
  }
  return results;
}

/** Copies <dir>/<student>/<assignment>/... into the course's submitted/ folder. */
export function importSubmissions(opts: CourseOptions, dir: string): void {
  if (!fs.existsSync(dir))
    throw new CourseError(`--submissions ${dir}: no such folder (expected <student>/<assignment>/*.ipynb inside).`);
  const target = path.join(opts.course, "submitted");
  for (const student of fs.readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory())) {
    fs.cpSync(path.join(dir, student.name), path.join(target, student.name), { recursive: true, force: true });
  }
}

/**
 * Content hash, by absolute path, of every file a submission must leave alone:
 * the course folder, except what grading itself writes (the gradebook,
 * nbgrader's log, Python's caches), and the compiled library every notebook
 * imports (fashion-mnist-lib, i.e. build/lib), which later submissions would
 * otherwise run against.
 */
function watchedFiles(course: string): Map<string, string> {
  const skip = new Set(
    ["gradebook.db", "gradebook.db-journal", ".nbgrader.log", GRADING_LOG].map((f) => path.join(course, f)),
  );
  const prints = new Map<string, string>();
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (skip.has(full) || entry.name === "__pycache__") continue;
      if (entry.isDirectory()) walk(full);
      else if (entry.isSymbolicLink()) prints.set(full, `-> ${fs.readlinkSync(full)}`);
      else if (entry.isFile()) prints.set(full, createHash("sha256").update(fs.readFileSync(full)).digest("hex"));
    }
  };
  walk(course);
  walk(fs.realpathSync(path.join(repoRoot(), "node_modules", "fashion-mnist-lib")));
  return prints;
}

/** Files added, changed or removed between two snapshots, except inside `own`. */
function changedFiles(before: Map<string, string>, after: Map<string, string>, own: string): string[] {
  const changed = [...after].filter(([f, h]) => before.get(f) !== h).map(([f]) => f);
  const removed = [...before.keys()].filter((f) => !after.has(f)).map((f) => `${f} (removed)`);
  return [...changed, ...removed].filter((f) => !f.startsWith(own + path.sep)).sort();
}

/**
 * The gradebook as it was before one submission was graded: a digest per owner
 * of its rows (scripts/gradebook_digest.py) and a copy of the file, kept in a
 * temporary folder outside the course so the submission cannot reach it by a
 * path relative to the course.
 */
class GradebookGuard {
  private constructor(
    private readonly db: string,
    private readonly copy: string,
    private readonly digest: Record<string, string>,
  ) {}

  /** Undefined when there is no gradebook yet (nothing to protect). */
  static before(course: string): GradebookGuard | undefined {
    const db = path.join(course, "gradebook.db");
    if (!fs.existsSync(db)) return undefined;
    const copy = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "gradebook-")), "gradebook.db");
    fs.copyFileSync(db, copy);
    return new GradebookGuard(db, copy, gradebookDigest(db));
  }

  /** Owners (other than `own`) whose rows were changed, added or removed. */
  changedOwners(own: string[]): string[] {
    let after: Record<string, string>;
    try {
      after = gradebookDigest(this.db);
    } catch {
      return ["the whole gradebook (it can no longer be read)"];
    }
    const owners = new Set([...Object.keys(this.digest), ...Object.keys(after)]);
    return [...owners].filter((o) => !own.includes(o) && this.digest[o] !== after[o]).sort();
  }

  /** Puts the saved copy back (copy next to the gradebook, then rename over it). */
  restore(): void {
    const tmp = `${this.db}.restore-${process.pid}`;
    fs.copyFileSync(this.copy, tmp);
    fs.renameSync(tmp, this.db);
  }

  discard(): void {
    fs.rmSync(path.dirname(this.copy), { recursive: true, force: true });
  }
}

function gradebookDigest(db: string): Record<string, string> {
  const res = spawnSync(path.join(venvBin(), "python"), [path.join(repoRoot(), "scripts", "gradebook_digest.py"), db], {
    encoding: "utf8",
  });
  if (res.status !== 0)
    throw new CourseError(`${db}: cannot read the gradebook: ${(res.stderr || res.error?.message || "").trim()}`);
  return JSON.parse(res.stdout) as Record<string, string>;
}

/** What autograde did with each submission it found. */
export interface AutogradeReport {
  graded: string[];
  /** "student/assignment: reason" for submissions nbgrader could not grade. */
  failed: string[];
  /** "student/folder: reason" for what was not a submission it could grade (misplaced, malformed). */
  skipped: string[];
  /** "student/assignment: removed FILE ..." for links and other non-files taken out before nbgrader copies them. */
  removed: string[];
}

/** The closest name within a few edits (a third of the name's length), for "did you mean". */
function closest(name: string, names: string[]): string | undefined {
  const distance = (a: string, b: string) => {
    const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
    for (let j = 1; j <= b.length; j++) d[0][j] = j;
    for (let i = 1; i <= a.length; i++)
      for (let j = 1; j <= b.length; j++)
        d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    return d[a.length][b.length];
  };
  const near = Math.max(2, Math.round(name.length / 3)); // "idx-parse" is 3 edits from "idx-parsing"
  return names
    .map((n) => ({ n, d: distance(name, n) }))
    .filter((x) => x.d <= near)
    .sort((x, y) => x.d - y.d)[0]?.n;
}

/** Why submitted/<student>/<a>/ cannot be graded as it is, or undefined when it can. */
function submissionProblem(folder: string, a: string): string | undefined {
  const notebook = path.join(folder, `${a}.ipynb`);
  if (!fs.existsSync(notebook)) {
    const found = fs.readdirSync(folder).filter((f) => f.endsWith(".ipynb"));
    return `no ${a}.ipynb` + (found.length ? ` (found ${found.join(", ")}: the notebook must keep its name)` : "");
  }
  try {
    const nb = JSON.parse(fs.readFileSync(notebook, "utf8")) as { cells?: unknown };
    if (!Array.isArray(nb.cells)) return `${a}.ipynb is not a notebook (no cells)`;
  } catch {
    return `${a}.ipynb is not a notebook (invalid JSON)`;
  }
  return undefined;
}

/**
 * Removes what is not a plain file or folder under `dir` (symbolic links,
 * FIFOs, sockets, devices) and returns their paths relative to it. nbgrader
 * copies a submission's other files with shutil.copy, which follows links: a
 * link a student made (in the submission, or from their code while it was
 * graded) to the instructor's source would come back in their feedback, and
 * a FIFO would hang the copy.
 */
export function removeSpecialFiles(dir: string): string[] {
  const removed: string[] = [];
  const walk = (folder: string) => {
    for (const entry of fs.readdirSync(folder, { withFileTypes: true })) {
      const full = path.join(folder, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (!entry.isFile()) {
        fs.rmSync(full, { force: true });
        removed.push(path.relative(dir, full));
      }
    }
  };
  if (fs.existsSync(dir)) walk(dir);
  return removed;
}

/** One submission to grade: submitted/<student>/<assignment>/. */
interface Submission {
  student: string;
  assignment: string;
}

/** Why students' code cannot be sandboxed here (kernel_sandbox.py's own check), or undefined when it can. */
function sandboxProblem(opts: CourseOptions): string | undefined {
  const script = path.join(opts.course, "kernel_sandbox.py");
  if (!fs.existsSync(script)) return `${script} is missing (copy it from the project's exercises/ folder)`;
  const res = spawnSync(path.join(venvBin(), "python"), [script, "--check"], { encoding: "utf8" });
  return res.status === 0 ? undefined : (res.stderr || res.error?.message || `exit ${res.status}`).trim();
}

/**
 * The dataset files every notebook loads, downloaded now if missing (with
 * progress): sandboxed kernels have no network, and a download in each of 30
 * kernels would be 30 downloads.
 */
async function fillDatasetCache(opts: CourseOptions): Promise<void> {
  for (const file of Object.values(FILES)) {
    await fetchToCache({
      name: file.name,
      sha256: file.sha256,
      cacheDir: defaultCacheDir(),
      onProgress: opts.quiet ? undefined : progressBar("course: download"),
    });
  }
}

/**
 * Before any kernel runs: the sandbox works here (or --no-sandbox was chosen,
 * which warns), and the dataset is in the cache.
 */
async function prepareKernels(opts: CourseOptions): Promise<void> {
  if (opts.sandbox !== false) {
    const problem = sandboxProblem(opts);
    if (problem)
      throw new CourseError(
        `cannot sandbox students' code: ${problem}.\nFix that, or run without a sandbox with --no-sandbox ` +
          "(students' code then runs with your rights: only for submissions you trust).",
      );
  } else {
    console.warn(
      "course: warning: --no-sandbox: students' code runs with your rights (it can read the gradebook and " +
        "hidden tests, other submissions, and the network); submissions are graded one at a time and checked after each.",
    );
  }
  await fillDatasetCache(opts);
}

/** Side-by-side gradings: cores, and the memory a notebook's kernel peaks at (the limit, or the estimate). */
export function defaultJobs(opts: CourseOptions): number {
  const perNotebook = Math.max(opts.memoryLimitMb || 0, kernelMemoryMb());
  const byMemory = Math.floor((0.8 * os.freemem()) / 2 ** 20 / (perNotebook + 200)); // + nbgrader's own Python
  return Math.max(1, Math.min(os.availableParallelism(), byMemory));
}

function kernelMemoryMb(): number {
  return estimateRunMemoryMb(
    {
      trainLimit: Number(process.env.FMNIST_TRAIN_LIMIT ?? 2000),
      testLimit: Number(process.env.FMNIST_TEST_LIMIT ?? 1000),
    },
    true,
  );
}

/** One cell of a notebook, as far as grading reads it. */
interface NotebookCell {
  cell_type: string;
  metadata?: { nbgrader?: { grade_id?: string; locked?: boolean; grade?: boolean; solution?: boolean } };
  outputs?: { output_type: string; name?: string; text?: string | string[]; ename?: string; evalue?: string }[];
}

/**
 * Why a graded notebook says nothing about its student: one of the
 * instructor's setup cells that run before any of the student's code (the
 * import of the library, the dataset load) failed, so no test could run. A
 * setup cell that fails after the student's code ran may fail because of it:
 * that is graded as usual.
 */
export function couldNotRun(notebook: string): string | undefined {
  const nb = JSON.parse(fs.readFileSync(notebook, "utf8")) as { cells: NotebookCell[] };
  for (const cell of nb.cells) {
    const meta = cell.metadata?.nbgrader;
    if (meta?.solution || meta?.grade) return undefined;
    if (cell.cell_type !== "code" || !meta?.locked) continue;
    const error = cell.outputs?.find((o) => o.output_type === "error");
    if (!error || error.ename === "NotRun") continue;
    const text = (t?: string | string[]) => (Array.isArray(t) ? t.join("") : (t ?? ""));
    const stderr = (cell.outputs ?? [])
      .filter((o) => o.output_type === "stream" && o.name === "stderr")
      .map((o) => text(o.text))
      .join("")
      .split("\n")
      .find((l) => l.trim() && !/^(WARNING: All log messages|I0000|W0000)/.test(l));
    return `the setup cell ${meta.grade_id ?? "?"} failed: ${(stderr ?? `${error.ename}: ${error.evalue}`).trim()}`;
  }
  return undefined;
}

/** The score of one graded submission, from the gradebook. */
function scoreOf(opts: CourseOptions, s: Submission): { score: number; max: number } {
  const res = spawnSync(
    path.join(venvBin(), "python"),
    [
      path.join(repoRoot(), "scripts", "gradebook_score.py"),
      path.join(opts.course, "gradebook.db"),
      s.student,
      s.assignment,
    ],
    { encoding: "utf8" },
  );
  if (res.status !== 0) throw new CourseError(`cannot read the score of ${s.student}/${s.assignment}: ${res.stderr}`);
  return JSON.parse(res.stdout) as { score: number; max: number };
}

/**
 * A submission's graded folder from an earlier run, copied aside while it is
 * graded again: nbgrader's --force removes it first, and when the new run
 * fails (e.g. the grading kernel cannot run the library) nbgrader records
 * nothing, so the gradebook keeps the earlier grade and the copy is put back
 * to go with it.
 */
class EarlierGrading {
  private constructor(
    private readonly folder: string,
    private readonly copy: string,
  ) {}

  static save(opts: CourseOptions, s: Submission): EarlierGrading | undefined {
    const folder = path.join(opts.course, "autograded", s.student, s.assignment);
    if (!fs.existsSync(folder)) return undefined;
    const copy = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "graded-")), s.assignment);
    fs.cpSync(folder, copy, { recursive: true, verbatimSymlinks: true });
    return new EarlierGrading(folder, copy);
  }

  restore(): void {
    fs.rmSync(this.folder, { recursive: true, force: true });
    fs.cpSync(this.copy, this.folder, { recursive: true, verbatimSymlinks: true });
  }

  discard(): void {
    fs.rmSync(path.dirname(this.copy), { recursive: true, force: true });
  }
}

/**
 * Records how one nbgrader run went (`failure`: why nbgrader itself failed) and
 * says it in a line: the score, or "could not grade" and why. A submission
 * that could not run is no score: its graded copy goes, so grades leave it out;
 * when nbgrader failed, its `earlier` graded copy (if any) comes back, as the
 * gradebook still holds that grade.
 */
function settle(
  opts: CourseOptions,
  s: Submission,
  failure: string | undefined,
  report: AutogradeReport,
  earlier?: EarlierGrading,
): string {
  const id = `${s.student}/${s.assignment}`;
  const notebook = path.join(opts.course, "autograded", s.student, s.assignment, `${s.assignment}.ipynb`);
  for (const f of removeSpecialFiles(path.dirname(notebook)))
    report.removed.push(`${id}: removed ${f}, made while it was graded (not a plain file)`);
  const why = failure ?? (fs.existsSync(notebook) ? couldNotRun(notebook) : "nbgrader wrote no graded notebook");
  if (why) {
    fs.rmSync(path.dirname(notebook), { recursive: true, force: true });
    const kept = failure !== undefined && earlier !== undefined;
    if (kept) earlier.restore();
    const line = `${id}: could not grade: ${why}${kept ? " (its earlier grade stays)" : ""}`;
    report.failed.push(line);
    return line;
  }
  report.graded.push(id);
  const { score, max } = scoreOf(opts, s);
  return `${id}: ${score} of ${max} points`;
}

/**
 * Grades every submission of the named assignments (all when none are named).
 * With the sandbox (the default) each kernel runs in bubblewrap
 * (kernel_sandbox.py), so submissions are graded side by side (--jobs) and a
 * line per submission is printed as it finishes. Without it (--no-sandbox)
 * students' code runs with this user's rights: submissions are graded one at
 * a time and checked after each run (see gradeGuarded).
 */
export async function autograde(
  opts: CourseOptions,
  report: AutogradeReport = { graded: [], failed: [], skipped: [], removed: [] },
): Promise<string> {
  const names = assignments(opts); // an unknown assignment is named before anything else
  if (opts.submissions) importSubmissions(opts, opts.submissions);
  const submitted = path.join(opts.course, "submitted");
  if (!fs.existsSync(submitted))
    throw new CourseError(`nothing to grade: ${submitted} does not exist (use --submissions DIR).`);
  const all = assignments({ ...opts, assignments: [] });
  // Folders that are no assignment of the course: said by name, never skipped silently.
  for (const student of fs.readdirSync(submitted).sort()) {
    const dir = path.join(submitted, student);
    if (!fs.statSync(dir).isDirectory() || (opts.students?.length && !opts.students.includes(student))) continue;
    for (const folder of fs.readdirSync(dir).sort()) {
      if (all.includes(folder) || !fs.statSync(path.join(dir, folder)).isDirectory()) continue;
      const guess = closest(folder, all);
      report.skipped.push(`${student}/${folder}: no such assignment${guess ? `, did you mean ${guess}?` : ""}`);
    }
  }
  const everyone = fs.readdirSync(submitted).filter((s) => fs.statSync(path.join(submitted, s)).isDirectory());
  for (const student of opts.students ?? []) {
    if (everyone.includes(student)) continue;
    const guess = closest(student, everyone);
    throw new CourseError(
      `--student ${student}: no submissions from "${student}" in ${submitted}${guess ? `; did you mean ${guess}?` : ""}`,
    );
  }
  const queue: Submission[] = [];
  for (const a of names) {
    for (const student of everyone.sort()) {
      if (opts.students?.length && !opts.students.includes(student)) continue;
      if (!fs.existsSync(path.join(submitted, student, a))) continue;
      for (const f of removeSpecialFiles(path.join(submitted, student, a)))
        report.removed.push(`${student}/${a}: removed ${f} from the submission (not a plain file)`);
      const problem = submissionProblem(path.join(submitted, student, a), a);
      if (problem) report.skipped.push(`${student}/${a}: ${problem}`);
      else queue.push({ student, assignment: a });
    }
  }
  if (!queue.length) return "";
  await prepareKernels(opts);
  if (opts.sandbox === false) return gradeGuarded(opts, queue, report);

  const jobs = opts.jobs ?? defaultJobs(opts);
  const say = (line: string) => {
    if (!opts.quiet) console.log(`course: ${line}`);
  };
  const side = Math.min(jobs, queue.length);
  say(
    queue.length === 1
      ? "grading 1 submission, in a sandbox"
      : `grading ${queue.length} submissions, ${side === 1 ? "one at a time" : `${side} at a time`}, each in a sandbox`,
  );
  let log = "";
  let done = 0;
  const next = queue.entries();
  const worker = async () => {
    for (let item = next.next(); !item.done; item = next.next()) {
      const s = item.value[1];
      const started = Date.now();
      const earlier = EarlierGrading.save(opts, s);
      const { code, output } = await nbgraderAsync(opts, [
        "autograde",
        s.assignment,
        `--student=${s.student}`,
        "--force",
      ]);
      log += output;
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      const peak = /peak kernel memory (\d+) MB/.exec(output)?.[1];
      const figures = `${seconds} s${peak ? `, peak ${peak} MB` : ""}`;
      done += 1;
      const failure = code === 0 ? undefined : nbgraderFailure(output) || `nbgrader exit ${code}`;
      try {
        const line = settle(opts, s, failure, report, earlier);
        recordGrading(opts.course, s, line, Number(seconds), peak === undefined ? undefined : Number(peak));
        say(`[${done}/${queue.length}] ${line} (${figures})`);
      } finally {
        earlier?.discard();
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(jobs, queue.length) }, worker));
  return log;
}

/**
 * Grades one submission at a time (one nbgrader run each), for --no-sandbox.
 * Students' code runs as this user, so it could write anywhere this user can;
 * after each run every file of the course outside that submission's own
 * autograded folder (other submissions, other students' graded copies,
 * source/, release/, the nbgrader configuration) is checked, and grading stops
 * at the first submission that changed one, naming it and the files, before
 * any later submission is graded from altered files. The gradebook is checked
 * by owner of its rows (scripts/gradebook_digest.py): only the graded
 * submission's own rows may change; if any other did, the gradebook is put
 * back as it was before that submission and grading stops the same way.
 */
function gradeGuarded(opts: CourseOptions, queue: Submission[], report: AutogradeReport): string {
  let log = "";
  // Each snapshot after a submission is the next one's "before": one walk per submission.
  let before = watchedFiles(opts.course);
  for (const [i, s] of queue.entries()) {
    const { student, assignment: a } = s;
    const own = path.join(opts.course, "autograded", student, a);
    const gradebook = GradebookGuard.before(opts.course);
    const started = Date.now();
    const earlier = EarlierGrading.save(opts, s);
    let othersGrades: string[] = [];
    let failed: string | undefined;
    try {
      log += nbgrader(opts, ["autograde", a, `--student=${student}`, "--force"]);
      othersGrades = gradebook?.changedOwners([`${student}/${a}`, `student:${student}`]) ?? [];
      if (othersGrades.length) gradebook?.restore();
    } catch (err) {
      // One submission nbgrader cannot grade does not stop the class.
      if (!(err instanceof CourseError)) throw err;
      failed = nbgraderFailure(err.message);
    } finally {
      gradebook?.discard();
    }
    let line: string;
    try {
      line = settle(opts, s, failed, report, earlier);
      recordGrading(opts.course, s, line, (Date.now() - started) / 1000);
    } finally {
      earlier?.discard();
    }
    if (!opts.quiet) console.log(`course: [${i + 1}/${queue.length}] ${line}`);
    const after = watchedFiles(opts.course);
    const changed = changedFiles(before, after, own);
    before = after;
    if (changed.length || othersGrades.length) {
      const lines = changed.map((f) => `  ${f}`);
      if (othersGrades.length) {
        lines.push(
          `  ${path.join(opts.course, "gradebook.db")}: the rows of ${othersGrades.join(", ")} ` +
            `(put back as they were before this submission was graded; its own grades are not recorded)`,
        );
      }
      throw new CourseError(
        `grading stopped: while ${student}'s ${a} was graded, files outside its own folder changed:\n` +
          lines.join("\n") +
          `\nThat submission's code wrote there. Restore these files (for example from your --submissions copy or git), ` +
          `then grade without --no-sandbox; grades written so far are in the gradebook.`,
      );
    }
  }
  return log;
}

export function feedback(opts: CourseOptions): void {
  // Graded copies are read by nbgrader's copy, which follows links (see removeSpecialFiles).
  for (const f of removeSpecialFiles(path.join(opts.course, "autograded")))
    console.log(`course: removed autograded/${f} (not a plain file)`);
  for (const a of assignments(opts)) {
    const graded = path.join(opts.course, "autograded");
    if (!fs.existsSync(graded) || !fs.readdirSync(graded).some((s) => fs.existsSync(path.join(graded, s, a)))) continue;
    const runs = opts.students?.length ? opts.students.map((st) => [`--student=${st}`]) : [[]];
    for (const extra of runs) nbgrader(opts, ["generate_feedback", a, "--force", ...extra]);
  }
  assertNothingLeaks(filesUnder(path.join(opts.course, "feedback"), ".html"), "feedback", [HIDDEN]);
}

/** What grades.csv's status column says of a student's assignment. */
export type GradeStatus = "graded" | "late" | "not submitted" | "not graded" | "could not grade";

/** nbgrader's naive UTC time ("2026-03-01 09:00:00.123456", maybe with an offset) in ms, or NaN. */
function utcMs(text: string | null | undefined): number {
  const t = (text ?? "")
    .trim()
    .replace(" ", "T")
    .replace(/(\.\d{3})\d+/, "$1")
    .replace(/ ?UTC$/, "");
  return t ? Date.parse(/(Z|[+-]\d\d:?\d\d)$/.test(t) ? t : `${t}Z`) : NaN;
}

/** A CSV field, quoted when it needs to be. */
function csvField(value: string | null | undefined): string {
  const v = value ?? "";
  return /[",\n\r]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

/**
 * Exports grades.csv (atomically) and returns it with the graded submissions:
 * `graded`, every column of the export as text (an id such as 00123 stays as
 * it is), `table` its scores as numbers, `counts` how many rows have each
 * status, and a per-assignment summary.
 *
 * nbgrader's export lists every student in its database for every
 * assignment, with 0.0 where nothing was graded. Here a row without a grade
 * keeps its scores empty, and the `status` column (the last) says why:
 * graded, late (graded, handed in after the due date), not submitted, not
 * graded (handed in, not graded yet: or the Formgrader could not), could not
 * grade (`autograde` said why, grading-log.jsonl).
 */
export function grades(opts: CourseOptions): {
  csv: string;
  graded: pl.DataFrame;
  table: pl.DataFrame;
  summary: pl.DataFrame;
  counts: Partial<Record<GradeStatus, number>>;
} {
  assignments(opts); // a folder that is not a course: said before anything is written there
  const csv = path.join(opts.course, "grades.csv");
  const tmp = path.join(opts.course, `.grades.${process.pid}.csv`);
  let all: pl.DataFrame;
  const counts: Partial<Record<GradeStatus, number>> = {};
  try {
    nbgrader(opts, ["export", `--CsvExportPlugin.to=${tmp}`]);
    // Read as text, then typed: with nothing graded yet the file is its header
    // alone, and the empty table still has number columns.
    const exported = pl.readCSV(fs.readFileSync(tmp, "utf8"), { inferSchemaLength: 0 });
    const log = readGradingLog(opts.course);
    const records = exported.toRecords() as Record<string, string | null>[];
    const statuses = records.map((r): GradeStatus => {
      const [student, a] = [r.student_id ?? "", r.assignment ?? ""];
      if (fs.existsSync(path.join(opts.course, "autograded", student, a)))
        return utcMs(r.timestamp) > utcMs(r.duedate) ? "late" : "graded";
      if (log.get(`${student}/${a}`)?.outcome === "could not grade") return "could not grade";
      return fs.existsSync(path.join(opts.course, "submitted", student, a)) ? "not graded" : "not submitted";
    });
    const columns = [...exported.columns, "status"];
    const lines = records.map((r, i) => {
      const status = statuses[i];
      counts[status] = (counts[status] ?? 0) + 1;
      const scored = status === "graded" || status === "late";
      const row = { ...r, status } as Record<string, string | null>;
      if (!scored) for (const k of ["raw_score", "late_submission_penalty", "score"]) row[k] = "";
      return columns.map((c) => csvField(row[c])).join(",");
    });
    fs.writeFileSync(tmp, [columns.join(","), ...lines].map((l) => `${l}\n`).join(""));
    fs.renameSync(tmp, csv);
    all = exported.withColumns(pl.Series("status", statuses, pl.Utf8));
  } finally {
    fs.rmSync(tmp, { force: true });
  }
  const isGraded = (all.getColumn("status").toArray() as string[]).map((s) => s === "graded" || s === "late");
  const graded = all.filter(pl.Series("graded", isGraded, pl.Bool));
  const table = graded
    .select("assignment", "student_id", "score", "max_score")
    .withColumns(pl.col("score").cast(pl.Float64), pl.col("max_score").cast(pl.Float64))
    .sort(["assignment", "student_id"]);
  const summary = table
    .groupBy("assignment")
    .agg(
      pl.col("student_id").count().alias("submissions"),
      pl.col("score").mean().round(2).alias("mean"),
      pl.col("score").min().alias("min"),
      pl.col("score").max().alias("max"),
      pl.col("max_score").first().alias("max_score"),
    )
    .sort("assignment");
  return { csv, graded, table, summary, counts };
}

const USAGE = `usage: npm run course -- <${COMMANDS.join("|")}> [assignment...] [options]
  generate  [assignment...]   student versions into release/
  validate  [assignment...]   instructor versions pass, student versions fail every test
                              (then what each solution region earns alone, all regions, the stub)
  collect   [assignment] --zip FILE   a Canvas or Moodle "download all submissions" archive into submitted/
  autograde [assignment...]   grade submitted/ (--submissions DIR is copied in first)
  feedback  [assignment...]   feedback pages into feedback/ (hidden tests removed)
  grades    [assignment...]   grades.csv and a per-assignment summary (--format canvas|moodle: also grades-<F>.csv)
  report    [assignment...]   the class at a glance, one offline HTML page (default reports/class-report.html):
                              scores, pass rate per test, late, could not grade, grading time
options:
  --course DIR         the nbgrader course (default exercises/)
  --submissions DIR    <DIR>/<student>/<assignment>/<assignment>.ipynb, for autograde
  --zip FILE           the LMS's archive, for collect (the assignment is read from its name unless given)
  --format F           for grades: csv (default), canvas or moodle (a file that LMS's gradebook imports)
  --output FILE        for report: where the page goes
  --credit             for report: compute the partial-credit matrix too (grades each region alone; minutes)
  --timeout SECONDS    per cell (default 120)
  --memory-limit MB    resident memory per notebook's kernel (default 2048; 0 = none)
  --student NAME       only this student's submissions (autograde, feedback; may be repeated)
  --jobs N             submissions graded side by side (default: what cores and memory allow)
  --no-sandbox         run students' code without bubblewrap, with your rights (warns; one at a time)
Students' kernels run in a bubblewrap sandbox: no network, only their own folder writable,
no access to source/, the gradebook or other submissions; CPU seconds per kernel:
COURSE_CPU_LIMIT_S (default 900).
collect refuses an archive, importing nothing, past FMNIST_ZIP_MAX_ENTRY_MB (default 100 per file),
FMNIST_ZIP_MAX_TOTAL_MB (2048 in all), FMNIST_ZIP_MAX_RATIO (100, files past 1 MB) or
FMNIST_ZIP_MAX_ENTRIES (10000 files); archives inside it count too.
Relative folders are taken from the folder the command is typed in.`;

function parseArgs(argv: string[]): {
  command: Command;
  opts: CourseOptions;
  zip?: string;
  format: GradesFormat;
  page: { output?: string; credit: boolean };
} {
  const { values, positionals } = readCommandLine(
    {
      args: argv,
      allowPositionals: true,
      options: {
        course: { type: "string" },
        submissions: { type: "string" },
        timeout: { type: "string" },
        "memory-limit": { type: "string" },
        jobs: { type: "string" },
        student: { type: "string", multiple: true },
        "no-sandbox": { type: "boolean" },
        zip: { type: "string" },
        format: { type: "string" },
        output: { type: "string" },
        credit: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    },
    USAGE,
  );
  const [command, ...assignments] = positionals;
  if (!command) throw new UsageError(`no command given (one of ${COMMANDS.join(", ")})`);
  if (!(COMMANDS as readonly string[]).includes(command))
    throw new UsageError(`unknown command "${command}" (one of ${COMMANDS.join(", ")})`);
  const opts: CourseOptions = { course: path.join(repoRoot(), "exercises"), assignments };
  if (values.course !== undefined) opts.course = userPath(values.course);
  if (values.submissions !== undefined) opts.submissions = userPath(values.submissions);
  if (values.timeout !== undefined) opts.timeout = wholeNumber("--timeout", values.timeout, 1, 24 * 3600);
  if (values["memory-limit"] !== undefined)
    opts.memoryLimitMb = wholeNumber("--memory-limit", values["memory-limit"], 0, 1 << 20);
  if (values.jobs !== undefined) opts.jobs = wholeNumber("--jobs", values.jobs, 1, 256);
  if (values["no-sandbox"]) opts.sandbox = false;
  if (values.student?.length) opts.students = values.student;
  if (values.zip !== undefined && command !== "collect") throw new UsageError("--zip is for collect");
  if (command === "collect" && values.zip === undefined)
    throw new UsageError("collect needs --zip FILE (the archive Canvas or Moodle gives for an assignment)");
  if (command === "collect" && assignments.length > 1)
    throw new UsageError(`collect takes one assignment, got ${assignments.join(", ")}`);
  if (values.format !== undefined && command !== "grades") throw new UsageError("--format is for grades");
  const format = values.format ?? "csv";
  if (!(GRADES_FORMATS as readonly string[]).includes(format))
    throw new UsageError(`--format needs one of ${GRADES_FORMATS.join(", ")}, got ${JSON.stringify(format)}`);
  const zip = values.zip === undefined ? undefined : userPath(values.zip);
  if ((values.output !== undefined || values.credit) && command !== "report")
    throw new UsageError("--output and --credit are for report");
  const page = { output: values.output === undefined ? undefined : userPath(values.output), credit: !!values.credit };
  return { command: command as Command, opts, zip, format: format as GradesFormat, page };
}

async function main(): Promise<void> {
  const { command, opts, zip, format, page } = parseArgs(process.argv.slice(2));
  // A memory limit below what a training notebook needs at the grading sizes is said now, not as zeros later.
  const limit = opts.memoryLimitMb ?? Number(process.env.COURSE_MEMORY_LIMIT_MB ?? 2048);
  const need = kernelMemoryMb();
  if ((command === "autograde" || command === "validate") && limit > 0 && limit < need) {
    console.warn(
      `course: warning: --memory-limit ${limit} MB is below the about ${need} MB a notebook that trains needs at the ` +
        "grading sizes: such notebooks will be stopped at that cell and score 0 from there. Raise --memory-limit (or COURSE_MEMORY_LIMIT_MB).",
    );
  }
  const started = Date.now();
  switch (command) {
    case "generate":
      generate(opts);
      break;
    case "validate": {
      const results = await validate(opts);
      for (const r of results)
        console.log(
          `${r.ok ? "ok  " : "FAIL"} ${r.expected === "pass" ? "passes" : "fails "} ${path.relative(opts.course, r.notebook)}`,
        );
      if (results.some((r) => !r.ok)) throw new CourseError("validation failed (see above)");
      // What each solution region earns alone (scripts/course-credit.ts): graded in a scratch copy of the course.
      for (const m of await creditMatrix({ ...opts, assignments: assignments(opts) })) {
        console.log(formatCredit(m));
        for (const p of creditProblems(m)) console.log(`course: note: ${p}`);
      }
      break;
    }
    case "collect": {
      const report = collectZip(opts, zip ?? "", opts.assignments[0]);
      for (const line of [...report.unmatched.map((u) => `not imported: ${u}`), ...report.misnamed])
        console.log(`course: ${line}`);
      console.log(
        `course: ${report.imported.length} notebook(s) imported into ${path.join(opts.course, "submitted")}, ` +
          `${report.unmatched.length} file(s) not imported`,
      );
      break;
    }
    case "autograde": {
      const report: AutogradeReport = { graded: [], failed: [], skipped: [], removed: [] };
      await autograde(opts, report);
      for (const line of [...report.removed, ...report.skipped, ...report.failed]) console.log(`course: ${line}`);
      console.log(
        `course: ${report.graded.length} graded, ${report.failed.length} could not be graded, ${report.skipped.length} skipped`,
      );
      if (report.graded.length === 0 && report.failed.length + report.skipped.length > 0) {
        // Every submission failing the same way is the grading machine's problem: say it once.
        const reasons = new Set(
          report.failed.map((f) =>
            f.replace(/^[^:]*: could not grade: /, "").replace(/ \(its earlier grade stays\)$/, ""),
          ),
        );
        throw new CourseError(
          reasons.size === 1
            ? `no submission could be graded: ${[...reasons][0]}`
            : "no submission could be graded (see above)",
        );
      }
      break;
    }
    case "feedback":
      feedback(opts);
      console.log(`feedback in ${path.join(opts.course, "feedback")}`);
      break;
    case "grades": {
      const { csv, graded, table, summary, counts } = grades(opts);
      console.log(table.toString());
      console.log(summary.toString());
      const said = Object.entries(counts).map(([status, n]) => `${n} ${status}`);
      console.log(
        `written: ${csv}${said.length ? ` (${said.join(", ")}; a row without a grade has its scores empty)` : ""}`,
      );
      if (format !== "csv") console.log(`written: ${writeLmsGrades(opts, format, graded)}`);
      break;
    }
    case "report": {
      // scripts/course-report.ts: scores, pass rate per test cell, late, could not grade, grading time.
      assignments(opts); // not a course folder, or an unknown assignment: said before anything is written
      const out = await writeClassReport({
        ...page,
        course: opts.course,
        assignments: opts.assignments,
        courseOptions: opts,
      });
      console.log(formatClassReport(out.report));
      console.log(`written: ${out.file} (${(out.bytes / 1024 / 1024).toFixed(1)} MB, ${out.charts} charts)`);
      break;
    }
  }
  console.log(`${command} done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

if (require.main === module) runMain("course", main);
