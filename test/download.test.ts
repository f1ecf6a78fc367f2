import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import * as crypto from "crypto";
import { pathToFileURL } from "url";
import {
  CacheDirError,
  DownloadError,
  FetchOptions,
  OFFICIAL_MIRRORS,
  Progress,
  fetchToCache,
  mirrorList,
  progressBar,
} from "fashion-mnist-lib/dist/data/download";
import { loadFashionMnist, FILES } from "fashion-mnist-lib/dist/data/dataset";
import { TestServer, closedPort, makeTempDir, removeDir, sendFile, sharedDataDir, startServer } from "./helpers";

const NAME = "fake.bin";
const tmp = makeTempDir("fmnist-dl-");
const mirrorDir = path.join(tmp, "mirror");
const content = crypto.randomBytes(300_000);
const sha256 = crypto.createHash("sha256").update(content).digest("hex");
const md5 = crypto.createHash("md5").update(content).digest("hex");
let server: TestServer;
let flakyHits = 0;
let caseNo = 0;

before(async () => {
  fs.mkdirSync(mirrorDir, { recursive: true });
  fs.writeFileSync(path.join(mirrorDir, NAME), content);
  server = await startServer((req, res) => {
    const route = (req.url ?? "").split("/")[1];
    switch (route) {
      case "good":
        return sendFile(mirrorDir, req, res);
      case "real":
        return sendFile(sharedDataDir, req, res);
      case "corrupt":
        return sendFile(mirrorDir, req, res, (b) => {
          const c = Buffer.from(b);
          c[1234] ^= 0xff;
          return c;
        });
      case "redirect":
        res.writeHead(302, { location: `/good/${path.basename(req.url ?? "")}` });
        return res.end();
      case "loop":
        res.writeHead(301, { location: req.url });
        return res.end();
      case "stall-headers":
        return; // never answers
      case "stall-body":
        res.writeHead(200, { "content-length": content.length });
        res.write(content.subarray(0, 1000)); // then nothing more
        return;
      case "truncated":
        res.writeHead(200, { "content-length": content.length });
        res.write(content.subarray(0, 100_000), () => res.destroy());
        return;
      case "reset":
        // Half the body, then a TCP reset (RST), as a dropped connection looks.
        res.writeHead(200, { "content-length": content.length });
        res.write(content.subarray(0, content.length >> 1), () => req.socket.resetAndDestroy());
        return;
      case "error500":
        res.writeHead(500);
        return res.end("internal error");
      case "flaky":
        if (flakyHits++ % 2 === 0) {
          res.writeHead(503);
          return res.end("busy");
        }
        return sendFile(mirrorDir, req, res);
      default:
        res.writeHead(404);
        return res.end();
    }
  });
});

after(async () => {
  await server.close();
  removeDir(tmp);
});

/** A fresh cache folder and options that never touch the official mirrors. */
function setup(mirrors: string[], extra: Partial<FetchOptions> = {}) {
  const cacheDir = path.join(tmp, `cache-${++caseNo}`);
  const warnings: string[] = [];
  const opts: FetchOptions = {
    name: NAME,
    sha256,
    cacheDir,
    mirrors,
    officialMirrors: false,
    timeoutMs: 2000,
    retryDelayMs: 10,
    onWarning: (m) => warnings.push(m),
    ...extra,
  };
  server.requests.length = 0;
  return { cacheDir, opts, warnings, target: path.join(cacheDir, NAME) };
}

const url = (route: string) => `${server.base}/${route}/`;

function listDir(dir: string): string[] {
  return fs.existsSync(dir) ? fs.readdirSync(dir) : [];
}

function isDownloadError(re: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof DownloadError, `expected DownloadError, got ${String(err)}`);
    assert.equal(err.file, NAME);
    assert.match(err.message, re);
    assert.match(err.message, /FASHION_MNIST_MIRROR/);
    return true;
  };
}

test("downloads from a good mirror, reports progress and MD5, leaves no .part file", async () => {
  const events: Progress[] = [];
  const { opts, target, cacheDir } = setup([url("good")], { onProgress: (p) => events.push(p) });
  const r = await fetchToCache(opts);
  assert.equal(r.path, target);
  assert.equal(r.fromCache, false);
  assert.equal(r.mirror, url("good"));
  assert.equal(r.sha256, sha256);
  assert.equal(r.md5, md5);
  assert.equal(r.bytes, content.length);
  assert.ok(fs.readFileSync(target).equals(content));
  assert.deepEqual(listDir(cacheDir), [NAME]);
  assert.deepEqual(server.requests, [`/good/${NAME}`]);
  const last = events[events.length - 1];
  assert.equal(last.done, true);
  assert.equal(last.received, content.length);
  assert.ok(events.some((e) => e.total === content.length && !e.done));
});

test("a mirror answering 404 is skipped without retrying; the next one is used", async () => {
  const { opts } = setup([url("missing"), url("good")], { attempts: 3 });
  const r = await fetchToCache(opts);
  assert.equal(r.mirror, url("good"));
  assert.deepEqual(server.requests, [`/missing/${NAME}`, `/good/${NAME}`]);
});

test("every mirror failing -> DownloadError listing each one, with the HTTP status", async () => {
  const { opts, cacheDir } = setup([url("missing"), url("corrupt")]);
  await assert.rejects(fetchToCache(opts), (err: unknown) => {
    isDownloadError(/missing\/fake\.bin: HTTP 404[\s\S]*corrupt\/: checksum mismatch/)(err);
    assert.equal((err as DownloadError).failures.length, 2);
    return true;
  });
  assert.deepEqual(listDir(cacheDir), []);
});

test("corrupted bytes -> checksum error, nothing kept in the cache", async () => {
  const { opts, cacheDir } = setup([url("corrupt")]);
  await assert.rejects(fetchToCache(opts), isDownloadError(/checksum mismatch.*SHA-256 [0-9a-f]{64} \(expected/));
  assert.deepEqual(listDir(cacheDir), []);
  assert.equal(server.requests.length, 1, "a checksum mismatch is not retried on the same mirror");
});

test("the expected MD5, when given, is checked too", async () => {
  const { opts } = setup([url("good")], { md5: "0".repeat(32) });
  await assert.rejects(fetchToCache(opts), isDownloadError(/MD5 [0-9a-f]{32} \(expected 0{32}\)/));
});

test("a stalled mirror times out and the next mirror is used", async () => {
  const { opts } = setup([url("stall-headers"), url("stall-body"), url("good")], { timeoutMs: 300, attempts: 1 });
  const t0 = Date.now();
  const r = await fetchToCache(opts);
  assert.equal(r.mirror, url("good"));
  assert.ok(Date.now() - t0 < 1800, `took ${Date.now() - t0} ms`);
});

test("a stalled mirror that never recovers: retried, then reported as timed out", async () => {
  const { opts, cacheDir } = setup([url("stall-body")], { timeoutMs: 200, attempts: 2 });
  await assert.rejects(
    fetchToCache(opts),
    isDownloadError(/stall-body\/fake\.bin: no data for 200 ms \(timed out\) \(2 attempts\)/),
  );
  assert.equal(server.requests.length, 2);
  assert.deepEqual(listDir(cacheDir), []);
});

test("connection refused -> next mirror; alone -> DownloadError", async () => {
  const port = await closedPort();
  const dead = `http://127.0.0.1:${port}/data/`;
  const ok = setup([dead, url("good")]);
  assert.equal((await fetchToCache(ok.opts)).mirror, url("good"));
  const bad = setup([dead]);
  await assert.rejects(fetchToCache(bad.opts), isDownloadError(/ECONNREFUSED/));
});

test("a body shorter than its Content-Length is rejected and not cached", async () => {
  const { opts, cacheDir } = setup([url("truncated")]);
  await assert.rejects(
    fetchToCache(opts),
    isDownloadError(/truncated\/fake\.bin: (connection closed after|transfer failed after)/),
  );
  assert.equal(server.requests.length, 2, "retried once");
  assert.deepEqual(listDir(cacheDir), []);
  const next = setup([url("truncated"), url("good")], { attempts: 1 });
  assert.equal((await fetchToCache(next.opts)).mirror, url("good"));
});

test("a connection reset mid-body and an HTTP 500 fall through to the next mirror, nothing cached", async () => {
  const { opts, cacheDir } = setup([url("reset"), url("error500")], { attempts: 2 });
  await assert.rejects(fetchToCache(opts), isDownloadError(/reset\/fake\.bin: .*\n.*error500\/fake\.bin.*500/));
  assert.deepEqual(listDir(cacheDir), []);
  const next = setup([url("reset"), url("error500"), url("good")], { attempts: 1 });
  assert.equal((await fetchToCache(next.opts)).mirror, url("good"));
  assert.deepEqual(listDir(next.cacheDir), [NAME]);
});

test("redirects are followed, and redirect loops are bounded", async () => {
  const { opts, target } = setup([url("redirect")]);
  const r = await fetchToCache(opts);
  assert.ok(fs.readFileSync(target).equals(content));
  assert.equal(r.mirror, url("redirect"));
  assert.deepEqual(server.requests, [`/redirect/${NAME}`, `/good/${NAME}`]);
  const loop = setup([url("loop")]);
  await assert.rejects(fetchToCache(loop.opts), isDownloadError(/more than 5 redirects/));
  assert.equal(server.requests.length, 6);
});

test("transient HTTP 503 is retried on the same mirror", async () => {
  flakyHits = 0;
  const { opts } = setup([url("flaky")], { attempts: 2 });
  const r = await fetchToCache(opts);
  assert.equal(r.mirror, url("flaky"));
  assert.equal(server.requests.length, 2);
});

test("a local folder (path or file:// URL) works as a mirror", async () => {
  const a = setup([path.join(tmp, "nowhere"), mirrorDir]);
  const r = await fetchToCache(a.opts);
  assert.equal(r.mirror, mirrorDir);
  assert.ok(fs.readFileSync(a.target).equals(content));
  const b = setup([pathToFileURL(mirrorDir).href]);
  assert.equal((await fetchToCache(b.opts)).md5, md5);
  const c = setup([path.join(tmp, "nowhere")]);
  await assert.rejects(fetchToCache(c.opts), isDownloadError(/nowhere\/fake\.bin/));
});

test("a good cached file is used as is: no request, same inode and mtime", async () => {
  const { opts, target, cacheDir } = setup([url("good")]);
  fs.mkdirSync(cacheDir, { recursive: true });
  fs.writeFileSync(target, content);
  const past = new Date(Date.now() - 3600_000);
  fs.utimesSync(target, past, past);
  const before = fs.statSync(target);
  const r = await fetchToCache(opts);
  assert.equal(r.fromCache, true);
  assert.equal(r.path, target);
  assert.equal(server.requests.length, 0);
  const now = fs.statSync(target);
  assert.equal(now.ino, before.ino);
  assert.equal(now.mtimeMs, before.mtimeMs);
});

test("a bad download never replaces a good cached file", async () => {
  const { opts, target } = setup([url("corrupt")]);
  fs.mkdirSync(opts.cacheDir, { recursive: true });
  fs.writeFileSync(target, content);
  const ino = fs.statSync(target).ino;
  const r = await fetchToCache(opts);
  assert.equal(r.fromCache, true);
  assert.equal(fs.statSync(target).ino, ino);
  assert.ok(fs.readFileSync(target).equals(content));
});

test("a corrupt cached file is kept until a verified copy replaces it", async () => {
  const { opts, target, warnings, cacheDir } = setup([url("corrupt")]);
  const junk = Buffer.from("not the right bytes");
  fs.mkdirSync(cacheDir, { recursive: true });
  fs.writeFileSync(target, junk);
  const ino = fs.statSync(target).ino;

  // A bad download: the corrupt file stays exactly as it was.
  await assert.rejects(
    fetchToCache(opts),
    isDownloadError(/checksum mismatch[\s\S]*failed verification and was left unchanged/),
  );
  assert.equal(fs.statSync(target).ino, ino);
  assert.ok(fs.readFileSync(target).equals(junk));
  assert.deepEqual(listDir(cacheDir), [NAME]);
  assert.match(warnings[0], /fake\.bin failed verification: its SHA-256 is [0-9a-f]{64}, expected/);

  // A good download: the old file is still there while the new one streams in, then replaced.
  let seenDuring = false;
  const r = await fetchToCache({
    ...opts,
    mirrors: [url("good")],
    onProgress: (p) => {
      if (!p.done && p.received > 0) seenDuring ||= fs.readFileSync(target).equals(junk);
    },
  });
  assert.ok(seenDuring, "old file present during the download");
  assert.equal(r.replacedCorrupt, true);
  assert.equal(r.fromCache, false);
  assert.ok(fs.readFileSync(target).equals(content));
  assert.deepEqual(listDir(cacheDir), [NAME]);
  assert.ok(warnings.some((w) => /replaced the corrupt cached file/.test(w)));
});

test("an unwritable cache folder gives a clear error before any request", async () => {
  const file = path.join(tmp, "plain-file");
  fs.writeFileSync(file, "x");
  const badDir = path.join(file, "sub");
  const { opts } = setup([url("good")], { cacheDir: badDir });
  await assert.rejects(fetchToCache(opts), (err: unknown) => {
    assert.ok(err instanceof CacheDirError);
    assert.equal(err.dir, badDir);
    assert.ok(err.message.includes(badDir));
    assert.match(err.message, /Cannot write to the download cache folder.*ENOTDIR.*writable folder/);
    return true;
  });
  assert.equal(server.requests.length, 0);
});

test("mirror order: options, else FASHION_MNIST_MIRROR, then the official ones", () => {
  const saved = process.env.FASHION_MNIST_MIRROR;
  try {
    process.env.FASHION_MNIST_MIRROR = " /data/fm ";
    assert.deepEqual(mirrorList({}), ["/data/fm", ...OFFICIAL_MIRRORS]);
    assert.deepEqual(mirrorList({ officialMirrors: false }), ["/data/fm"]);
    assert.deepEqual(mirrorList({ mirrors: ["http://a/"], officialMirrors: false }), ["http://a/"]);
    delete process.env.FASHION_MNIST_MIRROR;
    assert.deepEqual(mirrorList({ officialMirrors: false }), []);
    assert.equal(OFFICIAL_MIRRORS[0], "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/");
  } finally {
    if (saved === undefined) delete process.env.FASHION_MNIST_MIRROR;
    else process.env.FASHION_MNIST_MIRROR = saved;
  }
});

test("no mirrors at all -> DownloadError that says what to do", async () => {
  const { opts } = setup([]);
  await assert.rejects(fetchToCache(opts), isDownloadError(/no mirrors configured/));
});

test("progressBar: one line per 25 % when not a terminal, \\r redraws on a terminal", () => {
  const lines: string[] = [];
  const fake = {
    isTTY: false,
    write: (s: string) => {
      lines.push(s);
      return true;
    },
  } as unknown as NodeJS.WriteStream;
  const bar = progressBar("fm", fake);
  const total = 4 << 20;
  for (let r = 0; r <= total; r += 1 << 16) bar({ file: "f.gz", received: r, total, mirror: "m" });
  bar({ file: "f.gz", received: total, total, mirror: "m", done: true });
  assert.deepEqual(
    lines.map((l) => l.split(" ")[2]),
    ["0%", "25%", "50%", "75%", "100%"],
  );
  assert.ok(lines.every((l) => l.startsWith("fm: f.gz ") && l.endsWith("\n")));

  const out: string[] = [];
  const tty = {
    isTTY: true,
    write: (s: string) => {
      out.push(s);
      return true;
    },
  } as unknown as NodeJS.WriteStream;
  const bar2 = progressBar("fm", tty);
  for (let r = 0; r <= total; r += 1 << 16) bar2({ file: "f.gz", received: r, total, mirror: "m" });
  bar2({ file: "f.gz", received: total, total, mirror: "m", done: true });
  assert.ok(out.length >= 2 && out.length < 10, `throttled: ${out.length} writes`);
  assert.ok(out.every((s) => s.startsWith("\r")));
  // eslint-disable-next-line no-control-regex -- the terminal's erase-line escape
  assert.match(out[out.length - 1], /\[#{20}\] 100% 4\.0\/4\.0 MB\x1b\[K\n$/);
});

test("the four real files download through a local HTTP mirror via loadFashionMnist", async () => {
  const cacheDir = path.join(tmp, "real-cache");
  server.requests.length = 0;
  const data = await loadFashionMnist({ cacheDir, mirrors: [url("real")], officialMirrors: false, quiet: true });
  assert.equal(data.train.count, 60000);
  assert.equal(data.test.count, 10000);
  assert.equal(data.train.images.length, 60000 * 784);
  assert.deepEqual(
    listDir(cacheDir).sort(),
    Object.values(FILES)
      .map((f) => f.name)
      .sort(),
  );
  assert.equal(server.requests.length, 4);
  // A second load is served from the verified cache without any request.
  server.requests.length = 0;
  const again = await loadFashionMnist({ cacheDir, mirrors: [url("real")], officialMirrors: false, quiet: true });
  assert.equal(server.requests.length, 0);
  assert.equal(again.test.count, 10000);
});
