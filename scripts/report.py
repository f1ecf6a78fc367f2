"""Run the main notebook and write a self-contained HTML report.

`npm run report` executes notebooks/fashion-mnist-cnn.ipynb with the tslab
kernel (full size unless the FMNIST_* variables say otherwise; per-cell
progress is echoed), then exports it to reports/fashion-mnist-cnn.html:

- every Plotly output (application/vnd.plotly.v1+json, which nbconvert's HTML
  exporter would drop) becomes a <div> drawn by plotly.js, and plotly.js itself
  (the pinned npm package plotly.js-dist-min) is embedded once per file;
- the export template is JupyterLab's "lab" template minus everything it would
  fetch from the network (require.js, MathJax, widgets, mermaid); the finished
  file is checked for remote scripts, stylesheets, fonts and images;
- a header lists the run facts the notebook's last cell displays as JSON
  (date, git commit, versions, backend, dataset checksums, epochs, training
  time, test accuracy);
- if a cell fails, the report is still written, the failing cell is marked and
  linked from the header, and the exit status is 1.

    .venv/bin/python scripts/report.py [--notebook NB] [--output HTML]
        [--executed IPYNB] [--timeout SECONDS] [--no-execute]

Exit status: 0 ok; 1 a cell failed (report written); 2 bad arguments or
missing files; 3 the report would need the network or exceeds the size budget.
"""

import argparse
import copy
import datetime as dt
import html
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import nbformat
from nbconvert import HTMLExporter

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PLOTLY_MIME = "application/vnd.plotly.v1+json"
RUN_FACTS_KIND = "fashion-mnist-run-facts"  # lib/run-facts.ts RUN_FACTS_KIND
PLOTLY_JS = os.path.join(ROOT, "node_modules", "plotly.js-dist-min", "plotly.min.js")
TEMPLATE_DIR = os.path.join(ROOT, "scripts", "report_template")
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


def script_json(value) -> str:
    """JSON that is safe inside a <script> element (no `</script>`, no `<!--`)."""
    return json.dumps(value, separators=(",", ":"), allow_nan=False).replace("<", "\\u003c")


# --------------------------------------------------------------------------
# Notebook preprocessing
# --------------------------------------------------------------------------

def find_failed_cell(nb):
    """The cell nbclient stopped at: the last code cell that was executed."""
    last = None
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and (cell.get("execution_count") is not None or cell.get("outputs")):
            last = i
    return last


def prepare(nb, failed_index):
    """Rewrites outputs for the HTML export; returns (run facts or None, number of charts)."""
    facts = None
    charts = 0
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        outputs = []
        for out in cell.get("outputs", []):
            data = out.get("data") or {}
            if PLOTLY_MIME in data:
                fig = data[PLOTLY_MIME]
                if isinstance(fig, str):
                    fig = json.loads(fig)
                charts += 1
                layout = fig.get("layout") or {}
                style = ""
                if isinstance(layout.get("width"), (int, float)) and isinstance(layout.get("height"), (int, float)):
                    style = f' style="width:{int(layout["width"])}px;height:{int(layout["height"])}px"'
                div = (f'<div class="fm-plotly" id="fm-plotly-{charts}"{style}></div>'
                       f'<script type="application/json" class="fm-plotly-figure" data-target="fm-plotly-{charts}">'
                       f'{script_json(fig)}</script>')
                outputs.append(nbformat.v4.new_output("display_data", data={"text/html": div}))
                continue
            if "application/json" in data:
                value = data["application/json"]
                if isinstance(value, dict) and value.get("kind") == RUN_FACTS_KIND:
                    facts = value
                    continue  # shown in the header (and as the cell's Markdown table)
            outputs.append(out)
        if i == failed_index:
            banner = ('<div class="fm-failed-cell" id="fm-failed-cell" role="alert">'
                      '<strong>This cell failed</strong>: the run stopped here, so the cells below have no output. '
                      'The error is printed below.</div>')
            outputs.insert(0, nbformat.v4.new_output("display_data", data={"text/html": banner}))
            cell.metadata.setdefault("tags", []).append("fm-failed")
        cell.outputs = outputs
    return facts, charts


# --------------------------------------------------------------------------
# Header, styles, scripts
# --------------------------------------------------------------------------

REPORT_CSS = """
.fm-report-header { max-width: 1100px; margin: 16px auto 8px; padding: 14px 20px; border: 1px solid #d0d7de;
  border-radius: 6px; background: #f6f8fa; font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  font-size: 13px; color: #1f2328; }
.fm-report-header h1 { font-size: 18px; margin: 0 0 8px; }
.fm-report-header table { border-collapse: collapse; }
.fm-report-header th { text-align: left; padding: 2px 16px 2px 0; font-weight: 600; vertical-align: top; }
.fm-report-header td { padding: 2px 0; font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  word-break: break-all; }
.fm-status-ok { color: #1a7f37; font-weight: 600; }
.fm-status-failed { color: #cf222e; font-weight: 600; }
.fm-failed-cell { border: 2px solid #cf222e; background: #ffebe9; color: #82071e; padding: 8px 12px;
  border-radius: 4px; font-family: system-ui, sans-serif; }
.fm-plotly-error { color: #cf222e; font-family: monospace; white-space: pre-wrap; }
"""

RENDER_JS = """
(function () {
  var nodes = document.querySelectorAll('script.fm-plotly-figure');
  for (var i = 0; i < nodes.length; i++) {
    var target = document.getElementById(nodes[i].getAttribute('data-target'));
    try {
      if (typeof Plotly === 'undefined') throw new Error('plotly.js did not load');
      var fig = JSON.parse(nodes[i].textContent);
      var config = Object.assign({}, fig.config || {}, { responsive: false });
      Plotly.newPlot(target, fig.data || [], fig.layout || {}, config);
    } catch (err) {
      target.className += ' fm-plotly-error';
      target.textContent = 'This chart could not be drawn: ' + err.message;
      console.error('report chart ' + (i + 1) + ':', err);
    }
  }
})();
"""


def fmt_seconds(s) -> str:
    try:
        s = float(s)
    except (TypeError, ValueError):
        return "n/a"
    return f"{s:.1f} s" if s < 120 else f"{s:.0f} s ({s / 60:.1f} min)"


def header_html(facts, failed_index, nb, ok, notebook_path, run_seconds):
    e = html.escape
    rows = []
    if facts:
        sha = facts.get("datasetSha256") or {}
        rows += [
            ("date", facts.get("date", "n/a")),
            ("git commit", facts.get("gitCommit", "n/a")),
            ("Node.js", facts.get("node", "n/a")),
            ("tfjs-node", facts.get("tfjsNode", "n/a")),
            ("TensorFlow (native)", facts.get("tensorflow", "n/a")),
            ("backend", facts.get("backend", "n/a")),
            ("data", f'{facts.get("trainSamples", "?"):,} training, {facts.get("validationSamples", "?"):,} validation, '
                     f'{facts.get("testSamples", "?"):,} test images'),
            ("epochs / batch size", f'{facts.get("epochs", "?")} / {facts.get("batchSize", "?")}'),
            ("training time", fmt_seconds(facts.get("trainingSeconds"))),
            ("test accuracy", f'{facts["testAccuracy"] * 100:.2f}%' if isinstance(facts.get("testAccuracy"), (int, float)) else "n/a"),
        ]
        rows += [(f"SHA-256 {name}", value) for name, value in sha.items()]
    else:
        rows += [
            ("date", dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")),
            ("git commit", git_commit()),
            ("other facts", "not available: the run stopped before the notebook's run-facts cell"),
        ]
    if run_seconds is not None:
        rows.append(("notebook run time", fmt_seconds(run_seconds)))
    if ok:
        status = '<span class="fm-status-ok">all cells ran without error</span>'
    else:
        n = sum(1 for c in nb.cells[: (failed_index or 0) + 1] if c.cell_type == "code")
        where = f'<a href="#fm-failed-cell">code cell {n}</a>' if failed_index is not None else "before any cell ran"
        status = f'<span class="fm-status-failed">FAILED at {where}</span>'
    body = "".join(f"<tr><th>{e(k)}</th><td>{e(str(v))}</td></tr>" for k, v in rows)
    return (f'<header class="fm-report-header"><h1>Fashion-MNIST CNN in TypeScript: run report</h1>'
            f'<p>Notebook <code>{e(os.path.relpath(notebook_path, ROOT))}</code>: {status}</p>'
            f'<table>{body}</table></header>')


# --------------------------------------------------------------------------
# Checks on the finished file
# --------------------------------------------------------------------------

REMOTE_PATTERNS = [
    (re.compile(r"<script\b[^>]*\bsrc\s*=", re.I), "a <script src=...>"),
    (re.compile(r"<link\b[^>]*\bhref\s*=\s*[\"']?(?:https?:)?//", re.I), "a remote <link href=...>"),
    (re.compile(r"<(?:img|iframe|source|video|audio|embed)\b[^>]*\bsrc\s*=\s*[\"']?(?:https?:)?//", re.I), "a remote src"),
    (re.compile(r"@import\b", re.I), "a CSS @import"),
    (re.compile(r"url\(\s*[\"']?(?:https?:)?//", re.I), "a remote CSS url()"),
    (re.compile(r"<script\b[^>]*\btype\s*=\s*[\"']?module", re.I), "an ES module script (may import remote code)"),
]


def remote_references(text: str):
    found = []
    for pattern, what in REMOTE_PATTERNS:
        for m in pattern.finditer(text):
            found.append(f"{what} at offset {m.start()}: {text[m.start(): m.start() + 120]!r}")
    return found


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

    if not os.path.isfile(PLOTLY_JS):
        return fail(f"{PLOTLY_JS} is missing: run `npm run setup` (it installs plotly.js-dist-min)")
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
    facts, charts = prepare(nb, failed_index)
    with open(PLOTLY_JS, encoding="utf-8") as f:
        plotly_js = f.read()
    version = re.search(r"plotly\.js v([\w.\-]+)", plotly_js[:300])
    marker = "<!--fm-plotly-js-->"
    resources = {
        "fm_report_css": REPORT_CSS,
        "fm_report_header": header_html(facts, failed_index, nb, ok, args.notebook, run_seconds),
        "fm_report_scripts": f"{marker}\n<script>{RENDER_JS}</script>" if charts else "",
        "metadata": {"name": "Fashion-MNIST CNN report"},
    }
    exporter = HTMLExporter(template_name="fm-report", extra_template_basedirs=[TEMPLATE_DIR])
    body, _ = exporter.from_notebook_node(nb, resources=resources)

    remote = remote_references(body)
    if remote:
        return fail("the report would load remote resources, which must not happen:\n  " + "\n  ".join(remote[:10]), 3)
    if charts:
        if body.count(marker) != 1:
            return fail("internal error: the plotly.js placeholder is missing from the exported HTML", 3)
        body = body.replace(marker, f"<script>/* plotly.js {version.group(1) if version else ''} (npm plotly.js-dist-min) */\n"
                                    f"{plotly_js}</script>")
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
