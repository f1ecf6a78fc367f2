#!/usr/bin/env bash
# A class on JupyterHub on this machine (run as root): a real JupyterHub behind
# configurable-http-proxy on 127.0.0.1, a Unix user per roster line, JupyterLab
# with the tslab kernel for each, nbgrader's exchange, the Formgrader for the
# instructors. Everything is jupyter/hub/fm_hub.py (run with the system's
# Python, checked before anything is created) and jupyter/hub/jupyterhub_config.py.
#
#   npm run hub -- --roster FILE [--port P] [--ip ADDR] [--state DIR]
#   npm run hub -- --teardown [--state DIR]
#   npm run hub -- --help
set -euo pipefail
export INIT_CWD=${INIT_CWD:-$PWD}
cd "$(dirname "$0")/.."
HUB_PYTHON=${HUB_PYTHON:-/usr/bin/python3}
if [ ! -x "$HUB_PYTHON" ]; then
  echo "hub: $HUB_PYTHON is missing: install Python 3.11+ (Debian: python3, python3-venv) or set HUB_PYTHON" >&2
  exit 1
fi
# Node for the proxy, tslab and the dataset download: the one on PATH (22, 24 or 26 as setup checks).
if command -v node >/dev/null; then
  export FM_HUB_NODE_BIN=${FM_HUB_NODE_BIN:-$(dirname "$(command -v node)")}
fi
exec "$HUB_PYTHON" jupyter/hub/fm_hub.py "$@"
