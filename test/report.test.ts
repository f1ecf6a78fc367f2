// `npm run report` end to end: the main notebook executed small, exported to
// one self-contained HTML file, then opened in Debian's Chromium with every
// non-file request blocked: every chart must draw, every image load, and the
// console stay free of errors. A failing notebook must give a marked report
// and a non-zero exit.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { pathToFileURL } from "url";
import { makeTempDir, removeDir, repoRoot, smallRunEnv } from "./helpers";
import { checkRendering, launchChromium, screenshot } from "./browser";

const python = path.join(repoRoot, ".venv", "bin", "python");
const reportScript = path.join(repoRoot, "scripts", "report.py");

function runReport(args: string[], env: NodeJS.ProcessEnv) {
  return spawnSync(python, [reportScript, ...args], { encoding: "utf8", env: { ...process.env, ...env }, timeout: 15 * 60_000 });
}

test("npm run report writes a self-contained HTML report whose charts and images render offline", { timeout: 20 * 60_000 }, async () => {
  const tmp = makeTempDir("fmnist-report-");
  try {
    const html = path.join(tmp, "report.html");
    const res = runReport(["--output", html, "--executed", path.join(tmp, "executed.ipynb"), "--timeout", "600"], smallRunEnv(tmp));
    assert.equal(res.status, 0, `report failed:\n${res.stdout}\n${res.stderr}`);
    assert.match(res.stdout, /\[cell 1\/\d+\]/, "progress is shown while the notebook runs");
    assert.match(res.stdout, /\[report\] wrote .*report\.html/);

    const text = fs.readFileSync(html, "utf8");
    const size = Buffer.byteLength(text);
    assert.ok(size < 8 * 1024 * 1024, `report is ${size} bytes, over the 8 MB budget`);
    assert.equal(text.split("Copyright 2012-2026, Plotly, Inc.").length - 1, 1, "plotly.js embedded exactly once");
    // The page without plotly.js itself (whose code mentions MathJax and CDN URLs it never loads here).
    const page = text.replace(/<script>\/\* plotly\.js [\s\S]*?<\/script>/, "");
    assert.ok(page.length < text.length - 4_000_000, "plotly.js is embedded inline");
    const remote = page.match(/<script[^>]*\bsrc=|<link[^>]*href=["']?(https?:)?\/\/|@import|require\.min\.js|mathjax|cdn\.jsdelivr|cdnjs|unpkg\.com|fonts\.googleapis/gi);
    assert.equal(remote, null, `remote references in the report: ${remote}`);
    assert.ok(!page.includes("application/vnd.plotly.v1+json"), "no Plotly MIME bundle left for nbconvert to drop");
    for (const fact of ["git commit", "tfjs-node", "TensorFlow (native)", "backend", "SHA-256 train-images-idx3-ubyte.gz", "training time", "test accuracy", "epochs / batch size"]) {
      assert.ok(text.includes(`<th>${fact}</th>`), `run fact "${fact}" in the header`);
    }
    assert.match(text, /<th>backend<\/th><td>tensorflow<\/td>/);
    assert.match(text, /all cells ran without error/);

    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
      const blocked: string[] = [];
      const consoleErrors: string[] = [];
      await page.route("**/*", (route) => {
        const url = route.request().url();
        if (url.startsWith("file:")) return route.continue();
        blocked.push(url);
        return route.abort();
      });
      page.on("console", (m) => {
        if (m.type() === "error") consoleErrors.push(m.text());
      });
      page.on("pageerror", (e) => consoleErrors.push(String(e)));
      await page.goto(pathToFileURL(html).href, { waitUntil: "load", timeout: 120_000 });
      const expected = (text.match(/class="fm-plotly-figure"/g) ?? []).length;
      assert.ok(expected >= 4, `at least 4 charts in the report (training live view, curves, confusion matrix, distribution), found ${expected}`);
      await page.waitForFunction((n) => document.querySelectorAll(".js-plotly-plot").length >= n, expected, { timeout: 60_000 });
      const shown = await checkRendering(page);
      assert.equal(shown.charts.length, expected, "every chart became a Plotly plot");
      for (const c of shown.charts) {
        assert.ok(c.traces > 0 && c.drawn === c.traces, `${c.id}: ${c.drawn} of ${c.traces} traces drawn as SVG`);
        assert.ok(c.width > 200 && c.height > 200, `${c.id}: ${c.width}x${c.height} px`);
      }
      assert.ok(shown.images.length >= 60, `image grids present (${shown.images.length} images)`);
      const broken = shown.images.filter((i) => !i.complete || i.naturalWidth === 0);
      assert.deepEqual(broken, [], "every image loaded");
      assert.ok(await page.locator("header.fm-report-header").isVisible(), "run-facts header visible");
      const shot = await screenshot(page, "report.png");
      await page.locator("#fm-plotly-3").screenshot({ path: path.join(path.dirname(shot), "report-confusion-matrix.png") });
      await page.locator("header.fm-report-header").screenshot({ path: path.join(path.dirname(shot), "report-header.png") });
      assert.deepEqual(blocked, [], "the report made no network request");
      assert.deepEqual(consoleErrors, [], "no console errors");
    } finally {
      await browser.close();
    }
  } finally {
    removeDir(tmp);
  }
});

test("a failing notebook gives a report with the failing cell marked and a non-zero exit", { timeout: 5 * 60_000 }, () => {
  const tmp = makeTempDir("fmnist-report-fail-");
  try {
    const nb = {
      cells: [
        { cell_type: "code", metadata: {}, execution_count: null, outputs: [], source: 'console.log("first cell ran");', id: "a" },
        { cell_type: "code", metadata: {}, execution_count: null, outputs: [], source: 'throw new Error("deliberate failure for the report test");', id: "b" },
        { cell_type: "code", metadata: {}, execution_count: null, outputs: [], source: 'console.log("never runs");', id: "c" },
      ],
      metadata: { kernelspec: { name: "tslab", display_name: "TypeScript", language: "typescript" } },
      nbformat: 4,
      nbformat_minor: 5,
    };
    const notebook = path.join(tmp, "failing.ipynb");
    fs.writeFileSync(notebook, JSON.stringify(nb));
    const html = path.join(tmp, "failing.html");
    const res = runReport(["--notebook", notebook, "--output", html, "--executed", path.join(tmp, "executed.ipynb"), "--timeout", "120"], {});
    assert.equal(res.status, 1, `expected exit 1 for a failing notebook:\n${res.stdout}\n${res.stderr}`);
    assert.match(res.stderr, /the notebook failed; see the marked cell/);
    const text = fs.readFileSync(html, "utf8");
    assert.match(text, /FAILED at <a href="#fm-failed-cell">code cell 2<\/a>/, "the header links to the failing cell");
    assert.equal((text.match(/id="fm-failed-cell"/g) ?? []).length, 1, "exactly one cell is marked as failed");
    const marked = text.indexOf('id="fm-failed-cell"');
    assert.ok(marked > text.indexOf("first cell ran") && marked < text.indexOf("never runs"), "the mark sits on the second cell");
    assert.match(text, /deliberate failure for the report test/, "the error message is in the report");
    assert.match(text, /other facts<\/th><td>not available/, "missing facts are said to be missing");
    assert.deepEqual(fs.readdirSync(tmp).filter((f) => f.endsWith(".tmp")), [], "no temp files left behind");
  } finally {
    removeDir(tmp);
  }
});
