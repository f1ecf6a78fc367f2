"""nbgrader adjustments for notebooks run by the tslab (TypeScript) kernel.

Loaded by nbgrader_config.py. Stock nbgrader 0.9 assumes IPython-like kernels;
with tslab three things go wrong, fixed here:

1. tslab answers a failing cell with ``status: error`` but without ``ename``,
   ``evalue`` or ``traceback`` (the message went to stderr). nbgrader's
   ``Execute.on_cell_executed`` reads ``reply["content"]["ename"]`` and crashes
   with a KeyError, so one failing student cell aborted the whole submission.
   We fill in the missing fields before nbgrader looks at them, and record the
   failure as an ``error`` output so the cell scores 0.
   Worse, after a failing cell tslab *aborts* every execute request that
   arrives in the next 200 ms (yunabe/tslab#19 workaround in its jupyter.js)
   and ignores ``stop_on_error``: nbclient sends the next cell at once, it is
   aborted without any output, and nbgrader scored such an empty test cell as
   passed. We wait after a failed cell before sending the next one, and any
   reply that is neither ok nor error (an abort) is recorded as an error.

2. ``process.exit()`` (or anything else that kills the kernel) raised
   DeadKernelError and nbgrader dropped the submission. A sync infinite loop
   cannot be interrupted in tslab (its SIGINT handler only cancels awaited
   promises), so after a timeout every later cell timed out too. In both cases
   we now stop the kernel, mark the cell that caused it, and mark every later
   code cell "not run" (an error output, so its tests score 0); the submission
   is still graded and the run ends soon after the one timeout.

3. Memory: nothing bounded it, and one notebook that allocates without end
   took the whole machine (and every later submission) down with it. A
   watchdog thread samples the resident memory of the kernel's process tree
   (the node process and anything it started) every 0.2 s; over the limit it
   kills the tree, the running cell gets a ``MemoryLimitExceeded`` error and
   later cells are "not run", as in 2. Resident memory, not address space:
   V8 and TensorFlow reserve far more virtual memory than they use, so an
   RLIMIT_AS limit breaks ordinary notebooks; and V8's heap limit does not see
   Buffers or TensorFlow's own allocations, which the watchdog does.
   The machine's own limit (a cgroup's, as a container, systemd or a hub
   spawner sets it) is watched too: the kernel is stopped before the
   out-of-memory killer would end it, and whose memory it was decides what
   is recorded. When the rest of the cgroup (other gradings, the grader)
   left this kernel less than a run at the grading sizes needs, the machine
   was short, not the submission: no grade is recorded (GradingKernelError,
   as in 6). Otherwise the notebook itself used the memory, and it is
   graded as for the watchdog's limit. A cell that says the library stopped
   for memory (MemoryLimitError) is judged the same way, from the grader's
   own readings, since a submission can print that line itself.

4. Hidden tests: autograde copies the instructor's test cells (hidden parts
   included) back into the graded notebook, and feedback is rendered from it
   (jupyter/nbgrader#917, #1363). ``StripHiddenTests`` replaces each hidden
   region with a one-line placeholder in the feedback HTML.

5. Students' code runs with the grader's rights in stock nbgrader
   (jupyter/nbgrader#483): every kernel started here runs inside bubblewrap
   (kernel_sandbox.py) unless COURSE_SANDBOX=none (`course --no-sandbox`).

6. A kernel that cannot run the library (the wrong Node on PATH: the library
   refuses Node 20 in every cell; no fashion-mnist-lib where the notebook is)
   failed every cell, and nbgrader wrote 0 for every student over their
   earlier grades. Before the first cell of a notebook that imports the
   library, the kernel loads it the way notebooks do (a preflight); if that
   fails, the notebook's run raises GradingKernelError naming the cause and
   the fix: nbgrader reports an error for that submission and records no
   grade (a submission that was never graded is taken out of the gradebook
   again; an earlier grade stays as it was).

7. Output: nbclient kept everything a cell printed, so a notebook printing
   without end took the grader's (or the Jupyter server's) memory to GBs.
   Each cell keeps at most ``cell_output_limit_kb`` of stream and display
   output and each notebook ``notebook_output_limit_kb`` (counted as it
   arrives); the rest is dropped, one note (a display, which nbgrader's
   LimitOutput keeps) says how much, and the last 4 KB of stderr are kept so a
   cell that wrote to stderr still scores 0. The sandboxed kernel also cuts
   each single write to the cell limit (jupyter/tslab-ipc-kernel.js), so one
   200 MB print never arrives as one 200 MB message.

8. Where a failure came from, for StripHiddenTests: while a test cell with
   hidden tests runs, the kernel is sent a copy with a marker write (a random
   token on stdout) at its first line and at each BEGIN/END HIDDEN TESTS line;
   the markers are taken out of the output as they arrive, and the cell's
   metadata (``tslab_grading.visible_outputs``) lists digests of the outputs
   produced outside hidden regions. Everything else counts as hidden.

9. Tampering warnings: autograde's OverwriteCells compares each locked cell
   with the instructor's and logged "Attribute 'checksum' for cell ... has
   changed!" for every test cell with hidden tests, the student version's
   cell being the instructor's minus those tests. A cell exactly as released
   now gets its hidden tests back without a warning; a cell the student
   edited is still reported (and overwritten), see patch_overwrite_cells.
"""

import hashlib
import json
import os
import re
import signal
import threading
import time
import uuid

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbconvert.preprocessors import Preprocessor
from nbformat.notebooknode import NotebookNode
from traitlets import Bool, Unicode
from nbclient.client import NotebookClient

from nbgrader.preprocessors.execute import Execute

import kernel_sandbox

NOT_RUN = "NotRun"
MEMORY_LIMIT = "MemoryLimitExceeded"
# tslab drops execute requests for 200 ms after a failed cell; wait longer.
AFTER_ERROR_PAUSE = 0.5
# How often the memory watchdog samples the kernel's processes (seconds).
MEMORY_POLL_SECONDS = 0.2
# Output kept per cell and per notebook while grading (KB; 0 = no limit).
DEFAULT_CELL_OUTPUT_KB = 1024
DEFAULT_NOTEBOOK_OUTPUT_KB = 10 * 1024
# stderr kept (its last part) once a cell's output is over the limit.
STDERR_TAIL = 4096
LIBRARY = "fashion-mnist-lib"
HIDDEN_BEGIN = "BEGIN HIDDEN TESTS"
HIDDEN_END = "END HIDDEN TESTS"
METADATA_KEY = "tslab_grading"


REGRADE_WITH_MEMORY = ("grade it again with more memory (fewer gradings at once: --jobs 1, or a larger memory limit "
                       "for the grader).")


class GradingKernelError(RuntimeError):
    """This submission cannot be graded here now (the kernel cannot run the library, or the machine ran
    short of memory): no grade is recorded, an earlier one stays."""


def memory_stop(cell) -> str:
    """The message of a MemoryLimitError the library printed in this cell (tslab prints errors to stderr), or ""."""
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream" and out.get("name") == "stderr":
            m = re.search(r"MemoryLimitError: (.*)", out.get("text", ""))
            if m:
                return m.group(1).strip()
    return ""


def _error_output(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=evalue,
                        traceback=["%s: %s" % (ename, evalue)])


def _stat(pid: int):
    """(parent pid, process group) of a process, from /proc/PID/stat."""
    with open("/proc/%d/stat" % pid) as f:
        data = f.read()
    # the command name (field 2) is in parentheses and may hold spaces or ")"
    fields = data[data.rindex(")") + 2:].split()
    return int(fields[1]), int(fields[2])


def process_tree(root: int, group=None) -> set:
    """``root`` and every live process descended from it, plus every process
    in the process group ``group`` (children re-parented after their parent
    died stay in the group)."""
    children, members = {}, set()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        pid = int(name)
        try:
            ppid, pgrp = _stat(pid)
        except (OSError, ValueError, IndexError):
            continue  # exited meanwhile
        children.setdefault(ppid, []).append(pid)
        if pid == root or (group is not None and pgrp == group):
            members.add(pid)
    stack = list(members)
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in members:
                members.add(child)
                stack.append(child)
    return members


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def _status_kb(pid: int, *fields) -> int:
    """The sum of /proc/PID/status fields given in kB (0 for a process that exited)."""
    total = 0
    for line in _read("/proc/%d/status" % pid).splitlines():
        name, _, rest = line.partition(":")
        if name in fields:
            total += int(rest.split()[0])
    return total


class CgroupLimit:
    """The lowest memory limit over a process's cgroup and its ancestors (v1 or
    v2), read from outside the kernel's sandbox, which hides it from the kernel."""

    UNLIMITED = 2 ** 50  # v1 writes "no limit" as a number near 2**63

    def __init__(self, folder: str, limit_kb: int, v2: bool, source: str):
        self.folder, self.limit_kb, self.v2, self.source = folder, limit_kb, v2, source

    @classmethod
    def of(cls, pid: int):
        mounts = []
        for line in _read("/proc/self/mountinfo").splitlines():
            left, _, right = line.partition(" - ")
            f, r = left.split(), right.split()
            if len(f) > 4 and len(r) > 2:
                mounts.append((f[3], f[4], r[0], r[2].split(",")))
        lowest = None
        for line in _read("/proc/%d/cgroup" % pid).splitlines():
            parts = line.split(":", 2)
            if len(parts) != 3:
                continue
            v2 = parts[0] == "0" and parts[1] == ""
            if not v2 and "memory" not in parts[1].split(","):
                continue
            mount = next((m for m in mounts if (m[2] == "cgroup2" if v2 else m[2] == "cgroup" and "memory" in m[3])), None)
            if mount is None:
                continue
            root, point = mount[0], mount[1]
            rel = parts[2][len(root):] if root not in ("", "/") and parts[2].startswith(root) else parts[2]
            folder = os.path.normpath(point + "/" + rel)
            name = "memory.max" if v2 else "memory.limit_in_bytes"
            while folder.startswith(point):
                text = _read(os.path.join(folder, name)).strip()
                if text.isdigit() and int(text) < cls.UNLIMITED and (lowest is None or int(text) // 1024 < lowest.limit_kb):
                    where = "" if folder == point else " of cgroup %s" % os.path.relpath(folder, point)
                    lowest = cls(folder, int(text) // 1024, v2, name + where)
                if folder == point:
                    break
                folder = os.path.dirname(folder)
        return lowest

    def in_use_kb(self):
        """Memory of the cgroup that cannot be reclaimed (anonymous and shared; page cache is dropped first)."""
        stat = {}
        for line in _read(os.path.join(self.folder, "memory.stat")).splitlines():
            name, _, value = line.partition(" ")
            stat[name] = value
        names = ("anon", "shmem") if self.v2 else ("total_rss", "total_shmem")
        if not all(stat.get(n, "").isdigit() for n in names):
            return None
        return sum(int(stat[n]) for n in names) // 1024

    def oom_kills(self) -> int:
        text = _read(os.path.join(self.folder, "memory.events" if self.v2 else "memory.oom_control"))
        m = re.search(r"^oom_kill (\d+)$", text, re.M)
        return int(m.group(1)) if m else 0

    def margin_kb(self) -> int:
        """How close to the limit the kernel is stopped: as the library's training guard, 1/16, at least 32 MB."""
        return max(32 * 1024, self.limit_kb // 16)


def rss_kb(pid: int) -> int:
    """Resident memory of one process in KiB (0 for a zombie)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class MemoryWatchdog:
    """Samples the resident memory of a kernel's process tree and kills the
    tree when it goes over ``limit_mb`` (0: no limit, only measure)."""

    def __init__(self, pid: int, limit_mb: int, interval: float = MEMORY_POLL_SECONDS):
        self.pid = pid
        self.limit_kb = limit_mb * 1024
        self.interval = interval
        # jupyter_client starts kernels in a new session: their group id is their pid.
        try:
            group = os.getpgid(pid)
        except OSError:
            group = None
        self.group = group if group == pid and group != os.getpgrp() else None
        self.peak_kb = 0
        self.exceeded_kb = None
        # The machine's limit on the kernel's cgroup, and what the rest of that cgroup held at the last reading.
        self.cgroup = CgroupLimit.of(pid)
        self.oom_kills_before = self.cgroup.oom_kills() if self.cgroup else 0
        self.own_kb = self.others_kb = 0
        self.cgroup_stop_kb = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="memory-watchdog-%d" % pid, daemon=True)

    def start(self) -> "MemoryWatchdog":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            tree = process_tree(self.pid, self.group)
            used = sum(rss_kb(p) for p in tree)
            self.peak_kb = max(self.peak_kb, used)
            if self.limit_kb and used > self.limit_kb:
                self.exceeded_kb = used
                self.kill()
                return
            in_use = self.cgroup.in_use_kb() if self.cgroup else None
            interval = self.interval
            if in_use is not None:
                own = sum(_status_kb(p, "RssAnon", "RssShmem") for p in tree)
                if own:  # (a kernel the killer just ended holds nothing: the reading before says whose it was)
                    self.own_kb, self.others_kb = own, max(0, in_use - own)
                room = self.cgroup.limit_kb - in_use
                if room <= self.cgroup.margin_kb():
                    self.cgroup_stop_kb = in_use  # stopped here rather than by the out-of-memory killer
                    self.kill()
                    return
                if room <= 2 * self.cgroup.margin_kb():
                    interval = min(interval, 0.05)  # near the limit: look more often
            self._stop.wait(interval)

    def oom_killed(self) -> bool:
        return self.cgroup is not None and self.cgroup.oom_kills() > self.oom_kills_before

    def machine_short(self, need_mb: int) -> bool:
        """Whether the rest of the kernel's cgroup (other gradings, the grader) left this kernel less than
        a run at the grading sizes needs (``need_mb``, the library's estimate, with a quarter to spare)."""
        c = self.cgroup
        return c is not None and self.others_kb >= c.limit_kb - c.margin_kb() - need_mb * 1280

    def cgroup_facts(self) -> str:
        c = self.cgroup
        return ("%s allows %d MB; other processes under it held %d MB, this notebook's kernel %d MB"
                % (c.source, _mb(c.limit_kb), _mb(self.others_kb), _mb(self.own_kb)))

    def kill(self) -> None:
        for pid in process_tree(self.pid, self.group):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        if self.group is not None:
            try:
                os.killpg(self.group, signal.SIGKILL)
            except OSError:
                pass


def _mb(kb: int) -> int:
    return int(round(kb / 1024))


def _size(text: str) -> int:
    """UTF-8 size of ``text`` without copying it when it is ASCII (the usual case)."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def _data_size(data) -> int:
    if isinstance(data, str):
        return _size(data)
    if isinstance(data, dict):
        return sum(_data_size(v) for v in data.values())
    if isinstance(data, list):
        return sum(_data_size(v) for v in data)
    return len(json.dumps(data))


def _human(n: int) -> str:
    if n >= 1 << 20 and n % (1 << 20) == 0:
        return "%d MB" % (n >> 20)
    if n >= 1 << 20:
        return "%.1f MB" % (n / (1 << 20))
    if n >= 1 << 10:
        return "%d KB" % (n >> 10)
    return "%d bytes" % n


def output_digest(output) -> str:
    """A digest of what an output shows (kept in the cell's metadata; see StripHiddenTests)."""
    keys = ("output_type", "name", "text", "data", "ename", "evalue")
    shown = {}
    for k in keys:
        if k in output:
            v = output[k]
            shown[k] = "".join(v) if k == "text" and isinstance(v, list) else v
    if isinstance(shown.get("data"), dict):
        shown["data"] = {m: "".join(v) if isinstance(v, list) else v for m, v in shown["data"].items()}
    return hashlib.sha256(json.dumps(shown, sort_keys=True).encode()).hexdigest()[:24]


def instrument_hidden_tests(source: str):
    """The source the kernel runs for a cell with hidden tests, and its marker tokens in order.

    A marker write (``process.stdout.write("<token>\\n");``) goes in front of
    the first line (token 0: the visible part starts) and of each BEGIN and
    END HIDDEN TESTS line (tokens 1, 2, ...: hidden, visible, ...). Same lines,
    same line numbers; each delimiter line must stand where a statement can
    (nbgrader's own rule: the hidden region is whole lines of test code).
    Returns (source, []) for a cell without hidden tests."""
    if HIDDEN_BEGIN not in source:
        return source, []
    lines = source.split("\n")
    tokens = [uuid.uuid4().hex]

    def mark(token: str) -> str:
        return 'void process.stdout.write("%s\\n"); ' % token

    out = []
    for i, line in enumerate(lines):
        if HIDDEN_BEGIN in line or HIDDEN_END in line:
            tokens.append(uuid.uuid4().hex)
            indent = re.match(r"\s*", line).group(0)
            line = indent + mark(tokens[-1]) + line[len(indent):]
        if i == 0:
            line = mark(tokens[0]) + line
        out.append(line)
    return "\n".join(out), tokens


class CellOutputs:
    """What one cell's output hook keeps: the size caps and the hidden-test markers."""

    def __init__(self, cell_limit: int, notebook_limit: int, notebook_used: int, tokens=()):
        self.cell_limit = cell_limit  # bytes, 0 = none
        self.notebook_limit = notebook_limit  # bytes, 0 = none
        self.notebook_used = notebook_used  # by earlier cells
        self.used = 0
        self.dropped = 0
        self.note = None
        self.stderr_tail = ""
        self.tail_hidden = False
        self.tokens = list(tokens)
        self.next_token = 0
        # With markers, output is visible only after marker 0 and between END and BEGIN.
        self.visible = not self.tokens
        self.broken = False
        self.hidden_ids = set()

    def budget(self):
        """Bytes this cell may still keep (None: no limit)."""
        left = []
        if self.cell_limit:
            left.append(self.cell_limit - self.used)
        if self.notebook_limit:
            left.append(self.notebook_limit - self.notebook_used - self.used)
        return max(0, min(left)) if left else None

    def marker(self, text: str) -> bool:
        """True when ``text`` (a stdout write) is a marker (then it is not output)."""
        if not self.tokens or len(text) != 33 or not text.endswith("\n"):
            return False
        token = text[:-1]
        if token not in self.tokens:
            return False
        if not self.broken and self.next_token < len(self.tokens) and token == self.tokens[self.next_token]:
            self.visible = self.next_token % 2 == 0
            self.next_token += 1
        else:  # out of order: from here on, nothing counts as visible
            self.broken = True
            self.visible = False
        return True

    def note_text(self) -> str:
        by_cell = self.cell_limit and (not self.notebook_limit or
                                       self.cell_limit <= self.notebook_limit - self.notebook_used)
        limit = _human(self.cell_limit) if by_cell else "the notebook's %s" % _human(self.notebook_limit)
        return "[output truncated after %s (%d more bytes dropped)]" % (limit, self.dropped)

    def drop(self, outs, nbytes: int, stderr_text: str = "") -> None:
        self.dropped += nbytes
        if stderr_text:
            self.stderr_tail = (self.stderr_tail + stderr_text)[-STDERR_TAIL:]
            self.tail_hidden = self.tail_hidden or not self.visible
        if self.note is None:
            # display_data, not a stream: nbgrader's LimitOutput (1,000 lines of streams) keeps it.
            self.note = NotebookNode(output_type="display_data", metadata=NotebookNode(),
                                     data=NotebookNode({"text/plain": ""}))
            outs.append(self.note)
        self.note["data"]["text/plain"] = self.note_text()

    def finish(self, cell) -> None:
        """After the cell ran: the note (again, if a clear_output took it) and the kept stderr."""
        if self.note is None:
            return
        self.note["data"]["text/plain"] = self.note_text()
        if not any(o is self.note for o in cell.outputs):
            cell.outputs.append(self.note)
        if self.stderr_tail:
            at = next(i for i, o in enumerate(cell.outputs) if o is self.note) + 1
            tail = NotebookNode(output_type="stream", name="stderr", text=self.stderr_tail)
            if self.tail_hidden:
                self.hidden_ids.add(id(tail))
            cell.outputs.insert(at, tail)


# The preflight: what a notebook's first line does, before any of its cells.
_IMPORTS_LIBRARY = re.compile(r"""(?:\bfrom\s*|\brequire\(\s*|\bimport\(\s*)["']%s["'/]""" % re.escape(LIBRARY))
PREFLIGHT_FACTS = ('void process.stdout.write(JSON.stringify({ node: process.version, execPath: process.execPath, '
                   'cwd: process.cwd() }) + "\\n");')
# The import as notebooks do it, then what a run at the grading sizes needs (MB), read before any student code runs.
PREFLIGHT_IMPORT = ('import * as fmGradingPreflight from "%s";\nlet fmGradingNeedMb = 0;\n'
                    'try { fmGradingNeedMb = fmGradingPreflight.estimateRunMemoryMb(fmGradingPreflight.runConfig()); } '
                    'catch { /* a bad size setting: the first cell reports it */ }\n'
                    'void process.stdout.write(JSON.stringify({ needMb: fmGradingNeedMb }) + "\\n");' % LIBRARY)
SUPPORTED_NODE = "22, 24 or 26"


def imports_library(nb) -> bool:
    return any(c.get("cell_type") == "code" and _IMPORTS_LIBRARY.search(c.get("source", "")) for c in nb.cells)


def _first_line(stderr: str) -> str:
    message = failure_message(stderr)
    if message:
        return message.strip().split("\n")[0]
    for line in stderr.split("\n"):
        if line.strip() and not re.match(r"^(WARNING: All log messages|I0000|W0000|E0000)", line):
            return line.strip()
    return ""


def library_fix(cwd, project: str) -> str:
    """How to make the project's library visible to a course's notebooks: the exact command."""
    import shlex

    course = None
    folder = os.path.abspath(cwd) if cwd else None
    while folder and not course:
        if os.path.isfile(os.path.join(folder, "nbgrader_config.py")):
            course = folder
        parent = os.path.dirname(folder)
        folder = None if parent == folder else parent
    modules = os.path.join(project, "node_modules") if project else None
    if not course or not modules:
        return ("run the project's setup (npm run setup) and keep the course in the project or link the project's "
                "node_modules next to the course folder (notebooks import the library from there)")
    target = os.path.join(os.path.dirname(course), "node_modules")
    if os.path.lexists(target):
        return ("%s holds no %s: link the project's node_modules next to the course folder instead of it "
                "(mv %s %s.old && ln -s %s %s), or npm install %s there"
                % (target, LIBRARY, shlex.quote(target), shlex.quote(target), shlex.quote(modules),
                   shlex.quote(target), LIBRARY))
    return ("link the project's node_modules next to the course folder (notebooks import the library from there): "
            "ln -s %s %s" % (shlex.quote(modules), shlex.quote(target)))


def kernel_problem(facts: dict, stderr: str, project: str) -> str:
    """The message of GradingKernelError for a failed preflight: what is wrong, and what to do."""
    node, exe = facts.get("node", "?"), facts.get("execPath", "?")
    said = _first_line(stderr)
    try:
        major = int(node.lstrip("v").split(".")[0])
    except ValueError:
        major = None
    switcher = os.path.join(project, "scripts", "node-version.sh") if project else "scripts/node-version.sh"
    if "needs Node.js" in stderr or (major is not None and major < 22):
        return ("the grading kernel runs Node %s (%s); %s needs Node %s: put the project's Node first on PATH "
                "for nbgrader and for the Jupyter server whose Formgrader grades (e.g. export PATH=\"$(%s 24):$PATH\"), "
                "then autograde again. No grade was recorded. (The library said: %s)"
                % (node, exe, LIBRARY, SUPPORTED_NODE, switcher, said or "nothing"))
    if re.search(r"Cannot find module '%s'" % re.escape(LIBRARY), stderr):
        return ("the grading kernel cannot find module %s from %s (%s): %s, then autograde again. No grade was recorded."
                % (LIBRARY, facts.get("cwd", "the notebook's folder"), said, library_fix(facts.get("cwd"), project)))
    return ("the grading kernel (Node %s, %s) cannot load %s: %s. Run the project's setup (npm run setup) on this "
            "machine, then autograde again. No grade was recorded." % (node, exe, LIBRARY, said or "no message"))


def forget_ungraded_submission(resources, log) -> None:
    """After a failed preflight: nbgrader already added this submission to the
    gradebook (before running it); a submission with no score at all would be
    listed as 0. Remove it if nothing of it was ever graded; an earlier grade
    stays as it is."""
    info = (resources or {}).get("nbgrader") or {}
    if not info.get("student") or not info.get("db_url"):
        return
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(info["db_url"]) as gb:
        try:
            submission = gb.find_submission(info["assignment"], info["student"])
        except MissingEntry:
            return
        grades = [g for nb in submission.notebooks for g in nb.grades]
        if all(g.auto_score is None and g.manual_score is None for g in grades):
            gb.remove_submission(info["assignment"], info["student"])
            log.info("Removed %s's never-graded submission of %s from the gradebook", info["student"],
                     info["assignment"])


def install(memory_limit_mb: int = 0, kernel_env=None, cell_output_limit_kb: int = DEFAULT_CELL_OUTPUT_KB,
            notebook_output_limit_kb: int = DEFAULT_NOTEBOOK_OUTPUT_KB) -> None:
    """Patches nbgrader's Execute preprocessor (used by validate, autograde and
    generate_solution). Patching the class, not subclassing, because
    nbgrader's Validator hard-codes its preprocessor list.

    ``memory_limit_mb``: resident memory allowed to each notebook's kernel
    (with the processes it starts); 0 measures without a limit.
    ``kernel_env``: variables set for the kernels nbgrader starts (the grading
    run sizes) unless already set; only while nbgrader runs a notebook, so
    kernels a user starts in a JupyterLab that loaded this configuration keep
    the full sizes.
    ``cell_output_limit_kb``, ``notebook_output_limit_kb``: stream and display
    output kept per cell and per notebook (0: no limit); see CellOutputs."""
    if memory_limit_mb < 0:
        raise ValueError("memory limit must be >= 0 MB, got %r" % memory_limit_mb)
    for name, value in (("cell", cell_output_limit_kb), ("notebook", notebook_output_limit_kb)):
        if value < 0:
            raise ValueError("%s output limit must be >= 0 KB, got %r" % (name, value))
    Execute._tslab_memory_limit_mb = memory_limit_mb
    Execute._tslab_output_limits = (cell_output_limit_kb << 10, notebook_output_limit_kb << 10)
    Execute._tslab_kernel_env = dict(kernel_env or {})
    if getattr(Execute, "_tslab_patched", False):
        return
    Execute._tslab_patched = True

    original_on_cell_executed = Execute.on_cell_executed
    original_preprocess = Execute.preprocess
    original_preprocess_cell = Execute.preprocess_cell
    original_handle_timeout = Execute._async_handle_timeout
    original_create_kernel_manager = Execute.create_kernel_manager
    original_output = NotebookClient.output

    def create_kernel_manager(self):
        if kernel_sandbox.mode() == "bwrap":
            kernel_sandbox.check_available()  # no sandbox: the kernel is not started at all
            self.kernel_manager_class = kernel_sandbox.SandboxedKernelManager
        return original_create_kernel_manager(self)

    def on_cell_executed(self, **kwargs):
        content = kwargs["execute_reply"]["content"]
        status = content.get("status")
        if status not in ("ok", "error"):
            # e.g. "abort": the kernel dropped the request; the cell did not run
            content["status"] = "error"
            content["ename"] = NOT_RUN
            content["evalue"] = "the kernel did not run this cell (reply status %r)" % status
            content["traceback"] = ["%s: %s" % (NOT_RUN, content["evalue"])]
        elif status == "error" and "ename" not in content:
            content["ename"] = "TslabError"
            content["evalue"] = "the cell failed (its message is in the stderr output above)"
            content["traceback"] = ["TslabError: the cell failed; see the stderr output above"]
        if content["status"] == "error":
            time.sleep(AFTER_ERROR_PAUSE)
        return original_on_cell_executed(self, **kwargs)

    def output(self, outs, msg, display_id, cell_index):
        state = getattr(self, "_tslab_cell", None)
        if state is None:
            return original_output(self, outs, msg, display_id, cell_index)
        msg_type = msg["msg_type"]
        content = msg.get("content") or {}
        if msg_type == "stream":
            text = content.get("text") or ""
            if content.get("name") == "stdout" and state.marker(text):
                return None
            size = _size(text)
            budget = state.budget()
            if state.note is not None or (budget is not None and size > budget):
                keep = "" if state.note is not None else text[:budget]
                while _size(keep) > budget:  # multi-byte characters
                    keep = keep[:-max(1, (_size(keep) - budget) // 4)]
                rest = text[len(keep):]
                if keep:
                    content["text"] = keep
                    kept = original_output(self, outs, msg, display_id, cell_index)
                    state.used += _size(keep)
                    if kept is not None and not state.visible:
                        state.hidden_ids.add(id(kept))
                state.drop(outs, _size(rest), rest if content.get("name") == "stderr" else "")
                return None
            state.used += size
        elif msg_type in ("display_data", "execute_result", "error"):
            size = _data_size(content.get("data") or {}) + _data_size(content.get("traceback") or [])
            budget = state.budget()
            if state.note is not None or (budget is not None and size > budget):
                state.drop(outs, size)
                return None
            state.used += size
        out = original_output(self, outs, msg, display_id, cell_index)
        if out is not None and not state.visible:
            state.hidden_ids.add(id(out))
        return out

    def label(self, resources) -> str:
        """Who and what is being run, for the log: "student S, notebook N"."""
        info = (resources or {}).get("nbgrader") or {}
        if info.get("student"):
            return "student %s, notebook %s/%s" % (info["student"], info.get("assignment", "?"), info.get("notebook", "?"))
        meta = (resources or {}).get("metadata") or {}
        if meta.get("name"):
            return "notebook %s" % os.path.join(meta.get("path") or "", meta["name"])
        return "the notebook"  # validate passes no resources; it logged the file name already

    def cell_name(cell, index) -> str:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        return "cell %d (%s)" % (index, grade_id) if grade_id else "cell %d" % index

    def preprocess(self, nb, resources=None, km=None):
        self._tslab_halted = None
        self._tslab_watchdog = None
        self._tslab_cell = None
        self._tslab_output_used = 0
        self._tslab_preflight = imports_library(nb)
        self._tslab_need_mb = 0
        started = time.monotonic()
        added = {k: v for k, v in Execute._tslab_kernel_env.items() if k not in os.environ}
        os.environ.update(added)
        try:
            return original_preprocess(self, nb, resources, km)
        except GradingKernelError as err:
            self.log.error("%s: %s", label(self, resources), err)
            forget_ungraded_submission(resources, self.log)
            raise
        finally:
            for name in added:
                os.environ.pop(name, None)
            watchdog = self._tslab_watchdog
            if watchdog is not None:
                watchdog.stop()
                limit = Execute._tslab_memory_limit_mb
                self.log.info("Ran %s in %.0f s: peak kernel memory %d MB%s", label(self, resources),
                              time.monotonic() - started, _mb(watchdog.peak_kb),
                              " (limit %d MB)" % limit if limit else "")

    def start_watchdog(self) -> None:
        provisioner = getattr(self.km, "provisioner", None)
        pid = getattr(provisioner, "pid", None)
        if pid is None:
            self.log.warning("Cannot watch the kernel's memory: its process id is unknown")
            return
        self._tslab_watchdog = MemoryWatchdog(pid, Execute._tslab_memory_limit_mb).start()

    def run_probe(self, source: str, index: int):
        """Runs ``source`` in the kernel outside the notebook: (failed, stdout, stderr)."""
        probe = NotebookNode(cell_type="code", source=source, metadata=NotebookNode(), outputs=[],
                             execution_count=None)
        saved = self.nb.cells[index]
        limit_cell, limit_nb = Execute._tslab_output_limits
        self._tslab_cell = CellOutputs(limit_cell, 0, 0)
        try:
            self.execute_cell(probe, index, store_history=False)
        except (DeadKernelError, CellTimeoutError) as err:
            return True, "", "the kernel stopped (%s)" % str(err).splitlines()[0]
        finally:
            self.nb.cells[index] = saved
            self._tslab_cell = None

        def stream(name):
            return "".join(o.get("text", "") for o in probe.outputs
                           if o.get("output_type") == "stream" and o.get("name") == name)
        return any(o.get("output_type") == "error" for o in probe.outputs), stream("stdout"), stream("stderr")

    def preflight(self, index: int) -> None:
        """Loads the library in the kernel as notebooks do; GradingKernelError when it cannot."""
        failed, stdout, stderr = run_probe(self, PREFLIGHT_FACTS, index)
        facts = {}
        for line in stdout.splitlines():
            try:
                found = json.loads(line)
            except ValueError:
                continue
            if isinstance(found, dict):
                facts = found
        if not failed:
            failed, stdout, stderr = run_probe(self, PREFLIGHT_IMPORT, index)
            found = re.search(r'"needMb":\s*(\d+)', stdout)
            self._tslab_need_mb = int(found.group(1)) if found else 0
        how = machine_limit_hit(self) if failed else ""
        if how:  # before any student code ran: the machine was short, whoever held the memory
            raise machine_short_error(self, "%s, before its first cell" % label(self, self.resources), how)
        if failed:
            project = ""
            try:
                project = os.path.dirname(kernel_sandbox._node_modules_of(self.km.kernel_spec.argv[0]))
            except Exception:
                pass
            raise GradingKernelError(kernel_problem(facts, stderr, project))

    def machine_limit_hit(self) -> str:
        """How the kernel met the machine's memory limit (stopped short of it, or killed at it), or ""."""
        watchdog = getattr(self, "_tslab_watchdog", None)
        if watchdog is None:
            return ""
        if watchdog.cgroup_stop_kb is not None:
            return "was stopped %d MB short of the grading machine's memory limit" % _mb(watchdog.cgroup.margin_kb())
        return "was ended by the out-of-memory killer" if watchdog.oom_killed() else ""

    def machine_short_error(self, where: str, how: str) -> GradingKernelError:
        return GradingKernelError("%s: the grading kernel %s (%s). No grade was recorded for this submission; %s"
                                  % (where, how, self._tslab_watchdog.cgroup_facts(), REGRADE_WITH_MEMORY))

    def execute_code_cell(self, cell, resources, index):
        """nbgrader's preprocess_cell, with the hidden-test markers and the output caps."""
        tokens = []
        original_source = cell.source
        if cell.cell_type == "code":
            cell.source, tokens = instrument_hidden_tests(cell.source)
        limit_cell, limit_nb = Execute._tslab_output_limits
        state = self._tslab_cell = CellOutputs(limit_cell, limit_nb, self._tslab_output_used, tokens)
        try:
            return original_preprocess_cell(self, cell, resources, index)
        finally:
            cell.source = original_source
            self._tslab_cell = None
            self._tslab_output_used += state.used
            if cell.cell_type == "code":
                state.finish(cell)
                self._tslab_hidden_ids = state.hidden_ids
                if state.dropped:
                    self.log.warning("%s, %s: output over the limit, %d bytes dropped", label(self, resources),
                                     cell_name(cell, index), state.dropped)

    def preprocess_cell(self, cell, resources, index):
        self._tslab_hidden_ids = set()
        try:
            return run_cell(self, cell, resources, index)
        finally:
            if cell.cell_type == "code":
                # Set for every cell run here (a student cannot bring their own); see StripHiddenTests.
                hidden = self._tslab_hidden_ids
                cell.metadata[METADATA_KEY] = NotebookNode(visible_outputs=[
                    output_digest(o) for o in cell.outputs if id(o) not in hidden])

    def run_cell(self, cell, resources, index):
        halted = getattr(self, "_tslab_halted", None)
        self._tslab_cell_timed_out = False
        if cell.cell_type == "code" and halted:
            cell.outputs = [_error_output(NOT_RUN, "not run because " + halted)]
            return cell, self.resources
        if getattr(self, "_tslab_watchdog", "unset") is None and self.km is not None:
            start_watchdog(self)
        if cell.cell_type == "code" and cell.source.strip() and getattr(self, "_tslab_preflight", False):
            self._tslab_preflight = False
            preflight(self, index)
        try:
            result = execute_code_cell(self, cell, resources, index)
            stopped = memory_stop(cell)
            if stopped:
                # The library stopped short of a memory limit it can see (an unsandboxed kernel). Believed
                # only when the grader's own readings show the machine short: a cell can print that line.
                watchdog = getattr(self, "_tslab_watchdog", None)
                if watchdog is not None and watchdog.machine_short(self._tslab_need_mb):
                    raise GradingKernelError(
                        "%s, %s: the grading kernel stopped to stay clear of the memory limit (%s; %s). No grade "
                        "was recorded for this submission; %s" % (label(self, resources), cell_name(cell, index),
                                                                  stopped, watchdog.cgroup_facts(), REGRADE_WITH_MEMORY))
                self.log.warning("%s, %s: the cell says it stopped for memory, but the grader saw no shortage of "
                                 "memory on this machine; graded as written", label(self, resources), cell_name(cell, index))
            return result
        except DeadKernelError:
            watchdog = getattr(self, "_tslab_watchdog", None)
            how = machine_limit_hit(self)
            if how:
                where = "%s, %s" % (label(self, resources), cell_name(cell, index))
                if watchdog.machine_short(self._tslab_need_mb):
                    raise machine_short_error(self, where, how)
                # The notebook itself took the memory: graded as for the watchdog's own limit.
                self._tslab_halted = "an earlier cell (cell %d) used nearly all the memory the grading machine allows" % index
                self.log.warning("%s: %s: the kernel %s (%s); later cells are marked as not run", MEMORY_LIMIT, where, how,
                                 watchdog.cgroup_facts())
                cell.outputs.append(_error_output(MEMORY_LIMIT, "the notebook used %d MB and the kernel %s (%d MB)" % (
                    _mb(watchdog.own_kb), how, _mb(watchdog.cgroup.limit_kb))))
                return cell, self.resources
            if watchdog is not None and watchdog.exceeded_kb is not None:
                used, limit = _mb(watchdog.exceeded_kb), Execute._tslab_memory_limit_mb
                self._tslab_halted = "an earlier cell (cell %d) used more memory than the %d MB limit" % (index, limit)
                self.log.warning("%s: %s: %d MB over the %d MB memory limit; kernel stopped, later cells are marked as not run",
                                 MEMORY_LIMIT, "%s, %s" % (label(self, resources), cell_name(cell, index)), used, limit)
                cell.outputs.append(_error_output(
                    MEMORY_LIMIT, "the notebook used %d MB, over the %d MB limit (the kernel was stopped)" % (used, limit)))
                return cell, self.resources
            self._tslab_halted = "the kernel died in an earlier cell (cell %d; process.exit()?)" % index
            self.log.warning("Kernel died in %s, %s; later cells are marked as not run", label(self, resources), cell_name(cell, index))
            cell.outputs.append(_error_output(
                "DeadKernelError", "the kernel died while running this cell (did it call process.exit()?)"))
            return cell, self.resources
        except CellTimeoutError as err:
            # The reply timed out (handle_timeout below already stopped the
            # kernel) or, with raise_on_iopub_timeout, its output never
            # finished arriving (nbclient's message then gives iopub_timeout,
            # 4 s, not the cell's limit).
            limit = self._get_timeout(cell)
            if getattr(self, "_tslab_cell_timed_out", False):
                why = "ran longer than the %s s limit" % limit
            else:
                why = "did not finish sending its output within %s s of its end" % self.iopub_timeout
            self._tslab_halted = "an earlier cell (cell %d) %s" % (index, why)
            self.log.warning("%s, %s %s; later cells are marked as not run",
                             label(self, resources), cell_name(cell, index), why)
            if not any(o.get("ename") == "CellTimeoutError" for o in cell.outputs):
                cell.outputs.append(_error_output("CellTimeoutError", "this cell %s%s" % (
                    why, " (an endless loop?)" if self._tslab_cell_timed_out else "")))
            return cell, self.resources

    async def handle_timeout(self, timeout, cell=None):
        reply = await original_handle_timeout(self, timeout, cell)
        self._tslab_cell_timed_out = True
        self._tslab_halted = "an earlier cell ran longer than the %d s limit" % timeout
        if reply is not None:  # nbgrader's error_on_timeout names no limit
            why = "this cell ran longer than the %d s limit (an endless loop?)" % timeout
            reply["content"].update(evalue=why, traceback=["CellTimeoutError: " + why])
        self.log.warning("Cell timed out after %d s; stopping the kernel, later cells are marked as not run", timeout)
        # A busy tslab kernel ignores interrupts: stop it so it frees the CPU now.
        try:
            if self.km is not None:
                await self.km.shutdown_kernel(now=True)
        except Exception as err:  # the kernel may already be gone
            self.log.warning("Could not stop the kernel: %s", err)
        return reply

    Execute.on_cell_executed = on_cell_executed
    Execute.output = output
    Execute.preprocess = preprocess
    Execute.preprocess_cell = preprocess_cell
    Execute._async_handle_timeout = handle_timeout
    Execute.create_kernel_manager = create_kernel_manager
    patch_overwrite_cells()


def released_source(source: str, parent):
    """What a test cell's source is in the student version: nbgrader's own
    ClearHiddenTests (with the course's delimiters) applied to the instructor's."""
    from nbgrader.preprocessors import ClearHiddenTests

    cell = NotebookNode(cell_type="code", source=source, metadata=NotebookNode(), outputs=[], execution_count=None)
    try:
        ClearHiddenTests(parent=parent)._remove_hidden_test_region(cell)
    except RuntimeError:  # unbalanced delimiters: nothing is "as released"
        return None
    return cell.source


def patch_overwrite_cells() -> None:
    """No false tampering warnings (9. in the module's docstring): a locked
    cell whose source is exactly what the student version holds (the
    instructor's, hidden tests removed by generate) gets the instructor's source
    back silently before nbgrader's check; any other difference is still
    reported ("Attribute 'checksum' ... has changed!") and overwritten."""
    from nbgrader import utils
    from nbgrader.api import MissingEntry
    from nbgrader.preprocessors import OverwriteCells

    if getattr(OverwriteCells, "_tslab_patched", False):
        return
    OverwriteCells._tslab_patched = True
    original = OverwriteCells.preprocess_cell

    def preprocess_cell(self, cell, resources, cell_index):
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id is not None and cell.cell_type == "code":
            try:
                source_cell = self.gradebook.find_source_cell(grade_id, self.notebook_id, self.assignment_id)
            except MissingEntry:
                source_cell = None
            if (source_cell is not None and source_cell.locked and source_cell.source != cell.source
                    and cell.source == released_source(source_cell.source, self)):
                cell.source = source_cell.source
                self.log.debug("Cell %s: hidden tests restored (the rest as released)", grade_id)
        return original(self, cell, resources, cell_index)

    OverwriteCells.preprocess_cell = preprocess_cell


_ERROR_LINE = re.compile(r"^(\w*Error)(?: \[\w+\])?: ?(.*)$")
# Where the message ends: the stack, the error's fields, or the values Node
# compares (assert's "+ actual - expected" diff, printed after a custom message too).
_STACK_LINE = re.compile(r"^\s+at |^\s*\{$|^\+ actual - expected")


def failure_message(stderr: str):
    """The error's name and message from a tslab stderr report, or None when it
    holds no error. Node prints the assert module's code frame, the message,
    the stack and the error's fields (``actual``, ``expected``: values of a
    hidden test); only the message is kept, and a message Node generated from
    the test's code (``assert.ok(x)`` without a message) is not shown at all."""
    lines = stderr.split("\n")
    for i, line in enumerate(lines):
        match = _ERROR_LINE.match(line)
        if match:
            break
    else:
        return None
    message = [match.group(2)]
    for line in lines[i + 1:]:
        if _STACK_LINE.match(line):
            break
        message.append(line)
    if "generatedMessage: true" in stderr:
        text = "this test's assertion failed (it gives no message)"
    else:
        text = "\n".join(message).rstrip()
    return "%s: %s\n" % (match.group(1), text)


_STRING_LITERAL = re.compile(r'"(?:[^"\\\n]|\\.)*"|' + r"'(?:[^'\\\n]|\\.)*'|`(?:[^`\\]|\\.)*`", re.S)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "`": "`", "$": "$", "0": "\0"}
# Node's words in front of an assertion's own message (assert.throws / assert.rejects).
_NODE_PREFIX = re.compile(r"^Missing expected (?:exception|rejection)(?: \([\w.$]+\))?(?: \(.*?\))?: ")
HINT = "hint: "
# Fragments of a hidden test's strings shorter than this are not checked for (too common).
MIN_FRAGMENT = 8


def _unescape(body: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), body)


def string_literals(code: str):
    """(whole, fragments) of the string literals in TypeScript ``code``: the
    literals with no ``${}`` as written (unescaped), and every fixed piece
    of every literal (a template's text between its substitutions)."""
    whole, fragments = set(), set()
    for m in _STRING_LITERAL.finditer(code):
        body = m.group(0)[1:-1]
        if m.group(0)[0] == "`":
            pieces = re.split(r"\$\{[^}]*\}", body)
            if len(pieces) == 1:
                whole.add(_unescape(body))
            fragments.update(_unescape(p) for p in pieces)
        else:
            whole.add(_unescape(body))
            fragments.add(_unescape(body))
    return whole, {f for f in fragments if len(f.strip()) >= MIN_FRAGMENT}


class StripHiddenTests(Preprocessor):
    """What students get back of a test cell, for generate_feedback. One policy
    for every exercise and every way feedback is made (`npm run course --
    feedback`, `nbgrader generate_feedback`, the Formgrader's button):

    - hidden-test regions (BEGIN/END HIDDEN TESTS) become a placeholder line,
      so students see that hidden tests exist and whether their cell passed;
    - a failed test in the part of the cell they can see keeps its message
      and loses the code frame, the stack and the values Node prints with it
      (see failure_message);
    - a failure raised inside a hidden region (by the hidden test, or by the
      student's code it called) shows only "AssertionError: a hidden test
      failed (its message is not shown)", unless the instructor marked its
      message as shareable: a message that starts with "hint: " and is written
      as one fixed string in the hidden region (no ``${}``), e.g.
      ``assert.equal(x, 1, "hint: count from 0")``, is shown as it is;
    - other output made while hidden tests ran (prints of the student's code
      called by them) is replaced by one line saying it is not shown.

    Where an output came from is recorded while grading (tslab_grading's
    markers, metadata ``tslab_grading.visible_outputs``); an output not listed
    there as visible counts as hidden (a notebook graded without the markers:
    all of a hidden-test cell's failures are hidden). As a second guard, no
    output is shown that contains a string of the hidden region (8 characters
    or more) that is not also in the visible part."""

    # nbconvert only runs a preprocessor whose `enabled` is true (default false).
    enabled = Bool(True).tag(config=True)
    begin = Unicode(HIDDEN_BEGIN).tag(config=True)
    end = Unicode(HIDDEN_END).tag(config=True)
    placeholder = Unicode("// (hidden tests ran here)").tag(config=True)
    hidden_failure = Unicode("AssertionError: a hidden test failed (its message is not shown)\n").tag(config=True)
    hidden_output = Unicode("(output while the hidden tests ran is not shown)\n").tag(config=True)

    def split(self, source: str, index: int):
        """(student's view of the source, hidden region text, visible text)."""
        out, hidden, hiding = [], [], False
        for line in source.split("\n"):
            if self.begin in line:
                hiding = True
                indent = re.match(r"\s*", line).group(0)
                out.append(indent + self.placeholder)
            elif self.end in line and hiding:
                hiding = False
            elif hiding:
                hidden.append(line)
            else:
                out.append(line)
        if hiding:
            raise RuntimeError("cell %d: %r without a matching %r" % (index, self.begin, self.end))
        return "\n".join(out), "\n".join(hidden), "\n".join(out)

    @staticmethod
    def _text(output) -> str:
        text = output.get("text", "")
        return text if isinstance(text, str) else "".join(text)

    def shareable(self, message: str, hints):
        """The part of a hidden failure's message to show: up to the end of the hint the instructor wrote
        ("Name: hint: ..."), or None. Node appends the compared values to some assertions' messages
        (assert.equal's "hint: x\n\n391 !== 500"): they are the hidden test's values, so they are cut."""
        text = _NODE_PREFIX.sub("", message.rstrip("\n").split(": ", 1)[-1])
        for hint in hints:
            if text == hint or text.startswith(hint + "\n"):
                return message[: message.index(hint) + len(hint)] + "\n"
        return None

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        has_hidden = self.begin in cell.source
        if has_hidden:
            shown, hidden_code, visible_code = self.split(cell.source, index)
        else:
            shown, hidden_code, visible_code = cell.source, "", cell.source
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade"):
            hint_literals, secret = set(), set()
            if has_hidden:
                whole, fragments = string_literals(hidden_code)
                hint_literals = {w for w in whole if w.startswith(HINT)}
                secret = {f for f in fragments if f not in visible_code and not f.startswith(HINT)}
            recorded = (cell.get("metadata", {}).get(METADATA_KEY) or {}).get("visible_outputs")
            visible = set(recorded or []) if has_hidden else None
            outputs, said_hidden = [], False
            for output in cell.get("outputs", []):
                kind = output.get("output_type")
                if kind == "error":  # the grader's own summary (TslabError, NotRun, ...): no test text in it
                    outputs.append(output)
                    continue
                is_visible = visible is None or output_digest(output) in visible
                stderr = kind == "stream" and output.get("name") == "stderr"
                message = failure_message(self._text(output)) if stderr else None
                if message is not None:
                    leaks = any(f in message for f in secret)
                    if is_visible and not leaks:
                        output["text"] = message
                    elif not is_visible and self.shareable(message, hint_literals) is not None:
                        output["text"] = self.shareable(message, hint_literals)
                    else:
                        output["text"] = self.hidden_failure
                    outputs.append(output)
                    continue
                if is_visible and not any(f in json.dumps(output) or f in self._text(output) for f in secret):
                    outputs.append(output)
                elif not said_hidden:
                    said_hidden = True
                    outputs.append(NotebookNode(output_type="stream", name="stdout", text=self.hidden_output))
            cell.outputs = outputs
        if has_hidden:
            cell.source = shown
        return cell, resources
