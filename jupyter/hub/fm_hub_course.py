"""The course's side of the hub: the shared dataset cache, nbgrader's exchange
laid out so no student writes in it, the checkout's hidden material closed to
other users, the sandbox checked for grading, and each instructor's gradebook
given the roster's students.
"""

import grp
import json
import os
import pwd
import re
import shutil
import subprocess

from fm_hub_state import REPO, VENV, paths, run, say


def fill_dataset_cache(data_dir: str, node_bin: str) -> None:
    """The four dataset files in the shared cache before any server starts (read-only for the class)."""
    script = (
        "const { FILES } = require('fashion-mnist-lib/dist/data/dataset');"
        "const { fetchToCache, progressBar } = require('fashion-mnist-lib/dist/data/download');"
        "(async () => { for (const f of Object.values(FILES))"
        " await fetchToCache({ name: f.name, sha256: f.sha256, cacheDir: process.argv[1],"
        " onProgress: progressBar('hub: download') }); })()"
        ".catch((e) => { console.error(String(e && e.message || e)); process.exit(1); });"
    )
    cache = os.path.join(data_dir, "fashion-mnist")
    env = dict(os.environ, PATH=node_bin + os.pathsep + os.environ.get("PATH", ""))
    res = subprocess.run(["node", "-e", script, cache], cwd=REPO, env=env)
    if res.returncode != 0:
        raise RuntimeError("could not put the dataset in %s (see above; FASHION_MNIST_MIRROR names a local copy)"
                           % cache)
    for folder in (data_dir, cache):
        os.chmod(folder, os.stat(folder).st_mode | 0o555)
    for name in os.listdir(cache):
        os.chmod(os.path.join(cache, name), 0o644)


def course_id() -> str:
    """The course's id, from exercises/nbgrader_config.py (the copy every instructor's ~/course starts from)."""
    with open(os.path.join(REPO, "exercises", "nbgrader_config.py")) as f:
        match = re.search(r"""^c\.CourseDirectory\.course_id\s*=\s*["']([^"']+)["']""", f.read(), re.M)
    if not match:
        raise RuntimeError("exercises/nbgrader_config.py sets no c.CourseDirectory.course_id")
    return match.group(1)


def prepare_exchange(state: str, people: list) -> int:
    """nbgrader's exchange, laid out so that no student writes in it; returns the group of inbound/.

    - ``exchange/`` root's, 755: nobody else creates anything at its top;
    - ``exchange/<course>/`` the (first) instructor's, 755: they release (outbound/),
      publish due dates and feedback there; students read;
    - ``exchange/<course>/inbound/`` root's, group of the instructors, 750: only the
      submission service (fm_exchange_service.py, run by the hub as root) writes there;
      instructors collect from it; students can neither list nor write it.
    """
    p = paths(state)
    os.makedirs(p["exchange"], exist_ok=True)
    os.chown(p["exchange"], 0, 0)
    os.chmod(p["exchange"], 0o755)
    instructors = [pwd.getpwnam(x["username"]) for x in people if x["role"] == "instructor"]
    group = instructors[0].pw_gid
    for other in instructors[1:]:  # every instructor collects: members of the first one's group
        run(["usermod", "--append", "--groups", grp.getgrgid(group).gr_name, other.pw_name])
    course = os.path.join(p["exchange"], course_id())
    os.makedirs(course, exist_ok=True)
    if os.stat(course).st_uid not in {x.pw_uid for x in instructors}:
        os.chown(course, instructors[0].pw_uid, group)
    os.chmod(course, 0o755)
    inbound = os.path.join(course, "inbound")
    os.makedirs(inbound, exist_ok=True)
    os.chown(inbound, 0, group)
    os.chmod(inbound, 0o750)
    return group


def close_readable_sources() -> None:
    """Takes other users' access away from what students must not read in this checkout: the
    instructor's versions (hidden tests), their history, and any grading done in the checkout's own
    course. Students' servers need only node_modules, lib/, jupyter/, notebooks/, .cache/ and the
    course's configuration, which stay readable."""
    closed = []
    for rel in ("exercises/source", "exercises/autograded", "exercises/submitted", "exercises/feedback",
                "exercises/gradebook.db", ".git"):
        path = os.path.join(REPO, rel)
        if os.path.exists(path) and os.stat(path).st_mode & 0o007:
            os.chmod(path, os.stat(path).st_mode & ~0o007)
            closed.append(rel)
    if closed:
        say("closed %s to other users (students included): `chmod o-rwx` (hidden tests and grading data)"
            % ", ".join(closed))


def check_sandbox(people: list, node_bin: str) -> None:
    """Grading runs students' code in bubblewrap as the instructor (an ordinary user): say now if it cannot."""
    instructor = next(x["username"] for x in people if x["role"] == "instructor")
    home = pwd.getpwnam(instructor).pw_dir
    runuser = shutil.which("runuser", path="/usr/sbin:/sbin:/usr/bin:/bin") or "runuser"
    try:
        res = subprocess.run(
            [runuser, "-u", instructor, "--", os.path.join(VENV, "bin", "python"),
             os.path.join(home, "course", "kernel_sandbox.py"), "--check"],
            cwd=home, capture_output=True, text=True,
            env={"PATH": os.pathsep.join([os.path.join(VENV, "bin"), node_bin, "/usr/bin", "/bin"]), "HOME": home})
        problem = (res.stderr or res.stdout).strip() if res.returncode != 0 else ""
    except OSError as e:
        problem = str(e)
    if problem:
        say("warning: grading as %s cannot use the sandbox: %s (the Formgrader's Autograde will refuse; see "
            "docs/instructors.md, The sandbox)" % (instructor, problem))


GRADEBOOK_SYNC = """
import json, os, sys
from nbgrader.api import Gradebook
people = json.load(sys.stdin)
with Gradebook("sqlite:///" + os.path.abspath("gradebook.db")) as gb:
    for p in people:
        if p["role"] == "student":
            first, _, last = p["name"].rpartition(" ")
            gb.update_or_create_student(p["username"], first_name=first or last, last_name=last if first else "")
"""


def sync_gradebooks(people: list) -> None:
    """Each instructor's gradebook lists the roster's students with their names (the Formgrader shows them)."""
    runuser = shutil.which("runuser", path="/usr/sbin:/sbin:/usr/bin:/bin") or "runuser"
    for instructor in (x["username"] for x in people if x["role"] == "instructor"):
        course = os.path.join(pwd.getpwnam(instructor).pw_dir, "course")
        # nbgrader runs alembic through PATH: .cache/hub/venv/bin must be on it.
        env = {"PATH": os.path.join(VENV, "bin") + ":/usr/bin:/bin", "HOME": os.path.dirname(course)}
        res = subprocess.run([runuser, "-u", instructor, "--", os.path.join(VENV, "bin", "python"), "-c",
                              GRADEBOOK_SYNC], cwd=course, input=json.dumps(people), capture_output=True, text=True,
                             env=env)
        if res.returncode != 0:
            say("warning: could not add the roster's students to %s/gradebook.db: %s" % (
                course, res.stderr.strip().splitlines()[-1] if res.stderr.strip() else "exit %d" % res.returncode))
