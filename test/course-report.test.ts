// The class at a glance (`npm run course -- report`, scripts/course/report.ts)
// on a generated class of idx-parsing: 11 submissions handed in (3 correct, 3
// partly right, one that reads only 1-D files and fails a hidden test, 2
// untouched stubs, one with a syntax error, one that is not a notebook), 3 of
// them after the due date, autograded by the real command two at a time. The
// page is opened in Chromium with every request blocked: its charts are drawn,
// its numbers are the gradebook's, the most failed test is named with its
// message, no hidden test's text is in it, and no request leaves it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, execFile, spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import {
  copyCourse,
  makeTempDir,
  type Notebook,
  partialReader,
  readNb,
  removeCourseDir,
  repoRoot,
  useCourseData,
  withSolution,
  writeNb,
} from "./helpers";
import * as course from "../scripts/course";
import { readGradingLog } from "../scripts/course/grading-log";
import { checkExportedPage, launchChromium } from "./browser";
import { HIDDEN } from "./hub";

const A = "idx-parsing";

function courseCli(args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child: ChildProcess = execFile(
      process.execPath,
      [path.join(repoRoot, "build", "scripts", "course.js"), ...args],
      { encoding: "utf8", env: process.env, maxBuffer: 64 * 1024 * 1024, timeout: 15 * 60_000 },
      (_err, stdout, stderr) => resolve({ code: child.exitCode, output: `${stdout}${stderr}` }),
    );
  });
}

/** gradebook_score.py's score of one submission (what `course autograde` prints). */
function gradebookScore(root: string, student: string): number {
  const res = spawnSync(
    path.join(repoRoot, ".venv", "bin", "python"),
    [path.join(repoRoot, "scripts", "gradebook_score.py"), path.join(root, "gradebook.db"), student, A],
    { encoding: "utf8" },
  );
  assert.equal(res.status, 0, res.stderr);
  return (JSON.parse(res.stdout) as { score: number }).score;
}

/** Test cell -> students who earned its full points, straight from the gradebook. */
function passesByCell(root: string): Record<string, number> {
  const res = spawnSync(
    path.join(repoRoot, ".venv", "bin", "python"),
    [
      "-c",
      `import sqlite3, sys, json
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
rows = db.execute("""SELECT b.name, SUM(CASE WHEN COALESCE(g.manual_score, g.auto_score, 0) >= c.max_score THEN 1 ELSE 0 END)
  FROM grade g JOIN grade_cells c ON c.id = g.cell_id JOIN base_cell b ON b.id = c.id GROUP BY b.name""").fetchall()
print(json.dumps(dict(rows)))`,
      path.join(root, "gradebook.db"),
    ],
    { encoding: "utf8" },
  );
  assert.equal(res.status, 0, res.stderr);
  return JSON.parse(res.stdout) as Record<string, number>;
}

test(
  "course report: the class at a glance, offline, on 11 generated submissions",
  { timeout: 25 * 60_000 },
  async () => {
    const tmp = makeTempDir("fmnist-class-report-");
    const restoreEnv = useCourseData(tmp);
    try {
      const root = copyCourse(tmp, [A]);
      const opts: course.CourseOptions = { course: root, assignments: [A], quiet: true };
      course.generate(opts);
      // The due date, set the way an instructor does without the Formgrader.
      course.nbgrader(opts, ["db", "assignment", "add", A, "--duedate=2026-03-02 12:00:00 UTC"]);

      const source = readNb(path.join(root, "source", A, `${A}.ipynb`));
      const release = readNb(path.join(root, "release", A, `${A}.ipynb`));
      const oneDim = withSolution(source, (s) =>
        s.replace(
          /\/\/ BEGIN SOLUTION[\s\S]*\/\/ END SOLUTION/,
          "return { dims: [new DataView(bytes.buffer, bytes.byteOffset).getUint32(4, false)], data: bytes.subarray(8) };",
        ),
      );
      const syntax = withSolution(source, (s) => s.replace("const ndim = bytes[3];", "const ndim = bytes[3;"));
      const hand: [string, Notebook | string, string][] = [
        ["ada", source, "2026-03-01 09:00:00.000000 UTC"],
        ["bo", source, "2026-03-01 10:00:00.000000 UTC"],
        ["cy", source, "2026-03-02 11:59:00.000000 UTC"],
        ["dee", partialReader(source), "2026-03-01 12:00:00.000000 UTC"],
        ["eli", partialReader(source), "2026-03-02 14:30:00.000000 UTC"], // late by 2.5 h
        ["fay", partialReader(source), "2026-03-01 08:00:00.000000 UTC"],
        ["gus", oneDim, "2026-03-04 12:00:00.000000 UTC"], // late by 2 days
        ["hal", release, "2026-03-02 12:05:00.000000 UTC"], // late by 5 min
        ["ivy", release, "2026-02-28 12:00:00.000000 UTC"],
        ["jo", syntax, "2026-03-01 18:00:00.000000 UTC"],
        ["kim", "{ this is not a notebook", "2026-03-01 18:00:00.000000 UTC"],
      ];
      const handedIn = path.join(tmp, "handed-in");
      for (const [student, nb, time] of hand) {
        const dir = path.join(handedIn, student, A);
        if (typeof nb === "string") {
          fs.mkdirSync(dir, { recursive: true });
          fs.writeFileSync(path.join(dir, `${A}.ipynb`), nb);
        } else writeNb(path.join(dir, `${A}.ipynb`), nb);
        fs.writeFileSync(path.join(dir, "timestamp.txt"), time);
      }

      // Graded by the command instructors type, side by side.
      let started = Date.now();
      const graded = await courseCli(["autograde", A, "--course", root, "--submissions", handedIn, "--jobs", "2"]);
      const gradingSeconds = (Date.now() - started) / 1000;
      assert.match(graded.output, /10 graded, 0 could not be graded, 1 skipped/, graded.output);
      console.log(`autograded 11 submissions in ${gradingSeconds.toFixed(0)} s`);

      // Grading time per submission, recorded by autograde.
      const log = readGradingLog(root);
      assert.equal(log.size, 10, "one grading record per graded submission");
      for (const r of log.values()) assert.ok(r.seconds > 0 && r.outcome === "graded", JSON.stringify(r));

      // The page.
      started = Date.now();
      const made = await courseCli(["report", "--course", root]);
      const reportSeconds = (Date.now() - started) / 1000;
      assert.equal(made.code, 0, made.output);
      const file = path.join(root, "reports", "class-report.html");
      assert.match(
        made.output,
        new RegExp(`written: ${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} \\([\\d.]+ MB, 3 charts\\)`),
      );
      const html = fs.readFileSync(file, "utf8");
      console.log(made.output.trim());
      console.log(`report made in ${reportSeconds.toFixed(1)} s: ${(html.length / 1024 / 1024).toFixed(2)} MB`);

      // The numbers are the gradebook's.
      const want: Record<string, number> = { ada: 8, bo: 8, cy: 8, dee: 6, eli: 6, fay: 6, hal: 0, ivy: 0, jo: 0 };
      for (const [student, score] of Object.entries(want)) assert.equal(gradebookScore(root, student), score, student);
      const figures = [
        ...html.matchAll(/<script type="application\/json" id="(fm-plotly-\d+)-figure">(.*?)<\/script>/g),
      ].map((m) => JSON.parse(m[2]) as { data: { type: string; x?: unknown[]; y?: unknown[]; text?: unknown[] }[] });
      assert.equal(figures.length, 3, "scores, pass rates, grading times");
      const students = ["ada", "bo", "cy", "dee", "eli", "fay", "gus", "hal", "ivy", "jo"];
      assert.deepEqual(
        figures[0].data[0].x,
        students.map((s) => gradebookScore(root, s)),
        "the histogram's scores are the gradebook's, one per graded submission",
      );
      const passes = passesByCell(root);
      const bars = figures[1].data[0];
      assert.deepEqual(
        Object.fromEntries((bars.y as string[]).map((name, i) => [name, (bars.text as string[])[i]])),
        Object.fromEntries(Object.entries(passes).map(([name, n]) => [name, `${n} of 10`])),
        "pass counts per test cell are the gradebook's",
      );
      assert.equal((figures[2].data[0].x as string[]).length, 10, "a grading time per graded submission");

      // The most failed test, named with its most common message (what feedback shows).
      const mostFailed = Object.entries(passes).sort((x, y) => x[1] - y[1])[0];
      assert.equal(mostFailed[0], `${A}-test-errors`);
      const row = new RegExp(
        `<tr><td>${mostFailed[0]}</td><td class="num">2</td><td class="num">${mostFailed[1]} of 10</td>` +
          `<td class="num">\\d+%</td><td class="msg">([^<]+) <span class="note">\\((\\d+)\\)</span>`,
      );
      const [, message, count] = row.exec(html) ?? assert.fail(`no row for ${mostFailed[0]}`);
      console.log(`most failed: ${mostFailed[0]} (${mostFailed[1]} of 10 pass): ${message.trim()} (${count})`);
      assert.match(message, /AssertionError: Missing expected exception: a still-compressed file/);
      assert.equal(count, "4", "the three partly right readers and the 1-D reader fail it with that message");
      assert.match(html, /hardest test<\/th>/);
      assert.match(html, new RegExp(`${mostFailed[0]} \\(${mostFailed[1]} of 10 pass\\)`));

      // Late (from the gradebook's timestamps) and not graded.
      for (const [student, late] of [
        ["eli", "2.5 h"],
        ["gus", "2.0 days"],
        ["hal", "5 min"],
      ])
        assert.match(html, new RegExp(`<tr><td>${student}</td><td>[^<]+</td><td class="num">${late}</td></tr>`));
      assert.doesNotMatch(
        html,
        /<tr><td>(ada|bo|cy|dee|fay|ivy|jo)<\/td><td>2026-/,
        "on-time submissions are not late",
      );
      assert.match(
        html,
        /<tr><td>kim<\/td><td class="msg">no graded notebook: idx-parsing\.ipynb is not a notebook \(invalid JSON\)/,
      );

      // No hidden test's code or message: gus failed a hidden test, and its message is not there.
      assert.doesNotMatch(html.replace(/<script>\/\* plotly\.js, embedded once \*\/[\s\S]*?<\/script>/, ""), HIDDEN);
      assert.doesNotMatch(html, /each size is a big-endian uint32 after byte 3/);
      assert.match(html, /a hidden test failed \(its message is not shown\)/);

      // Offline in Chromium: charts drawn as SVG, plotly.js embedded once, no request, no console error.
      const browser = await launchChromium();
      try {
        await checkExportedPage(browser, file, {
          charts: 3,
          interactive: true,
          minImages: 0,
          shot: "class-report.png",
        });
      } finally {
        await browser.close();
      }

      // One assignment named, and a folder that is not a course.
      const one = await courseCli(["report", A, "--course", root, "--output", path.join(tmp, "one.html")]);
      assert.equal(one.code, 0, one.output);
      assert.ok(fs.existsSync(path.join(tmp, "one.html")));
      const wrong = await courseCli(["report", "idx-parse", "--course", root]);
      assert.notEqual(wrong.code, 0);
      assert.match(wrong.output, /no assignment "idx-parse"/);
    } finally {
      restoreEnv();
      removeCourseDir(tmp);
    }
  },
);
