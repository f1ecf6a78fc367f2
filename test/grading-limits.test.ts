// Limits on what one submission can do to a grading run, with the real
// nbgrader and the real tslab kernel on a temporary course copy:
// - a notebook whose code allocates far more memory than the limit is stopped
//   in that cell: that cell and later ones score 0, earlier ones keep their
//   points, and a well-behaved submission in the same run keeps full marks;
// - each kernel runs in its submission's own autograded folder;
// - without the sandbox (--no-sandbox), a submission that writes into another
//   student's submission stops the grading before that student is graded from
//   the altered file, and a submission that rewrites other students' grades in
//   the gradebook stops the grading, and the gradebook is put back (their
//   grades are unchanged). (With the sandbox such writes fail: sandbox.test.ts.)
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import {
  cellById,
  copyCourse,
  makeTempDir,
  type Notebook,
  readNb,
  removeCourseDir,
  text,
  useCourseData,
  withSolution,
  writeNb,
} from "./helpers";
import * as course from "../scripts/course";

const A = "idx-parsing";
// The idx-parsing kernel (tfjs loaded, dataset read) peaks near 700 MB here;
// the limit leaves ~500 MB of headroom, and the greedy submission asks for
// 4 GB, over three times the limit, so neither side is close on a noisy machine.
const LIMIT_MB = 1200;
const GREEDY_MB = 4096;
const CHUNK_MB = 64;

/** The solution cell's code with `code` run first whenever readIdx reads a file whose name starts with `prefix`. */
function withHook(source: Notebook, prefix: string, code: string[]): Notebook {
  return withSolution(source, (s) => {
    const head = "function readIdx(bytes: Uint8Array, file: string): Idx {\n";
    assert.ok(s.includes(head), "the solution cell defines readIdx");
    return s.replace(
      head,
      `${head}  if (file.startsWith(${JSON.stringify(prefix)})) {\n${code.map((l) => `    ${l}\n`).join("")}  }\n`,
    );
  });
}

/** Code that runs once, when the solution cell runs. */
const withPrelude = (source: Notebook, code: string[]) => withSolution(source, (s) => `${code.join("\n")}\n${s}`);

test(
  "grading limits: memory per notebook, each kernel in its own folder, writes outside it stop the run",
  { timeout: 15 * 60_000 },
  async () => {
    const tmp = makeTempDir("fmnist-limits-");
    const restoreEnv = useCourseData(tmp);
    try {
      const root = copyCourse(tmp, [A]);
      const opts: course.CourseOptions = {
        course: root,
        assignments: [A],
        timeout: 60,
        memoryLimitMb: LIMIT_MB,
        quiet: true,
      };
      course.generate(opts);

      const source = readNb(path.join(root, "source", A, `${A}.ipynb`));
      const submit = (student: string, nb: Notebook) =>
        writeNb(path.join(root, "submitted", student, A, `${A}.ipynb`), nb);
      const printCwd = ['console.log("kernel cwd: " + process.cwd());'];
      // A correct reader, which reports its working folder.
      submit("good", withPrelude(source, printCwd));
      // A correct reader that, when the image test (cell 8 of 10) calls it,
      // keeps filling native Buffers (not V8's heap): the small and label tests pass first.
      submit(
        "greedy",
        withHook(source, "t10k-images", [
          "const kept: Buffer[] = [];",
          `for (let i = 0; i < ${GREEDY_MB / CHUNK_MB}; i++) kept.push(Buffer.alloc(${CHUNK_MB} * 1024 * 1024, 1));`,
          "console.log(`kept ${kept.length} buffers`);",
        ]),
      );

      const started = Date.now();
      const log = await course.autograde(opts);
      const seconds = (Date.now() - started) / 1000;
      console.log(`autograded 2 submissions in ${seconds.toFixed(0)} s`);

      // One log line names the student, the notebook, the cell and the figures.
      const line = log.split("\n").find((l) => l.includes("MemoryLimitExceeded"));
      assert.ok(line, `no memory-limit line in the log:\n${log}`);
      const m = line.match(
        new RegExp(
          `MemoryLimitExceeded: student greedy, notebook ${A}/${A}, cell 8 \\(${A}-test-images\\): (\\d+) MB over the ${LIMIT_MB} MB memory limit`,
        ),
      );
      assert.ok(m, line);
      const usedMb = Number(m[1]);
      assert.ok(usedMb > LIMIT_MB && usedMb < GREEDY_MB, `stopped at ${usedMb} MB`);
      const peak = log.match(
        new RegExp(
          `Ran student good, notebook ${A}/${A} in \\d+ s: peak kernel memory (\\d+) MB \\(limit ${LIMIT_MB} MB\\)`,
        ),
      );
      assert.ok(peak, `no peak-memory line for the good submission:\n${log}`);
      console.log(
        `baseline: the good submission's kernel peaked at ${peak[1]} MB; the greedy one was stopped at ${usedMb} MB`,
      );

      // The greedy notebook: the cell that ran over says so, later cells were not run, earlier ones kept their output.
      const greedy = readNb(path.join(root, "autograded", "greedy", A, `${A}.ipynb`));
      const errors = (id: string) => (cellById(greedy, id).outputs ?? []).filter((o) => o.output_type === "error");
      assert.deepEqual(errors(`${A}-test-small`), []);
      assert.deepEqual(errors(`${A}-test-labels`), []);
      const over = errors(`${A}-test-images`);
      assert.equal(over.length, 1, JSON.stringify(cellById(greedy, `${A}-test-images`).outputs));
      assert.equal(over[0].ename, "MemoryLimitExceeded");
      assert.match(over[0].evalue ?? "", new RegExp(`the notebook used \\d+ MB, over the ${LIMIT_MB} MB limit`));
      assert.doesNotMatch(JSON.stringify(greedy), /kept \d+ buffers/, "the allocation never finished");
      assert.equal(errors(`${A}-test-errors`)[0]?.ename, "NotRun");

      // Each kernel ran in its submission's own autograded folder.
      const good = readNb(path.join(root, "autograded", "good", A, `${A}.ipynb`));
      const cwdLine = JSON.stringify(good.cells.flatMap((c) => (c.outputs ?? []).map((o) => text(o.text ?? ""))));
      assert.ok(cwdLine.includes(`kernel cwd: ${path.join(root, "autograded", "good", A)}`), cwdLine);

      // A submission that writes into a submission not graded yet stops the run before that one is graded.
      fs.renameSync(path.join(root, "submitted"), path.join(tmp, "graded-already"));
      submit(
        "vandal",
        withPrelude(source, [
          ...printCwd,
          `fs.appendFileSync(path.resolve("../../../submitted/victim/${A}/${A}.ipynb"), " ");`,
        ]),
      );
      submit("victim", source);
      await assert.rejects(course.autograde({ ...opts, sandbox: false }), (err: Error) => {
        assert.ok(err instanceof course.CourseError, String(err));
        assert.match(err.message, new RegExp(`while vandal's ${A} was graded, files outside its own folder changed`));
        assert.ok(err.message.includes(path.join(root, "submitted", "victim", A, `${A}.ipynb`)), err.message);
        return true;
      });
      assert.ok(
        !fs.existsSync(path.join(root, "autograded", "victim")),
        "the victim was not graded from the altered file",
      );

      // A submission that rewrites grades in the gradebook (here every score to 0)
      // stops the run, and the gradebook is put back as it was before it.
      fs.renameSync(path.join(root, "submitted"), path.join(tmp, "vandal-round"));
      submit(
        "forger",
        withPrelude(source, [
          'import { execFileSync } from "child_process";',
          `execFileSync("python", ["-c", "import sqlite3; db = sqlite3.connect('../../../gradebook.db'); ` +
            `db.execute('UPDATE grade SET auto_score = 0'); db.commit()"]);`,
        ]),
      );
      await assert.rejects(course.autograde({ ...opts, sandbox: false }), (err: Error) => {
        assert.ok(err instanceof course.CourseError, String(err));
        assert.match(err.message, new RegExp(`while forger's ${A} was graded, files outside its own folder changed`));
        assert.match(err.message, new RegExp(`gradebook\\.db: the rows of .*good/${A}.*put back as they were`));
        return true;
      });

      const { table } = course.grades(opts);
      console.log(table.toString());
      const rows = table.toRecords() as { student_id: string; score: number }[];
      const score = (student: string) => rows.find((r) => r.student_id === student)?.score;
      assert.equal(score("good"), 8, "the well-behaved submission keeps full marks");
      assert.equal(
        score("greedy"),
        4,
        "the two tests before the memory blow-up keep their points; that cell and the last one score 0",
      );
      assert.equal(score("forger"), undefined, "the forger's own grades are not recorded");
    } finally {
      restoreEnv();
      removeCourseDir(tmp);
    }
  },
);
