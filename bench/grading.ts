// `npm run bench:grading`: how fast a class is graded. Builds a course with the
// idx-parsing exercise and 30 generated submissions (10 right, 10 partly right:
// a reader without input checks, 10 untouched stubs), then grades them from
// scratch with `npm run course -- autograde` as whole processes, once with
// --jobs 1 and once side by side (--jobs N, default 2), alternating which goes
// first over the pairs. Reports submissions per minute, the speed-up, and
// whether every run gave the same scores. Writes bench/results/<stamp>-grading.{json,md}.
//
//   npm run bench:grading                       # 1 pair, 30 submissions (~6 min here)
//   npm run bench:grading -- --pairs 2 --submissions 12 --jobs 2
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { spawnSync } from "child_process";
import { repoRoot, userPath } from "fashion-mnist-lib/dist/runtime/paths";
import { readCommandLine, runMain, wholeNumber } from "../scripts/cli";
import * as course from "../scripts/course";

const ROOT = repoRoot();
const A = "idx-parsing";
const COURSE_JS = path.join(ROOT, "build", "scripts", "course.js");

const USAGE = `usage: npm run bench:grading -- [options]
  --submissions N   generated submissions (default 30: a third right, partly right, untouched)
  --jobs N          side-by-side gradings to compare with --jobs 1 (default 2)
  --pairs N         pairs of runs, alternating which goes first (default 1)
  --out DIR         where results go (default bench/results)`;

interface Notebook {
  cells: { cell_type: string; source: string | string[]; metadata: { nbgrader?: { solution?: boolean } } }[];
}

const readNb = (file: string) => JSON.parse(fs.readFileSync(file, "utf8")) as Notebook;

/** The notebook with its solution cell's solution region replaced by `code`. */
function withReader(nb: Notebook, code: string): Notebook {
  const copy = structuredClone(nb);
  const cell = copy.cells.find((c) => c.metadata.nbgrader?.solution);
  if (!cell) throw new Error(`${A}: no solution cell`);
  const source = Array.isArray(cell.source) ? cell.source.join("") : cell.source;
  cell.source = source.replace(/\/\/ BEGIN SOLUTION[\s\S]*\/\/ END SOLUTION/, code);
  return copy;
}

// A reader that parses good files and checks nothing: passes 3 of the 4 test cells.
const PARTIAL = [
  "const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);",
  "const dims: number[] = [];",
  "for (let i = 0; i < bytes[3]; i++) dims.push(view.getUint32(4 + 4 * i, false));",
  "return { dims, data: bytes.subarray(4 + 4 * dims.length) };",
].join("\n");

function makeCourse(tmp: string, count: number): { root: string; inbox: string } {
  const root = path.join(tmp, "course");
  fs.mkdirSync(path.join(root, "source"), { recursive: true });
  for (const f of ["nbgrader_config.py", "tslab_grading.py", "kernel_sandbox.py"])
    fs.copyFileSync(path.join(ROOT, "exercises", f), path.join(root, f));
  fs.cpSync(path.join(ROOT, "exercises", "source", A), path.join(root, "source", A), { recursive: true });
  fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(tmp, "node_modules"));
  course.generate({ course: root, assignments: [A], quiet: true });
  const source = readNb(path.join(root, "source", A, `${A}.ipynb`));
  const kinds = [source, withReader(source, PARTIAL), readNb(path.join(root, "release", A, `${A}.ipynb`))];
  const inbox = path.join(tmp, "inbox");
  for (let i = 0; i < count; i++) {
    const file = path.join(inbox, `student${String(i + 1).padStart(2, "0")}`, A, `${A}.ipynb`);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, JSON.stringify(kinds[i % 3], null, 1));
  }
  return { root, inbox };
}

interface Run {
  jobs: number;
  seconds: number;
  perMinute: number;
  scores: Record<string, number>;
}

/** Grades the inbox from scratch as a whole process: `course autograde --jobs N`. */
function grade(root: string, inbox: string, jobs: number, count: number): Run {
  // From scratch: no graded copies, no submissions, a gradebook that knows only the assignment.
  for (const f of ["autograded", "submitted", "gradebook.db", "feedback"])
    fs.rmSync(path.join(root, f), { recursive: true, force: true });
  course.generate({ course: root, assignments: [A], quiet: true });
  const started = process.hrtime.bigint();
  const res = spawnSync(
    process.execPath,
    [COURSE_JS, "autograde", "--course", root, "--submissions", inbox, "--jobs", String(jobs)],
    { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] },
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  process.stdout.write(res.stdout);
  if (res.status !== 0) throw new Error(`autograde --jobs ${jobs} failed (exit ${res.status})`);
  const { table } = course.grades({ course: root, assignments: [], quiet: true });
  const scores = Object.fromEntries(
    (table.toRecords() as { student_id: string; score: number }[]).map((r) => [r.student_id, r.score]),
  );
  if (Object.keys(scores).length !== count) throw new Error(`--jobs ${jobs}: ${Object.keys(scores).length} graded`);
  return { jobs, seconds, perMinute: (60 * count) / seconds, scores };
}

async function main(): Promise<void> {
  const { values } = readCommandLine(
    {
      args: process.argv.slice(2),
      options: {
        submissions: { type: "string" },
        jobs: { type: "string" },
        pairs: { type: "string" },
        out: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    },
    USAGE,
  );
  const count = values.submissions ? wholeNumber("--submissions", values.submissions, 3, 300) : 30;
  const jobs = values.jobs ? wholeNumber("--jobs", values.jobs, 2, 64) : 2;
  const pairs = values.pairs ? wholeNumber("--pairs", values.pairs, 1, 10) : 1;
  const out = values.out ? userPath(values.out) : path.join(ROOT, "bench", "results");
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "bench-grading-"));
  try {
    const { root, inbox } = makeCourse(tmp, count);
    const runs: Run[] = [];
    for (let p = 0; p < pairs; p++) {
      const order = p % 2 === 0 ? [jobs, 1] : [1, jobs];
      for (const j of order) {
        console.log(`bench: pair ${p + 1} of ${pairs}: ${count} submissions with --jobs ${j}`);
        const run = grade(root, inbox, j, count);
        console.log(`bench: --jobs ${j}: ${run.seconds.toFixed(1)} s, ${run.perMinute.toFixed(1)} submissions/min`);
        runs.push(run);
      }
    }
    const same = runs.every((r) => JSON.stringify(r.scores) === JSON.stringify(runs[0].scores));
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const seconds = (j: number) => median(runs.filter((r) => r.jobs === j).map((r) => r.seconds));
    const speedup = seconds(1) / seconds(jobs);
    const lines = [
      `# Grading benchmark (${new Date().toISOString()})`,
      "",
      `${count} submissions of ${A} (a third each right, partly right, untouched), graded from scratch by ` +
        `\`npm run course -- autograde\` as whole processes, every kernel sandboxed; ${os.cpus().length} cores, ` +
        `${(os.totalmem() / 2 ** 30).toFixed(0)} GB, Node ${process.version}.`,
      "",
      "| run | --jobs | seconds | submissions/min |",
      "| --- | --- | --- | --- |",
      ...runs.map((r, i) => `| ${i + 1} | ${r.jobs} | ${r.seconds.toFixed(1)} | ${r.perMinute.toFixed(1)} |`),
      "",
      `Median: --jobs 1 ${seconds(1).toFixed(1)} s, --jobs ${jobs} ${seconds(jobs).toFixed(1)} s: ` +
        `speed-up ${speedup.toFixed(2)}x. Scores identical in every run: ${same ? "yes" : "NO"}.`,
    ];
    console.log(lines.join("\n"));
    fs.mkdirSync(out, { recursive: true });
    const stamp = new Date().toISOString().replace(/[:.]/g, "").slice(0, 17);
    fs.writeFileSync(path.join(out, `${stamp}-grading.md`), lines.join("\n") + "\n");
    fs.writeFileSync(
      path.join(out, `${stamp}-grading.json`),
      JSON.stringify({ count, jobs, pairs, runs, speedup, sameScores: same, node: process.version }, null, 1) + "\n",
    );
    if (!same) throw new Error("the runs gave different scores");
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

if (require.main === module) runMain("bench:grading", main);
