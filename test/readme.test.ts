// The README's offline command, exactly as printed there, run from the folder
// the README means (the checkout's root, with ../shared beside it, as on CI's
// fresh clone), and the same from a subfolder with the path adjusted: a
// relative FASHION_MNIST_MIRROR means what it meant where it was typed, not
// what it would mean in the kernel's folder (notebooks/). Small run sizes come
// from the environment; the dataset cache starts empty, so the files really
// come through the mirror.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { makeTempDir, removeDir, repoRoot, smallRunEnv } from "./helpers";

function readmeCommand(): string {
  const readme = fs.readFileSync(path.join(repoRoot, "README.md"), "utf8");
  const m = /`(FASHION_MNIST_MIRROR=\S+ npm start)`/.exec(readme);
  assert.ok(m, "the README shows the offline command");
  return m[1];
}

test("the README's offline command works as printed, and from a subfolder", { timeout: 20 * 60_000 }, () => {
  const command = readmeCommand();
  const tmp = makeTempDir("fmnist-readme-");
  try {
    const runs: [string, string][] = [
      [repoRoot, command],
      [path.join(repoRoot, "notebooks"), command.replace("FASHION_MNIST_MIRROR=../", "FASHION_MNIST_MIRROR=../../")],
    ];
    for (const [i, [cwd, line]] of runs.entries()) {
      const data = path.join(tmp, `data${i}`);
      const env: NodeJS.ProcessEnv = { ...process.env, ...smallRunEnv(data) };
      // The command sets the mirror itself; INIT_CWD is npm's to set, from where it is typed.
      delete env.FASHION_MNIST_MIRROR;
      delete env.INIT_CWD;
      const r = spawnSync("sh", ["-c", line], { cwd, env, encoding: "utf8", timeout: 15 * 60_000 });
      assert.equal(r.status, 0, `\`${line}\` in ${cwd} failed:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
      assert.match(r.stdout, /Test accuracy: \d+\.\d\d%/);
      assert.ok(
        fs.existsSync(path.join(data, "fashion-mnist", "train-images-idx3-ubyte.gz")),
        "the files came through the mirror into the empty cache",
      );
    }
  } finally {
    removeDir(tmp);
  }
});

test("the learners' guide prints the README's offline command unchanged", () => {
  const guide = fs.readFileSync(path.join(repoRoot, "docs", "learners.md"), "utf8");
  assert.ok(guide.includes("`" + readmeCommand() + "`"), "docs/learners.md shows the same offline command");
});
