"""Execute a notebook headlessly with the project's tslab kernel.

Used by `npm start` and the notebook tests. Prints one line per cell as it
runs, echoes the notebook's printed text (so training progress shows in the
terminal), writes the executed notebook (also when a cell fails, so the error
can be read there) and exits non-zero if any cell failed.

    .venv/bin/python scripts/run_notebook.py notebooks/fashion-mnist-cnn.ipynb \
        --output output/fashion-mnist-cnn.ipynb [--timeout SECONDS]
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError


class EchoingClient(NotebookClient):
    """A NotebookClient that mirrors each cell's stdout/stderr to the terminal."""

    headline_prefixes = ("Test accuracy",)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.headlines = []

    def process_message(self, msg, cell, cell_index):
        content = msg.get("content", {})
        if msg.get("msg_type") == "stream":
            text = content.get("text", "")
            stream = sys.stderr if content.get("name") == "stderr" else sys.stdout
            stream.write(text)
            stream.flush()
            self.headlines += [l for l in text.splitlines() if l.startswith(self.headline_prefixes)]
        return super().process_message(msg, cell, cell_index)


def first_line(source: str) -> str:
    for line in source.splitlines():
        if line.strip():
            return line.strip()[:70]
    return ""


def save_atomically(nb, path: str) -> None:
    """Write to a temp file beside the target, then rename over it."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".", suffix=".ipynb.tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        nbformat.write(nb, f)
    os.replace(tmp, path)


PREFLIGHT_JS = """
const major = Number(process.versions.node.split(".")[0]);
if (major < 22) { console.log("node " + process.version); process.exit(3); }
try { require.resolve("fashion-mnist-lib"); } catch { process.exit(4); }
"""


def preflight(nb, folder: str):
    """What would stop the kernel at its first cell, said before it starts: None when all is well."""
    if not any("fashion-mnist-lib" in c.source for c in nb.cells if c.cell_type == "code"):
        return None
    try:
        r = subprocess.run(["node", "-e", PREFLIGHT_JS], cwd=folder, capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        return "Node.js is not on PATH (the tslab kernel runs on it): install Node.js 22, 24 or 26."
    if r.returncode == 3:
        return (f"the tslab kernel would run on {r.stdout.strip()}, which is not supported: put Node.js 22, 24 or 26 "
                "first on PATH (for example `export PATH=\"$(scripts/node-version.sh 24):$PATH\"` in the project).")
    if r.returncode == 4:
        return (f"the notebook imports fashion-mnist-lib, which is not installed where its kernel looks (node_modules in "
                f"{folder} or a folder above it). In the project, run `npm run setup`; elsewhere install the package "
                "(`npm install --ignore-scripts fashion-mnist-lib`, then `npx fashion-mnist-setup`).")
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("notebook")
    ap.add_argument("--output", required=True, help="where to write the executed notebook")
    ap.add_argument("--timeout", type=int, default=None, help="seconds allowed per cell (default: no limit)")
    ap.add_argument("--kernel", default="tslab")
    args = ap.parse_args()

    if not os.path.isfile(args.notebook):
        print(f"run_notebook: no such notebook: {args.notebook}", file=sys.stderr)
        return 2
    nb = nbformat.read(args.notebook, as_version=4)
    problem = preflight(nb, os.path.dirname(os.path.abspath(args.notebook)))
    if problem:
        print(f"run_notebook: {args.notebook}: {problem}", file=sys.stderr)
        return 2
    code_cells = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    started = time.monotonic()
    cell_started = [started]

    def on_cell_start(cell, cell_index, **_):
        if cell.cell_type != "code":
            return
        cell_started[0] = time.monotonic()
        n = code_cells.index(cell_index) + 1
        print(f"\n[cell {n}/{len(code_cells)}] {first_line(cell.source)}", flush=True)

    def on_cell_executed(cell, cell_index, **_):
        if cell.cell_type == "code":
            print(f"[cell done in {time.monotonic() - cell_started[0]:.1f}s]", flush=True)

    # Ask the notebook's live views to also print one line per training epoch,
    # so a headless run shows progress in the terminal.
    os.environ.setdefault("FMNIST_ECHO_PROGRESS", "1")
    client = EchoingClient(
        nb,
        kernel_name=args.kernel,
        timeout=args.timeout,
        resources={"metadata": {"path": os.path.dirname(os.path.abspath(args.notebook))}},
        on_cell_start=on_cell_start,
        on_cell_executed=on_cell_executed,
    )
    failed = None
    try:
        client.execute()
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as err:
        failed = err
    finally:
        save_atomically(nb, args.output)

    elapsed = time.monotonic() - started
    if failed is not None:
        print(f"\nrun_notebook: {args.notebook} FAILED after {elapsed:.0f}s; "
              f"the executed notebook with the error is at {args.output}\n{failed}", file=sys.stderr)
        return 1
    print(f"\nExecuted {args.notebook} in {elapsed:.0f}s -> {args.output}", flush=True)
    for line in client.headlines:
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
