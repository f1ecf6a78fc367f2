"""The class hub's places and its state folder (`npm run hub`, fm_hub.py).

Where the checkout, the hub's venv and its proxy are; the state folder's files
(the private ones written whole, readable by root only) and whether a hub runs
on it; the few helpers every part of fm_hub uses. Standard library only, like
every fm_hub_*.py module the command imports (fm_hub.py's docstring says why).
"""

import json
import os
import subprocess


HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
VENV = os.path.join(REPO, ".cache", "hub", "venv")
PROXY = os.path.join(REPO, ".cache", "hub", "proxy", "node_modules", ".bin", "configurable-http-proxy")


class UsageError(Exception):
    """Bad command line or roster: said before anything is created (exit 2)."""


def plural(n: int, one: str, many: str = "") -> str:
    return "%d %s" % (n, one if n == 1 else many or one + "s")


def say(msg: str) -> None:
    print("hub: " + msg, flush=True)


def run(cmd: list) -> None:
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError("%s failed (exit %d): %s" % (" ".join(cmd), res.returncode,
                                                       (res.stderr or res.stdout).strip()))


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


def prepare_state(state: str) -> dict:
    p = paths(state)
    os.makedirs(state, exist_ok=True)
    os.chmod(state, 0o755)  # the exchange inside must be reachable by every class user
    os.makedirs(p["private"], exist_ok=True)
    os.chmod(p["private"], 0o700)
    return p
