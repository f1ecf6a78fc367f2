/**
 * Downloads a file into a local cache, checking its SHA-256.
 *
 * - Sources ("mirrors") are tried in order. A mirror is an http(s) URL prefix, a
 *   file:// URL, or a path to a local folder that holds the file.
 * - User mirrors come first (options.mirrors, or else env FASHION_MNIST_MIRROR), then
 *   the official Fashion-MNIST locations unless `officialMirrors: false`.
 * - Writes are atomic: the data goes to `<name>.<pid>.<random>.part` in the cache
 *   folder, is fsynced and checked, and only then renamed over `<name>`. A cached
 *   file that fails the check stays where it is until a verified copy replaces it.
 * - Per mirror: bounded retries with a short backoff for transient failures
 *   (network errors, timeouts, 5xx, cut-off bodies), then the next mirror.
 */
import * as fs from "fs";
import * as fsp from "fs/promises";
import * as path from "path";
import * as crypto from "crypto";
import { fileURLToPath } from "url";

import { userPath } from "../runtime/paths";
import { AttemptError, CacheDirError, DownloadError, cacheWriteError, errText, type MirrorFailure } from "./download-errors";
import { downloadHttp } from "./http";

export { CacheDirError, DownloadError, type MirrorFailure } from "./download-errors";
export { proxyFor } from "./http";
import { processAlive } from "../runtime/leftovers";
import { isOutOfMemory, OutOfMemoryError } from "../runtime/memory";

export const MIRROR_ENV = "FASHION_MNIST_MIRROR";

/** Public Fashion-MNIST locations, tried after any user mirror. */
export const OFFICIAL_MIRRORS: readonly string[] = [
  "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
  "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
];

const FILES_LIST =
  "the four Fashion-MNIST .gz files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, " +
  "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz)";

/** What to do when no mirror delivered: set the variable, or, when it is set, check what it points at. */
function fixHint(): string {
  const env = process.env[MIRROR_ENV]?.trim();
  if (env) {
    return (
      `${MIRROR_ENV} is set (${env}) and was tried (see above): check that it is a reachable URL or an ` +
      `existing folder holding ${FILES_LIST}.`
    );
  }
  return (
    `To fix this, set ${MIRROR_ENV} to an http(s) URL or to a local folder that holds ${FILES_LIST}, ` +
    "or pass `mirrors` in the options."
  );
}

/** One progress event of a download, as `onProgress` receives it. */
export interface Progress {
  /** The file's name. */
  file: string;
  /** Bytes received so far from this mirror. */
  received: number;
  /** Expected size, when the source tells us (Content-Length or file size). */
  total?: number;
  /** The mirror being read (a URL or a folder). */
  mirror: string;
  /** true on the last event of a successful transfer. */
  done?: boolean;
}

/** What {@link fetchToCache} fetches, from where, and how patiently. */
export interface FetchOptions {
  /** File name, appended to each mirror and used as the name in the cache folder. */
  name: string;
  /** Expected SHA-256 (hex) of the file. */
  sha256: string;
  /** Expected MD5 (hex); when given it is checked as well after a download. */
  md5?: string;
  /** The cache folder (created when missing). */
  cacheDir: string;
  /** User mirrors, tried first. When omitted, env FASHION_MNIST_MIRROR (if set) is used. */
  mirrors?: string[];
  /** Also try OFFICIAL_MIRRORS after the user mirrors (default true). */
  officialMirrors?: boolean;
  /** Connect and idle timeout per request, in ms (default 30000). */
  timeoutMs?: number;
  /** Attempts per mirror for transient failures (default 2). */
  attempts?: number;
  /** Backoff before retry n is n * retryDelayMs (default 500). */
  retryDelayMs?: number;
  /** Most redirects followed per request (default 5). */
  maxRedirects?: number;
  /** Called as bytes arrive (no progress output by default). */
  onProgress?: (p: Progress) => void;
  /** Receives notices such as "cached copy is corrupt" (default: printed to stderr). */
  onWarning?: (message: string) => void;
  /** Also return the file's bytes (saves reading it again when it is used right away). */
  returnData?: boolean;
}

/** A verified file in the cache, and where it came from. */
export interface FetchResult {
  /** Path of the verified file in the cache. */
  path: string;
  /** true when the cached copy was already good and nothing was downloaded. */
  fromCache: boolean;
  /** The mirror the file came from (when downloaded). */
  mirror?: string;
  /** The file's SHA-256 (hex), as checked. */
  sha256: string;
  /** MD5 of the downloaded bytes (computed on download only). */
  md5?: string;
  /** The file's size in bytes. */
  bytes: number;
  /** true when a corrupt cached copy was replaced by the download. */
  replacedCorrupt: boolean;
  /** The file's bytes, when `returnData` was set. */
  data?: Buffer;
}

/** The mirrors fetchToCache would try, in order. */
export function mirrorList(opts: Pick<FetchOptions, "mirrors" | "officialMirrors">): string[] {
  let user = opts.mirrors;
  if (user === undefined) {
    const env = process.env[MIRROR_ENV]?.trim();
    // A folder in the variable means what it meant where the command was typed.
    user = env ? [isUrl(env) || env.startsWith("file:") ? env : userPath(env)] : [];
  }
  const list = [...user];
  if (opts.officialMirrors !== false) list.push(...OFFICIAL_MIRRORS);
  return list;
}

function isUrl(mirror: string): boolean {
  return /^https?:\/\//i.test(mirror);
}

function joinUrl(prefix: string, name: string): string {
  return prefix.endsWith("/") ? prefix + name : `${prefix}/${name}`;
}

function localDir(mirror: string): string {
  return mirror.startsWith("file:") ? fileURLToPath(mirror) : path.resolve(mirror);
}

/** The bytes of a file and their SHA-256, or null when it does not exist. */
async function readAndHash(file: string): Promise<{ data: Buffer; sha256: string } | null> {
  let data: Buffer;
  try {
    data = await fsp.readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return null;
    // What is wrong is the cache entry, not the file's bytes: say so, and do not download.
    if (code === "EISDIR") {
      throw new CacheDirError(
        path.dirname(file),
        `${file} is a folder, where the cached file ${path.basename(file)} belongs. ` +
          `Remove it (rm -r '${file}') and run again.`,
      );
    }
    if (code === "EACCES" || code === "EPERM") {
      throw new CacheDirError(
        path.dirname(file),
        `Cannot read the cached file ${file} (permission denied). ` +
          `Give yourself access (chmod u+rw '${file}') or remove it, and run again.`,
      );
    }
    if (isOutOfMemory(err)) {
      throw new OutOfMemoryError(`reading the cached file ${file}`, err);
    }
    throw err;
  }
  return { data, sha256: crypto.createHash("sha256").update(data).digest("hex") };
}

/** `.part` files of this name left by downloads whose process is gone (killed, crashed). */
async function removeDeadParts(dir: string, name: string): Promise<void> {
  const entries = await fsp.readdir(dir).catch(() => [] as string[]);
  for (const entry of entries) {
    const m = /^(.*)\.(\d+)\.[0-9a-f]+\.part$/.exec(entry);
    if (m && m[1] === name && !processAlive(Number(m[2]))) await fsp.rm(path.join(dir, entry), { force: true });
  }
}

async function checkWritable(dir: string): Promise<void> {
  const probe = path.join(dir, `.write-probe.${process.pid}.${crypto.randomBytes(4).toString("hex")}`);
  try {
    await fsp.mkdir(dir, { recursive: true });
    await fsp.writeFile(probe, "ok");
    await fsp.unlink(probe);
  } catch (err) {
    throw new CacheDirError(
      dir,
      `Cannot write to the download cache folder ${dir} (${errText(err)}). ` +
        "Choose a writable folder: pass cacheDir in the options (or set FMNIST_DATA_DIR for loadFashionMnist).",
    );
  }
}

/** Receives the bytes of one attempt: writes them to the .part file, hashes and counts them. */
class PartSink {
  private sha = crypto.createHash("sha256");
  private md5 = crypto.createHash("md5");
  received = 0;
  constructor(
    private fh: fsp.FileHandle,
    private dir: string,
    private report: (received: number, total?: number) => void,
  ) {}
  total?: number;

  async write(chunk: Buffer): Promise<void> {
    this.sha.update(chunk);
    this.md5.update(chunk);
    let off = 0;
    try {
      while (off < chunk.length) {
        const { bytesWritten } = await this.fh.write(chunk, off, chunk.length - off);
        off += bytesWritten;
      }
    } catch (err) {
      throw cacheWriteError(this.dir, err);
    }
    this.received += chunk.length;
    this.report(this.received, this.total);
  }

  digests(): { sha256: string; md5: string } {
    return { sha256: this.sha.digest("hex"), md5: this.md5.digest("hex") };
  }
}

async function copyLocal(dir: string, name: string, sink: PartSink): Promise<void> {
  const src = path.join(dir, name);
  let size: number;
  try {
    const st = await fsp.stat(src);
    if (!st.isFile()) throw new AttemptError(`${src} is not a regular file`, false);
    size = st.size;
  } catch (err) {
    if (err instanceof AttemptError) throw err;
    throw new AttemptError(`cannot read ${src} (${errText(err)})`, false);
  }
  sink.total = size;
  try {
    for await (const chunk of fs.createReadStream(src, { highWaterMark: 1 << 20 })) {
      await sink.write(chunk as Buffer);
    }
  } catch (err) {
    if (err instanceof CacheDirError) throw err;
    throw new AttemptError(`reading ${src} failed (${errText(err)})`, true);
  }
}

/**
 * Makes sure `<cacheDir>/<name>` exists and has the expected SHA-256, downloading it
 * when needed from each mirror in turn (http(s) URL, file:// URL or folder;
 * HTTPS_PROXY is honoured), with retries for transient failures. A download is
 * written to a `.part` file, checked, then renamed over the name, so the cache
 * never holds a partial file; a corrupt cached copy is replaced.
 *
 * @throws DownloadError when no mirror delivers a verified copy (`failures`
 *   lists each mirror's attempts and error, and the message says how to set a mirror).
 * @throws CacheDirError when the cache folder cannot be created or written.
 */
export async function fetchToCache(opts: FetchOptions): Promise<FetchResult> {
  const { name, cacheDir } = opts;
  const expected = opts.sha256.toLowerCase();
  const warn = opts.onWarning ?? ((m: string) => process.stderr.write(`warning: ${m}\n`));
  const target = path.join(cacheDir, name);

  let cached: { data: Buffer; sha256: string } | null = null;
  let cacheProblem: string | undefined;
  try {
    cached = await readAndHash(target);
  } catch (err) {
    if (err instanceof CacheDirError || err instanceof OutOfMemoryError) throw err;
    cacheProblem = `cannot read it (${errText(err)})`;
  }
  if (cached?.sha256 === expected) {
    return {
      path: target,
      fromCache: true,
      sha256: expected,
      bytes: cached.data.length,
      replacedCorrupt: false,
      data: opts.returnData ? cached.data : undefined,
    };
  }
  if (cached) cacheProblem = `its SHA-256 is ${cached.sha256}, expected ${expected}`;
  // Drop the cached bytes before downloading (the variable would hold them until the function returns).
  // eslint-disable-next-line no-useless-assignment
  cached = null;
  if (cacheProblem) {
    warn(
      `cached file ${target} failed verification: ${cacheProblem}. ` +
        "Keeping it until a verified copy has been downloaded to replace it.",
    );
  }

  await checkWritable(cacheDir);
  await removeDeadParts(cacheDir, name);

  const mirrors = mirrorList(opts);
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const attempts = Math.max(1, opts.attempts ?? 2);
  const retryDelayMs = opts.retryDelayMs ?? 500;
  const maxRedirects = opts.maxRedirects ?? 5;
  const part = path.join(cacheDir, `${name}.${process.pid}.${crypto.randomBytes(6).toString("hex")}.part`);
  const failures: MirrorFailure[] = [];

  try {
    for (const mirror of mirrors) {
      let lastError = "";
      let tries = 0;
      for (let attempt = 1; attempt <= attempts; attempt++) {
        tries = attempt;
        const fh = await fsp.open(part, "w");
        let closed = false;
        try {
          const sink = new PartSink(fh, cacheDir, (received, total) =>
            opts.onProgress?.({ file: name, received, total, mirror }),
          );
          opts.onProgress?.({ file: name, received: 0, mirror });
          if (isUrl(mirror)) {
            await downloadHttp(joinUrl(mirror, name), sink, timeoutMs, maxRedirects);
          } else {
            await copyLocal(localDir(mirror), name, sink);
          }
          await fh.sync();
          await fh.close();
          closed = true;
          const got = sink.digests();
          if (got.sha256 !== expected || (opts.md5 && got.md5 !== opts.md5.toLowerCase())) {
            throw new AttemptError(
              `checksum mismatch for ${sink.received} bytes: SHA-256 ${got.sha256} (expected ${expected}), ` +
                `MD5 ${got.md5}${opts.md5 ? ` (expected ${opts.md5})` : ""}`,
              false,
            );
          }
          await fsp.rename(part, target);
          await syncDir(cacheDir);
          opts.onProgress?.({ file: name, received: sink.received, total: sink.received, mirror, done: true });
          if (cacheProblem) warn(`replaced the corrupt cached file ${target} with a verified copy from ${mirror}.`);
          return {
            path: target,
            fromCache: false,
            mirror,
            sha256: got.sha256,
            md5: got.md5,
            bytes: sink.received,
            replacedCorrupt: cacheProblem !== undefined,
            data: opts.returnData ? await fsp.readFile(target) : undefined,
          };
        } catch (err) {
          // The cache itself failed (disk full, read-only): no mirror can help.
          if (err instanceof CacheDirError) throw err;
          lastError = errText(err);
          if (!(err instanceof AttemptError) || !err.retry || attempt === attempts) break;
          await new Promise((r) => setTimeout(r, retryDelayMs * attempt));
        } finally {
          if (!closed) await fh.close().catch(() => undefined);
        }
      }
      failures.push({ mirror, attempts: tries, error: lastError });
    }
  } finally {
    await fsp.rm(part, { force: true }).catch(() => undefined);
  }

  const lines = failures.map(
    (f) => `  - ${f.mirror}: ${f.error} (${f.attempts} attempt${f.attempts === 1 ? "" : "s"})`,
  );
  const kept = cacheProblem ? `\nThe cached file ${target} failed verification and was left unchanged.` : "";
  const none =
    mirrors.length === 0 ? "\n  (no mirrors configured: official mirrors are disabled and none were given)" : "";
  throw new DownloadError(
    name,
    failures,
    `Could not download ${name} into ${cacheDir} from any mirror:${none}\n${lines.join("\n")}${kept}\n${fixHint()}`,
  );
}

async function syncDir(dir: string): Promise<void> {
  // Makes the rename durable; not supported everywhere, so best effort.
  try {
    const fh = await fsp.open(dir, "r");
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    /* ignore */
  }
}

/**
 * A small progress reporter for onProgress, writing to stderr: a single line redrawn
 * with \r on a terminal (at most every 100 ms), otherwise one line per 25 %.
 */
export function progressBar(label = "download", stream: NodeJS.WriteStream = process.stderr): (p: Progress) => void {
  const tty = stream.isTTY === true;
  let file = "";
  let lastDraw = 0;
  let lastStep = -1;
  const mb = (n: number) => (n / 1048576).toFixed(1);
  return (p) => {
    if (p.file !== file || p.received === 0) {
      file = p.file;
      lastDraw = 0;
      lastStep = -1;
    }
    const pct = p.total ? Math.min(100, Math.floor((p.received * 100) / p.total)) : undefined;
    const size = p.total !== undefined ? `${mb(p.received)}/${mb(p.total)} MB` : `${mb(p.received)} MB`;
    if (tty) {
      const now = Date.now();
      if (!p.done && now - lastDraw < 100) return;
      lastDraw = now;
      const width = 20;
      const filled = pct === undefined ? 0 : Math.round((pct / 100) * width);
      const bar = pct === undefined ? "" : `[${"#".repeat(filled)}${".".repeat(width - filled)}] ${pct}% `;
      stream.write(`\r${label}: ${p.file} ${bar}${size}\x1b[K${p.done ? "\n" : ""}`);
    } else {
      const step = p.done ? 4 : pct === undefined ? 0 : Math.floor(pct / 25);
      if (step <= lastStep) return;
      lastStep = step;
      stream.write(`${label}: ${p.file} ${pct === undefined ? "" : `${p.done ? 100 : step * 25}% `}${size}\n`);
    }
  };
}
