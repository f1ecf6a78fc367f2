// The partial-credit matrix of every exercise (but `challenge`, whose saved-model
// tests need a full-size run), through the course's real autograde (sandboxed,
// side by side): each solution region alone, with every other region left as
// the student's stub, earns points; all regions earn full marks; the stub
// earns 0. The same computation `npm run course -- validate` prints
// (scripts/course/credit.ts).
import { test } from "node:test";
import assert from "node:assert/strict";
import * as path from "path";
import { makeTempDir, removeDir, repoRoot, useCourseData } from "./helpers";
import { creditMatrix, creditProblems, formatCredit } from "../scripts/course/credit";

const ASSIGNMENTS = ["idx-parsing", "normalize-split", "build-model", "training-curves", "early-stopping", "confusion"];

/** What each region earns alone, by exercise, as the exercises are designed (docs/instructors.md, "Partial credit"). */
const EXPECTED: Record<string, number[]> = {
  "idx-parsing": [8],
  "normalize-split": [2, 2, 2],
  "build-model": [6],
  "training-curves": [2, 2, 1, 1, 2],
  "early-stopping": [7, 2],
  confusion: [2, 2, 2],
};

test(
  "partial credit: each solution region alone earns its points, all regions full marks, the stub 0",
  { timeout: 40 * 60_000 },
  async () => {
    const tmp = makeTempDir("fmnist-credit-");
    const restoreEnv = useCourseData(tmp);
    try {
      const started = Date.now();
      const matrices = await creditMatrix({
        course: path.join(repoRoot, "exercises"),
        assignments: ASSIGNMENTS,
        timeout: 120,
        quiet: true,
      });
      const seconds = (Date.now() - started) / 1000;
      const count = matrices.reduce((n, m) => n + m.regions.length + 2, 0);
      for (const m of matrices) console.log(formatCredit(m));
      console.log(`partial credit: ${count} submissions graded in ${seconds.toFixed(0)} s`);
      assert.deepEqual(
        matrices.map((m) => m.assignment),
        ASSIGNMENTS,
      );
      assert.deepEqual(matrices.flatMap(creditProblems), [], matrices.map(formatCredit).join("\n"));
      // A test that fails because a function is still the stub says which one, never a compiler error
      // (idx-parsing's tests are kept as they were: its stub fails them with their own messages).
      const messages = matrices.flatMap((m) =>
        (m.assignment === "idx-parsing" ? [] : [...m.regions, m.stub]).flatMap((r) =>
          (r.failures ?? []).map((f) => ({
            single: m.regions.length === 1,
            text: `${m.assignment}/${f.cell}: ${f.message}`,
          })),
        ),
      );
      console.log(
        `${messages.length} failed test cells, e.g.:\n  ${messages
          .map((f) => f.text)
          .slice(-8)
          .join("\n  ")}`,
      );
      assert.ok(messages.length > 0);
      const named = /`\w+` is not implemented yet/;
      assert.deepEqual(
        messages.filter((f) => !named.test(f.text) || /Cannot find name/.test(f.text)).map((f) => f.text),
        [],
        "messages of tests whose function is not implemented",
      );
      assert.deepEqual(
        Object.fromEntries(matrices.map((m) => [m.assignment, m.regions.map((r) => r.score)])),
        EXPECTED,
        matrices.map(formatCredit).join("\n"),
      );
    } finally {
      restoreEnv();
      removeDir(tmp);
    }
  },
);
