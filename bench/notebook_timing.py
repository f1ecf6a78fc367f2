"""Kernel start-up and import time of the tslab kernel, for `npm run bench`.

Starts the project's tslab kernel (from .venv) in notebooks/, runs one cell
that imports the compiled library (which loads TensorFlow's native library),
and prints {"kernel_start_seconds": ..., "import_seconds": ...} as JSON.

    .venv/bin/python bench/notebook_timing.py notebooks/
"""

import json
import sys
import time

import nbformat
from nbclient import NotebookClient

IMPORT_CELL = 'import * as fm from "fashion-mnist-lib";\nconsole.log(fm.runtimeVersions().backend);'


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: notebook_timing.py NOTEBOOK_FOLDER", file=sys.stderr)
        return 2
    folder = sys.argv[1]
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "tslab", "display_name": "TypeScript", "language": "typescript"}
    nb.cells = [nbformat.v4.new_code_cell(IMPORT_CELL)]
    client = NotebookClient(nb, kernel_name="tslab", timeout=600, resources={"metadata": {"path": folder}})
    t0 = time.perf_counter()
    with client.setup_kernel():
        t1 = time.perf_counter()
        client.execute_cell(nb.cells[0], 0)
        t2 = time.perf_counter()
    out = "".join(o.get("text", "") for o in nb.cells[0].outputs if o.get("output_type") == "stream")
    if "tensorflow" not in out:
        print(f"import cell printed {out!r}, expected the native backend 'tensorflow'", file=sys.stderr)
        return 1
    print(json.dumps({"kernel_start_seconds": t1 - t0, "import_seconds": t2 - t1}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
