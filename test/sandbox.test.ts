// Hostile submissions against the grading sandbox (exercises/kernel_sandbox.py),
// graded the way an instructor does it: `npm run course -- autograde` on a
// course in a folder with a space in its name, two at a time. Every hostile
// notebook holds a correct reader, so the sandbox alone decides whether its
// attack works; each must fail at its goal while the class is graded right:
// reading hidden tests (source/, release/, the gradebook), reading another
// student's notebook, writing outside its own folder, leaving links to the
// instructor's files for nbgrader to copy into feedback, connecting to a server
// on the grader's 127.0.0.1, leaving a setsid daemon behind, eating memory,
// spinning forever (stopped by the CPU-time limit), editing the test cells.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as path from "path";
import {
  cellById,
  copyCourse,
  makeTempDir,
  type Notebook,
  readNb,
  removeDir,
  repoRoot,
  sharedDataDir,
  text,
  withSolution,
  writeNb,
} from "./helpers";
import * as course from "../scripts/course";

const A = "idx-parsing";
const FULL = 8;

/** The reader's solution with `code` run first (top-level await allowed). */
const withPrelude = (source: Notebook, code: string[]) => withSolution(source, (s) => `${code.join("\n")}\n${s}`);

/** Code that tries to read each path and prints LEAK or blocked for it. */
const tryRead = (paths: string[]) =>
  paths.map(
    (p) =>
      `try { fs.readFileSync(${JSON.stringify(p)}); console.log("LEAK read ${p}"); } ` +
      `catch (e) { console.log("blocked read ${p}: " + (e as NodeJS.ErrnoException).code); }`,
  );

const tryWrite = (paths: string[]) =>
  paths.map(
    (p) =>
      `try { fs.writeFileSync(${JSON.stringify(p)}, "x"); console.log("LEAK write ${p}"); } ` +
      `catch (e) { console.log("blocked write ${p}: " + (e as NodeJS.ErrnoException).code); }`,
  );

/** Command lines of every process on this machine (to find a daemon that outlived grading). */
function commandLines(): string[] {
  const lines: string[] = [];
  for (const pid of fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      lines.push(fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" "));
    } catch {
      // the process ended while we looked
    }
  }
  return lines;
}

function outputsOf(nb: Notebook): string {
  return nb.cells
    .flatMap((c) => (c.outputs ?? []).map((o) => text(o.text ?? "") + (o.evalue ? ` ${o.ename}: ${o.evalue}` : "")))
    .join("\n");
}

test("sandboxed grading: hostile submissions fail at their goal, the class is graded right", async () => {
  const tmp = makeTempDir("fmnist-sandbox-");
  const place = path.join(tmp, "class of 2026");
  const server = net.createServer((socket) => {
    connections += 1;
    socket.destroy();
  });
  let connections = 0;
  try {
    fs.mkdirSync(place);
    const root = copyCourse(place, [A]);
    course.generate({ course: root, assignments: [A], quiet: true });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as net.AddressInfo).port;

    const source = readNb(path.join(root, "source", A, `${A}.ipynb`));
    const release = readNb(path.join(root, "release", A, `${A}.ipynb`));
    const inbox = path.join(tmp, "inbox");
    const solution = path.join(root, "source", A, `${A}.ipynb`);
    const submit = (student: string, nb: Notebook) => writeNb(path.join(inbox, student, A, `${A}.ipynb`), nb);
    const secrets = [
      path.join(root, "source", A, `${A}.ipynb`),
      path.join(root, "release", A, `${A}.ipynb`),
      path.join(root, "gradebook.db"),
      path.join(root, "nbgrader_config.py"),
      path.join(repoRoot, "exercises", "source", A, `${A}.ipynb`),
    ];
    const others = [
      path.join(root, "submitted", "good", A, `${A}.ipynb`),
      path.join(root, "autograded", "good", A, `${A}.ipynb`),
    ];
    const outside = [
      path.join(root, "source", A, "planted.txt"),
      path.join(root, "submitted", "good", A, "planted.txt"),
      path.join(place, "planted.txt"),
      `/tmp/planted-${process.pid}.txt`,
      path.join(repoRoot, "node_modules", "planted.txt"),
    ];
    // An honest notebook, handed in with a link to the instructor's notebook beside it.
    submit("good", source);
    fs.symlinkSync(solution, path.join(inbox, "good", A, "notes.txt"));
    submit("reader", withPrelude(source, tryRead([...secrets, ...others])));
    // Besides writes outside its folder, links and a FIFO inside it: nbgrader copies a graded folder's files
    // into the feedback with a copy that follows links (the instructor's notebook would come back) and
    // blocks on a FIFO.
    submit(
      "writer",
      withPrelude(source, [
        ...tryWrite(outside),
        'fs.writeFileSync("own.txt", "mine");',
        `fs.symlinkSync(${JSON.stringify(solution)}, "answers.txt");`,
        'fs.symlinkSync("/etc/passwd", "accounts.txt");',
        'import { execFileSync } from "child_process";',
        'execFileSync("mkfifo", ["pipe"]);',
      ]),
    );
    submit(
      "caller",
      withPrelude(source, [
        'import * as net from "net";',
        "await new Promise((done) => {",
        `  const s = net.connect(${port}, "127.0.0.1");`,
        '  s.on("connect", () => { console.log("LEAK connected"); s.destroy(); done(0); });',
        '  s.on("error", (e) => { console.log("blocked connect: " + (e as NodeJS.ErrnoException).code); done(0); });',
        "});",
      ]),
    );
    submit(
      "daemon",
      withPrelude(source, [
        'import { spawn, spawnSync } from "child_process";',
        'spawn("setsid", ["sleep", "4242"], { detached: true, stdio: "ignore" }).unref();',
        'spawn("setsid", ["sh", "-c", "while true; do date >> beacon.txt; sleep 1; done"], { detached: true, stdio: "ignore" }).unref();',
        'console.log("daemon started");',
      ]),
    );
    submit(
      "hog",
      withPrelude(source, [
        "const kept: Buffer[] = [];",
        "for (let i = 0; i < 64; i++) kept.push(Buffer.alloc(64 * 1024 * 1024, 1));",
        'console.log("LEAK allocated 4 GB");',
      ]),
    );
    submit("spinner", withPrelude(source, ["while (true) {}"]));
    // The untouched stub with every test cell emptied: nbgrader grades it against the original tests.
    const tampered = structuredClone(release);
    for (const c of tampered.cells) if (c.metadata.nbgrader?.grade) c.source = "// all good\n";
    submit("tamperer", tampered);

    // As docs/instructors.md describes it: npm run course -- autograde --course DIR --submissions DIR --jobs 2.
    const started = Date.now();
    const run = await new Promise<{ code: number | null; output: string }>((resolve) => {
      const child = spawn(
        "npm",
        ["run", "--silent", "course", "--", "autograde", "--course", root, "--submissions", inbox, "--jobs", "2"],
        {
          cwd: repoRoot,
          env: {
            ...process.env,
            FASHION_MNIST_MIRROR: sharedDataDir,
            FMNIST_DATA_DIR: path.join(tmp, "data"), // empty: autograde fills it before any kernel starts
            COURSE_MEMORY_LIMIT_MB: "1200",
            COURSE_CPU_LIMIT_S: "30",
            COURSE_CELL_TIMEOUT: "120",
          },
        },
      );
      let output = "";
      child.stdout.on("data", (d: Buffer) => (output += d.toString()));
      child.stderr.on("data", (d: Buffer) => (output += d.toString()));
      child.on("close", (code) => resolve({ code, output }));
    });
    const seconds = (Date.now() - started) / 1000;
    console.log(run.output);
    console.log(`graded 8 hostile and honest submissions in ${seconds.toFixed(0)} s`);
    assert.equal(run.code, 0, run.output);
    assert.match(run.output, /grading 8 submissions, 2 at a time, each in a sandbox/);
    for (let i = 1; i <= 8; i++) assert.match(run.output, new RegExp(`\\[${i}/8\\] \\w+/${A}: `), `line ${i} of 8`);
    assert.match(run.output, /8 graded, 0 could not be graded, 0 skipped/);

    const graded = (student: string) => readNb(path.join(root, "autograded", student, A, `${A}.ipynb`));
    const { table } = course.grades({ course: root, assignments: [], quiet: true });
    const scores = Object.fromEntries(
      (table.toRecords() as { student_id: string; score: number }[]).map((r) => [r.student_id, r.score]),
    );
    console.log(scores);

    // Hidden tests and other students' work: unreadable.
    const reader = outputsOf(graded("reader"));
    assert.doesNotMatch(reader, /LEAK/, reader);
    for (const p of [...secrets, ...others]) assert.ok(reader.includes(`blocked read ${p}: ENOENT`), `${p}\n${reader}`);
    // Writes outside its own folder fail; its own folder works.
    const writer = outputsOf(graded("writer"));
    assert.doesNotMatch(writer, /LEAK/, writer);
    for (const p of outside) {
      assert.ok(writer.includes(`blocked write ${p}:`), `${p}\n${writer}`);
      assert.ok(!fs.existsSync(p), `${p} was written`);
    }
    assert.equal(fs.readFileSync(path.join(root, "autograded", "writer", A, "own.txt"), "utf8"), "mine");
    for (const f of ["answers.txt", "accounts.txt", "pipe"]) {
      assert.match(run.output, new RegExp(`writer/${A}: removed ${f}, made while it was graded`));
      assert.ok(!fs.existsSync(path.join(root, "autograded", "writer", A, f)), f);
    }
    assert.match(run.output, new RegExp(`good/${A}: removed notes.txt from the submission`));
    assert.ok(!fs.existsSync(path.join(root, "autograded", "good", A, "notes.txt")));
    // Its feedback holds its own file and nothing the links pointed to.
    const feedback = spawnSync(
      "npm",
      ["run", "--silent", "course", "--", "feedback", A, "--course", root, "--student", "writer"],
      { cwd: repoRoot, encoding: "utf8" },
    );
    assert.equal(feedback.status, 0, feedback.stderr);
    assert.deepEqual(fs.readdirSync(path.join(root, "feedback", "writer", A)).sort(), [`${A}.html`, "own.txt"]);
    // No network: the grader's own 127.0.0.1 server saw nobody.
    const caller = outputsOf(graded("caller"));
    assert.match(caller, /blocked connect: ECONNREFUSED/, caller);
    assert.equal(connections, 0, "the server on 127.0.0.1 was reached");
    // Nothing it started outlives it.
    assert.match(outputsOf(graded("daemon")), /daemon started/);
    const beacon = path.join(root, "autograded", "daemon", A, "beacon.txt");
    const size = fs.existsSync(beacon) ? fs.statSync(beacon).size : 0;
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal(fs.existsSync(beacon) ? fs.statSync(beacon).size : 0, size, "the daemon kept writing after grading");
    assert.deepEqual(
      commandLines().filter((l) => l.includes("sleep 4242") || l.includes("beacon.txt")),
      [],
      "a daemon is alive",
    );
    // Memory and CPU limits stop the kernel; the cell says why.
    const hog = graded("hog");
    assert.equal(
      cellById(hog, `${A}-solution-2`).outputs?.find((o) => o.output_type === "error")?.ename,
      "MemoryLimitExceeded",
    );
    assert.doesNotMatch(outputsOf(hog), /LEAK/);
    const spinner = outputsOf(graded("spinner"));
    assert.match(spinner, /DeadKernelError/, spinner);
    // Test cells come back as the instructor wrote them.
    assert.match(text(cellById(graded("tamperer"), `${A}-test-small`).source), /readIdx\(makeIdx/);

    assert.deepEqual(scores, {
      caller: FULL,
      daemon: FULL,
      good: FULL,
      hog: 0,
      reader: FULL,
      spinner: 0,
      tamperer: 0,
      writer: FULL,
    });
  } finally {
    server.close();
    if (!process.env.KEEP_COURSE_TMP) removeDir(tmp);
    else console.log(`kept ${tmp}`);
  }
});
