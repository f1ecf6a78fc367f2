// The partial-credit matrix of an exercise: what each solution region earns
// alone, graded by the course's own autograde (sandboxed, side by side).
//
// For every assignment, submissions are made from the instructor version and
// its released student version: the stub (the student version untouched),
// every region alone (that region's solution, every other region left as the
// student's stub) and all regions (the solution). They are graded in a
// temporary copy of the course, so the instructor's gradebook is never
// touched. `npm run course -- validate` prints the matrix; the test
// test/partial-credit.test.ts checks it for every exercise.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { repoRoot } from "fashion-mnist-lib/dist/runtime/paths";
import { generate } from "./assignments";
import { type AutogradeReport, autograde } from "./grading";
import { CourseError, type CourseOptions } from "./nbgrader";

/** One graded variant of an exercise: a region alone, all regions, or the stub. */
export interface CreditRow {
  /** "region 2: bestEpoch", "all regions" or "stub". */
  label: string;
  /** Points earned; undefined when the submission could not be graded (see `problem`). */
  score?: number;
  problem?: string;
  /** Each failed test cell's message (the first line of what it printed on stderr, or its error). */
  failures?: { cell: string; message: string }[];
}

export interface CreditMatrix {
  assignment: string;
  /** Total points of the exercise's test cells. */
  max: number;
  /** One row per solution region, in notebook order. */
  regions: CreditRow[];
  all: CreditRow;
  stub: CreditRow;
}

interface Cell {
  cell_type: string;
  source: string | string[];
  metadata: { nbgrader?: { grade_id?: string; solution?: boolean; grade?: boolean; points?: number } };
  outputs?: { output_type: string; name?: string; text?: string | string[]; ename?: string; evalue?: string }[];
}
interface Notebook {
  cells: Cell[];
}

const BEGIN = /^\s*\/\/\s*BEGIN SOLUTION\s*$/;
const END = /^\s*\/\/\s*END SOLUTION\s*$/;
const text = (s: string | string[]) => (Array.isArray(s) ? s.join("") : s);

/** A solution cell split into the code around its regions and the regions' own lines. */
interface SplitCell {
  /** outside[0], region 0, outside[1], region 1, ..., outside[n]. */
  outside: string[][];
  solutions: string[][];
  stubs: string[][];
  /** The function or method each region is in. */
  names: string[];
}

/**
 * Splits the source's solution cell into regions, and finds each region's
 * stub in the released cell (nbgrader keeps the code around the regions as
 * it is and puts the same number of stub lines in place of each).
 */
function splitCell(source: string, released: string, id: string): SplitCell {
  const lines = source.split("\n");
  const outside: string[][] = [[]];
  const solutions: string[][] = [];
  const names: string[] = [];
  let inRegion = false;
  for (const [i, line] of lines.entries()) {
    if (BEGIN.test(line)) {
      inRegion = true;
      solutions.push([]);
      const before = lines.slice(0, i).reverse();
      const head = before
        .map((l) => /\bfunction\s+(\w+)|^\s*(?:async\s+)?(\w+)\s*\(.*\)\s*(?::.*)?\{\s*$/.exec(l))
        .find((m) => m);
      names.push(head ? (head[1] ?? head[2]) : `region ${solutions.length}`);
    } else if (END.test(line)) {
      inRegion = false;
      outside.push([]);
    } else if (inRegion) solutions[solutions.length - 1].push(line);
    else outside[outside.length - 1].push(line);
  }
  const releasedLines = released.split("\n");
  const outsideCount = outside.reduce((n, o) => n + o.length, 0);
  const stubLength = (releasedLines.length - outsideCount) / solutions.length;
  if (!Number.isInteger(stubLength) || stubLength < 0)
    throw new CourseError(`${id}: the released cell does not match the source's (regenerate the student version)`);
  const stubs: string[][] = [];
  let at = 0;
  for (const [k, part] of outside.entries()) {
    if (releasedLines.slice(at, at + part.length).join("\n") !== part.join("\n"))
      throw new CourseError(`${id}: the released cell does not match the source's (regenerate the student version)`);
    at += part.length;
    if (k < solutions.length) {
      stubs.push(releasedLines.slice(at, at + stubLength));
      at += stubLength;
    }
  }
  return { outside, solutions, stubs, names };
}

/** The released notebook with the solution of the regions in `keep` (indices over the whole notebook) filled in. */
function variant(released: Notebook, cells: Map<number, SplitCell>, keep: (region: number) => boolean): Notebook {
  const nb = structuredClone(released);
  let region = 0;
  for (const [index, split] of cells) {
    const out: string[] = [];
    for (const [k, part] of split.outside.entries()) {
      out.push(...part);
      if (k < split.solutions.length) {
        out.push(...(keep(region) ? split.solutions[k] : split.stubs[k]));
        region++;
      }
    }
    nb.cells[index].source = out.join("\n");
  }
  return nb;
}

/** The submissions of one assignment's matrix, by label, from its source and released notebooks. */
export function creditSubmissions(source: Notebook, released: Notebook): { label: string; notebook: Notebook }[] {
  if (source.cells.length !== released.cells.length)
    throw new CourseError("the released notebook does not match the source's (regenerate the student version)");
  const cells = new Map<number, SplitCell>();
  const names: string[] = [];
  for (const [i, cell] of source.cells.entries()) {
    const lines = text(cell.source).split("\n");
    if (!cell.metadata.nbgrader?.solution || cell.cell_type !== "code" || !lines.some((l) => BEGIN.test(l))) continue;
    const id = cell.metadata.nbgrader.grade_id ?? `cell ${i}`;
    const split = splitCell(text(cell.source), text(released.cells[i].source), id);
    cells.set(i, split);
    names.push(...split.names);
  }
  return [
    ...names.map((name, k) => ({
      label: `region ${k + 1}: ${name}`,
      notebook: variant(released, cells, (r) => r === k),
    })),
    { label: "all regions", notebook: variant(released, cells, () => true) },
    { label: "stub", notebook: released },
  ];
}

const readNb = (file: string) => JSON.parse(fs.readFileSync(file, "utf8")) as Notebook;

/**
 * A temporary course folder with the course's configuration and the named
 * assignments' source, and the project's node_modules next to it (the
 * notebooks import fashion-mnist-lib). Returns the course folder.
 */
function scratchCourse(course: string, names: string[]): string {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "course-credit-"));
  const root = path.join(tmp, "course");
  fs.mkdirSync(path.join(root, "source"), { recursive: true });
  for (const entry of fs.readdirSync(course, { withFileTypes: true }))
    if (entry.isFile() && entry.name.endsWith(".py"))
      fs.copyFileSync(path.join(course, entry.name), path.join(root, entry.name));
  for (const a of names) fs.cpSync(path.join(course, "source", a), path.join(root, "source", a), { recursive: true });
  fs.symlinkSync(path.join(repoRoot(), "node_modules"), path.join(tmp, "node_modules"));
  return root;
}

/** The failed test cells of a graded notebook, each with its message. */
function failuresOf(notebook: string): { cell: string; message: string }[] {
  if (!fs.existsSync(notebook)) return [];
  return readNb(notebook).cells.flatMap((c) => {
    const error = c.outputs?.find((o) => o.output_type === "error");
    const stderr = (c.outputs ?? [])
      .filter((o) => o.output_type === "stream" && o.name === "stderr")
      .map((o) => text(o.text ?? ""))
      .join("");
    if (!c.metadata.nbgrader?.grade || (!error && !stderr)) return [];
    // tslab prints the code frame first ("evalmachine.<anonymous>:5", the line, a caret), then "XError: message".
    const lines = stderr.split("\n").filter((l) => l.trim() && !/^(WARNING: All log messages|I0000|W0000)/.test(l));
    const line = lines.find((l) => /^\s*(Uncaught\s+)?[\w.]*(Error|Exception)\b[^:]*:\s/.test(l)) ?? lines[0];
    return [
      { cell: c.metadata.nbgrader.grade_id ?? "?", message: (line ?? `${error?.ename}: ${error?.evalue}`).trim() },
    ];
  });
}

function scoreOf(course: string, student: string, assignment: string): number {
  const res = spawnSync(
    path.join(repoRoot(), ".venv", "bin", "python"),
    [path.join(repoRoot(), "scripts", "gradebook_score.py"), path.join(course, "gradebook.db"), student, assignment],
    { encoding: "utf8" },
  );
  if (res.status !== 0) throw new CourseError(`cannot read the score of ${student}/${assignment}: ${res.stderr}`);
  return (JSON.parse(res.stdout) as { score: number }).score;
}

/**
 * The partial-credit matrix of each named assignment (all of the course's
 * when none are named), graded by autograde in a temporary copy of the
 * course: every submission side by side (opts.jobs), each in the sandbox.
 */
export async function creditMatrix(opts: CourseOptions): Promise<CreditMatrix[]> {
  const names = opts.assignments;
  const root = scratchCourse(opts.course, names);
  try {
    const scratch: CourseOptions = { ...opts, course: root, quiet: true, submissions: undefined, students: undefined };
    generate(scratch);
    const plan = names.map((a) => {
      const source = readNb(path.join(root, "source", a, `${a}.ipynb`));
      const released = readNb(path.join(root, "release", a, `${a}.ipynb`));
      const max = source.cells.reduce(
        (n, c) => n + (c.metadata.nbgrader?.grade ? (c.metadata.nbgrader.points ?? 0) : 0),
        0,
      );
      const subs = creditSubmissions(source, released).map((s, i, all) => ({
        ...s,
        student: i === all.length - 1 ? "credit-stub" : i === all.length - 2 ? "credit-all" : `credit-region-${i + 1}`,
      }));
      for (const s of subs) {
        const file = path.join(root, "submitted", s.student, a, `${a}.ipynb`);
        fs.mkdirSync(path.dirname(file), { recursive: true });
        // Other files of the assignment (data a notebook reads) go with every submission, as students have them.
        for (const entry of fs.readdirSync(path.join(root, "release", a), { withFileTypes: true }))
          if (entry.name !== `${a}.ipynb`)
            fs.cpSync(path.join(root, "release", a, entry.name), path.join(path.dirname(file), entry.name), {
              recursive: true,
            });
        fs.writeFileSync(file, JSON.stringify(s.notebook, null, 1));
      }
      return { assignment: a, max, subs };
    });
    if (!opts.quiet) {
      const count = plan.reduce((n, p) => n + p.subs.length, 0);
      console.log(`course: partial credit: grading ${count} submissions (each solution region alone, all, the stub)`);
    }
    const report: AutogradeReport = { graded: [], failed: [], skipped: [], removed: [] };
    await autograde(scratch, report);
    const problems = [...report.failed, ...report.skipped];
    return plan.map(({ assignment, max, subs }) => {
      const rows: CreditRow[] = subs.map((s) => {
        const id = `${s.student}/${assignment}`;
        const problem = problems.find((p) => p.startsWith(`${id}:`));
        if (problem || !report.graded.includes(id))
          return {
            label: s.label,
            problem: problem?.slice(id.length + 2).replace(/^could not grade: /, "") ?? "not graded",
          };
        return {
          label: s.label,
          score: scoreOf(root, s.student, assignment),
          failures: failuresOf(path.join(root, "autograded", s.student, assignment, `${assignment}.ipynb`)),
        };
      });
      return { assignment, max, regions: rows.slice(0, -2), all: rows[rows.length - 2], stub: rows[rows.length - 1] };
    });
  } finally {
    fs.rmSync(path.dirname(root), { recursive: true, force: true });
  }
}

/** The matrix as lines of text, one per submission. */
export function formatCredit(m: CreditMatrix): string {
  const rows = [...m.regions.map((r) => ({ ...r, label: `${r.label} alone` })), m.all, m.stub];
  const width = Math.max(...rows.map((r) => r.label.length));
  return [
    `partial credit, ${m.assignment} (${m.max} points):`,
    ...rows.map(
      (r) =>
        `  ${r.label.padEnd(width)}  ${r.score === undefined ? `could not grade: ${r.problem}` : `${r.score} of ${m.max}`}`,
    ),
  ].join("\n");
}

/** What is wrong with a matrix: a region alone earning nothing, all regions short of full marks, the stub earning points. */
export function creditProblems(m: CreditMatrix): string[] {
  const out: string[] = [];
  for (const r of m.regions)
    if (!(r.score! > 0))
      out.push(
        `${m.assignment}: ${r.label} alone earns ${r.score ?? `nothing (${r.problem})`}` +
          (r.failures ?? []).map((f) => `\n    ${f.cell}: ${f.message}`).join(""),
      );
  if (m.all.score !== m.max) out.push(`${m.assignment}: all regions earn ${m.all.score ?? m.all.problem} of ${m.max}`);
  if (m.stub.score !== 0) out.push(`${m.assignment}: the stub earns ${m.stub.score ?? m.stub.problem}, not 0`);
  return out;
}
