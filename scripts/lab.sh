#!/usr/bin/env bash
# JupyterLab from the project's .venv (with the tslab kernel), rooted at the
# project so notebooks/ and exercises/ are both reachable, opening the main
# notebook. Any Jupyter option can follow `npm run lab --`; a root folder of
# your own (--notebook-dir DIR, --ServerApp.root_dir=DIR, ...) replaces the
# default, and a relative one is taken from where you typed the command.
set -euo pipefail
here=${INIT_CWD:-$PWD}
cd "$(dirname "$0")/.."
root=$PWD
absolute() { case "$1" in /*) echo "$1" ;; *) echo "$here/$1" ;; esac; }
root_flag='^--(notebook-dir|root-dir|ServerApp\.root_dir|ServerApp\.notebook_dir)$'
args=() own_root=
while [ $# -gt 0 ]; do
  a=$1; shift
  if [[ "$a" == *=* && "${a%%=*}" =~ $root_flag ]]; then
    own_root=$(absolute "${a#*=}"); args+=("--ServerApp.root_dir=$own_root")
  elif [[ "$a" =~ $root_flag ]] && [ $# -gt 0 ]; then
    own_root=$(absolute "$1"); shift; args+=("--ServerApp.root_dir=$own_root")
  else
    args+=("$a")
  fi
done
if [ -z "$own_root" ]; then
  args=("--ServerApp.root_dir=$root" "--LabApp.default_url=/lab/tree/notebooks/fashion-mnist-cnn.ipynb" "${args[@]}")
fi
# nbgrader runs some of its tools by name (alembic, when the Formgrader makes a course's first gradebook).
export PATH="$root/.venv/bin:$PATH"
# Jupyter refuses to start as root without this (containers, classroom VMs).
[ "$(id -u)" = 0 ] && args=(--allow-root "${args[@]}")
# The server works in its root: nbgrader's Assignment List fetches into the server's working folder.
[ -z "$own_root" ] || cd "$own_root"
exec "$root/.venv/bin/jupyter" lab --ip=127.0.0.1 "${args[@]}"
