"""Loaded by every hub user's Jupyter server (.cache/hub/venv/etc/jupyter/jupyter_server_config.py,
written by scripts/setup-hub.sh).

JupyterHub stops a server (the hub stopping, "Stop My Server", the admin page)
by sending it SIGINT. jupyter_server only handles SIGINT when its stdin is a
terminal, which a spawned server's is not: Python's default KeyboardInterrupt
then ends the server without shutting its kernels down, and tslab kernels (no
parent-process watch, unlike ipykernel's) keep running, each holding up to a
gigabyte with TensorFlow loaded. Here SIGINT stops the server the way SIGTERM
does: kernels and terminals are shut down first.

``private_kernels(c)``: kernels on the default TCP transport listen on
127.0.0.1, where any user of the machine can subscribe to a kernel's output
socket (message signing authenticates messages, it does not hide them). Here
they talk over Unix sockets in the user's own runtime folder (mode 700, set
by the hub), which no other user can open; tslab is started through
jupyter/tslab-ipc-kernel.js, which binds the addresses jupyter_client expects.

``terminal_path(c)``: a Lab terminal is a login shell by default, and
/etc/profile puts the system's PATH back (Node 20 and no nbgrader, here).
Terminals start an interactive shell whose rc file (jupyter/hub/terminal_rc.sh)
keeps the PATH the server runs with: the kernel's Node and the hub's Python
with nbgrader, as the commands in docs/running-a-class.md expect.
"""

import os
import signal


def _stop(sig, frame):
    from jupyter_server.serverapp import ServerApp

    if ServerApp.initialized():
        ServerApp.instance().stop(from_signal=True)
    else:
        raise KeyboardInterrupt


def stop_cleanly_on_sigint() -> None:
    signal.signal(signal.SIGINT, _stop)


def private_kernels(c) -> None:
    c.KernelManager.transport = "ipc"


def terminal_path(c) -> None:
    os.environ["FM_SERVER_PATH"] = os.environ.get("PATH", "")
    rc = os.path.join(os.path.dirname(os.path.abspath(__file__)), "terminal_rc.sh")
    c.ServerApp.terminado_settings = {"shell_command": ["/bin/bash", "--rcfile", rc, "-i"]}


def _refusal(traceback_text: str) -> str:
    """The message of an ExchangeError at the end of a traceback (the part a student should read), else all of it."""
    marker = "ExchangeError: "
    at = traceback_text.rfind(marker)
    return traceback_text[at + len(marker):].strip() if at >= 0 else traceback_text


def _exchange_root(config) -> str:
    root = config.Exchange.root  # an empty Config when unset
    return root if isinstance(root, str) and root else os.environ.get("FM_NBGRADER_EXCHANGE", "")


def show_submission_checks() -> None:
    """What fm_exchange.py decides, shown where students and the instructor look (see fm_exchange's docstring).

    - Submit: a refused submission's dialog says why in plain words, not as a Python traceback.
    - The list of submissions: each one after the published deadline says how late it was.
    - The Formgrader: saving a new due date for an already released assignment publishes it again.
    """
    import fm_exchange
    from nbgrader.server_extensions.assignment_list.handlers import AssignmentList
    from nbgrader.server_extensions.formgrader.apihandlers import AssignmentHandler

    submit = AssignmentList.submit_assignment

    def submit_assignment(self, course_id, assignment_id):
        result = submit(self, course_id, assignment_id)
        if not result.get("success"):
            result["value"] = _refusal(result.get("value", ""))
        return result

    listed = AssignmentList.list_submitted_assignments

    def list_submitted_assignments(self, course_id=None):
        result = listed(self, course_id)
        if result.get("success"):
            with self.get_assignment_dir_config() as config:
                root = _exchange_root(config)
            for assignment in result["value"]:
                due = fm_exchange.published_deadline(root, assignment["course_id"], assignment["assignment_id"])
                for submission in assignment["submissions"]:
                    note = fm_exchange.late_note(submission["timestamp"], due)
                    if note:  # (only shown: the timestamp goes nowhere else from here)
                        submission["timestamp"] = "%s (%s)" % (submission["timestamp"], note)
        return result

    put = AssignmentHandler.put

    def put_and_publish(self, assignment_id):
        put(self, assignment_id)
        course, name = self.coursedir.course_id, assignment_id.strip()
        root = _exchange_root(self.coursedir.parent.config)
        if root and os.path.isdir(os.path.join(root, course, "outbound", name)):
            due = fm_exchange.gradebook_due_date(self.coursedir.db_url, course, name)
            fm_exchange.publish_deadline(root, course, name, due)

    AssignmentList.submit_assignment = submit_assignment
    AssignmentList.list_submitted_assignments = list_submitted_assignments
    AssignmentHandler.put = put_and_publish
