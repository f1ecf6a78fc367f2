// The course and a learning management system (Canvas or Moodle), both ways:
//
//   npm run course -- collect --zip FILE [assignment]    an LMS's archive of every submission into submitted/
//   npm run course -- grades --format canvas|moodle|csv  grades.csv, and a file the LMS's gradebook imports
//
// collect hands the archive to nbgrader's own zip_collect: the archive is put
// in downloaded/<assignment>/archive/ (replacing the one imported before),
// nbgrader extracts it into downloaded/<assignment>/extracted/ and copies each
// notebook whose name follows one of the patterns below to
// submitted/<student>/<assignment>/. The names the two systems give files:
//
//   Canvas, "Download Submissions" (one flat folder):
//     <name>_<userid>_<attachmentid>_<filename>         e.g. doejane_48213_9934120_idx-parsing.ipynb
//     <name>_late_<userid>_<attachmentid>_<filename>    the same, handed in after the due date
//   <name> is the student's sortable name lowercased without punctuation (no
//   login is in the archive); <userid> is Canvas's user id. A file uploaded
//   again under the same name may come back as idx-parsing-1.ipynb.
//
//   Moodle, "Download all submissions":
//     <Full Name>_<participantid>_assignsubmission_file_/<filename>   one folder per student (the default)
//     <Full Name>_<participantid>_assignsubmission_file_<filename>    without folders
//   Moodle writes "_" in names as spaces, so the first "_" ends the name.
//   <participantid> is the assignment's own number for the student (the one
//   blind marking shows): the same on every download of that assignment, a
//   different one in another assignment.
//
// Student ids: the Canvas user id, the Moodle participant id. Both are digits,
// unique, and the same on every download of an assignment, where names are
// neither unique nor stable (Canvas drops the punctuation, Moodle may prefix a
// group, blind marking hides them). The Canvas user id is also the first thing
// Canvas's gradebook import matches a row by (its ID column).
//
// A notebook named after one of the assignment's notebooks with the LMS's
// renaming (idx-parsing-1.ipynb from Canvas, "idx-parsing (1).ipynb" from a
// browser) lands under the assignment's name; any other notebook keeps its
// name and is reported, since autograde grades only that name. Files that are
// no notebook or follow neither pattern are reported by name and left out.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import pl from "nodejs-polars";
import { repoRoot } from "fashion-mnist-lib/dist/runtime/paths";
import { grades } from "./grades";
import { assignments, CourseError, type CourseOptions, nbgrader } from "./nbgrader";

/** What collectZip did with each file of the archive. */
export interface CollectReport {
  /** "<student>/<assignment>/<notebook>", as put into submitted/. */
  imported: string[];
  /** "<path in the archive>: why it was not imported". */
  unmatched: string[];
  /** "<student>/<assignment>/<notebook>: ..." for imported notebooks autograde will not grade under that name. */
  misnamed: string[];
}

// nbgrader's FileNameCollectorPlugin takes one named_regexp, and Python's re
// allows a group name only once, so the two systems share one expression:
// "<name>_[late_]<id>_" then Canvas's "<attachmentid>_" or Moodle's
// "assignsubmission_file_" (with its folder), then the file name. nbgrader
// matches it against the whole path of the extracted file.
const LMS_RENAMED = String.raw`(?:-[0-9]+| \([0-9]+\))?\.ipynb`;

/** Python-regex spelling of a literal (assignment folder names: letters, digits, punctuation). */
function literal(text: string): string {
  return text.replace(/[!-/:-@[-`{-~ ]/g, "\\$&");
}

/** The named_regexp for an assignment whose notebooks are `stems` (.ipynb names without the extension). */
export function submissionPattern(stems: string[]): string {
  const known = stems.map(literal).join("|");
  return (
    String.raw`^.*/(?:[^/]*?_)?(?:late_)?(?P<student_id>[0-9]+)_` +
    String.raw`(?:[0-9]+_|assignsubmission_file_(?:/(?:[^/]+/)*)?)` +
    // A known notebook with the LMS's renaming gives file_id without it; nbgrader adds the extension back.
    `(?P<file_id>(?:${known})(?=${LMS_RENAMED}$)|[^/]+)(?:${LMS_RENAMED})?$`
  );
}

/** One file of the archive, as nbgrader's collector sees it. */
interface Seen {
  /** Its path inside the archive. */
  name: string;
  student?: string;
  /** The name nbgrader gives it in submitted/<student>/<assignment>/. */
  file?: string;
  /** Why it is not collected. */
  why?: string;
}

/**
 * Bounds on an archive, checked before anything is written (a zip bomb: a
 * 1 MB archive that inflates to 1 GB). The sizes come from the zip's central
 * directory, and each entry is inflated once, counting, to stop at an entry
 * that produces more than it declares or than the limit; archives nbgrader
 * would extract inside it (.zip, .gz, .tar.gz) count the same, recursively.
 */
export interface ZipLimits {
  /** Uncompressed size of one file, MB (FMNIST_ZIP_MAX_ENTRY_MB, default 100). */
  entryMb: number;
  /** Uncompressed size of every file together, MB (FMNIST_ZIP_MAX_TOTAL_MB, default 2048). */
  totalMb: number;
  /** Uncompressed size over compressed size, for files past 1 MB (FMNIST_ZIP_MAX_RATIO, default 100). */
  ratio: number;
  /** Files in the archive, nested archives' included (FMNIST_ZIP_MAX_ENTRIES, default 10000). */
  entries: number;
}

export const ZIP_LIMITS: Readonly<Record<keyof ZipLimits, { env: string; default: number }>> = {
  entryMb: { env: "FMNIST_ZIP_MAX_ENTRY_MB", default: 100 },
  totalMb: { env: "FMNIST_ZIP_MAX_TOTAL_MB", default: 2048 },
  ratio: { env: "FMNIST_ZIP_MAX_RATIO", default: 100 },
  entries: { env: "FMNIST_ZIP_MAX_ENTRIES", default: 10000 },
};

/** The limits in force: each from its environment variable, else its default. */
export function zipLimits(env: NodeJS.ProcessEnv = process.env): ZipLimits {
  const out = {} as ZipLimits;
  for (const [key, { env: name, default: value }] of Object.entries(ZIP_LIMITS)) {
    const given = env[name]?.trim();
    const n = given ? Number(given) : value;
    if (!(n > 0) || !Number.isFinite(n))
      throw new CourseError(`${name} must be a positive number, got "${env[name]}" (default ${value})`);
    out[key as keyof ZipLimits] = n;
  }
  return out;
}

const CHECK = String.raw`
import gzip, io, os, struct, sys, tarfile, zlib, zipfile
MB = 1 << 20
ENTRY, TOTAL, RATIO, COUNT = int(float(sys.argv[5]) * MB), int(float(sys.argv[6]) * MB), float(sys.argv[7]), int(float(sys.argv[8]))
state = {"total": 0, "count": 0}
class Refused(Exception): pass
def mb(n): return "%.1f MB" % (n / MB)
def account(name, size, packed=None):
    state["count"] += 1
    if state["count"] > COUNT:
        raise Refused("it holds more than %d files (FMNIST_ZIP_MAX_ENTRIES)" % COUNT)
    if size > ENTRY:
        raise Refused("%s inflates to %s, past the limit of %s per file (FMNIST_ZIP_MAX_ENTRY_MB)" % (
            name, mb(size), mb(ENTRY)))
    if packed is not None and size > MB and size > RATIO * max(packed, 1):
        raise Refused("%s inflates %d times (%s from %s), past the limit of %g (FMNIST_ZIP_MAX_RATIO)" % (
            name, size // max(packed, 1), mb(size), mb(packed), RATIO))
    state["total"] += size
    if state["total"] > TOTAL:
        raise Refused("its files inflate to more than %s in all (at %s), past the limit (FMNIST_ZIP_MAX_TOTAL_MB)" % (mb(TOTAL), name))
def inflate(f, info, name):
    # The entry's raw data, inflated here rather than by zipfile (which stops at the declared size).
    f.seek(info.header_offset)
    h = f.read(30)
    if len(h) < 30 or h[:4] != b"PK":
        raise Refused("%s: its local header is damaged" % name)
    n, m = struct.unpack("<HH", h[26:30])
    f.seek(info.header_offset + 30 + n + m)
    left, keep = info.compress_size, []
    cap = min(info.file_size, ENTRY) + 1
    d = zlib.decompressobj(-15) if info.compress_type == zipfile.ZIP_DEFLATED else None
    size = 0
    while left > 0:
        chunk = f.read(min(MB, left))
        if not chunk:
            break
        left -= len(chunk)
        while chunk:
            out = d.decompress(chunk, MB) if d else chunk
            chunk = d.unconsumed_tail if d else b""
            size += len(out)
            if size > info.file_size:
                raise Refused("%s inflates past the %d bytes its header declares (a forged archive)" % (name, info.file_size))
            if size >= cap:
                return size, None
            if nested(name):
                keep.append(out)
    return size, b"".join(keep) if nested(name) else None
def nested(name): return os.path.splitext(name)[1] in (".zip", ".gz")
def check_zip(f, where, depth):
    with zipfile.ZipFile(f) as z:
        infos = [i for i in z.infolist() if not i.is_dir()]
        if len(infos) + state["count"] > COUNT:
            raise Refused("%s holds %d files, past the limit of %d (FMNIST_ZIP_MAX_ENTRIES)" % (where or "it", len(infos), COUNT))
        for i in infos:
            name = where + i.filename
            account(name, i.file_size, i.compress_size)  # the central directory's word first
            state["count"] -= 1; state["total"] -= i.file_size
            if i.compress_type in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED) and not i.flag_bits & 1:
                size, data = inflate(f, i, name)
            else:
                size, data = i.file_size, None
            account(name, size, i.compress_size)
            if data is not None:
                check_nested(data, name, depth)
def check_nested(data, name, depth):
    if depth >= 3:
        raise Refused("%s: archives nested more than 3 deep" % name)
    if name.endswith(".zip") and zipfile.is_zipfile(io.BytesIO(data)):
        check_zip(io.BytesIO(data), name + "!/", depth + 1)
    elif name.endswith(".gz"):
        g, out, size = gzip.GzipFile(fileobj=io.BytesIO(data)), [], 0
        try:
            while True:
                part = g.read(MB)
                if not part:
                    break
                size += len(part)
                if size > ENTRY:
                    break
                out.append(part)
        except (OSError, EOFError, zlib.error):
            return
        account(name + "!", size, len(data))
        raw = b"".join(out)
        try:
            with tarfile.open(fileobj=io.BytesIO(raw)) as t:
                for member in t.getmembers():
                    if member.isfile():
                        account(name + "!/" + member.name, member.size)
                        if nested(member.name):
                            check_nested(t.extractfile(member).read(), name + "!/" + member.name, depth + 1)
        except tarfile.TarError:
            pass
`;

// Runs nbgrader's own test on each file (the extension, then re.match on the
// path nbgrader will see), over the archive's listing ("zip") or the folder
// nbgrader extracted it to ("dir"). Unsafe names are ones nbgrader's extractor
// (setuptools) skips.
const SCAN = String.raw`
import json, os, re, sys, zipfile
mode, target, regex, prefix = sys.argv[1:5]
rx = re.compile(regex)
if mode == "zip" and zipfile.is_zipfile(target):
    try:
        with open(target, "rb") as f:
            check_zip(f, "", 0)
    except Refused as e:
        print(json.dumps({"error": "refused, nothing imported: %s" % e}))
        sys.exit()
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as e:
        print(json.dumps({"error": "a damaged zip archive (%s)" % e}))
        sys.exit()
def seen(name, full):
    ext = os.path.splitext(full)[1]
    if ext in (".zip", ".gz"):
        return {"name": name, "why": "archive"}
    if ext != ".ipynb":
        return {"name": name, "why": "not a notebook"}
    m = rx.match(full)
    if not m:
        return {"name": name, "why": "pattern"}
    d = m.groupdict()
    return {"name": name, "student": d["student_id"], "file": os.path.splitext(d["file_id"])[0] + ext}
out = []
if mode == "zip":
    if not zipfile.is_zipfile(target):
        print(json.dumps({"error": "not a zip archive"}))
        sys.exit()
    try:
        with zipfile.ZipFile(target) as z:
            names = [i.filename for i in z.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, OSError) as e:
        print(json.dumps({"error": "a damaged zip archive (%s)" % e}))
        sys.exit()
    for n in names:
        if n.startswith("/") or ".." in n.split("/"):
            out.append({"name": n, "why": "unsafe"})
        else:
            out.append(seen(n, prefix + "/" + n))
else:
    for root, _, files in os.walk(target):
        for f in files:
            full = os.path.join(root, f)
            out.append(seen(os.path.relpath(full, target), full))
print(json.dumps({"files": sorted(out, key=lambda s: s["name"])}))
`;

function scan(mode: "zip" | "dir", target: string, regex: string, prefix: string): Seen[] | string {
  const limits = zipLimits();
  const bounds = [limits.entryMb, limits.totalMb, limits.ratio, limits.entries].map(String);
  const res = spawnSync(
    path.join(repoRoot(), ".venv", "bin", "python"),
    ["-c", CHECK + SCAN, mode, target, regex, prefix, ...bounds],
    { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 },
  );
  if (res.status !== 0)
    throw new CourseError(`cannot read ${target}: ${(res.stderr || res.error?.message || "").trim()}`);
  const out = JSON.parse(res.stdout) as { files?: Seen[]; error?: string };
  return out.error ?? out.files ?? [];
}

const WHY: Record<string, string> = {
  "not a notebook": "not a notebook",
  pattern: "not named as Canvas or Moodle name submissions",
  unsafe: "a path outside the archive's folder (not extracted)",
};

/** The assignment named, or the one the archive's name contains (both LMSs name it after the assignment). */
function assignmentOf(opts: CourseOptions, zipFile: string, given?: string): string {
  const all = assignments({ ...opts, assignments: [] });
  if (given !== undefined) return assignments({ ...opts, assignments: [given] })[0];
  const base = path.basename(zipFile).toLowerCase();
  const named = all.filter((a) => base.includes(a.toLowerCase()));
  // "challenge" inside "challenge-2" is not a second candidate.
  const found = named.filter((a) => !named.some((b) => b !== a && b.includes(a)));
  if (found.length === 1) return found[0];
  throw new CourseError(
    `${zipFile}: say which assignment it holds (course collect --zip FILE <assignment>): ` +
      (found.length ? `its name fits ${found.join(" and ")}` : `its name contains none of ${all.join(", ")}`),
  );
}

/**
 * Imports an archive of submissions as Canvas or Moodle export it, with
 * nbgrader's zip_collect (see the top of this file). Nothing is written when
 * the archive is missing, is not a zip, names an unknown assignment, holds no
 * file named as either system names them, or holds two notebooks that would
 * land on the same name; otherwise matching notebooks replace what
 * submitted/<student>/<assignment>/ held and the rest is reported by name.
 */
export function collectZip(opts: CourseOptions, zipFile: string, assignment?: string): CollectReport {
  assignments({ ...opts, assignments: [] }); // a folder that is not a course: said before anything else
  if (!fs.existsSync(zipFile)) throw new CourseError(`${zipFile}: no such file`);
  if (!fs.statSync(zipFile).isFile()) throw new CourseError(`${zipFile}: a folder, not a zip archive`);
  const a = assignmentOf(opts, zipFile, assignment);
  const stems = fs
    .readdirSync(path.join(opts.course, "source", a))
    .filter((f) => f.endsWith(".ipynb"))
    .map((f) => f.slice(0, -".ipynb".length));
  const notebooks = stems.map((s) => `${s}.ipynb`);
  const regex = submissionPattern(stems);
  const downloaded = path.join(opts.course, "downloaded", a);
  // nbgrader extracts archive/<stem>.zip into extracted/<stem>/; a fixed name keeps that one folder.
  const extracted = path.join(downloaded, "extracted", "submissions");

  const listed = scan("zip", zipFile, regex, extracted);
  if (typeof listed === "string") throw new CourseError(`${zipFile}: ${listed}`);
  if (!listed.length) throw new CourseError(`${zipFile}: the archive holds no files`);
  const byTarget = new Map<string, string[]>();
  for (const s of listed.filter((s) => s.student)) {
    const key = `${s.student}/${a}/${s.file}`;
    byTarget.set(key, [...(byTarget.get(key) ?? []), s.name]);
  }
  const clashes = [...byTarget].filter(([, names]) => names.length > 1);
  if (clashes.length) {
    throw new CourseError(
      `${zipFile}: files that would land on the same name (keep one of each in the archive):\n` +
        clashes.map(([key, names]) => `  ${key}: ${names.join(", ")}`).join("\n"),
    );
  }
  // An archive inside may hold submissions; only nbgrader's extraction shows them.
  if (!byTarget.size && !listed.some((s) => s.why === "archive")) {
    const shown = listed.slice(0, 10).map((s) => s.name);
    throw new CourseError(
      `${zipFile}: no file in it is named as Canvas (<name>_<userid>_<attachmentid>_<file>.ipynb) or Moodle ` +
        `(<Full Name>_<id>_assignsubmission_file_[/]<file>.ipynb) name submissions; it holds ${shown.join(", ")}` +
        (listed.length > shown.length ? ` and ${listed.length - shown.length} more` : ""),
    );
  }

  const archive = path.join(downloaded, "archive");
  fs.rmSync(archive, { recursive: true, force: true });
  fs.mkdirSync(archive, { recursive: true });
  fs.copyFileSync(zipFile, path.join(archive, "submissions.zip"));
  try {
    // --force: a new download replaces the extracted files and each listed student's earlier submission.
    nbgrader(opts, ["zip_collect", a, "--force", `--FileNameCollectorPlugin.named_regexp=${regex}`]);
  } catch (err) {
    if (err instanceof CourseError) throw new CourseError(`${zipFile}: nbgrader could not import it: ${err.message}`);
    throw err;
  }

  const report: CollectReport = { imported: [], unmatched: [], misnamed: [] };
  const collected = scan("dir", extracted, regex, "");
  if (typeof collected === "string") throw new CourseError(`${extracted}: ${collected}`);
  for (const s of [...listed.filter((s) => s.why === "unsafe"), ...collected]) {
    if (s.why === "archive") continue; // nbgrader extracted it beside itself: its files are in this list
    if (!s.student) {
      report.unmatched.push(`${s.name}: ${WHY[s.why ?? "pattern"]}`);
      continue;
    }
    const target = `${s.student}/${a}/${s.file}`;
    if (!fs.existsSync(path.join(opts.course, "submitted", target)))
      throw new CourseError(`${zipFile}: nbgrader did not copy ${s.name} to submitted/${target}`);
    report.imported.push(target);
    if (!notebooks.includes(s.file ?? ""))
      report.misnamed.push(`${target}: not named ${notebooks.join(" or ")}, so autograde leaves it out (rename it)`);
  }
  if (!report.imported.length) throw new CourseError(`${zipFile}: nothing imported (${report.unmatched.join("; ")})`);
  return report;
}

export const GRADES_FORMATS = ["csv", "canvas", "moodle"] as const;
export type GradesFormat = (typeof GRADES_FORMATS)[number];

/** A CSV field, quoted when it must be (RFC 4180). */
function field(value: string): string {
  return /[",\r\n]|^\s|\s$/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/**
 * Exports grades.csv and, for canvas or moodle, the file that LMS's gradebook
 * import reads, beside it (grades-canvas.csv, grades-moodle.csv); returns the
 * path of the file asked for.
 */
export function writeGradesFile(opts: CourseOptions, format: GradesFormat): string {
  const { csv, graded } = grades(opts);
  return format === "csv" ? csv : writeLmsGrades(opts, format, graded);
}

/**
 * The LMS file from the graded rows of nbgrader's export (grades().graded), written atomically (a temporary
 * file, then renamed), one row per student with a graded submission and one
 * column per assignment: the ones named in opts.assignments, else every one
 * with a graded submission (so a course with nothing graded gives the header
 * alone). A submission not graded here is an empty cell.
 *
 * Canvas ("Import" in the gradebook) reads Student, ID, SIS User ID, SIS Login
 * ID, Section, then one column per assignment, headed by its title (or
 * "title (id)"); it finds the student by ID (the Canvas user id) first, then
 * SIS User ID, then SIS Login ID, then the name. The student id goes in both
 * ID and SIS Login ID: an id from a Canvas archive is a user id, one from
 * elsewhere is usually a login.
 *
 * Moodle ("Import grades from CSV") maps one column to username, email, ID
 * number or user id (chosen in its form; a column named "Username" or "Email
 * address" is chosen for you), and each other column to a grade item; a
 * column headed "Assignment: <name> (Real)", as Moodle's own export heads it,
 * is mapped to the assignment of that name for you. Email comes from
 * nbgrader's student list (nbgrader db student import), empty when unknown.
 */
export function writeLmsGrades(opts: CourseOptions, format: "canvas" | "moodle", graded: pl.DataFrame): string {
  const rows = (graded.toRecords() as Record<string, string | null>[]).map((r) => ({
    student: r.student_id ?? "",
    assignment: r.assignment ?? "",
    score: Number(r.score),
    name: [r.last_name, r.first_name].filter((n) => n).join(", "),
    email: r.email ?? "",
  }));
  const columns = opts.assignments.length ? assignments(opts) : [...new Set(rows.map((r) => r.assignment))].sort();
  const kept = rows.filter((r) => columns.includes(r.assignment));
  const students = [...new Set(kept.map((r) => r.student))].sort();
  const cell = (student: string, assignment: string) => {
    const r = kept.find((k) => k.student === student && k.assignment === assignment);
    return r ? String(Math.round(r.score * 100) / 100) : "";
  };
  const person = (student: string) => kept.find((k) => k.student === student)!;
  const table =
    format === "canvas"
      ? [
          ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", ...columns],
          ...students.map((s) => [person(s).name || s, s, "", s, "", ...columns.map((a) => cell(s, a))]),
        ]
      : [
          ["Username", "Email address", ...columns.map((a) => `Assignment: ${a} (Real)`)],
          ...students.map((s) => [s, person(s).email, ...columns.map((a) => cell(s, a))]),
        ];
  const out = path.join(opts.course, `grades-${format}.csv`);
  const tmp = path.join(opts.course, `.grades-${format}.${process.pid}.csv`);
  try {
    fs.writeFileSync(tmp, table.map((row) => row.map(field).join(",") + "\n").join(""));
    fs.renameSync(tmp, out);
  } finally {
    fs.rmSync(tmp, { force: true });
  }
  return out;
}
