/** Shared helpers for the tests that drive a real JupyterLab (the project's .venv) in Chromium. */
import { spawn, type ChildProcess } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as net from "net";
import * as path from "path";
import type { Page } from "playwright-core";
import { screenshot } from "./browser";
import { sharedDataDir } from "./helpers";

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** Thrown from a waitFor probe to stop waiting at once. */
export class Fatal extends Error {}

/** Calls `probe` every half second until it returns a value (not undefined), throws Fatal, or time runs out. */
export async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      if (err instanceof Fatal) throw err;
      last = err;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(
    `timed out after ${timeoutMs / 1000}s waiting for ${what}${last ? ` (last error: ${String(last)})` : ""}`,
  );
}

/** Clicks a menu bar menu, then the item that runs `command`, as a user would. */
export async function menuCommand(page: Page, menu: string, command: string): Promise<void> {
  const bar = page.locator(".lm-MenuBar-item", { hasText: new RegExp(`^${menu}$`) });
  const item = page.locator(`.lm-Menu-item[data-command='${command}']`);
  await waitFor(`the ${menu} menu item ${command}`, 60_000, async () => {
    if (!(await item.isVisible())) await bar.click({ timeout: 5_000 });
    await item.waitFor({ timeout: 5_000 });
    return true;
  }).catch(async (err) => {
    await screenshot(page, "jupyterlab-menu-failed.png").catch(() => undefined);
    const items = await page.evaluate(() =>
      Array.from(document.querySelectorAll(".lm-Menu-item, .lm-MenuBar-item")).map(
        (e) => `${e.className}|${e.getAttribute("data-command")}|${(e.textContent ?? "").trim()}`,
      ),
    );
    throw new Error(`${String(err)}\nmenu items: ${items.join("; ")}`);
  });
  await item.click();
}

/**
 * Environment for a private Jupyter home under `dir`: no user configuration,
 * settings, workspaces, trust database or nbgrader cache leak in or out. Lab
 * attaches every cell to the page (so tests see all outputs) and asks no
 * "get Jupyter news?" question.
 */
export function privateJupyterHome(dir: string): NodeJS.ProcessEnv {
  const sub = (name: string) => {
    const d = path.join(dir, name);
    fs.mkdirSync(d, { recursive: true });
    return d;
  };
  const env = {
    JUPYTER_CONFIG_DIR: sub("config"),
    JUPYTER_DATA_DIR: sub("jupyter-data"),
    JUPYTER_RUNTIME_DIR: sub("runtime"),
    JUPYTERLAB_SETTINGS_DIR: sub("settings"),
    JUPYTERLAB_WORKSPACES_DIR: sub("workspaces"),
  };
  const setting = (plugin: string, file: string, value: unknown) => {
    const d = path.join(env.JUPYTERLAB_SETTINGS_DIR, "@jupyterlab", plugin);
    fs.mkdirSync(d, { recursive: true });
    fs.writeFileSync(path.join(d, file), JSON.stringify(value));
  };
  setting("notebook-extension", "tracker.jupyterlab-settings", { windowingMode: "none" });
  setting("apputils-extension", "notification.jupyterlab-settings", { fetchNews: "false" });
  return env;
}

/**
 * What a Lab under test starts with: the dataset from the local mirror, the cache in `<tmp>/data`, a
 * private Jupyter home in `<tmp>/<home>`, nothing of ours set (but `extra`).
 */
export function labEnv(tmp: string, home: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of Object.keys(env))
    if (/^(FMNIST_|FM_|COURSE_|NBGRADER_|JUPYTER)/.test(name) || name === "INIT_CWD") delete env[name];
  return {
    ...env,
    FASHION_MNIST_MIRROR: sharedDataDir,
    FMNIST_DATA_DIR: path.join(tmp, "data"),
    ...privateJupyterHome(path.join(tmp, home)),
    ...extra,
  };
}

/** Process ids of every live descendant of `pid` (read from /proc). */
export function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${name}/stat`, "utf8");
    } catch {
      continue; // exited meanwhile
    }
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
  }
  const out: number[] = [];
  const stack = [...(children.get(pid) ?? [])];
  while (stack.length) {
    const p = stack.pop()!;
    out.push(p);
    stack.push(...(children.get(p) ?? []));
  }
  return out;
}

/** A process's command line and environment (empty when it is gone). */
export function processInfo(pid: number): { cmdline: string; env: Record<string, string> } {
  try {
    const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim();
    const env: Record<string, string> = {};
    for (const kv of fs.readFileSync(`/proc/${pid}/environ`, "utf8").split("\0")) {
      const i = kv.indexOf("=");
      if (i > 0) env[kv.slice(0, i)] = kv.slice(i + 1);
    }
    return { cmdline, env };
  } catch {
    return { cmdline: "", env: {} };
  }
}

export interface LabServer {
  /** http://127.0.0.1:PORT */
  base: string;
  token: string;
  /** The server's process id (the launch scripts exec Jupyter). */
  pid: number;
  /** A URL of the server with the token. */
  url(pathAndQuery: string): string;
  /** fetch() with the token. */
  api(pathAndQuery: string, init?: RequestInit): Promise<Response>;
  /** Everything the server printed so far. */
  log(): string;
  /** Shuts the server down through its API, then kills whatever it left behind; its exit code ("killed" if it had to be). */
  stop(): Promise<number | string | null>;
}

/**
 * Starts a Jupyter server through one of the project's launch scripts
 * (`bash SCRIPT ARGS... --no-browser --port=P ...`) on 127.0.0.1 with a random
 * port and token, and waits until it answers.
 */
export async function startLab(script: string, args: string[], env: NodeJS.ProcessEnv): Promise<LabServer> {
  const port = await freePort();
  const token = crypto.randomBytes(16).toString("hex");
  const base = `http://127.0.0.1:${port}`;
  const out: string[] = [];
  const child: ChildProcess = spawn(
    "bash",
    [
      script,
      ...args,
      "--no-browser",
      `--port=${port}`,
      `--IdentityProvider.token=${token}`,
      "--ServerApp.port_retries=0",
    ],
    { env, stdio: ["ignore", "pipe", "pipe"] },
  );
  child.stdout!.on("data", (b: Buffer) => out.push(b.toString()));
  child.stderr!.on("data", (b: Buffer) => out.push(b.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const api = (p: string, init: RequestInit = {}) =>
    fetch(`${base}${p}`, { ...init, headers: { Authorization: `token ${token}`, ...(init.headers ?? {}) } });
  const within = <T>(ms: number, p: Promise<T>) =>
    Promise.race([p, new Promise<"timeout">((r) => setTimeout(() => r("timeout"), ms))]);
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    // Kernels run in sessions of their own: note them (with their command lines,
    // so a reused process id is never hit) while the server still has them.
    const seen = descendants(child.pid!).map((p) => ({ p, cmdline: processInfo(p).cmdline }));
    let code: number | string | null = "killed";
    try {
      await within(10_000, api("/api/shutdown", { method: "POST" }));
      const c = await within(30_000, exited);
      if (c !== "timeout") code = c;
    } catch {
      // not answering: killed below
    }
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      if ((await within(10_000, exited)) === "timeout") child.kill("SIGKILL");
    }
    for (const { p, cmdline } of seen) {
      if (!cmdline || processInfo(p).cmdline !== cmdline) continue; // gone (or the id was reused)
      try {
        process.kill(p, "SIGKILL");
      } catch {
        // gone meanwhile
      }
    }
    return code;
  };
  const server: LabServer = {
    base,
    token,
    pid: child.pid!,
    url: (p) => `${base}${p}${p.includes("?") ? "&" : "?"}token=${token}`,
    api,
    log: () => out.join(""),
    stop,
  };
  try {
    await waitFor("the Jupyter server to answer", 90_000, async () => {
      if (child.exitCode !== null) throw new Fatal(`the server exited (${child.exitCode}):\n${server.log()}`);
      const res = await api("/api/status");
      return res.ok ? true : undefined;
    });
  } catch (err) {
    await stop();
    throw err;
  }
  return server;
}
