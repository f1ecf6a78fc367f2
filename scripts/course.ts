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
//
// The commands' work is in scripts/course/: nbgrader.ts (the course folder, nbgrader), kernels.ts,
// assignments.ts (generate, validate), grading.ts (autograde, feedback), grading-log.ts, grades.ts,
// lms.ts (collect, LMS grade files), credit.ts (the partial-credit matrix), report.ts (the class report).
import * as path from "path";
import { repoRoot, userPath } from "fashion-mnist-lib/dist/runtime/paths";
import { readCommandLine, runMain, UsageError, wholeNumber } from "./cli";
import { validate, generate } from "./course/assignments";
import { creditMatrix, creditProblems, formatCredit } from "./course/credit";
import { grades } from "./course/grades";
import { autograde, type AutogradeReport, feedback } from "./course/grading";
import { kernelMemoryMb } from "./course/kernels";
import { collectZip, GRADES_FORMATS, type GradesFormat, writeLmsGrades } from "./course/lms";
import { assignments, CourseError, type CourseOptions } from "./course/nbgrader";
import { formatClassReport, writeClassReport } from "./course/report";
// The course's functions, for tests and benches that import them from here.
export * from "./course/nbgrader";
export * from "./course/assignments";
export * from "./course/grading";
export * from "./course/grades";
export { defaultJobs } from "./course/kernels";

const COMMANDS = ["generate", "validate", "collect", "autograde", "feedback", "grades", "report"] as const;
type Command = (typeof COMMANDS)[number];

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
      // What each solution region earns alone (scripts/course/credit.ts): graded in a scratch copy of the course.
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
      // scripts/course/report.ts: scores, pass rate per test cell, late, could not grade, grading time.
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
