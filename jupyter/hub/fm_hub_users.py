"""The class's Unix users and their homes: created (mode 700), provisioned with
what a student or an instructor needs, and removed again by --teardown (an
instructor's course kept first).
"""

import datetime
import os
import pwd
import re
import shutil
import signal
import time

import fm_hub_memory
from fm_hub_processes import end_processes_of, processes_of, runtime_dir
from fm_hub_state import REPO, UsageError, paths, read_json, run, running_pid, say


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
    fm_hub_memory.remove_base()
    say("removed the hub's private state and exchange in %s%s" % (
        state, "; kept: %s" % p["kept"] if os.path.isdir(p["kept"]) else ""))
    return 0
