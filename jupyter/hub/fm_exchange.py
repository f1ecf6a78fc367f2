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
- **Students never write into the exchange** (when FM_EXCHANGE_URL names the
  hub's submission service, fm_exchange_service.py): ``ServiceSubmit`` sends
  the files to the service with the server's hub token; the service files them
  under the name the hub authenticated, at its own clock's time. The student's
  own list (nbgrader's cache in their home) records the time the service gave.
  ``CheckedCollect`` takes the newest submission of each student (resubmissions
  replace older ones, as if ``--update`` were always given), and skips an entry
  it cannot read, naming it, instead of stopping for the whole class.
"""

import base64
import fnmatch
import json
import os
import secrets
import tempfile
import urllib.error
import urllib.request
from datetime import datetime, timezone
from typing import List, Optional

from nbgrader.exchange.default import Exchange, ExchangeCollect, ExchangeReleaseAssignment, ExchangeSubmit
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


SERVICE_ENV = "FM_EXCHANGE_URL"


def service_url() -> str:
    return os.environ.get(SERVICE_ENV, "")


def submission_files(src: str, ignore: List[str]) -> List[dict]:
    """The files nbgrader would copy from an assignment folder (its ignore patterns out; links not followed)."""
    files = []
    for folder, dirs, names in os.walk(src):
        dirs[:] = sorted(d for d in dirs if not any(fnmatch.fnmatch(d, p) for p in ignore)
                         and not os.path.islink(os.path.join(folder, d)))
        for name in sorted(names):
            path = os.path.join(folder, name)
            if any(fnmatch.fnmatch(name, p) for p in ignore) or not os.path.isfile(path) or os.path.islink(path):
                continue
            files.append({"path": os.path.relpath(path, src).replace(os.sep, "/"), "local": path,
                          "size": os.path.getsize(path)})
    return files


class ServiceSubmit(CheckedSubmit):
    """Submit through the hub's submission service (fm_exchange_service.py): nothing is written to inbound/."""

    def init_dest(self):
        if self.coursedir.course_id == "":
            self.fail("No course id specified. Re-run with --course flag.")
        self.cache_path = os.path.join(self.cache, self.coursedir.course_id)
        # Only a placeholder: the service decides the name and the time.
        self.assignment_filename = "%s+%s+%s" % (os.environ.get("JUPYTERHUB_USER", "?"),
                                                 self.coursedir.assignment_id, self.timestamp)

    def request(self, method: str, body: Optional[dict] = None) -> dict:
        token = os.environ.get("JUPYTERHUB_API_TOKEN", "")
        if not token:
            self.fail("Submitting needs your JupyterLab on the class hub (no hub token here).")
        req = urllib.request.Request(service_url().rstrip("/") + "/submit", method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": "token " + token,
                                              "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=120) as res:
                return json.loads(res.read())
        except urllib.error.HTTPError as err:
            try:
                message = json.loads(err.read()).get("message")
            except ValueError:
                message = None
            self.fail(message or "the submission service refused it (HTTP %d %s)" % (err.code, err.reason))
        except (urllib.error.URLError, OSError) as err:
            self.fail("%s was not submitted: the class's submission service did not answer (%s).\n"
                      "Nothing was changed; try again in a minute, and tell your instructor if it persists."
                      % (self.coursedir.assignment_id, getattr(err, "reason", err)))

    def copy_files(self):
        self.init_release()
        problems = unreadable_notebooks(self.src_path)
        if problems:
            CheckedSubmit.copy_files(self)  # refuses, saying why
        self.check_filename_diff()
        files = submission_files(self.src_path, list(self.coursedir.ignore))
        limits = self.request("GET")
        size = sum(f["size"] for f in files)
        if size > limits["max_submission_bytes"]:
            self.fail("%s was not submitted: it holds %.1f MB, more than the limit of %d MB per submission.\n"
                      "Remove large files (data, outputs you saved) from its folder, or clear the notebook's "
                      "outputs, then submit again." % (self.coursedir.assignment_id, size / 2**20,
                                                       limits["max_submission_bytes"] // 2**20))
        secret = secrets.token_hex(64)
        payload = []
        for f in files:
            with open(f["local"], "rb") as data:
                payload.append({"path": f["path"], "data": base64.b64encode(data.read()).decode()})
        filed = self.request("POST", {"course_id": self.coursedir.course_id,
                                      "assignment_id": self.coursedir.assignment_id,
                                      "files": payload, "secret": secret})
        # The student's own record (what the Assignments tab lists, and what feedback is matched with):
        # the service's time, not this machine's.
        self.timestamp = filed["timestamp"]
        cache_path = os.path.join(self.cache_path, "%s+%s+%s" % (filed["student"], self.coursedir.assignment_id,
                                                                self.timestamp))
        os.makedirs(self.cache_path, exist_ok=True)
        self.do_copy(self.src_path, cache_path)
        with open(os.path.join(cache_path, "timestamp.txt"), "w") as fh:
            fh.write(self.timestamp)
        with open(os.path.join(cache_path, "submission_secret.txt"), "w") as fh:
            fh.write(secret)
        self.log.info("Submitted as: %s %s %s", self.coursedir.course_id, self.coursedir.assignment_id,
                      self.timestamp)


class CheckedCollect(ExchangeCollect):
    """nbgrader's collect: an entry it cannot read is skipped and named, never stopping the class's collect."""

    def _path_to_record(self, path):
        try:
            return super()._path_to_record(path)
        except Exception as err:  # nbgrader's fail() or dateutil's ParserError: the name is not a submission
            self.log.warning("Skipped %s: not a submission nbgrader can read (%s); remove it from the exchange",
                             path, str(err).splitlines()[0] if str(err) else type(err).__name__)
            return None

    def init_src(self):
        record = self._path_to_record
        self._path_to_record = lambda path: record(path) or {"username": None, "timestamp": datetime.min}
        super().init_src()
        self.src_records = [r for r in self.src_records if r.get("username")]


class PublishingRelease(ExchangeReleaseAssignment):
    """nbgrader's release, also publishing the assignment's due date (or its absence) for the class."""

    def ensure_root(self):
        if not service_url():
            super().ensure_root()

    def ensure_directory(self, path, mode):
        if service_url() and path == getattr(self, "inbound_path", None) and os.path.isdir(path):
            return  # the hub's: owned by root, written by the submission service only
        super().ensure_directory(path, mode)

    def copy_files(self):
        super().copy_files()
        due = gradebook_due_date(self.coursedir.db_url, self.coursedir.course_id, self.coursedir.assignment_id)
        publish_deadline(self.root, self.coursedir.course_id, self.coursedir.assignment_id, due)
        if due is not None:
            self.log.info("Published the due date %s UTC", due)


def _laid_out_by_the_hub(ensure_root):
    """nbgrader checks that everyone can write the exchange's root; on the hub nobody but root may
    (fm_hub_course.prepare_exchange lays it out), so the check is skipped there."""

    def check(self):
        if not service_url():
            ensure_root(self)

    return check


def configure(c) -> None:
    if service_url() and not getattr(Exchange, "_fm_hub_layout", False):
        Exchange.ensure_root = _laid_out_by_the_hub(Exchange.ensure_root)
        Exchange._fm_hub_layout = True
    c.ExchangeFactory.submit = "fm_exchange.ServiceSubmit" if service_url() else "fm_exchange.CheckedSubmit"
    c.ExchangeFactory.release_assignment = "fm_exchange.PublishingRelease"
    c.ExchangeFactory.collect = "fm_exchange.CheckedCollect"
    # The newest submission of each student is the one graded (nbgrader's --update, always).
    c.ExchangeCollect.update = True
    # The submission service files each submission under the hub's name for its student, as root:
    # the owner is no longer the student, and the name is no longer the student's claim.
    c.ExchangeCollect.check_owner = not service_url()
