// Faults that tests of single functions do not reach: a full disk, a process
// killed in the middle of a download, a crash while saving a model.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { loadFashionMnist, FILES } from "fashion-mnist-lib/dist/data/dataset";
import { CacheDirError } from "fashion-mnist-lib/dist/data/download";
import { createModel } from "fashion-mnist-lib/dist/model/model";
import { saveModel, loadModel } from "fashion-mnist-lib/dist/model/persist";
import { makeTempDir, removeDir, repoRoot, sharedDataDir, startServer, sendFile } from "./helpers";

const sha256 = (file: string) => crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex");

test("a full disk gives a clear error and leaves the existing cache intact", async (t) => {
  const mnt = makeTempDir("fmnist-full-");
  // A 1 MB tmpfs: room for the two label files, not for the images.
  const mounted = spawnSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt]).status === 0;
  if (!mounted) {
    removeDir(mnt);
    t.skip("cannot mount a small tmpfs here (needs root); the full-disk case was not exercised");
    return;
  }
  try {
    const cache = path.join(mnt, "cache");
    fs.mkdirSync(cache);
    for (const f of [FILES.trainLabels.name, FILES.testLabels.name])
      fs.copyFileSync(path.join(sharedDataDir, f), path.join(cache, f));
    const before = fs.readdirSync(cache).map((f) => [f, sha256(path.join(cache, f))]);
    await assert.rejects(
      loadFashionMnist({ cacheDir: cache, mirrors: [sharedDataDir], officialMirrors: false, quiet: true }),
      (err: unknown) => err instanceof CacheDirError && /disk is full/.test(err.message) && err.message.includes(cache),
    );
    const after = fs.readdirSync(cache).map((f) => [f, sha256(path.join(cache, f))]);
    assert.deepEqual(after, before, "no partial file left, cached files unchanged");
  } finally {
    spawnSync("umount", [mnt]);
    removeDir(mnt);
  }
});

test("a download killed mid-transfer leaves nothing that the next run trusts", async () => {
  const tmp = makeTempDir("fmnist-kill-");
  const name = FILES.testImages.name;
  let stall = true;
  // Sends the first 1 MB, then holds the connection open until told otherwise.
  const server = await startServer((req, res) => {
    if (!stall) return sendFile(sharedDataDir, req, res);
    const body = fs.readFileSync(path.join(sharedDataDir, name));
    res.writeHead(200, { "content-length": body.length });
    res.write(body.subarray(0, 1 << 20));
  });
  try {
    const cache = path.join(tmp, "cache");
    const script = `require(${JSON.stringify(path.join(repoRoot, "lib", "dist", "data", "download.js"))}).fetchToCache(${JSON.stringify(
      {
        name,
        sha256: FILES.testImages.sha256,
        cacheDir: cache,
        mirrors: [server.base],
        officialMirrors: false,
        timeoutMs: 60_000,
      },
    )})`;
    const child = spawn(process.execPath, ["-e", script], { stdio: "ignore" });
    // Wait until the partial file has data, then kill the process outright.
    for (let i = 0; i < 200; i++) {
      const parts = fs.existsSync(cache) ? fs.readdirSync(cache).filter((f) => f.endsWith(".part")) : [];
      if (parts.length && fs.statSync(path.join(cache, parts[0])).size >= 1 << 20) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill("SIGKILL");
    await new Promise((r) => child.once("exit", r));
    assert.ok(!fs.existsSync(path.join(cache, name)), "the killed download never became the cached file");

    stall = false;
    const data = await loadFashionMnist({
      cacheDir: cache,
      mirrors: [server.base],
      officialMirrors: false,
      quiet: true,
    });
    assert.equal(data.test.count, 10000);
    assert.equal(sha256(path.join(cache, name)), FILES.testImages.sha256);
    assert.deepEqual(
      fs.readdirSync(cache).filter((f) => f.endsWith(".part")),
      [],
      "the killed download's .part file was removed",
    );
  } finally {
    await server.close();
    removeDir(tmp);
  }
});

test("a save that fails with an error leaves the previous save loadable and nothing behind (kills: persist-crash test)", async () => {
  const dir = makeTempDir("fmnist-save-");
  try {
    const first = createModel({ seed: 1 });
    await saveModel(first, "m", dir);
    const expected = Array.from(first.layers[0].getWeights()[0].dataSync().slice(0, 8));
    // The second save fails while the model is serialized.
    const second = createModel({ seed: 2 });
    second.save = async () => {
      throw new Error("simulated failure during save");
    };
    await assert.rejects(saveModel(second, "m", dir), /Could not save model "m".*simulated failure/);
    assert.deepEqual(fs.readdirSync(dir), ["m"], "no staging folder left behind");
    const reloaded = await loadModel("m", dir);
    assert.deepEqual(Array.from(reloaded.layers[0].getWeights()[0].dataSync().slice(0, 8)), expected);
    [first, second, reloaded].forEach((m) => m.dispose());
  } finally {
    removeDir(dir);
  }
});

test("a folder or an unreadable file where a cached file belongs is named as the problem, with the command that fixes it", async () => {
  const tmp = makeTempDir("fmnist-cache-entry-");
  try {
    const name = FILES.testLabels.name;
    fs.mkdirSync(path.join(tmp, name));
    await assert.rejects(
      loadFashionMnist({ cacheDir: tmp, mirrors: [sharedDataDir], officialMirrors: false, quiet: true }),
      (err: Error) =>
        err.name === "CacheDirError" &&
        err.message.includes(`${path.join(tmp, name)} is a folder, where the cached file ${name} belongs`) &&
        err.message.includes(`rm -r '${path.join(tmp, name)}'`) &&
        !/mirror/i.test(err.message),
    );
    assert.ok(fs.statSync(path.join(tmp, name)).isDirectory(), "left as it was");
    if (process.getuid?.() !== 0) {
      fs.rmSync(path.join(tmp, name), { recursive: true });
      fs.copyFileSync(path.join(sharedDataDir, name), path.join(tmp, name));
      fs.chmodSync(path.join(tmp, name), 0o000);
      await assert.rejects(
        loadFashionMnist({ cacheDir: tmp, mirrors: [sharedDataDir], officialMirrors: false, quiet: true }),
        /permission denied\). Give yourself access \(chmod u\+rw/,
      );
    }
  } finally {
    removeDir(tmp);
  }
});
