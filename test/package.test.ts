// The library as users outside this repository get it: `npm pack` of lib/,
// installed into an empty folder under the system's temporary folder with
// scripts off, `npx fashion-mnist-setup` (libtensorflow from the PyPI wheel,
// the addon built from source), then a small training run from a plain Node
// script in that folder and the same from a notebook in a new subfolder,
// executed by the tslab kernel. Nothing resolves through this checkout.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { makeTempDir, removeDir, repoRoot, sharedDataDir } from "./helpers";

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8", env: { ...process.env, ...env }, timeout: 15 * 60_000 });
  assert.equal(r.status, 0, `${cmd} ${args.join(" ")} in ${cwd} failed (exit ${r.status}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

test(
  "npm pack of the library installs into an empty folder outside the repo and trains there, from Node and from a notebook",
  { timeout: 30 * 60_000 },
  () => {
    const tmp = makeTempDir("fmnist-package-");
    try {
      const packed = run("npm", ["pack", "--pack-destination", tmp, "--json"], path.join(repoRoot, "lib"));
      const tarball = path.join(tmp, (JSON.parse(packed) as { filename: string }[])[0].filename);
      const files = (JSON.parse(packed) as { files: { path: string }[] }[])[0].files.map((f) => f.path);
      assert.ok(
        files.includes("dist/index.js") &&
          files.includes("dist/index.d.ts") &&
          files.includes("bin/setup-native.sh") &&
          files.includes("native/graph_step.cc") &&
          files.includes("native/binding.gyp"),
        `packed files: ${files.join(", ")}`,
      );
      assert.ok(
        !files.some((f) => f.endsWith(".ts") && !f.endsWith(".d.ts")),
        "sources and tests stay out of the package",
      );

      const app = path.join(tmp, "my project");
      fs.mkdirSync(app);
      fs.writeFileSync(
        path.join(app, "package.json"),
        JSON.stringify({ name: "my-project", version: "1.0.0", private: true }),
      );
      // Scripts off: tfjs-node's own install script would download from Google.
      run("npm", ["install", "--ignore-scripts", "--no-audit", "--no-fund", tarball], app);
      // Before its setup the library says what is missing and how to fix it, never `npm rebuild`.
      const early = spawnSync(process.execPath, ["-e", 'require("fashion-mnist-lib")'], { cwd: app, encoding: "utf8" });
      assert.notEqual(early.status, 0);
      assert.match(early.stderr, /The tfjs-node native addon is missing .*npx fashion-mnist-setup/);
      assert.doesNotMatch(early.stderr, /npm rebuild/);
      // The package's setup, as docs/learners.md says (the wheel cache is shared to save a 270 MB download).
      run("npx", ["fashion-mnist-setup"], app, { FMNIST_WHEEL_DIR: path.join(repoRoot, ".cache", "wheels") });
      assert.equal(
        run("npx", ["fashion-mnist-setup"], app, { FMNIST_WHEEL_DIR: path.join(repoRoot, ".cache", "wheels") }).trim(),
        "",
        "a second setup has nothing to do",
      );

      const env = { FASHION_MNIST_MIRROR: sharedDataDir, FMNIST_DATA_DIR: "", INIT_CWD: "" };
      fs.writeFileSync(
        path.join(app, "train.js"),
        `
const fm = require("fashion-mnist-lib");
fm.assertNativeBackend();
(async () => {
  const data = await fm.loadFashionMnist({ quiet: true, scale: true });
  const { train, validation } = fm.splitValidation(fm.takeFirst(data.train, 1500), 300);
  const model = fm.createModel({ seed: 1 });
  const run = await fm.fit(model, train, validation, { epochs: 1, batchSize: 32, seed: 1, progress: "none" });
  const result = fm.evaluate(model, fm.takeFirst(data.test, 500));
  console.log(JSON.stringify({ resolved: require.resolve("fashion-mnist-lib"), dataDir: fm.dataDir(), epochs: run.history.length, accuracy: result.accuracy, trainer: run.trainer, declined: run.declined }));
})().catch((e) => { console.error(e); process.exit(1); });
`,
      );
      type TrainOut = {
        resolved: string;
        dataDir: string;
        epochs: number;
        accuracy: number;
        trainer: string;
        declined?: string;
      };
      const train = () =>
        JSON.parse(run(process.execPath, ["train.js"], app, env).trim().split("\n").pop()!) as TrainOut;
      const out = train();
      // The setup built the graph-step addon beside tfjs-node's, linked by a relative rpath, and fit uses it.
      const graphAddon = path.join(app, "node_modules", "@tensorflow", "tfjs-node", "lib", "fm-graph-step");
      assert.equal(out.trainer, "graph", `the graph step trains (${out.declined})`);
      const binary = fs.readFileSync(path.join(graphAddon, "graph_step.node")).toString("latin1");
      assert.ok(binary.includes("$ORIGIN/../../deps/lib") && !binary.includes(tmp), "a relative rpath only");
      assert.equal(
        out.resolved,
        path.join(app, "node_modules", "fashion-mnist-lib", "dist", "index.js"),
        "the installed copy, not the checkout's",
      );
      assert.equal(out.dataDir, path.join(app, "data"), "the cache goes beside the project's node_modules");
      assert.ok(
        fs.existsSync(path.join(app, "data", "fashion-mnist", "train-images-idx3-ubyte.gz")),
        "the dataset was cached there",
      );
      assert.equal(out.epochs, 1);
      assert.ok(out.accuracy > 0.5, `a small run learns something: ${out.accuracy}`);

      // A graph-step build that fails (here: no node-gyp) does not fail the setup: one line says so,
      // and fit falls back to the eager step, saying why. Deleting the folder retries the build.
      const setupEnv = { FMNIST_WHEEL_DIR: path.join(repoRoot, ".cache", "wheels") };
      fs.rmSync(graphAddon, { recursive: true, force: true });
      const failed = spawnSync("npx", ["fashion-mnist-setup"], {
        cwd: app,
        encoding: "utf8",
        env: { ...process.env, ...setupEnv, npm_config_node_gyp: path.join(tmp, "no-node-gyp.js") },
      });
      assert.equal(failed.status, 0, `a failed graph-step build fails the setup:\n${failed.stderr}`);
      assert.match(failed.stderr, /the graph-step addon did not build .*training uses the eager native path instead\./);
      const fallback = train();
      assert.equal(fallback.trainer, "native");
      assert.match(fallback.declined ?? "", /the graph-step addon is not built/);
      fs.rmSync(graphAddon, { recursive: true, force: true });
      run("npx", ["fashion-mnist-setup"], app, setupEnv);
      assert.ok(fs.existsSync(path.join(graphAddon, "graph_step.node")), "built again");

      // A notebook in a new folder of that project, run by the tslab kernel.
      const nbDir = path.join(app, "notebooks", "week 1");
      fs.mkdirSync(nbDir, { recursive: true });
      const code = (source: string) => ({
        cell_type: "code",
        metadata: {},
        execution_count: null,
        outputs: [],
        source,
      });
      fs.writeFileSync(
        path.join(nbDir, "try.ipynb"),
        JSON.stringify({
          cells: [
            code(
              'import * as fm from "fashion-mnist-lib";\nfm.assertNativeBackend();\nconsole.log("resolved", require.resolve("fashion-mnist-lib"));',
            ),
            code(
              "const data = await fm.loadFashionMnist({ quiet: true, scale: true });\nconst { train, validation } = fm.splitValidation(fm.takeFirst(data.train, 1000), 200);\nconst model = fm.createModel({ seed: 2 });\nconst run = await fm.fit(model, train, validation, { epochs: 1, batchSize: 32, seed: 2 });\nconsole.log(`val accuracy ${run.history[0].val_accuracy} trainer ${run.trainer}`);",
            ),
          ],
          metadata: { kernelspec: { name: "tslab", display_name: "TypeScript", language: "typescript" } },
          nbformat: 4,
          nbformat_minor: 5,
        }),
      );
      const executed = path.join(tmp, "try-executed.ipynb");
      const nbOut = run(
        path.join(repoRoot, ".venv", "bin", "python"),
        [
          path.join(repoRoot, "scripts", "run_notebook.py"),
          path.join(nbDir, "try.ipynb"),
          "--output",
          executed,
          "--timeout",
          "300",
        ],
        app,
        env,
      );
      assert.match(
        nbOut,
        new RegExp(
          `resolved ${path.join(app, "node_modules", "fashion-mnist-lib", "dist", "index.js").replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`,
        ),
      );
      assert.match(nbOut, /val accuracy 0\.\d+ trainer graph/);
    } finally {
      removeDir(tmp);
    }
  },
);
