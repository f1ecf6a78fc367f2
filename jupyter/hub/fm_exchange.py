"""nbgrader's exchange for a class on the hub: what students are told when they submit.

Configured for every hub user's nbgrader (``configure(c)``, from the hub
environment's ``nbgrader_config.py``, written by scripts/setup-hub.sh), and
read by jupyter/hub/fm_hub_server.py, which shows it in the Assignments tab.

- **A notebook that cannot be read is not submitted.** Stock nbgrader copies
  whatever is in the folder; a notebook broken by a text editor (not JSON, or
  not a notebook) would only fail at grading, after the deadline, with nothing
  said to the student. ``CheckedSubmit`` refuses the whole submission, naming
  the file and where it breaks; the student's earlier submission stays the one
  that counts (nothing in the exchange is touched).
- **The deadline is published with the assignment.** nbgrader keeps the due
  date in the instructor's gradebook, which students cannot read, so a late
  submission goes through without a word. ``PublishingRelease`` writes the
  due date beside the released assignment (``<exchange>/<course>/deadlines/<id>``,
  readable by the class) when it is released, and fm_hub_server.py again when
  the instructor changes it in the Formgrader; the Assignments tab then marks
  each late submission with how late it is. Late work is still accepted and
  kept: what it costs is the instructor's choice (nbgrader's
  ``LateSubmissionPlugin``), and the gradebook has the exact lateness.
"""

import json
import os
import tempfile
from datetime import datetime, timezone
from typing import List, Optional

from nbgrader.exchange.default import ExchangeReleaseAssignment, ExchangeSubmit
from nbgrader.utils import find_all_notebooks, parse_utc

DEADLINES = "deadlines"


def deadline_file(root: str, course_id: str, assignment_id: str) -> str:
    return os.path.join(root, course_id, DEADLINES, assignment_id)


def published_deadline(root: str, course_id: str, assignment_id: str) -> Optional[datetime]:
    """The due date published for an assignment (aware, UTC), or None when it has none."""
    try:
        with open(deadline_file(root, course_id, assignment_id)) as f:
            text = f.read().strip()
    except OSError:
        return None
    return parse_utc(text).replace(tzinfo=timezone.utc) if text else None


def publish_deadline(root: str, course_id: str, assignment_id: str, due: Optional[datetime]) -> None:
    """Writes (atomically) or removes the published due date; ``due`` naive means UTC, as in nbgrader's gradebook."""
    folder = os.path.join(root, course_id, DEADLINES)
    os.makedirs(folder, exist_ok=True)
    os.chmod(folder, 0o755)  # the class reads it; only the instructor writes
    target = deadline_file(root, course_id, assignment_id)
    if due is None:
        if os.path.exists(target):
            os.remove(target)
        return
    if due.tzinfo is not None:
        due = due.astimezone(timezone.utc).replace(tzinfo=None)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".%s." % assignment_id)
    with os.fdopen(fd, "w") as f:
        f.write(due.isoformat(sep=" ") + "\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, target)


def gradebook_due_date(db_url: str, course_id: str, assignment_id: str) -> Optional[datetime]:
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(db_url, course_id) as gb:
        try:
            return gb.find_assignment(assignment_id).duedate
        except MissingEntry:
            return None


def how_late(seconds: float) -> str:
    """'3 min 5 s', '2 h 10 min', '1 day 4 h': how much after the deadline, in words a student reads."""
    s = int(seconds)
    days, s = divmod(s, 86400)
    hours, s = divmod(s, 3600)
    minutes, s = divmod(s, 60)
    if days:
        return "%d day%s %d h" % (days, "" if days == 1 else "s", hours)
    if hours:
        return "%d h %d min" % (hours, minutes)
    if minutes:
        return "%d min %d s" % (minutes, s)
    return "%d s" % s


def late_note(timestamp: str, due: Optional[datetime]) -> Optional[str]:
    """What the Assignments tab adds to a submission's time when it came after the deadline."""
    if due is None:
        return None
    late = (parse_utc(timestamp).replace(tzinfo=timezone.utc) - due).total_seconds()
    if late <= 0:
        return None
    return "late by %s; due %s UTC" % (how_late(late), due.strftime("%Y-%m-%d %H:%M"))


def unreadable_notebooks(folder: str) -> List[str]:
    """Each notebook under ``folder`` that nbgrader could not grade, with what is wrong with it."""
    import nbformat

    problems = []
    for name in sorted(find_all_notebooks(folder)):
        path = os.path.join(folder, name)
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except UnicodeDecodeError as err:
            problems.append("%s is not text (byte %d is not UTF-8)" % (name, err.start))
            continue
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            problems.append("%s is not valid JSON: %s at line %d, column %d" % (name, err.msg, err.lineno, err.colno))
            continue
        if not isinstance(data, dict) or not isinstance(data.get("cells"), list) or "nbformat" not in data:
            problems.append("%s is JSON but not a notebook (no list of cells, or no nbformat version)" % name)
            continue
        try:  # as nbgrader reads it (schema warnings are not errors there either)
            nbformat.reads(text, as_version=4)
        except Exception as err:  # nbformat's errors: the first line says what
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            problems.append("%s is JSON but not a notebook: %s" % (name, first))
    return problems


class CheckedSubmit(ExchangeSubmit):
    """nbgrader's submit, refusing a submission any of whose notebooks cannot be read."""

    def copy_files(self):
        problems = unreadable_notebooks(self.src_path)
        if problems:
            # (short lines: the Assignments tab shows this in a narrow box)
            self.fail(
                "%s was not submitted:\n%s\n"
                "Nothing was changed: a submission you made earlier is still the one that counts.\n"
                "To fix it, open the notebook in JupyterLab (File > Revert Notebook to\n"
                "Checkpoint brings back the last saved version) or fetch a fresh copy,\n"
                "then submit again." % (self.coursedir.assignment_id, "\n".join("  " + p for p in problems))
            )
        super().copy_files()


class PublishingRelease(ExchangeReleaseAssignment):
    """nbgrader's release, also publishing the assignment's due date (or its absence) for the class."""

    def copy_files(self):
        super().copy_files()
        due = gradebook_due_date(self.coursedir.db_url, self.coursedir.course_id, self.coursedir.assignment_id)
        publish_deadline(self.root, self.coursedir.course_id, self.coursedir.assignment_id, due)
        if due is not None:
            self.log.info("Published the due date %s UTC", due)


def configure(c) -> None:
    c.ExchangeFactory.submit = "fm_exchange.CheckedSubmit"
    c.ExchangeFactory.release_assignment = "fm_exchange.PublishingRelease"
