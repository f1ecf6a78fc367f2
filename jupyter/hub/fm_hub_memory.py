"""A memory limit for each user of the class: their server and every kernel it
starts share one memory cgroup (``fm-hub/<user>``, cgroup v1 or v2) with a
limit (``--memory-per-user MB``, default 1280 as in deploy/k8s/values.yaml).

Without it a notebook that runs away takes the whole machine's memory, and the
machine's out-of-memory killer may end any student's kernel. With it the
library in the user's kernel sees the limit (fm.memoryLimits), refuses a run
that does not fit, stops training short of it with a message, and names a run
the killer ended at the next start; only that user's processes can be killed.

LocalProcessSpawner starts the server as the user; the hub (root) then moves
it into the user's cgroup before it has started any kernel, and the kernels
inherit it. A machine where the cgroup cannot be made (no memory controller,
a read-only cgroup file system) runs the class without limits and says so.
"""

import os
import time

V1 = "/sys/fs/cgroup/memory"
V2 = "/sys/fs/cgroup"
BASE = "fm-hub"
DEFAULT_MB = 1280


def base_folder() -> tuple:
    """The folder the users' cgroups go in, made if missing, and whether it is cgroup v2. Raises OSError
    saying why when none can be made here."""
    if os.path.isdir(V1):
        folder = os.path.join(V1, BASE)
        os.makedirs(folder, exist_ok=True)
        return folder, False
    if not os.path.isfile(os.path.join(V2, "cgroup.controllers")):
        raise OSError("no cgroup file system with a memory controller at %s" % V2)
    with open(os.path.join(V2, "cgroup.controllers")) as f:
        if "memory" not in f.read().split():
            raise OSError("the memory controller is not available at %s" % V2)
    folder = os.path.join(V2, BASE)
    os.makedirs(folder, exist_ok=True)
    for parent in (V2, folder):  # children of both must get the memory controller
        with open(os.path.join(parent, "cgroup.subtree_control"), "w") as f:
            f.write("+memory")
    return folder, True


def place(username: str, pid: int, limit_mb: int) -> str:
    """Puts process ``pid`` (a user's new server) in the user's cgroup with ``limit_mb``; where, as
    the library names it. Raises OSError when it cannot."""
    base, v2 = base_folder()
    folder = os.path.join(base, username)
    os.makedirs(folder, exist_ok=True)
    name = "memory.max" if v2 else "memory.limit_in_bytes"
    with open(os.path.join(folder, name), "w") as f:
        f.write(str(limit_mb * 2 ** 20))
    with open(os.path.join(folder, "cgroup.procs"), "w") as f:
        f.write(str(pid))
    return "%s of cgroup %s/%s" % (name, BASE, username)


def release(username: str, tries: int = 50) -> None:
    """Removes the user's cgroup once their processes are gone (the stop hook ends them first)."""
    for base in (os.path.join(V1, BASE), os.path.join(V2, BASE)):
        folder = os.path.join(base, username)
        for _ in range(tries):
            try:
                os.rmdir(folder)
                break
            except FileNotFoundError:
                break
            except OSError:  # processes still leaving it
                time.sleep(0.1)


def remove_base() -> None:
    """The users' parent cgroup, when it is empty (teardown)."""
    for base in (os.path.join(V1, BASE), os.path.join(V2, BASE)):
        try:
            os.rmdir(base)
        except OSError:
            pass
