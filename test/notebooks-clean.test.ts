// Committed notebooks carry no outputs, and running one changes nothing git
// would commit: git's clean filter (scripts/nbclean.py, set up by setup.sh)
// strips what a run adds before git compares, while the user's file keeps it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { makeTempDir, removeDir, repoRoot } from "./helpers";

const nbclean = path.join(repoRoot, "scripts", "nbclean.py");
const git = (cwd: string, ...args: string[]) => execFileSync("git", args, { cwd, encoding: "utf8" });

test("every notebook git holds is clean: no outputs, no execution counts, canonical form", () => {
  const files = git(repoRoot, "ls-files", "*.ipynb").trim().split("\n");
  assert.ok(files.length >= 8, `notebooks found: ${files.join(", ")}`);
  for (const file of files) {
    const stored = git(repoRoot, "show", `:${file}`);
    const cleaned = spawnSync("python3", [nbclean], { input: stored, encoding: "utf8" });
    assert.equal(cleaned.status, 0, cleaned.stderr);
    assert.equal(cleaned.stdout, stored, `${file} as git holds it is not clean`);
  }
});

test("a notebook saved with outputs (as JupyterLab saves it) shows no change to git and keeps its outputs", () => {
  const tmp = makeTempDir("fmnist-nbclean-");
  try {
    const clone = path.join(tmp, "clone");
    git(tmp, "clone", "--quiet", repoRoot, clone);
    git(clone, "config", "--local", "filter.nbclean.clean", "python3 scripts/nbclean.py");
    const file = path.join(clone, "notebooks", "fashion-mnist-cnn.ipynb");
    // What a run adds, written the way Jupyter writes notebooks (nbformat).
    const run = `
import nbformat, sys
nb = nbformat.read(sys.argv[1], as_version=4)
for i, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
    cell.execution_count = i + 1
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"output {i}\\n")]
    cell.metadata["execution"] = {"iopub.status.busy": "2026-12-02T03:00:00Z"}
    cell.metadata["scrolled"] = True
nbformat.write(nb, sys.argv[1])
`;
    const r = spawnSync(path.join(repoRoot, ".venv", "bin", "python"), ["-c", run, file], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    assert.match(fs.readFileSync(file, "utf8"), /output 3/, "the user's file keeps the outputs");
    assert.equal(git(clone, "diff"), "", "git diff shows no change");
    // git status goes by the file's size first and lists it until `git add`, which then stages nothing.
    git(clone, "add", "-A");
    assert.equal(git(clone, "status", "--porcelain"), "", "nothing to commit");
  } finally {
    removeDir(tmp);
  }
});
