"""A class user's processes: listed from /proc, ended all at once (the hub's
stop hook and teardown), and the private runtime folder their kernels'
sockets live in.
"""

import os
import pwd
import signal
import time


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
