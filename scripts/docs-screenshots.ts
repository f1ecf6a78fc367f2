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
import { pathToFileURL } from "url";
import type { Browser, Page } from "playwright-core";
import { launchChromium } from "../test/browser";
import {
  copyCourse,
  makeTempDir,
  readNb,
  removeDir,
  repoRoot,
  sharedDataDir,
  smallRunEnv,
  writeNb,
} from "../test/helpers";
import {
  A,
  formgraderAction,
  hubCommand,
  SKIP as HUB_SKIP,
  solutionText,
  startHub,
  userExists,
  type RunningHub,
} from "../test/hub";
import { Fatal, freePort, labEnv, menuCommand, startLab, waitFor, type LabServer } from "../test/lab";

const imagesDir = path.join(repoRoot, "docs", "images");
const VIEWPORT = { width: 1280, height: 800 };

/** Saves what the page shows in its viewport (not the whole page: the guides want one screen). */
async function save(page: Page, name: string): Promise<void> {
  fs.mkdirSync(imagesDir, { recursive: true });
  const file = path.join(imagesDir, `${name}.png`);
  await page.screenshot({ path: file, timeout: 60_000 });
  const kb = Math.round(fs.statSync(file).size / 1024);
  // The guides sit in the repository: a picture this large is usually a page that did not settle.
  const note = kb > 300 ? ", over the 300 KB the guides' pictures keep to" : "";
  console.log(`docs-screenshots: ${path.relative(repoRoot, file)} (${kb} KB${note})`);
}

/** A page of its own whose requests may not leave `base` (and local files): what an offline class sees. */
async function localPage(browser: Browser, base: string): Promise<Page> {
  const page = await browser.newPage({ viewport: VIEWPORT });
  await page.route("**/*", (route) => {
    const url = route.request().url();
    const local = url.startsWith(base) || /^(data|blob|file):/.test(url) || url === "about:srcdoc";
    return local ? route.continue() : route.abort();
  });
  return page;
}

/** A Lab server, stopped (with what it started) after `use`, whatever happens; its log tail joins any error. */
async function withLab<T>(start: Promise<LabServer>, use: (lab: LabServer) => Promise<T>): Promise<T> {
  const lab = await start;
  try {
    return await use(lab);
  } catch (err) {
    throw new Error(
      `${err instanceof Error ? err.message : String(err)}\n--- server log (tail) ---\n${lab.log().slice(-3000)}`,
      {
        cause: err,
      },
    );
  } finally {
    await lab.stop();
  }
}

/** The code cells' prompts ("[3]:", "[*]:", "[ ]:") and any error output of the open notebook. */
async function notebookState(page: Page): Promise<{ prompts: string[]; errors: string[] }> {
  return page.evaluate(() => ({
    prompts: Array.from(document.querySelectorAll(".jp-Notebook .jp-CodeCell .jp-InputArea-prompt")).map((p) =>
      (p.textContent ?? "").trim(),
    ),
    errors: Array.from(
      document.querySelectorAll(
        ".jp-Notebook .jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr'], .jp-Notebook .jp-OutputArea-output.jp-mod-error",
      ),
    ).map((e) => (e.textContent ?? "").slice(0, 300)),
  }));
}

/** A small run of the main notebook, as `npm run lab` opens it, by Run > Run All Cells; then its confusion matrix. */
async function notebook(browser: Browser): Promise<void> {
  const tmp = makeTempDir("fmnist-shots-lab-");
  try {
    const dir = path.join(tmp, "notebooks");
    fs.mkdirSync(dir);
    fs.copyFileSync(
      path.join(repoRoot, "notebooks", "fashion-mnist-cnn.ipynb"),
      path.join(dir, "fashion-mnist-cnn.ipynb"),
    );
    fs.symlinkSync(path.join(repoRoot, "node_modules"), path.join(tmp, "node_modules")); // the kernel finds the library
    // Three epochs of the notebook tests' small run: curves with a shape, in about a minute.
    const env = labEnv(tmp, "home", { ...smallRunEnv(path.join(tmp, "data")), FMNIST_EPOCHS: "3" });
    await withLab(startLab(path.join(repoRoot, "scripts", "lab.sh"), [`--notebook-dir=${dir}`], env), async (lab) => {
      const page = await localPage(browser, lab.base);
      await page.goto(lab.url("/lab/tree/fashion-mnist-cnn.ipynb"), { timeout: 120_000 });
      await page
        .locator(".jp-StatusBar-Widget", { hasText: /TypeScript \| Idle/ })
        .first()
        .waitFor({ timeout: 120_000 });
      await menuCommand(page, "Run", "runmenu:run-all");
      await waitFor("every cell to run (every prompt numbered)", 15 * 60_000, async () => {
        if (await page.locator(".jp-Dialog").isVisible())
          throw new Fatal(`a dialog stopped the run: ${await page.locator(".jp-Dialog").innerText()}`);
        const s = await notebookState(page);
        if (s.errors.length) throw new Fatal(`error output: ${s.errors.join(" | ")}`);
        return s.prompts.length > 0 && s.prompts.every((p) => /^\[\d+\]:$/.test(p)) ? true : undefined;
      });
      // More room for the chart: the file browser folded away.
      await menuCommand(page, "View", "filebrowser:toggle-main");
      const heading = page.locator(".jp-MarkdownCell", { hasText: "5.4 Confusion matrix" });
      await heading.scrollIntoViewIfNeeded();
      await heading.evaluate((el) => el.scrollIntoView({ block: "start" }));
      await waitFor("the confusion matrix drawn", 60_000, async () => {
        const drawn = await page.evaluate(() =>
          Array.from(document.querySelectorAll(".jp-Notebook .js-plotly-plot")).some(
            (gd) => gd.querySelectorAll("svg.main-svg g.hm").length > 0,
          ),
        );
        return drawn ? true : undefined;
      });
      await page.waitForTimeout(1_000);
      await save(page, "notebook");
    });
  } finally {
    removeDir(tmp);
  }
}

/** `npm run report` on a small run: the self-contained page, opened from disk with the network blocked. */
async function exportReport(browser: Browser): Promise<void> {
  const tmp = makeTempDir("fmnist-shots-report-");
  try {
    const out = path.join(tmp, "report.html");
    const env = labEnv(tmp, "home", { ...smallRunEnv(path.join(tmp, "data")), FMNIST_EPOCHS: "3" });
    const run = spawnSync(
      path.join(repoRoot, ".venv", "bin", "python"),
      // (--executed too: the default would replace the user's output/fashion-mnist-cnn.ipynb)
      [path.join(repoRoot, "scripts", "report.py"), "--output", out, "--executed", path.join(tmp, "executed.ipynb")],
      { cwd: repoRoot, env, encoding: "utf8", timeout: 15 * 60_000 },
    );
    if (run.status !== 0)
      throw new Error(`npm run report exited ${run.status}:\n${`${run.stdout}${run.stderr}`.slice(-3000)}`);
    const page = await localPage(browser, pathToFileURL(tmp).href);
    await page.goto(pathToFileURL(out).href, { waitUntil: "load", timeout: 120_000 });
    await page.locator(".js-plotly-plot").first().waitFor({ timeout: 60_000 });
    await page.waitForTimeout(1_000);
    await save(page, "export-report");
    await page.close();
  } finally {
    removeDir(tmp);
  }
}

/**
 * A week of the course on one machine, as test/formgrader-first-use.test.ts
 * drives it: the instructor in `npm run course-lab` releases idx-parsing, a
 * student in `npm run lab` sees it in the Assignments tab (assignments.png),
 * fetches it and submits a reader without input checks (6 of 8 points); the
 * instructor collects, autogrades and releases feedback (formgrader.png); the
 * student fetches the feedback page (feedback.png).
 */
async function course(browser: Browser, wanted: Set<string>): Promise<void> {
  const tmp = makeTempDir("fmnist-shots-course-");
  try {
    const root = copyCourse(tmp, [A]);
    const student = path.join(tmp, "student");
    fs.mkdirSync(student);
    const exchange = path.join(tmp, "exchange");
    fs.mkdirSync(exchange);
    fs.chmodSync(exchange, 0o1777);
    const courseLab = startLab(
      path.join(repoRoot, "scripts", "course-lab.sh"),
      ["--course", root],
      labEnv(tmp, "instructor-home", { FM_NBGRADER_EXCHANGE: exchange }),
    );
    await withLab(courseLab, async (instructor) => {
      // The Formgrader's own page for the clicks; Lab's Formgrader tab for the picture.
      const fg = await localPage(browser, instructor.base);
      const row = fg.locator("table tbody tr", { has: fg.locator("td.name", { hasText: new RegExp(`^${A}$`) }) });
      const home = async () => {
        await fg.goto(instructor.url("/formgrader"), { timeout: 120_000 });
        await row.waitFor({ timeout: 90_000 });
      };
      await home();
      await formgraderAction(fg, row, "assign");
      await formgraderAction(fg, row, "release");

      const studentLab = startLab(
        path.join(repoRoot, "scripts", "lab.sh"),
        [`--notebook-dir=${student}`],
        labEnv(tmp, "student-home", { FM_NBGRADER_EXCHANGE: exchange }),
      );
      await withLab(studentLab, async (sl) => {
        const lab = await localPage(browser, sl.base);
        await lab.goto(sl.url("/lab"), { timeout: 120_000 });
        await lab.locator(".jp-LabShell").waitFor({ timeout: 120_000 });
        await menuCommand(lab, "Nbgrader", "nbgrader:open-assignment-list");
        const released = lab.locator("#released_assignments_list > .list_item", { hasText: A });
        await released.waitFor({ timeout: 60_000 });
        await lab.waitForTimeout(1_000);
        if (wanted.has("assignments")) await save(lab, "assignments");
        if (!wanted.has("formgrader") && !wanted.has("feedback")) return;

        await released.locator("button", { hasText: /fetch/i }).click();
        const fetched = lab.locator("#fetched_assignments_list > .list_item", { hasText: A });
        await fetched.waitFor({ timeout: 60_000 });
        // The student's work, as their editor saves it: the reader without input checks.
        const file = path.join(student, A, `${A}.ipynb`);
        const nb = readNb(file);
        const cell = nb.cells.find((c) => c.metadata.nbgrader?.solution);
        if (!cell) throw new Error(`${file} has no solution cell`);
        cell.source = solutionText("partial");
        writeNb(file, nb);
        await fetched.locator("button", { hasText: "Submit" }).click();
        await lab
          .locator("#submitted_assignments_list .nested_list_item .item_name")
          .first()
          .waitFor({ timeout: 60_000 });

        await home();
        await formgraderAction(fg, row, "collect");
        await row.locator("td.num-submissions a").click();
        const submission = fg.locator("table tbody tr", { has: fg.locator("td.student-id") });
        await submission.waitFor({ timeout: 60_000 });
        await formgraderAction(fg, submission, "autograde");
        await home();
        await formgraderAction(fg, row, "generate-feedback");
        await formgraderAction(fg, row, "release-feedback");

        if (wanted.has("formgrader")) {
          const shown = await localPage(browser, instructor.base);
          await shown.goto(instructor.url("/fm/formgrader"), { timeout: 120_000 });
          await shown.waitForURL(/\/lab\?formgrader=true/, { timeout: 60_000 });
          const frame = shown.frameLocator("#formgrader-iframe iframe");
          const listed = frame.locator("td.name", { hasText: new RegExp(`^${A}$`) });
          await listed.waitFor({ timeout: 120_000 });
          // The table's columns need the width; its row (released, 1 submission, feedback) in view.
          await menuCommand(shown, "View", "filebrowser:toggle-main");
          await listed.evaluate((el) => el.scrollIntoView({ block: "center" }));
          await shown.waitForTimeout(1_000);
          await save(shown, "formgrader");
          await shown.close();
        }

        if (wanted.has("feedback")) {
          await lab.locator(".lm-TabBar-tab", { hasText: "Assignments" }).click();
          await lab.locator("#refresh_assignments_list").click();
          const submitted = lab.locator("#submitted_assignments_list > .list_item", { hasText: A });
          await submitted.locator("button", { hasText: "Fetch Feedback" }).click({ timeout: 60_000 });
          await submitted.locator("a", { hasText: "view feedback" }).waitFor({ timeout: 60_000 });
          const feedbackDir = path.join(student, A, "feedback");
          const [stamp] = fs.readdirSync(feedbackDir);
          const html = path.join(feedbackDir, stamp, `${A}.html`);
          const page = await localPage(browser, pathToFileURL(feedbackDir).href);
          await page.goto(pathToFileURL(html).href, { waitUntil: "load", timeout: 60_000 });
          await page
            .getByText(/Score:/)
            .first()
            .waitFor({ timeout: 30_000 });
          await save(page, "feedback");
          await page.close();
        }
      });
    });
  } finally {
    removeDir(tmp);
  }
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

const COURSE_SHOTS = ["assignments", "formgrader", "feedback"];
const NAMES = ["notebook", "export-report", ...COURSE_SHOTS, "hub-login"];

async function main(): Promise<void> {
  const asked = process.argv.slice(2);
  const unknown = asked.filter((n) => !NAMES.includes(n));
  if (unknown.length) {
    console.error(`docs-screenshots: unknown picture(s) ${unknown.join(", ")}; known: ${NAMES.join(", ")}`);
    process.exit(2);
  }
  if (!fs.existsSync(sharedDataDir)) console.error(`docs-screenshots: no dataset mirror at ${sharedDataDir}`);
  const wanted = new Set(asked.length ? asked : NAMES);
  // One run each; the three course pictures come from one run of the course.
  const runs: [string, (b: Browser) => Promise<void>][] = [];
  if (wanted.has("hub-login")) {
    if (HUB_SKIP) console.log(`docs-screenshots: hub-login skipped: ${HUB_SKIP}`);
    else runs.push(["hub-login", hubLogin]);
  }
  if (wanted.has("notebook")) runs.push(["notebook", notebook]);
  if (wanted.has("export-report")) runs.push(["export-report", exportReport]);
  const courseShots = COURSE_SHOTS.filter((n) => wanted.has(n));
  if (courseShots.length) runs.push([courseShots.join(", "), (b) => course(b, wanted)]);
  const failed: string[] = [];
  const browser = await launchChromium();
  try {
    for (const [name, run] of runs) {
      const started = Date.now();
      try {
        await run(browser);
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
