/** Shared helpers for the browser tests: Debian's Chromium driven by playwright-core. */
import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import { pathToFileURL } from "url";
import { chromium, type Browser, type Page } from "playwright-core";
import { repoRoot } from "./helpers";
import { checkModelPanel } from "./model-panel-browser";

/** Chromium from Debian's package (scripts/setup-browser.sh installs it, run by `npm test`); CHROMIUM_PATH overrides. */
export const chromiumPath: string = process.env.CHROMIUM_PATH?.trim() || "/usr/bin/chromium";

/** Screenshots and other files worth looking at after a test run (git-ignored). */
export const artifactsDir: string = path.join(repoRoot, "test-artifacts");

export async function launchChromium(): Promise<Browser> {
  if (!fs.existsSync(chromiumPath)) {
    throw new Error(
      `Chromium not found at ${chromiumPath}: run \`bash scripts/setup-browser.sh\` (it installs Debian's chromium package; \`npm test\` runs it first) or set CHROMIUM_PATH`,
    );
  }
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage"],
    timeout: 60_000,
  });
}

/** Saves a full-page screenshot under test-artifacts/ and returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  fs.mkdirSync(artifactsDir, { recursive: true });
  const file = path.join(artifactsDir, name);
  await page.screenshot({ path: file, fullPage: true, timeout: 60_000 });
  return file;
}

/** What a page shows, for the assertions shared by the report and JupyterLab tests. */
export interface RenderCheck {
  charts: { id: string; traces: number; drawn: number; width: number; height: number }[];
  images: { src: string; naturalWidth: number; complete: boolean }[];
}

/**
 * Every Plotly chart in the page (`.js-plotly-plot`) with the number of traces in
 * its figure and the number of SVG trace groups actually drawn (scatter and bar
 * traces draw `g.trace`, heatmaps draw `g.hm`), and every <img> with its
 * natural width (0 when it failed to load or decode).
 */
export async function checkRendering(page: Page, scope = "body"): Promise<RenderCheck> {
  return page.evaluate((sel) => {
    const root = document.querySelector(sel) ?? document.body;
    const charts = Array.from(root.querySelectorAll<HTMLElement>(".js-plotly-plot")).map((gd, i) => {
      const data = (gd as unknown as { data?: unknown[] }).data;
      const rect = gd.getBoundingClientRect();
      return {
        id: gd.id || `chart ${i + 1}`,
        traces: Array.isArray(data) ? data.length : -1,
        drawn: gd.querySelectorAll("svg.main-svg g.trace, svg.main-svg g.hm").length,
        width: Math.round(rect.width),
        height: Math.round(rect.height),
      };
    });
    // Images with a source (JupyterLab keeps a few empty <img> placeholders in its chrome).
    const images = Array.from(root.querySelectorAll<HTMLImageElement>('img[src]:not([src=""])')).map((img) => ({
      src: img.src.slice(0, 60),
      naturalWidth: img.naturalWidth,
      complete: img.complete,
    }));
    return { charts, images };
  }, scope);
}

/** What an exported HTML page must show (see checkExportedPage). */
export interface ExportExpectation {
  /** Plotly figures in the notebook the page came from. */
  charts: number;
  /** true: charts drawn by plotly.js; false ("Sanitize HTML output"): static pictures and no script at all. */
  interactive: boolean;
  /** At least this many <img> elements besides the chart pictures (the image grids). */
  minImages: number;
  /** Screenshot file name under test-artifacts/. */
  shot: string;
}

/** The Plotly MIME type figures count by, in a notebook file. */
export function plotlyFigures(notebookFile: string): number {
  const nb = JSON.parse(fs.readFileSync(notebookFile, "utf8")) as {
    cells: { outputs?: { data?: Record<string, unknown> }[] }[];
  };
  return nb.cells.flatMap((c) => c.outputs ?? []).filter((o) => o.data?.["application/vnd.plotly.v1+json"]).length;
}

/**
 * Opens an exported page as a local file in Chromium with every other request
 * blocked and asserts what a reader must see: every chart (drawn with all its
 * traces, or as a loaded picture when sanitized), every image, headings and
 * paragraphs as such (never as raw HTML text), no request off the machine, no
 * console error; plotly.js embedded exactly once when charts are interactive.
 */
export async function checkExportedPage(browser: Browser, file: string, want: ExportExpectation): Promise<void> {
  const text = fs.readFileSync(file, "utf8");
  const what = `${path.basename(file)} (${want.interactive ? "interactive" : "sanitized"})`;
  const embedded = text.split("/* plotly.js, embedded once */").length - 1;
  if (want.interactive && want.charts > 0) assert.equal(embedded, 1, `${what}: plotly.js embedded exactly once`);
  if (!want.interactive)
    assert.equal((text.match(/<script\b/gi) ?? []).length, 0, `${what}: no <script> in a sanitized page`);
  // The page without plotly.js itself (its code names CDNs it never loads here).
  const page = text.replace(/<script>\/\* plotly\.js, embedded once \*\/[\s\S]*?<\/script>/, "");
  const remote = page.match(
    /<script[^>]*\bsrc=|<link[^>]*href=["']?(https?:)?\/\/|@import|require\.min\.js|\/mathjax\/|mathjax@|MathJax\.js|cdn\.jsdelivr|cdnjs|unpkg\.com|fonts\.googleapis/gi,
  );
  assert.equal(remote, null, `${what}: remote references: ${remote}`);
  assert.ok(
    !page.includes("application/vnd.plotly.v1+json"),
    `${what}: no Plotly MIME bundle left for the exporter to drop`,
  );

  const tab = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  try {
    const blocked: string[] = [];
    const errors: string[] = [];
    await tab.route("**/*", (route) => {
      const url = route.request().url();
      if (url.startsWith("file:") || url.startsWith("data:")) return route.continue();
      blocked.push(url);
      return route.abort();
    });
    tab.on("console", (m) => {
      if (m.type() === "error") errors.push(m.text());
    });
    tab.on("pageerror", (e) => errors.push(String(e)));
    await tab.goto(pathToFileURL(file).href, { waitUntil: "load", timeout: 120_000 });
    if (want.interactive) {
      await tab.waitForFunction((n) => document.querySelectorAll(".js-plotly-plot").length >= n, want.charts, {
        timeout: 60_000,
      });
    }
    const shown = await checkRendering(tab);
    const pictures = await tab.evaluate(() =>
      Array.from(document.querySelectorAll<HTMLImageElement>(".jp-RenderedImage img")).map(
        (i) => i.complete && i.naturalWidth > 200,
      ),
    );
    const reading = await tab.evaluate(() => ({
      headings: document.querySelectorAll("h1, h2, h3").length,
      paragraphs: document.querySelectorAll("p").length,
      raw: (
        document.body.innerText.match(/<\/?(h[1-6]|p|div|figure|figcaption|img|table|span|tr|td)\b[^>]*>/g) ?? []
      ).slice(0, 5),
      scripts: document.scripts.length,
    }));
    if (want.interactive) {
      assert.equal(shown.charts.length, want.charts, `${what}: every Plotly figure became a drawn chart`);
      for (const c of shown.charts) {
        assert.ok(
          c.traces > 0 && c.drawn === c.traces,
          `${what}: ${c.id}: ${c.drawn} of ${c.traces} traces drawn as SVG`,
        );
        assert.ok(c.width > 200 && c.height > 200, `${what}: ${c.id}: ${c.width}x${c.height} px`);
      }
    } else {
      assert.equal(shown.charts.length, 0, `${what}: no interactive chart`);
      assert.equal(reading.scripts, 0, `${what}: no script in the page`);
      assert.equal(pictures.length, want.charts, `${what}: one picture per chart`);
      assert.ok(pictures.every(Boolean), `${what}: every chart picture loaded`);
    }
    assert.ok(
      shown.images.length - pictures.length >= want.minImages,
      `${what}: image grids present (${shown.images.length - pictures.length} images)`,
    );
    assert.deepEqual(
      shown.images.filter((i) => !i.complete || i.naturalWidth === 0),
      [],
      `${what}: every image loaded`,
    );
    assert.ok(
      reading.headings > 0 && reading.paragraphs > 0,
      `${what}: headings and paragraphs render (${reading.headings} / ${reading.paragraphs})`,
    );
    assert.deepEqual(reading.raw, [], `${what}: no raw HTML shown as text`);
    // Model panels (fm.showModelPanel): used as a reader would, TensorFlow.js embedded once; a note when sanitized.
    const panels = text.split('data-fm-model-panel="1"').length - 1;
    if (want.interactive && panels > 0) {
      assert.equal(text.split("<script data-fm-tfjs=").length - 1, 1, `${what}: TensorFlow.js embedded exactly once`);
      for (let n = 0; n < panels; n++) {
        const p = await checkModelPanel(tab, n);
        console.log(
          `${what}: model panel ${n + 1}: first prediction ${p.firstPredictionMs} ms after navigation; ` +
            `${p.checked} test images (${Object.entries(p.clicked)
              .map(([g, k]) => `${g} ${k}`)
              .join(", ")}${p.picked ? ", one by index" : ""}), ` +
            `max |page - notebook| ${p.maxDifference.toExponential(2)}, same class for all (weights ${p.codec})`,
        );
      }
    }
    if (!want.interactive) assert.equal(panels, 0, `${what}: no model panel when sanitized (a note instead)`);
    await screenshot(tab, want.shot);
    assert.deepEqual(blocked, [], `${what}: no network request`);
    assert.deepEqual(errors, [], `${what}: no console errors`);
  } finally {
    await tab.close();
  }
}
