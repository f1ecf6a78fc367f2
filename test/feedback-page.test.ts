// Feedback pages read well anywhere (issue 22, item 4), both ways nbgrader
// renders them: the project's `fm-feedback` template (`npm run course --
// feedback`, nbgrader generate_feedback) and nbgrader's own `feedback` name
// (the Formgrader's Generate Feedback, which sets it) with the folder the
// project's .venv and the hub put first (jupyter/hub/templates). A notebook
// with a Plotly chart and an HTML table becomes a page that, in Chromium with
// the network blocked: requests nothing and logs no error (checkExportedPage),
// draws the chart; shows no "In [ ]:" prompt; spaces the table's cells; and,
// shown without scripts as JupyterLab's HTML viewer shows an untrusted page (a
// sandboxed iframe), still shows the chart, as its picture.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { pathToFileURL } from "url";
import { makeTempDir, removeDir, repoRoot } from "./helpers";
import { checkExportedPage, launchChromium, screenshot } from "./browser";

const RENDER = `
import json, sys
sys.path.insert(0, sys.argv[1] + "/jupyter")
import nbformat, fm_export
from nbconvert import HTMLExporter
from traitlets.config import Config
c = Config()
fm_export.configure_feedback(c)
if sys.argv[2] == "feedback":  # the Formgrader: nbgrader's template name, the .venv's/hub's folder first
    c.HTMLExporter.extra_template_basedirs = [sys.argv[1] + "/jupyter/hub/templates"] + list(c.HTMLExporter.extra_template_basedirs)
    c.HTMLExporter.template_name = "feedback"
import os, nbgrader  # as nbgrader's GenerateFeedback: bootstrap's CSS for its page
c.HTMLExporter.extra_template_paths = [os.path.join(os.path.dirname(nbgrader.__file__), "server_extensions",
    "formgrader", "static", "node_modules", "bootstrap", "dist", "css")]
nb = nbformat.reads(sys.stdin.read(), as_version=4)
res = {"nbgrader": {"notebook": "demo", "score": 1.0, "max_score": 2.0, "late_penalty": 0}}
body, _ = HTMLExporter(config=c).from_notebook_node(nb, resources=res)
open(sys.argv[3], "w").write(body)
`;

const figure = {
  data: [{ type: "scatter", x: [1, 2, 3], y: [0.6221, 0.4, 0.3185], name: "loss" }],
  layout: { title: { text: "Loss per epoch" }, width: 600, height: 360 },
};
const notebook = {
  nbformat: 4,
  nbformat_minor: 5,
  metadata: { kernelspec: { name: "tslab", display_name: "TypeScript", language: "typescript" } },
  cells: [
    { cell_type: "markdown", id: "m1", metadata: {}, source: "# Training curves\n\nYour curves:" },
    {
      cell_type: "code",
      id: "c1",
      metadata: {},
      execution_count: null,
      source: "fm.showPlotly(fig); fm.showFrame(history);",
      outputs: [
        { output_type: "display_data", metadata: {}, data: { "application/vnd.plotly.v1+json": figure } },
        {
          output_type: "display_data",
          metadata: {},
          data: {
            "text/html":
              "<table><thead><tr><th>loss</th><th>val_loss</th></tr></thead><tbody><tr><td>0.6221</td><td>0.3185</td></tr></tbody></table>",
          },
        },
      ],
    },
  ],
};

test(
  "feedback pages (CLI and Formgrader templates): offline, chart drawn or pictured without scripts, spaced tables, no prompts",
  {
    timeout: 5 * 60_000,
  },
  async () => {
    const tmp = makeTempDir("fmnist-feedback-page-");
    const browser = await launchChromium();
    try {
      for (const template of ["fm-feedback", "feedback"]) {
        const started = Date.now();
        const file = path.join(tmp, `${template}.html`);
        const r = spawnSync(path.join(repoRoot, ".venv", "bin", "python"), ["-c", RENDER, repoRoot, template, file], {
          input: JSON.stringify(notebook),
          encoding: "utf8",
        });
        assert.equal(r.status, 0, r.stderr);
        console.log(`${template}: rendered in ${((Date.now() - started) / 1000).toFixed(1)} s`);
        const html = fs.readFileSync(file, "utf8");
        assert.match(html, /demo \(Score: 1\.0 \/ 2\.0\)/, "nbgrader's feedback page");
        assert.match(
          html,
          /<img\b(?=[^>]*class="fm-plotly-picture")(?=[^>]*src="data:image\/png;base64,)/,
          "the chart's picture",
        );
        await checkExportedPage(browser, file, {
          charts: 1,
          interactive: true,
          minImages: 0,
          shot: `feedback-${template}.png`,
        });

        // Read as a student reads it: no prompts, table cells apart.
        const tab = await browser.newPage({ viewport: { width: 1200, height: 900 } });
        const offsite: string[] = [];
        await tab.route("**/*", (route) => {
          const url = route.request().url();
          if (url.startsWith("file:") || url.startsWith("data:")) return route.continue();
          offsite.push(url);
          return route.abort();
        });
        await tab.goto(pathToFileURL(file).href, { waitUntil: "load" });
        const seen = await tab.evaluate(() => {
          const td = document.querySelector("div.output_html td")!;
          return {
            text: document.body.innerText,
            padding: parseFloat(getComputedStyle(td).paddingLeft) + parseFloat(getComputedStyle(td).paddingRight),
            prompts: [...document.querySelectorAll("div.prompt")].filter(
              (p) => (p as HTMLElement).offsetParent !== null,
            ).length,
          };
        });
        assert.doesNotMatch(seen.text, /In \[|Out\[/, "no empty prompts");
        assert.equal(seen.prompts, 0);
        assert.ok(seen.padding >= 8, `table cells spaced (${seen.padding} px)`);
        assert.doesNotMatch(seen.text, /0\.62210\.3185/);

        // Without scripts (JupyterLab's HTML viewer before "Trust HTML"): the chart shows as its picture.
        const frame = path.join(tmp, `${template}-untrusted.html`);
        fs.writeFileSync(
          frame,
          `<!DOCTYPE html><iframe sandbox="" src="${path.basename(file)}" style="width:1100px;height:850px"></iframe>`,
        );
        await tab.goto(pathToFileURL(frame).href, { waitUntil: "load" });
        const inner = tab.frames().find((f) => f.url().endsWith(path.basename(file)))!;
        assert.ok(inner, "the page in its frame");
        const picture = await inner.evaluate(() => {
          const img = document.querySelector("img.fm-plotly-picture") as HTMLImageElement | null;
          return {
            loaded: !!img && img.complete && img.naturalWidth > 100,
            shown: !!img && img.getBoundingClientRect().width > 100,
            drawn: document.querySelectorAll(".js-plotly-plot").length,
          };
        });
        assert.deepEqual(picture, { loaded: true, shown: true, drawn: 0 }, "no script ran; the picture shows");
        await screenshot(tab, `feedback-${template}-untrusted.png`);
        assert.deepEqual(offsite, [], "no request left the machine");
        await tab.close();
      }
    } finally {
      await browser.close().catch(() => undefined);
      removeDir(tmp);
    }
  },
);
