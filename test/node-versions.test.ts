// The supported Node.js lines are 22, 24 and 26 (package.json "engines"). The
// suite runs on one of them (CI: 24); this smoke run covers the other two with
// their real binaries from the npm registry (scripts/node-version.sh): setup,
// a small `npm run train`, the main notebook small under the tslab kernel, and
// one tfjs-layers fit and predict, and tfjs-node on its own (on Node 23+ its
// ops need the fix setup installs: lib/native/tfjs-compat.js).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { makeTempDir, nodeBin, removeDir, repoRoot, smallRunEnv } from "./helpers";

const LINES = ["22", "24", "26"];
const current = process.versions.node.split(".")[0];

function runWith(bin: string, cmd: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnSync(cmd, args, {
    cwd: repoRoot,
    encoding: "utf8",
    timeout: 10 * 60_000,
    env: { ...process.env, ...env, PATH: `${bin}${path.delimiter}${process.env.PATH ?? ""}` },
  });
}

const RAW_TFJS_OP = 'const tf = require("@tensorflow/tfjs-node"); tf.tensor([1, 2]).add(1).print();';

for (const line of LINES.filter((l) => l !== current)) {
  test(
    `Node ${line}: setup, npm run train, the main notebook and a tfjs-layers fit/predict`,
    { timeout: 20 * 60_000 },
    () => {
      const bin = nodeBin(line);
      const tmp = makeTempDir(`fmnist-node${line}-`);
      try {
        const version = runWith(bin, "node", ["--version"]).stdout.trim();
        assert.match(version, new RegExp(`^v${line}\\.`));

        const setup = runWith(bin, "bash", ["scripts/setup.sh"]);
        assert.equal(setup.status, 0, `setup on Node ${version}:\n${setup.stderr}`);

        const env = smallRunEnv(tmp);
        const train = runWith(
          bin,
          "npm",
          ["run", "train", "--", "--epochs", "1", "--train-limit", "1000", "--test-limit", "500", "--save", ""],
          env,
        );
        assert.equal(train.status, 0, `npm run train on Node ${version}:\n${train.stdout}\n${train.stderr}`);
        assert.match(train.stdout, new RegExp(`node: '${version.slice(1)}'`), "the run reports the Node it ran on");
        assert.match(train.stdout, /Test accuracy: \d+\.\d\d%/);

        const executed = path.join(tmp, "executed.ipynb");
        const nb = runWith(
          bin,
          path.join(repoRoot, ".venv", "bin", "python"),
          ["scripts/run_notebook.py", "notebooks/fashion-mnist-cnn.ipynb", "--output", executed, "--timeout", "600"],
          env,
        );
        assert.equal(
          nb.status,
          0,
          `the main notebook on Node ${version}:\n${nb.stdout.slice(-3000)}\n${nb.stderr.slice(-3000)}`,
        );
        assert.match(nb.stdout, new RegExp(`node: '${version.slice(1)}'`), "the kernel ran on this Node");
        assert.match(nb.stdout, /Test accuracy: \d+\.\d\d%/);
        const outputs = (
          JSON.parse(fs.readFileSync(executed, "utf8")) as {
            cells: { outputs?: { name?: string; text?: string[] | string }[] }[];
          }
        ).cells.flatMap((c) => c.outputs ?? []);
        assert.deepEqual(
          outputs.filter((o) => o.name === "stderr").map((o) => String(o.text)),
          [],
          "nothing on stderr (no deprecation warnings)",
        );

        const layers = runWith(bin, "node", [
          "-e",
          `
        const { tf } = require("fashion-mnist-lib");
        const model = tf.sequential({ layers: [
          tf.layers.conv2d({ inputShape: [28, 28, 1], filters: 4, kernelSize: 3, activation: "relu" }),
          tf.layers.flatten(), tf.layers.dense({ units: 10, activation: "softmax" }) ] });
        model.compile({ optimizer: "adam", loss: "sparseCategoricalCrossentropy", metrics: ["accuracy"] });
        const x = tf.randomUniform([64, 28, 28, 1]), y = tf.randomUniform([64], 0, 10, "int32").cast("float32");
        model.fit(x, y, { epochs: 2, batchSize: 16, verbose: 0 }).then((h) => {
          const p = model.predict(x.slice(0, 3));
          console.log(JSON.stringify({ backend: tf.getBackend(), epochs: h.history.loss.length, shape: p.shape }));
        }).catch((e) => { console.error(e); process.exit(1); });`,
        ]);
        assert.equal(layers.status, 0, `tfjs-layers on Node ${version}:\n${layers.stderr}`);
        assert.equal(layers.stderr, "", "no Node warnings, no TensorFlow start-up lines");
        assert.deepEqual(JSON.parse(layers.stdout), { backend: "tensorflow", epochs: 2, shape: [3, 10] });

        // tfjs-node alone, without the library: setup fixed it where it is installed (test/tfjs-import.test.ts).
        const raw = runWith(bin, "node", ["-e", RAW_TFJS_OP]);
        assert.equal(raw.status, 0, `tfjs-node on its own on Node ${version}:\n${raw.stderr}`);
        assert.equal(raw.stderr, "", "no warning, no TensorFlow start-up line");
      } finally {
        removeDir(tmp);
      }
    },
  );
}

test("a notebook where the library is not installed stops before its kernel starts, naming the fix", () => {
  const folder = makeTempDir("fmnist-nolib-");
  try {
    fs.copyFileSync(path.join(repoRoot, "notebooks", "fashion-mnist-cnn.ipynb"), path.join(folder, "nb.ipynb"));
    const r = spawnSync(
      path.join(repoRoot, ".venv", "bin", "python"),
      [
        path.join(repoRoot, "scripts", "run_notebook.py"),
        path.join(folder, "nb.ipynb"),
        "--output",
        path.join(folder, "out.ipynb"),
      ],
      { encoding: "utf8" },
    );
    assert.equal(r.status, 2, r.stderr);
    assert.match(
      r.stderr,
      /imports fashion-mnist-lib, which is not installed where its kernel looks .*npm install --ignore-scripts fashion-mnist-lib/s,
    );
    assert.ok(!fs.existsSync(path.join(folder, "out.ipynb")), "nothing written");
  } finally {
    removeDir(folder);
  }
});

test("an unsupported Node stops setup, the library and a notebook run at once, naming the fix", () => {
  // Node 20 is the machine's own on some hosts; the check itself needs no real Node 20.
  const lib = spawnSync(
    process.execPath,
    ["-e", `Object.defineProperty(process.versions, "node", { value: "20.20.2" }); require("fashion-mnist-lib")`],
    { cwd: repoRoot, encoding: "utf8" },
  );
  assert.notEqual(lib.status, 0);
  assert.match(lib.stderr, /fashion-mnist-lib needs Node\.js 22 or newer \(22, 24 and 26 are supported\)/);
  const fakeBin = makeTempDir("fmnist-old-node-");
  try {
    // A `node` that is this Node pretending to be 20.20.2.
    fs.writeFileSync(
      path.join(fakeBin, "pretend.js"),
      'Object.defineProperty(process.versions, "node", { value: "20.20.2" });\n' +
        'Object.defineProperty(process, "version", { value: "v20.20.2" });\n',
    );
    fs.writeFileSync(
      path.join(fakeBin, "node"),
      `#!/bin/sh\n[ "$1" = --version ] && { echo v20.20.2; exit 0; }\n` +
        `exec ${JSON.stringify(process.execPath)} --require ${JSON.stringify(path.join(fakeBin, "pretend.js"))} "$@"\n`,
      { mode: 0o755 },
    );
    const setup = spawnSync("bash", [path.join(repoRoot, "scripts", "setup.sh")], {
      encoding: "utf8",
      env: { ...process.env, PATH: `${fakeBin}${path.delimiter}${process.env.PATH ?? ""}` },
    });
    assert.equal(setup.status, 1);
    assert.match(setup.stderr, /Node\.js v20\.20\.2 is not supported .* Install Node\.js 22, 24 or 26/s);
    assert.match(setup.stderr, /scripts\/node-version\.sh 24/);
    // A headless notebook run checks the kernel's Node before starting it.
    const nb = spawnSync(
      path.join(repoRoot, ".venv", "bin", "python"),
      [
        path.join(repoRoot, "scripts", "run_notebook.py"),
        path.join(repoRoot, "notebooks", "fashion-mnist-cnn.ipynb"),
        "--output",
        path.join(fakeBin, "out.ipynb"),
      ],
      {
        encoding: "utf8",
        env: { ...process.env, PATH: `${fakeBin}${path.delimiter}${process.env.PATH ?? ""}` },
      },
    );
    assert.equal(nb.status, 2);
    assert.match(nb.stderr, /the tslab kernel would run on node v20\.20\.2, which is not supported/);
  } finally {
    removeDir(fakeBin);
  }
});
