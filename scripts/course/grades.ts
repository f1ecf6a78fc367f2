// grades.csv: nbgrader's export, with a status column that says why a row has
// no grade, and the graded scores as tables for the summary and the LMS files.
import * as fs from "fs";
import * as path from "path";
import pl from "nodejs-polars";
import { readGradingLog } from "./grading-log";
import { assignments, type CourseOptions, nbgrader } from "./nbgrader";

/** What grades.csv's status column says of a student's assignment. */
export type GradeStatus = "graded" | "late" | "not submitted" | "not graded" | "could not grade";

/** nbgrader's naive UTC time ("2026-03-01 09:00:00.123456", maybe with an offset) in ms, or NaN. */
function utcMs(text: string | null | undefined): number {
  const t = (text ?? "")
    .trim()
    .replace(" ", "T")
    .replace(/(\.\d{3})\d+/, "$1")
    .replace(/ ?UTC$/, "");
  return t ? Date.parse(/(Z|[+-]\d\d:?\d\d)$/.test(t) ? t : `${t}Z`) : NaN;
}

/** A CSV field, quoted when it needs to be. */
function csvField(value: string | null | undefined): string {
  const v = value ?? "";
  return /[",\n\r]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

/**
 * Exports grades.csv (atomically) and returns it with the graded submissions:
 * `graded`, every column of the export as text (an id such as 00123 stays as
 * it is), `table` its scores as numbers, `counts` how many rows have each
 * status, and a per-assignment summary.
 *
 * nbgrader's export lists every student in its database for every
 * assignment, with 0.0 where nothing was graded. Here a row without a grade
 * keeps its scores empty, and the `status` column (the last) says why:
 * graded, late (graded, handed in after the due date), not submitted, not
 * graded (handed in, not graded yet: or the Formgrader could not), could not
 * grade (`autograde` said why, grading-log.jsonl).
 */
export function grades(opts: CourseOptions): {
  csv: string;
  graded: pl.DataFrame;
  table: pl.DataFrame;
  summary: pl.DataFrame;
  counts: Partial<Record<GradeStatus, number>>;
} {
  assignments(opts); // a folder that is not a course: said before anything is written there
  const csv = path.join(opts.course, "grades.csv");
  const tmp = path.join(opts.course, `.grades.${process.pid}.csv`);
  let all: pl.DataFrame;
  const counts: Partial<Record<GradeStatus, number>> = {};
  try {
    nbgrader(opts, ["export", `--CsvExportPlugin.to=${tmp}`]);
    // Read as text, then typed: with nothing graded yet the file is its header
    // alone, and the empty table still has number columns.
    const exported = pl.readCSV(fs.readFileSync(tmp, "utf8"), { inferSchemaLength: 0 });
    const log = readGradingLog(opts.course);
    const records = exported.toRecords() as Record<string, string | null>[];
    const statuses = records.map((r): GradeStatus => {
      const [student, a] = [r.student_id ?? "", r.assignment ?? ""];
      if (fs.existsSync(path.join(opts.course, "autograded", student, a)))
        return utcMs(r.timestamp) > utcMs(r.duedate) ? "late" : "graded";
      if (log.get(`${student}/${a}`)?.outcome === "could not grade") return "could not grade";
      return fs.existsSync(path.join(opts.course, "submitted", student, a)) ? "not graded" : "not submitted";
    });
    const columns = [...exported.columns, "status"];
    const lines = records.map((r, i) => {
      const status = statuses[i];
      counts[status] = (counts[status] ?? 0) + 1;
      const scored = status === "graded" || status === "late";
      const row = { ...r, status } as Record<string, string | null>;
      if (!scored) for (const k of ["raw_score", "late_submission_penalty", "score"]) row[k] = "";
      return columns.map((c) => csvField(row[c])).join(",");
    });
    fs.writeFileSync(tmp, [columns.join(","), ...lines].map((l) => `${l}\n`).join(""));
    fs.renameSync(tmp, csv);
    all = exported.withColumns(pl.Series("status", statuses, pl.Utf8));
  } finally {
    fs.rmSync(tmp, { force: true });
  }
  const isGraded = (all.getColumn("status").toArray() as string[]).map((s) => s === "graded" || s === "late");
  const graded = all.filter(pl.Series("graded", isGraded, pl.Bool));
  const table = graded
    .select("assignment", "student_id", "score", "max_score")
    .withColumns(pl.col("score").cast(pl.Float64), pl.col("max_score").cast(pl.Float64))
    .sort(["assignment", "student_id"]);
  const summary = table
    .groupBy("assignment")
    .agg(
      pl.col("student_id").count().alias("submissions"),
      pl.col("score").mean().round(2).alias("mean"),
      pl.col("score").min().alias("min"),
      pl.col("score").max().alias("max"),
      pl.col("max_score").first().alias("max_score"),
    )
    .sort("assignment");
  return { csv, graded, table, summary, counts };
}
