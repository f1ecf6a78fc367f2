"""HTML export that keeps the project's charts, whichever way a notebook becomes HTML.

nbconvert's HTML exporter drops Plotly's MIME type (plotly.py#5365,
nbconvert#2235), its default "lab" template loads require.js and MathJax from a
CDN, and with "Sanitize HTML output" (JupyterLab's export dialog checks it by
default) its `clean_html` filter escapes even <p> and <h1>..<h6> (nbconvert#2016).
`configure(c)` fixes the three for every path that goes through nbconvert in
the project's environment:

- `jupyter nbconvert --to html` (scripts/setup.sh writes
  .venv/etc/jupyter/jupyter_nbconvert_config.py, which calls `configure`);
- JupyterLab's File > Save and Export Notebook As > HTML (the same call in
  jupyter_server_config.py: the server builds its exporter from its own config);
- `npm run report` (scripts/report.py), which runs the notebook and then uses
  the exporter configured here;
- nbgrader's feedback pages (`configure_feedback` in exercises/nbgrader_config.py:
  nbgrader keeps its own feedback template).

What a Plotly output becomes:
- normally: a <div> that plotly.js draws, interactive; plotly.js (the copy the
  Python plotly package ships, the one JupyterLab's renderer uses) is embedded
  once, in the first chart's output;
- when sanitizing (no script may run): a PNG picture of the chart, the snapshot
  JupyterLab's renderer saved with the output if there is one, otherwise drawn
  by kaleido (its own headless browser, from PyPI; nothing is downloaded).
"""

import base64
import html
import json
import os
import re

import bleach
import nbformat
from bleach.css_sanitizer import ALLOWED_CSS_PROPERTIES, CSSSanitizer
from nbconvert.preprocessors import Preprocessor
from traitlets import Bool

from fm_model_panel import ModelPanels

PLOTLY_MIME = "application/vnd.plotly.v1+json"
RUN_FACTS_KIND = "fashion-mnist-run-facts"  # lib/run-facts.ts RUN_FACTS_KIND
FAILED_TAG = "fm-failed"  # set by scripts/report.py on the cell a run stopped at
TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")


def plotly_js_path() -> str:
    import plotly

    return os.path.join(os.path.dirname(plotly.__file__), "package_data", "plotly.min.js")


def script_json(value) -> str:
    """JSON that is safe inside a <script> element (no `</script>`, no `<!--`)."""
    return json.dumps(value, separators=(",", ":"), allow_nan=False).replace("<", "\\u003c")


# Defined once, with plotly.js, in the first chart's output; each chart's own
# script calls it. A chart that cannot be drawn says so in place of the chart.
DRAW_JS = """
window.fmDrawPlotly = function (id) {
  var target = document.getElementById(id);
  try {
    if (typeof Plotly === 'undefined') throw new Error('plotly.js did not load');
    var fig = JSON.parse(document.getElementById(id + '-figure').textContent);
    var config = Object.assign({}, fig.config || {}, { responsive: false });
    var picture = target.querySelector('.fm-plotly-picture');
    if (picture) picture.remove();
    Plotly.newPlot(target, fig.data || [], fig.layout || {}, config);
  } catch (err) {
    target.className += ' fm-plotly-error';
    target.textContent = 'This chart could not be drawn: ' + err.message;
  }
};
"""


class ChartRenderer:
    """Draws Plotly figures as PNG with kaleido, started on first use."""

    def __init__(self):
        self._scope = None

    def png(self, fig) -> bytes:
        if self._scope is None:
            from kaleido.scopes.plotly import PlotlyScope

            self._scope = PlotlyScope(plotlyjs=plotly_js_path(), mathjax=False)
        layout = fig.get("layout") or {}
        return self._scope.transform(
            {"data": fig.get("data") or [], "layout": layout}, format="png",
            width=layout.get("width") or 800, height=layout.get("height") or 500,
        )

    def close(self):
        if self._scope is not None:
            self._scope._shutdown_kaleido()
            self._scope = None


def _run_facts(output):
    value = (output.get("data") or {}).get("application/json")
    return value if isinstance(value, dict) and value.get("kind") == RUN_FACTS_KIND else None


def find_run_facts(nb):
    """The run facts the notebook's last cell displays (lib/run-facts.ts), or None."""
    for cell in nb.cells:
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if _run_facts(out):
                return _run_facts(out)
    return None


def _figure(data):
    fig = data[PLOTLY_MIME]
    return json.loads(fig) if isinstance(fig, str) else fig


def _title(fig) -> str:
    title = (fig.get("layout") or {}).get("title")
    text = title.get("text") if isinstance(title, dict) else title
    return re.sub(r"<[^>]*>", "", text) if isinstance(text, str) and text else "chart"


class PlotlyCharts(Preprocessor):
    """Plotly outputs -> interactive <div>s, or PNG pictures when sanitizing; run facts -> the page header."""

    pictures = Bool(False, help="Put a PNG picture of each chart inside its <div>, replaced by the interactive "
                    "chart where scripts run: a page shown without scripts (JupyterLab's HTML viewer until "
                    "'Trust HTML') still shows every chart. Feedback pages set it.").tag(config=True)

    def preprocess(self, nb, resources):
        sanitize = bool(resources.get("should_sanitize_html"))
        renderer = ChartRenderer()
        charts = 0
        facts = None
        try:
            for cell in nb.cells:
                if cell.cell_type != "code":
                    continue
                outputs = []
                for out in cell.get("outputs", []):
                    data = out.get("data") or {}
                    if _run_facts(out):
                        facts = _run_facts(out)  # shown in the page header (and as the cell's Markdown table)
                        continue
                    if PLOTLY_MIME not in data:
                        outputs.append(out)
                        continue
                    fig = _figure(data)
                    charts += 1
                    if sanitize:
                        png = data.get("image/png") or base64.b64encode(renderer.png(fig)).decode("ascii")
                        new = {"image/png": png, "text/plain": _title(fig)}
                    else:
                        picture = self.picture(renderer, fig, data) if self.pictures else None
                        new = {"text/html": self.chart_html(fig, charts, picture)}
                    outputs.append(nbformat.v4.new_output("display_data", data=new))
                cell.outputs = outputs
        finally:
            renderer.close()
        resources["fm_charts"] = charts
        resources["fm_run_facts"] = facts
        return nb, resources

    def picture(self, renderer, fig, data):
        """The chart's PNG (base64): the snapshot saved with it, else drawn by kaleido; None if it cannot be."""
        if data.get("image/png"):
            return data["image/png"]
        try:
            return base64.b64encode(renderer.png(fig)).decode("ascii")
        except Exception as err:  # the interactive chart is still there where scripts run
            self.log.warning("fm_export: no picture of the chart %r: %s", _title(fig), err)
            return None

    @staticmethod
    def chart_html(fig, n: int, picture=None) -> str:
        layout = fig.get("layout") or {}
        style = ""
        if isinstance(layout.get("width"), (int, float)) and isinstance(layout.get("height"), (int, float)):
            style = f' style="width:{int(layout["width"])}px;height:{int(layout["height"])}px"'
        head = ""
        if n == 1:
            with open(plotly_js_path(), encoding="utf-8") as f:
                plotly_js = f.read().replace("</script", "<\\/script")
            head = f"<script>/* plotly.js, embedded once */\n{plotly_js}</script><script>{DRAW_JS}</script>"
        chart_id = f"fm-plotly-{n}"
        inside = ""
        if picture:
            inside = (f'<img class="fm-plotly-picture" alt="{html.escape(_title(fig))}" '
                      f'src="data:image/png;base64,{picture}" style="max-width:100%">')
        return (f'{head}<div class="fm-plotly" id="{chart_id}"{style}>{inside}</div>'
                f'<script type="application/json" id="{chart_id}-figure">{script_json(fig)}</script>'
                f'<script>fmDrawPlotly("{chart_id}")</script>')


# --------------------------------------------------------------------------
# Sanitizing that keeps the page readable
# --------------------------------------------------------------------------

SAFE_TAGS = sorted(set(bleach.ALLOWED_TAGS) | {
    "p", "div", "span", "pre", "code", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6",
    "table", "thead", "tbody", "tfoot", "tr", "th", "td", "caption", "colgroup", "col",
    "img", "figure", "figcaption", "em", "strong", "sub", "sup", "del", "ins", "kbd", "small",
    "details", "summary", "dl", "dt", "dd", "section",
})
# Layout properties on top of bleach's defaults (colours, fonts, sizes): the
# library's image grids are CSS grids. None of them can load anything.
_CSS = CSSSanitizer(allowed_css_properties=set(ALLOWED_CSS_PROPERTIES) | {
    "grid-template-columns", "gap", "margin", "margin-top", "margin-bottom", "margin-left", "margin-right",
    "padding", "padding-top", "padding-bottom", "padding-left", "padding-right", "border", "border-radius",
    "max-width", "min-width", "max-height", "overflow-wrap", "image-rendering", "object-fit",
})
_IMAGE_DATA = re.compile(r"^data:image/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/=\s]*$")


def _allowed_attribute(tag, name, value) -> bool:
    if name in ("class", "id", "title", "style", "align", "role", "aria-label"):
        return True
    if tag == "img":
        if name == "src":
            return bool(_IMAGE_DATA.match(value)) or value.startswith(("https:", "http:"))
        return name in ("alt", "width", "height", "loading")
    if tag == "a":
        return name == "href" and not value.lower().lstrip().startswith("data:") or name == "title"
    if tag in ("td", "th"):
        return name in ("colspan", "rowspan", "scope")
    return False


def clean_html(element) -> str:
    """nbconvert's `clean_html`, with the tags a notebook's text and tables need.

    Scripts, event handlers, forms, iframes and styles that load anything stay
    out; images only as embedded data or plain http(s) links.
    """
    element = element.decode() if isinstance(element, bytes) else str(element)
    return bleach.clean(element, tags=SAFE_TAGS, attributes=_allowed_attribute, css_sanitizer=_CSS,
                        protocols=["http", "https", "mailto", "data"])


# --------------------------------------------------------------------------
# Page header (run facts) and checks on the finished page
# --------------------------------------------------------------------------

def format_seconds(s) -> str:
    try:
        s = float(s)
    except (TypeError, ValueError):
        return "n/a"
    return f"{s:.1f} s" if s < 120 else f"{s:.0f} s ({s / 60:.1f} min)"


def facts_rows(facts):
    """The run facts the header lists, as (label, value) pairs."""
    if not facts:
        return []
    count = lambda key: f'{facts[key]:,}' if isinstance(facts.get(key), int) else "?"  # noqa: E731
    accuracy = facts.get("testAccuracy")
    rows = [
        ("date", facts.get("date", "n/a")),
        ("git commit", facts.get("gitCommit", "n/a")),
        ("Node.js", facts.get("node", "n/a")),
        ("tfjs-node", facts.get("tfjsNode", "n/a")),
        ("TensorFlow (native)", facts.get("tensorflow", "n/a")),
        ("backend", facts.get("backend", "n/a")),
        ("data", f'{count("trainSamples")} training, {count("validationSamples")} validation, '
                 f'{count("testSamples")} test images'),
        ("epochs / batch size", f'{facts.get("epochs", "?")} / {facts.get("batchSize", "?")}'),
        ("training time", format_seconds(facts.get("trainingSeconds"))),
        ("test accuracy", f"{accuracy * 100:.2f}%" if isinstance(accuracy, (int, float)) else "n/a"),
    ]
    rows += [(f"SHA-256 {name}", value) for name, value in (facts.get("datasetSha256") or {}).items()]
    return rows


def header_html(resources) -> str:
    """The header block of the page: run facts, the run's status, extra rows from the caller."""
    rows = facts_rows(resources.get("fm_run_facts")) + list(resources.get("fm_extra_rows") or [])
    status = resources.get("fm_status_html")
    if not rows and not status:
        return ""
    e = html.escape
    body = "".join(f"<tr><th>{e(str(k))}</th><td>{e(str(v))}</td></tr>" for k, v in rows)
    title = e(resources.get("fm_title") or "Fashion-MNIST CNN in TypeScript: run facts")
    return (f'<header class="fm-report-header"><h1>{title}</h1>'
            f'{"<p>" + status + "</p>" if status else ""}<table>{body}</table></header>')


REMOTE_PATTERNS = [
    (re.compile(r"<script\b[^>]*\bsrc\s*=", re.I), "a <script src=...>"),
    (re.compile(r"<link\b[^>]*\bhref\s*=\s*[\"']?(?:https?:)?//", re.I), "a remote <link href=...>"),
    (re.compile(r"<(?:img|iframe|source|video|audio|embed)\b[^>]*\bsrc\s*=\s*[\"']?(?:https?:)?//", re.I), "a remote src"),
    (re.compile(r"@import\b", re.I), "a CSS @import"),
    (re.compile(r"url\(\s*[\"']?(?:https?:)?//", re.I), "a remote CSS url()"),
    (re.compile(r"<script\b[^>]*\btype\s*=\s*[\"']?module", re.I), "an ES module script (may import remote code)"),
]


def remote_references(text: str):
    """Places in an HTML page that would load something from the network."""
    found = []
    for pattern, what in REMOTE_PATTERNS:
        for m in pattern.finditer(text):
            found.append(f"{what} at offset {m.start()}: {text[m.start(): m.start() + 120]!r}")
    return found


# --------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------

def _common(c):
    c.HTMLExporter.preprocessors = [PlotlyCharts, ModelPanels]
    c.HTMLExporter.filters = {"clean_html": clean_html, "fm_header": header_html}


def configure(c):
    """For nbconvert and the Jupyter server: charts, a readable sanitized page, no CDN (template fm-lab)."""
    _common(c)
    c.HTMLExporter.template_name = "fm-lab"
    c.HTMLExporter.extra_template_basedirs = [TEMPLATES]


# Feedback pages (nbgrader's classic page): no "In [ ]:" prompts (graded cells
# have no count), and tables whose numbers do not run together.
FEEDBACK_STYLE = """<style>
div.prompt, div.input_prompt, div.output_prompt { display: none !important; }
div.output_html table, div.rendered_html table { border-collapse: collapse; margin: 0.5em 0; }
div.output_html th, div.output_html td, div.rendered_html th, div.rendered_html td {
  padding: 0.25em 0.75em; border-bottom: 1px solid #ddd; text-align: right; }
div.output_html th, div.rendered_html th { font-weight: bold; }
</style>"""


def feedback_style(_=None) -> str:
    """The feedback pages' own CSS (FEEDBACK_STYLE): a filter their `mathjax` macro calls."""
    return FEEDBACK_STYLE


def configure_feedback(c):
    """For nbgrader (feedback pages): nbgrader's own feedback page, which shows the scores.

    Template fm-feedback is that page with one file added: a `mathjax` macro
    that loads nothing (nbgrader's loads MathJax from a CDN) and adds the
    page's own CSS (FEEDBACK_STYLE). The Formgrader's Generate Feedback uses
    nbgrader's template name, `feedback`: jupyter/hub/templates/feedback gives
    it the same macro when its folder comes first (scripts/setup-hub.sh,
    scripts/setup-lab-grading.sh). Charts carry a picture (PlotlyCharts.pictures).
    """
    import nbgrader

    _common(c)
    c.HTMLExporter.filters = dict(c.HTMLExporter.filters, fm_feedback_style=feedback_style)
    c.PlotlyCharts.pictures = True
    c.HTMLExporter.template_name = "fm-feedback"
    c.HTMLExporter.extra_template_basedirs = [
        TEMPLATES, os.path.join(os.path.dirname(nbgrader.__file__), "server_extensions", "formgrader", "templates")]
