// The terminal entry point, `npm run train`, run as a user would.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { copyCourse, makeTempDir, removeDir, repoRoot, sharedDataDir } from "./helpers";

const cli = path.join(repoRoot, "build", "scripts", "train.js");
const run = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  spawnSync(process.execPath, [cli, ...args], { encoding: "utf8", env: { ...process.env, ...env } });

test("train CLI: a small run prints per-epoch metrics, test accuracy, and saves the model", () => {
  const tmp = makeTempDir("fmnist-cli-");
  try {
    const res = run(
      [
        "--train-limit",
        "1500",
        "--test-limit",
        "500",
        "--epochs",
        "2",
        "--seed",
        "4",
        "--mirror",
        sharedDataDir,
        "--save",
        "cli-model",
      ],
      {
        FMNIST_DATA_DIR: tmp,
      },
    );
    assert.equal(res.status, 0, res.stderr);
    assert.match(res.stdout, /training 1200, validation 300, test 500 samples/);
    assert.match(res.stdout, /Total params: 394,530/);
    assert.match(
      res.stdout,
      /Epoch 1\/2 - [\d.]+s - accuracy: 0\.\d{4} - loss: \d\.\d{4} - val_accuracy: 0\.\d{4} - val_loss: \d\.\d{4}/,
    );
    assert.match(res.stdout, /Epoch 2\/2/);
    assert.match(res.stdout, /Test accuracy: \d+\.\d\d%/);
    assert.ok(
      fs.existsSync(path.join(tmp, "models", "cli-model", "model.json")),
      "model saved under FMNIST_DATA_DIR/models",
    );
  } finally {
    removeDir(tmp);
  }
});

test("every command line: --help exits 0 before TensorFlow loads; unknown flags and bad values exit 2 naming them", () => {
  const node = (script: string, args: string[]) =>
    spawnSync(process.execPath, [path.join(repoRoot, "build", script), ...args], {
      encoding: "utf8",
      env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: "0" },
    });
  for (const script of [
    "scripts/train.js",
    "scripts/course.js",
    "bench/run.js",
    "bench/lockstep.js",
    "bench/project_worker.js",
  ]) {
    const started = Date.now();
    const help = node(script, ["--help"]);
    assert.equal(help.status, 0, `${script} --help: ${help.stderr}`);
    assert.match(help.stdout, /usage/i, `${script} --help prints its usage`);
    // With TensorFlow's logging on, loading it would print to stderr; nothing may.
    assert.equal(help.stderr, "", `${script} --help printed to stderr (TensorFlow loaded?)`);
    assert.ok(Date.now() - started < 5_000, `${script} --help took ${Date.now() - started} ms`);
    const unknown = node(script, ["--no-such-flag"]);
    assert.equal(unknown.status, 2, `${script} --no-such-flag: ${unknown.stdout}${unknown.stderr}`);
    assert.match(unknown.stdout + unknown.stderr, /--no-such-flag/);
  }
  const cases: [string, string[], RegExp][] = [
    ["scripts/train.js", ["--epochs", "zero"], /--epochs needs a whole number from 1 to 10000, got "zero"/],
    ["scripts/train.js", ["--epochs", "0x2"], /--epochs needs a whole number/],
    ["scripts/train.js", ["--batch-size", "1e3"], /--batch-size needs a whole number/],
    ["scripts/train.js", ["--epochs"], /--epochs <value>' argument missing/],
    [
      "scripts/train.js",
      ["--train-limit", "100", "--validation", "200"],
      /--validation \(200\) must be smaller than --train-limit \(100\)/,
    ],
    ["scripts/course.js", [], /no command given/],
    ["scripts/course.js", ["grade"], /unknown command "grade"/],
    ["scripts/course.js", ["autograde", "--timeout=-5"], /--timeout needs a whole number from 1/],
    ["scripts/course.js", ["grades", "--memory-limit", "lots"], /--memory-limit needs a whole number from 0/],
    ["scripts/course.js", ["grades", "--format", "xls"], /--format needs one of csv, canvas, moodle, got "xls"/],
    ["scripts/course.js", ["collect", "idx-parsing"], /collect needs --zip FILE/],
    ["scripts/course.js", ["autograde", "--jobs", "0"], /--jobs needs a whole number from 1/],
    ["bench/run.js", ["--samples", "50000"], /--samples needs a whole number from 1 to 48000/],
    ["bench/run.js", ["--keras", "maybe"], /--keras takes yes, no or if-installed/],
    ["bench/lockstep.js", ["--steps", "2000"], /--steps needs a whole number from 1 to 1500/],
  ];
  for (const [script, args, message] of cases) {
    const r = node(script, args);
    assert.equal(r.status, 2, `${script} ${args.join(" ")}: exit ${r.status}\n${r.stdout}${r.stderr}`);
    assert.match(r.stderr, message, `${script} ${args.join(" ")}`);
  }
});

test(
  "npm run lab -- --notebook-dir=DIR serves DIR, taken from the folder the command was typed in",
  { timeout: 180_000 },
  async () => {
    // Typed in a folder inside the project (npm finds the project's package.json above it).
    const typedIn = fs.mkdtempSync(path.join(repoRoot, ".cache", "lab-dir-"));
    fs.mkdirSync(path.join(typedIn, "mine"));
    fs.writeFileSync(path.join(typedIn, "mine", "hello.txt"), "hi");
    const port = 20000 + Math.floor(Math.random() * 20000);
    const token = "t" + Date.now();
    const lab = spawn(
      "npm",
      [
        "run",
        "lab",
        "--",
        "--notebook-dir=mine",
        "--no-browser",
        `--port=${port}`,
        "--ServerApp.port_retries=0",
        `--IdentityProvider.token=${token}`,
      ],
      { cwd: typedIn, stdio: ["ignore", "pipe", "pipe"], detached: true },
    );
    let log = "";
    lab.stdout!.on("data", (b: Buffer) => {
      log += b;
    });
    lab.stderr!.on("data", (b: Buffer) => {
      log += b;
    });
    try {
      let listing: { content?: { name: string }[] } | undefined;
      for (let i = 0; i < 120 && !listing; i++) {
        await new Promise((r) => setTimeout(r, 500));
        assert.equal(lab.exitCode, null, `npm run lab exited:\n${log}`);
        listing = (await fetch(`http://127.0.0.1:${port}/api/contents/`, {
          headers: { Authorization: `token ${token}` },
        }).then(
          (r) => (r.ok ? r.json() : undefined),
          () => undefined,
        )) as typeof listing;
      }
      assert.ok(listing, `the server never answered:\n${log}`);
      assert.deepEqual(
        listing.content?.map((c) => c.name),
        ["hello.txt"],
        "the root is the folder given, relative to where the command was typed",
      );
      assert.doesNotMatch(log, /root_dir only accepts one value/);
    } finally {
      try {
        process.kill(-lab.pid!, "SIGTERM");
      } catch {
        /* gone */
      }
      await new Promise((r) => setTimeout(r, 1000));
      try {
        process.kill(-lab.pid!, "SIGKILL");
      } catch {
        /* gone */
      }
      removeDir(typedIn);
    }
  },
);

test("train CLI: what the end of a run needs is checked before loading and training, naming the flag and the fix", () => {
  const tmp = makeTempDir("fmnist-precheck-");
  try {
    const small = ["--train-limit", "1000", "--test-limit", "200", "--epochs", "1", "--mirror", sharedDataDir];
    const cases: [string[], NodeJS.ProcessEnv, RegExp][] = [
      [["--save", "../evil"], { FMNIST_DATA_DIR: tmp }, /--save \.\.\/evil: Model name "\.\.\/evil" is not allowed/],
      [
        ["--save", "ok"],
        { FMNIST_DATA_DIR: path.join(tmp, "a-file") },
        /--save ok: the models folder .*a-file\/models cannot be created: .* is a file\. Move that file away, or set FMNIST_DATA_DIR/,
      ],
      [
        ["--save", "taken"],
        { FMNIST_DATA_DIR: path.join(tmp, "d") },
        /--save taken: .*\/models\/taken is a file, where the saved model "taken" goes/,
      ],
      [
        ["--batch-size", "900"],
        { FMNIST_DATA_DIR: tmp },
        /--batch-size \(900\) is larger than the 800 samples left to train on \(--train-limit \(1000\) minus FMNIST_VALIDATION \(200\)\)/,
      ],
      [
        ["--validation", "1000"],
        { FMNIST_DATA_DIR: tmp },
        /--validation \(1000\) must be smaller than --train-limit \(1000\)/,
      ],
    ];
    fs.writeFileSync(path.join(tmp, "a-file"), "not a folder");
    fs.mkdirSync(path.join(tmp, "d", "models"), { recursive: true });
    fs.writeFileSync(path.join(tmp, "d", "models", "taken"), "not a model");
    for (const [args, env, message] of cases) {
      const r = run([...small, ...args], env);
      assert.equal(r.status, 2, `${args.join(" ")}: exit ${r.status}\n${r.stdout}${r.stderr}`);
      assert.match(r.stderr, message, args.join(" "));
      assert.doesNotMatch(r.stdout, /training \d+, validation/, "no data was loaded");
    }
    assert.ok(!fs.existsSync(path.join(tmp, "fashion-mnist")), "nothing was downloaded");
    // Too little address space for TensorFlow: said up front, with the setting to change.
    const limited = spawnSync(
      "sh",
      ["-c", `ulimit -v 2000000; exec "$0" "$@"`, process.execPath, cli, ...small, "--save", ""],
      { encoding: "utf8", env: { ...process.env, FMNIST_DATA_DIR: tmp } },
    );
    assert.equal(limited.status, 1, limited.stderr);
    assert.match(
      limited.stderr,
      /ulimit -v allows 1953 MB of address space; Node and TensorFlow need about 3400 MB .*ulimit -v unlimited/,
    );
  } finally {
    removeDir(tmp);
  }
});

test("train CLI: every name, folder and flag the run needs is checked before it loads data or trains (table)", (t) => {
  const tmp = makeTempDir("fmnist-precheck2-");
  try {
    const small = ["--train-limit", "1000", "--test-limit", "200", "--epochs", "1", "--mirror", sharedDataDir];
    const long = "n".repeat(240);
    fs.mkdirSync(path.join(tmp, "file-ckpt"));
    fs.writeFileSync(path.join(tmp, "file-ckpt", "checkpoints"), "not a folder");
    const cases: [string, string[], NodeJS.ProcessEnv, RegExp][] = [
      [
        "a name too long for the working folders",
        ["--save", long],
        { FMNIST_DATA_DIR: tmp },
        /--save n{40}\.\.\.: The name "n{40}\.\.\." is too long \(240 characters\): saving makes working folders beside it \(\.NAME\.previous-PID-XXXXXXXX\) of up to 267 characters, where the system allows 255\. Use a name of at most 228 characters\./,
      ],
      [
        'a file where the checkpoints folder goes (--save "")',
        ["--save", ""],
        { FMNIST_DATA_DIR: path.join(tmp, "file-ckpt") },
        /the checkpoint "train": the checkpoints folder .*file-ckpt\/checkpoints cannot be created: .* is a file\. Move that file away/,
      ],
      [
        "a file where the checkpoints folder goes (a good --save)",
        ["--save", "ok"],
        { FMNIST_DATA_DIR: path.join(tmp, "file-ckpt") },
        /the checkpoint "ok": the checkpoints folder .*file-ckpt\/checkpoints cannot be created/,
      ],
      [
        "a repeated flag",
        ["--epochs", "3"],
        { FMNIST_DATA_DIR: tmp },
        /--epochs is given twice \("1", then "3"\): give it once/,
      ],
      [
        "a repeated boolean flag",
        ["--resume", "--resume"],
        { FMNIST_DATA_DIR: tmp },
        /--resume is given twice: give it once/,
      ],
      [
        "--resume with --restart",
        ["--resume", "--restart"],
        { FMNIST_DATA_DIR: tmp },
        /--resume and --restart contradict each other: choose one/,
      ],
    ];
    const check = (what: string, r: ReturnType<typeof spawnSync>, message: RegExp) => {
      assert.equal(r.status, 2, `${what}: exit ${r.status}\n${r.stdout}${r.stderr}`);
      assert.match(String(r.stderr), message, what);
      assert.doesNotMatch(String(r.stdout), /training \d+, validation/, `${what}: no data was loaded`);
    };
    for (const [what, args, env, message] of cases) check(what, run([...small, ...args], env), message);
    assert.ok(!fs.existsSync(path.join(tmp, "fashion-mnist")), "nothing was downloaded");

    // Read-only places: a bind mount made read-only in a private mount namespace (root; chmod does not stop root).
    const ro = path.join(tmp, "ro");
    fs.mkdirSync(path.join(ro, "data", "models"), { recursive: true });
    fs.mkdirSync(path.join(ro, "data", "checkpoints"), { recursive: true });
    const readOnly = (mount: string, args: string[], env: NodeJS.ProcessEnv) =>
      spawnSync(
        "unshare",
        [
          "-m",
          "sh",
          "-c",
          'mount --bind "$0" "$0" && mount -o remount,ro,bind "$0" "$0" && exec "$@"',
          mount,
          process.execPath,
          cli,
          ...small,
          ...args,
        ],
        { encoding: "utf8", env: { ...process.env, ...env } },
      );
    const probe = spawnSync("unshare", [
      "-m",
      "sh",
      "-c",
      'mount --bind "$0" "$0" && mount -o remount,ro,bind "$0" "$0"',
      ro,
    ]);
    if (probe.status !== 0) {
      t.diagnostic(
        "cannot make a read-only bind mount here (needs root and unshare): the read-only cases were not run",
      );
      return;
    }
    const roCases: [string, string, string[], NodeJS.ProcessEnv, RegExp][] = [
      [
        "FMNIST_DATA_DIR on a read-only mount",
        ro,
        ["--save", "m"],
        { FMNIST_DATA_DIR: path.join(ro, "new") },
        /--save m: the models folder .*\/ro\/new\/models cannot be created: .*\/ro is on a read-only file system\. Set FMNIST_DATA_DIR to a folder you can write to\./,
      ],
      [
        'FMNIST_DATA_DIR on a read-only mount, --save ""',
        ro,
        ["--save", ""],
        { FMNIST_DATA_DIR: path.join(ro, "new") },
        /the checkpoint "train": the checkpoints folder .*\/ro\/new\/checkpoints cannot be created: .*\/ro is on a read-only file system/,
      ],
      [
        "a read-only checkpoints folder, the models folder fine",
        path.join(ro, "data", "checkpoints"),
        ["--save", "m"],
        { FMNIST_DATA_DIR: path.join(ro, "data") },
        /the checkpoint "m": Cannot write to the checkpoints folder .*\/checkpoints: .*\/checkpoints is on a read-only file system\./,
      ],
    ];
    for (const [what, mount, args, env, message] of roCases) check(what, readOnly(mount, args, env), message);
  } finally {
    removeDir(tmp);
  }
});

test("train CLI: --mirror and FASHION_MNIST_MIRROR combine (the flag first)", () => {
  const tmp = makeTempDir("fmnist-mirrors-");
  try {
    const r = run(
      [
        "--train-limit",
        "1000",
        "--test-limit",
        "200",
        "--epochs",
        "1",
        "--save",
        "",
        "--mirror",
        path.join(tmp, "nothing-here"),
      ],
      { FMNIST_DATA_DIR: tmp, FASHION_MNIST_MIRROR: sharedDataDir },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /Test accuracy/);
  } finally {
    removeDir(tmp);
  }
});

test("train CLI: --resume continues a run from its checkpoint's last complete epoch", { timeout: 300_000 }, () => {
  const tmp = makeTempDir("fmnist-resume-");
  try {
    const args = [
      "--train-limit",
      "1500",
      "--test-limit",
      "300",
      "--seed",
      "7",
      "--mirror",
      sharedDataDir,
      "--save",
      "r",
    ];
    const first = run([...args, "--epochs", "1"], { FMNIST_DATA_DIR: tmp });
    assert.equal(first.status, 0, first.stderr);
    assert.ok(fs.existsSync(path.join(tmp, "checkpoints", "r", "checkpoint.json")), "a checkpoint after the epoch");
    const second = run([...args, "--epochs", "2", "--resume"], { FMNIST_DATA_DIR: tmp });
    assert.equal(second.status, 0, second.stderr);
    assert.match(second.stdout, /Resuming from the checkpoint "r": 1 of 2 epochs were done\./);
    assert.doesNotMatch(second.stdout, /Epoch 1\/2/, "the first epoch is not trained again");
    assert.match(second.stdout, /Epoch 2\/2/);
  } finally {
    removeDir(tmp);
  }
});

test("course grades: nothing graded yet gives empty tables; a folder that is not a course is refused and left untouched", () => {
  const tmp = makeTempDir("fmnist-grades-");
  try {
    const course = path.join(repoRoot, "build", "scripts", "course.js");
    const notCourse = path.join(tmp, "not-a-course");
    fs.mkdirSync(notCourse);
    const refused = spawnSync(process.execPath, [course, "grades", "--course", notCourse], { encoding: "utf8" });
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /is not a course folder \(no nbgrader_config\.py\)/);
    assert.deepEqual(fs.readdirSync(notCourse), [], "nothing written there");
    const root = copyCourse(tmp, ["idx-parsing"]);
    const empty = spawnSync(process.execPath, [course, "grades", "--course", root], { encoding: "utf8" });
    assert.equal(empty.status, 0, empty.stderr);
    assert.match(empty.stdout, /shape: \(0, 6\)/, "an empty summary");
    assert.ok(fs.existsSync(path.join(root, "grades.csv")));
  } finally {
    removeDir(tmp);
  }
});

test(
  "course autograde: misplaced and malformed submissions are named, the rest of the class is graded; unknown assignments and students are named; a setup cell that fails is 'could not grade'; no bubblewrap refuses, --no-sandbox warns",
  { timeout: 10 * 60_000 },
  () => {
    const tmp = makeTempDir("fmnist-edges-");
    try {
      const course = path.join(repoRoot, "build", "scripts", "course.js");
      const root = copyCourse(tmp, ["idx-parsing"]);
      const env = { ...process.env, FASHION_MNIST_MIRROR: sharedDataDir, FMNIST_DATA_DIR: path.join(tmp, "data") };
      const unknown = spawnSync(process.execPath, [course, "autograde", "idx-parse", "--course", root], {
        encoding: "utf8",
        env,
      });
      assert.equal(unknown.status, 1);
      assert.match(unknown.stderr, /no assignment "idx-parse"/, "the name, not a missing submitted/ folder");
      // Graded before it is released: nbgrader cannot, and says so as "could not grade", not as a silent 0.
      const early = path.join(tmp, "early");
      fs.mkdirSync(path.join(early, "erin", "idx-parsing"), { recursive: true });
      fs.copyFileSync(
        path.join(root, "source", "idx-parsing", "idx-parsing.ipynb"),
        path.join(early, "erin", "idx-parsing", "idx-parsing.ipynb"),
      );
      const tooEarly = spawnSync(process.execPath, [course, "autograde", "--course", root, "--submissions", early], {
        encoding: "utf8",
        env,
      });
      assert.equal(tooEarly.status, 1, tooEarly.stdout);
      assert.match(tooEarly.stdout, /course: erin\/idx-parsing: could not grade: /);
      assert.match(tooEarly.stderr, /no submission could be graded/);
      fs.rmSync(path.join(root, "submitted"), { recursive: true, force: true });
      const generated = spawnSync(process.execPath, [course, "generate", "--course", root], { encoding: "utf8", env });
      assert.equal(generated.status, 0, generated.stderr);
      const subs = path.join(tmp, "subs");
      const put = (student: string, folder: string, file: string, text: string) => {
        fs.mkdirSync(path.join(subs, student, folder), { recursive: true });
        fs.writeFileSync(path.join(subs, student, folder, file), text);
      };
      const good = fs.readFileSync(path.join(root, "source", "idx-parsing", "idx-parsing.ipynb"), "utf8");
      put("alice", "idx-parsing", "idx-parsing.ipynb", good);
      put("bob", "idx-parsing", "idx-parsing.ipynb", "{ this is not json");
      put("carol", "idx-parse", "idx-parsing.ipynb", good);
      put("dave", "idx-parsing", "my-work.ipynb", good);
      const r = spawnSync(
        process.execPath,
        [course, "autograde", "--course", root, "--submissions", subs, "--timeout", "60"],
        { encoding: "utf8", env },
      );
      assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
      assert.match(r.stdout, /course: bob\/idx-parsing: idx-parsing\.ipynb is not a notebook \(invalid JSON\)/);
      assert.match(r.stdout, /course: carol\/idx-parse: no such assignment, did you mean idx-parsing\?/);
      assert.match(
        r.stdout,
        /course: dave\/idx-parsing: no idx-parsing\.ipynb \(found my-work\.ipynb: the notebook must keep its name\)/,
      );
      assert.match(r.stdout, /course: 1 graded, 0 could not be graded, 3 skipped/);
      assert.ok(
        fs.existsSync(path.join(root, "autograded", "alice", "idx-parsing", "idx-parsing.ipynb")),
        "alice was graded",
      );
      // No bubblewrap on this PATH: grading refuses, naming the cause and --no-sandbox;
      // with --no-sandbox it warns and grades (one at a time, checked after each).
      const noBwrap = {
        ...env,
        PATH: [path.dirname(process.execPath), path.join(repoRoot, ".venv", "bin")].join(path.delimiter),
      };
      const refused = spawnSync(process.execPath, [course, "autograde", "--course", root, "--student", "alice"], {
        encoding: "utf8",
        env: noBwrap,
      });
      assert.equal(refused.status, 1, refused.stdout);
      assert.match(refused.stderr, /cannot sandbox students' code: bubblewrap \(bwrap\) is not installed/);
      assert.match(refused.stderr, /--no-sandbox/);
      const unsafe = spawnSync(
        process.execPath,
        [course, "autograde", "--course", root, "--student", "alice", "--no-sandbox"],
        { encoding: "utf8", env: noBwrap },
      );
      assert.equal(unsafe.status, 0, `${unsafe.stdout}\n${unsafe.stderr}`);
      assert.match(unsafe.stderr, /warning: --no-sandbox: students' code runs with your rights/);
      assert.match(unsafe.stdout, /\[1\/1\] alice\/idx-parsing: 8 of 8 points/);
      // An unknown student is named, with the closest one.
      const typo = spawnSync(process.execPath, [course, "autograde", "--course", root, "--student", "alcie"], {
        encoding: "utf8",
        env,
      });
      assert.equal(typo.status, 1);
      assert.match(typo.stderr, /--student alcie: no submissions from "alcie" in .*; did you mean alice\?/);
      // A course whose notebooks cannot load the library (no node_modules above it): every submission
      // "could not grade" with the reason, said once more as the run's failure, and no score recorded.
      const elsewhere = makeTempDir("fmnist-nolib-");
      try {
        const bare = copyCourse(elsewhere, ["idx-parsing"]);
        fs.unlinkSync(path.join(elsewhere, "node_modules"));
        assert.equal(spawnSync(process.execPath, [course, "generate", "--course", bare], { env }).status, 0);
        const nolib = spawnSync(process.execPath, [course, "autograde", "--course", bare, "--submissions", subs], {
          encoding: "utf8",
          env,
        });
        assert.equal(nolib.status, 1, nolib.stdout);
        // (found by the grading kernel's preflight, before any cell: the message says how to make it available)
        assert.match(
          nolib.stdout,
          /\[1\/1\] alice\/idx-parsing: could not grade: the grading kernel cannot find module fashion-mnist-lib .*link the project's node_modules next to the course folder/,
        );
        assert.match(nolib.stdout, /course: grading 1 submission, in a sandbox\n/, "not '1 submission, 2 at a time'");
        // The message names the exact command for this course; run as printed, it makes the course gradable.
        const fix = /: (ln -s \S+ \S+), then autograde again/.exec(nolib.stdout)?.[1];
        assert.equal(
          fix,
          `ln -s ${path.join(repoRoot, "node_modules")} ${path.join(elsewhere, "node_modules")}`,
          nolib.stdout,
        );
        assert.match(
          nolib.stderr,
          /no submission could be graded: the grading kernel cannot find module fashion-mnist-lib/,
        );
        assert.ok(!fs.existsSync(path.join(bare, "autograded", "alice", "idx-parsing")), "no graded copy, no score");
        assert.equal(spawnSync("sh", ["-c", fix!]).status, 0);
        const fixed = spawnSync(process.execPath, [course, "autograde", "--course", bare], { encoding: "utf8", env });
        assert.equal(fixed.status, 0, fixed.stdout + fixed.stderr);
        assert.match(fixed.stdout, /\[1\/1\] alice\/idx-parsing: \d+ of 8 points/);
      } finally {
        removeDir(elsewhere);
      }
    } finally {
      removeDir(tmp);
    }
  },
);
