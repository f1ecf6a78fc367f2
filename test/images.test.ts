import { test } from "node:test";
import assert from "node:assert/strict";
import { inflateSync } from "zlib";
import {
  encodePng,
  imageGridHtml,
  imageGridPng,
  imageToPng,
  pngSize,
  upscale,
} from "fashion-mnist-lib/dist/display/images";

// ---------------------------------------------------------------------------
// An independent PNG reader, just enough for what encodePng writes.
// ---------------------------------------------------------------------------

/** Bit-by-bit CRC-32 (no table), deliberately unlike the encoder's implementation. */
function referenceCrc32(bytes: Uint8Array): number {
  let crc = ~0;
  for (const byte of bytes) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) {
      const mask = -(crc & 1);
      crc = (crc >>> 1) ^ (0xedb88320 & mask);
    }
  }
  return ~crc >>> 0;
}

interface Chunk {
  type: string;
  data: Buffer;
}

interface DecodedPng {
  width: number;
  height: number;
  bitDepth: number;
  colorType: number;
  interlace: number;
  channels: number;
  pixels: Uint8Array;
  chunks: string[];
}

function readChunks(png: Buffer): Chunk[] {
  assert.deepEqual([...png.subarray(0, 8)], [137, 80, 78, 71, 13, 10, 26, 10], "PNG signature");
  const chunks: Chunk[] = [];
  let pos = 8;
  while (pos < png.length) {
    assert.ok(pos + 12 <= png.length, "truncated chunk header");
    const length = png.readUInt32BE(pos);
    const type = png.toString("ascii", pos + 4, pos + 8);
    const data = png.subarray(pos + 8, pos + 8 + length);
    const crc = png.readUInt32BE(pos + 8 + length);
    assert.equal(crc, referenceCrc32(png.subarray(pos + 4, pos + 8 + length)), `CRC of ${type}`);
    chunks.push({ type, data });
    pos += 12 + length;
  }
  assert.equal(pos, png.length, "no trailing bytes");
  return chunks;
}

function decodePng(png: Buffer): DecodedPng {
  const chunks = readChunks(png);
  assert.equal(chunks[0].type, "IHDR", "IHDR comes first");
  assert.equal(chunks[chunks.length - 1].type, "IEND", "IEND comes last");
  assert.equal(chunks[chunks.length - 1].data.length, 0, "IEND is empty");
  const ihdr = chunks[0].data;
  assert.equal(ihdr.length, 13);
  const width = ihdr.readUInt32BE(0);
  const height = ihdr.readUInt32BE(4);
  const [bitDepth, colorType, compression, filterMethod, interlace] = ihdr.subarray(8, 13);
  assert.equal(compression, 0);
  assert.equal(filterMethod, 0);
  const channels = colorType === 0 ? 1 : colorType === 2 ? 3 : NaN;
  assert.ok(!Number.isNaN(channels), `unexpected colour type ${colorType}`);
  const idat = Buffer.concat(chunks.filter((c) => c.type === "IDAT").map((c) => c.data));
  const raw = inflateSync(idat);
  const stride = width * channels;
  assert.equal(raw.length, (stride + 1) * height, "inflated size");
  const pixels = new Uint8Array(stride * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    assert.equal(filter, 0, `row ${y} uses filter type 0`);
    pixels.set(raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1)), y * stride);
  }
  return { width, height, bitDepth, colorType, interlace, channels, pixels, chunks: chunks.map((c) => c.type) };
}

function randomBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s >>> 24;
  }
  return out;
}

// ---------------------------------------------------------------------------
// encodePng
// ---------------------------------------------------------------------------

test("encodePng grayscale round-trips through an independent decoder", () => {
  const pixels = randomBytes(7 * 5, 1);
  const png = encodePng(7, 5, pixels, 1);
  const d = decodePng(png);
  assert.deepEqual(
    { width: d.width, height: d.height, bitDepth: d.bitDepth, colorType: d.colorType, interlace: d.interlace },
    { width: 7, height: 5, bitDepth: 8, colorType: 0, interlace: 0 },
  );
  assert.deepEqual(d.chunks, ["IHDR", "IDAT", "IEND"]);
  assert.deepEqual(d.pixels, pixels);
  assert.deepEqual(pngSize(png), { width: 7, height: 5 });
});

test("encodePng RGB round-trips, including extreme values and a 1x1 image", () => {
  const pixels = randomBytes(4 * 3 * 3, 2);
  pixels[0] = 0;
  pixels[1] = 255;
  const d = decodePng(encodePng(4, 3, pixels, 3));
  assert.equal(d.colorType, 2);
  assert.equal(d.channels, 3);
  assert.deepEqual(d.pixels, pixels);

  const one = decodePng(encodePng(1, 1, new Uint8Array([200]), 1));
  assert.deepEqual([one.width, one.height, ...one.pixels], [1, 1, 200]);
});

test("encodePng accepts a Buffer and agrees with zlib.crc32 when node has it", () => {
  const png = encodePng(3, 2, Buffer.from([1, 2, 3, 4, 5, 6]), 1);
  const zlibCrc = (require("zlib") as { crc32?: (b: Uint8Array) => number }).crc32;
  if (zlibCrc) {
    for (const c of readChunks(png)) {
      const typeAndData = Buffer.concat([Buffer.from(c.type, "ascii"), c.data]);
      assert.equal(zlibCrc(typeAndData), referenceCrc32(typeAndData));
    }
  }
  assert.deepEqual([...decodePng(png).pixels], [1, 2, 3, 4, 5, 6]);
});

test("encodePng rejects bad arguments, naming them", () => {
  assert.throws(
    () => encodePng(2, 2, new Uint8Array(3), 1),
    /encodePng: pixels has 3 values but width\*height\*channels/,
  );
  assert.throws(() => encodePng(2, 2, new Uint8Array(4), 3), /encodePng: pixels has 4 values/);
  assert.throws(() => encodePng(0, 2, new Uint8Array(0), 1), /encodePng: width must be a positive integer/);
  assert.throws(() => encodePng(2, 1.5, new Uint8Array(3), 1), /encodePng: height must be a positive integer/);
  assert.throws(() => encodePng(1, 1, new Uint8Array(2), 2 as 1), /encodePng: channels must be 1/);
  assert.throws(() => encodePng(1, 1, [1] as unknown as Uint8Array, 1), /encodePng: pixels must be a Uint8Array/);
});

// ---------------------------------------------------------------------------
// Upscaling and imageToPng
// ---------------------------------------------------------------------------

test("upscale turns each source pixel into an exact scale x scale block", () => {
  const rows = 3;
  const cols = 4;
  const src = randomBytes(rows * cols, 3);
  for (const scale of [1, 2, 5]) {
    const big = upscale(src, rows, cols, scale);
    assert.equal(big.length, rows * cols * scale * scale);
    for (let y = 0; y < rows * scale; y++) {
      for (let x = 0; x < cols * scale; x++) {
        const expected = src[Math.floor(y / scale) * cols + Math.floor(x / scale)];
        assert.equal(big[y * cols * scale + x], expected, `scale ${scale} at (${x}, ${y})`);
      }
    }
  }
});

test("imageToPng picks the indexed image of a batch and upscales it pixel-exactly", () => {
  const rows = 28;
  const cols = 28;
  const batch = randomBytes(3 * rows * cols, 4);
  const scale = 3;
  const d = decodePng(imageToPng(batch, 2, { rows, cols, scale }));
  assert.equal(d.width, cols * scale);
  assert.equal(d.height, rows * scale);
  assert.equal(d.colorType, 0);
  const src = batch.subarray(2 * rows * cols, 3 * rows * cols);
  for (let y = 0; y < d.height; y++) {
    for (let x = 0; x < d.width; x++) {
      assert.equal(d.pixels[y * d.width + x], src[Math.floor(y / scale) * cols + Math.floor(x / scale)]);
    }
  }
});

test("imageToPng defaults: 28x28, scale 4; Float32Array read as 0..1 unless told otherwise", () => {
  const floats = new Float32Array(28 * 28);
  floats[0] = 1;
  floats[1] = 0.5;
  floats[2] = -0.2; // clamped
  floats[3] = 1.7; // clamped
  const d = decodePng(imageToPng(floats, 0));
  assert.equal(d.width, 112);
  assert.equal(d.height, 112);
  assert.deepEqual([d.pixels[0], d.pixels[4], d.pixels[8], d.pixels[12]], [255, 128, 0, 255]);

  const raw = new Float32Array([0, 17, 254.6, 300]);
  const r = decodePng(imageToPng(raw, 0, { rows: 2, cols: 2, scale: 1, range: "0..255" }));
  assert.deepEqual([...r.pixels], [0, 17, 255, 255]);
});

test("imageToPng rejects bad arguments, naming them", () => {
  const one = new Uint8Array(784);
  assert.throws(
    () => imageToPng(new Uint8Array(783), 0),
    /imageToPng: pixels has 783 values, which is not a positive multiple of rows\*cols = 784/,
  );
  assert.throws(() => imageToPng(new Uint8Array(0), 0), /imageToPng: pixels has 0 values/);
  assert.throws(() => imageToPng(one, 0, { scale: 0 }), /imageToPng: opts.scale must be a positive integer, got 0/);
  assert.throws(() => imageToPng(one, 0, { scale: -2 }), /imageToPng: opts.scale/);
  assert.throws(() => imageToPng(one, 0, { scale: 1.5 }), /imageToPng: opts.scale/);
  assert.throws(() => imageToPng(one, 1), /imageToPng: index must be an integer in \[0, 0\], got 1/);
  assert.throws(() => imageToPng(one, -1), /imageToPng: index/);
  assert.throws(() => imageToPng(one, 0, { rows: 0 }), /imageToPng: opts.rows must be a positive integer/);
  assert.throws(
    () => imageToPng([1, 2] as unknown as Uint8Array, 0),
    /imageToPng: pixels must be a Uint8Array or Float32Array/,
  );
  const nan = new Float32Array(784);
  nan[5] = NaN;
  assert.throws(() => imageToPng(nan, 0), /imageToPng: pixels\[5\] is NaN/);
  assert.throws(() => imageToPng(one, 0, { range: "0..100" as "0..1" }), /imageToPng: opts.range/);
});

// ---------------------------------------------------------------------------
// imageGridPng
// ---------------------------------------------------------------------------

test("imageGridPng lays images out in a plain grid with gaps", () => {
  const a = new Uint8Array([10, 20, 30, 40]);
  const b = new Uint8Array([50, 60, 70, 80]);
  const c = new Uint8Array([90, 100, 110, 120]);
  const d = decodePng(imageGridPng([a, b, c], { rows: 2, cols: 2, scale: 2, columns: 2, gap: 1, background: 7 }));
  // 2 columns x 2 rows of 4x4 cells, 1px gaps.
  assert.equal(d.width, 9);
  assert.equal(d.height, 9);
  const at = (x: number, y: number) => d.pixels[y * d.width + x];
  assert.equal(at(0, 0), 10);
  assert.equal(at(3, 3), 40);
  assert.equal(at(4, 0), 7); // vertical gap
  assert.equal(at(5, 0), 50);
  assert.equal(at(8, 3), 80);
  assert.equal(at(0, 4), 7); // horizontal gap
  assert.equal(at(0, 5), 90);
  assert.equal(at(3, 8), 120);
  assert.equal(at(5, 5), 7); // empty cell
});

test("imageGridPng rejects bad arguments, naming them", () => {
  assert.throws(() => imageGridPng([]), /imageGridPng: images must be a non-empty array/);
  assert.throws(
    () => imageGridPng([new Uint8Array(784), new Uint8Array(10)]),
    /imageGridPng: images\[1\] has 10 values but rows\*cols = 784/,
  );
  assert.throws(() => imageGridPng([new Uint8Array(784)], { scale: 0 }), /imageGridPng: opts.scale/);
  assert.throws(() => imageGridPng([new Uint8Array(784)], { columns: 0 }), /imageGridPng: opts.columns/);
});

// ---------------------------------------------------------------------------
// imageGridHtml
// ---------------------------------------------------------------------------

function imgSources(html: string): string[] {
  return [...html.matchAll(/<img\b[^>]*\bsrc="data:image\/png;base64,([A-Za-z0-9+/=]+)"/g)].map((m) => m[1]);
}

test("imageGridHtml: one <img> per item with a valid, upscaled base64 PNG", () => {
  const items = Array.from({ length: 7 }, (_, i) => ({
    pixels: randomBytes(784, 10 + i),
    caption: `item ${i}`,
    subcaption: i % 2 ? "odd" : undefined,
    tone: i % 2 ? ("bad" as const) : ("ok" as const),
  }));
  const html = imageGridHtml(items, { columns: 4, scale: 2, title: "Seven" });
  assert.equal((html.match(/<img\b/g) ?? []).length, 7);
  assert.equal((html.match(/<figure\b/g) ?? []).length, 7);
  const sources = imgSources(html);
  assert.equal(sources.length, 7);
  sources.forEach((b64, i) => {
    const d = decodePng(Buffer.from(b64, "base64"));
    assert.equal(d.width, 56);
    assert.equal(d.height, 56);
    const src = items[i].pixels;
    for (let y = 0; y < 56; y += 5) {
      for (let x = 0; x < 56; x += 3) {
        assert.equal(d.pixels[y * 56 + x], src[(y >> 1) * 28 + (x >> 1)]);
      }
    }
  });
  assert.match(html, /grid-template-columns:repeat\(4, \d+px\)/);
  assert.match(html, /image-rendering:pixelated/);
  assert.match(html, />Seven</);
});

test("imageGridHtml escapes captions and contains no scripts or external resources", () => {
  const evil = `<script>alert("x")</script> & 'quoted' "double"`;
  const html = imageGridHtml(
    [
      { pixels: new Uint8Array(784), caption: evil, subcaption: `<img src=x onerror=alert(1)>`, tone: "bad" },
      { pixels: new Float32Array(784).fill(0.5), caption: "A & B" },
    ],
    { title: "<b>title</b>" },
  );
  assert.doesNotMatch(html, /<script/i);
  assert.ok(
    html.includes("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;quoted&#39; &quot;double&quot;"),
  );
  assert.ok(html.includes("&lt;img src=x onerror=alert(1)&gt;"));
  assert.ok(html.includes("A &amp; B"));
  assert.ok(html.includes("&lt;b&gt;title&lt;/b&gt;"));
  assert.equal((html.match(/<img\b/g) ?? []).length, 2, "only the two real images");
  assert.doesNotMatch(html, /<style|<link|<iframe|javascript:|https?:\/\//i);
  // Real tags (escaped text has no raw '<') carry no event-handler attributes.
  for (const tag of html.match(/<[a-z][^>]*>/gi) ?? []) {
    const attrs = [...tag.replace(/"[^"]*"/g, '""').matchAll(/\s([a-z-]+)=/gi)].map((m) => m[1].toLowerCase());
    assert.ok(
      attrs.every((a) => !a.startsWith("on")),
      `no event handler in ${tag.slice(0, 60)}`,
    );
  }
  // Every src is an inline data URL.
  for (const m of html.matchAll(/\bsrc="([^"]*)"/g)) assert.match(m[1], /^data:image\/png;base64,/);
});

test("imageGridHtml scopes itself with a class unique to its content", () => {
  const item = { pixels: new Uint8Array(784), caption: "x" };
  const a = imageGridHtml([item]);
  const b = imageGridHtml([{ ...item, caption: "y" }]);
  const cls = (h: string) => /class="(fm-grid-[0-9a-f]+)"/.exec(h)?.[1];
  assert.ok(cls(a));
  assert.notEqual(cls(a), cls(b));
  assert.equal(cls(a), cls(imageGridHtml([item])), "deterministic");
});

test("imageGridHtml rejects bad arguments, naming them", () => {
  assert.throws(() => imageGridHtml([]), /imageGridHtml: items must be a non-empty array/);
  assert.throws(
    () =>
      imageGridHtml([
        { pixels: new Uint8Array(784), caption: "ok" },
        { pixels: new Uint8Array(783), caption: "short" },
      ]),
    /imageGridHtml: items\[1\].pixels has 783 values but rows\*cols = 784/,
  );
  assert.throws(
    () => imageGridHtml([{ pixels: new Uint8Array(784), caption: "a" }], { scale: 0 }),
    /imageGridHtml: opts.scale/,
  );
  assert.throws(
    () => imageGridHtml([{ pixels: new Uint8Array(784), caption: "a" }], { columns: -1 }),
    /imageGridHtml: opts.columns/,
  );
  assert.throws(
    () => imageGridHtml([{ pixels: new Uint8Array(784), caption: 3 as unknown as string }]),
    /imageGridHtml: items\[0\].caption must be a string/,
  );
});
