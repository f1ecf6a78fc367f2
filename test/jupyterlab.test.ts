// The main notebook in a real JupyterLab (the project's .venv), driven through
// its UI in Debian's Chromium: Run > Run All Cells in small mode, then check
// that Plotly charts drew and images loaded with no error output, and that the
// page made no request outside the local server. The server is shut down
// through its API.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as net from "net";
import * as path from "path";
import type { Page } from "playwright-core";
import { removeDir, repoRoot, smallRunEnv } from "./helpers";
import { checkRendering, launchChromium, screenshot } from "./browser";

const venv = path.join(repoRoot, ".venv", "bin");

async function freePort(): Promise<number> {
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
class Fatal extends Error {}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
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
  throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}${last ? ` (last error: ${String(last)})` : ""}`);
}

/** Code-cell prompts ("[3]:", "[*]:", "[ ]:") and error outputs of the open notebook. */
async function notebookState(page: Page) {
  return page.evaluate(() => {
    const prompts = Array.from(document.querySelectorAll(".jp-Notebook .jp-CodeCell .jp-InputArea-prompt")).map((p) => (p.textContent ?? "").trim());
    const errors = Array.from(document.querySelectorAll(".jp-Notebook .jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr'], .jp-Notebook .jp-OutputArea-output.jp-mod-error, .jp-Notebook [data-mime-type='application/vnd.jupyter.error']")).map((e) => (e.textContent ?? "").slice(0, 300));
    return { prompts, errors };
  });
}

test("JupyterLab runs the main notebook through its UI; charts and images render live", { timeout: 20 * 60_000 }, async () => {
  const work = fs.mkdtempSync(path.join(repoRoot, ".cache", "lab-test-"));
  // Under the repo, so the kernel resolves `fashion-mnist-lib` from node_modules.
  const root = path.join(work, "notebooks");
  fs.mkdirSync(root);
  const nbPath = path.join(root, "fashion-mnist-cnn.ipynb");
  fs.copyFileSync(path.join(repoRoot, "notebooks", "fashion-mnist-cnn.ipynb"), nbPath);
  const jupyterHome = (name: string) => {
    const d = path.join(work, name);
    fs.mkdirSync(d, { recursive: true });
    return d;
  };
  const env = {
    ...process.env,
    ...smallRunEnv(jupyterHome("data")),
    // A private Jupyter home: no user config, settings, workspaces or trust database leak in or out.
    JUPYTER_CONFIG_DIR: jupyterHome("config"),
    JUPYTER_DATA_DIR: jupyterHome("jupyter-data"),
    JUPYTER_RUNTIME_DIR: jupyterHome("runtime"),
    JUPYTERLAB_SETTINGS_DIR: jupyterHome("settings"),
    JUPYTERLAB_WORKSPACES_DIR: jupyterHome("workspaces"),
  };
  // Attach every cell to the page (JupyterLab otherwise only attaches the cells
  // near the viewport), so the test can see all prompts and outputs at once.
  const trackerSettings = path.join(env.JUPYTERLAB_SETTINGS_DIR, "@jupyterlab", "notebook-extension");
  fs.mkdirSync(trackerSettings, { recursive: true });
  fs.writeFileSync(path.join(trackerSettings, "tracker.jupyterlab-settings"), JSON.stringify({ windowingMode: "none" }));
  const sourceCells = (JSON.parse(fs.readFileSync(nbPath, "utf8")) as { cells: { cell_type: string }[] }).cells;
  const codeCells = sourceCells.filter((c) => c.cell_type === "code").length;
  const port = await freePort();
  const token = crypto.randomBytes(16).toString("hex");
  const base = `http://127.0.0.1:${port}`;
  const log: string[] = [];
  let server: ChildProcess | undefined = spawn(
    path.join(venv, "jupyter"),
    ["lab", "--no-browser", "--ip=127.0.0.1", `--port=${port}`, `--IdentityProvider.token=${token}`, `--ServerApp.root_dir=${root}`, "--ServerApp.port_retries=0", ...(process.getuid?.() === 0 ? ["--allow-root"] : [])],
    { env, stdio: ["ignore", "pipe", "pipe"] },
  );
  server.stdout!.on("data", (b: Buffer) => log.push(b.toString()));
  server.stderr!.on("data", (b: Buffer) => log.push(b.toString()));
  const exited = new Promise<number | null>((resolve) => server!.once("exit", (code) => resolve(code)));
  const browser = await launchChromium();
  try {
    await waitFor("the Jupyter server to answer", 90_000, async () => {
      const res = await fetch(`${base}/api/status`, { headers: { Authorization: `token ${token}` } });
      return res.ok ? true : undefined;
    });
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const offsite: string[] = [];
    await page.route("**/*", (route) => {
      const url = route.request().url();
      if (url.startsWith(base) || url.startsWith("data:") || url.startsWith("blob:")) return route.continue();
      offsite.push(url);
      return route.abort();
    });
    const consoleErrors: string[] = [];
    page.on("pageerror", (e) => consoleErrors.push(String(e)));

    await page.goto(`${base}/lab/tree/fashion-mnist-cnn.ipynb?token=${token}`, { timeout: 120_000 });
    await page.locator(".jp-NotebookPanel .jp-Notebook .jp-CodeCell").first().waitFor({ timeout: 120_000 });
    // Wait for the tslab kernel to be idle before running (status in the notebook toolbar).
    // and connected: the status bar names the kernel and its state ("TypeScript | Idle").
    await page.locator(".jp-StatusBar-Widget", { hasText: /TypeScript \| Idle/ }).first().waitFor({ timeout: 120_000 });
    await page.locator(".jp-NotebookPanel .jp-Notebook-ExecutionIndicator[data-status='idle']").first().waitFor({ timeout: 120_000 });
    await page.waitForTimeout(2_000);

    // Run > Run All Cells, as a user would.
    const runMenu = page.locator(".lm-MenuBar-item", { hasText: /^Run$/ });
    const runAll = page.locator(".lm-Menu-item[data-command='runmenu:run-all']");
    await waitFor("the Run > Run All Cells menu item", 60_000, async () => {
      if (!(await runAll.isVisible())) await runMenu.click({ timeout: 5_000 });
      await runAll.waitFor({ timeout: 5_000 });
      return true;
    }).catch(async (err) => {
      await screenshot(page, "jupyterlab-menu-failed.png").catch(() => undefined);
      const items = await page.evaluate(() => Array.from(document.querySelectorAll(".lm-Menu-item, .lm-MenuBar-item")).map((e) => `${e.className}|${e.getAttribute("data-command")}|${(e.textContent ?? "").trim()}`));
      throw new Error(`${String(err)}\nmenu items: ${items.join("; ")}`);
    });
    await runAll.click();

    assert.equal((await notebookState(page)).prompts.length, codeCells, "every code cell is on the page");
    await waitFor("all cells to finish (every prompt numbered)", 15 * 60_000, async () => {
      if (await page.locator(".jp-Dialog").isVisible()) throw new Fatal(`a dialog blocks the run: ${await page.locator(".jp-Dialog").innerText()}`);
      const s = await notebookState(page);
      if (s.errors.length) throw new Fatal(`error output while running: ${s.errors.join(" | ")}`);
      return s.prompts.length === codeCells && s.prompts.every((p) => /^\[\d+\]:$/.test(p)) ? s : undefined;
    }).catch(async (err) => {
      await screenshot(page, "jupyterlab-run-failed.png").catch(() => undefined);
      throw err;
    });
    const after = await notebookState(page);
    assert.deepEqual(after.errors, [], "no error or stderr outputs");

    const checkCharts = async (when: string) => {
      // Scroll every output into view once so the browser lays everything out.
      await page.evaluate(async () => {
        for (const el of Array.from(document.querySelectorAll(".jp-Notebook .jp-OutputArea-output"))) {
          el.scrollIntoView();
          await new Promise((r) => setTimeout(r, 30));
        }
      });
      const shown = await waitFor(`${when}: at least 4 Plotly charts drawn`, 120_000, async () => {
        const s = await checkRendering(page, ".jp-NotebookPanel .jp-Notebook");
        return s.charts.length >= 4 && s.charts.every((c) => c.traces > 0 && c.drawn === c.traces) ? s : undefined;
      });
      assert.ok(shown.images.length >= 60, `${when}: image grids present (${shown.images.length} images)`);
      const broken = shown.images.filter((i) => !i.complete || i.naturalWidth === 0);
      assert.deepEqual(broken, [], `${when}: every image loaded`);
      return shown;
    };
    const live = await checkCharts("after Run All");
    await page.evaluate(() => document.querySelectorAll(".js-plotly-plot")[2]?.scrollIntoView());
    await screenshot(page, "jupyterlab-live.png");

    // Not done yet: save, make the file untrusted, reload and check the charts
    // again. A first attempt found no Plotly chart on the page after the reload
    // (see the report of issue 3); until that is understood this test covers
    // the live run only.
    assert.deepEqual(offsite, [], "JupyterLab and the outputs made no request outside the local server");

    // Clean shutdown through the server API.
    const res = await fetch(`${base}/api/shutdown`, { method: "POST", headers: { Authorization: `token ${token}` } });
    assert.ok(res.ok, `shutdown request answered ${res.status}`);
    const code = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r("timeout"), 30_000))]);
    assert.equal(code, 0, `the server exited cleanly (exit ${code})`);
    server = undefined;
  } catch (err) {
    throw new Error(`${err instanceof Error ? err.message : String(err)}\n--- server log (tail) ---\n${log.join("").slice(-3000)}`);
  } finally {
    await browser.close();
    if (server && server.exitCode === null) {
      server.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (server.exitCode === null) server.kill("SIGKILL");
    }
    removeDir(work);
  }
});
