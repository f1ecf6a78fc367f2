"""Loaded by every hub user's Jupyter server (.cache/hub/venv/etc/jupyter/jupyter_server_config.py,
written by scripts/setup-hub.sh).

JupyterHub stops a server (the hub stopping, "Stop My Server", the admin page)
by sending it SIGINT. jupyter_server only handles SIGINT when its stdin is a
terminal, which a spawned server's is not: Python's default KeyboardInterrupt
then ends the server without shutting its kernels down, and tslab kernels (no
parent-process watch, unlike ipykernel's) keep running, each holding up to a
gigabyte with TensorFlow loaded. Here SIGINT stops the server the way SIGTERM
does: kernels and terminals are shut down first.
"""

import signal


def _stop(sig, frame):
    from jupyter_server.serverapp import ServerApp

    if ServerApp.initialized():
        ServerApp.instance().stop(from_signal=True)
    else:
        raise KeyboardInterrupt


def stop_cleanly_on_sigint() -> None:
    signal.signal(signal.SIGINT, _stop)
