// Property-based tests of the IDX reader: whatever bytes arrive, the result is
// either a correct parse or an IdxError that names the file. 13,000 generated
// cases per run (fast-check picks a fresh seed each run and prints it on failure).
import { test } from "node:test";
import assert from "node:assert/strict";
import * as zlib from "zlib";
import fc from "fast-check";
import {
  IdxError,
  gunzipIdx,
  gunzipImagesScaled,
  parseIdx,
  parseImages,
  parseLabels,
} from "fashion-mnist-lib/dist/data/idx";
import { normalize } from "fashion-mnist-lib/dist/data/dataset";

const FILE = "generated.idx";

/** Builds an IDX file of unsigned bytes with the given dimensions and values. */
function idxFile(dims: number[], values: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + values.length);
  const view = new DataView(out.buffer);
  out[2] = 0x08;
  out[3] = dims.length;
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(values, 4 + 4 * dims.length);
  return out;
}

/** A well-formed label (1-D) or image (3-D) file with small dimensions. */
const validIdx = fc
  .oneof(
    fc.tuple(fc.integer({ min: 0, max: 40 })),
    fc.tuple(fc.integer({ min: 0, max: 4 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 })),
  )
  .chain((dims) => {
    const n = dims.reduce((a, b) => a * b, 1);
    const max = dims.length === 1 ? 9 : 255;
    return fc.tuple(fc.constant(dims as number[]), fc.uint8Array({ minLength: n, maxLength: n, max }));
  });

/** Runs `f`; passes if it returns or throws an IdxError naming the file, fails on any other throw. */
function parsesOrIdxError<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch (err) {
    assert.ok(
      err instanceof IdxError,
      `expected IdxError, got ${(err as Error)?.constructor?.name}: ${(err as Error)?.message}`,
    );
    assert.ok(err.message.includes(FILE), `error message names the file: ${err.message}`);
    assert.equal(err.file, FILE);
    return undefined;
  }
}

function checkConsistent(r: { dims: number[]; data: Uint8Array } | undefined): void {
  if (!r) return;
  assert.ok(r.dims.length === 1 || r.dims.length === 3);
  assert.equal(
    r.data.length,
    r.dims.reduce((a, b) => a * b, 1),
  );
}

test("random bytes: a consistent parse or an IdxError, nothing else (4,000 cases)", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 120 }), (bytes) => {
      checkConsistent(parsesOrIdxError(() => parseIdx(bytes, FILE)));
      parsesOrIdxError(() => parseImages(bytes, FILE));
      parsesOrIdxError(() => parseLabels(bytes, FILE));
    }),
    { numRuns: 4000 },
  );
});

test("random headers with the right magic: consistent parse or IdxError (2,000 cases)", () => {
  const header = fc.tuple(
    fc.integer({ min: 0, max: 5 }),
    fc.array(fc.integer({ min: 0, max: 2 ** 32 - 1 }), { maxLength: 5 }),
    fc.uint8Array({ maxLength: 64 }),
  );
  fc.assert(
    fc.property(header, ([ndim, dims, tail]) => {
      const bytes = idxFile(dims.slice(0, ndim), tail);
      bytes[3] = ndim;
      checkConsistent(parsesOrIdxError(() => parseIdx(bytes, FILE)));
    }),
    { numRuns: 2000 },
  );
});

test("well-formed files parse back to exactly their dimensions and values (2,000 cases)", () => {
  fc.assert(
    fc.property(validIdx, ([dims, values]) => {
      const r = parseIdx(idxFile(dims, values), FILE);
      assert.deepEqual(r.dims, dims);
      assert.deepEqual(Array.from(r.data), Array.from(values));
      if (dims.length === 1) assert.equal(parseLabels(idxFile(dims, values), FILE).count, dims[0]);
      else assert.deepEqual(parseImages(idxFile(dims, values), FILE).pixels.length, values.length);
    }),
    { numRuns: 2000 },
  );
});

test("truncated or extended well-formed files always give an IdxError (2,000 cases)", () => {
  fc.assert(
    fc.property(
      validIdx,
      fc.integer({ min: -50, max: 50 }).filter((d) => d !== 0),
      ([dims, values], delta) => {
        const good = idxFile(dims, values);
        const len = Math.max(0, good.length + delta);
        fc.pre(len !== good.length);
        const bad = new Uint8Array(len);
        bad.set(good.subarray(0, Math.min(len, good.length)));
        assert.throws(
          () => parseIdx(bad, FILE),
          (e: unknown) => e instanceof IdxError && e.message.includes(FILE),
        );
      },
    ),
    { numRuns: 2000 },
  );
});

test("one mutated byte: a consistent parse or an IdxError (2,000 cases)", () => {
  fc.assert(
    fc.property(validIdx, fc.nat(), fc.integer({ min: 0, max: 255 }), ([dims, values], pos, byte) => {
      const bytes = idxFile(dims, values);
      bytes[pos % bytes.length] = byte;
      checkConsistent(parsesOrIdxError(() => parseIdx(bytes, FILE)));
      parsesOrIdxError(() => parseLabels(bytes, FILE));
    }),
    { numRuns: 2000 },
  );
});

test("damaged gzip streams give an IdxError, intact ones round-trip (1,000 cases)", () => {
  fc.assert(
    fc.property(validIdx, fc.nat(), fc.boolean(), ([dims, values], cut, flip) => {
      const raw = idxFile(dims, values);
      const gz = zlib.gzipSync(raw);
      assert.deepEqual(new Uint8Array(gunzipIdx(gz, FILE)), raw);
      const damaged = Uint8Array.from(gz.subarray(0, 10 + (cut % (gz.length - 10))));
      if (flip) damaged[damaged.length - 1] ^= 0xff;
      const out = parsesOrIdxError(() => gunzipIdx(damaged, FILE));
      // A cut stream can never inflate to the full file.
      if (out) assert.notDeepEqual(new Uint8Array(out), raw);
    }),
    { numRuns: 1000 },
  );
});

test("the scaled image load agrees with gunzip + parseImages + normalize on intact and damaged files (600 cases)", async () => {
  await fc.assert(
    fc.asyncProperty(
      validIdx,
      fc.nat(),
      fc.nat(),
      fc.integer({ min: 0, max: 3 }),
      async ([dims, values], at, byte, damage) => {
        const raw = idxFile(dims, values);
        let gz: Uint8Array = zlib.gzipSync(raw);
        // 0: intact; 1: one byte of the IDX changed before compressing; 2: stream cut; 3: one compressed byte changed.
        if (damage === 1) gz = zlib.gzipSync(Uint8Array.from(raw, (v, i) => (i === at % raw.length ? byte % 256 : v)));
        if (damage === 2) gz = gz.subarray(0, 10 + (at % (gz.length - 10)));
        if (damage === 3) gz = Uint8Array.from(gz, (v, i) => (i === at % gz.length ? v ^ (1 + (byte % 255)) : v));
        const twoStep = parsesOrIdxError(() => parseImages(gunzipIdx(gz, FILE), FILE));
        let scaled: Awaited<ReturnType<typeof gunzipImagesScaled>> | undefined;
        try {
          scaled = await gunzipImagesScaled(gz, FILE);
        } catch (err) {
          parsesOrIdxError(() => {
            throw err;
          });
        }
        assert.equal(scaled !== undefined, twoStep !== undefined, "both paths accept the file, or both reject it");
        if (scaled && twoStep) {
          assert.deepEqual([scaled.count, scaled.rows, scaled.cols], [twoStep.count, twoStep.rows, twoStep.cols]);
          assert.deepEqual(scaled.pixels, normalize(twoStep.pixels));
        }
      },
    ),
    { numRuns: 600 },
  );
});
