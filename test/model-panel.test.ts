// The model panel on its own: a small model trained on the real data, its
// panel written into a page, opened in Chromium with the network blocked and
// used as a reader would (test/model-panel-browser.ts); the weight codecs
// against the page's own decoder. The exports and JupyterLab are checked in
// test/model-panel-export.test.ts.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import { pathToFileURL } from "url";
import { takeFirst, normalizeSet } from "fashion-mnist-lib/dist/data/dataset";
import { createModel } from "fashion-mnist-lib/dist/model/model";
import { fit } from "fashion-mnist-lib/dist/training/train";
import {
  decodeWeights,
  encodeWeights,
  modelPanelHtml,
  modelPanelSummary,
  toHalf,
} from "fashion-mnist-lib/dist/display/model-panel";
import { spawnSync } from "child_process";
import { artifactsDir, checkExportedPage, launchChromium, screenshot } from "./browser";
import { checkModelPanel } from "./model-panel-browser";
import { loadSharedDataset, makeTempDir, removeDir, repoRoot } from "./helpers";

/** A small model trained on the real data (2,000 images, 1 epoch), and 500 test images; made once. */
let trained: Promise<{ model: ReturnType<typeof createModel>; testSet: ReturnType<typeof normalizeSet> }> | undefined;
function smallModel() {
  trained ??= (async () => {
    const data = await loadSharedDataset();
    const train = normalizeSet(takeFirst(data.train, 2000));
    const testSet = normalizeSet(takeFirst(data.test, 500));
    const model = createModel({ seed: 1 });
    await fit(model, train, undefined, { epochs: 1, batchSize: 32, seed: 1, progress: "none" });
    return { model, testSet };
  })();
  return trained;
}

test("toHalf rounds float32 to IEEE half, to nearest even", () => {
  assert.equal(toHalf(0), 0);
  assert.equal(toHalf(-0), 0x8000);
  assert.equal(toHalf(1), 0x3c00);
  assert.equal(toHalf(-2), 0xc000);
  assert.equal(toHalf(65504), 0x7bff);
  assert.equal(toHalf(1e6), 0x7c00);
  assert.equal(toHalf(Math.pow(2, -24)), 0x0001);
  assert.equal(toHalf(1 + Math.pow(2, -11)), 0x3c00, "a tie rounds to even");
  assert.equal(toHalf(1 + 3 * Math.pow(2, -11)), 0x3c02);
});

test("every weight codec decodes (with the page's decoder) within its step", () => {
  const values = Float32Array.from({ length: 6 * 4 }, (_v, i) => Math.sin(i * 1.7) * (1 + (i % 4)));
  const art = {
    modelTopology: {},
    weightSpecs: [{ name: "k", shape: [6, 4], dtype: "float32" }],
    weightData: values.slice().buffer,
  };
  for (const [codec, step] of [
    ["f32", 0],
    ["u16c", 8 / 65535],
    ["f16", 4 * Math.pow(2, -11)],
    ["u8c", 8 / 255],
  ] as const) {
    const { blob, entries } = encodeWeights(art, codec);
    const out = new Float32Array(decodeWeights(blob, entries).data);
    assert.equal(out.length, values.length, codec);
    const worst = Math.max(...Array.from(values, (v, i) => Math.abs(v - out[i])));
    assert.ok(worst <= step / 2 + 1e-6, `${codec}: error ${worst} over half a step ${step / 2}`);
  }
});

test("the model panel predicts in Chromium, offline, what predict gives in Node", { timeout: 5 * 60_000 }, async () => {
  const data = await loadSharedDataset();
  const train = normalizeSet(takeFirst(data.train, 2000));
  const testSet = normalizeSet(takeFirst(data.test, 500));
  const model = createModel({ seed: 1 });
  await fit(model, train, undefined, { epochs: 1, batchSize: 32, seed: 1, progress: "none" });
  const info = await modelPanelHtml(model, testSet, { pickable: 40 });
  console.log(modelPanelSummary(info));
  assert.ok(info.maxDifference <= 1e-3, `compact weights within 1e-3: ${info.maxDifference}`);
  assert.ok(info.bytes < 2.2e6, `panel ${info.bytes} bytes, over its 2.2 MB budget`);

  fs.mkdirSync(artifactsDir, { recursive: true });
  const file = path.join(artifactsDir, "model-panel.html");
  // Twice on one page: TensorFlow.js runs once, each panel works.
  const second = await modelPanelHtml(model, testSet, { pickable: 5, title: "the same CNN again" });
  fs.writeFileSync(
    file,
    `<!doctype html><html><head><meta charset="utf-8"><title>panel</title></head><body>${info.html}<hr>${second.html}</body></html>`,
  );
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    const requests: string[] = [];
    const errors: string[] = [];
    await page.route("**/*", (route) => {
      const url = route.request().url();
      if (url.startsWith("file:") || url.startsWith("data:")) return route.continue();
      requests.push(url);
      return route.abort();
    });
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(m.text());
    });
    page.on("pageerror", (e) => errors.push(String(e)));
    const loads: string[] = [];
    page.on("request", (r) => loads.push(r.url()));
    await page.goto(pathToFileURL(file).href, { waitUntil: "load" });
    const first = await checkModelPanel(page, 0);
    console.log(
      `first prediction ${first.firstPredictionMs} ms after navigation; ${first.checked} test images, ` +
        `max |page - predict| ${first.maxDifference.toExponential(2)} (weights ${first.codec}, bound ${first.bound.toExponential(2)})`,
    );
    assert.ok(first.firstPredictionMs > 0 && first.firstPredictionMs < 20_000, "first prediction within 20 s");
    const again = await checkModelPanel(page, 1);
    assert.ok(again.checked > 0);
    assert.equal(
      await page.evaluate(() => (window as unknown as { tf: { version_layers: string } }).tf.version_layers),
      info.tfjsVersion,
    );
    await screenshot(page, "model-panel.png");

    // Touch: a finger's stroke on the pad (touch events through Chromium's input pipeline) is predicted too.
    const touch = await browser.newContext({ hasTouch: true, viewport: { width: 1200, height: 900 } });
    try {
      const tab = await touch.newPage();
      await tab.route("**/*", (route) => {
        const url = route.request().url();
        if (url.startsWith("file:") || url.startsWith("data:")) return route.continue();
        requests.push(url);
        return route.abort();
      });
      await tab.goto(pathToFileURL(file).href, { waitUntil: "load" });
      await tab.waitForSelector(".fm-model-panel[data-state='ready']");
      const box = await tab.locator(".fm-mp-pad").first().boundingBox();
      assert.ok(box);
      const cdp = await touch.newCDPSession(tab);
      const at = (fx: number, fy: number) => [{ x: box.x + box.width * fx, y: box.y + box.height * fy }];
      await cdp.send("Input.dispatchTouchEvent", { type: "touchStart", touchPoints: at(0.5, 0.15) });
      for (let k = 1; k <= 10; k++)
        await cdp.send("Input.dispatchTouchEvent", { type: "touchMove", touchPoints: at(0.5, 0.15 + 0.07 * k) });
      await cdp.send("Input.dispatchTouchEvent", { type: "touchEnd", touchPoints: [] });
      await tab.waitForFunction(
        () => document.querySelector(".fm-model-panel .fm-mp-result")?.getAttribute("data-source") === "pad",
      );
    } finally {
      await touch.close();
    }
    assert.deepEqual(requests, [], "no network request");
    assert.deepEqual(
      loads.filter((u) => !u.startsWith("data:") && u !== pathToFileURL(file).href),
      [],
      "nothing loaded but the page itself",
    );
    assert.deepEqual(errors, [], "no console errors");
  } finally {
    await browser.close();
  }
});

test(
  "exported with nbconvert: two panels share one TensorFlow.js and both work offline; sanitized, a note instead",
  { timeout: 5 * 60_000 },
  async () => {
    const { model, testSet } = await smallModel();
    const one = await modelPanelHtml(model, testSet, { pickable: 10 });
    const two = await modelPanelHtml(model, testSet, { pickable: 0, perClass: 1, confident: 3, title: "again" });
    const tmp = makeTempDir("fmnist-panel-");
    try {
      const panelOutput = (html: string) => ({
        output_type: "display_data",
        metadata: {},
        data: { "text/html": html },
      });
      const nb = {
        nbformat: 4,
        nbformat_minor: 5,
        metadata: { kernelspec: { name: "tslab", display_name: "TypeScript", language: "typescript" } },
        cells: [
          { cell_type: "markdown", id: "a", metadata: {}, source: "# Panels\n\nTwo model panels in one page." },
          {
            cell_type: "code",
            id: "b",
            metadata: {},
            execution_count: 1,
            source: "panel",
            outputs: [panelOutput(one.html)],
          },
          {
            cell_type: "code",
            id: "c",
            metadata: {},
            execution_count: 2,
            source: "again",
            outputs: [panelOutput(two.html)],
          },
        ],
      };
      const file = path.join(tmp, "panels.ipynb");
      fs.writeFileSync(file, JSON.stringify(nb));
      const nbconvert = (extra: string[], name: string) => {
        const r = spawnSync(
          path.join(repoRoot, ".venv", "bin", "jupyter"),
          ["nbconvert", "--to", "html", ...extra, "--output-dir", tmp, "--output", name, file],
          { encoding: "utf8", timeout: 5 * 60_000 },
        );
        assert.equal(r.status, 0, `jupyter nbconvert ${extra.join(" ")} failed:\n${r.stderr}`);
        return path.join(tmp, `${name}.html`);
      };
      const plain = nbconvert([], "panels");
      const sanitized = nbconvert(["--HTMLExporter.sanitize_html=True"], "panels-sanitized");
      const plainText = fs.readFileSync(plain, "utf8");
      assert.equal(plainText.split('data-fm-model-panel="1"').length - 1, 2, "both panels in the page");
      const size = Buffer.byteLength(plainText);
      console.log(
        `two panels exported: ${(size / 1e6).toFixed(2)} MB (each output ${(one.bytes / 1e6).toFixed(2)} and ${(two.bytes / 1e6).toFixed(2)} MB in the notebook)`,
      );
      assert.ok(size < one.bytes + two.bytes - one.runtimeBytes + 400_000, "the runtime is in the page once");
      const sanitizedText = fs.readFileSync(sanitized, "utf8");
      assert.equal(sanitizedText.split('class="fm-model-panel-note"').length - 1, 2, "a note in each panel's place");
      assert.match(sanitizedText, /Sanitize HTML output/);
      const browser = await launchChromium();
      try {
        // checkExportedPage uses each panel as a reader would (test/model-panel-browser.ts).
        await checkExportedPage(browser, plain, {
          charts: 0,
          interactive: true,
          minImages: 0,
          shot: "panels-export.png",
        });
        await checkExportedPage(browser, sanitized, {
          charts: 0,
          interactive: false,
          minImages: 0,
          shot: "panels-export-sanitized.png",
        });
      } finally {
        await browser.close();
      }
    } finally {
      removeDir(tmp);
    }
  },
);
