"""Run the main notebook and write a self-contained HTML report.

`npm run report` executes notebooks/fashion-mnist-cnn.ipynb with the tslab
kernel (full size unless the FMNIST_* variables say otherwise; per-cell
progress is echoed), then exports it with the project's HTML export
(jupyter/fm_export.py), the same one JupyterLab's File > Save and Export
Notebook As > HTML and `jupyter nbconvert --to html` use in this environment:
interactive Plotly charts with plotly.js embedded once, nothing loaded from the
network, the run facts in a header. On top of that the report adds the run's
status: if a cell fails, the report is still written, the failing cell is
marked and linked from the header, and the exit status is 1. The finished page
is checked for remote resources and a size budget.

    npm run report -- [--notebook NB] [--output HTML] [--executed IPYNB]
        [--timeout SECONDS] [--no-execute]

Relative paths are taken from the folder the command was typed in.
Exit status: 0 ok; 1 a cell failed (report written); 2 bad arguments or
missing files; 3 the report would need the network or exceeds the size budget.
"""

import argparse
import copy
import datetime as dt
import html
import os
import subprocess
import sys
import tempfile
import time

import nbformat
from nbconvert import HTMLExporter
from traitlets.config import Config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "jupyter"))
import fm_export  # noqa: E402  (the exporter JupyterLab and nbconvert use too)

SIZE_BUDGET = 8 * 1024 * 1024


def log(msg: str) -> None:
    print(f"[report] {msg}", flush=True)


def fail(msg: str, code: int = 2) -> int:
    print(f"report: {msg}", file=sys.stderr, flush=True)
    return code


def git_commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return head.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def find_failed_cell(nb):
    """The cell nbclient stopped at: the last code cell that was executed."""
    last = None
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and (cell.get("execution_count") is not None or cell.get("outputs")):
            last = i
    return last


def mark_failed(nb, failed_index) -> None:
    """A banner above the failing cell's output, linked from the header."""
    cell = nb.cells[failed_index]
    banner = ('<div class="fm-failed-cell" id="fm-failed-cell" role="alert">'
              '<strong>This cell failed</strong>: the run stopped here, so the cells below have no output. '
              'The error is printed below.</div>')
    cell.outputs.insert(0, nbformat.v4.new_output("display_data", data={"text/html": banner}))


def status_html(nb, ok, failed_index, notebook_path) -> str:
    if ok:
        status = '<span class="fm-status-ok">all cells ran without error</span>'
    else:
        n = sum(1 for c in nb.cells[: (failed_index or 0) + 1] if c.cell_type == "code")
        where = f'<a href="#fm-failed-cell">code cell {n}</a>' if failed_index is not None else "before any cell ran"
        status = f'<span class="fm-status-failed">FAILED at {where}</span>'
    return f"Notebook <code>{html.escape(os.path.relpath(notebook_path, ROOT))}</code>: {status}"


def unwritable(path: str):
    """Why a file cannot be written at path (its folder made if needed), or None."""
    folder = os.path.dirname(os.path.abspath(path)) or "."
    if os.path.isdir(path):
        return "is a folder; give a file name"
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as err:
        return f"its folder cannot be created ({err.strerror})"
    if not os.access(folder, os.W_OK):
        return f"its folder {folder} is not writable"
    return None


def write_atomically(path: str, text: str) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".", suffix=".html.tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; a report is for reading
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


# --------------------------------------------------------------------------

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--notebook", default=os.path.join(ROOT, "notebooks", "fashion-mnist-cnn.ipynb"))
    ap.add_argument("--output", default=os.path.join(ROOT, "reports", "fashion-mnist-cnn.html"))
    ap.add_argument("--executed", default=os.path.join(ROOT, "output", "fashion-mnist-cnn.ipynb"),
                    help="where the executed notebook is written (with --no-execute: read)")
    ap.add_argument("--timeout", type=int, default=None, help="seconds allowed per cell (default: no limit)")
    ap.add_argument("--no-execute", action="store_true", help="export --executed as it is, without running it")
    args = ap.parse_args()
    # npm runs scripts from the project's root; INIT_CWD is where the user typed the command.
    here = os.environ.get("INIT_CWD") or os.getcwd()
    args.notebook, args.output, args.executed = (os.path.join(here, p) for p in (args.notebook, args.output, args.executed))

    # Where the results go is checked before the (possibly long) run, not after it.
    for flag, path in (("--output", args.output), ("--executed", args.executed)):
        problem = unwritable(path)
        if problem:
            return fail(f"{flag} {path}: {problem}")
    started = time.monotonic()
    run_seconds = None
    if args.no_execute:
        if not os.path.isfile(args.executed):
            return fail(f"--executed {args.executed}: no such file (run without --no-execute to create it)")
        ok = True
        nb = nbformat.read(args.executed, as_version=4)
        failed_index = None
        # An executed notebook whose run stopped early has an error on stderr in its last run cell.
        last = find_failed_cell(nb)
        if last is not None and last != max((i for i, c in enumerate(nb.cells) if c.cell_type == "code"), default=-1):
            ok, failed_index = False, last
    else:
        if not os.path.isfile(args.notebook):
            return fail(f"--notebook {args.notebook}: no such notebook")
        log(f"running {os.path.relpath(args.notebook, ROOT)} (progress below)")
        cmd = [sys.executable, os.path.join(ROOT, "scripts", "run_notebook.py"), args.notebook, "--output", args.executed]
        if args.timeout:
            cmd += ["--timeout", str(args.timeout)]
        rc = subprocess.call(cmd)
        run_seconds = time.monotonic() - started
        ok = rc == 0
        if os.path.isfile(args.executed):
            nb = nbformat.read(args.executed, as_version=4)
        else:
            nb = nbformat.read(args.notebook, as_version=4)
        failed_index = None if ok else find_failed_cell(nb)
        if not ok:
            log(f"the notebook failed (exit {rc}); writing the report with the failing cell marked")

    log("exporting to HTML")
    nb = copy.deepcopy(nb)
    if failed_index is not None:
        mark_failed(nb, failed_index)
    rows = []
    if not fm_export.find_run_facts(nb):
        rows += [("date", dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")), ("git commit", git_commit()),
                 ("other facts", "not available: the run stopped before the notebook's run-facts cell")]
    if run_seconds is not None:
        rows.append(("notebook run time", fm_export.format_seconds(run_seconds)))
    config = Config()
    fm_export.configure(config)
    resources = {
        "metadata": {"name": "Fashion-MNIST CNN report"},
        "fm_title": "Fashion-MNIST CNN in TypeScript: run report",
        "fm_status_html": status_html(nb, ok, failed_index, args.notebook),
        "fm_extra_rows": rows,
    }
    body, resources = HTMLExporter(config=config).from_notebook_node(nb, resources=resources)
    charts = resources.get("fm_charts", 0)
    remote = fm_export.remote_references(body)
    if remote:
        return fail("the report would load remote resources, which must not happen:\n  " + "\n  ".join(remote[:10]), 3)
    size = len(body.encode("utf-8"))
    if size > SIZE_BUDGET:
        return fail(f"the report is {size / 1e6:.1f} MB, over the {SIZE_BUDGET / 1e6:.1f} MB budget; not written", 3)
    write_atomically(args.output, body)
    log(f"wrote {os.path.relpath(args.output)} ({size / 1e6:.2f} MB, {charts} chart(s)) "
        f"in {time.monotonic() - started:.0f}s")
    if not ok:
        return fail(f"the notebook failed; see the marked cell in {args.output}", 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
