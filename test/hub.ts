// What the hub tests and the hub's load bench share: starting `npm run hub`'s
// script (scripts/hub.sh) on a roster, the class's Unix users, and driving the
// hub's pages in Chromium as its users do.
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "child_process";
import * as fs from "fs";
import * as path from "path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { readNb, repoRoot, sharedDataDir, text } from "./helpers";
import { descendants, processInfo, waitFor } from "./lab";

export const A = "idx-parsing";
export const HUB_SCRIPT = path.join(repoRoot, "scripts", "hub.sh");
export const isRoot = process.getuid?.() === 0;
/** The first folder above the checkout that other users cannot pass through (the hub then refuses, saying so). */
function closedAncestor(): string | undefined {
  for (let dir = path.dirname(repoRoot); ; dir = path.dirname(dir)) {
    if ((fs.statSync(dir).mode & 0o001) === 0) return dir;
    if (dir === path.dirname(dir)) return undefined;
  }
}
const closed = closedAncestor();
export const SKIP = !isRoot
  ? "needs root: the hub creates a Unix user per roster line (CI runs as root)"
  : closed
    ? `${closed} is closed to other users (chmod o+x): a class's users could not run anything from this checkout`
    : false;
// What no feedback page may show: the hidden tests' markers and their assertions' texts.
export const HIDDEN =
  /HIDDEN TESTS|sizes above 255|grid\.idx|big\.idx|float\.idx|cut\.idx|tiny\.idx|long\.idx|library's parser/;

/** The environment the hub is started with: nothing of ours set but the dataset's local mirror. */
export function hubEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of Object.keys(env))
    if (/^(FMNIST_|FM_|COURSE_|NBGRADER_|JUPYTER)/.test(name) || name === "INIT_CWD") delete env[name];
  return { ...env, FASHION_MNIST_MIRROR: sharedDataDir, ...extra };
}

/** `bash scripts/hub.sh ARGS` to its end (bounded), for the commands that do not start a hub. */
export function hubCommand(args: string[], timeoutMs = 120_000): { status: number | null; output: string } {
  const res = spawnSync("bash", [HUB_SCRIPT, ...args], { encoding: "utf8", env: hubEnv(), timeout: timeoutMs });
  return { status: res.status, output: `${res.stdout}${res.stderr}` };
}

export const userExists = (name: string) => spawnSync("getent", ["passwd", name]).status === 0;
/** A user's home folder, from the password database. */
export function homeOf(name: string): string {
  const entry = spawnSync("getent", ["passwd", name], { encoding: "utf8" }).stdout.trim();
  assert.ok(entry, `no account ${name}`);
  return entry.split(":")[5];
}

/** Runs a shell command as `user` (runuser), returning its exit code and output. */
export function asUser(user: string, command: string): { status: number | null; output: string } {
  const res = spawnSync("runuser", ["-u", user, "--", "sh", "-c", command], { encoding: "utf8", timeout: 30_000 });
  return { status: res.status, output: `${res.stdout}${res.stderr}` };
}

export interface RunningHub {
  base: string;
  pid: number;
  log(): string;
  /** SIGTERM, as Ctrl-C or a service manager would, and waits (bounded) for the hub to exit. */
  terminate(): Promise<void>;
  /** terminate(), then kills anything the hub started that is still alive. */
  stop(): Promise<void>;
}

/** Live (not zombie) processes owned by the given Unix users: their command lines. */
export function processesOf(uids: Set<number>): string[] {
  const out: string[] = [];
  for (const n of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(n)) continue;
    try {
      if (!uids.has(fs.statSync(`/proc/${n}`).uid)) continue;
      const stat = fs.readFileSync(`/proc/${n}/stat`, "utf8");
      if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) continue;
      out.push(`${n}: ${processInfo(Number(n)).cmdline}`);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** What a caller adds to startHub's command line (e.g. `--extra-config FILE`) and environment. */
export interface HubOptions {
  args?: string[];
  env?: NodeJS.ProcessEnv;
}

/** Starts `scripts/hub.sh --roster R --state S --port P` and waits (bounded) until the hub answers. */
export async function startHub(
  roster: string,
  state: string,
  port: number,
  dataDir: string,
  options: HubOptions = {},
): Promise<RunningHub> {
  const out: string[] = [];
  const child: ChildProcess = spawn(
    "bash",
    [HUB_SCRIPT, "--roster", roster, "--state", state, "--port", String(port), ...(options.args ?? [])],
    { env: hubEnv({ FMNIST_DATA_DIR: dataDir, ...options.env }), stdio: ["ignore", "pipe", "pipe"] },
  );
  child.stdout!.on("data", (b: Buffer) => out.push(b.toString()));
  child.stderr!.on("data", (b: Buffer) => out.push(b.toString()));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const base = `http://127.0.0.1:${port}`;
  const log = () => out.join("");
  // (unref: a pending timer must not keep the test's process alive once the hub is gone)
  const within = (ms: number, p: Promise<void>) =>
    Promise.race([p.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms).unref())]);
  // Everything the hub started (proxy, users' servers, their kernels), noted while the hub still has them.
  const seen = new Map<number, string>();
  const note = () => {
    for (const p of descendants(child.pid!)) if (!seen.has(p)) seen.set(p, processInfo(p).cmdline);
  };
  const terminate = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      note();
      child.kill("SIGTERM"); // the hub stops every server (and they their kernels) and the proxy
      if (!(await within(60_000, exited))) child.kill("SIGKILL");
      await within(10_000, exited);
    }
  };
  const stop = async () => {
    await terminate();
    for (const [p, cmdline] of seen) {
      if (!cmdline || processInfo(p).cmdline !== cmdline) continue; // gone (or the id was reused)
      try {
        process.kill(p, "SIGKILL");
      } catch {
        // gone meanwhile
      }
    }
  };
  const noter = setInterval(() => {
    if (child.exitCode === null) note();
  }, 2_000);
  exited.then(
    () => clearInterval(noter),
    () => undefined,
  );
  try {
    // The first start also builds .cache/hub/venv from PyPI (scripts/setup-hub.sh): minutes, once.
    await waitFor("the hub to answer", 10 * 60_000, async () => {
      if (child.exitCode !== null) throw new Error(`the hub exited (${child.exitCode}):\n${log()}`);
      if (!/JupyterHub is now running at/.test(log())) return undefined;
      const res = await fetch(`${base}/hub/api`);
      return res.ok ? true : undefined;
    });
  } catch (err) {
    await stop();
    clearInterval(noter);
    throw err;
  }
  return { base, pid: child.pid!, log, terminate, stop };
}

/** The passwords the hub printed for new accounts (`  user  role  password  name`). */
export function printedPasswords(log: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const m of log.matchAll(/^ {2}(\S+)\s+(?:instructor|student)\s+(\S+)\s/gm)) found.set(m[1], m[2]);
  return found;
}

/** A browser context per user; every request off the hub's address is refused and recorded. */
export async function userContext(browser: Browser, base: string, offsite: string[]): Promise<BrowserContext> {
  const ctx = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  await ctx.route("**/*", (route) => {
    const url = route.request().url();
    if (url.startsWith(base) || url.startsWith("data:") || url.startsWith("blob:") || url === "about:srcdoc")
      return route.continue();
    offsite.push(url);
    return route.abort();
  });
  return ctx;
}

/** Logs in on the hub's login page; returns the page once the user's server has answered. */
export async function login(ctx: BrowserContext, base: string, user: string, password: string): Promise<Page> {
  const page = await ctx.newPage();
  await page.goto(`${base}/hub/login`, { timeout: 60_000 });
  await page.fill("#username_input", user);
  await page.fill("#password_input", password);
  await page.click("#login_submit");
  // The hub starts the server, then sends the browser to its default page.
  await page.waitForURL(new RegExp(`/user/${user}/(lab|formgrader)`), { timeout: 180_000 });
  return page;
}

/** JupyterLab loaded, its file browser listing the home folder. */
export async function labReady(page: Page): Promise<void> {
  await page.locator(".jp-LabShell").waitFor({ timeout: 120_000 });
  await page.locator(".jp-DirListing-item").first().waitFor({ timeout: 60_000 });
}

export async function openAssignments(page: Page): Promise<void> {
  await page.locator(".lm-MenuBar-item", { hasText: /^Nbgrader$/ }).click({ timeout: 30_000 });
  await page.locator(".lm-Menu-item[data-command='nbgrader:open-assignment-list']").click({ timeout: 30_000 });
  await page.locator("#released_assignments_list").waitFor({ timeout: 30_000 });
}

/** Clicks a Formgrader action link in `row`, waits for its result window, closes it, returns its text. */
export async function formgraderAction(page: Page, row: ReturnType<Page["locator"]>, column: string): Promise<string> {
  await row.locator(`td.${column} a`).click({ timeout: 30_000 });
  const modal = page.locator("#success-modal:visible, #error-modal:visible");
  await modal.waitFor({ timeout: 4 * 60_000 });
  const body = await modal.innerText();
  const ok = (await page.locator("#success-modal:visible").count()) > 0;
  await modal.locator(".modal-footer button").first().click();
  await modal.waitFor({ state: "hidden", timeout: 30_000 });
  assert.ok(ok, `the Formgrader's ${column} failed:\n${body.slice(0, 4000)}`);
  return body;
}

/** The released notebook's solution cell as a student would write it: the reader right, or without input checks. */
export function solutionText(kind: "right" | "partial"): string {
  const source = readNb(path.join(repoRoot, "exercises", "source", A, `${A}.ipynb`));
  const cell = source.cells.find((c) => c.metadata.nbgrader?.solution);
  assert.ok(cell, "the source has a solution cell");
  const right = text(cell.source)
    .split("\n")
    .filter((l) => !/(BEGIN|END) SOLUTION/.test(l))
    .join("\n");
  if (kind === "right") return right;
  // Passes 3 of the 4 test cells (6 of 8 points): the same reader as test/course.test.ts's "partial".
  return right.replace(
    /function readIdx[\s\S]*$/,
    [
      "function readIdx(bytes: Uint8Array, file: string): Idx {",
      "  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);",
      "  const dims: number[] = [];",
      "  for (let i = 0; i < bytes[3]; i++) dims.push(view.getUint32(4 + 4 * i, false));",
      "  return { dims, data: bytes.subarray(4 + 4 * dims.length) };",
      "}",
    ].join("\n"),
  );
}
