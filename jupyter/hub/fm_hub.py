"""A class on JupyterHub on this machine: `npm run hub -- --roster FILE [...]` (scripts/hub.sh).

Starts a real JupyterHub (from .cache/hub/venv, scripts/setup-hub.sh) behind
configurable-http-proxy, on 127.0.0.1 by default, for the people in a roster
(CSV: username,role,name; role instructor or student):

- every roster line is a Unix user of its own (created here, run as root;
  home folder mode 700), so no one reads another's home or the instructor's
  course. Their servers are JupyterLab with the tslab kernel, started by
  JupyterHub's LocalProcessSpawner as that user (jupyter/hub/jupyterhub_config.py);
- each account gets a password issued here and printed once; only its hash is
  kept (``<state>/private/passwords.json``, mode 600), checked by the small
  authenticator in the hub's configuration;
- homes are set up once: the main notebook, ``node_modules`` (a link to the
  project's: the library, tslab, TensorFlow) and ``data/fashion-mnist`` (a link
  to the shared dataset cache, read-only); the instructor also gets a copy of
  the course (``~/course``: exercises/'s configuration and source/), which the
  Formgrader grades;
- nbgrader's exchange is ``<state>/exchange``, passed to every server as
  FM_NBGRADER_EXCHANGE (jupyter/fm_grading.py); students write nothing there:
  they submit through the hub's fm-exchange service (prepare_exchange);
- the state folder (default ``.hub/`` in the project, git-ignored) keeps the
  hub's database, cookie secret, passwords and the exchange, so stopping and
  starting the hub again keeps accounts, submissions and grades (grades live in
  the instructor's ``~/course/gradebook.db``);
- ``--teardown`` removes the Unix users this hub created (and their homes),
  after copying each instructor's course to ``<state>/kept/``, and the hub's
  private state and exchange.

Everything that can be wrong with the command line or the roster (a duplicate
or invalid username, an unknown role, a name taken by another account on this
machine, the port in use) is said before anything is created, and exits 2.

This file uses only Python's standard library: scripts/hub.sh runs it with the
system's Python before .cache/hub/venv exists; the hub's configuration imports its
password functions.
"""

import base64
import csv
import datetime
import errno
import grp
import hashlib
import hmac
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
VENV = os.path.join(REPO, ".cache", "hub", "venv")
PROXY = os.path.join(REPO, ".cache", "hub", "proxy", "node_modules", ".bin", "configurable-http-proxy")
ROLES = ("instructor", "student")
# A Unix login name that JupyterHub keeps as it is (lowercase) and nbgrader can
# put in its exchange's file names (no "+", no dots or spaces).
USERNAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
PASSWORD_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i
SCRYPT = {"n": 1 << 14, "r": 8, "p": 1}
DEFAULT_PORT = 8000
USAGE = """usage: npm run hub -- --roster FILE [--port P] [--ip ADDR] [--state DIR] [--extra-config FILE]
       npm run hub -- --teardown [--state DIR]
       npm run hub -- --roster FILE --reset-password USER [--state DIR]

A JupyterHub for a class on this machine (run as root): every roster line is a
Unix user with a home of its own (mode 700) and a JupyterLab with the TypeScript
kernel, the library, the dataset, the main notebook and nbgrader's Assignments
tab; instructors also get the course (~/course) and the Formgrader.

  --roster FILE     CSV lines username,role,name (role: instructor or student;
                    a header line "username,role,name" is allowed). New accounts
                    get a password, printed once (only its hash is kept).
  --port P          port of the hub's address (default 8000)
  --ip ADDR         address to listen on (default 127.0.0.1: this machine only)
  --state DIR       the hub's database, passwords and nbgrader exchange
                    (default .hub/ in the project); stop and start again with the
                    same DIR to keep accounts, submissions and grades
  --teardown        remove the Unix users this hub created and their homes
                    (instructors' courses are copied to DIR/kept/ first), and
                    the hub's private state and exchange
  --extra-config FILE   more JupyterHub configuration, read after the hub's own
                    (e.g. LTI 1.3 login from your LMS: docs/running-a-class.md)
  --reset-password USER   issue USER a new password (printed once); the hub is
                    not started
  --check           check the roster and the port, change nothing, and exit
  -h, --help        this text
"""


class UsageError(Exception):
    """Bad command line or roster: said before anything is created (exit 2)."""


def plural(n: int, one: str, many: str = "") -> str:
    return "%d %s" % (n, one if n == 1 else many or one + "s")


def say(msg: str) -> None:
    print("hub: " + msg, flush=True)


# --- passwords --------------------------------------------------------------------

def new_password() -> str:
    return "-".join("".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(4)) for _ in range(3))


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **SCRYPT)
    return "scrypt$%d$%d$%d$%s$%s" % (SCRYPT["n"], SCRYPT["r"], SCRYPT["p"],
                                      base64.b64encode(salt).decode(), base64.b64encode(digest).decode())


def password_matches(stored: str, password: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), dklen=32, n=int(n), r=int(r), p=int(p))
        return hmac.compare_digest(got, base64.b64decode(digest))
    except (ValueError, TypeError):
        return False


def read_json(path: str, default):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return default


def write_private_json(path: str, value) -> None:
    """Written whole (temporary file, then rename), readable by root only."""
    tmp = "%s.tmp%d" % (path, os.getpid())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(value, f, indent=1, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def check_login(state: str, username: str, password: str) -> bool:
    """The authenticator's test: does `password` match the hash kept for `username`?"""
    stored = read_json(paths(state)["passwords"], {}).get(username)
    return bool(stored) and password_matches(stored, password)


# --- state --------------------------------------------------------------------------

def paths(state: str) -> dict:
    private = os.path.join(state, "private")
    return {
        "state": state,
        "private": private,
        "exchange": os.path.join(state, "exchange"),
        "kept": os.path.join(state, "kept"),
        "passwords": os.path.join(private, "passwords.json"),
        "users": os.path.join(private, "users.json"),  # the Unix users this hub created
        "roster": os.path.join(private, "roster.json"),  # the roster the running hub serves
        "pid": os.path.join(private, "jupyterhub.pid"),
        "db": os.path.join(private, "jupyterhub.sqlite"),
        "cookie": os.path.join(private, "jupyterhub_cookie_secret"),
    }


def running_pid(state: str):
    """The process id of a hub running on this state folder, or None."""
    try:
        with open(paths(state)["pid"]) as f:
            pid = int(f.read().strip() or 0)
    except (FileNotFoundError, ValueError):
        return None
    if pid <= 0:
        return None
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            cmdline = f.read().decode(errors="replace")
    except OSError:
        return None
    return pid if "jupyterhub" in cmdline else None


# --- the roster ---------------------------------------------------------------------

def read_roster(file: str) -> list:
    """[{username, role, name}] from a CSV file; UsageError listing every problem found."""
    try:
        with open(file, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except FileNotFoundError:
        raise UsageError("--roster %s: no such file" % file)
    except IsADirectoryError:
        raise UsageError("--roster %s is a folder, not a CSV file" % file)
    except UnicodeDecodeError as e:
        raise UsageError("--roster %s is not UTF-8 text (%s)" % (file, e))
    except csv.Error as e:
        raise UsageError("--roster %s is not a CSV file: %s" % (file, e))
    problems, people, seen = [], [], {}
    for number, row in enumerate(rows, start=1):
        cells = [c.strip() for c in row]
        if not any(cells) or cells[0].startswith("#"):
            continue
        if not people and not problems and [c.lower() for c in cells[:3]] == ["username", "role", "name"]:
            continue  # header
        where = "%s line %d" % (os.path.basename(file), number)
        if len(cells) < 2 or len(cells) > 3:
            problems.append("%s: expected username,role,name, got %d field(s): %s" % (where, len(cells), ",".join(row)))
            continue
        username, role = cells[0], cells[1].lower()
        name = cells[2] if len(cells) == 3 and cells[2] else username
        if not USERNAME.match(username):
            why = ("use lowercase letters" if USERNAME.match(username.lower()) else
                   "a username is 1-32 characters: a lowercase letter, then lowercase letters, digits, '-' or '_'")
            problems.append("%s: invalid username %r (%s)" % (where, username, why))
        elif username in seen:
            problems.append("%s: duplicate username %r (already on line %d)" % (where, username, seen[username]))
        else:
            seen[username] = number
        if role not in ROLES:
            problems.append("%s: role %r is not instructor or student" % (where, cells[1]))
        people.append({"username": username, "role": role, "name": name})
    if not problems and not people:
        problems.append("%s has nobody in it (lines: username,role,name)" % file)
    if not problems and not any(p["role"] == "instructor" for p in people):
        problems.append("%s has no instructor (someone must release and grade the assignments)" % file)
    if problems:
        raise UsageError("the roster is not usable, nothing was changed:\n  " + "\n  ".join(problems))
    return people


def check_accounts(people: list, created: dict) -> None:
    """Names already taken on this machine by accounts this hub did not create."""
    problems = []
    for p in people:
        u = p["username"]
        if u in created:
            continue
        try:
            pwd.getpwnam(u)
            problems.append("%r is an existing account on this machine (not created by this hub): pick another "
                            "username" % u)
            continue
        except KeyError:
            pass
        try:
            grp.getgrnam(u)
            problems.append("%r is the name of an existing group on this machine: pick another username" % u)
        except KeyError:
            pass
    if problems:
        raise UsageError("the roster is not usable, nothing was changed:\n  " + "\n  ".join(problems))


def check_port(ip: str, port: int) -> None:
    s = socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the proxy binds: a closing connection is no conflict
    try:
        s.bind((ip, port))
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            raise UsageError("port %d on %s is already in use (another hub or server: `ss -ltnp 'sport = :%d'` "
                             "shows which); choose another with --port" % (port, ip, port))
        if e.errno == errno.EADDRNOTAVAIL:
            raise UsageError("--ip %s is not an address of this machine" % ip)
        if e.errno == errno.EACCES:
            raise UsageError("port %d needs more rights than this process has; choose one above 1023" % port)
        raise UsageError("cannot listen on %s:%d: %s" % (ip, port, e.strerror))
    finally:
        s.close()


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def server_ports(usernames: list) -> dict:
    """A port for each user's server, free now and below the kernel's ephemeral range.

    JupyterHub's LocalProcessSpawner otherwise picks a random ephemeral port when
    a server starts. With a class starting at once (the load test, 28 servers
    and their kernels' 5 ports each), two picks met: one student's server could
    not bind, the hub found the other's server answering at that address, and
    sent the first student's requests there. Ports fixed per user for this run
    of the hub, taken outside the range the kernel hands out (kernels' own
    ports come from there), cannot meet that way. The block starts at a random
    place so two hubs on one machine seldom try the same ports.
    """
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            ephemeral_low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        ephemeral_low = 32768
    low, high = 10000, ephemeral_low - 1
    ports, candidate = {}, low + secrets.randbelow(max(1, high - low - 4 * len(usernames)))
    for name in usernames:
        while True:
            if candidate > high:
                raise UsageError("no free ports left between %d and %d for the users' servers" % (low, high))
            port, candidate = candidate, candidate + 1
            s = socket.socket()
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            finally:
                s.close()
            ports[name] = port
            break
    return ports


# --- users and homes ---------------------------------------------------------------

def run(cmd: list) -> None:
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError("%s failed (exit %d): %s" % (" ".join(cmd), res.returncode,
                                                       (res.stderr or res.stdout).strip()))


def account_exists(username: str) -> bool:
    try:
        pwd.getpwnam(username)
        return True
    except KeyError:
        return False


def create_user(p: dict) -> None:
    comment = re.sub(r"[:,\n]", " ", p["name"])[:100]
    run(["useradd", "--create-home", "--shell", "/bin/bash", "--comment", comment, p["username"]])
    os.chmod(pwd.getpwnam(p["username"]).pw_dir, 0o700)


def chown_tree(path: str, uid: int, gid: int) -> None:
    os.lchown(path, uid, gid)
    if os.path.isdir(path) and not os.path.islink(path):
        for folder, dirs, files in os.walk(path):
            for name in dirs + files:
                os.lchown(os.path.join(folder, name), uid, gid)


def provision_home(p: dict, data_dir: str) -> None:
    """What a class user's home holds; only what is missing is added (their own files are never replaced)."""
    entry = pwd.getpwnam(p["username"])
    home, uid, gid = entry.pw_dir, entry.pw_uid, entry.pw_gid
    os.chmod(home, 0o700)  # Debian's useradd -m makes 755: others could read it

    def link(target: str, name: str) -> None:
        where = os.path.join(home, name)
        if not os.path.lexists(where):
            os.makedirs(os.path.dirname(where), exist_ok=True)
            os.symlink(target, where)
            os.lchown(where, uid, gid)

    # The library, tslab and TensorFlow, resolved by notebooks anywhere in the home.
    link(os.path.join(REPO, "node_modules"), "node_modules")
    # FMNIST_DATA_DIR is ~/data: saved models go there; the dataset cache is the shared, read-only one.
    data = os.path.join(home, "data")
    if not os.path.exists(data):
        os.mkdir(data, 0o755)
        os.chown(data, uid, gid)
    link(os.path.join(data_dir, "fashion-mnist"), os.path.join("data", "fashion-mnist"))
    notebook = os.path.join(home, "fashion-mnist-cnn.ipynb")
    if not os.path.exists(notebook):
        shutil.copyfile(os.path.join(REPO, "notebooks", "fashion-mnist-cnn.ipynb"), notebook)
        os.chown(notebook, uid, gid)
    if p["role"] == "instructor":
        course = os.path.join(home, "course")
        if not os.path.exists(course):
            src = os.path.join(REPO, "exercises")
            os.mkdir(course, 0o700)
            for f in ("nbgrader_config.py", "tslab_grading.py", "kernel_sandbox.py"):
                shutil.copyfile(os.path.join(src, f), os.path.join(course, f))
            shutil.copytree(os.path.join(src, "source"), os.path.join(course, "source"),
                            ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
            chown_tree(course, uid, gid)


def processes_of(uid: int) -> list:
    """Live processes of a Unix user (zombies, already ended, left out)."""
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.stat("/proc/" + name).st_uid != uid:
                    continue
                with open("/proc/%s/stat" % name) as f:
                    stat = f.read()
                if stat[stat.rindex(")") + 2:].startswith("Z"):
                    continue
                out.append(int(name))
            except (OSError, ValueError):
                pass
    return out


def remove_user(username: str, role: str, kept: str) -> str:
    try:
        entry = pwd.getpwnam(username)
    except KeyError:
        return "%s: no such account any more" % username
    for pid in processes_of(entry.pw_uid):  # a chance to end cleanly first
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.time() + 5
    while processes_of(entry.pw_uid) and time.time() < deadline:
        time.sleep(0.1)
    end_processes_of(entry.pw_uid)
    shutil.rmtree(runtime_dir(entry.pw_uid), ignore_errors=True)
    note = ""
    course = os.path.join(entry.pw_dir, "course")
    if role == "instructor" and os.path.isdir(course):
        os.makedirs(kept, mode=0o700, exist_ok=True)
        target = os.path.join(kept, "%s-course-%s" % (username, datetime.datetime.now().strftime("%Y%m%d-%H%M%S")))
        shutil.copytree(course, target, symlinks=True)
        chown_tree(target, 0, 0)
        note = " (course with its gradebook kept in %s)" % target
    run(["userdel", "--remove", username])
    return "removed the account %s and its home%s" % (username, note)


# --- commands -----------------------------------------------------------------------

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


def prepare_state(state: str) -> dict:
    p = paths(state)
    os.makedirs(state, exist_ok=True)
    os.chmod(state, 0o755)  # the exchange inside must be reachable by every class user
    os.makedirs(p["private"], exist_ok=True)
    os.chmod(p["private"], 0o700)
    return p


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


RUNTIME_ROOT = "/run/fm-hub"


def runtime_dir(uid: int) -> str:
    """A user's Jupyter runtime folder (connection files, kernels' Unix sockets): short, so a socket's
    path stays inside the 107 characters Linux allows, and private (mode 700)."""
    return os.path.join(RUNTIME_ROOT, str(uid))


def ensure_runtime_dir(username: str) -> str:
    entry = pwd.getpwnam(username)
    os.makedirs(RUNTIME_ROOT, mode=0o755, exist_ok=True)
    folder = runtime_dir(entry.pw_uid)
    os.makedirs(folder, mode=0o700, exist_ok=True)
    os.chown(folder, entry.pw_uid, entry.pw_gid)
    os.chmod(folder, 0o700)
    return folder


def end_processes_of(uid: int, rounds: int = 10) -> int:
    """Kills every process of ``uid`` (how many were left), however it was started: setsid, nohup and
    double forks stay the same user. kill(-1) from a child that has become the user reaches them all in
    one call, so a process forking meanwhile cannot slip between a listing and a kill."""
    try:
        gid = pwd.getpwuid(uid).pw_gid  # (looked up before forking: the hub's process has threads)
    except KeyError:
        gid = uid
    for _ in range(rounds):
        left = processes_of(uid)
        if not left:
            return 0
        child = os.fork()
        if child == 0:  # pragma: no cover (the child: system calls only)
            try:
                os.setgroups([])
                os.setgid(gid)
                os.setuid(uid)
                os.kill(-1, signal.SIGKILL)
            finally:
                os._exit(0)
        os.waitpid(child, 0)
        time.sleep(0.05)
    return len(processes_of(uid))


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


def teardown(state: str) -> int:
    p = paths(state)
    pid = running_pid(state)
    if pid:
        raise UsageError("the hub on %s is running (process %d): stop it first (Ctrl-C, or kill %d)"
                         % (state, pid, pid))
    created = read_json(p["users"], {})
    if not created and not os.path.isdir(p["private"]):
        say("nothing to tear down in %s" % state)
        return 0
    for username, info in sorted(created.items()):
        say(remove_user(username, info.get("role", "student"), p["kept"]))
    for folder in (p["private"], p["exchange"]):
        shutil.rmtree(folder, ignore_errors=True)
    say("removed the hub's private state and exchange in %s%s" % (
        state, "; kept: %s" % p["kept"] if os.path.isdir(p["kept"]) else ""))
    return 0


def start(args: dict) -> int:
    state, p = args["state"], paths(args["state"])
    if running_pid(state):
        raise UsageError("a hub is already running on %s (process %d)" % (state, running_pid(state)))
    people = read_roster(args["roster"])
    created = read_json(p["users"], {})
    check_accounts(people, created)
    check_port(args["ip"], args["port"])
    if args["check"]:
        say("%s: %s (%s), port %d free" % (args["roster"], plural(len(people), "person", "people"), plural(
            sum(x["role"] == "instructor" for x in people), "instructor"), args["port"]))
        return 0

    node_bin = os.environ.get("FM_HUB_NODE_BIN") or os.path.dirname(shutil.which("node") or "")
    res = subprocess.run(["bash", os.path.join(REPO, "scripts", "setup-hub.sh")])
    if res.returncode != 0:
        raise RuntimeError("the hub's set-up failed (above)")
    data_dir = os.path.abspath(os.environ.get("FMNIST_DATA_DIR") or os.path.join(REPO, "data"))
    fill_dataset_cache(data_dir, node_bin)
    prepare_state(state)
    close_readable_sources()

    for person in people:
        u = person["username"]
        if u not in created or not account_exists(u):  # (an account of ours removed by hand is made again)
            create_user(person)
            created[u] = {"role": person["role"], "created": datetime.datetime.now().isoformat(timespec="seconds")}
            write_private_json(p["users"], created)
        created[u]["role"] = person["role"]
        provision_home(person, data_dir)
    write_private_json(p["users"], created)
    write_private_json(p["roster"], people)
    exchange_group = prepare_exchange(state, people)
    check_sandbox(people, node_bin)
    sync_gradebooks(people)
    # Last before the hub starts, and printed as soon as stored: a password is never kept unseen.
    passwords = read_json(p["passwords"], {})
    issued = []
    for person in people:
        if person["username"] not in passwords:
            password = new_password()
            passwords[person["username"]] = hash_password(password)
            issued.append((person, password))
    write_private_json(p["passwords"], passwords)

    url = "http://%s:%d/" % ("[%s]" % args["ip"] if ":" in args["ip"] else args["ip"], args["port"])
    say("%d accounts (%s)" % (len(people), ", ".join(
        plural(sum(x["role"] == r for x in people), r) for r in ROLES)))
    if issued:
        say("new passwords, shown this once (only their hashes are kept; --reset-password USER issues a new one):")
        width = max(len(x["username"]) for x, _ in issued)
        for person, password in issued:
            print("  %-*s  %-10s  %s  %s" % (width, person["username"], person["role"], password, person["name"]),
                  flush=True)
    known = [x["username"] for x in people if x["username"] not in {y["username"] for y, _ in issued}]
    if known:
        say("passwords issued earlier stay valid: %s" % ", ".join(known))
    gone = sorted(set(created) - {x["username"] for x in people})
    if gone:
        say("not in the roster any more (cannot log in; --teardown removes them): %s" % ", ".join(gone))
    for person in people:
        if person["role"] == "instructor":
            say("%s's Formgrader: %suser/%s/formgrader (where %s lands after logging in; JupyterLab is at "
                "%suser/%s/lab)" % (person["username"], url, person["username"], person["username"], url,
                                    person["username"]))
    say("starting JupyterHub at %s (state: %s; Ctrl-C stops it, starting again keeps everything)" % (url, state))

    env = dict(os.environ)
    env.update({
        "FM_HUB_STATE": state,
        "FM_HUB_REPO": REPO,
        "FM_HUB_IP": args["ip"],
        "FM_HUB_PORT": str(args["port"]),
        "FM_HUB_API_PORT": str(free_port()),
        "FM_HUB_PROXY_API_PORT": str(free_port()),
        "FM_HUB_SERVER_PORTS": json.dumps(server_ports([x["username"] for x in people])),
        "FM_HUB_EXCHANGE_PORT": str(free_port()),
        "FM_HUB_EXCHANGE_GROUP": str(exchange_group),
        "FM_HUB_COURSE": course_id(),
        "FM_HUB_NODE_BIN": node_bin,
        "FM_HUB_DATA_DIR": data_dir,
        "FM_HUB_EXTRA_CONFIG": args["extra"],
        "PATH": os.pathsep.join([os.path.join(VENV, "bin"), node_bin, "/usr/local/sbin", "/usr/local/bin",
                                 "/usr/sbin", "/usr/bin", "/sbin", "/bin"]),
    })
    os.chdir(p["private"])
    jupyterhub = os.path.join(VENV, "bin", "jupyterhub")
    os.execve(jupyterhub, [jupyterhub, "-f", os.path.join(HERE, "jupyterhub_config.py")], env)
    return 0  # not reached


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


def reset_password(args: dict) -> int:
    p = paths(args["state"])
    user = args["reset"]
    people = read_roster(args["roster"])
    if user not in {x["username"] for x in people}:
        raise UsageError("--reset-password %s: not in the roster %s" % (user, args["roster"]))
    if user not in read_json(p["users"], {}):
        raise UsageError("--reset-password %s: no account yet (start the hub once to create it)" % user)
    passwords = read_json(p["passwords"], {})
    password = new_password()
    passwords[user] = hash_password(password)
    write_private_json(p["passwords"], passwords)
    say("new password for %s, shown this once: %s" % (user, password))
    return 0


def parse_args(argv: list) -> dict:
    here = os.environ.get("INIT_CWD") or os.getcwd()
    absolute = lambda v: os.path.abspath(os.path.join(here, v))  # noqa: E731
    args = {"roster": None, "port": DEFAULT_PORT, "ip": "127.0.0.1", "state": os.path.join(REPO, ".hub"),
            "teardown": False, "check": False, "reset": None, "extra": ""}
    i = 0
    while i < len(argv):
        a = argv[i]
        name, eq, value = a.partition("=")
        if name in ("-h", "--help"):
            try:
                sys.stdout.write(USAGE)
                sys.stdout.flush()
            except BrokenPipeError:  # `--help | head`
                pass
            sys.exit(0)
        if name in ("--teardown", "--check"):
            if eq:
                raise UsageError("%s takes no value" % name)
            args[name[2:]] = True
            i += 1
            continue
        if name not in ("--roster", "--port", "--ip", "--state", "--reset-password", "--extra-config"):
            raise UsageError("unknown option %s (see --help)" % a)
        if not eq:
            if i + 1 >= len(argv):
                raise UsageError("%s needs a value (see --help)" % name)
            value = argv[i + 1]
            i += 1
        i += 1
        if name == "--port":
            if not re.fullmatch(r"[0-9]{1,5}", value) or not 1 <= int(value) <= 65535:
                raise UsageError("--port needs a whole number from 1 to 65535, got %r" % value)
            args["port"] = int(value)
        elif name == "--ip":
            args["ip"] = value
        elif name == "--roster":
            args["roster"] = absolute(value)
        elif name == "--state":
            args["state"] = absolute(value)
        elif name == "--extra-config":
            args["extra"] = absolute(value)
            if not os.path.isfile(args["extra"]):
                raise UsageError("--extra-config %s: no such file" % value)
        else:
            args["reset"] = value
    if not args["teardown"] and not args["roster"]:
        raise UsageError("--roster FILE is needed (CSV lines username,role,name; see --help)")
    return args


def main(argv: list) -> int:
    try:
        args = parse_args(argv)
        if os.geteuid() != 0 and not args["check"]:
            raise UsageError("run as root: the hub creates a Unix user for everyone in the roster and starts "
                             "their servers as them (sudo npm run hub -- ...)")
        if args["teardown"]:
            return teardown(args["state"])
        if args["reset"]:
            return reset_password(args)
        return start(args)
    except UsageError as e:
        sys.stderr.write("hub: %s\n" % e)
        return 2
    except RuntimeError as e:
        sys.stderr.write("hub: %s\n" % e)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
