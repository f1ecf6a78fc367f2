import { repoRoot as repoRootOf } from "fashion-mnist-lib/dist/runtime/paths";
import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import { CLASS_NAMES, type LabeledImages } from "fashion-mnist-lib/dist/data/samples";
import {
  FILES,
  FashionMnist,
  defaultCacheDir,
  loadFashionMnist,
  normalize,
  splitValidation,
  takeFirst,
} from "fashion-mnist-lib/dist/data/dataset";
import { repoRoot, sharedDataDir } from "./helpers";

let data: FashionMnist;
let loadMs = 0;

before(async () => {
  // The shared folder already holds verified copies, so it serves as a read-only cache:
  // nothing is written and no mirror is needed.
  const t0 = performance.now();
  data = await loadFashionMnist({ cacheDir: sharedDataDir, mirrors: [], officialMirrors: false, quiet: true });
  loadMs = performance.now() - t0;
});

test("full load from the cache is fast", (t) => {
  t.diagnostic(`full load (verify + gunzip + parse, 70000 images): ${loadMs.toFixed(0)} ms`);
  assert.equal(data.train.count, 60000);
  assert.equal(data.test.count, 10000);
  assert.equal(data.train.images.length, 60000 * 784);
  assert.equal(data.test.images.length, 10000 * 784);
  assert.equal(data.train.labels.length, 60000);
  assert.deepEqual([data.rows, data.cols], [28, 28]);
  assert.ok(!Buffer.isBuffer(data.train.images), "plain Uint8Array");
  assert.ok(loadMs < 3000, `load took ${loadMs} ms`);
});

test("class names and the file table", () => {
  assert.deepEqual(CLASS_NAMES, [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
  ]);
  const sums = new Map(
    fs
      .readFileSync(path.join(sharedDataDir, "SHA256SUMS"), "utf8")
      .trim()
      .split("\n")
      .map((line) => {
        const [sum, name] = line.split(/\s+/);
        return [name, sum] as const;
      }),
  );
  for (const spec of Object.values(FILES)) {
    assert.equal(spec.sha256, sums.get(spec.name), spec.name);
    assert.match(spec.md5 ?? "", /^[0-9a-f]{32}$/);
    assert.equal(fs.statSync(path.join(sharedDataDir, spec.name)).size, spec.bytes);
  }
  assert.equal(FILES.trainImages.md5, "8d4fb7e6c68d591d4c3dfef9ec88bf0d");
  assert.equal(FILES.testLabels.md5, "bb300cfdad3c16e7a12a480ee83cd310");
});

test("normalize maps real pixels into [0, 1] with min 0 and max exactly 1", () => {
  const x = normalize(data.train.images);
  assert.ok(x instanceof Float32Array);
  assert.equal(x.length, data.train.images.length);
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
  }
  assert.equal(min, 0);
  assert.equal(max, 1);
  assert.ok(Math.abs(sum / x.length - 0.286) < 5e-4, `mean ${sum / x.length}`);
  const small = normalize(new Uint8Array([0, 51, 255]));
  assert.deepEqual([...small], [0, Math.fround(0.2), 1]);
});

test("splitValidation: the last 12000 samples become validation", () => {
  const { train, validation } = splitValidation(data.train);
  assert.equal(train.count, 48000);
  assert.equal(validation.count, 12000);
  assert.equal(train.images.length, 48000 * 784);
  assert.equal(validation.labels.length, 12000);
  const all = data.train;
  assert.ok(Buffer.from(validation.images).equals(Buffer.from(all.images.subarray(48000 * 784))));
  assert.ok(Buffer.from(validation.labels).equals(Buffer.from(all.labels.subarray(48000))));
  assert.ok(Buffer.from(train.images).equals(Buffer.from(all.images.subarray(0, 48000 * 784))));
  assert.ok(Buffer.from(train.labels).equals(Buffer.from(all.labels.subarray(0, 48000))));
  const custom = splitValidation(data.train, 100);
  assert.deepEqual([custom.train.count, custom.validation.count], [59900, 100]);
});

test("splitValidation rejects bad sizes, naming the argument", () => {
  for (const bad of [0, -1, 60000, 70000, 1.5, NaN]) {
    assert.throws(
      () => splitValidation(data.train, bad),
      (err: unknown) =>
        err instanceof RangeError &&
        /valCount must be an integer between 1 and 59999/.test(err.message) &&
        err.message.includes(`got ${bad}`),
    );
  }
  const broken: LabeledImages<Uint8Array> = { images: new Uint8Array(10), labels: new Uint8Array(3), count: 3 };
  assert.throws(() => splitValidation(broken, 1), /inconsistent sample set/);
});

test("takeFirst returns the first n samples, all of them when n is larger", () => {
  const few = takeFirst(data.train, 100);
  assert.equal(few.count, 100);
  assert.equal(few.images.length, 100 * 784);
  assert.deepEqual([...few.labels], [...data.train.labels.subarray(0, 100)]);
  assert.equal(few.images[784 * 99 + 400], data.train.images[784 * 99 + 400]);
  assert.equal(takeFirst(data.test, 1e6).count, 10000);
  for (const bad of [0, -5, 2.5]) {
    assert.throws(() => takeFirst(data.train, bad), /takeFirst: n must be a positive integer/);
  }
});

test("trainLimit/testLimit keep the same first images as takeFirst, bytes or scaled, and refuse bad limits", async () => {
  const opts = { cacheDir: sharedDataDir, mirrors: [] as string[], officialMirrors: false, quiet: true };
  const few = await loadFashionMnist({ ...opts, trainLimit: 1234, testLimit: 10 });
  assert.deepEqual([few.train.count, few.test.count], [1234, 10]);
  for (const [got, all] of [
    [few.train, data.train],
    [few.test, data.test],
  ] as const) {
    const want = takeFirst(all, got.count);
    assert.deepEqual(got.images, want.images);
    assert.deepEqual(got.labels, want.labels);
    // Its own memory, not a view into a full copy.
    assert.equal(got.images.buffer.byteLength < 2 * 1234 * 784, true);
  }
  const scaled = await loadFashionMnist({ ...opts, scale: true, trainLimit: 50 });
  assert.deepEqual(scaled.train.images, normalize(takeFirst(data.train, 50).images));
  assert.equal(scaled.test.count, 10000);
  const over = await loadFashionMnist({ ...opts, testLimit: 20000 });
  assert.equal(over.test.count, 10000);
  for (const bad of [0, -5, 1.5, NaN])
    await assert.rejects(
      loadFashionMnist({ ...opts, trainLimit: bad }),
      /trainLimit must be a whole number of at least 1/,
    );
});

test("the dataset cache lives under the data folder, which FMNIST_DATA_DIR moves", () => {
  const saved = process.env.FMNIST_DATA_DIR;
  try {
    delete process.env.FMNIST_DATA_DIR;
    assert.equal(repoRootOf(), repoRoot);
    assert.equal(defaultCacheDir(), path.join(repoRoot, "data", "fashion-mnist"));
    process.env.FMNIST_DATA_DIR = "/tmp/somewhere";
    assert.equal(defaultCacheDir(), path.join("/tmp/somewhere", "fashion-mnist"));
  } finally {
    if (saved === undefined) delete process.env.FMNIST_DATA_DIR;
    else process.env.FMNIST_DATA_DIR = saved;
  }
});
