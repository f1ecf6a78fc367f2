// The guides' pictures, taken from the real pages in Chromium so they can be
// retaken after any change:
//
//   npm run docs:screenshots                 every picture
//   npm run docs:screenshots -- hub-login    only the ones named
//
// Each picture works in a temporary folder of its own (dataset from the local
// mirror, private Jupyter home, course copy) and writes docs/images/NAME.png.
// The hub's login page needs root (the hub creates Unix users): without it that
// picture is skipped with one line.
import * as crypto from "crypto";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import type { Browser, Page } from "playwright-core";
import { launchChromium } from "../test/browser";
import { makeTempDir, removeDir, repoRoot, sharedDataDir } from "../test/helpers";
import { hubCommand, SKIP as HUB_SKIP, startHub, userExists, type RunningHub } from "../test/hub";
import { freePort } from "../test/lab";

const imagesDir = path.join(repoRoot, "docs", "images");
const VIEWPORT = { width: 1280, height: 800 };

/** Saves what the page shows in its viewport (not the whole page: the guides want one screen). */
async function save(page: Page, name: string): Promise<void> {
  fs.mkdirSync(imagesDir, { recursive: true });
  const file = path.join(imagesDir, `${name}.png`);
  await page.screenshot({ path: file, timeout: 60_000 });
  console.log(`docs-screenshots: ${path.relative(repoRoot, file)} (${Math.round(fs.statSync(file).size / 1024)} KB)`);
}

/** JupyterHub's login page, on a one-instructor class that is torn down afterwards. */
async function hubLogin(browser: Browser): Promise<void> {
  const tmp = makeTempDir("fmnist-shots-hub-");
  fs.chmodSync(tmp, 0o755); // the class's users reach the dataset cache inside
  const teacher = `fmd${crypto.randomBytes(2).toString("hex")}-teacher`;
  const roster = path.join(tmp, "roster.csv");
  fs.writeFileSync(roster, `username,role,name\n${teacher},instructor,Teacher\n`);
  const state = path.join(tmp, "state");
  let hub: RunningHub | undefined;
  try {
    hub = await startHub(roster, state, await freePort(), path.join(tmp, "data"));
    const page = await browser.newPage({ viewport: VIEWPORT });
    await page.goto(`${hub.base}/hub/login`, { timeout: 60_000 });
    await page.locator("#username_input").waitFor({ timeout: 30_000 });
    await save(page, "hub-login");
    await page.close();
  } finally {
    await hub?.stop();
    const teardown = hubCommand(["--teardown", "--state", state]);
    if (teardown.status !== 0) console.error(`docs-screenshots: hub --teardown failed:\n${teardown.output}`);
    if (userExists(teacher)) spawnSync("userdel", ["--remove", "--force", teacher], { timeout: 30_000 });
    removeDir(tmp);
  }
}

const SHOTS: Record<string, (browser: Browser) => Promise<void>> = {
  "hub-login": hubLogin,
};

async function main(): Promise<void> {
  const asked = process.argv.slice(2);
  const unknown = asked.filter((n) => !(n in SHOTS));
  if (unknown.length) {
    console.error(
      `docs-screenshots: unknown picture(s) ${unknown.join(", ")}; known: ${Object.keys(SHOTS).join(", ")}`,
    );
    process.exit(2);
  }
  if (!fs.existsSync(sharedDataDir)) console.error(`docs-screenshots: no dataset mirror at ${sharedDataDir}`);
  const names = asked.length ? asked : Object.keys(SHOTS);
  const failed: string[] = [];
  const browser = await launchChromium();
  try {
    for (const name of names) {
      if (name === "hub-login" && HUB_SKIP) {
        console.log(`docs-screenshots: hub-login skipped: ${HUB_SKIP}`);
        continue;
      }
      const started = Date.now();
      try {
        await SHOTS[name](browser);
        console.log(`docs-screenshots: ${name} done in ${Math.round((Date.now() - started) / 1000)} s`);
      } catch (err) {
        failed.push(name);
        console.error(`docs-screenshots: ${name} failed: ${err instanceof Error ? err.stack : String(err)}`);
      }
    }
  } finally {
    await browser.close();
  }
  if (failed.length) {
    console.error(`docs-screenshots: failed: ${failed.join(", ")}`);
    process.exit(1);
  }
}

void main();
