// No false alarms, no false zeros (issue 22, item 3): autograde of a
// normalize-split submission whose test cells are exactly as released (hidden
// tests removed by generate) logs no "Attribute 'checksum' ... has changed!";
// one whose test cell a student edited still does (and is graded from the
// instructor's copy). Grade files: grades.csv keeps every student nbgrader
// knows, with a status column and empty scores where there is no grade (not
// submitted, could not grade: a course without the library nearby), never 0;
// the Canvas and Moodle files list graded students only, a late one included.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import pl from "nodejs-polars";
import { copyCourse, makeTempDir, removeCourseDir, repoRoot, useCourseData } from "./helpers";
import * as course from "../scripts/course";
import * as lms from "../scripts/course/lms";

const A = "normalize-split";

interface Cell {
  cell_type: string;
  source: string | string[];
  metadata: { nbgrader?: { grade_id?: string; solution?: boolean } };
}
type Notebook = { cells: Cell[] } & Record<string, unknown>;

const text = (s: string | string[]) => (Array.isArray(s) ? s.join("") : s);
const readNb = (file: string) => JSON.parse(fs.readFileSync(file, "utf8")) as Notebook;

test(
  "grades: tampering warnings only for edited test cells; grades.csv, Canvas and Moodle files leave missing grades empty",
  { timeout: 15 * 60_000 },
  async () => {
    const tmp = makeTempDir("fmnist-grades-status-");
    const restoreEnv = useCourseData(tmp);
    try {
      const root = copyCourse(tmp, [A]);
      const opts: course.CourseOptions = { course: root, assignments: [A], quiet: true, timeout: 120 };
      course.generate(opts);
      course.nbgrader(opts, ["db", "assignment", "add", A, "--duedate=2026-03-02 12:00:00 UTC"]);
      course.nbgrader(opts, ["db", "student", "add", "cy", "--last-name=Young", "--first-name=Cy"]);

      // The released notebook with the instructor's solution: every test cell exactly as released.
      const source = readNb(path.join(root, "source", A, `${A}.ipynb`));
      const solved = readNb(path.join(root, "release", A, `${A}.ipynb`));
      for (const cell of solved.cells) {
        if (!cell.metadata.nbgrader?.solution) continue;
        cell.source = source.cells.find(
          (c) => c.metadata.nbgrader?.grade_id === cell.metadata.nbgrader?.grade_id,
        )!.source;
      }
      const edited = JSON.parse(JSON.stringify(solved)) as Notebook;
      const scale = edited.cells.find((c) => c.metadata.nbgrader?.grade_id === `${A}-test-scale`)!;
      scale.source = `${text(scale.source)}\n// a student was here`;
      assert.ok(
        source.cells.filter((c) => text(c.source).includes("BEGIN HIDDEN TESTS")).length >= 3,
        "the instructor's test cells hold hidden tests",
      );
      const handedIn = path.join(tmp, "handed-in");
      const hand = (student: string, nb: Notebook, time: string) => {
        const dir = path.join(handedIn, student, A);
        fs.mkdirSync(dir, { recursive: true });
        fs.writeFileSync(path.join(dir, `${A}.ipynb`), JSON.stringify(nb));
        fs.writeFileSync(path.join(dir, "timestamp.txt"), time);
      };
      hand("ann", solved, "2026-03-01 09:00:00.000000 UTC");
      hand("bo", edited, "2026-03-02 14:30:00.000000 UTC"); // late by 2.5 h
      hand("dee", solved, "2026-03-01 10:00:00.000000 UTC");

      let started = Date.now();
      const report: course.AutogradeReport = { graded: [], failed: [], skipped: [], removed: [] };
      const log = await course.autograde({ ...opts, submissions: handedIn, students: ["ann", "bo"] }, report);
      console.log(`autograded ann and bo in ${((Date.now() - started) / 1000).toFixed(0)} s`);
      assert.deepEqual(report.graded.sort(), [`ann/${A}`, `bo/${A}`], JSON.stringify(report));
      const warnings = log.split("\n").filter((l) => /Attribute '\w+' for cell .* has changed/.test(l));
      assert.equal(warnings.length, 1, `one warning, for bo's edited cell only:\n${warnings.join("\n")}`);
      assert.match(warnings[0], new RegExp(`Attribute 'checksum' for cell ${A}-test-scale has changed`));
      const boLog = fs.readFileSync(path.join(root, "autograded", "bo", A, `${A}.ipynb`), "utf8");
      assert.match(boLog, /BEGIN HIDDEN TESTS/, "bo's edited cell is graded from the instructor's copy");
      assert.doesNotMatch(boLog, /a student was here/);

      // dee: could not grade (the course's folder has no library nearby), no score recorded.
      fs.unlinkSync(path.join(tmp, "node_modules"));
      try {
        const failed: course.AutogradeReport = { graded: [], failed: [], skipped: [], removed: [] };
        await course.autograde({ ...opts, students: ["dee"] }, failed);
        assert.equal(failed.failed.length, 1, JSON.stringify(failed));
        assert.match(failed.failed[0], /could not grade: the grading kernel cannot find module fashion-mnist-lib/);
      } finally {
        fs.symlinkSync(path.join(repoRoot, "node_modules"), path.join(tmp, "node_modules"));
      }

      // grades.csv: every student nbgrader knows; no grade is an empty score with its status, never 0.
      started = Date.now();
      const { csv, table, graded, counts } = course.grades(opts);
      console.log(`grades in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      const rows = pl.readCSV(fs.readFileSync(csv, "utf8"), { inferSchemaLength: 0 }).toRecords() as Record<
        string,
        string | null
      >[];
      const row = (s: string) => rows.find((r) => r.student_id === s)!;
      assert.equal(Object.keys(rows[0]).at(-1), "status");
      assert.deepEqual(
        Object.fromEntries(rows.map((r) => [r.student_id, [r.status, r.score ?? ""]])),
        { ann: ["graded", "6.0"], bo: ["late", "6.0"], cy: ["not submitted", ""], dee: ["could not grade", ""] },
        fs.readFileSync(csv, "utf8"),
      );
      assert.equal(row("cy").raw_score ?? "", "");
      assert.equal(row("dee").max_score, "6.0", "the assignment's maximum stays");
      assert.deepEqual(counts, { graded: 1, late: 1, "not submitted": 1, "could not grade": 1 });
      assert.deepEqual(table.getColumn("student_id").toArray(), ["ann", "bo"], "the printed table: graded ones");

      // Canvas and Moodle: a row per graded student (late ones too); nobody gets a 0 for a missing grade.
      assert.deepEqual(fs.readFileSync(lms.writeLmsGrades(opts, "canvas", graded), "utf8").split("\n"), [
        `Student,ID,SIS User ID,SIS Login ID,Section,${A}`,
        "ann,ann,,ann,,6",
        "bo,bo,,bo,,6",
        "",
      ]);
      assert.deepEqual(fs.readFileSync(lms.writeGradesFile(opts, "moodle"), "utf8").split("\n"), [
        `Username,Email address,Assignment: ${A} (Real)`,
        "ann,,6",
        "bo,,6",
        "",
      ]);
    } finally {
      restoreEnv();
      removeCourseDir(tmp);
    }
  },
);
