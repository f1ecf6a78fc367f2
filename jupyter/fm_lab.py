"""A landing address for `npm run course-lab` (a Jupyter server extension, enabled by scripts/course-lab.sh).

course-lab opens JupyterLab with the Formgrader open (``/lab?formgrader=true``).
Given as the server's default URL, that address came out of Jupyter's startup
message as ``/lab?formgrader=true?token=...``: Jupyter adds ``?token=`` to the
default URL as if it had no query, so the printed address did not log in.
``/fm/formgrader`` has no query: it logs in with the token like any page and
sends the browser on to Lab with the Formgrader.
"""

from jupyter_server.base.handlers import JupyterHandler
from tornado import web


class FormgraderLanding(JupyterHandler):
    @web.authenticated
    def get(self):
        self.redirect(self.base_url + "lab?formgrader=true")


def _jupyter_server_extension_points():
    return [{"module": "fm_lab"}]


def _load_jupyter_server_extension(serverapp):
    serverapp.web_app.add_handlers(".*$", [(serverapp.base_url.rstrip("/") + "/fm/formgrader", FormgraderLanding)])
