#!/usr/bin/env bash
# One-time, idempotent setup. `npm start`, `npm test`, `npm run lab` and the
# other entry points run it first; once everything is in place it does no work
# (well under a second).
#
# Steps (each skipped while its stamp matches the hash of its inputs):
#   0. a supported Node.js (22, 24 or 26) and Python (3.11+)
#   1. node_modules from package-lock.json (install scripts off: see step 2),
#      with the library lib/ linked as the workspace package fashion-mnist-lib
#   2. libtensorflow from the tensorflow-cpu wheel on PyPI, the tfjs-node
#      addon built from source, the library's graph-step addon
#      (lib/native/) and tfjs-node fixed for Node 23+ and a quiet start-up
#      (any import of it works): the library's own `fashion-mnist-setup`
#      (lib/bin/setup-native.sh), the same step users of the package run
#   3. a project-local Python environment (.venv) with JupyterLab, nbclient,
#      nbconvert, plotly and nbgrader, pinned in requirements.txt
#   4. the tslab kernel, registered inside .venv only, and the HTML export
#      (jupyter/fm_export) enabled in .venv's Jupyter configuration
#   5. TypeScript compiled: lib/ to lib/dist (the package), the rest to build/
# Chromium, for the browser tests only, is installed by scripts/setup-browser.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

PYTHON=${PYTHON:-python3}
source scripts/stamps.sh

log() { echo "[setup] $*" >&2; }
die() { echo "setup: $*" >&2; exit 1; }

# --- 0. Node.js and Python versions -------------------------------------------
node_version=$(node --version 2>/dev/null) || die "Node.js is not installed: install Node.js 22, 24 or 26."
node_major=${node_version#v}; node_major=${node_major%%.*}
if [ "$node_major" -lt 22 ]; then
  die "Node.js $node_version is not supported (Node 20 and older are end of life). Install Node.js 22, 24 or 26
  (nodejs.org, your package manager, or \`conda env create -f environment.yml\`), or take one from the npm registry:
    export PATH=\"\$($ROOT/scripts/node-version.sh 24):\$PATH\"
  then run the command again."
fi
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null ||
  die "$PYTHON is missing or older than 3.11 (JupyterLab's pinned packages need 3.11+): set PYTHON=/path/to/python3.11+"

# --- 1. npm packages ---------------------------------------------------------
# --ignore-scripts: tfjs-node's install script downloads libtensorflow and a
# prebuilt addon from Google's storage; step 2 provides both instead, so one
# path works with or without access to that host. zeromq (tslab's transport)
# ships its prebuilt addon inside the npm package.
if ! stamp_ok npm package-lock.json package.json lib/package.json || [ ! -d node_modules/@tensorflow/tfjs-node ]; then
  log "installing npm packages from package-lock.json"
  npm install --ignore-scripts --no-save --no-audit --no-fund
  stamp_set npm package-lock.json package.json lib/package.json
fi

# --- 2. libtensorflow, the tfjs-node addon, the graph-step addon ----------------
# The check for "already done" is two file tests and the graph-step addon's
# stamp (its sources' hash, as setup-native.sh writes it; a failed build
# counts as done), so it runs every time: if npm reinstalled tfjs-node, its
# deps/ and addons are back to nothing.
# The same holds for its fix of tfjs-node itself (dist/fm_compat.js: Node 23+,
# TensorFlow's start-up log), stamped with its sources' hash.
graph_hash=$(cat lib/native/graph_step.cc lib/native/binding.gyp | sha256sum | cut -d' ' -f1)
compat_hash=$(cat lib/native/tfjs-compat.js lib/native/quiet_stderr.c | sha256sum | cut -d' ' -f1)
if [ ! -f node_modules/@tensorflow/tfjs-node/deps/fm-tensorflow-version ] ||
   ! ls node_modules/@tensorflow/tfjs-node/lib/napi-v*/tfjs_binding.node >/dev/null 2>&1 ||
   [ "$(cut -d' ' -f1 node_modules/@tensorflow/tfjs-node/lib/fm-graph-step/stamp 2>/dev/null)" != "$graph_hash" ] ||
   [ "$(cat node_modules/@tensorflow/tfjs-node/lib/fm-quiet/stamp 2>/dev/null)" != "$compat_hash" ] ||
   ! grep -q fm_compat node_modules/@tensorflow/tfjs-node/dist/index.js; then
  FMNIST_WHEEL_DIR="$ROOT/.cache/wheels" PYTHON="$PYTHON" lib/bin/setup-native.sh
fi

# --- 3. Python environment for Jupyter ---------------------------------------
if ! stamp_ok venv requirements.txt || [ ! -x .venv/bin/python ]; then
  log "creating .venv with JupyterLab, nbclient, nbconvert, plotly (requirements.txt)"
  [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
  rm -f "$STAMPS/kernel"
  stamp_set venv requirements.txt
fi

# --- 4. the tslab kernel, inside .venv only ----------------------------------
kernel_dir=.venv/share/jupyter/kernels/tslab
if ! stamp_ok kernel package-lock.json || [ ! -f "$kernel_dir/kernel.json" ]; then
  log "registering the tslab kernel in .venv"
  node_modules/.bin/tslab install --python=.venv/bin/python --prefix="$ROOT/.venv" \
    --binary="$ROOT/node_modules/.bin/tslab" >&2
  stamp_set kernel package-lock.json
fi
.venv/bin/python scripts/kernel_spec.py "$kernel_dir/kernel.json"

# The HTML export (jupyter/fm_export.py) in .venv's Jupyter configuration,
# for `jupyter nbconvert`, the server behind JupyterLab's File > Save and
# Export Notebook As menu, and nbgrader's feedback pages (any course run with
# this environment). Rewritten only when it differs.
mkdir -p .venv/etc/jupyter
export_dir=$(.venv/bin/python -c 'import sys; print(repr(sys.argv[1]))' "$ROOT/jupyter")
for conf in nbconvert:configure server:configure; do
  file=.venv/etc/jupyter/jupyter_${conf%%:*}_config.py
  want=$(printf '%s\n' \
    "# Written by fashion-mnist-cnn-ts's scripts/setup.sh: charts survive HTML export." \
    "import sys" \
    "sys.path.insert(0, $export_dir)" \
    "import fm_export" \
    "fm_export.${conf#*:}(get_config())")
  [ "$(cat "$file" 2>/dev/null)" = "$want" ] || printf '%s\n' "$want" > "$file"
done
# nbgrader_config.py: feedback export, and the course's grading in JupyterLab (Validate, Formgrader, Assignment List)
bash scripts/setup-lab-grading.sh

# Notebooks: git compares them without outputs (scripts/nbclean.py, named in
# .gitattributes), so running one in Lab leaves `git status` clean.
if git rev-parse --is-inside-work-tree >/dev/null 2>&1 &&
   [ "$(git config --local filter.nbclean.clean || true)" != "python3 scripts/nbclean.py" ]; then
  git config --local filter.nbclean.clean "python3 scripts/nbclean.py"
fi

# --- 5. compile TypeScript ----------------------------------------------------
# lib/ -> lib/dist (the package notebooks import by name), then tests, scripts
# and benchmarks -> build/. tsc -b checks every file's time stamp even when
# nothing changed (a few seconds), so it runs only when a source changed.
sources=$(find lib scripts test bench -name '*.ts' -not -path '*/dist/*' -not -path '*/node_modules/*' | sort)
if ! stamp_ok tsc $sources tsconfig.json tsconfig.base.json lib/tsconfig.json ||
   [ ! -f lib/dist/index.js ] || [ ! -d build/test ]; then
  log "compiling TypeScript (lib/ -> lib/dist, the rest -> build/)"
  node_modules/.bin/tsc -b tsconfig.json
  stamp_set tsc $sources tsconfig.json tsconfig.base.json lib/tsconfig.json
fi
