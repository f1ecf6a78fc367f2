// TensorFlow however it is imported (issue 23, items 6 and 7): setup fixes
// tfjs-node where it is installed (lib/native/tfjs-compat.js as its
// dist/fm_compat.js), so `import * as tf from "@tensorflow/tfjs-node"` as a
// notebook's first line under the project's tslab kernel, and
// `require("@tensorflow/tfjs-node")` in a script in the checkout, run ops and
// fit a small layers model on Node 22, 24 and 26, without the library, and
// nothing of TensorFlow's start-up log reaches the terminal or the notebook
// unless asked for (FMNIST_TF_LOGS=1, or the user's TF_CPP_MIN_LOG_LEVEL).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { nodeBin, repoRoot, sharedDataDir } from "./helpers";

const LINES = ["22", "24", "26"];
const TFJS = path.join(repoRoot, "node_modules", "@tensorflow", "tfjs-node");
const TF_LOG_LINE = /absl::InitializeLog|^[IWEF]\d{4} \d+:\d+|oneDNN|cpu_feature_guard/m;

/** The environment of a user who set nothing of TensorFlow's. */
function userEnv(bin: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${bin}${path.delimiter}${process.env.PATH ?? ""}` };
  delete env.TF_CPP_MIN_LOG_LEVEL;
  delete env.FMNIST_TF_LOGS;
  return { ...env, ...extra };
}

// Ops, topk (the other patched file) and a layers fit: what a tutorial's first cells do.
const TUTORIAL = `
const a = tf.tensor([1, 2, 3]).add(1);
const top = tf.topk(a, 2).values.dataSync();
const model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 3, activation: "softmax" })] });
model.compile({ optimizer: "adam", loss: "sparseCategoricalCrossentropy", metrics: ["accuracy"] });
const h = await model.fit(tf.randomUniform([32, 4]), tf.tensor1d([0, 1, 2, 0, 1, 2, 0, 1].concat(new Array(24).fill(1))), {
  epochs: 2, batchSize: 8, verbose: 0,
});
console.log(JSON.stringify({ node: process.versions.node, backend: tf.getBackend(), top: Array.from(top),
  epochs: h.history.loss.length }));`;

function checkResult(stdout: string, line: string, where: string): void {
  const json = stdout.split("\n").find((l) => l.startsWith("{"));
  assert.ok(json, `${where} printed its result:\n${stdout}`);
  const out = JSON.parse(json) as { node: string; backend: string; top: number[]; epochs: number };
  assert.equal(out.node.split(".")[0], line, `${where} ran on Node ${line}`);
  assert.deepEqual({ ...out, node: line }, { node: line, backend: "tensorflow", top: [4, 3], epochs: 2 });
}

for (const line of LINES) {
  test(`Node ${line}: require("@tensorflow/tfjs-node") in a script runs ops and a fit, and prints no TensorFlow log`, () => {
    const bin = nodeBin(line);
    const script = `const tf = require("@tensorflow/tfjs-node");\n(async () => {${TUTORIAL}\n})().catch((e) => { console.error(e); process.exit(1); });`;
    const r = spawnSync("node", ["-e", script], {
      cwd: repoRoot,
      encoding: "utf8",
      env: userEnv(bin),
      timeout: 120_000,
    });
    assert.equal(r.status, 0, `the script failed on Node ${line}:\n${r.stderr}`);
    checkResult(r.stdout, line, "the script");
    assert.equal(r.stderr, "", "nothing on stderr: no TensorFlow start-up lines, no DeprecationWarning");
  });

  test(`Node ${line}: a notebook whose first line imports @tensorflow/tfjs-node runs under the tslab kernel, quietly`, () => {
    const bin = nodeBin(line);
    // In the checkout (where a learner's notebook sits), so the kernel finds node_modules as theirs would.
    fs.mkdirSync(path.join(repoRoot, "test-artifacts"), { recursive: true });
    const dir = fs.mkdtempSync(path.join(repoRoot, "test-artifacts", "tfjs-import-"));
    try {
      const cell = (source: string) => ({
        cell_type: "code",
        metadata: {},
        execution_count: null,
        outputs: [],
        source,
      });
      const nb = {
        cells: [cell('import * as tf from "@tensorflow/tfjs-node";'), cell(TUTORIAL)],
        metadata: { kernelspec: { name: "tslab", display_name: "TypeScript", language: "typescript" } },
        nbformat: 4,
        nbformat_minor: 5,
      };
      const file = path.join(dir, "tutorial.ipynb");
      fs.writeFileSync(file, JSON.stringify(nb));
      const r = spawnSync(
        path.join(repoRoot, ".venv", "bin", "jupyter"),
        ["execute", "--kernel_name=tslab", "--inplace", "--timeout=120", file],
        { cwd: dir, encoding: "utf8", env: userEnv(bin), timeout: 240_000 },
      );
      assert.equal(r.status, 0, `jupyter execute on Node ${line}:\n${r.stderr.slice(-3000)}`);
      const outputs = (
        JSON.parse(fs.readFileSync(file, "utf8")) as {
          cells: { outputs: { output_type: string; name?: string; text?: string | string[] }[] }[];
        }
      ).cells.flatMap((c) => c.outputs);
      const text = (o: { text?: string | string[] }) => (Array.isArray(o.text) ? o.text.join("") : (o.text ?? ""));
      assert.deepEqual(
        outputs.filter((o) => o.output_type === "error" || o.name === "stderr").map(text),
        [],
        "no error or stderr output in the notebook",
      );
      checkResult(
        outputs
          .filter((o) => o.name === "stdout")
          .map(text)
          .join(""),
        line,
        "the notebook",
      );
      // The kernel's own stderr reaches the terminal that started it (npm start, jupyter lab).
      assert.doesNotMatch(r.stderr, TF_LOG_LINE, "no TensorFlow start-up line on the terminal");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}

test("TensorFlow's start-up log shows when asked for (FMNIST_TF_LOGS=1 or TF_CPP_MIN_LOG_LEVEL=0), and errors always", () => {
  const env = userEnv(path.dirname(process.execPath));
  const load = 'require("@tensorflow/tfjs-node").tensor([1]).dataSync();';
  const quiet = spawnSync("node", ["-e", load], { cwd: repoRoot, encoding: "utf8", env });
  assert.equal(quiet.stderr, "");
  for (const asked of [{ FMNIST_TF_LOGS: "1" }, { TF_CPP_MIN_LOG_LEVEL: "0" }]) {
    const r = spawnSync("node", ["-e", load], { cwd: repoRoot, encoding: "utf8", env: { ...env, ...asked } });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /oneDNN custom operations are on/, `shown with ${JSON.stringify(asked)}`);
  }
  const { filterTfLog, minLogLevel } = require(path.join(TFJS, "dist", "fm_compat.js")) as {
    filterTfLog: (text: string, level: number) => string;
    minLogLevel: (env: NodeJS.ProcessEnv) => number;
  };
  const captured =
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n" +
    "I0000 00:00:1796611948.222762   18645 port.cc:153] oneDNN custom operations are on.\n" +
    "I0000 00:00:1796611948.3   18645 cpu_feature_guard.cc:227] This TensorFlow binary is optimized\n" +
    "To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow.\n" +
    "W0000 00:00:1796611948.4   18645 some.cc:1] a warning\n" +
    "E0000 00:00:1796611948.5   18645 other.cc:2] a real error\n" +
    "  its second line\n";
  assert.equal(
    filterTfLog(captured, 2),
    "E0000 00:00:1796611948.5   18645 other.cc:2] a real error\n  its second line\n",
  );
  assert.match(filterTfLog(captured, 1), /^W0000 .*a warning\nE0000/);
  assert.equal(filterTfLog(captured, 0), captured, "everything, banner included, at level 0");
  assert.equal(filterTfLog("not TensorFlow's\n", 3), "not TensorFlow's\n");
  assert.equal(minLogLevel({}), 2);
  assert.equal(minLogLevel({ TF_CPP_MIN_LOG_LEVEL: "1" }), 1);
  assert.equal(minLogLevel({ FMNIST_TF_LOGS: "1", TF_CPP_MIN_LOG_LEVEL: "3" }), 0);
});

test("setup's fix of tfjs-node is in place and a second run changes nothing", () => {
  const files = ["dist/index.js", "dist/nodejs_kernel_backend.js", "dist/kernels/TopK.js", "dist/fm_compat.js"];
  const hash = () =>
    files.map((f) =>
      crypto
        .createHash("sha256")
        .update(fs.readFileSync(path.join(TFJS, f)))
        .digest("hex"),
    );
  for (const f of files.slice(0, 3))
    assert.equal(fs.readFileSync(path.join(TFJS, f), "utf8").match(/fm_compat/g)?.length, 1, `${f} patched once`);
  assert.ok(fs.existsSync(path.join(TFJS, "lib", "fm-quiet", "quiet_stderr.node")), "the start-up log filter is built");
  const before = hash();
  // Forget the stamp: the fix runs again over already fixed files (and checks an op).
  const stamp = path.join(TFJS, "lib", "fm-quiet", "stamp");
  const saved = fs.readFileSync(stamp, "utf8");
  fs.rmSync(stamp);
  try {
    const r = spawnSync("bash", [path.join(repoRoot, "lib", "bin", "setup-native.sh")], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /fixing tfjs-node for Node 23\+/);
  } finally {
    if (!fs.existsSync(stamp)) fs.writeFileSync(stamp, saved);
  }
  assert.deepEqual(hash(), before, "the same files after a second run");
});

test("npm run train, normal and failing, shows no TensorFlow start-up line", () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "fmnist-quiet-train-"));
  try {
    const env = userEnv(path.dirname(process.execPath), { FMNIST_DATA_DIR: tmp });
    const small = ["--epochs", "1", "--train-limit", "500", "--validation", "100", "--test-limit", "200", "--save", ""];
    const ok = spawnSync("npm", ["run", "train", "--", ...small, "--mirror", sharedDataDir], {
      cwd: repoRoot,
      encoding: "utf8",
      env,
    });
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /Test accuracy: \d+\.\d\d%/);
    assert.doesNotMatch(ok.stdout + ok.stderr, TF_LOG_LINE);
    // A failure after TensorFlow loaded: no dataset anywhere (an empty mirror, the official ones unreachable).
    const proxy = "http://127.0.0.1:9";
    const failed = spawnSync("npm", ["run", "train", "--", ...small, "--mirror", path.join(tmp, "empty")], {
      cwd: repoRoot,
      encoding: "utf8",
      env: { ...env, FMNIST_DATA_DIR: path.join(tmp, "other"), HTTPS_PROXY: proxy, HTTP_PROXY: proxy },
    });
    assert.notEqual(failed.status, 0);
    assert.match(failed.stdout, /tensorflow: '2\.\d+\.\d+'/, "TensorFlow had loaded");
    assert.match(failed.stderr, /train: Could not download/);
    assert.doesNotMatch(failed.stdout + failed.stderr, TF_LOG_LINE);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
