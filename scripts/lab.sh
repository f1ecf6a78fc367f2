#!/usr/bin/env bash
# JupyterLab from the project's .venv (with the tslab kernel), on the notebooks.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/jupyter lab --ip=127.0.0.1 --notebook-dir=notebooks "$@"
