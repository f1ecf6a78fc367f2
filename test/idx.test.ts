import { test, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import * as zlib from "zlib";
import * as crypto from "crypto";
import {
  IdxError,
  gunzipIdx,
  gunzipIdxAsync,
  gunzipImagesScaled,
  parseIdx,
  parseImages,
  parseLabels,
} from "fashion-mnist-lib/dist/data/idx";
import { loadFashionMnist, normalize, FileSpec, FileKey } from "fashion-mnist-lib/dist/data/dataset";
import { makeTempDir, removeDir, sharedDataDir } from "./helpers";

/** Builds IDX bytes: header (type byte, dims) followed by `data`. */
function idx(dims: number[], data: Uint8Array | number[], type = 0x08): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header[2] = type;
  header[3] = dims.length;
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([header, Buffer.from(data)]);
}

function readShared(name: string): Buffer {
  return fs.readFileSync(path.join(sharedDataDir, name));
}

/** Asserts that `fn` throws an IdxError for `file` whose message matches `re` and names the file. */
function throwsIdx(fn: () => unknown, file: string, re: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof IdxError, `expected IdxError, got ${String(err)}`);
    assert.equal(err.file, file);
    assert.ok(err.message.includes(file), `message should name ${file}: ${err.message}`);
    assert.match(err.message, re);
    return true;
  });
}

function counts(labels: Uint8Array): number[] {
  const c = new Array<number>(10).fill(0);
  for (const l of labels) c[l]++;
  return c;
}

test("real training files parse: 60000 images of 28x28, 6000 labels per class", () => {
  const images = parseImages(gunzipIdx(readShared("train-images-idx3-ubyte.gz"), "train-images"), "train-images", {
    rows: 28,
    cols: 28,
  });
  assert.equal(images.count, 60000);
  assert.equal(images.rows, 28);
  assert.equal(images.cols, 28);
  assert.equal(images.pixels.length, 60000 * 784);
  const labels = parseLabels(gunzipIdx(readShared("train-labels-idx1-ubyte.gz"), "train-labels"), "train-labels");
  assert.equal(labels.count, 60000);
  assert.deepEqual(counts(labels.labels), new Array(10).fill(6000));
});

test("real test files parse: 10000 images, 1000 labels per class", async () => {
  const raw = await gunzipIdxAsync(readShared("t10k-images-idx3-ubyte.gz"), "t10k-images");
  const images = parseImages(raw, "t10k-images");
  assert.deepEqual([images.count, images.rows, images.cols], [10000, 28, 28]);
  const labels = parseLabels(gunzipIdx(readShared("t10k-labels-idx1-ubyte.gz"), "t10k-labels"), "t10k-labels");
  assert.equal(labels.count, 10000);
  assert.deepEqual(counts(labels.labels), new Array(10).fill(1000));
});

test("the scaled load gives exactly the floats of load then normalize, for the real files", async () => {
  const scaled = await loadFashionMnist({
    cacheDir: sharedDataDir,
    mirrors: [],
    officialMirrors: false,
    quiet: true,
    scale: true,
  });
  const raw = await loadFashionMnist({ cacheDir: sharedDataDir, mirrors: [], officialMirrors: false, quiet: true });
  for (const split of ["train", "test"] as const) {
    const want = normalize(raw[split].images);
    const got = scaled[split].images;
    assert.ok(got instanceof Float32Array);
    assert.equal(got.length, want.length);
    // Bit for bit: compare the bytes, not the numbers.
    assert.ok(
      Buffer.from(got.buffer, got.byteOffset, got.byteLength).equals(
        Buffer.from(want.buffer, want.byteOffset, want.byteLength),
      ),
      `${split}: scaled images differ from normalize(raw)`,
    );
    assert.deepEqual(scaled[split].labels, raw[split].labels);
    assert.equal(scaled[split].count, raw[split].count);
  }
  assert.deepEqual([scaled.rows, scaled.cols], [28, 28]);
});

/** Asserts that a promise rejects with an IdxError for `file` whose message matches `re`. */
async function rejectsIdx(p: Promise<unknown>, file: string, re: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof IdxError, `expected IdxError, got ${String(err)}`);
    assert.equal(err.file, file);
    assert.match(err.message, re);
    return true;
  });
}

test("the scaled load reports bad files as the two-step path does", async () => {
  const f = "bad-images";
  const gz = (b: Uint8Array) => zlib.gzipSync(b);
  const good = idx([2, 3, 3], new Uint8Array(18).fill(255));
  const ok = await gunzipImagesScaled(gz(good), f);
  assert.deepEqual([ok.count, ok.rows, ok.cols], [2, 3, 3]);
  assert.deepEqual(Array.from(ok.pixels), new Array(18).fill(1));
  await rejectsIdx(gunzipImagesScaled(gz(good).subarray(0, 20), f), f, /not a valid gzip file or truncated download/);
  await rejectsIdx(gunzipImagesScaled(Buffer.from("not gzip at all"), f), f, /not a valid gzip file/);
  await rejectsIdx(gunzipImagesScaled(gz(idx([3], [1, 2, 3])), f), f, /image file must have 3 dimensions/);
  await rejectsIdx(gunzipImagesScaled(gz(good), f, { rows: 28, cols: 28 }), f, /images are 3x3 but 28x28 was expected/);
  await rejectsIdx(
    gunzipImagesScaled(gz(good.subarray(0, good.length - 1)), f),
    f,
    /data is truncated: dimensions 2x3x3 need 18 bytes/,
  );
  await rejectsIdx(gunzipImagesScaled(gz(Buffer.concat([good, Buffer.from([7])])), f), f, /1 trailing bytes/);
  await rejectsIdx(gunzipImagesScaled(gz(good.subarray(0, 10)), f), f, /header is cut short/);
  await rejectsIdx(gunzipImagesScaled(gz(new Uint8Array(0)), f), f, /only 0 bytes/);
  // A header declaring far more than the file holds fails without allocating it (100 billion floats).
  await rejectsIdx(
    gunzipImagesScaled(gz(idx([100000, 1000, 1000], [1, 2])), f),
    f,
    /data is truncated: dimensions 100000x1000x1000/,
  );
});

test("parseIdx returns dims and a view of the data", () => {
  const out = parseIdx(idx([2, 2, 3], [...Array(12).keys()]), "small");
  assert.deepEqual(out.dims, [2, 2, 3]);
  assert.deepEqual([...out.data], [...Array(12).keys()]);
});

test("corrupt gzip -> IdxError naming the file", async () => {
  const junk = crypto.randomBytes(1000);
  throwsIdx(() => gunzipIdx(junk, "junk.gz"), "junk.gz", /not a valid gzip file or truncated download.*download again/);
  await assert.rejects(
    gunzipIdxAsync(junk, "junk.gz"),
    (err: unknown) => err instanceof IdxError && err.file === "junk.gz" && /not a valid gzip/.test(err.message),
  );
});

test("truncated gzip -> IdxError naming the file", () => {
  const gz = readShared("t10k-labels-idx1-ubyte.gz");
  const cut = gz.subarray(0, gz.length - 100);
  throwsIdx(() => gunzipIdx(cut, "t10k-labels-idx1-ubyte.gz"), "t10k-labels-idx1-ubyte.gz", /truncated download/);
});

test("wrong magic, wrong value type, wrong number of dimensions", () => {
  const bad = idx([1], [0]);
  bad[0] = 0x12;
  throwsIdx(() => parseIdx(bad, "m.idx"), "m.idx", /magic number 0x12000801/);
  throwsIdx(() => parseIdx(idx([1], [0, 0, 0, 0], 0x0d), "f.idx"), "f.idx", /value type 0x0d.*not unsigned byte/);
  throwsIdx(
    () => parseIdx(idx([2, 2], [1, 2, 3, 4]), "two.idx"),
    "two.idx",
    /2 dimensions; expected 1 \(labels\) or 3/,
  );
  throwsIdx(() => parseIdx(new Uint8Array([0, 0]), "tiny.idx"), "tiny.idx", /too short for an IDX header/);
  // plain gzip bytes passed by mistake
  throwsIdx(() => parseIdx(readShared("t10k-labels-idx1-ubyte.gz"), "gz"), "gz", /still gzip-compressed/);
});

test("images vs labels: wrong dimension count for the kind of file", () => {
  throwsIdx(() => parseImages(idx([3], [1, 2, 3]), "labels-as-images"), "labels-as-images", /must have 3 dimensions/);
  throwsIdx(
    () => parseLabels(idx([1, 2, 2], [1, 2, 3, 4]), "images-as-labels"),
    "images-as-labels",
    /must have 1 dimension/,
  );
  throwsIdx(
    () => parseImages(idx([1, 2, 3], new Uint8Array(6)), "small-images", { rows: 28, cols: 28 }),
    "small-images",
    /images are 2x3 but 28x28 was expected/,
  );
});

test('header or data cut short -> "truncated"', () => {
  const full = idx([2, 28, 28], new Uint8Array(2 * 784));
  throwsIdx(() => parseIdx(full.subarray(0, 10), "h.idx"), "h.idx", /header is cut short.*truncated/);
  throwsIdx(
    () => parseIdx(full.subarray(0, full.length - 1), "d.idx"),
    "d.idx",
    /data is truncated: dimensions 2x28x28 need 1568 bytes after the header but only 1567/,
  );
});

test('extra bytes after the data -> "trailing bytes"', () => {
  const data = Buffer.concat([idx([3], [1, 2, 3]), Buffer.from([9, 9])]);
  throwsIdx(() => parseLabels(data, "l.idx"), "l.idx", /2 trailing bytes/);
});

test("label out of range -> error naming the file and the index", () => {
  throwsIdx(() => parseLabels(idx([4], [0, 9, 10, 1]), "labels.idx"), "labels.idx", /label at index 2 is 10.*0\.\.9/);
});

// ---- the same checks through loadFashionMnist, with a crafted mirror folder ----

const tmp = makeTempDir("fmnist-idx-");
after(() => removeDir(tmp));

/** Writes four gzip files into a new mirror folder and returns a file table for them. */
function craftMirror(label: string, parts: Record<FileKey, Buffer>): { dir: string; files: Record<FileKey, FileSpec> } {
  const dir = path.join(tmp, label, "mirror");
  fs.mkdirSync(dir, { recursive: true });
  const names: Record<FileKey, string> = {
    trainImages: "train-images-idx3-ubyte.gz",
    trainLabels: "train-labels-idx1-ubyte.gz",
    testImages: "t10k-images-idx3-ubyte.gz",
    testLabels: "t10k-labels-idx1-ubyte.gz",
  };
  const files = {} as Record<FileKey, FileSpec>;
  for (const key of Object.keys(names) as FileKey[]) {
    fs.writeFileSync(path.join(dir, names[key]), parts[key]);
    files[key] = { name: names[key], sha256: crypto.createHash("sha256").update(parts[key]).digest("hex") };
  }
  return { dir, files };
}

function smallSet(train: number, trainLabels: number, test = 3): Record<FileKey, Buffer> {
  const gz = (b: Buffer) => zlib.gzipSync(b);
  return {
    trainImages: gz(idx([train, 28, 28], crypto.randomBytes(train * 784))),
    trainLabels: gz(
      idx(
        [trainLabels],
        Array.from({ length: trainLabels }, (_, i) => i % 10),
      ),
    ),
    testImages: gz(idx([test, 28, 28], crypto.randomBytes(test * 784))),
    testLabels: gz(
      idx(
        [test],
        Array.from({ length: test }, (_, i) => i % 10),
      ),
    ),
  };
}

async function loadCrafted(label: string, parts: Record<FileKey, Buffer>) {
  const { dir, files } = craftMirror(label, parts);
  return loadFashionMnist({
    cacheDir: path.join(tmp, label, "cache"),
    mirrors: [dir],
    officialMirrors: false,
    quiet: true,
    files,
  });
}

test("loadFashionMnist reads a small well-formed set", async () => {
  const data = await loadCrafted("ok", smallSet(5, 5));
  assert.equal(data.train.count, 5);
  assert.equal(data.train.images.length, 5 * 784);
  assert.deepEqual([...data.train.labels], [0, 1, 2, 3, 4]);
  assert.equal(data.test.count, 3);
  assert.deepEqual([data.rows, data.cols], [28, 28]);
});

test("image/label count mismatch -> IdxError naming both files", async () => {
  await assert.rejects(loadCrafted("mismatch", smallSet(5, 4)), (err: unknown) => {
    assert.ok(err instanceof IdxError);
    assert.match(
      err.message,
      /train-images-idx3-ubyte\.gz holds 5 images but train-labels-idx1-ubyte\.gz holds 4 labels.*download them again/,
    );
    return true;
  });
});

test("corrupt gzip, bad label and trailing bytes are reported through loadFashionMnist", async () => {
  const corrupt = smallSet(2, 2);
  corrupt.testImages = crypto.randomBytes(300);
  await assert.rejects(
    loadCrafted("corrupt", corrupt),
    (err: unknown) =>
      err instanceof IdxError && err.file === "t10k-images-idx3-ubyte.gz" && /not a valid gzip/.test(err.message),
  );

  const badLabel = smallSet(2, 2);
  badLabel.testLabels = zlib.gzipSync(idx([3], [1, 2, 200]));
  await assert.rejects(
    loadCrafted("badlabel", badLabel),
    (err: unknown) =>
      err instanceof IdxError && /t10k-labels-idx1-ubyte\.gz: label at index 2 is 200/.test(err.message),
  );

  const trailing = smallSet(2, 2);
  trailing.trainImages = zlib.gzipSync(Buffer.concat([idx([2, 28, 28], new Uint8Array(2 * 784)), Buffer.from([1])]));
  await assert.rejects(
    loadCrafted("trailing", trailing),
    (err: unknown) => err instanceof IdxError && /train-images-idx3-ubyte\.gz: 1 trailing bytes/.test(err.message),
  );

  const notImages = smallSet(2, 2);
  notImages.trainImages = zlib.gzipSync(idx([2, 14, 56], new Uint8Array(2 * 784)));
  await assert.rejects(
    loadCrafted("dims", notImages),
    (err: unknown) =>
      err instanceof IdxError && /train-images-idx3-ubyte\.gz: images are 14x56 but 28x28/.test(err.message),
  );
});
