// An instructor's first hour, in Debian's Chromium: a course folder that has
// never been graded (no gradebook, no command run before), opened with
// `npm run course-lab -- --course DIR` at the address it prints; the whole
// week runs through the Formgrader and a student's Assignments tab (the
// student in `npm run lab` on the same machine, the same exchange), on
// `normalize-split` (the other Lab tests use idx-parsing): generate, release;
// fetch, Validate, Submit; collect, autograde (full marks for the instructor's
// own solution), generate and release feedback; fetch feedback. The dataset
// cache starts empty too: the student's Validate is the first kernel, and its
// sandbox has no network (kernel_sandbox fills the cache before it starts).
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import type { FrameLocator, Locator, Page } from "playwright-core";
import { copyCourse, makeTempDir, readNb, removeDir, repoRoot, text, writeNb } from "./helpers";
import { launchChromium, screenshot } from "./browser";
import { Fatal, labEnv, menuCommand, startLab, waitFor, type LabServer } from "./lab";

const A = "normalize-split";

/** Clicks a Formgrader action in `row` (inside Lab's Formgrader frame), waits for its result window, closes it. */
async function act(fg: FrameLocator, row: Locator, column: string): Promise<string> {
  await row.locator(`td.${column} a`).click({ timeout: 30_000 });
  const result = await waitFor(`the Formgrader's ${column}`, 4 * 60_000, async () => {
    for (const id of ["#success-modal", "#error-modal"]) {
      const m = fg.locator(`${id}:visible`);
      if (await m.count()) return { ok: id === "#success-modal", body: await m.innerText(), modal: m };
    }
    return undefined;
  });
  await result.modal.locator(".modal-footer button").first().click();
  await result.modal.waitFor({ state: "hidden", timeout: 30_000 });
  assert.ok(result.ok, `the Formgrader's ${column} failed:\n${result.body.slice(0, 4000)}`);
  return result.body;
}

/** The fetched notebook with every solution cell as the instructor wrote it (the markers taken out). */
function solved(fetched: string, source: string): void {
  const nb = readNb(fetched);
  const byId = new Map(readNb(source).cells.map((c) => [c.metadata.nbgrader?.grade_id, c]));
  for (const cell of nb.cells.filter((c) => c.metadata.nbgrader?.solution)) {
    const original = byId.get(cell.metadata.nbgrader!.grade_id)!;
    cell.source = text(original.source)
      .split("\n")
      .filter((l) => !/(BEGIN|END) SOLUTION/.test(l))
      .join("\n");
  }
  writeNb(fetched, nb);
}

test(
  "course-lab on a never-graded course: the printed address, then release, submit, collect, autograde, feedback",
  { timeout: 15 * 60_000 },
  async () => {
    const tmp = makeTempDir("fmnist-first-use-");
    const root = copyCourse(tmp, [A]);
    const student = path.join(tmp, "student");
    fs.mkdirSync(student);
    const exchange = path.join(tmp, "exchange");
    fs.mkdirSync(exchange);
    fs.chmodSync(exchange, 0o1777);
    assert.ok(!fs.existsSync(path.join(root, "gradebook.db")), "the course has never been graded");
    const browser = await launchChromium();
    const labs: LabServer[] = [];
    const offsite: string[] = [];
    const page = async (lab: LabServer): Promise<Page> => {
      const p = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
      await p.route("**/*", (route) => {
        const url = route.request().url();
        if (url.startsWith(lab.base) || url.startsWith("data:") || url.startsWith("blob:")) return route.continue();
        offsite.push(url);
        return route.abort();
      });
      return p;
    };
    let current: Page | undefined;
    try {
      const instructor = await startLab(
        path.join(repoRoot, "scripts", "course-lab.sh"),
        ["--course", root],
        labEnv(tmp, "instructor-home", { FM_NBGRADER_EXCHANGE: exchange }),
      );
      labs.push(instructor);
      // The address Jupyter prints: one "?" (the token), and it opens Lab with the Formgrader.
      const printed = /http:\/\/127\.0\.0\.1:\d+(\/\S*)/.exec(instructor.log())?.[1];
      assert.ok(printed, `course-lab printed its address:\n${instructor.log().slice(-2000)}`);
      assert.match(printed, /^\/fm\/formgrader\?token=\S+$/, "one query, the token's");
      const fgPage = await page(instructor);
      current = fgPage;
      await fgPage.goto(instructor.url("/fm/formgrader"), { timeout: 120_000 });
      await fgPage.waitForURL(/\/lab\?formgrader=true/, { timeout: 60_000 });
      await fgPage.locator("#formgrader-iframe iframe").waitFor({ timeout: 120_000 });
      const fg = fgPage.frameLocator("#formgrader-iframe iframe");
      const row = fg.locator("table tbody tr", { has: fg.locator("td.name", { hasText: new RegExp(`^${A}$`) }) });
      await waitFor("the Formgrader's assignments on first use", 90_000, async () => {
        if (await fg.locator("#error-500").count()) throw new Fatal("the Formgrader shows its error page");
        return (await row.count()) ? true : undefined;
      });
      assert.ok(fs.existsSync(path.join(root, "gradebook.db")), "the Formgrader made the gradebook");
      assert.doesNotMatch(instructor.log(), /500 GET|FileNotFoundError/, "no server error on first use");
      await act(fg, row, "assign");
      await act(fg, row, "release");
      await screenshot(fgPage, "first-use-released.png");

      // The student: the Assignments tab in their own Lab.
      const studentLab = await startLab(
        path.join(repoRoot, "scripts", "lab.sh"),
        [`--notebook-dir=${student}`],
        labEnv(tmp, "student-home", { FM_NBGRADER_EXCHANGE: exchange }),
      );
      labs.push(studentLab);
      const lab = await page(studentLab);
      current = lab;
      await lab.goto(studentLab.url("/lab"), { timeout: 120_000 });
      await lab.locator(".jp-LabShell").waitFor({ timeout: 120_000 });
      await menuCommand(lab, "Nbgrader", "nbgrader:open-assignment-list");
      const released = lab.locator("#released_assignments_list > .list_item", { hasText: A });
      await released.waitFor({ timeout: 60_000 });
      await released.locator("button", { hasText: /fetch/i }).click();
      const fetched = lab.locator("#fetched_assignments_list > .list_item", { hasText: A });
      await fetched.waitFor({ timeout: 60_000 });
      const notebook = path.join(student, A, `${A}.ipynb`);
      solved(notebook, path.join(root, "source", A, `${A}.ipynb`)); // (as their editor saves it)
      await fetched.locator("a.assignment-notebooks-link").click();
      await fetched.locator(".assignment-notebooks a", { hasText: A }).click();
      await lab.locator(".jp-NotebookPanel-toolbar .validate-button").getByText("Validate", { exact: true }).click();
      const dialog = lab.locator(".jp-Dialog");
      const shown = await waitFor("the validation results", 4 * 60_000, async () => {
        if (!(await dialog.isVisible())) return undefined;
        const body = await dialog.innerText();
        return /Validating|Saving/.test(body) ? undefined : body;
      });
      assert.match(shown, /Success! Your notebook passes all the tests/, shown.slice(0, 3000));
      await dialog.locator(".jp-mod-accept").click();
      await lab.locator(".lm-TabBar-tab", { hasText: "Assignments" }).click();
      await fetched.locator("button", { hasText: "Submit" }).click();
      await lab
        .locator("#submitted_assignments_list .nested_list_item .item_name")
        .first()
        .waitFor({ timeout: 60_000 });

      // The instructor collects, autogrades, gives feedback.
      current = fgPage;
      await fgPage.reload();
      await fgPage.locator("#formgrader-iframe iframe").waitFor({ timeout: 120_000 });
      await row.waitFor({ timeout: 60_000 });
      await act(fg, row, "collect");
      await waitFor("one submission", 30_000, async () =>
        (await row.locator("td.num-submissions").innerText()).trim() === "1" ? true : undefined,
      );
      await row.locator("td.num-submissions a").click();
      const submission = fg.locator("table tbody tr", { has: fg.locator("td.student-id") });
      await submission.waitFor({ timeout: 60_000 });
      await act(fg, submission, "autograde");
      const score = await waitFor("the score", 60_000, async () => {
        const t = (await submission.locator("td.score").innerText()).trim();
        return t ? t : undefined;
      });
      const [got, max] = score.split("/").map((s) => Number(s.trim()));
      assert.ok(max > 0 && got === max, `the instructor's own solution earns full marks: ${score}`);
      await fgPage.reload();
      await fgPage.locator("#formgrader-iframe iframe").waitFor({ timeout: 120_000 });
      await row.waitFor({ timeout: 60_000 });
      await act(fg, row, "generate-feedback");
      await act(fg, row, "release-feedback");
      await screenshot(fgPage, "first-use-graded.png");

      // The student fetches the feedback.
      current = lab;
      await lab.locator(".lm-TabBar-tab", { hasText: "Assignments" }).click();
      await lab.locator("#refresh_assignments_list").click();
      const submitted = lab.locator("#submitted_assignments_list > .list_item", { hasText: A });
      await submitted.locator("button", { hasText: "Fetch Feedback" }).click({ timeout: 60_000 });
      await submitted.locator("a", { hasText: "view feedback" }).waitFor({ timeout: 60_000 });
      const feedbackDir = path.join(student, A, "feedback");
      const [stamp] = fs.readdirSync(feedbackDir);
      const html = fs.readFileSync(path.join(feedbackDir, stamp, `${A}.html`), "utf8");
      assert.match(html, new RegExp(`${A} \\(Score: ${got}\\.0 / ${max}\\.0\\)`));
      assert.deepEqual(offsite, [], "no request left the machine");
    } catch (err) {
      if (current && !current.isClosed()) await screenshot(current, "first-use-failed.png").catch(() => undefined);
      throw new Error(
        `${err instanceof Error ? err.message : String(err)}\n--- servers' logs (tail) ---\n` +
          labs.map((l) => l.log().slice(-3000)).join("\n---\n"),
        { cause: err },
      );
    } finally {
      await browser.close().catch(() => undefined);
      for (const l of labs) await l.stop();
      removeDir(tmp);
    }
  },
);
