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
