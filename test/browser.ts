/** Shared helpers for the browser tests: Debian's Chromium driven by playwright-core. */
import * as fs from 'fs';
import * as path from 'path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { repoRoot } from './helpers';

/** Chromium from Debian's package (scripts/setup.sh installs it); CHROMIUM_PATH overrides. */
export const chromiumPath: string = process.env.CHROMIUM_PATH?.trim() || '/usr/bin/chromium';

/** Screenshots and other files worth looking at after a test run (git-ignored). */
export const artifactsDir: string = path.join(repoRoot, 'test-artifacts');

export async function launchChromium(): Promise<Browser> {
  if (!fs.existsSync(chromiumPath)) {
    throw new Error(`Chromium not found at ${chromiumPath}: run \`npm run setup\` (it installs Debian's chromium package) or set CHROMIUM_PATH`);
  }
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-dev-shm-usage'],
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
export async function checkRendering(page: Page, scope = 'body'): Promise<RenderCheck> {
  return page.evaluate((sel) => {
    const root = document.querySelector(sel) ?? document.body;
    const charts = Array.from(root.querySelectorAll<HTMLElement>('.js-plotly-plot')).map((gd, i) => {
      const data = (gd as unknown as { data?: unknown[] }).data;
      const rect = gd.getBoundingClientRect();
      return {
        id: gd.id || `chart ${i + 1}`,
        traces: Array.isArray(data) ? data.length : -1,
        drawn: gd.querySelectorAll('svg.main-svg g.trace, svg.main-svg g.hm').length,
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
