#!/usr/bin/env bash
# JupyterLab from the project's .venv (with the tslab kernel), on the notebooks.
set -euo pipefail
cd "$(dirname "$0")/.."
# Jupyter refuses to start as root without this (containers, classroom VMs).
root_flag=()
[ "$(id -u)" = 0 ] && root_flag=(--allow-root)
exec .venv/bin/jupyter lab --ip=127.0.0.1 --notebook-dir=notebooks "${root_flag[@]}" "$@"
