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

3. Hidden tests: autograde copies the instructor's test cells (hidden parts
   included) back into the graded notebook, and feedback is rendered from it
   (jupyter/nbgrader#917, #1363). ``StripHiddenTests`` replaces each hidden
   region with a one-line placeholder in the feedback HTML.
"""

import re
import time

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbconvert.preprocessors import Preprocessor
from nbformat.notebooknode import NotebookNode
from traitlets import Bool, Unicode

from nbgrader.preprocessors.execute import Execute

NOT_RUN = "NotRun"
# tslab drops execute requests for 200 ms after a failed cell; wait longer.
AFTER_ERROR_PAUSE = 0.5


def _error_output(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=evalue,
                        traceback=["%s: %s" % (ename, evalue)])


def install() -> None:
    """Patches nbgrader's Execute preprocessor (used by validate, autograde and
    generate_solution). Patching the class, not subclassing, because
    nbgrader's Validator hard-codes its preprocessor list."""
    if getattr(Execute, "_tslab_patched", False):
        return
    Execute._tslab_patched = True

    original_on_cell_executed = Execute.on_cell_executed
    original_preprocess = Execute.preprocess
    original_preprocess_cell = Execute.preprocess_cell
    original_handle_timeout = Execute._async_handle_timeout

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

    def preprocess(self, nb, resources=None, km=None):
        self._tslab_halted = None
        return original_preprocess(self, nb, resources, km)

    def preprocess_cell(self, cell, resources, index):
        halted = getattr(self, "_tslab_halted", None)
        if cell.cell_type == "code" and halted:
            cell.outputs = [_error_output(NOT_RUN, "not run because " + halted)]
            return cell, self.resources
        try:
            return original_preprocess_cell(self, cell, resources, index)
        except DeadKernelError:
            self._tslab_halted = "the kernel died in an earlier cell (cell %d; process.exit()?)" % index
            self.log.warning("Kernel died in cell %d; later cells are marked as not run", index)
            cell.outputs.append(_error_output(
                "DeadKernelError", "the kernel died while running this cell (did it call process.exit()?)"))
            return cell, self.resources
        except CellTimeoutError as err:
            # The reply timed out (handle_timeout below already stopped the
            # kernel) or its output never finished arriving.
            limit = self._get_timeout(cell)
            self._tslab_halted = "an earlier cell (cell %d) ran longer than the %s s limit" % (index, limit)
            self.log.warning("Cell %d timed out (%s); later cells are marked as not run", index, str(err).splitlines()[0])
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


class StripHiddenTests(Preprocessor):
    """Replaces hidden-test regions in code cells with a placeholder line.

    Runs in generate_feedback so students see that hidden tests exist and
    whether their cell passed (outputs are kept), but not the tests."""

    # nbconvert only runs a preprocessor whose `enabled` is true (default false).
    enabled = Bool(True).tag(config=True)
    begin = Unicode("BEGIN HIDDEN TESTS").tag(config=True)
    end = Unicode("END HIDDEN TESTS").tag(config=True)
    placeholder = Unicode("// (hidden tests ran here)").tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or self.begin not in cell.source:
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
