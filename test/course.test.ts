// The whole nbgrader cycle on a temporary copy of the course, with the real
// tslab kernel: generate the student version, validate, autograde a set of
// submissions (correct, untouched stub, partly right, tests tampered with,
// syntax error, endless loop, process.exit), feedback (hidden tests and the
// failed assertions' code left out), grades.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import {
  cellById,
  copyCourse,
  makeTempDir,
  type Notebook,
  partialReader,
  readNb,
  removeCourseDir,
  repoRoot,
  text,
  useCourseData,
  withSolution,
  writeNb,
} from "./helpers";
import * as course from "../scripts/course";
import { checkExportedPage, launchChromium, plotlyFigures } from "./browser";

const A = "idx-parsing";
const B = "build-model";
const C = "training-curves"; // draws a Plotly chart: its feedback page must keep it
const CELL_TIMEOUT = 60;

/**
 * Plotly charts of a graded notebook that its feedback shows: all but those
 * the student's code drew while hidden tests ran (told apart as
 * tslab_grading.StripHiddenTests does, from what grading recorded).
 */
function visibleCharts(course: string, notebook: string): number {
  const script = [
    "import json, sys",
    "sys.path.insert(0, sys.argv[1])",
    "import tslab_grading as t",
    "n = 0",
    "for c in json.load(open(sys.argv[2]))['cells']:",
    "    hidden = c['metadata'].get('nbgrader', {}).get('grade') and 'BEGIN HIDDEN TESTS' in ''.join(c['source'])",
    "    shown = set((c['metadata'].get(t.METADATA_KEY) or {}).get('visible_outputs') or [])",
    "    for o in c.get('outputs', []):",
    "        if 'application/vnd.plotly.v1+json' in o.get('data', {}) and (not hidden or t.output_digest(o) in shown):",
    "            n += 1",
    "print(n)",
  ].join("\n");
  const res = spawnSync(path.join(repoRoot, ".venv", "bin", "python"), ["-c", script, course, notebook], {
    encoding: "utf8",
  });
  assert.equal(res.status, 0, res.stderr);
  return Number(res.stdout.trim());
}

test("nbgrader cycle: generate, validate, autograde, feedback, grades", { timeout: 40 * 60_000 }, async () => {
  const tmp = makeTempDir("fmnist-course-");
  const restoreEnv = useCourseData(tmp);
  try {
    // A course copy with two assignments; node_modules is linked so notebooks find fashion-mnist-lib.
    const root = copyCourse(tmp, [A, B, C]);
    const opts: course.CourseOptions = { course: root, assignments: [A, B, C], timeout: CELL_TIMEOUT, quiet: true };

    // Student version: stubs instead of solutions, no hidden tests.
    course.generate(opts);
    const release = readNb(path.join(root, "release", A, `${A}.ipynb`));
    const releasedText = JSON.stringify(release);
    assert.doesNotMatch(
      releasedText,
      /HIDDEN TESTS|BEGIN SOLUTION|sizes above 255/,
      "student version leaks hidden tests or solutions",
    );
    assert.match(releasedText, /throw new Error\(\\"not implemented/, "student stub throws a clear error");

    // Instructor version passes everything; student version fails every graded test.
    const validation = await course.validate({ ...opts, assignments: [A] });
    assert.deepEqual(
      validation.map((v) => [path.basename(path.dirname(path.dirname(v.notebook))), v.expected, v.ok]),
      [
        ["source", "pass", true],
        ["release", "fail", true],
      ],
      validation.map((v) => v.output).join("\n"),
    );

    // Submissions.
    const source = readNb(path.join(root, "source", A, `${A}.ipynb`));
    const submit = (student: string, assignment: string, nb: Notebook) =>
      writeNb(path.join(root, "submitted", student, assignment, `${assignment}.ipynb`), nb);
    // The reader without any input checks: passes 3 of the 4 test cells (6 of 8 points).
    const partial = partialReader(source);
    // The same, with the failing test cell emptied (it would pass if graded as submitted) and a passing one deleted.
    const tampered = structuredClone(partial);
    cellById(tampered, `${A}-test-errors`).source = "// looks fine to me\n";
    tampered.cells = tampered.cells.filter((c) => c.metadata.nbgrader?.grade_id !== `${A}-test-labels`);

    submit("instructor", A, source);
    submit("instructor", B, readNb(path.join(root, "source", B, `${B}.ipynb`)));
    submit("instructor", C, readNb(path.join(root, "source", C, `${C}.ipynb`)));
    submit("student", A, release);
    submit("student", B, readNb(path.join(root, "release", B, `${B}.ipynb`)));
    submit("partial", A, partial);
    submit("tampered", A, tampered);
    submit(
      "syntax",
      A,
      withSolution(source, (s) => s.replace("const ndim = bytes[3];", "const ndim = bytes[3;")),
    );
    submit(
      "loop",
      A,
      withSolution(source, (s) => s.replace("function readIdx", "while (true) {}\nfunction readIdx")),
    );
    submit(
      "exit",
      A,
      withSolution(source, (s) => s.replace("function readIdx", "process.exit(1);\nfunction readIdx")),
    );

    const started = Date.now();
    await course.autograde(opts);
    const seconds = (Date.now() - started) / 1000;
    const count = 10;
    console.log(`autograded ${count} submissions in ${seconds.toFixed(0)} s (${(seconds / count).toFixed(1)} s each)`);
    // Every submission's run ends; the endless loop costs one cell timeout, not one per cell.
    assert.ok(seconds < count * 120 + CELL_TIMEOUT, `autograding took ${seconds} s`);

    // The autograded copies ran the original tests, hidden parts included.
    const graded = readNb(path.join(root, "autograded", "tampered", A, `${A}.ipynb`));
    assert.match(text(cellById(graded, `${A}-test-errors`).source), /BEGIN HIDDEN TESTS/);
    // nbgrader 0.9 does not put a deleted test cell back: it is missing from the graded copy and scores 0.
    assert.ok(!graded.cells.some((c) => c.metadata.nbgrader?.grade_id === `${A}-test-labels`), "deleted test cell");

    // Feedback without hidden tests.
    course.feedback(opts);
    const html = fs.readFileSync(path.join(root, "feedback", "partial", A, `${A}.html`), "utf8");
    assert.doesNotMatch(html, /HIDDEN TESTS|sizes above 255|float\.idx/, "feedback shows hidden tests");
    assert.match(html, /hidden tests ran here/);
    assert.match(html, /short\.idx/, "feedback keeps the visible tests");
    // A failed test shows its message, not the code frame, stack or values Node prints with it.
    assert.match(html, /AssertionError: Missing expected exception: a still-compressed file/);
    assert.doesNotMatch(html, /node:assert:\d|throw new AssertionError|evalmachine|ERR_ASSERTION|generatedMessage/);
    // A feedback page with a chart: drawn offline like every exported page. Charts
    // the student's code drew while hidden tests ran are left out, like any output of theirs.
    const chartFeedback = path.join(root, "feedback", "instructor", C, `${C}.html`);
    const gradedC = path.join(root, "autograded", "instructor", C, `${C}.ipynb`);
    const charts = visibleCharts(root, gradedC);
    const duringHiddenTests = plotlyFigures(gradedC) - charts;
    assert.ok(charts >= 1, `the graded ${C} notebook holds its chart`);
    if (duringHiddenTests)
      assert.match(fs.readFileSync(chartFeedback, "utf8"), /output while the hidden tests ran is not shown/);
    const browser = await launchChromium();
    try {
      await checkExportedPage(browser, chartFeedback, {
        charts,
        interactive: true,
        minImages: 0,
        shot: "export-feedback.png",
      });
    } finally {
      await browser.close();
    }

    const { table, summary } = course.grades(opts);
    console.log(table.toString());
    console.log(summary.toString());
    const rows = table.toRecords() as { assignment: string; student_id: string; score: number; max_score: number }[];
    const maxScore = (assignment: string) => rows.find((r) => r.assignment === assignment)?.max_score;
    const score = (student: string, assignment: string) =>
      rows.find((r) => r.student_id === student && r.assignment === assignment)?.score;
    assert.equal(score("instructor", A), 8, "instructor version: full marks");
    assert.equal(score("instructor", B), 6, "instructor version: full marks");
    assert.equal(score("instructor", C), maxScore(C), "instructor version: full marks");
    assert.equal(score("student", A), 0, "untouched student version: 0");
    assert.equal(score("student", B), 0, "untouched student version: 0");
    assert.equal(score("partial", A), 6, "reader without input checks: 6 of 8");
    // edited cell regraded with the original test (fails: 0), deleted cell 0, two intact cells 2 + 2
    assert.equal(score("tampered", A), 4, "graded against the original tests; a deleted test cell scores 0");
    assert.equal(score("syntax", A), 0, "syntax error: 0");
    assert.equal(score("loop", A), 0, "endless loop: 0");
    assert.equal(score("exit", A), 0, "process.exit(): 0");
    const counts = Object.fromEntries(
      (summary.toRecords() as { assignment: string; submissions: number }[]).map((r) => [r.assignment, r.submissions]),
    );
    assert.deepEqual(
      counts,
      { [A]: 7, [B]: 2, [C]: 1 },
      "the summary counts submissions, not every student in the database",
    );
  } finally {
    restoreEnv();
    removeCourseDir(tmp);
  }
});
