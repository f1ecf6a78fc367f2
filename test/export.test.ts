// The three ways a notebook becomes HTML, end to end: `npm run report` (the
// main notebook executed small, then exported), and `jupyter nbconvert --to
// html` from the project's environment as a user types it, with and without
// sanitizing (JupyterLab's export dialog sanitizes by default; its menu is
// driven in test/jupyterlab.test.ts). Every page is opened in Debian's Chromium
// with every non-file request blocked and checked by checkExportedPage: all
// charts drawn (or shown as pictures when sanitized), images loaded, text
// rendered, no request off the machine. A failing notebook must give a marked
// report and a non-zero exit.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { makeTempDir, removeDir, repoRoot, smallRunEnv } from "./helpers";
import { checkExportedPage, launchChromium, plotlyFigures } from "./browser";

const venvBin = path.join(repoRoot, ".venv", "bin");
const python = path.join(venvBin, "python");
const reportScript = path.join(repoRoot, "scripts", "report.py");

function runReport(args: string[], env: NodeJS.ProcessEnv) {
  return spawnSync(python, [reportScript, ...args], {
    encoding: "utf8",
    env: { ...process.env, ...env },
    timeout: 15 * 60_000,
  });
}

test(
  "npm run report and jupyter nbconvert give self-contained pages whose charts and images render offline",
  { timeout: 20 * 60_000 },
  async () => {
    const tmp = makeTempDir("fmnist-report-");
    try {
      const html = path.join(tmp, "report.html");
      const executed = path.join(tmp, "executed.ipynb");
      const res = runReport(["--output", html, "--executed", executed, "--timeout", "600"], smallRunEnv(tmp));
      assert.equal(res.status, 0, `report failed:\n${res.stdout}\n${res.stderr}`);
      assert.match(res.stdout, /\[cell 1\/\d+\]/, "progress is shown while the notebook runs");
      assert.match(res.stdout, /\[report\] wrote .*report\.html/);
      const charts = plotlyFigures(executed);
      assert.ok(
        charts >= 4,
        `the executed notebook holds its charts (training live view, curves, confusion matrix, distribution): ${charts}`,
      );

      const text = fs.readFileSync(html, "utf8");
      const size = Buffer.byteLength(text);
      assert.ok(size < 8 * 1024 * 1024, `report is ${size} bytes, over the 8 MB budget`);
      for (const fact of [
        "git commit",
        "tfjs-node",
        "TensorFlow (native)",
        "backend",
        "SHA-256 train-images-idx3-ubyte.gz",
        "training time",
        "test accuracy",
        "epochs / batch size",
      ]) {
        assert.ok(text.includes(`<th>${fact}</th>`), `run fact "${fact}" in the header`);
      }
      assert.match(text, /<th>backend<\/th><td>tensorflow<\/td>/);
      assert.match(text, /all cells ran without error/);

      // nbconvert as a user runs it: the environment's own jupyter, no extra flag.
      const nbconvert = (extra: string[], name: string) => {
        const r = spawnSync(
          path.join(venvBin, "jupyter"),
          ["nbconvert", "--to", "html", ...extra, "--output-dir", tmp, "--output", name, executed],
          { encoding: "utf8", timeout: 5 * 60_000 },
        );
        assert.equal(r.status, 0, `jupyter nbconvert ${extra.join(" ")} failed:\n${r.stderr}`);
        return path.join(tmp, `${name}.html`);
      };
      const plain = nbconvert([], "nbconvert");
      const sanitized = nbconvert(["--HTMLExporter.sanitize_html=True"], "nbconvert-sanitized");
      assert.match(
        fs.readFileSync(plain, "utf8"),
        /<th>test accuracy<\/th>/,
        "nbconvert's page has the run facts header too",
      );

      const browser = await launchChromium();
      try {
        await checkExportedPage(browser, html, { charts, interactive: true, minImages: 60, shot: "export-report.png" });
        await checkExportedPage(browser, plain, {
          charts,
          interactive: true,
          minImages: 60,
          shot: "export-nbconvert.png",
        });
        await checkExportedPage(browser, sanitized, {
          charts,
          interactive: false,
          minImages: 60,
          shot: "export-nbconvert-sanitized.png",
        });
      } finally {
        await browser.close();
      }
    } finally {
      removeDir(tmp);
    }
  },
);

test(
  "a failing notebook gives a report with the failing cell marked and a non-zero exit",
  { timeout: 5 * 60_000 },
  () => {
    const tmp = makeTempDir("fmnist-report-fail-");
    try {
      const nb = {
        cells: [
          {
            cell_type: "code",
            metadata: {},
            execution_count: null,
            outputs: [],
            source: 'console.log("first cell ran");',
            id: "a",
          },
          {
            cell_type: "code",
            metadata: {},
            execution_count: null,
            outputs: [],
            source: 'throw new Error("deliberate failure for the report test");',
            id: "b",
          },
          {
            cell_type: "code",
            metadata: {},
            execution_count: null,
            outputs: [],
            source: 'console.log("never runs");',
            id: "c",
          },
        ],
        metadata: { kernelspec: { name: "tslab", display_name: "TypeScript", language: "typescript" } },
        nbformat: 4,
        nbformat_minor: 5,
      };
      const notebook = path.join(tmp, "failing.ipynb");
      fs.writeFileSync(notebook, JSON.stringify(nb));
      const html = path.join(tmp, "failing.html");
      const res = runReport(
        ["--notebook", notebook, "--output", html, "--executed", path.join(tmp, "executed.ipynb"), "--timeout", "120"],
        {},
      );
      assert.equal(res.status, 1, `expected exit 1 for a failing notebook:\n${res.stdout}\n${res.stderr}`);
      assert.match(res.stderr, /the notebook failed; see the marked cell/);
      const text = fs.readFileSync(html, "utf8");
      assert.match(
        text,
        /FAILED at <a href="#fm-failed-cell">code cell 2<\/a>/,
        "the header links to the failing cell",
      );
      assert.equal((text.match(/id="fm-failed-cell"/g) ?? []).length, 1, "exactly one cell is marked as failed");
      const marked = text.indexOf('id="fm-failed-cell"');
      assert.ok(
        marked > text.indexOf("first cell ran") && marked < text.indexOf("never runs"),
        "the mark sits on the second cell",
      );
      assert.match(text, /deliberate failure for the report test/, "the error message is in the report");
      assert.match(text, /other facts<\/th><td>not available/, "missing facts are said to be missing");
      assert.deepEqual(
        fs.readdirSync(tmp).filter((f) => f.endsWith(".tmp")),
        [],
        "no temp files left behind",
      );
    } finally {
      removeDir(tmp);
    }
  },
);

test("npm run report checks where its files go before running the notebook", () => {
  const tmp = makeTempDir("fmnist-report-paths-");
  try {
    const started = Date.now();
    const folder = runReport(["--output", tmp], {});
    assert.equal(folder.status, 2, folder.stderr);
    assert.match(folder.stderr, /--output .*: is a folder; give a file name/);
    const blocked = path.join(tmp, "a-file");
    fs.writeFileSync(blocked, "");
    const under = runReport(["--output", path.join(tmp, "r.html"), "--executed", path.join(blocked, "x.ipynb")], {});
    assert.equal(under.status, 2, under.stderr);
    assert.match(under.stderr, /--executed .*a-file\/x\.ipynb: its folder cannot be created/);
    assert.doesNotMatch(`${folder.stdout}${under.stdout}`, /running/, "the notebook never started");
    assert.ok(Date.now() - started < 30_000);
  } finally {
    removeDir(tmp);
  }
});
