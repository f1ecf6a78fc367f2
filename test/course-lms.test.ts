// The course and an LMS: archives laid out as Canvas's "Download Submissions"
// and Moodle's "Download all submissions" give them, imported with nbgrader's
// zip_collect into a temporary copy of the course; bad archives refused with
// their name and the reason; grade files for Canvas's and Moodle's gradebook
// imports, before anything is graded and after two real autogrades.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { copyCourse, makeTempDir, removeCourseDir, repoRoot, useCourseData } from "./helpers";
import * as course from "../scripts/course";
import * as lms from "../scripts/course/lms";

const A = "idx-parsing";

/** A zip archive holding `entries` (path in the archive -> content; a path ending in / is a folder), made by Python. */
function makeZip(file: string, entries: Record<string, string | Buffer>): void {
  const script = [
    "import base64, json, sys, zipfile",
    "with zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED) as z:",
    "    for name, data in json.load(sys.stdin).items():",
    "        z.writestr(name, base64.b64decode(data))",
  ].join("\n");
  const encoded = Object.fromEntries(
    Object.entries(entries).map(([name, data]) => [name, Buffer.from(data).toString("base64")]),
  );
  const r = spawnSync(path.join(repoRoot, ".venv", "bin", "python"), ["-c", script, file], {
    input: JSON.stringify(encoded),
    encoding: "utf8",
  });
  assert.equal(r.status, 0, r.stderr);
}

/** Every file under `dir` with its text, to show a refused archive changed nothing. */
function snapshot(dir: string): Record<string, string> {
  const files = fs.readdirSync(dir, { recursive: true, encoding: "utf8" }).sort();
  return Object.fromEntries(
    files
      .filter((f) => fs.statSync(path.join(dir, f)).isFile())
      .map((f) => [f, fs.readFileSync(path.join(dir, f), "utf8")]),
  );
}

function refuses(run: () => unknown, message: RegExp): void {
  assert.throws(run, (err: unknown) => {
    assert.ok(err instanceof course.CourseError, `a CourseError, got ${String(err)}`);
    assert.match(err.message, message);
    return true;
  });
}

test(
  "course collect and LMS grade files: Canvas and Moodle archives in, gradebook imports out",
  { timeout: 10 * 60_000 },
  async () => {
    const tmp = makeTempDir("fmnist-lms-");
    const restoreEnv = useCourseData(tmp);
    try {
      const root = copyCourse(tmp, [A]);
      const opts: course.CourseOptions = { course: root, assignments: [], timeout: 60, quiet: true };
      course.generate(opts);
      const solved = fs.readFileSync(path.join(root, "source", A, `${A}.ipynb`), "utf8");
      const stub = fs.readFileSync(path.join(root, "release", A, `${A}.ipynb`), "utf8");
      const read = (file: string) => fs.readFileSync(file, "utf8");
      const submitted = (student: string, file = `${A}.ipynb`) => path.join(root, "submitted", student, A, file);

      // Nothing graded yet: each LMS file is its header alone; naming the assignment gives its column.
      const canvasEmpty = lms.writeGradesFile(opts, "canvas");
      assert.equal(canvasEmpty, path.join(root, "grades-canvas.csv"));
      assert.equal(read(canvasEmpty), "Student,ID,SIS User ID,SIS Login ID,Section\n");
      const nothing = course.grades(opts).graded;
      assert.equal(read(lms.writeLmsGrades(opts, "moodle", nothing)), "Username,Email address\n");
      assert.equal(
        read(lms.writeLmsGrades({ ...opts, assignments: [A] }, "canvas", nothing)),
        `Student,ID,SIS User ID,SIS Login ID,Section,${A}\n`,
      );

      // Canvas: a notebook as handed in, one Canvas renamed (a second upload) and late, a text entry, a stray file.
      const canvasZip = path.join(tmp, "canvas-download.zip");
      makeZip(canvasZip, {
        [`doejane_48213_9934120_${A}.ipynb`]: solved,
        [`roesmith_late_51007_9934188_${A}-1.ipynb`]: stub,
        "doejane_48213_text.html": "<p>see the attached notebook</p>",
        "notes.ipynb": solved,
      });
      const canvas = lms.collectZip(opts, canvasZip, A);
      assert.deepEqual(canvas.imported, [`48213/${A}/${A}.ipynb`, `51007/${A}/${A}.ipynb`]);
      assert.deepEqual(canvas.unmatched, [
        "doejane_48213_text.html: not a notebook",
        "notes.ipynb: not named as Canvas or Moodle name submissions",
      ]);
      assert.deepEqual(canvas.misnamed, []);
      assert.equal(read(submitted("48213")), solved);
      assert.equal(read(submitted("51007")), stub, "the renamed notebook lands under the assignment's name");
      assert.ok(
        fs.existsSync(path.join(root, "downloaded", A, "archive", "submissions.zip")),
        "nbgrader's archive folder",
      );

      // Both graded for real: the solution gets every point, the untouched student version none.
      const report: course.AutogradeReport = { graded: [], failed: [], skipped: [], removed: [] };
      await course.autograde({ ...opts, assignments: [A] }, report);
      assert.deepEqual(report.graded.sort(), [`48213/${A}`, `51007/${A}`], JSON.stringify(report));
      course.nbgrader(opts, [
        "db",
        "student",
        "add",
        "48213",
        "--last-name=Doe",
        "--first-name=Jane",
        "--email=jd@example.org",
      ]);
      const { table, graded: gradedRows } = course.grades(opts);
      const graded = table.toRecords() as { student_id: string; score: number; max_score: number }[];
      const score = (student: string) => graded.find((r) => r.student_id === student);
      assert.ok(score("48213")!.max_score > 0 && score("48213")!.score === score("48213")!.max_score, "full marks");
      assert.equal(score("51007")!.score, 0, "the student version scores nothing");
      const full = String(score("48213")!.score);
      assert.deepEqual(read(lms.writeLmsGrades(opts, "canvas", gradedRows)).split("\n"), [
        `Student,ID,SIS User ID,SIS Login ID,Section,${A}`,
        `"Doe, Jane",48213,,48213,,${full}`,
        `51007,51007,,51007,,0`,
        "",
      ]);
      assert.deepEqual(read(lms.writeGradesFile(opts, "moodle")).split("\n"), [
        `Username,Email address,Assignment: ${A} (Real)`,
        `48213,jd@example.org,${full}`,
        `51007,,0`,
        "",
      ]);
      assert.deepEqual(
        fs.readdirSync(root).filter((f) => f.startsWith(".grades")),
        [],
        "no temporary file is left beside the grades",
      );

      // Moodle: the archive's name tells the assignment; a folder per student, one without folders,
      // a browser-renamed notebook, a notebook under another name, a notebook inside a zip, an online text.
      const inner = path.join(tmp, "work.zip");
      makeZip(inner, { [`${A}.ipynb`]: solved });
      const moodleZip = path.join(tmp, `FMNIST-${A}-3187.zip`);
      makeZip(moodleZip, {
        "Otto Normal_4714_assignsubmission_file_/work.zip": fs.readFileSync(inner),
        "Jane Doe_4711_assignsubmission_file_/": "",
        [`Jane Doe_4711_assignsubmission_file_/${A}.ipynb`]: solved,
        "Jane Doe_4711_assignsubmission_onlinetext_/onlinetext.html": "<p>done</p>",
        [`Max Mustermann_4712_assignsubmission_file_${A} (1).ipynb`]: stub,
        "Erika Muster_4713_assignsubmission_file_/my work.ipynb": solved,
      });
      const moodle = lms.collectZip(opts, moodleZip);
      assert.deepEqual(moodle.imported, [
        `4713/${A}/my work.ipynb`,
        `4711/${A}/${A}.ipynb`,
        `4712/${A}/${A}.ipynb`,
        `4714/${A}/${A}.ipynb`,
      ]);
      assert.deepEqual(moodle.unmatched, [
        "Jane Doe_4711_assignsubmission_onlinetext_/onlinetext.html: not a notebook",
      ]);
      assert.equal(moodle.misnamed.length, 1);
      assert.match(moodle.misnamed[0], new RegExp(`^4713/${A}/my work\\.ipynb: not named ${A}\\.ipynb`));
      assert.equal(read(submitted("4711")), solved);
      assert.equal(read(submitted("4712")), stub);
      assert.equal(read(submitted("4713", "my work.ipynb")), solved);
      assert.equal(read(submitted("4714")), solved, "nbgrader opens an archive inside the archive");
      assert.equal(read(submitted("48213")), solved, "an earlier import's students are left alone");

      // A new download replaces what a student handed in before.
      makeZip(canvasZip, { [`doejane_48213_9934555_${A}.ipynb`]: stub });
      assert.deepEqual(lms.collectZip(opts, canvasZip, A).imported, [`48213/${A}/${A}.ipynb`]);
      assert.equal(read(submitted("48213")), stub);
      assert.equal(read(submitted("51007")), stub);

      // Refused archives: the file and what is wrong with it are named, and nothing changes.
      const before = snapshot(path.join(root, "submitted"));
      refuses(() => lms.collectZip(opts, path.join(tmp, "missing.zip"), A), /missing\.zip: no such file/);
      refuses(() => lms.collectZip(opts, tmp, A), /: a folder, not a zip archive/);
      const text = path.join(tmp, "notes.zip");
      fs.writeFileSync(text, "these are notes, not an archive\n");
      refuses(() => lms.collectZip(opts, text, A), /notes\.zip: not a zip archive/);
      const empty = path.join(tmp, "empty.zip");
      makeZip(empty, {});
      refuses(() => lms.collectZip(opts, empty, A), /empty\.zip: the archive holds no files/);
      const plain = path.join(tmp, "plain.zip");
      makeZip(plain, { "readme.txt": "hello", "homework.ipynb": solved });
      refuses(
        () => lms.collectZip(opts, plain, A),
        /plain\.zip: no file in it is named as Canvas \(.*\) or Moodle \(.*\) name submissions; it holds homework\.ipynb, readme\.txt$/,
      );
      refuses(() => lms.collectZip(opts, canvasZip, "idx-parse"), /no assignment "idx-parse"/);
      refuses(
        () => lms.collectZip(opts, canvasZip),
        /canvas-download\.zip: say which assignment it holds .*contains none of/,
      );
      const twice = path.join(tmp, "twice.zip");
      makeZip(twice, { [`doejane_48213_1_${A}.ipynb`]: solved, [`doejane_48213_2_${A}-1.ipynb`]: stub });
      refuses(
        () => lms.collectZip(opts, twice, A),
        new RegExp(
          `twice\\.zip: files that would land on the same name.*\\n  48213/${A}/${A}\\.ipynb: doejane_48213_1_`,
        ),
      );
      assert.deepEqual(snapshot(path.join(root, "submitted")), before, "refused archives change no submission");
    } finally {
      restoreEnv();
      removeCourseDir(tmp);
    }
  },
);

/** Python (the project's .venv) run on `script` with `args`; its stdout. */
function python(script: string, ...args: string[]): string {
  const r = spawnSync(path.join(repoRoot, ".venv", "bin", "python"), ["-c", script, ...args], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

/** An archive of one Canvas-named entry of `mb` MB of zeros, written streaming (a zip bomb at 1024: ~1 MB on disk). */
function zerosZip(file: string, entry: string, mb: number): void {
  python(
    [
      "import sys, zipfile",
      "with zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED) as z:",
      "    with z.open(sys.argv[2], 'w', force_zip64=True) as f:",
      "        for _ in range(int(sys.argv[3])): f.write(bytes(1 << 20))",
    ].join("\n"),
    file,
    entry,
    String(mb),
  );
}

test("course collect refuses archives past its limits (zip bomb, ratio, total, count, forged sizes, nested), before writing anything", () => {
  const tmp = makeTempDir("fmnist-lms-bounds-");
  const names = Object.values(lms.ZIP_LIMITS).map((l) => l.env);
  const saved = Object.fromEntries(names.map((n) => [n, process.env[n]]));
  const setLimits = (limits: Record<string, string>) => {
    for (const n of names) delete process.env[n];
    Object.assign(process.env, limits);
  };
  try {
    const root = copyCourse(tmp, [A]);
    const opts: course.CourseOptions = { course: root, assignments: [], timeout: 60, quiet: true };
    // An earlier import, which no refused archive may touch.
    const earlier = path.join(root, "submitted", "48213", A);
    fs.mkdirSync(earlier, { recursive: true });
    fs.writeFileSync(path.join(earlier, `${A}.ipynb`), "{}");
    const before = snapshot(root);
    const entry = (id: string, file = `${A}.ipynb`) => `doejane_${id}_9934120_${file}`;
    setLimits({});

    // The zip bomb: 1 GB in a ~1 MB archive, refused from the central directory in well under a second.
    const bomb = path.join(tmp, "bomb.zip");
    zerosZip(bomb, entry("48213"), 1024);
    assert.ok(fs.statSync(bomb).size < 2 << 20, "a ~1 MB archive");
    const started = Date.now();
    refuses(
      () => lms.collectZip(opts, bomb, A),
      new RegExp(
        `bomb\\.zip: refused, nothing imported: ${entry("48213")} inflates to 1024\\.0 MB, past the limit of 100\\.0 MB per file \\(FMNIST_ZIP_MAX_ENTRY_MB\\)$`,
      ),
    );
    assert.ok(Date.now() - started < 5000, `refused at once (${Date.now() - started} ms)`);

    // Under the per-file limit but 2 MB of zeros: the ratio.
    const dense = path.join(tmp, "dense.zip");
    zerosZip(dense, entry("48213"), 2);
    refuses(
      () => lms.collectZip(opts, dense, A),
      /dense\.zip: refused, nothing imported: .* inflates \d+ times \(2\.0 MB from 0\.0 MB\), past the limit of 100 \(FMNIST_ZIP_MAX_RATIO\)/,
    );

    // The total, the count, and the limits taken from the environment.
    const many = path.join(tmp, "many.zip");
    python(
      [
        "import os, sys, zipfile",
        "with zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED) as z:",
        "    for i in range(60): z.writestr('doejane_%d_1_idx-parsing.ipynb' % (1000 + i), os.urandom(100 << 10))",
      ].join("\n"),
      many,
    );
    setLimits({ FMNIST_ZIP_MAX_TOTAL_MB: "3" });
    refuses(
      () => lms.collectZip(opts, many, A),
      /many\.zip: refused, nothing imported: its files inflate to more than 3\.0 MB in all \(at doejane_\d+_1_idx-parsing\.ipynb\), past the limit \(FMNIST_ZIP_MAX_TOTAL_MB\)/,
    );
    setLimits({ FMNIST_ZIP_MAX_ENTRIES: "50" });
    refuses(
      () => lms.collectZip(opts, many, A),
      /many\.zip: refused, nothing imported: it holds 60 files, past the limit of 50 \(FMNIST_ZIP_MAX_ENTRIES\)/,
    );
    setLimits({ FMNIST_ZIP_MAX_RATIO: "-1" });
    refuses(() => lms.collectZip(opts, many, A), /FMNIST_ZIP_MAX_RATIO must be a positive number, got "-1"/);
    setLimits({});

    // A forged header: the central directory says 100 bytes, the data inflates to 5 MB.
    const forged = path.join(tmp, "forged.zip");
    zerosZip(forged, entry("48213"), 5);
    python(
      [
        "import struct, sys",
        "data = bytearray(open(sys.argv[1], 'rb').read())",
        "for sig, at in ((b'PK\\x03\\x04', 22), (b'PK\\x01\\x02', 24)):",
        "    i = data.find(sig)",
        "    extra = (i + 30, struct.unpack('<H', data[i + 28:i + 30])[0]) if sig == b'PK\\x03\\x04' else (i + 46, 0)",
        "    if struct.unpack('<I', data[i + at:i + at + 4])[0] == 0xFFFFFFFF:",
        "        # zip64: the sizes sit in the extra field",
        "        n = struct.unpack('<H', data[i + (26 if at == 22 else 28):i + (28 if at == 22 else 30)])[0]",
        "        e = struct.unpack('<H', data[i + (28 if at == 22 else 30):i + (30 if at == 22 else 32)])[0]",
        "        start = i + (30 if at == 22 else 46) + n",
        "        j = data.find(b'\\x01\\x00', start, start + e)",
        "        data[j + 4:j + 12] = struct.pack('<Q', 100)",
        "    else:",
        "        data[i + at:i + at + 4] = struct.pack('<I', 100)",
        "open(sys.argv[1], 'wb').write(data)",
      ].join("\n"),
      forged,
    );
    refuses(
      () => lms.collectZip(opts, forged, A),
      new RegExp(
        `forged\\.zip: refused, nothing imported: ${entry("48213")} inflates past the 100 bytes its header declares`,
      ),
    );

    // A bomb inside an archive inside the archive (nbgrader extracts those too).
    const inner = path.join(tmp, "inner.zip");
    zerosZip(inner, entry("48214"), 200);
    const outer = path.join(tmp, "outer.zip");
    makeZip(outer, { [entry("48213")]: "{}", "more/inner.zip": fs.readFileSync(inner) });
    refuses(
      () => lms.collectZip(opts, outer, A),
      new RegExp(`outer\\.zip: refused, nothing imported: more/inner\\.zip!/${entry("48214")} inflates to 200\\.0 MB`),
    );

    assert.deepEqual(snapshot(root), before, "nothing written: no downloaded/, submitted/ as it was");
    assert.ok(!fs.existsSync(path.join(root, "downloaded")));
  } finally {
    for (const n of names) {
      if (saved[n] === undefined) delete process.env[n];
      else process.env[n] = saved[n];
    }
    removeCourseDir(tmp);
  }
});
