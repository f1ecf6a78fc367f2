"""The model panel (lib/display/model-panel.ts) in HTML exports.

Each panel output carries TensorFlow.js's browser build so it works on its own
in JupyterLab; a page needs it once. `ModelPanels` (enabled by fm_export's
configuration, so in every export path: Lab's menu, nbconvert, `npm run report`,
nbgrader feedback) keeps the first copy and drops the others (the later panels
use the first one's `tf`). When sanitizing, no script may run: the panel
becomes a short note saying where to try the model.
"""

import re

from nbconvert.preprocessors import Preprocessor

MARKER = 'data-fm-model-panel="1"'
RUNTIME = re.compile(r'<script data-fm-tfjs="[^"]*">[\s\S]*?</script>')
NOTE = ('<p class="fm-model-panel-note"><em>Interactive model panel (the trained network run in the page by '
        'TensorFlow.js) left out: this page was exported with &ldquo;Sanitize HTML output&rdquo;, which allows no '
        'script. Export without sanitizing, or run the notebook in JupyterLab, to try the model.</em></p>')


def without_runtime(text: str) -> str:
    """The page without the embedded TensorFlow.js runtime (for scans of what a page loads)."""
    return RUNTIME.sub("", text)


def _html(data):
    value = data.get("text/html")
    return "".join(value) if isinstance(value, list) else value


class ModelPanels(Preprocessor):
    """Model panels: TensorFlow.js once per page; a note in their place when sanitizing."""

    def preprocess(self, nb, resources):
        sanitize = bool(resources.get("should_sanitize_html"))
        panels = 0
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            for out in cell.get("outputs", []):
                data = out.get("data") or {}
                html = _html(data)
                if not isinstance(html, str) or MARKER not in html:
                    continue
                if sanitize:
                    out["data"] = {"text/html": NOTE, "text/plain": "Interactive model panel (needs a script)"}
                elif panels > 0:
                    data["text/html"] = RUNTIME.sub("", html)
                panels += 1
        resources["fm_model_panels"] = panels
        return nb, resources
