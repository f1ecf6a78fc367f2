// The instructor's side of an assignment: student versions generated from the
// instructor versions (no solution or hidden test in them), and both versions
// validated (the instructor's passes every test, the student's fails them).
import * as path from "path";
import { dataDir, userPath } from "fashion-mnist-lib/dist/runtime/paths";
import { prepareKernels } from "./kernels";
import {
  assertNothingLeaks,
  assignments,
  CourseError,
  type CourseOptions,
  filesUnder,
  HIDDEN,
  nbgrader,
  SOLUTION,
} from "./nbgrader";

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
