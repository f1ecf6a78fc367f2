// docs/tutorial-new-exercise.md, followed as written: the exercise's notebook
// is built from the page's marked code blocks (with the nbgrader metadata
// that the Create Assignment panel sets for each cell's Type, ID and Points),
// the page's commands run on a scratch copy of the course, and every output
// line the page shows must appear in what the commands printed (timings and
// memory figures aside). Then the page's student submission is graded to the
// score the page states.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import {
  copyCourse,
  makeTempDir,
  type Notebook,
  readNb,
  removeCourseDir,
  repoRoot,
  text,
  useCourseData,
  writeNb,
} from "./helpers";

const TUTORIAL = path.join(repoRoot, "docs", "tutorial-new-exercise.md");

/** A fenced block of the page, with the marker comment just before it. */
interface Block {
  marker: string;
  args: string[];
  lang: string;
  body: string;
}

/** Every fenced block preceded (blank lines aside) by `<!-- marker args... -->`. */
function markedBlocks(markdown: string): Block[] {
  const lines = markdown.split("\n");
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = /^<!-- (\w+):?((?: [^ ]+)*) -->$/.exec(lines[i]);
    if (!m) continue;
    let j = i + 1;
    while (j < lines.length && lines[j].trim() === "") j++;
    const fence = /^```(\w*)$/.exec(lines[j] ?? "");
    assert.ok(fence, `${TUTORIAL}:${i + 1}: the marker ${lines[i]} is not followed by a fenced block`);
    const end = lines.indexOf("```", j + 1);
    assert.ok(end > j, `${TUTORIAL}:${j + 1}: unclosed block`);
    blocks.push({
      marker: m[1],
      args: m[2].trim().split(" ").filter(Boolean),
      lang: fence[1],
      body: lines.slice(j + 1, end).join("\n"),
    });
    i = end;
  }
  return blocks;
}

/** nbgrader's cell metadata for the Create Assignment panel's Type (schema 3, as the panel writes it). */
function nbgraderMetadata(id: string, type: string, points?: number): Record<string, unknown> | undefined {
  const base = { grade_id: id, schema_version: 3, task: false };
  switch (type) {
    case "markdown":
      return undefined;
    case "readonly":
      return { ...base, grade: false, locked: true, solution: false };
    case "solution":
      return { ...base, grade: false, locked: false, solution: true };
    case "tests":
      assert.ok(points !== undefined && points > 0, `${id}: a test cell needs points`);
      return { ...base, grade: true, locked: true, points, solution: false };
    default:
      throw new Error(`${id}: unknown cell type ${type}`);
  }
}

/** The notebook as the page tells the reader to make it: TypeScript kernel, cells in order. */
function tutorialNotebook(blocks: Block[]): Notebook {
  const cells = blocks
    .filter((b) => b.marker === "cell")
    .map(({ args: [id, type, points], lang, body }) => {
      const nbgrader = nbgraderMetadata(id, type, points === undefined ? undefined : Number(points));
      const source = `${body}\n`;
      return type === "markdown"
        ? { cell_type: "markdown", id, metadata: {}, source, lang }
        : { cell_type: "code", id, metadata: { nbgrader }, source, lang, execution_count: null, outputs: [] };
    });
  for (const c of cells)
    assert.equal(c.lang, c.cell_type === "markdown" ? "markdown" : "typescript", `${c.id}: block language`);
  return {
    cells: cells.map(({ lang: _lang, ...cell }) => cell),
    metadata: {
      kernelspec: { display_name: "TypeScript", language: "typescript", name: "tslab" },
      language_info: { name: "typescript", file_extension: ".ts", mimetype: "text/typescript" },
    },
    nbformat: 4,
    nbformat_minor: 5,
  } as Notebook;
}

/** Folders of the page's Moodle archive, one per student. */
function studentFolders(course: string): string[] {
  const downloaded = path.join(course, "downloaded");
  if (!fs.existsSync(downloaded)) return [];
  return fs
    .readdirSync(downloaded)
    .filter((name) => name.endsWith("_assignsubmission_file_"))
    .map((name) => path.join(downloaded, name));
}

/** The released notebook with the page's student answers in place of the stubs. */
function studentNotebook(course: string, blocks: Block[]): Notebook {
  const nb = readNb(path.join(course, "release", "class-means", "class-means.ipynb"));
  const answers = blocks.filter((b) => b.marker === "student");
  assert.ok(answers.length > 0, "the page shows the student's answers");
  for (const { args, body } of answers) {
    const cell = nb.cells.find((c) => c.metadata.nbgrader?.grade_id === args[0]);
    assert.ok(cell?.metadata.nbgrader?.solution, `${args[0]}: no such solution cell in the student version`);
    assert.match(text(cell.source), /not implemented/, `${args[0]}: the student version has the stub`);
    cell.source = `${body}\n`;
  }
  return nb;
}

/** Durations and memory figures vary from run to run: compared as "#". */
const normalize = (line: string): string => line.trim().replace(/\d+(\.\d+)? (s|MB)\b/g, "# $2");

/** Whether a line the page shows is among the lines printed; "..." in it stands for any text (a path). */
function printed(shown: string, lines: string[]): boolean {
  const want = normalize(shown);
  if (!want.includes("...")) return lines.includes(want);
  const pattern = new RegExp(
    `^${want
      .split("...")
      .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))
      .join(".*")}$`,
  );
  return lines.some((line) => pattern.test(line));
}

test("tutorial: a new exercise from an empty notebook to grades, as the page says", { timeout: 15 * 60_000 }, () => {
  const blocks = markedBlocks(fs.readFileSync(TUTORIAL, "utf8"));
  const tmp = makeTempDir("fmnist-tutorial-");
  const restoreEnv = useCourseData(tmp);
  try {
    const course = copyCourse(tmp, []);
    /** A command of the page on the scratch course; its output (stdout and stderr). */
    const run = (line: string): string => {
      let command = line.replaceAll("exercises/", `${course}/`);
      if (/^npm run course -- /.test(command)) command += ` --course ${course}`;
      const started = Date.now();
      const r = spawnSync("bash", ["-euo", "pipefail", "-c", command], {
        cwd: repoRoot,
        encoding: "utf8",
        // No stdin: bash reads the system's bashrc when its stdin is a socket (as Node's pipes are).
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, PATH: `${path.dirname(process.execPath)}:${process.env.PATH ?? ""}` },
        timeout: 10 * 60_000,
      });
      const output = `${r.stdout}${r.stderr}`;
      console.log(`$ ${line}  (${((Date.now() - started) / 1000).toFixed(0)} s)\n${output}`);
      assert.equal(r.status, 0, `${line} failed:\n${output}`);
      return output;
    };
    const notebook = path.join(course, "source", "class-means", "class-means.ipynb");
    let last = "";
    const outputs: { commands: string; output: string }[] = [];
    for (const [i, block] of blocks.entries()) {
      if (block.marker === "run") {
        last = block.body
          .split("\n")
          .filter((l) => l.trim() && !l.startsWith("#"))
          .map(run)
          .join("");
        // Once the folder exists, the reader makes the notebook in it.
        if (fs.existsSync(path.dirname(notebook)) && !fs.existsSync(notebook))
          writeNb(notebook, tutorialNotebook(blocks));
        // Once the student's folder exists, she saves her notebook in it.
        for (const folder of studentFolders(course))
          if (!fs.existsSync(path.join(folder, "class-means.ipynb")))
            writeNb(path.join(folder, "class-means.ipynb"), studentNotebook(course, blocks));
        outputs.push({ commands: block.body, output: last });
      } else if (block.marker === "released") {
        // What the page says the student version of a cell looks like.
        const released = readNb(path.join(course, "release", "class-means", "class-means.ipynb"));
        const cell = released.cells.find((c) => c.metadata.nbgrader?.grade_id === block.args[0]);
        assert.equal(text(cell?.source ?? "").trimEnd(), block.body, `the released ${block.args[0]}`);
      } else if (block.marker === "output") {
        const lines = last.split("\n").map(normalize);
        const missing = block.body
          .split("\n")
          .filter((l) => l.trim() && l.trim() !== "...")
          .filter((l) => !printed(l, lines));
        assert.deepEqual(missing, [], `output block ${i}: lines the page shows that the command did not print`);
      }
    }

    // Beyond the lines the page shows: the checks the page promises.
    const said = (command: string) => outputs.find((o) => o.commands.includes(command))?.output ?? "";
    const validation = said("validate class-means");
    assert.match(validation, /ok {3}passes source\/class-means\/class-means\.ipynb/, "instructor version passes");
    assert.match(validation, /ok {3}fails {2}release\/class-means\/class-means\.ipynb/, "student version fails");
    const regions = [...validation.matchAll(/region \d+: (\w+) alone +(\d+) of 5/g)].map((m) => [m[1], Number(m[2])]);
    assert.deepEqual(regions, [
      ["meanImages", 2],
      ["nearestMean", 3],
    ]);
    assert.match(validation, /all regions +5 of 5/);
    assert.match(validation, /stub +0 of 5/);
    // Ada: meanImages right (2), nearestMean passes its visible test but not the hidden one (0).
    assert.match(said("autograde class-means"), /1001\/class-means: 2 of 5 points/);
    const feedback = fs.readFileSync(path.join(course, "feedback", "1001", "class-means", "class-means.html"), "utf8");
    assert.match(feedback, /measure the distance as the sum of squared differences/, "the hidden test's hint");
    assert.doesNotMatch(feedback, /BEGIN HIDDEN TESTS|testImages\.subarray/, "the hidden test's code");
  } finally {
    restoreEnv();
    removeCourseDir(tmp);
  }
});
