"""The class's submission desk: a JupyterHub service that takes submissions in (`fm-exchange`).

nbgrader's shared-folder exchange lets every student write into ``inbound/``
and trusts what they write there: the student named in a folder's name, the
time in it and in ``timestamp.txt``, the folder's mode (777). On a class hub
one student could submit in another's name, backdate work, replace a
classmate's notebook or leave a folder that stops Collect for everyone.

Here students never write into the exchange. Their nbgrader (``fm_exchange.
ServiceSubmit``) sends the assignment's files to this service with the API
token JupyterHub gave their server; the service asks the hub whose token it is
and files the submission itself:

- under the name the hub authenticated (a name in the request is ignored);
- with the time of this machine's clock when it arrived (``timestamp.txt``
  is written here);
- into ``<exchange>/<course>/inbound/`` (owned by root, readable by the
  instructors' group only, mode 750), written to a hidden folder first and
  renamed whole, so Collect never sees half a submission;
- only for an assignment that was released, with notebooks nbgrader can read,
  and within the size limits (per submission and per student, counted over
  their earlier submissions of the course): an oversize submission is refused
  with the limit and what to do.

Runs as a managed service of the hub (jupyter/hub/jupyterhub_config.py), as
the hub's user, with JupyterHub's own Python: only the standard library and
tornado, so that the chart's hub image runs it too (deploy/k8s). Settings come from
the environment: FM_EXCHANGE_ROOT, FM_EXCHANGE_GROUP (gid of inbound/),
FM_EXCHANGE_PORT, FM_EXCHANGE_MAX_SUBMISSION_MB, FM_EXCHANGE_MAX_STUDENT_MB,
FM_EXCHANGE_MAX_FILES; JUPYTERHUB_API_URL is set by the hub.
"""

import base64
import json
import logging
import os
import re
import secrets
import shutil
import signal
from datetime import datetime, timezone

from tornado import ioloop, web
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

log = logging.getLogger("fm-exchange")
# Course and assignment ids as nbgrader puts them in folder names (no "+", no path separators).
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
PART = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_. ()-]{0,199}$")  # one component of a file's path
SECRET = re.compile(r"^[0-9a-f]{16,256}$")
MB = 1024 * 1024


def unreadable_notebooks(folder: str) -> list:
    """Each notebook under ``folder`` that is not one (only JSON is read here: the service runs with
    JupyterHub's own Python, which has no nbformat; students' nbgrader checks more before sending)."""
    problems = []
    for where, _, names in os.walk(folder):
        for name in sorted(n for n in names if n.endswith(".ipynb")):
            rel = os.path.relpath(os.path.join(where, name), folder)
            try:
                with open(os.path.join(where, name), encoding="utf-8") as f:
                    data = json.load(f)
            except (UnicodeDecodeError, ValueError) as err:
                problems.append("%s is not a JSON notebook (%s)" % (rel, str(err).splitlines()[0]))
                continue
            if not isinstance(data, dict) or not isinstance(data.get("cells"), list) or "nbformat" not in data:
                problems.append("%s is JSON but not a notebook (no list of cells, or no nbformat version)" % rel)
    return problems


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value.strip().isdigit() else default


class Refused(Exception):
    """A submission that is not filed: HTTP status and what the student is told."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class Desk:
    def __init__(self, root: str, group: int, max_submission: int, max_student: int, max_files: int):
        self.root, self.group = root, group
        self.max_submission, self.max_student, self.max_files = max_submission, max_student, max_files

    def own(self, path: str, mode: int) -> None:
        """Readable by the instructors' group only. As root (one machine): root's; as the chart's hub user
        (Kubernetes, a member of that group): its own, with the group changed."""
        if self.group or os.geteuid() == 0:
            os.chown(path, 0 if os.geteuid() == 0 else -1, self.group)
        os.chmod(path, mode)

    def inbound(self, course: str) -> str:
        return os.path.join(self.root, course, "inbound")

    def used_by(self, course: str, student: str) -> int:
        """Bytes of the student's earlier submissions to this course."""
        total, inbound = 0, self.inbound(course)
        for entry in os.listdir(inbound) if os.path.isdir(inbound) else []:
            if entry.split("+", 1)[0] != student:
                continue
            for folder, _, files in os.walk(os.path.join(inbound, entry)):
                total += sum(os.lstat(os.path.join(folder, f)).st_size for f in files)
        return total

    def check(self, course: str, assignment: str, files: list) -> int:
        if not NAME.match(course) or not NAME.match(assignment):
            raise Refused(400, "not a course or assignment name nbgrader uses: %r / %r" % (course, assignment))
        if not os.path.isdir(os.path.join(self.root, course, "outbound", assignment)):
            raise Refused(404, "%s has not been released in the course %s: nothing to submit it to"
                          % (assignment, course))
        if not os.path.isdir(self.inbound(course)):
            raise Refused(503, "the exchange of %s has no inbound folder: ask the instructor to restart the hub"
                          % course)
        if len(files) > self.max_files:
            raise Refused(413, "%s was not submitted: it has %d files, more than the limit of %d.\n"
                          "Remove files the assignment does not need from its folder, then submit again."
                          % (assignment, len(files), self.max_files))
        size = 0
        for f in files:
            parts = f["path"].split("/")
            if not all(PART.match(p) and p not in (".", "..") for p in parts):
                raise Refused(400, "%s was not submitted: the file name %r cannot be submitted (use letters, "
                              "digits, spaces and . _ - ( ) only)" % (assignment, f["path"]))
            size += len(f["data"])
        if size > self.max_submission:
            raise Refused(413, "%s was not submitted: it holds %.1f MB, more than the limit of %d MB per "
                          "submission.\nRemove large files (data, outputs you saved) from its folder, or clear "
                          "the notebook's outputs, then submit again." % (assignment, size / MB,
                                                                         self.max_submission // MB))
        return size

    def file(self, student: str, course: str, assignment: str, files: list, secret: str) -> dict:
        size = self.check(course, assignment, files)
        used = self.used_by(course, student)
        if used + size > self.max_student:
            raise Refused(413, "%s was not submitted: your submissions to %s would hold %.1f MB, more than "
                          "the limit of %d MB per student.\nAsk your instructor to raise the limit "
                          "(FM_EXCHANGE_MAX_STUDENT_MB) or to remove old submissions." % (
                              assignment, course, (used + size) / MB, self.max_student // MB))
        inbound = self.inbound(course)
        work = os.path.join(inbound, ".incoming-" + secrets.token_hex(8))
        os.mkdir(work, 0o700)
        try:
            for f in files:
                target = os.path.join(work, *f["path"].split("/"))
                os.makedirs(os.path.dirname(target), mode=0o750, exist_ok=True)
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o640)
                with os.fdopen(fd, "wb") as out:
                    out.write(f["data"])
            problems = unreadable_notebooks(work)
            if problems:
                raise Refused(422, "%s was not submitted:\n%s" % (assignment, "\n".join("  " + p for p in problems)))
            # The time is this machine's, taken now: nothing the student sent says when.
            stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f %Z")
            for name, text in (("timestamp.txt", stamp), ("submission_secret.txt", secret)):
                with open(os.path.join(work, name), "w") as out:
                    out.write(text)
            for folder, dirs, names in os.walk(work):
                self.own(folder, 0o750)
                for n in names:
                    self.own(os.path.join(folder, n), 0o640)
            name = "%s+%s+%s+%s" % (student, assignment, stamp, secrets.token_urlsafe(6).replace("+", "-"))
            os.rename(work, os.path.join(inbound, name))
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        log.info("filed %s (%d files, %.2f MB) for %s", name, len(files), size / MB, student)
        return {"timestamp": stamp, "student": student, "folder": name}


class SubmitHandler(web.RequestHandler):
    def get(self):
        """The limits, so a client can refuse an oversize submission before sending it."""
        desk = self.settings["desk"]
        self.finish({"max_submission_bytes": desk.max_submission, "max_student_bytes": desk.max_student,
                     "max_files": desk.max_files})

    async def whose(self) -> str:
        """The hub user whose token came with the request (the hub decides, not the request)."""
        header = self.request.headers.get("Authorization", "")
        token = header[len("token "):].strip() if header.startswith("token ") else ""
        if not token:
            raise Refused(401, "no token: submit from your JupyterLab on the hub (its nbgrader sends it)")
        try:
            res = await AsyncHTTPClient().fetch(HTTPRequest(
                os.environ["JUPYTERHUB_API_URL"].rstrip("/") + "/user", headers={"Authorization": "token " + token},
                request_timeout=20))
        except HTTPClientError as e:
            if e.code in (401, 403):
                raise Refused(403, "the hub does not know this token (log in again)")
            raise Refused(503, "the hub did not answer (%s): try again in a minute" % e)
        model = json.loads(res.body)
        if model.get("kind") != "user" or not model.get("name"):
            raise Refused(403, "only a hub user's own server can submit")
        return model["name"]

    async def post(self):
        try:
            student = await self.whose()
            try:
                body = json.loads(self.request.body)
                files = [{"path": str(f["path"]), "data": base64.b64decode(f["data"], validate=True)}
                         for f in body["files"]]
                course, assignment = str(body["course_id"]), str(body["assignment_id"])
                secret = str(body.get("secret", ""))
            except (ValueError, KeyError, TypeError) as e:
                raise Refused(400, "not a submission this service reads (%s)" % e)
            if not SECRET.match(secret):
                secret = secrets.token_hex(64)
            self.finish(self.settings["desk"].file(student, course, assignment, files, secret))
        except Refused as e:
            log.warning("refused (%d): %s", e.status, str(e).splitlines()[0])
            self.set_status(e.status)
            self.finish({"message": str(e)})


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="[fm-exchange %(asctime)s] %(message)s")
    max_submission = env_int("FM_EXCHANGE_MAX_SUBMISSION_MB", 20) * MB
    desk = Desk(os.environ["FM_EXCHANGE_ROOT"], env_int("FM_EXCHANGE_GROUP", 0), max_submission,
                env_int("FM_EXCHANGE_MAX_STUDENT_MB", 200) * MB, env_int("FM_EXCHANGE_MAX_FILES", 200))
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/fm-exchange/")
    app = web.Application([(r"/submit", SubmitHandler), (prefix.rstrip("/") + "/submit", SubmitHandler)], desk=desk)
    # Base64 adds a third; the rest is the request's JSON around it.
    app.listen(env_int("FM_EXCHANGE_PORT", 0), address=os.environ.get("FM_EXCHANGE_IP", "127.0.0.1"),
               max_body_size=max_submission * 4 // 3 + MB)
    log.info("taking submissions into %s (limits: %d MB per submission, %d MB per student)", desk.root,
             max_submission // MB, desk.max_student // MB)
    loop = ioloop.IOLoop.current()
    # The hub stops its services with SIGINT, which a process started in the background inherits as
    # ignored: both signals are handled here, so the hub's shutdown never waits on this service.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: loop.add_callback_from_signal(loop.stop))
    loop.start()


if __name__ == "__main__":
    main()
