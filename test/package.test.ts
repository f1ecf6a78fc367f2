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
        files.includes("dist/index.js") && files.includes("dist/index.d.ts") && files.includes("bin/setup-native.sh"),
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
      // The package's setup, as its README says (the wheel cache is shared to save a 270 MB download).
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
  console.log(JSON.stringify({ resolved: require.resolve("fashion-mnist-lib"), dataDir: fm.dataDir(), epochs: run.history.length, accuracy: result.accuracy }));
})().catch((e) => { console.error(e); process.exit(1); });
`,
      );
      const out = JSON.parse(run(process.execPath, ["train.js"], app, env).trim().split("\n").pop()!) as {
        resolved: string;
        dataDir: string;
        epochs: number;
        accuracy: number;
      };
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
              "const data = await fm.loadFashionMnist({ quiet: true, scale: true });\nconst { train, validation } = fm.splitValidation(fm.takeFirst(data.train, 1000), 200);\nconst model = fm.createModel({ seed: 2 });\nconst run = await fm.fit(model, train, validation, { epochs: 1, batchSize: 32, seed: 2 });\nconsole.log(`val accuracy ${run.history[0].val_accuracy}`);",
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
      assert.match(nbOut, /val accuracy 0\.\d+/);
    } finally {
      removeDir(tmp);
    }
  },
);
