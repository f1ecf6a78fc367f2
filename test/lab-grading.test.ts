// nbgrader inside JupyterLab, driven through its UI in Debian's Chromium, with
// the real tslab kernel, on a temporary copy of the course:
// - a student opens the released idx-parsing stub (`generate` from
//   scripts/course.ts) in `npm run lab`'s Lab (scripts/lab.sh) and clicks the
//   notebook toolbar's Validate button: the dialog lists every test cell as
//   failed with the stub's message, not nbgrader's `KeyError: 'ename'`
//   traceback (jupyter/nbgrader#1806); the Assignment List opens with no
//   "Error fetching courses!" on a machine with no exchange set up;
// - an instructor starts `npm run course-lab -- --course DIR`
//   (scripts/course-lab.sh): the Formgrader opens on that course with its
//   assignment and one submission, Manage Submissions > autograde grades it
//   in the server, and the row shows its score (6 / 8).
// Both need .venv/etc/jupyter/nbgrader_config.py from scripts/setup-lab-grading.sh
// (jupyter/fm_grading.py). Neither Lab passes the grading run sizes
// (FMNIST_TRAIN_LIMIT, ...) on to the kernels a user starts in it.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import type { Browser, Page } from "playwright-core";
import {
  copyCourse,
  makeTempDir,
  partialReader,
  readNb,
  removeDir,
  repoRoot,
  sharedDataDir,
  text,
  withSolution,
  writeNb,
} from "./helpers";
import { launchChromium, screenshot } from "./browser";
import {
  Fatal,
  descendants,
  menuCommand,
  processInfo,
  startLab,
  labEnv as sharedLabEnv,
  waitFor,
  type LabServer,
} from "./lab";
import * as course from "../scripts/course";

const A = "idx-parsing";
// What the course's nbgrader_config.py sets while nbgrader runs a notebook; a Lab user's own kernels must not get it.
const GRADING_SIZES = ["FMNIST_TRAIN_LIMIT", "FMNIST_TEST_LIMIT", "FMNIST_EPOCHS", "FMNIST_SEED"];

let tmp: string;
let root: string;
let browser: Browser;

/** The environment both Labs start with (lab.ts's labEnv, in this test's folder). */
const labEnv = (home: string, extra: NodeJS.ProcessEnv = {}) => sharedLabEnv(tmp, home, extra);

/**
 * Starts a kernel the way a Lab user does (the server's kernel API), and returns
 * the grading run sizes its environment holds (there should be none), then stops it.
 */
async function userKernelSizes(lab: LabServer): Promise<string[]> {
  const existing = new Set(descendants(lab.pid));
  const res = await lab.api("/api/kernels", { method: "POST", body: JSON.stringify({ name: "tslab" }) });
  const answer = await res.text();
  assert.equal(res.status, 201, `starting a kernel: ${res.status} ${answer}`);
  const { id } = JSON.parse(answer) as { id: string };
  try {
    const kernel = await waitFor("the new kernel's process", 30_000, async () =>
      descendants(lab.pid)
        .filter((p) => !existing.has(p))
        .map(processInfo)
        .find((p) => p.cmdline.includes("tslab")),
    );
    return GRADING_SIZES.filter((n) => n in kernel.env).map((n) => `${n}=${kernel.env[n]}`);
  } finally {
    await lab.api(`/api/kernels/${id}`, { method: "DELETE" });
  }
}

/** Runs `body` with a fresh page, adding the server's log and a screenshot to any failure. */
async function withPage(lab: LabServer, shot: string, body: (page: Page) => Promise<void>): Promise<void> {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const offsite: string[] = [];
  await page.route("**/*", (route) => {
    const url = route.request().url();
    if (url.startsWith(lab.base) || url.startsWith("data:") || url.startsWith("blob:")) return route.continue();
    offsite.push(url);
    return route.abort();
  });
  try {
    await body(page);
    assert.deepEqual(offsite, [], "no request outside the local server");
  } catch (err) {
    await screenshot(page, shot.replace(/\.png$/, "-failed.png")).catch(() => undefined);
    throw new Error(
      `${err instanceof Error ? err.message : String(err)}\n--- server log (tail) ---\n${lab.log().slice(-4000)}`,
      { cause: err },
    );
  } finally {
    await page.close();
  }
}

before(async () => {
  const check = spawnSync("bash", [path.join(repoRoot, "scripts", "setup-lab-grading.sh"), "--check"], {
    encoding: "utf8",
  });
  assert.equal(check.status, 0, `nbgrader's configuration for JupyterLab is not in place: ${check.stderr}`);
  tmp = makeTempDir("fmnist-lab-grading-");
  root = copyCourse(tmp, [A]);
  // The dataset already in the cache the kernels read (as after a first run).
  const cache = path.join(tmp, "data", "fashion-mnist");
  fs.mkdirSync(cache, { recursive: true });
  for (const f of fs.readdirSync(sharedDataDir).filter((f) => f.endsWith(".gz")))
    fs.copyFileSync(path.join(sharedDataDir, f), path.join(cache, f));
  course.generate({ course: root, assignments: [A], quiet: true });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  if (tmp) removeDir(tmp);
});

test(
  "a student validates the released stub from the notebook's Validate button: failing tests, no KeyError",
  { timeout: 6 * 60_000 },
  async () => {
    // The student's own folder with the released notebook, as fetched.
    const student = path.join(tmp, "student");
    const released = path.join(root, "release", A, `${A}.ipynb`);
    writeNb(path.join(student, A, `${A}.ipynb`), readNb(released));
    const graded = readNb(released).cells.filter((c) => c.cell_type === "code" && c.metadata.nbgrader?.grade);
    assert.equal(graded.length, 4, "the stub has four test cells");

    // `npm run lab -- --notebook-dir=DIR` without the npm setup step; the default course (exercises/) configures grading.
    const lab = await startLab(
      path.join(repoRoot, "scripts", "lab.sh"),
      [`--notebook-dir=${student}`],
      labEnv("student-home"),
    );
    try {
      await withPage(lab, "lab-grading-validate.png", async (page) => {
        await page.goto(lab.url(`/lab/tree/${A}/${A}.ipynb`), { timeout: 120_000 });
        await page.locator(".jp-NotebookPanel .jp-Notebook .jp-CodeCell").first().waitFor({ timeout: 120_000 });
        const validate = page.locator(".jp-NotebookPanel-toolbar .validate-button");
        await validate.waitFor({ timeout: 60_000 });
        // The label inside Lab's toolbar button takes the click (the button's own box is under it).
        await validate.getByText("Validate", { exact: true }).click();

        const dialog = page.locator(".jp-Dialog");
        const shown = await waitFor("the validation results", 4 * 60_000, async () => {
          if (!(await dialog.isVisible())) return undefined;
          const body = await dialog.innerText();
          if (/Validating|Saving/.test(body)) return undefined;
          return body;
        });
        await screenshot(page, "lab-grading-validate.png");
        assert.match(shown, /Validation Results/, `the dialog is the validation's: ${shown.slice(0, 500)}`);
        assert.doesNotMatch(
          shown,
          /KeyError|Traceback|There was an error running the validate command/,
          shown.slice(0, 3000),
        );
        assert.equal(
          shown.split("The following cell failed:").length - 1,
          graded.length,
          `every test cell is listed as failed:\n${shown.slice(0, 3000)}`,
        );
        for (const cell of graded) {
          const first = text(cell.source).split("\n")[0];
          assert.ok(shown.includes(first), `the failing test "${first}" is shown`);
        }
        assert.match(shown, /not implemented: replace this line with your solution/, "the stub's own message is shown");
        await dialog.locator(".jp-mod-accept").click();

        // The Assignment List with no exchange set up on the machine: the project's own (made by setup).
        await menuCommand(page, "Nbgrader", "nbgrader:open-assignment-list");
        const course = page.locator("#course_list_default");
        const label = await waitFor("the Assignment List's course list", 60_000, async () => {
          const t = (await course.innerText()).trim();
          return t && !/Loading/.test(t) ? t : undefined;
        });
        assert.notEqual(label, "Error fetching courses!", "the Assignment List reaches an exchange");
        const errors = await page
          .locator("#assignments .alert-danger:visible, [id$='_list_error']:visible")
          .allInnerTexts();
        assert.deepEqual(errors, [], "the Assignment List shows no error");
      });
      assert.deepEqual(await userKernelSizes(lab), [], "a kernel the student starts gets no grading run sizes");
    } finally {
      await lab.stop();
    }
  },
);

test(
  "an instructor autogrades a submission from the Formgrader in course-lab and sees its score",
  { timeout: 6 * 60_000 },
  async () => {
    // A reader without any input checks: 3 of the 4 test cells pass (6 of 8 points).
    const source = readNb(path.join(root, "source", A, `${A}.ipynb`));
    const partial = partialReader(source);
    writeNb(path.join(root, "submitted", "alice", A, `${A}.ipynb`), partial);
    // And one whose solution cell also prints ~30 MB: graded in the server, its output capped, its result shown.
    const flood = withSolution(
      source,
      (s) => `${s}\nfor (let i = 0; i < 300000; i++) console.log("flood ".repeat(16) + i);`,
    );
    writeNb(path.join(root, "submitted", "flo", A, `${A}.ipynb`), flood);
    const exchange = path.join(tmp, "exchange");
    fs.mkdirSync(exchange);

    const lab = await startLab(
      path.join(repoRoot, "scripts", "course-lab.sh"),
      ["--course", root],
      labEnv("instructor-home", { FM_NBGRADER_EXCHANGE: exchange }),
    );
    try {
      await withPage(lab, "lab-grading-formgrader.png", async (page) => {
        // course-lab opens the Formgrader (an iframe in Lab's main area) on the course.
        await page.goto(lab.url("/"), { timeout: 120_000 });
        await page.locator("#formgrader-iframe iframe").waitFor({ timeout: 120_000 });
        const fg = page.frameLocator("#formgrader-iframe iframe");
        const rows = fg.locator("table tbody tr:has(td.name)");
        const listed = await waitFor("the Formgrader's assignments", 60_000, async () => {
          if (await fg.locator("#error-500").count())
            throw new Fatal("the Formgrader shows its error page (no course inside the Lab's root?)");
          const names = (await rows.locator("td.name").allInnerTexts()).map((t) => t.trim());
          return names.length ? names : undefined;
        });
        assert.deepEqual(listed, [A], "the Formgrader lists the course's assignment");
        const submissions = rows.first().locator("td.num-submissions a");
        assert.equal((await submissions.innerText()).trim(), "2", "with its two submissions");

        await submissions.click();
        const row = fg.locator("table tbody tr", { hasText: "alice" });
        await row.waitFor({ timeout: 60_000 });
        assert.equal((await row.locator("td.score").innerText()).trim(), "", "not graded yet");
        await row.locator("td.autograde a").click();
        const modal = await waitFor("the autograde result", 4 * 60_000, async () => {
          for (const id of ["#success-modal", "#error-modal"]) {
            const m = fg.locator(`${id}:visible`);
            if (await m.count()) return { ok: id === "#success-modal", body: await m.innerText() };
          }
          return undefined;
        });
        await screenshot(page, "lab-grading-autograde.png");
        assert.ok(modal.ok, `autograde failed in the Formgrader:\n${modal.body.slice(0, 4000)}`);
        assert.match(modal.body, new RegExp(`Successfully autograded '${A}' for student 'alice'`));
        await fg.locator("#success-modal button.close, #success-modal .modal-footer button").first().click();
        await fg.locator("#success-modal").waitFor({ state: "hidden", timeout: 30_000 });
        const score = await waitFor("the submission's score", 60_000, async () => {
          const t = (await fg.locator("table tbody tr", { hasText: "alice" }).locator("td.score").innerText()).trim();
          return t ? t : undefined;
        });
        assert.equal(score, "6 / 8", "the Formgrader shows the score: 3 of 4 test cells pass");
        // The flooding submission: the Formgrader shows its result too (the output was capped while grading).
        const flo = fg.locator("table tbody tr", { hasText: "flo" });
        await flo.locator("td.autograde a").click();
        const floModal = await waitFor("the flooding submission's autograde result", 4 * 60_000, async () => {
          for (const id of ["#success-modal", "#error-modal"]) {
            const m = fg.locator(`${id}:visible`);
            if (await m.count()) return { ok: id === "#success-modal", body: await m.innerText() };
          }
          return undefined;
        });
        assert.ok(floModal.ok, `autograde of the flooding submission failed:\n${floModal.body.slice(0, 4000)}`);
        await fg.locator("#success-modal button.close, #success-modal .modal-footer button").first().click();
        await fg.locator("#success-modal").waitFor({ state: "hidden", timeout: 30_000 });
        const floScore = await waitFor("the flooding submission's score", 60_000, async () => {
          const t = (await flo.locator("td.score").innerText()).trim();
          return t ? t : undefined;
        });
        assert.equal(floScore, "8 / 8", "a right reader that also floods its output still earns its points");
        await screenshot(page, "lab-grading-formgrader.png");
      });
      // The tslab adaptation graded it: the failing test cell's error is recorded (stock nbgrader: KeyError, no grade).
      const gradedNb = readNb(path.join(root, "autograded", "alice", A, `${A}.ipynb`));
      const errorsCell = gradedNb.cells.find((c) => c.metadata.nbgrader?.grade_id === `${A}-test-errors`);
      assert.ok(
        errorsCell?.outputs?.some((o) => o.output_type === "error"),
        "the failing test cell has an error output in the graded copy",
      );
      assert.deepEqual(await userKernelSizes(lab), [], "a kernel the instructor starts gets no grading run sizes");
    } finally {
      await lab.stop();
    }
  },
);
