"""What `npm run course -- report` shows of a class, read from the course folder.

    python scripts/class_report_data.py COURSE_DIR TSLAB_GRADING_DIR

Prints one JSON object:

- "assignments": name -> {"duedate": ISO or null, "cells": [{"name", "max"}]}
  (the test cells, in the order of the instructor's notebook);
- "submissions": one per submission in the gradebook: student, assignment,
  timestamp, seconds_late (null when no due date or not late), score and max
  (gradebook_score.py's sum), "graded" (its autograded notebook exists, the
  rule `course grades` uses), and per test cell its score and, when it did not
  earn full marks, the failure message students would see in their feedback.

Failure messages come from the autograded notebooks after
tslab_grading.StripHiddenTests, the feedback's own policy: a hidden test's
code and message are never in this output (a hidden failure is the generic
line, unless its message is a "hint: "). Read-only: the gradebook is opened
read-only and the notebooks are only read.
"""
import datetime
import json
import os
import sqlite3
import sys


def iso(value):
    if value is None:
        return None
    if isinstance(value, str):
        value = value.strip()
        for fmt in ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S"):
            try:
                value = datetime.datetime.strptime(value, fmt)
                break
            except ValueError:
                continue
        else:
            return value
    return value.replace(tzinfo=datetime.timezone.utc).isoformat().replace("+00:00", "Z")


def parse_time(value):
    if value is None:
        return None
    for fmt in ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S"):
        try:
            return datetime.datetime.strptime(str(value).strip(), fmt)
        except ValueError:
            continue
    return None


def interval_seconds(value):
    """nbgrader stores an extension (SQLAlchemy Interval on SQLite) as a datetime after the epoch."""
    t = parse_time(value)
    return 0.0 if t is None else (t - datetime.datetime(1970, 1, 1)).total_seconds()


def text_of(value):
    return value if isinstance(value, str) else "".join(value or [])


def cell_messages(notebook_file, strip):
    """grade_id -> the failure message feedback shows for that test cell (or None)."""
    import nbformat

    nb = nbformat.read(notebook_file, as_version=4)
    messages = {}
    for index, cell in enumerate(nb.cells):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type != "code" or not meta.get("grade"):
            continue
        cell, _ = strip.preprocess_cell(cell, {}, index)
        message = None
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stderr":
                line = text_of(output.get("text")).strip()
                if line:
                    message = line
                    break
        if message is None:
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    message = ("%s: %s" % (output.get("ename", "Error"), output.get("evalue", ""))).strip()
                    break
        messages[meta.get("grade_id")] = message
    return messages


def source_order(course, assignment, notebook):
    """grade_id -> position in the instructor's notebook (so cells list in the order students see them)."""
    import nbformat

    file = os.path.join(course, "source", assignment, notebook + ".ipynb")
    if not os.path.exists(file):
        return {}
    nb = nbformat.read(file, as_version=4)
    return {c.get("metadata", {}).get("nbgrader", {}).get("grade_id"): i for i, c in enumerate(nb.cells)}


def main(course, grading_dir):
    sys.path.insert(0, grading_dir)
    import tslab_grading  # the feedback's own policy (StripHiddenTests)

    strip = tslab_grading.StripHiddenTests()
    out = {"assignments": {}, "submissions": []}
    db_file = os.path.join(course, "gradebook.db")
    if not os.path.exists(db_file):
        json.dump(out, sys.stdout)
        return
    db = sqlite3.connect("file:%s?mode=ro" % db_file, uri=True, timeout=30)
    notebooks = {}
    for aid, name, duedate in db.execute("SELECT id, name, duedate FROM assignment ORDER BY name"):
        cells = []
        for nb_id, nb_name in db.execute("SELECT id, name FROM notebook WHERE assignment_id = ? ORDER BY name", (aid,)):
            notebooks[nb_id] = nb_name
            order = source_order(course, name, nb_name)
            rows = db.execute(
                """SELECT b.name, g.max_score FROM grade_cells g JOIN base_cell b ON b.id = g.id
                   WHERE b.notebook_id = ?""", (nb_id,)).fetchall()
            rows.sort(key=lambda r: (order.get(r[0], 1 << 30), r[0]))
            cells += [{"name": n, "notebook": nb_name, "max": m} for n, m in rows]
        out["assignments"][name] = {"duedate": iso(duedate), "cells": cells}

    for sid, student, assignment, timestamp, extension, duedate in db.execute(
            """SELECT s.id, s.student_id, a.name, s.timestamp, s.extension, a.duedate
               FROM submitted_assignment s JOIN assignment a ON a.id = s.assignment_id
               ORDER BY a.name, s.student_id""").fetchall():
        sub = {"student": student, "assignment": assignment, "timestamp": iso(timestamp), "seconds_late": None}
        t, due = parse_time(timestamp), parse_time(duedate)
        if t is not None and due is not None:
            late = (t - due).total_seconds() - interval_seconds(extension)
            if late > 0:
                sub["seconds_late"] = round(late, 1)
        cells, score, top = [], 0.0, 0.0
        messages = {}
        for nb_id, nb_name in db.execute(
                """SELECT n.id, nb.name FROM submitted_notebook n JOIN notebook nb ON nb.id = n.notebook_id
                   WHERE n.assignment_id = ?""", (sid,)).fetchall():
            graded = os.path.join(course, "autograded", student, assignment, nb_name + ".ipynb")
            if os.path.exists(graded):
                try:
                    messages.update(cell_messages(graded, strip))
                except Exception as err:  # an unreadable graded notebook: its scores still count
                    sys.stderr.write("%s: %s\n" % (graded, err))
            for name, auto, manual, extra, top_cell in db.execute(
                    """SELECT b.name, g.auto_score, g.manual_score, g.extra_credit, c.max_score
                       FROM grade g JOIN grade_cells c ON c.id = g.cell_id JOIN base_cell b ON b.id = c.id
                       WHERE g.notebook_id = ?""", (nb_id,)):
                earned = (manual if manual is not None else (auto or 0)) + (extra or 0)
                score += earned
                top += top_cell or 0
                cells.append({"name": name, "score": round(earned, 2), "max": top_cell,
                              "scored": manual is not None or auto is not None})
        for c in cells:
            if c["score"] < (c["max"] or 0):
                c["message"] = messages.get(c["name"])
        sub.update(score=round(score, 2), max=round(top, 2), cells=cells,
                   graded=os.path.isdir(os.path.join(course, "autograded", student, assignment)))
        out["submissions"].append(sub)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: class_report_data.py COURSE_DIR TSLAB_GRADING_DIR")
    main(*sys.argv[1:])
