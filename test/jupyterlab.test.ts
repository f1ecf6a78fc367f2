// The main notebook in a real JupyterLab (the project's .venv), driven through
// its UI in Debian's Chromium: Run > Run All Cells in small mode, then check
// that Plotly charts drew (the live training chart up to the last epoch) and
// images loaded with no error output. Then File > Save Notebook, remove the
// notebook's signature (so its outputs are untrusted, as for a notebook someone
// sent you), load the page again and check the charts and images render again.
// In between, File > Save and Export Notebook As > HTML, sanitized (the dialog's
// default) and not, and both downloads checked like every exported page.
// No request may leave the local server; the server is shut down through its API.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import type { Page } from "playwright-core";
import { Fatal, freePort, menuCommand, waitFor } from "./lab";
import { removeDir, repoRoot, smallRunEnv } from "./helpers";
import { artifactsDir, checkExportedPage, checkRendering, launchChromium, screenshot } from "./browser";
import { checkModelPanel } from "./model-panel-browser";
import { PLOTLY_MIME } from "fashion-mnist-lib/dist/display/display";

const venv = path.join(repoRoot, ".venv", "bin");

interface SavedNotebook {
  cells: {
    cell_type: string;
    execution_count?: number | null;
    outputs?: { output_type: string; name?: string; data?: Record<string, unknown> }[];
  }[];
}

/** Checks (and with "unsign" removes) a notebook's signature, with the notary the Jupyter server uses. */
const NOTARY_SCRIPT = `
import json, sys
import nbformat
from nbformat.sign import NotebookNotary
nb = nbformat.read(sys.argv[1], as_version=4)
notary = NotebookNotary()
before = notary.check_signature(nb)
if sys.argv[2] == "unsign":
    notary.unsign(nb)
print(json.dumps({"before": before, "after": notary.check_signature(nb)}))
`;

/** Code-cell prompts ("[3]:", "[*]:", "[ ]:") and error outputs of the open notebook. */
async function notebookState(page: Page) {
  return page.evaluate(() => {
    const prompts = Array.from(document.querySelectorAll(".jp-Notebook .jp-CodeCell .jp-InputArea-prompt")).map((p) =>
      (p.textContent ?? "").trim(),
    );
    const errors = Array.from(
      document.querySelectorAll(
        ".jp-Notebook .jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr'], .jp-Notebook .jp-OutputArea-output.jp-mod-error, .jp-Notebook [data-mime-type='application/vnd.jupyter.error']",
      ),
    ).map((e) => (e.textContent ?? "").slice(0, 300));
    return { prompts, errors };
  });
}

test(
  "JupyterLab runs the main notebook through its UI; charts and images render live and after reopening untrusted",
  { timeout: 20 * 60_000 },
  async (t) => {
    const epochs = 2;
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
      // Two epochs, so the training cell's live chart is updated at least once.
      FMNIST_EPOCHS: String(epochs),
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
    fs.writeFileSync(
      path.join(trackerSettings, "tracker.jupyterlab-settings"),
      JSON.stringify({ windowingMode: "none" }),
    );
    // No "get notified about Jupyter news?" prompt over the screenshots (and no news fetch).
    const notificationSettings = path.join(env.JUPYTERLAB_SETTINGS_DIR, "@jupyterlab", "apputils-extension");
    fs.mkdirSync(notificationSettings, { recursive: true });
    fs.writeFileSync(
      path.join(notificationSettings, "notification.jupyterlab-settings"),
      JSON.stringify({ fetchNews: "false" }),
    );
    const sourceCells = (JSON.parse(fs.readFileSync(nbPath, "utf8")) as { cells: { cell_type: string }[] }).cells;
    const codeCells = sourceCells.filter((c) => c.cell_type === "code").length;
    const port = await freePort();
    const token = crypto.randomBytes(16).toString("hex");
    const base = `http://127.0.0.1:${port}`;
    const log: string[] = [];
    let server: ChildProcess | undefined = spawn(
      path.join(venv, "jupyter"),
      [
        "lab",
        "--no-browser",
        "--ip=127.0.0.1",
        `--port=${port}`,
        `--IdentityProvider.token=${token}`,
        `--ServerApp.root_dir=${root}`,
        "--ServerApp.port_retries=0",
        ...(process.getuid?.() === 0 ? ["--allow-root"] : []),
      ],
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
      await page
        .locator(".jp-StatusBar-Widget", { hasText: /TypeScript \| Idle/ })
        .first()
        .waitFor({ timeout: 120_000 });
      await page
        .locator(".jp-NotebookPanel .jp-Notebook-ExecutionIndicator[data-status='idle']")
        .first()
        .waitFor({ timeout: 120_000 });
      await page.waitForTimeout(2_000);

      await menuCommand(page, "Run", "runmenu:run-all");

      assert.equal((await notebookState(page)).prompts.length, codeCells, "every code cell is on the page");
      await waitFor("all cells to finish (every prompt numbered)", 15 * 60_000, async () => {
        if (await page.locator(".jp-Dialog").isVisible())
          throw new Fatal(`a dialog blocks the run: ${await page.locator(".jp-Dialog").innerText()}`);
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
      await checkCharts("after Run All");
      // The model panel (section 5.8): its script ran (the session's own outputs are trusted); used as a reader would.
      const panel = await checkModelPanel(page, 0);
      t.diagnostic(
        `model panel in JupyterLab: ${panel.checked} test images, max |page - notebook| ${panel.maxDifference.toExponential(2)}, first prediction ${panel.firstPredictionMs} ms after page load`,
      );
      await screenshot(page, "jupyterlab-model-panel.png");
      // The training cell's live chart is updated in place every epoch; it must end
      // up showing the same history as the chart drawn after training.
      const histories = await page.evaluate(() =>
        Array.from(document.querySelectorAll(".jp-Notebook .js-plotly-plot"))
          .slice(0, 2)
          .map((gd) =>
            ((gd as unknown as { data?: { x?: unknown[]; y?: unknown[] }[] }).data ?? []).map((t) => ({
              x: t.x ?? [],
              y: t.y ?? [],
            })),
          ),
      );
      assert.equal(histories.length, 2);
      assert.ok(
        histories[0].length > 0 && histories[0].every((t) => t.x.at(-1) === epochs),
        `the live training chart reached epoch ${epochs}: ${JSON.stringify(histories[0])}`,
      );
      assert.deepEqual(histories[0], histories[1], "the live training chart shows the final history");
      await page.evaluate(() => document.querySelectorAll(".js-plotly-plot")[2]?.scrollIntoView());
      await screenshot(page, "jupyterlab-live.png");

      // Save through the UI (File > Save Notebook) and wait until the file on disk
      // holds the run: every code cell numbered, the Plotly outputs present.
      // Plotly's renderer stores a PNG snapshot of each chart in its output shortly
      // after drawing it (which dirties the notebook), so let that settle first.
      await page.waitForTimeout(2_000);
      const savedMtime = fs.statSync(nbPath).mtimeMs;
      await menuCommand(page, "File", "docmanager:save");
      const saved = await waitFor("the saved notebook on disk", 60_000, async () => {
        if (fs.statSync(nbPath).mtimeMs === savedMtime) return undefined;
        if (await page.locator(".lm-TabBar-tab.jp-mod-dirty").count()) return undefined;
        const nb = JSON.parse(fs.readFileSync(nbPath, "utf8")) as SavedNotebook;
        const code = nb.cells.filter((c) => c.cell_type === "code");
        return code.length === codeCells && code.every((c) => typeof c.execution_count === "number") ? nb : undefined;
      });
      const outputs = saved.cells.flatMap((c) => c.outputs ?? []);
      const plotlyOutputs = outputs.filter((o) => o.data?.[PLOTLY_MIME]);
      const withSnapshot = plotlyOutputs.filter((o) => typeof o.data?.["image/png"] === "string").length;
      assert.equal(plotlyOutputs.length, 4, "the saved notebook holds the 4 Plotly outputs");
      assert.deepEqual(
        outputs.filter((o) => o.output_type === "error" || (o.output_type === "stream" && o.name === "stderr")),
        [],
        "no error outputs saved",
      );

      // What git compares of the saved notebook (scripts/nbclean.py) is the committed notebook: running it leaves a checkout clean.
      fs.mkdirSync(artifactsDir, { recursive: true });
      fs.copyFileSync(nbPath, path.join(artifactsDir, "jupyterlab-saved.ipynb"));
      const cleaned = spawnSync("python3", [path.join(repoRoot, "scripts", "nbclean.py")], {
        input: fs.readFileSync(nbPath, "utf8"),
        encoding: "utf8",
      });
      assert.equal(
        cleaned.stdout,
        fs.readFileSync(path.join(repoRoot, "notebooks", "fashion-mnist-cnn.ipynb"), "utf8"),
        "JupyterLab's save, cleaned, is the committed notebook",
      );

      // Export through the menu, as a user does: File > Save and Export Notebook As
      // > HTML, once with the dialog's "Sanitize HTML output" left checked (its
      // default) and once unchecked. JupyterLab opens the server's nbconvert URL in
      // a new tab, which downloads the page; the test keeps what the server sent.
      const exported: { url: string; disposition: string; body: Buffer }[] = [];
      await page.context().route("**/nbconvert/html/**", async (route) => {
        const response = await route.fetch();
        exported.push({
          url: route.request().url(),
          disposition: response.headers()["content-disposition"] ?? "",
          body: await response.body(),
        });
        await route.fulfill({ response });
      });
      const exportFromMenu = async (sanitize: boolean, name: string) => {
        const before = exported.length;
        await page.locator(".lm-MenuBar-item", { hasText: /^File$/ }).click();
        await page.locator(".lm-Menu-item[data-type='submenu']", { hasText: "Save and Export Notebook As" }).hover();
        await page.locator(".lm-Menu-item[data-command='notebook:export-to-format']", { hasText: /^HTML$/ }).click();
        const dialog = page.locator(".jp-Dialog");
        await dialog.waitFor({ timeout: 30_000 });
        assert.match(await dialog.innerText(), /Sanitize HTML output/);
        const box = dialog.locator("input[type='checkbox']");
        assert.equal(await box.isChecked(), true, "the dialog sanitizes by default");
        if (!sanitize) await box.uncheck();
        await dialog.locator(".jp-mod-accept").click();
        const got = await waitFor(`the ${name} export`, 120_000, async () => exported[before]);
        assert.equal(/sanitize_html=true/.test(got.url), sanitize, `the export URL asks for sanitizing: ${got.url}`);
        assert.match(got.disposition, /^attachment;.*fashion-mnist-cnn\.html/, "the browser is told to download it");
        const file = path.join(work, name);
        fs.writeFileSync(file, got.body);
        return file;
      };
      const labSanitized = await exportFromMenu(true, "lab-export-sanitized.html");
      const labInteractive = await exportFromMenu(false, "lab-export.html");
      await checkExportedPage(browser, labSanitized, {
        charts: plotlyOutputs.length,
        interactive: false,
        minImages: 60,
        shot: "export-lab-sanitized.png",
      });
      await checkExportedPage(browser, labInteractive, {
        charts: plotlyOutputs.length,
        interactive: true,
        minImages: 60,
        shot: "export-lab.png",
      });

      // Make the saved outputs untrusted without touching the file: the server
      // signed the notebook when saving it (its cells ran in this session), and
      // trust is that signature in the private Jupyter data dir. Remove it, and
      // check with nbformat's notary (what the server consults on opening).
      const notary = (action: "check" | "unsign") => {
        const r = spawnSync(path.join(venv, "python"), ["-c", NOTARY_SCRIPT, nbPath, action], {
          env,
          encoding: "utf8",
        });
        assert.equal(r.status, 0, `notary ${action} failed: ${r.stderr}`);
        return JSON.parse(r.stdout) as { before: boolean; after: boolean };
      };
      assert.equal(notary("check").before, true, "the server signed the notebook it saved (trusted)");
      assert.equal(notary("unsign").after, false, "signature removed: the notebook is untrusted");

      // Reopen: load the page again; JupyterLab reads the notebook from disk.
      await page.goto(`${base}/lab/tree/fashion-mnist-cnn.ipynb?token=${token}`, { timeout: 120_000 });
      await page.locator(".jp-NotebookPanel .jp-Notebook .jp-CodeCell").first().waitFor({ timeout: 120_000 });
      const trust = page.locator(".jp-StatusItem-trust").first();
      // The indicator counts 0 of 0 until the notebook's cells are loaded.
      const trustTitle = await waitFor("the notebook trust indicator to count every code cell", 60_000, async () => {
        const t = (await trust.getAttribute("title")) ?? "";
        return t.includes(` of ${codeCells} code cells`) ? t : undefined;
      });
      assert.equal(
        trustTitle,
        `Notebook not trusted: 0 of ${codeCells} code cells trusted.`,
        "JupyterLab shows the reopened notebook as untrusted",
      );
      if (await page.locator(".jp-Dialog").isVisible())
        throw new Error(`a dialog is open after reopening: ${await page.locator(".jp-Dialog").innerText()}`);
      const reopened = await notebookState(page);
      assert.deepEqual(reopened.errors, [], "no error outputs after reopening");
      assert.equal(
        reopened.prompts.filter((p) => /^\[\d+\]:$/.test(p)).length,
        codeCells,
        "every cell's output is back",
      );

      // Plotly's renderer first shows the saved PNG snapshot of a chart (an <img>)
      // and draws the interactive chart when the mouse enters it. Check both: the
      // snapshots load, then hovering each one gives a chart with its SVG traces.
      const rendered = page.locator(".jp-Notebook .jp-RenderedPlotly");
      await waitFor("the reopened Plotly outputs", 60_000, async () =>
        (await rendered.count()) === plotlyOutputs.length ? true : undefined,
      );
      const snapshots = await page.evaluate(() =>
        Array.from(document.querySelectorAll<HTMLImageElement>(".jp-Notebook .jp-RenderedPlotly img.plot-img"))
          .filter((i) => i.getAttribute("src"))
          .map((i) => ({ ok: i.complete && i.naturalWidth > 0, shown: getComputedStyle(i).display !== "none" })),
      );
      assert.equal(snapshots.length, withSnapshot, "each saved snapshot is shown");
      assert.ok(
        snapshots.every((s) => s.ok && s.shown),
        `snapshots loaded and visible: ${JSON.stringify(snapshots)}`,
      );
      // Untrusted, the panel's scripts are stripped: its note says how to get it back.
      const panelNote = page.locator(".jp-Notebook .fm-model-panel .fm-model-panel-note");
      assert.match((await panelNote.textContent()) ?? "", /needs its script/, "the untrusted panel shows its note");
      assert.equal(await page.locator(".jp-Notebook .fm-model-panel[data-state]").count(), 0, "no panel script ran");
      const drawnBeforeHover = (await checkRendering(page, ".jp-NotebookPanel .jp-Notebook")).charts.length;
      await rendered.first().scrollIntoViewIfNeeded();
      await screenshot(page, "jupyterlab-reopened-snapshots.png");
      t.diagnostic(
        `saved: ${plotlyOutputs.length} Plotly outputs, ${withSnapshot} with a PNG snapshot; reopened: ${snapshots.length} snapshots shown, ${drawnBeforeHover} interactive charts before hovering; trust: ${trustTitle}`,
      );
      for (let i = 0; i < plotlyOutputs.length; i++) {
        await rendered.nth(i).scrollIntoViewIfNeeded();
        await rendered.nth(i).hover();
      }
      const again = await checkCharts("after reopening (untrusted)");
      assert.equal(again.charts.length, plotlyOutputs.length, "one drawn chart per saved Plotly output");
      await page.evaluate(() => document.querySelectorAll(".js-plotly-plot")[0]?.scrollIntoView());
      await screenshot(page, "jupyterlab-reopened.png");

      assert.deepEqual(offsite, [], "JupyterLab and the outputs made no request outside the local server");

      // Clean shutdown through the server API.
      const res = await fetch(`${base}/api/shutdown`, { method: "POST", headers: { Authorization: `token ${token}` } });
      assert.ok(res.ok, `shutdown request answered ${res.status}`);
      const code = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r("timeout"), 30_000))]);
      assert.equal(code, 0, `the server exited cleanly (exit ${code})`);
      server = undefined;
    } catch (err) {
      throw new Error(
        `${err instanceof Error ? err.message : String(err)}\n--- server log (tail) ---\n${log.join("").slice(-3000)}`,
        { cause: err },
      );
    } finally {
      await browser.close();
      if (server && server.exitCode === null) {
        server.kill("SIGTERM");
        await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
        if (server.exitCode === null) server.kill("SIGKILL");
      }
      removeDir(work);
    }
  },
);
