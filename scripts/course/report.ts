// The class at a glance: `npm run course -- report [assignment...]` writes one
// self-contained HTML page (reports/class-report.html in the course folder, or
// --output FILE) that opens offline with no request leaving it:
//
// - per assignment, the score distribution (a Plotly histogram with a box
//   plot), the pass rate of every test cell with its most common failure
//   message (as students see it in their feedback: hidden tests' code and
//   messages never appear, scripts/class_report_data.py applies
//   tslab_grading.StripHiddenTests), late submissions (gradebook timestamp
//   after the due date) and submissions that could not be graded;
// - the partial-credit matrix (scripts/course/credit.ts) when asked for with
//   --credit (it grades each solution region alone in a scratch copy of the
//   course: minutes), kept in reports/credit-<assignment>.json for later pages;
// - grading time per submission, from grading-log.jsonl, which
//   `npm run course -- autograde` appends one line to per graded submission
//   (grading-log.ts's recordGrading); submissions graded elsewhere (the Formgrader) have none.
//
// plotly.js (the plotly.js-dist-min package) is embedded once; every chart's
// figure is a JSON script element drawn by one small function.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { repoRoot } from "fashion-mnist-lib/dist/runtime/paths";
import { axisStyle, baseLayout, plotlyConfig, THEME, type PlotlyFigure } from "fashion-mnist-lib/dist/display/plots";
import { GRADING_LOG, readGradingLog } from "./grading-log";

// ---------------------------------------------------------------------------
// The class's data
// ---------------------------------------------------------------------------

interface CellScore {
  name: string;
  score: number;
  max: number;
  scored: boolean;
  message?: string | null;
}

interface GradebookSubmission {
  student: string;
  assignment: string;
  timestamp: string | null;
  seconds_late: number | null;
  score: number;
  max: number;
  graded: boolean;
  cells: CellScore[];
}

interface GradebookData {
  assignments: Record<string, { duedate: string | null; cells: { name: string; notebook: string; max: number }[] }>;
  submissions: GradebookSubmission[];
}

/** A test cell's results across the class. */
export interface TestCellStats {
  name: string;
  points: number;
  passed: number;
  total: number;
  /** The most common failure message (as feedback shows it) and how many failed with it. */
  commonFailure?: { message: string; count: number };
  /** Every failure message, most common first. */
  failures: { message: string; count: number }[];
}

/** The partial-credit matrix's shape (scripts/course/credit.ts's CreditMatrix). */
export interface CreditSummary {
  assignment: string;
  max: number;
  regions: { label: string; score?: number; problem?: string }[];
  all: { label: string; score?: number; problem?: string };
  stub: { label: string; score?: number; problem?: string };
}

export interface AssignmentReport {
  assignment: string;
  duedate: string | null;
  max: number;
  /** Graded submissions' scores (the ones `course grades` lists), by student. */
  scores: { student: string; score: number }[];
  tests: TestCellStats[];
  late: { student: string; timestamp: string; secondsLate: number }[];
  couldNotGrade: { student: string; reason: string }[];
  times: { student: string; seconds: number; peakMb?: number; outcome: string }[];
  /** Submissions in submitted/ with no record of being graded at all. */
  credit?: CreditSummary;
  creditNote?: string;
}

export interface ClassReport {
  course: string;
  generated: string;
  assignments: AssignmentReport[];
}

export interface ReportOptions {
  course: string;
  assignments: string[];
  /** Where the page goes (default <course>/reports/class-report.html). */
  output?: string;
  /** Compute the partial-credit matrix now (grades each region alone; minutes). */
  credit?: boolean;
  /** Passed to the credit matrix's grading runs. */
  courseOptions?: object;
}

function python(): string {
  return path.join(repoRoot(), ".venv", "bin", "python");
}

function gradebookData(course: string): GradebookData {
  const ownGrading = fs.existsSync(path.join(course, "tslab_grading.py")) ? course : path.join(repoRoot(), "exercises");
  const res = spawnSync(python(), [path.join(repoRoot(), "scripts", "class_report_data.py"), course, ownGrading], {
    encoding: "utf8",
    maxBuffer: 256 * 1024 * 1024,
  });
  if (res.status !== 0)
    throw new Error(`cannot read the class from ${course}: ${(res.stderr || res.error?.message || "").trim()}`);
  if (res.stderr.trim()) for (const l of res.stderr.trim().split("\n")) console.warn(`course: report: ${l}`);
  return JSON.parse(res.stdout) as GradebookData;
}

/** Students with a folder submitted/<student>/<assignment>/. */
function submittedStudents(course: string, assignment: string): string[] {
  const dir = path.join(course, "submitted");
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter(
      (s) => fs.existsSync(path.join(dir, s, assignment)) && fs.statSync(path.join(dir, s, assignment)).isDirectory(),
    )
    .sort();
}

function creditFile(course: string, assignment: string): string {
  return path.join(course, "reports", `credit-${assignment}.json`);
}

type CreditModule = {
  creditMatrix: (opts: object) => Promise<CreditSummary[]>;
};

/** scripts/course/credit.ts when it is there (it is loaded by name: the report does not need it). */
function creditModule(): CreditModule | undefined {
  try {
    const m = require(path.join(__dirname, "credit")) as Partial<CreditModule>;
    return typeof m.creditMatrix === "function" ? (m as CreditModule) : undefined;
  } catch {
    return undefined;
  }
}

/** Why a handed-in submission has no graded notebook, as far as its files say. */
function whyNotGraded(course: string, student: string, a: string): string {
  const notebook = path.join(course, "submitted", student, a, `${a}.ipynb`);
  if (!fs.existsSync(notebook)) {
    const others = fs.readdirSync(path.dirname(notebook)).filter((f) => f.endsWith(".ipynb"));
    return `no ${a}.ipynb in the submission${others.length ? ` (has ${others.join(", ")})` : ""}`;
  }
  try {
    JSON.parse(fs.readFileSync(notebook, "utf8"));
  } catch {
    return `${a}.ipynb is not a notebook (invalid JSON): skipped by autograde`;
  }
  return "not graded yet, or could not be graded (run `npm run course -- autograde`, which says why)";
}

/** Gathers everything the page shows (nothing is written). */
export async function classReportData(opts: ReportOptions): Promise<ClassReport> {
  const data = gradebookData(opts.course);
  const log = readGradingLog(opts.course);
  const source = path.join(opts.course, "source");
  const inSource = fs.existsSync(source)
    ? fs.readdirSync(source).filter((d) => fs.statSync(path.join(source, d)).isDirectory())
    : [];
  const names = opts.assignments.length
    ? opts.assignments
    : [...new Set([...Object.keys(data.assignments), ...inSource])]
        .filter((a) => data.assignments[a] || submittedStudents(opts.course, a).length)
        .sort();
  for (const a of opts.assignments)
    if (!data.assignments[a] && !inSource.includes(a))
      throw new Error(
        `no assignment "${a}" in ${opts.course} (have: ${[...new Set([...inSource, ...Object.keys(data.assignments)])].sort().join(", ")})`,
      );

  let computedCredit: CreditSummary[] | undefined;
  const creditMod = creditModule();
  if (opts.credit && creditMod) {
    computedCredit = await creditMod.creditMatrix({
      ...(opts.courseOptions ?? {}),
      course: opts.course,
      assignments: names,
    });
    for (const m of computedCredit) {
      fs.mkdirSync(path.dirname(creditFile(opts.course, m.assignment)), { recursive: true });
      fs.writeFileSync(creditFile(opts.course, m.assignment), JSON.stringify(m, null, 1));
    }
  }

  const reports: AssignmentReport[] = [];
  for (const a of names) {
    const info = data.assignments[a] ?? { duedate: null, cells: [] };
    const subs = data.submissions.filter((s) => s.assignment === a);
    const graded = subs.filter((s) => s.graded);
    const max = graded[0]?.max ?? info.cells.reduce((t, c) => t + (c.max ?? 0), 0);

    const tests: TestCellStats[] = info.cells.map((cell) => {
      const results = graded.map((s) => s.cells.find((c) => c.name === cell.name));
      const passed = results.filter((c) => c && c.score >= c.max).length;
      const counts = new Map<string, number>();
      for (const c of results) {
        if (!c || c.score >= c.max) continue;
        const message = c.message ?? (c ? "(no message: the cell is missing or printed nothing)" : "");
        counts.set(message, (counts.get(message) ?? 0) + 1);
      }
      const failures = [...counts]
        .sort((x, y) => y[1] - x[1] || x[0].localeCompare(y[0]))
        .map(([message, count]) => ({ message, count }));
      return {
        name: cell.name,
        points: cell.max,
        passed,
        total: graded.length,
        ...(failures.length ? { commonFailure: failures[0] } : {}),
        failures,
      };
    });

    const late = subs
      .filter((s) => s.seconds_late !== null && s.seconds_late > 0)
      .map((s) => ({ student: s.student, timestamp: s.timestamp ?? "", secondsLate: s.seconds_late as number }));

    // Could not grade: a submission handed in with no graded notebook, or in the gradebook with no score.
    const couldNotGrade: { student: string; reason: string }[] = [];
    const gradedStudents = new Set(graded.map((s) => s.student));
    const handedIn = new Set([...submittedStudents(opts.course, a), ...subs.map((s) => s.student)]);
    for (const student of [...handedIn].sort()) {
      const inBook = subs.find((s) => s.student === student);
      const record = log.get(`${student}/${a}`);
      if (gradedStudents.has(student)) {
        if (inBook && inBook.cells.length && !inBook.cells.some((c) => c.scored))
          couldNotGrade.push({ student, reason: "in the gradebook with no score" });
        continue;
      }
      const reason =
        record?.outcome === "could not grade"
          ? (record.reason ?? "could not grade")
          : inBook
            ? "in the gradebook, but no graded notebook"
            : `no graded notebook: ${whyNotGraded(opts.course, student, a)}`;
      couldNotGrade.push({ student, reason });
    }

    const times = [...log.values()]
      .filter((r) => r.assignment === a)
      .sort((x, y) => x.student.localeCompare(y.student))
      .map((r) => ({ student: r.student, seconds: r.seconds, peakMb: r.peakMb, outcome: r.outcome }));

    let credit = computedCredit?.find((m) => m.assignment === a);
    let creditNote: string | undefined;
    if (!credit && fs.existsSync(creditFile(opts.course, a))) {
      credit = JSON.parse(fs.readFileSync(creditFile(opts.course, a), "utf8")) as CreditSummary;
      creditNote = `computed earlier (${path.relative(opts.course, creditFile(opts.course, a))}); --credit computes it again`;
    }
    if (!credit)
      creditNote = creditMod
        ? "not computed: run `npm run course -- report --credit` (grades each solution region alone in a scratch copy of the course, a few minutes)"
        : "not available (this checkout has no scripts/course/credit.ts)";

    reports.push({
      assignment: a,
      duedate: info.duedate,
      max,
      scores: graded.map((s) => ({ student: s.student, score: s.score })),
      tests,
      late,
      couldNotGrade,
      times,
      ...(credit ? { credit } : {}),
      ...(creditNote ? { creditNote } : {}),
    });
  }
  return { course: opts.course, generated: new Date().toISOString(), assignments: reports };
}

// ---------------------------------------------------------------------------
// Figures and the page
// ---------------------------------------------------------------------------

export function scoreFigure(r: AssignmentReport): PlotlyFigure {
  const scores = r.scores.map((s) => s.score);
  const layout = baseLayout({ title: `${r.assignment}: scores of ${scores.length} graded submissions`, height: 360 });
  return {
    data: [
      {
        type: "histogram",
        name: "submissions",
        x: scores,
        xbins: { start: -0.5, end: r.max + 0.5, size: 1 },
        marker: { color: THEME.colors.train, line: { color: "#ffffff", width: 1 } },
        hovertemplate: "%{x} points: %{y} submissions<extra></extra>",
        yaxis: "y",
      },
      {
        type: "box",
        name: "spread",
        x: scores,
        text: r.scores.map((s) => s.student),
        boxpoints: "all",
        jitter: 0.4,
        pointpos: 0,
        marker: { color: THEME.colors.validation, size: 6 },
        line: { color: THEME.colors.validation },
        hovertemplate: "%{text}: %{x} points<extra></extra>",
        yaxis: "y2",
      },
    ],
    layout: {
      ...layout,
      showlegend: false,
      bargap: 0.05,
      xaxis: axisStyle(`points (of ${r.max})`, { range: [-0.5, r.max + 0.5], dtick: r.max > 20 ? undefined : 1 }),
      yaxis: axisStyle("submissions", { domain: [0, 0.72], rangemode: "tozero" }),
      yaxis2: { domain: [0.78, 1], showticklabels: false, showgrid: false, zeroline: false },
    },
    config: plotlyConfig(`${r.assignment}-scores`),
  };
}

export function passRateFigure(r: AssignmentReport): PlotlyFigure {
  const tests = [...r.tests].sort((x, y) => y.passed / (y.total || 1) - x.passed / (x.total || 1));
  const rate = (t: TestCellStats) => (t.total ? Math.round((1000 * t.passed) / t.total) / 10 : 0);
  const wrap = (s: string) => s.replace(/(.{1,70})(\s|$)/g, "$1<br>").replace(/<br>$/, "");
  return {
    data: [
      {
        type: "bar",
        orientation: "h",
        name: "pass rate",
        y: tests.map((t) => t.name),
        x: tests.map(rate),
        text: tests.map((t) => `${t.passed} of ${t.total}`),
        textposition: "auto",
        customdata: tests.map((t) =>
          t.commonFailure
            ? `most common failure (${t.commonFailure.count}):<br>${wrap(escapeHtml(t.commonFailure.message.slice(0, 300)))}`
            : "no failures",
        ),
        marker: {
          color: tests.map((t) =>
            t.passed === t.total ? THEME.colors.good : rate(t) < 50 ? THEME.colors.bad : THEME.colors.validation,
          ),
        },
        hovertemplate: "<b>%{y}</b>: %{x}% passed (%{text})<br>%{customdata}<extra></extra>",
      },
    ],
    layout: {
      ...baseLayout({
        title: `${r.assignment}: pass rate per test cell`,
        height: Math.max(260, 120 + 42 * tests.length),
        legend: false,
        margin: { l: 220 },
      }),
      xaxis: axisStyle("% of graded submissions passing", { range: [0, 100] }),
      yaxis: axisStyle("", { automargin: true }),
    },
    config: plotlyConfig(`${r.assignment}-pass-rate`),
  };
}

export function timeFigure(r: AssignmentReport): PlotlyFigure {
  const times = [...r.times].sort((x, y) => y.seconds - x.seconds);
  return {
    data: [
      {
        type: "bar",
        name: "seconds",
        x: times.map((t) => t.student),
        y: times.map((t) => t.seconds),
        text: times.map((t) => `${t.outcome}${t.peakMb ? `, peak ${t.peakMb} MB` : ""}`),
        textposition: "none",
        marker: { color: times.map((t) => (t.outcome === "graded" ? THEME.colors.train : THEME.colors.bad)) },
        hovertemplate: "%{x}: %{y} s (%{text})<extra></extra>",
      },
    ],
    layout: {
      ...baseLayout({ title: `${r.assignment}: grading time per submission`, height: 320, legend: false }),
      xaxis: axisStyle("submission", { type: "category" }),
      yaxis: axisStyle("seconds", { rangemode: "tozero" }),
    },
    config: plotlyConfig(`${r.assignment}-grading-time`),
  };
}

export function escapeHtml(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] as string,
  );
}

/** JSON safe inside a <script> element. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, "\\u003c");
}

function plotlyJs(): string {
  let file: string;
  try {
    file = require.resolve("plotly.js-dist-min/plotly.min.js", { paths: [repoRoot(), __dirname] });
  } catch {
    throw new Error("plotly.js-dist-min is not installed: run `npm install` in the checkout");
  }
  return fs.readFileSync(file, "utf8").replace(/<\/script/gi, "<\\/script");
}

const DRAW_JS = `
window.fmDrawPlotly = function (id) {
  var target = document.getElementById(id);
  try {
    if (typeof Plotly === 'undefined') throw new Error('plotly.js did not load');
    var fig = JSON.parse(document.getElementById(id + '-figure').textContent);
    Plotly.newPlot(target, fig.data || [], fig.layout || {}, Object.assign({}, fig.config || {}, { responsive: false }));
  } catch (err) {
    target.className += ' fm-plotly-error';
    target.textContent = 'This chart could not be drawn: ' + err.message;
  }
};`;

const CSS = `
body { font-family: ${THEME.font.family}; color: ${THEME.font.color}; max-width: 1000px; margin: 2em auto; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: .2em; margin-top: 2em; } h3 { font-size: 1.1em; }
table { border-collapse: collapse; margin: .5em 0 1em; font-size: 14px; }
th, td { border: 1px solid #ddd; padding: 4px 10px; text-align: left; vertical-align: top; }
th { background: #f5f5f5; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.msg { font-family: ui-monospace, monospace; font-size: 12px; white-space: pre-wrap; max-width: 520px; }
.fm-plotly { margin: .5em 0; } .note { color: ${THEME.colors.muted}; }
.summary td:first-child { font-weight: 600; }
details summary { cursor: pointer; color: ${THEME.colors.muted}; font-family: ${THEME.font.family}; }`;

function fmtSeconds(s: number): string {
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86400).toFixed(1)} days`;
}

function median(xs: number[]): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const round2 = (x: number) => (Number.isFinite(x) ? String(Math.round(x * 100) / 100) : "–");

/** The page's HTML for a report (charts count: what the page draws). */
export function classReportHtml(report: ClassReport): { html: string; charts: number } {
  let charts = 0;
  const chart = (fig: PlotlyFigure) => {
    const id = `fm-plotly-${++charts}`;
    const w = (fig.layout.width as number) ?? THEME.width;
    const h = (fig.layout.height as number) ?? THEME.height;
    return (
      `<div class="fm-plotly" id="${id}" style="width:${w}px;height:${h}px"></div>` +
      `<script type="application/json" id="${id}-figure">${scriptJson(fig)}</script>` +
      `<script>fmDrawPlotly(${JSON.stringify(id)});</script>`
    );
  };
  const body: string[] = [];
  body.push(`<h1>The class at a glance</h1>`);
  body.push(
    `<p class="note">Course <code>${escapeHtml(report.course)}</code>, ${report.assignments.length} assignment(s); ` +
      `made ${escapeHtml(report.generated.replace("T", " ").replace(/\.\d+Z$/, " UTC"))} by <code>npm run course -- report</code>. ` +
      `Failure messages are shown as students see them in their feedback: a hidden test's code and message never appear.</p>`,
  );
  // Overview table.
  body.push(
    `<table class="summary"><tr><th>assignment</th><th>graded</th><th>could not grade</th><th>late</th>` +
      `<th>mean</th><th>median</th><th>min</th><th>max</th><th>of</th><th>hardest test</th></tr>`,
  );
  for (const r of report.assignments) {
    const s = r.scores.map((x) => x.score);
    const hardest = [...r.tests]
      .filter((t) => t.total && t.passed < t.total)
      .sort((x, y) => x.passed / x.total - y.passed / y.total)[0];
    body.push(
      `<tr><td><a href="#${escapeHtml(r.assignment)}">${escapeHtml(r.assignment)}</a></td><td class="num">${s.length}</td>` +
        `<td class="num">${r.couldNotGrade.length}</td><td class="num">${r.late.length}</td>` +
        `<td class="num">${round2(s.reduce((a, b) => a + b, 0) / s.length)}</td><td class="num">${round2(median(s))}</td>` +
        `<td class="num">${s.length ? Math.min(...s) : "–"}</td><td class="num">${s.length ? Math.max(...s) : "–"}</td>` +
        `<td class="num">${r.max}</td><td>${hardest ? `${escapeHtml(hardest.name)} (${hardest.passed} of ${hardest.total} pass)` : "–"}</td></tr>`,
    );
  }
  body.push(`</table>`);

  for (const r of report.assignments) {
    body.push(`<h2 id="${escapeHtml(r.assignment)}">${escapeHtml(r.assignment)}</h2>`);
    body.push(
      `<p>${r.scores.length} graded submission(s), ${r.max} points in all` +
        `${r.duedate ? `; due ${escapeHtml(r.duedate.replace("T", " ").replace(/(\.\d+)?Z$/, " UTC"))}` : "; no due date set"}.</p>`,
    );
    body.push(`<h3>Score distribution</h3>`);
    if (r.scores.length) body.push(chart(scoreFigure(r)));
    else body.push(`<p class="note">Nothing graded yet.</p>`);

    body.push(`<h3>Test cells</h3>`);
    if (r.tests.length && r.scores.length) {
      body.push(chart(passRateFigure(r)));
      body.push(
        `<table><tr><th>test cell</th><th>points</th><th>passed</th><th>pass rate</th><th>most common failure (students)</th></tr>`,
      );
      for (const t of [...r.tests].sort((x, y) => x.passed / (x.total || 1) - y.passed / (y.total || 1))) {
        body.push(
          `<tr><td>${escapeHtml(t.name)}</td><td class="num">${t.points}</td><td class="num">${t.passed} of ${t.total}</td>` +
            `<td class="num">${t.total ? Math.round((100 * t.passed) / t.total) : 0}%</td>` +
            `<td class="msg">${t.commonFailure ? `${escapeHtml(t.commonFailure.message)} <span class="note">(${t.commonFailure.count})</span>` : ""}` +
            (t.failures.length > 1
              ? `<details><summary>${t.failures.length - 1} other message(s)</summary>` +
                t.failures
                  .slice(1)
                  .map((f) => `<div>${escapeHtml(f.message)} <span class="note">(${f.count})</span></div>`)
                  .join("") +
                `</details>`
              : "") +
            `</td></tr>`,
        );
      }
      body.push(`</table>`);
    } else body.push(`<p class="note">No graded test cells yet.</p>`);

    body.push(`<h3>Partial credit: each solution region alone</h3>`);
    if (r.credit) {
      const row = (x: { label: string; score?: number; problem?: string }) =>
        `<tr><td>${escapeHtml(x.label)}</td><td class="num">${x.score ?? "–"}</td><td>${x.problem ? escapeHtml(x.problem) : ""}</td></tr>`;
      body.push(`<table><tr><th>submission</th><th>points (of ${r.credit.max})</th><th>note</th></tr>`);
      body.push([...r.credit.regions.map(row), row(r.credit.all), row(r.credit.stub)].join(""));
      body.push(`</table>`);
      if (r.creditNote) body.push(`<p class="note">${escapeHtml(r.creditNote)}</p>`);
    } else
      body.push(`<p class="note">The partial-credit matrix is ${escapeHtml(r.creditNote ?? "not available")}.</p>`);

    body.push(`<h3>Late submissions</h3>`);
    if (r.late.length) {
      body.push(`<table><tr><th>student</th><th>submitted</th><th>late by</th></tr>`);
      for (const l of r.late)
        body.push(
          `<tr><td>${escapeHtml(l.student)}</td><td>${escapeHtml(l.timestamp.replace("T", " ").replace(/(\.\d+)?Z$/, " UTC"))}</td><td class="num">${fmtSeconds(l.secondsLate)}</td></tr>`,
        );
      body.push(`</table>`);
    } else body.push(`<p class="note">${r.duedate ? "None." : "None (no due date set for this assignment)."}</p>`);

    body.push(`<h3>Could not grade</h3>`);
    if (r.couldNotGrade.length) {
      body.push(`<table><tr><th>student</th><th>why</th></tr>`);
      for (const c of r.couldNotGrade)
        body.push(`<tr><td>${escapeHtml(c.student)}</td><td class="msg">${escapeHtml(c.reason)}</td></tr>`);
      body.push(`</table>`);
    } else body.push(`<p class="note">None: every submission handed in has a score.</p>`);

    body.push(`<h3>Grading time</h3>`);
    if (r.times.length) {
      const secs = r.times.map((t) => t.seconds);
      body.push(
        `<p>${r.times.length} submission(s) graded by <code>npm run course -- autograde</code>: median ${round2(median(secs))} s, ` +
          `longest ${Math.max(...secs)} s, ${round2(secs.reduce((a, b) => a + b, 0))} s in all (side by side, so the wall time was shorter).</p>`,
      );
      body.push(chart(timeFigure(r)));
    } else
      body.push(
        `<p class="note">Not recorded: <code>npm run course -- autograde</code> records it (${GRADING_LOG}); submissions graded from the Formgrader have none.</p>`,
      );
  }

  const html =
    `<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Class report</title>` +
    `<meta name="viewport" content="width=device-width, initial-scale=1"><style>${CSS}</style>` +
    (charts ? `<script>/* plotly.js, embedded once */\n${plotlyJs()}</script><script>${DRAW_JS}</script>` : "") +
    `</head><body>\n${body.join("\n")}\n</body></html>\n`;
  return { html, charts };
}

/** Writes the page (atomically) and returns where, its size and the data it shows. */
export async function writeClassReport(
  opts: ReportOptions,
): Promise<{ file: string; bytes: number; charts: number; report: ClassReport }> {
  const report = await classReportData(opts);
  const { html, charts } = classReportHtml(report);
  const file = opts.output ?? path.join(opts.course, "reports", "class-report.html");
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, html);
  fs.renameSync(tmp, file);
  return { file, bytes: Buffer.byteLength(html), charts, report };
}

/** A few lines for the terminal. */
export function formatClassReport(r: ClassReport): string {
  return r.assignments
    .map((a) => {
      const hardest = [...a.tests]
        .filter((t) => t.total && t.passed < t.total)
        .sort((x, y) => x.passed / x.total - y.passed / y.total)[0];
      return (
        `course: ${a.assignment}: ${a.scores.length} graded, ${a.couldNotGrade.length} could not be graded, ${a.late.length} late` +
        (hardest ? `; most failed: ${hardest.name} (${hardest.passed} of ${hardest.total} pass)` : "")
      );
    })
    .join("\n");
}
