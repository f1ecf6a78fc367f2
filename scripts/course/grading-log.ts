// grading-log.jsonl: one JSON line per submission autograde ran (when, how
// long, peak memory, the outcome), which grades.csv's status column and the
// class report read.
import * as fs from "fs";
import * as path from "path";

/** The file autograde appends one JSON line to per submission it runs (in the course folder). */
export const GRADING_LOG = "grading-log.jsonl";

/** One line of grading-log.jsonl. */
export interface GradingRecord {
  /** When grading finished (ISO). */
  time: string;
  student: string;
  assignment: string;
  seconds: number;
  peakMb?: number;
  outcome: "graded" | "could not grade";
  reason?: string;
  score?: number;
  max?: number;
}

/**
 * Appends what one autograde run of a submission did to the course's grading
 * log, from the line autograde prints for it ("S/A: 6 of 8 points" or
 * "S/A: could not grade: why"). Never throws: a log that cannot be written
 * costs the report its timings, not the grading.
 */
export function recordGrading(
  course: string,
  s: { student: string; assignment: string },
  line: string,
  seconds: number,
  peakMb?: number,
): void {
  const failed = /: could not grade: (.*)$/s.exec(line);
  const points = /: ([\d.]+) of ([\d.]+) points$/.exec(line);
  const record: GradingRecord = {
    time: new Date().toISOString(),
    student: s.student,
    assignment: s.assignment,
    seconds: Math.round(seconds * 10) / 10,
    ...(peakMb !== undefined && Number.isFinite(peakMb) ? { peakMb } : {}),
    outcome: failed ? "could not grade" : "graded",
    ...(failed ? { reason: failed[1] } : {}),
    ...(points ? { score: Number(points[1]), max: Number(points[2]) } : {}),
  };
  try {
    fs.appendFileSync(path.join(course, GRADING_LOG), `${JSON.stringify(record)}\n`);
  } catch (err) {
    console.warn(`course: cannot record the grading time in ${GRADING_LOG}: ${(err as Error).message}`);
  }
}

/** The newest record per student/assignment (a submission graded again replaces its earlier line). */
export function readGradingLog(course: string): Map<string, GradingRecord> {
  const file = path.join(course, GRADING_LOG);
  const newest = new Map<string, GradingRecord>();
  if (!fs.existsSync(file)) return newest;
  for (const line of fs.readFileSync(file, "utf8").split("\n")) {
    if (!line.trim()) continue;
    try {
      const r = JSON.parse(line) as GradingRecord;
      if (typeof r.student === "string" && typeof r.assignment === "string" && typeof r.seconds === "number")
        newest.set(`${r.student}/${r.assignment}`, r);
    } catch {
      // a torn last line (grading stopped while writing): skipped
    }
  }
  return newest;
}
