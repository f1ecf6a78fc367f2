// Every assignment that test/course.test.ts does not grade end to end is
// validated here with the real nbgrader and tslab kernel: the instructor
// version passes all its tests and the released student version fails every
// graded test (so no test can be passed by the untouched stub). `challenge` is
// left out: its instructor version trains a full-size model (minutes), which is
// a one-time instructor step (docs/instructors.md), not a per-commit check.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as path from "path";
import { copyCourse, makeTempDir, readNb, removeDir, useCourseData } from "./helpers";
import * as course from "../scripts/course";

const ASSIGNMENTS = ["normalize-split", "training-curves", "early-stopping", "confusion"];

test(
  "assignments: instructor versions pass, student versions fail every graded test",
  { timeout: 30 * 60_000 },
  async () => {
    const tmp = makeTempDir("fmnist-assignments-");
    const restoreEnv = useCourseData(tmp);
    try {
      const root = copyCourse(tmp, ASSIGNMENTS);
      const opts: course.CourseOptions = { course: root, assignments: ASSIGNMENTS, timeout: 120, quiet: true };
      course.generate(opts);
      for (const a of ASSIGNMENTS) {
        const released = JSON.stringify(readNb(path.join(root, "release", a, `${a}.ipynb`)));
        assert.doesNotMatch(
          released,
          /BEGIN HIDDEN TESTS|BEGIN SOLUTION/,
          `${a}: the student version leaks hidden tests or solutions`,
        );
      }
      const results = await course.validate(opts);
      const summary = results.map((r) => [path.relative(root, r.notebook), r.expected, r.ok]);
      const expected = ASSIGNMENTS.flatMap((a) => [
        [path.join("source", a, `${a}.ipynb`), "pass", true],
        [path.join("release", a, `${a}.ipynb`), "fail", true],
      ]);
      assert.deepEqual(
        summary,
        expected,
        results
          .filter((r) => !r.ok)
          .map((r) => `--- ${r.notebook} (expected to ${r.expected})\n${r.output}`)
          .join("\n"),
      );
    } finally {
      restoreEnv();
      removeDir(tmp);
    }
  },
);
