"""Runs each grading kernel (students' code) inside bubblewrap.

Loaded by tslab_grading.install(). nbgrader runs a notebook's code with the
grader's own rights (jupyter/nbgrader#483); here the kernel process is started
by ``bwrap`` instead, with:

- no network: a network namespace of its own (only its own loopback), so it
  cannot reach a server on the grader's 127.0.0.1 nor anything outside. The
  grader talks to the kernel over Unix sockets (jupyter_client's ``ipc``
  transport) in a private folder bound into the sandbox;
- one writable place, the notebook's own folder (its cwd, e.g.
  autograded/<student>/<assignment>/); everything else it sees is bound
  read-only: system folders, Node, the project's node_modules (the library,
  tslab, TensorFlow) and the dataset cache. The course's source/, release/,
  gradebook and other students' folders are not in the sandbox at all;
- its own PID namespace, so whatever it starts (a ``setsid`` daemon) is killed
  with it; --die-with-parent, so a dying grader takes it down too;
- no capabilities, a new session (no terminal to inject keystrokes into), an
  environment reduced to what the notebooks need, and limits on CPU seconds
  and file size (``prlimit``). Resident memory is bounded by tslab_grading's
  watchdog, which sees the whole process tree.

A student who subverts their own kernel can still fake their own test results
(the tests run in the same kernel, as with any notebook grader); the sandbox
keeps them from everyone else's data and from the grading machine.
"""

import os
import shutil
import subprocess
import tempfile

from jupyter_client.manager import AsyncKernelManager

# Set by course.ts (--no-sandbox sets "none"); the Lab's grading config leaves the default.
MODE_ENV = "COURSE_SANDBOX"
CPU_ENV = "COURSE_CPU_LIMIT_S"
DEFAULT_CPU_SECONDS = 900
FILE_SIZE_LIMIT = 1 << 30
# Environment variables a notebook may see (by prefix), besides the ones set here.
PASS_PREFIXES = ("FMNIST_", "FASHION_MNIST_", "NBGRADER_", "TF_", "CHALLENGE_MODEL_DIR", "LANG", "LC_", "NODE_OPTIONS")


class SandboxUnavailable(RuntimeError):
    pass


def mode() -> str:
    value = os.environ.get(MODE_ENV, "bwrap").strip() or "bwrap"
    if value not in ("bwrap", "none"):
        raise ValueError("%s must be 'bwrap' or 'none', got %r" % (MODE_ENV, value))
    return value


def cpu_limit_seconds() -> int:
    value = os.environ.get(CPU_ENV, str(DEFAULT_CPU_SECONDS)).strip()
    if not value.isdigit() or int(value) < 1:
        raise ValueError("%s must be a whole number of seconds (>= 1), got %r" % (CPU_ENV, value))
    return int(value)


def _node_modules_of(kernel_argv0: str) -> str:
    """The node_modules folder that holds the kernelspec's tslab (…/node_modules/.bin/tslab)."""
    real = os.path.realpath(kernel_argv0)  # …/node_modules/tslab/bin/tslab
    folder = real
    while folder != os.path.dirname(folder):
        folder = os.path.dirname(folder)
        if os.path.basename(folder) == "node_modules":
            return folder
    raise SandboxUnavailable("cannot find the node_modules folder of the tslab kernel (%s)" % kernel_argv0)


def _system_binds() -> list:
    args = ["--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    # What Node and the C library read from /etc; nothing else of it.
    for f in ("ld.so.cache", "localtime", "passwd", "group", "nsswitch.conf", "hosts"):
        path = os.path.join("/etc", f)
        if os.path.exists(path):
            args += ["--ro-bind", path, path]
    return args


def _notebook_node_modules(cwd: str):
    """The node_modules a notebook in ``cwd`` resolves ``fashion-mnist-lib`` from (the nearest one holding it)."""
    folder = cwd
    while True:
        candidate = os.path.join(folder, "node_modules")
        if os.path.exists(os.path.join(candidate, "fashion-mnist-lib")):
            return candidate
        if folder == os.path.dirname(folder):
            return None
        folder = os.path.dirname(folder)


DATASET_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                 "t10k-labels-idx1-ubyte.gz")
FILL_CACHE = (
    "const { FILES } = require('fashion-mnist-lib/dist/data/dataset');"
    "const { fetchToCache } = require('fashion-mnist-lib/dist/data/download');"
    "(async () => { for (const f of Object.values(FILES))"
    " await fetchToCache({ name: f.name, sha256: f.sha256, cacheDir: process.argv[1] }); })()"
    ".catch((e) => { console.error(String((e && e.message) || e)); process.exit(1); });"
)


def fill_dataset_cache(node: str, project: str, data_dir: str, env: dict) -> None:
    """The dataset in the cache before a sandboxed kernel starts: inside, there is no network and the
    cache is read-only (a student's Validate before they ever ran a notebook found it empty). Downloaded
    (verified, from FASHION_MNIST_MIRROR or the official mirrors) by the library, outside the sandbox."""
    cache = os.path.join(data_dir, "fashion-mnist")
    if all(os.path.isfile(os.path.join(cache, f)) for f in DATASET_FILES):
        return
    try:
        res = subprocess.run([node, "-e", FILL_CACHE, cache], cwd=project, env=env, capture_output=True,
                             text=True, timeout=900)
        problem = (res.stderr or res.stdout).strip() if res.returncode else ""
    except (OSError, subprocess.TimeoutExpired) as err:
        problem = str(err)
    if problem:
        raise SandboxUnavailable("the dataset could not be put in the cache %s before grading: %s" % (cache, problem))


class Layout:
    """What one sandboxed kernel sees: found from the kernelspec (tslab's
    node_modules), the notebook's folder and the environment."""

    def __init__(self, kernel_argv0: str, cwd: str, env: dict):
        self.cwd = cwd
        self.env = env
        node_modules = _node_modules_of(kernel_argv0)
        self.project = os.path.dirname(node_modules)
        self.wrapper = os.path.join(self.project, "jupyter", "tslab-ipc-kernel.js")
        if not os.path.isfile(self.wrapper):
            raise SandboxUnavailable("%s is missing (it starts tslab inside the sandbox)" % self.wrapper)
        node = shutil.which("node", path=env.get("PATH"))
        if not node:
            raise SandboxUnavailable("no `node` on PATH for the kernel")
        self.node = os.path.realpath(node)
        self.data_dir = os.path.abspath(env.get("FMNIST_DATA_DIR") or os.path.join(self.project, "data"))
        fill_dataset_cache(self.node, self.project, self.data_dir, env)
        # Read-only: Node's installation, tslab's node_modules (TensorFlow too),
        # the library the notebook imports (a workspace link points outside
        # node_modules), the dataset cache, an instructor's challenge model.
        self.readonly = [os.path.dirname(os.path.dirname(self.node)), node_modules, self.wrapper,
                         os.path.join(self.data_dir, "fashion-mnist")]
        self.links = []
        for modules in (node_modules, _notebook_node_modules(cwd)):
            if modules is None:
                continue
            if os.path.islink(modules):  # e.g. a course folder that links to a project's node_modules
                self.links.append((os.readlink(modules), modules))
            self.readonly += [os.path.realpath(modules), os.path.realpath(os.path.join(modules, "fashion-mnist-lib"))]
        challenge = env.get("CHALLENGE_MODEL_DIR")
        if challenge:
            self.readonly.append(os.path.abspath(challenge))

    def command(self, connection_file: str, private: str) -> list:
        """bwrap [sandbox] prlimit [limits] node tslab-ipc-kernel.js CONNECTION_FILE."""
        args = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL"]
        args += _system_binds()
        args += ["--proc", "/proc", "--dev", "/dev"]
        seen = set()
        for path in self.readonly:
            if path not in seen and os.path.exists(path) and not path.startswith("/usr/"):
                seen.add(path)
                args += ["--ro-bind", path, path]
        for target, link in self.links:
            args += ["--symlink", target, link]
        args += ["--bind", private, private, "--bind", self.cwd, self.cwd, "--chdir", self.cwd]
        args += ["--remount-ro", "/", "--clearenv"]
        inside = {
            "PATH": "%s:/usr/bin:/bin" % os.path.dirname(self.node),
            "HOME": self.cwd,
            "TMPDIR": self.cwd,
            "FMNIST_DATA_DIR": self.data_dir,
        }
        for name, value in self.env.items():
            if name.startswith(PASS_PREFIXES) and name not in inside:
                inside[name] = value
        for name, value in sorted(inside.items()):
            args += ["--setenv", name, value]
        args += ["--", "prlimit", "--cpu=%d" % cpu_limit_seconds(), "--fsize=%d" % FILE_SIZE_LIMIT, "--",
                 self.node, self.wrapper, connection_file]
        return args


_probe_result = None


def check_available() -> None:
    """Raises SandboxUnavailable naming the cause when bubblewrap cannot make a sandbox here."""
    global _probe_result
    if _probe_result is None:
        if shutil.which("bwrap") is None:
            _probe_result = ("bubblewrap (bwrap) is not installed: on Debian/Ubuntu `sudo apt-get install bubblewrap` "
                             "(npm run course installs it when run as root)")
        else:
            probe = subprocess.run(["bwrap", "--unshare-all", "--die-with-parent", "--ro-bind", "/usr", "/usr",
                                    "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib",
                                    "--symlink", "usr/lib64", "/lib64", "--", "/usr/bin/true"],
                                   capture_output=True, text=True)
            _probe_result = "" if probe.returncode == 0 else (
                "bubblewrap cannot create a sandbox here (%s); user namespaces may be disabled "
                "(a container without them, or kernel.unprivileged_userns_clone=0)" % (probe.stderr.strip() or
                                                                                       "exit %d" % probe.returncode))
    if _probe_result:
        raise SandboxUnavailable(_probe_result)


class SandboxedKernelManager(AsyncKernelManager):
    """An AsyncKernelManager whose kernel runs inside bubblewrap and is reached over Unix sockets."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._private = tempfile.mkdtemp(prefix="grading-kernel-")
        self.transport = "ipc"
        self.connection_file = os.path.join(self._private, "kernel.json")
        self.ip = os.path.join(self._private, "k")

    def format_kernel_cmd(self, extra_arguments=None):
        check_available()
        cmd = super().format_kernel_cmd(extra_arguments)
        env = dict(os.environ)
        env.update((self._launch_args or {}).get("env") or {})
        cwd = os.path.realpath((self._launch_args or {}).get("cwd") or os.getcwd())
        tslab = cmd[0]
        if len(cmd) > 1 and os.path.basename(cmd[1]) == "tslab-ipc-kernel.js":
            # A kernelspec that already starts tslab on Unix sockets (the class hub's): its project's tslab.
            tslab = os.path.join(os.path.dirname(os.path.dirname(cmd[1])), "node_modules", ".bin", "tslab")
        return Layout(tslab, cwd, env).command(self.connection_file, self._private)

    async def _async_cleanup_resources(self, restart=False):
        await super()._async_cleanup_resources(restart)
        if not restart:
            shutil.rmtree(self._private, ignore_errors=True)

    cleanup_resources = _async_cleanup_resources


if __name__ == "__main__":
    # `python kernel_sandbox.py --check`: exit 1 with the reason when no sandbox can be made here.
    import sys

    try:
        check_available()
    except SandboxUnavailable as err:
        print(err, file=sys.stderr)
        sys.exit(1)
