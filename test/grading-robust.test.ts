// Grading that is right or says why, with the real nbgrader, the real tslab
// kernel and the sandbox, on a temporary copy of the normalize-split course:
// - feedback shows a failed visible test's message, one generic line for a
//   failure inside hidden tests (never its message, nor what the student's
//   code printed while they ran), and a hidden message the instructor marked
//   shareable ("hint: ...");
// - a submission that floods its output is graded right with its output cut
//   at the per-cell limit (one note says how much was dropped), and a cell
//   that runs too long reports the configured limit;
// - a grading kernel that cannot run the library (Node 20 first on PATH; a
//   course where fashion-mnist-lib cannot be found) fails that run with the
//   reason and the fix: no zero is recorded, an earlier grade stays.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import {
  cellById,
  copyCourse,
  makeTempDir,
  nodeBin,
  type Notebook,
  readNb,
  removeCourseDir,
  repoRoot,
  text,
  useCourseData,
  withSolution,
  writeNb,
} from "./helpers";
import * as course from "../scripts/course";

const N = "normalize-split";
const HINT = "hint: toUnitRange must not change its input";
const CELL_TIMEOUT = 10;

let tmp: string;
let root: string;
let restoreEnv: () => void;
let source: Notebook;
let opts: course.CourseOptions;

const notebookOf = (dir: "autograded" | "submitted", student: string) => path.join(root, dir, student, N, `${N}.ipynb`);
const submit = (student: string, nb: Notebook) => writeNb(notebookOf("submitted", student), nb);

/** `replace` applied to the solution cell's source, checking that `from` is there. */
function edit(nb: Notebook, edits: [string, string][]): Notebook {
  return withSolution(nb, (s) =>
    edits.reduce((acc, [from, to]) => {
      assert.ok(acc.includes(from), `the solution holds ${JSON.stringify(from)}`);
      return acc.replace(from, to);
    }, s),
  );
}

/** Score of one submission from the gradebook, or undefined when the gradebook has no submission of it. */
function gradebookScore(student: string): number | undefined {
  const res = spawnSync(
    path.join(repoRoot, ".venv", "bin", "python"),
    [
      "-c",
      "import json, sqlite3, sys\n" +
        "db = sqlite3.connect(sys.argv[1])\n" +
        "n = db.execute('SELECT COUNT(*) FROM submitted_assignment s JOIN assignment a ON a.id = s.assignment_id " +
        "WHERE s.student_id = ? AND a.name = ?', (sys.argv[2], sys.argv[3])).fetchone()[0]\n" +
        "print(json.dumps(n))",
      path.join(root, "gradebook.db"),
      student,
      N,
    ],
    { encoding: "utf8" },
  );
  assert.equal(res.status, 0, res.stderr);
  if (JSON.parse(res.stdout) === 0) return undefined;
  const score = spawnSync(
    path.join(repoRoot, ".venv", "bin", "python"),
    [path.join(repoRoot, "scripts", "gradebook_score.py"), path.join(root, "gradebook.db"), student, N],
    { encoding: "utf8" },
  );
  assert.equal(score.status, 0, score.stderr);
  return (JSON.parse(score.stdout) as { score: number }).score;
}

before(() => {
  tmp = makeTempDir("fmnist-robust-");
  restoreEnv = useCourseData(tmp);
  root = copyCourse(tmp, [N]);
  // The instructor marks one hidden assertion's message as shareable.
  const file = path.join(root, "source", N, `${N}.ipynb`);
  const nb = readNb(file);
  const scale = cellById(nb, `${N}-test-scale`);
  assert.ok(text(scale.source).includes('"toUnitRange must not change its input"'));
  scale.source = text(scale.source).replace('"toUnitRange must not change its input"', JSON.stringify(HINT));
  writeNb(file, nb);
  source = nb;
  opts = { course: root, assignments: [N], timeout: CELL_TIMEOUT, quiet: true };
  course.generate(opts);
});

after(() => {
  restoreEnv?.();
  if (tmp) removeCourseDir(tmp);
});

test("feedback: a visible failure's message, a generic line for a hidden one, a hint when marked", async () => {
  const started = Date.now();
  // One test cell fails in each way: a hidden assertion marked "hint: " (toUnitRange
  // changes a short input), a hidden one not marked (holdOutLast takes any n, and
  // prints n, which only the hidden tests would show), a visible one (classCounts).
  submit(
    "mixed",
    edit(source, [
      ["  return out;\n", "  if (pixels.length < 3) pixels.fill(0);\n  return out;\n"],
      [
        "if (!Number.isInteger(n) || n <= 0 || n >= set.count) {",
        "console.log(`holdOutLast(n = ${n})`);\n  if (false) {",
      ],
      ["for (const l of labels) counts[l]++;", "for (const l of labels) counts[l % 9]++;"],
    ]),
  );
  const report: course.AutogradeReport = { graded: [], failed: [], skipped: [], removed: [] };
  await course.autograde({ ...opts, students: ["mixed"] }, report);
  assert.deepEqual(report.graded, [`mixed/${N}`], JSON.stringify(report));
  assert.equal(gradebookScore("mixed"), 0, "every test cell fails");

  // The instructor's graded copy keeps everything.
  const graded = JSON.stringify(readNb(notebookOf("autograded", "mixed")));
  assert.match(graded, /n = 0 should throw a RangeError/);
  assert.match(graded, /holdOutLast\(n = 0\)/);

  course.feedback({ ...opts, students: ["mixed"] });
  const html = fs.readFileSync(path.join(root, "feedback", "mixed", N, `${N}.html`), "utf8");
  assert.match(html, /the training set has 6,000 images of each class/, "a visible failure keeps its message");
  assert.ok(html.includes(HINT), "a hidden failure marked as shareable shows its message");
  assert.match(html, /AssertionError: a hidden test failed \(its message is not shown\)/, "the generic line");
  assert.doesNotMatch(html, /should throw a RangeError|n = 0|n = 60000|n = 1\.5/, "no hidden message or value");
  assert.match(html, /output while the hidden tests ran is not shown/);
  assert.match(html, /holdOutLast\(n = 12000\)/, "output of the visible setup cell stays");
  assert.doesNotMatch(html, /HIDDEN TESTS|span exactly \[0, 1\]|node:assert:\d|evalmachine/);
  console.log(`feedback test: ${((Date.now() - started) / 1000).toFixed(0)} s`);
});

test("output floods are cut per cell and graded right; a timeout names the configured limit", async () => {
  const started = Date.now();
  // 20 MB in one print, then 20,000 lines of 1,000 characters, yielding now and then so they reach the grader.
  submit(
    "flood",
    withSolution(
      source,
      (s) =>
        'console.log("y".repeat(20 * 1024 * 1024));\n' +
        'for (let i = 0; i < 20000; i++) { console.log("z".repeat(1000)); if (i % 50 === 0) await new Promise((r) => setImmediate(r)); }\n' +
        s,
    ),
  );
  submit("loop", edit(source, [["for (const l of labels) counts[l]++;", "while (true) {}"]]));
  const report: course.AutogradeReport = { graded: [], failed: [], skipped: [], removed: [] };
  const log = await course.autograde({ ...opts, students: ["flood", "loop"] }, report);
  assert.deepEqual(report.graded.sort(), [`flood/${N}`, `loop/${N}`], JSON.stringify(report));

  assert.equal(gradebookScore("flood"), 6, "the flood's tests all pass");
  const file = notebookOf("autograded", "flood");
  const size = fs.statSync(file).size;
  console.log(`graded notebook of the flood: ${size} bytes`);
  assert.ok(size < 1.5 * 2 ** 20, `the graded notebook is ${size} bytes`);
  const outputs = (cellById(readNb(file), `${N}-solution-2`).outputs ?? []) as {
    data?: Record<string, string | string[]>;
  }[];
  const notes = outputs.map((o) => text(o.data?.["text/plain"] ?? "")).filter((t) => t.includes("truncated"));
  assert.equal(notes.length, 1, JSON.stringify(notes));
  const dropped = /^\[output truncated after 1 MB \((\d+) more bytes dropped\)\]$/.exec(notes[0]);
  assert.ok(dropped, notes[0]);
  // The 20 MB print is cut in the sandboxed kernel (one write), the lines that follow by the grader.
  assert.match(JSON.stringify(outputs), /\[\d{8} more characters of this write dropped\]/);
  // (How many of the lines reach the grader depends on the machine's load: ZeroMQ drops what it cannot queue.)
  assert.ok(Number(dropped[1]) > 0, `dropped ${dropped[1]} bytes`);

  assert.equal(gradebookScore("loop"), 4, "the two test cells before the endless loop keep their points");
  const loop = cellById(readNb(notebookOf("autograded", "loop")), `${N}-test-balance`);
  const errors = (loop.outputs ?? []).filter((o) => o.output_type === "error");
  assert.equal(errors.length, 1, JSON.stringify(loop.outputs));
  assert.equal(errors[0].ename, "CellTimeoutError");
  assert.equal(errors[0].evalue, `this cell ran longer than the ${CELL_TIMEOUT} s limit (an endless loop?)`);
  assert.doesNotMatch(log, /after 4 seconds/, "no timeout message with nbclient's IOPub wait");
  console.log(`flood and timeout test: ${((Date.now() - started) / 1000).toFixed(0)} s`);
});

test("a grading kernel that cannot run the library fails loudly: no zero recorded, an earlier grade stays", async () => {
  const started = Date.now();
  // An earlier grade: everything right but the class counts (4 of 6).
  submit(
    "earlier",
    edit(source, [["for (const l of labels) counts[l]++;", "for (const l of labels) counts[l % 9]++;"]]),
  );
  await course.autograde({ ...opts, students: ["earlier"] });
  assert.equal(gradebookScore("earlier"), 4);
  const before = fs.readFileSync(notebookOf("autograded", "earlier"), "utf8");

  // Node 20 first on PATH: the kernel starts, the library refuses it.
  submit("newbie", source);
  const savedPath = process.env.PATH;
  process.env.PATH = `${nodeBin("20")}${path.delimiter}${savedPath ?? ""}`;
  const report: course.AutogradeReport = { graded: [], failed: [], skipped: [], removed: [] };
  let log: string;
  try {
    log = await course.autograde({ ...opts, students: ["earlier", "newbie"] }, report);
  } finally {
    process.env.PATH = savedPath;
  }
  assert.deepEqual(report.graded, []);
  assert.equal(report.failed.length, 2, JSON.stringify(report));
  for (const line of report.failed) {
    assert.match(
      line,
      /could not grade: the grading kernel runs Node v20\.20\.2 \(.*\/20\/.*node\); fashion-mnist-lib needs Node 22, 24 or 26: put the project's Node first on PATH/,
    );
  }
  assert.ok(report.failed.some((l) => l.startsWith("earlier/") && l.endsWith("(its earlier grade stays)")));
  assert.match(log, /GradingKernelError: the grading kernel runs Node v20/);
  assert.equal(gradebookScore("earlier"), 4, "the earlier grade stays");
  assert.equal(gradebookScore("newbie"), undefined, "no grade (no zero) for a submission never graded");
  assert.equal(fs.readFileSync(notebookOf("autograded", "earlier"), "utf8"), before, "its graded copy is back");
  assert.ok(!fs.existsSync(path.dirname(notebookOf("autograded", "newbie"))));
  const rows = course.grades(opts).table.toRecords() as { student_id: string; score: number }[];
  assert.deepEqual(
    rows.filter((r) => ["earlier", "newbie"].includes(r.student_id)).map((r) => [r.student_id, r.score]),
    [["earlier", 4]],
  );

  // nbgrader's own command line, in a course where fashion-mnist-lib cannot be found.
  const link = path.join(tmp, "node_modules");
  fs.rmSync(link);
  try {
    assert.throws(
      () => course.nbgrader(opts, ["autograde", N, "--student=newbie", "--force"]),
      (err: Error) => {
        assert.ok(err instanceof course.CourseError, String(err));
        assert.match(err.message, /GradingKernelError: the grading kernel cannot find module fashion-mnist-lib from /);
        // (the fix, as a command: link the checkout's node_modules next to the course)
        assert.match(
          err.message,
          /link the project's node_modules next to the course folder.*: ln -s \S+node_modules /,
        );
        return true;
      },
    );
  } finally {
    fs.symlinkSync(path.join(repoRoot, "node_modules"), link);
  }
  assert.equal(gradebookScore("newbie"), undefined, "still no zero");
  assert.equal(gradebookScore("earlier"), 4);
  console.log(`kernel-failure test: ${((Date.now() - started) / 1000).toFixed(0)} s`);
});

test("a cell that only says the library stopped for memory is graded as written, not taken for a short machine", async () => {
  // A right solution that ends by printing the line a real stop of the library prints, on a machine whose
  // memory is nowhere near any limit: the grader's own readings decide, not the cell's words.
  const full = source.cells.reduce((sum, c) => sum + (c.metadata.nbgrader?.points ?? 0), 0);
  submit(
    "claims-memory",
    withSolution(
      source,
      (s) =>
        `${s}\nconsole.error("MemoryLimitError: the memory in use (990 MB) reached the limit of 1000 MB (memory.max) within 62 MB");\n`,
    ),
  );
  const report: course.AutogradeReport = { graded: [], failed: [], skipped: [], removed: [] };
  const log = await course.autograde({ ...opts, students: ["claims-memory"] }, report);
  assert.deepEqual(report.failed, [], log);
  assert.equal(report.graded.length, 1, JSON.stringify(report));
  assert.match(
    log,
    /the cell says it stopped for memory, but the grader saw no shortage of memory on this machine; graded as written/,
  );
  assert.equal(gradebookScore("claims-memory"), full, "its tests pass: every point");
});
