#!/usr/bin/env bash
# The class hub's own set-up (run by scripts/hub.sh before it starts the hub;
# idempotent, each step skipped while its inputs are unchanged):
#   1. .cache/hub/venv: JupyterHub, JupyterLab, nbgrader, nbconvert, plotly from PyPI
#      (jupyter/hub/requirements.txt) in a venv made from the system's Python.
#      Students' and the instructor's servers run from it as their own Unix
#      users, so it cannot be the project's .venv when that one comes from a
#      Python under a private home (a pyenv build under /root, mode 700).
#   2. the tslab kernel registered in .cache/hub/venv, and its Jupyter configuration:
#      the HTML export (fm_export), nbgrader's Lab extensions graded with the
#      course's configuration (fm_grading), no "Jupyter news" question;
#   3. configurable-http-proxy, JupyterHub's proxy, from npm into .cache/hub/proxy;
#   4. a check that another user can run all of it (Python, Node, tslab).
#
#   bash scripts/setup-hub.sh         HUB_PYTHON=/path/to/python3 to use another Python (3.11+)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
HUB_PYTHON=${HUB_PYTHON:-/usr/bin/python3}
VENV=.cache/hub/venv
PROXY_VERSION=5.3.0
source scripts/stamps.sh

log() { echo "[setup-hub] $*" >&2; }
die() { echo "setup-hub: $*" >&2; exit 1; }

command -v node >/dev/null ||
  die "no node on PATH (run through \`npm run hub\`, or put scripts/node-version.sh 24's folder first)"
[ -x node_modules/.bin/tslab ] || die "node_modules is not set up: run \`npm run setup\` first"

# --- 1. .cache/hub/venv ---------------------------------------------------------------
if ! stamp_ok hub-venv jupyter/hub/requirements.txt || [ ! -x "$VENV/bin/jupyterhub" ]; then
  "$HUB_PYTHON" -c 'import sys, venv; sys.exit(sys.version_info < (3, 11))' 2>/dev/null ||
    die "$HUB_PYTHON is missing, older than 3.11 or has no venv module (Debian: apt-get install python3-venv);" \
      "set HUB_PYTHON"
  log "creating $VENV (JupyterHub, JupyterLab, nbgrader) from $HUB_PYTHON"
  [ -x "$VENV/bin/python" ] || "$HUB_PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r jupyter/hub/requirements.txt
  rm -f "$STAMPS/hub-kernel"
  stamp_set hub-venv jupyter/hub/requirements.txt
fi

# --- 2. the kernel and the Jupyter configuration ---------------------------------
if ! stamp_ok hub-kernel package-lock.json || [ ! -f "$VENV/share/jupyter/kernels/tslab/kernel.json" ]; then
  log "registering the tslab kernel in $VENV"
  node_modules/.bin/tslab install --python="$VENV/bin/python" --prefix="$ROOT/$VENV" \
    --binary="$ROOT/node_modules/.bin/tslab" >&2
  stamp_set hub-kernel package-lock.json
fi
# Kernels on Unix sockets (fm_hub_server.private_kernels): tslab through the wrapper that binds the
# addresses jupyter_client gives an ipc kernel, with this Node.
"$VENV/bin/python" scripts/kernel_spec.py "$VENV/share/jupyter/kernels/tslab/kernel.json" --ipc "$(command -v node)" "$ROOT/jupyter/tslab-ipc-kernel.js"
py_str() { "$VENV/bin/python" -c 'import sys; print(repr(sys.argv[1]))' "$1"; }
jupyter_dir=$(py_str "$ROOT/jupyter")
write_if_changed() { # FILE CONTENT
  mkdir -p "$(dirname "$1")"
  [ "$(cat "$1" 2>/dev/null)" = "$2" ] || printf '%s\n' "$2" > "$1"
}
hub_dir=$(py_str "$ROOT/jupyter/hub")
write_if_changed "$VENV/etc/jupyter/jupyter_nbconvert_config.py" "$(printf '%s\n' \
  "# Written by fashion-mnist-cnn-ts's scripts/setup-hub.sh: charts survive HTML export." \
  "import sys" \
  "sys.path.insert(0, $jupyter_dir)" \
  "import fm_export" \
  "fm_export.configure(get_config())")"
# The server: the same export, a stop from the hub (SIGINT) shuts the user's kernels down, and what the
# submission checks decide is shown in the Assignments tab and kept by the Formgrader (fm_hub_server).
write_if_changed "$VENV/etc/jupyter/jupyter_server_config.py" "$(printf '%s\n' \
  "# Written by fashion-mnist-cnn-ts's scripts/setup-hub.sh: charts survive HTML export; a stop shuts kernels down." \
  "import sys" \
  "sys.path.insert(0, $jupyter_dir)" \
  "sys.path.insert(0, $hub_dir)" \
  "import fm_export" \
  "fm_export.configure(get_config())" \
  "import fm_hub_server" \
  "fm_hub_server.stop_cleanly_on_sigint()" \
  "fm_hub_server.private_kernels(get_config())" \
  "fm_hub_server.terminal_path(get_config())" \
  "fm_hub_server.show_submission_checks()")"
# nbgrader in every hub user's Lab: the course's configuration and the tslab adaptation
# (the instructor's course from FM_COURSE_DIR, the exchange from FM_NBGRADER_EXCHANGE: both set by the hub),
# and the class's submission checks: unreadable notebooks refused, deadlines published (fm_exchange).
write_if_changed "$VENV/etc/jupyter/nbgrader_config.py" "$(printf '%s\n' \
  "# Written by fashion-mnist-cnn-ts's scripts/setup-hub.sh: do not edit (see jupyter/fm_grading.py)." \
  "import sys" \
  "sys.path.insert(0, $jupyter_dir)" \
  "import fm_export" \
  "fm_export.configure_feedback(get_config())" \
  "import fm_grading" \
  "fm_grading.configure(get_config(), $(py_str "$ROOT"))" \
  "sys.path.insert(0, $hub_dir)" \
  "import fm_exchange" \
  "fm_exchange.configure(get_config())" \
  "# The Formgrader's Generate Feedback button uses nbgrader's own template name: no CDN there either." \
  "c = get_config()" \
  "c.HTMLExporter.extra_template_basedirs = [$(py_str "$ROOT/jupyter/hub/templates")] + \\" \
  "    list(c.HTMLExporter.extra_template_basedirs)")"
# Lab's defaults for every hub user: no news or update checks (no request off the machine).
write_if_changed "$VENV/share/jupyter/lab/settings/overrides.json" \
  '{"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": false}}'

# --- 3. configurable-http-proxy ----------------------------------------------------
proxy=.cache/hub/proxy/node_modules/.bin/configurable-http-proxy
if [ ! -x "$proxy" ] || [ "$(cat .cache/hub/proxy/version 2>/dev/null)" != "$PROXY_VERSION" ]; then
  log "installing configurable-http-proxy $PROXY_VERSION from npm"
  rm -rf .cache/hub/proxy && mkdir -p .cache/hub/proxy
  npm install --prefix .cache/hub/proxy --no-save --no-audit --no-fund --no-package-lock \
    "configurable-http-proxy@$PROXY_VERSION" >&2
  echo "$PROXY_VERSION" > .cache/hub/proxy/version
fi

# --- 4. usable by other users -------------------------------------------------------
# Every class user runs .cache/hub/venv's Python, Node and tslab from this checkout.
if [ "$(id -u)" = 0 ] && command -v runuser >/dev/null; then
  node_bin=$(dirname "$(command -v node)")
  if ! out=$(runuser -u nobody -- env -i PATH="$ROOT/$VENV/bin:$node_bin:/usr/bin:/bin" HOME=/tmp \
      sh -c "cd /; python -c 'import jupyterhub, nbgrader, jupyterlab' && node --version &&
             test -r '$ROOT/node_modules/tslab/package.json'" 2>&1); then
    die "another user cannot run the hub's environment from $ROOT (every folder above $VENV, $node_bin and" \
      "node_modules must be readable and searchable by all: chmod o+rx): $out"
  fi
fi
