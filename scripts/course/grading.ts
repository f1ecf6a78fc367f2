// Grading: autograde (each submission checked, then graded by nbgrader in a
// sandbox, side by side; or one at a time and watched, without one), what a
// graded notebook says when it could not run, and feedback.
import { spawnSync } from "child_process";
import { createHash } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { repoRoot } from "fashion-mnist-lib/dist/runtime/paths";
import { GRADING_LOG, recordGrading } from "./grading-log";
import { defaultJobs, prepareKernels } from "./kernels";
import {
  assertNothingLeaks,
  assignments,
  CourseError,
  type CourseOptions,
  filesUnder,
  HIDDEN,
  nbgrader,
  nbgraderAsync,
  nbgraderFailure,
  venvBin,
} from "./nbgrader";

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
