// The class the bench runs: what each student runs (the main notebook's code cells, at the grading
// sizes unless full size), and the throwaway class itself (a roster with a random prefix, an API token
// for the bench, the hub's state folder), removed again with its users and homes.
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { spawnSync } from "child_process";
import { repoRoot } from "fashion-mnist-lib/dist/runtime/paths";
import { hubCommand, type RunningHub, userExists } from "../../test/hub";
import type { Cell } from "./student";

export const ROOT = repoRoot();
const NOTEBOOK = path.join(ROOT, "notebooks", "fashion-mnist-cnn.ipynb");
const COURSE_CONFIG = path.join(ROOT, "exercises", "nbgrader_config.py");

/** The grading sizes, read from the course's configuration (what nbgrader gives a notebook while grading). */
export function gradingSizes(): Record<string, string> {
  const text = fs.readFileSync(COURSE_CONFIG, "utf8");
  const sizes: Record<string, string> = {};
  for (const m of text.matchAll(/"(FMNIST_[A-Z_]+)":\s*"(\d+)"/g)) sizes[m[1]] = m[2];
  if (!sizes.FMNIST_TRAIN_LIMIT || !sizes.FMNIST_EPOCHS)
    throw new Error(`found no FMNIST_TRAIN_LIMIT/FMNIST_EPOCHS in ${COURSE_CONFIG}'s kernel_env`);
  return sizes;
}

export function notebookCells(): Cell[] {
  const nb = JSON.parse(fs.readFileSync(NOTEBOOK, "utf8")) as {
    cells: { cell_type: string; source: string | string[] }[];
  };
  return nb.cells
    .map((c, index) => ({ index, type: c.cell_type, code: Array.isArray(c.source) ? c.source.join("") : c.source }))
    .filter((c) => c.type === "code" && c.code.trim())
    .map(({ index, code }) => ({ index, code }));
}

/** A throwaway class on disk: one instructor and the students, and the bench's own hub service. */
export interface BenchClass {
  tmp: string;
  prefix: string;
  students: string[];
  everyone: string[];
  roster: string;
  /** JupyterHub configuration added to the hub's: the bench's service and its role. */
  extra: string;
  token: string;
  state: string;
}

export function writeClass(studentCount: number): BenchClass {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "hub-load-"));
  fs.chmodSync(tmp, 0o755); // the state's exchange inside must be reachable by the class
  const prefix = `hl${crypto.randomBytes(3).toString("hex")}`;
  const students = Array.from({ length: studentCount }, (_, i) => `${prefix}-s${i + 1}`);
  const everyone = [`${prefix}-t`, ...students];
  const roster = path.join(tmp, "roster.csv");
  fs.writeFileSync(
    roster,
    ["username,role,name", `${prefix}-t,instructor,Load Instructor`, ...students.map((s) => `${s},student,Load ${s}`)]
      .join("\n")
      .concat("\n"),
  );
  // An API token for this bench: a JupyterHub service with a role that may start, reach and read servers.
  const token = crypto.randomBytes(32).toString("hex");
  const extra = path.join(tmp, "bench-service.py");
  fs.writeFileSync(
    extra,
    [
      "c.JupyterHub.services = [{'name': 'hub-load-bench', 'api_token': " + JSON.stringify(token) + "}]",
      "c.JupyterHub.load_roles = [{'name': 'hub-load-bench', 'services': ['hub-load-bench'],",
      "                            'scopes': ['admin:servers', 'access:servers', 'read:users']}]",
      "",
    ].join("\n"),
    { mode: 0o600 },
  );
  return { tmp, prefix, students, everyone, roster, extra, token, state: path.join(tmp, "state") };
}

/** Stops the hub (if it started), tears its state down, removes the class's users, homes and files. */
export async function removeClass(cls: BenchClass, starting: Promise<RunningHub> | undefined): Promise<void> {
  await starting?.then(
    (h) => h.stop(),
    () => undefined,
  );
  const teardown = hubCommand(["--teardown", "--state", cls.state]);
  if (teardown.status !== 0) console.error(`bench:hub: --teardown failed:\n${teardown.output}`);
  for (const u of cls.everyone)
    if (userExists(u)) spawnSync("userdel", ["--remove", "--force", u], { timeout: 30_000 });
  fs.rmSync(cls.tmp, { recursive: true, force: true });
  const left = cls.everyone.filter(userExists);
  if (left.length) console.error(`bench:hub: could not remove the users ${left.join(", ")}`);
}
