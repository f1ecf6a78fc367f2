"""Git's clean filter for notebooks (set up by scripts/setup.sh): what git
stores and compares is the notebook without outputs, execution counts or the
per-run metadata JupyterLab adds, so running a notebook (and Lab's autosave)
leaves `git status` clean while your outputs stay in your file.

    python3 scripts/nbclean.py < NOTEBOOK.ipynb > CLEAN.ipynb
    python3 scripts/nbclean.py --check FILE...   exit 1, naming each file that is not clean

Output is canonical (sorted keys, one-space indent, as nbformat writes), so a
notebook written by Lab and the committed copy compare equal. Input that is not
a notebook passes through unchanged: a filter must never lose a file.
"""

import json
import sys

# Cell metadata that records a run or a view, not the notebook's content.
RUN_METADATA = ("execution", "collapsed", "scrolled", "jupyter", "trusted")


def clean(nb: dict) -> dict:
    for cell in nb.get("cells", []):
        # nbformat writes a source as a list of lines, other tools as one string: one string here.
        if isinstance(cell.get("source"), list):
            cell["source"] = "".join(cell["source"])
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        meta = cell.get("metadata", {})
        for key in RUN_METADATA:
            meta.pop(key, None)
    meta = nb.get("metadata", {})
    meta.pop("widgets", None)
    # The kernel writes the language version it ran with (tslab: its TypeScript's): a fact of the run.
    meta.get("language_info", {}).pop("version", None)
    return nb


def canonical(nb: dict) -> str:
    return json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False) + "\n"


def main() -> int:
    if sys.argv[1:2] == ["--check"]:
        bad = []
        for path in sys.argv[2:]:
            with open(path, encoding="utf-8") as f:
                text = f.read()
            if canonical(clean(json.loads(text))) != text:
                bad.append(path)
        for path in bad:
            print(f"{path}: has outputs or run metadata, or is not in canonical form "
                  f"(python3 scripts/nbclean.py < {path} > tmp && mv tmp {path})", file=sys.stderr)
        return 1 if bad else 0
    data = sys.stdin.buffer.read()
    try:
        nb = json.loads(data.decode("utf-8"))
        if not isinstance(nb, dict) or "cells" not in nb:
            raise ValueError("not a notebook")
    except ValueError:
        sys.stdout.buffer.write(data)
        return 0
    sys.stdout.write(canonical(clean(nb)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
