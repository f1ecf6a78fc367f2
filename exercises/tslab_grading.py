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

4. Hidden tests: autograde copies the instructor's test cells (hidden parts
   included) back into the graded notebook, and feedback is rendered from it
   (jupyter/nbgrader#917, #1363). ``StripHiddenTests`` replaces each hidden
   region with a one-line placeholder in the feedback HTML.

5. Students' code runs with the grader's rights in stock nbgrader
   (jupyter/nbgrader#483): every kernel started here runs inside bubblewrap
   (kernel_sandbox.py) unless COURSE_SANDBOX=none (`course --no-sandbox`).
"""

import os
import re
import signal
import threading
import time

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbconvert.preprocessors import Preprocessor
from nbformat.notebooknode import NotebookNode
from traitlets import Bool, Unicode

from nbgrader.preprocessors.execute import Execute

import kernel_sandbox

NOT_RUN = "NotRun"
MEMORY_LIMIT = "MemoryLimitExceeded"
# tslab drops execute requests for 200 ms after a failed cell; wait longer.
AFTER_ERROR_PAUSE = 0.5
# How often the memory watchdog samples the kernel's processes (seconds).
MEMORY_POLL_SECONDS = 0.2


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
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="memory-watchdog-%d" % pid, daemon=True)

    def start(self) -> "MemoryWatchdog":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def used_kb(self) -> int:
        return sum(rss_kb(p) for p in process_tree(self.pid, self.group))

    def _run(self) -> None:
        while not self._stop.is_set():
            used = self.used_kb()
            self.peak_kb = max(self.peak_kb, used)
            if self.limit_kb and used > self.limit_kb:
                self.exceeded_kb = used
                self.kill()
                return
            self._stop.wait(self.interval)

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


def install(memory_limit_mb: int = 0, kernel_env=None) -> None:
    """Patches nbgrader's Execute preprocessor (used by validate, autograde and
    generate_solution). Patching the class, not subclassing, because
    nbgrader's Validator hard-codes its preprocessor list.

    ``memory_limit_mb``: resident memory allowed to each notebook's kernel
    (with the processes it starts); 0 measures without a limit.
    ``kernel_env``: variables set for the kernels nbgrader starts (the grading
    run sizes) unless already set; only while nbgrader runs a notebook, so
    kernels a user starts in a JupyterLab that loaded this configuration keep
    the full sizes."""
    if memory_limit_mb < 0:
        raise ValueError("memory limit must be >= 0 MB, got %r" % memory_limit_mb)
    Execute._tslab_memory_limit_mb = memory_limit_mb
    Execute._tslab_kernel_env = dict(kernel_env or {})
    if getattr(Execute, "_tslab_patched", False):
        return
    Execute._tslab_patched = True

    original_on_cell_executed = Execute.on_cell_executed
    original_preprocess = Execute.preprocess
    original_preprocess_cell = Execute.preprocess_cell
    original_handle_timeout = Execute._async_handle_timeout
    original_create_kernel_manager = Execute.create_kernel_manager

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
        started = time.monotonic()
        added = {k: v for k, v in Execute._tslab_kernel_env.items() if k not in os.environ}
        os.environ.update(added)
        try:
            return original_preprocess(self, nb, resources, km)
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

    def preprocess_cell(self, cell, resources, index):
        halted = getattr(self, "_tslab_halted", None)
        if cell.cell_type == "code" and halted:
            cell.outputs = [_error_output(NOT_RUN, "not run because " + halted)]
            return cell, self.resources
        if getattr(self, "_tslab_watchdog", "unset") is None and self.km is not None:
            start_watchdog(self)
        try:
            return original_preprocess_cell(self, cell, resources, index)
        except DeadKernelError:
            watchdog = getattr(self, "_tslab_watchdog", None)
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
            # kernel) or its output never finished arriving.
            limit = self._get_timeout(cell)
            self._tslab_halted = "an earlier cell (cell %d) ran longer than the %s s limit" % (index, limit)
            self.log.warning("%s, %s timed out (%s); later cells are marked as not run",
                             label(self, resources), cell_name(cell, index), str(err).splitlines()[0])
            if not any(o.get("ename") == "CellTimeoutError" for o in cell.outputs):
                cell.outputs.append(_error_output(
                    "CellTimeoutError", "this cell ran longer than the %s s limit (an endless loop?)" % limit))
            return cell, self.resources

    async def handle_timeout(self, timeout, cell=None):
        reply = await original_handle_timeout(self, timeout, cell)
        self._tslab_halted = "an earlier cell ran longer than the %d s limit" % timeout
        self.log.warning("Cell timed out after %d s; stopping the kernel, later cells are marked as not run", timeout)
        # A busy tslab kernel ignores interrupts: stop it so it frees the CPU now.
        try:
            if self.km is not None:
                await self.km.shutdown_kernel(now=True)
        except Exception as err:  # the kernel may already be gone
            self.log.warning("Could not stop the kernel: %s", err)
        return reply

    Execute.on_cell_executed = on_cell_executed
    Execute.preprocess = preprocess
    Execute.preprocess_cell = preprocess_cell
    Execute._async_handle_timeout = handle_timeout
    Execute.create_kernel_manager = create_kernel_manager


_ERROR_LINE = re.compile(r"^(\w*Error)(?: \[\w+\])?: ?(.*)$")
_STACK_LINE = re.compile(r"^\s+at |^\s*\{$")


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


class StripHiddenTests(Preprocessor):
    """What students get back of a test cell, for generate_feedback.

    Hidden-test regions become a placeholder line, so students see that hidden
    tests exist and whether their cell passed, but not the tests. A failed
    test's report keeps its message and loses the code frame, the stack and
    the values Node prints with it (see failure_message)."""

    # nbconvert only runs a preprocessor whose `enabled` is true (default false).
    enabled = Bool(True).tag(config=True)
    begin = Unicode("BEGIN HIDDEN TESTS").tag(config=True)
    end = Unicode("END HIDDEN TESTS").tag(config=True)
    placeholder = Unicode("// (hidden tests ran here)").tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade"):
            for output in cell.get("outputs", []):
                if output.get("output_type") == "stream" and output.get("name") == "stderr":
                    text = output.get("text", "")
                    message = failure_message(text if isinstance(text, str) else "".join(text))
                    if message is not None:
                        output["text"] = message
        if self.begin not in cell.source:
            return cell, resources
        out, hiding = [], False
        for line in cell.source.split("\n"):
            if self.begin in line:
                hiding = True
                indent = re.match(r"\s*", line).group(0)
                out.append(indent + self.placeholder)
            elif self.end in line and hiding:
                hiding = False
            elif not hiding:
                out.append(line)
        if hiding:
            raise RuntimeError("cell %d: %r without a matching %r" % (index, self.begin, self.end))
        cell.source = "\n".join(out)
        return cell, resources
