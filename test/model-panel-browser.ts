/**
 * The model panel (lib/display/model-panel.ts) as a reader uses it, in Chromium:
 * click every image of each grid, pick a test image by index, draw on the pad,
 * load an image file; every prediction checked against the notebook's
 * probabilities the panel carries (computed by the library's `predict`).
 */
import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import type { Page } from "playwright-core";
import { imageToPng } from "fashion-mnist-lib/dist/display/images";
import { artifactsDir } from "./browser";

/** What a panel carries (its JSON data element). */
export interface PanelData {
  indices: number[];
  labels: number[];
  expected: number[][];
  grids: { id: string; title: string; items: number[] }[];
  images: string;
  bound: number;
  codec: string;
  side: number;
}

export interface PanelCheck {
  /** Milliseconds from navigation start to the first prediction shown. */
  firstPredictionMs: number;
  /** Test images clicked or picked, and the largest |page - notebook| over them. */
  checked: number;
  maxDifference: number;
  /** Per grid: images clicked. */
  clicked: Record<string, number>;
  /** Whether a test image outside the grids was picked by index. */
  picked: boolean;
  bound: number;
  codec: string;
}

async function result(page: Page, panel: string) {
  return page.evaluate((sel) => {
    const root = document.querySelector(sel) as HTMLElement;
    const r = root.querySelector(".fm-mp-result") as HTMLElement;
    const bars = Array.from(root.querySelectorAll<HTMLElement>(".fm-mp-bar")).map((b) => Number(b.dataset.p));
    return { source: r.dataset.source ?? "", predicted: Number(r.dataset.predicted), bars, text: r.textContent };
  }, panel);
}

function argmax(a: number[]): number {
  return a.reduce((b, v, i) => (v > a[b] ? i : b), 0);
}

/**
 * Checks panel number `nth` (0-based) of an open page: waits until its model is
 * ready, then does everything a reader can and compares each prediction with
 * the notebook's. `tolerance`: the largest probability difference allowed.
 */
export async function checkModelPanel(page: Page, nth = 0, tolerance = 1e-3): Promise<PanelCheck> {
  const handle = page.locator(".fm-model-panel").nth(nth);
  await handle.scrollIntoViewIfNeeded({ timeout: 60_000 });
  await page.waitForFunction(
    (n) => {
      const p = document.querySelectorAll(".fm-model-panel")[n];
      return p && (p.getAttribute("data-state") === "ready" || p.getAttribute("data-state") === "error");
    },
    nth,
    { timeout: 90_000 },
  );
  const id = await handle.getAttribute("id");
  const sel = `#${id}`;
  assert.equal(
    await handle.getAttribute("data-state"),
    "ready",
    `panel ${nth}: ${await page.locator(`${sel} .fm-mp-status`).textContent()}`,
  );
  const firstPredictionMs = Number(await handle.getAttribute("data-first-prediction-ms"));
  const data = JSON.parse(
    (await page.locator(`${sel} script.fm-model-panel-data`).textContent({ timeout: 10_000 })) ?? "{}",
  ) as PanelData;

  let checked = 0;
  let maxDifference = 0;
  const compare = async (pos: number, what: string) => {
    const r = await result(page, sel);
    const index = data.indices[pos];
    assert.equal(r.source, `test:${index}`, `${what}: the panel shows test image #${index}`);
    const want = data.expected[pos];
    assert.equal(r.bars.length, want.length, `${what}: ten bars`);
    assert.equal(r.predicted, argmax(want), `${what}: same class as the notebook (${r.text})`);
    for (let c = 0; c < want.length; c++) {
      const d = Math.abs(r.bars[c] - want[c]);
      maxDifference = Math.max(maxDifference, d);
      assert.ok(d <= tolerance, `${what}: class ${c}: page ${r.bars[c]} vs notebook ${want[c]}`);
    }
    checked++;
  };

  // Every image of each grid.
  const clicked: Record<string, number> = {};
  for (const grid of data.grids) {
    const thumbs = page.locator(`${sel} .fm-mp-thumb[data-grid="${grid.id}"]`);
    assert.equal(await thumbs.count(), grid.items.length, `grid ${grid.id}: every image shown`);
    for (let k = 0; k < grid.items.length; k++) {
      await thumbs.nth(k).click();
      await compare(grid.items[k], `grid ${grid.id}, image ${k + 1}`);
    }
    clicked[grid.id] = grid.items.length;
  }
  assert.ok(clicked.sample > 0, "the sample grid has images");

  // A test image by index, one not in any grid if there is one.
  const inGrids = new Set(data.grids.flatMap((g) => g.items));
  const pos = data.indices.findIndex((_i, p) => !inGrids.has(p));
  if (pos >= 0) {
    await page.locator(`${sel} .fm-mp-index`).fill(String(data.indices[pos]));
    await page.locator(`${sel} .fm-mp-index-show`).click();
    await compare(pos, `test image #${data.indices[pos]} picked by index`);
  }

  // A stroke on the pad: a prediction of the drawing.
  const pad = page.locator(`${sel} .fm-mp-pad`);
  const box = await pad.boundingBox();
  assert.ok(box, "the drawing pad is visible");
  const before = Number(await handle.getAttribute("data-predictions"));
  await page.mouse.move(box.x + box.width * 0.3, box.y + box.height * 0.2);
  await page.mouse.down();
  for (let k = 1; k <= 12; k++) await page.mouse.move(box.x + box.width * 0.3, box.y + box.height * (0.2 + 0.05 * k));
  await page.mouse.move(box.x + box.width * 0.7, box.y + box.height * 0.8, { steps: 8 });
  await page.mouse.up();
  await page.waitForFunction(
    ([s, n]) => Number(document.querySelector(s as string)?.getAttribute("data-predictions")) > (n as number),
    [sel, before] as const,
  );
  await page.waitForTimeout(100);
  const drawn = await result(page, sel);
  assert.equal(drawn.source, "pad", "the drawing is predicted");
  assert.ok(Math.abs(drawn.bars.reduce((a, b) => a + b, 0) - 1) < 1e-4, `pad: probabilities sum to 1: ${drawn.bars}`);
  await page.locator(`${sel} .fm-mp-clear`).click();

  // An image file: a confidently predicted test image as a 112x112 PNG.
  const confident = data.expected.findIndex((p, k) => Math.max(...p) > 0.95 && argmax(p) === data.labels[k]);
  const filePos = confident >= 0 ? confident : 0;
  const side = data.side;
  const pixels = Buffer.from(data.images, "base64").subarray(filePos * side * side, (filePos + 1) * side * side);
  fs.mkdirSync(artifactsDir, { recursive: true });
  const png = path.join(artifactsDir, `model-panel-input-${data.indices[filePos]}.png`);
  fs.writeFileSync(png, imageToPng(new Uint8Array(pixels), 0, { scale: 4 }));
  await page.locator(`${sel} .fm-mp-file`).setInputFiles(png);
  await page.waitForFunction(
    (s) => document.querySelector(`${s} .fm-mp-result`)?.getAttribute("data-source") === "file",
    sel,
  );
  const fromFile = await result(page, sel);
  assert.equal(
    fromFile.predicted,
    argmax(data.expected[filePos]),
    `a PNG of test image #${data.indices[filePos]} gets the notebook's class (${fromFile.text})`,
  );
  return { firstPredictionMs, checked, maxDifference, clicked, picked: pos >= 0, bound: data.bound, codec: data.codec };
}
