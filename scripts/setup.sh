#!/usr/bin/env bash
# One-time, idempotent setup. `npm start`, `npm test`, `npm run lab` and the
# other entry points run it first; once everything is in place it does no work.
#
# Steps (each skipped while its stamp matches the hash of its inputs):
#   1. node_modules from package-lock.json (install scripts off: see step 2/3)
#   2. libtensorflow for @tensorflow/tfjs-node, taken from the tensorflow-cpu
#      wheel on PyPI instead of Google's storage bucket
#   3. the tfjs-node native addon, built from source against that library
#   4. a project-local Python environment (.venv) with JupyterLab, nbclient,
#      nbconvert and plotly, pinned in requirements.txt
#   5. the tslab kernel, registered inside .venv only
#   6. lib/, test/ and scripts/ compiled to build/, and build/lib linked as the
#      package `fashion-mnist-lib` that notebooks import
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

TF_VERSION=2.21.0
PYTHON=${PYTHON:-python3}
STAMPS=.cache/stamps
TFJS=node_modules/@tensorflow/tfjs-node
mkdir -p "$STAMPS"

log() { echo "[setup] $*" >&2; }

# stamp_ok NAME INPUT...: true when step NAME already ran with these inputs.
hash_of() { cat "$@" | sha256sum | cut -d' ' -f1; }
stamp_ok() { local name=$1; shift; [ -f "$STAMPS/$name" ] && [ "$(cat "$STAMPS/$name")" = "$(hash_of "$@")" ]; }
stamp_set() { local name=$1; shift; hash_of "$@" > "$STAMPS/$name"; }

# --- 1. npm packages ---------------------------------------------------------
# --ignore-scripts: tfjs-node's install script downloads libtensorflow and a
# prebuilt addon from Google's storage; steps 2 and 3 provide both instead, so
# one path works with or without access to that host. zeromq (tslab's
# transport) ships its prebuilt addon inside the npm package.
if ! stamp_ok npm package-lock.json || [ ! -d node_modules ]; then
  # `npm install --no-save` rather than `npm ci`: nodejs-polars lists optional
  # platform packages that the registry does not serve for every platform, and
  # npm ci rejects a lock file without them. The lock file still pins versions.
  log "installing npm packages from package-lock.json"
  npm install --ignore-scripts --no-save --no-audit --no-fund
  stamp_set npm package-lock.json
fi

# --- 2. libtensorflow from the PyPI wheel ------------------------------------
# The tensorflow-cpu wheel carries the C API (libtensorflow_cc.so.2), the
# framework library and the C headers. tfjs-node links -ltensorflow and
# -ltensorflow_framework from deps/lib; its install script treats
# deps/lib/libtensorflow.so.2.9.1 as "already downloaded".
echo "$TF_VERSION" > .cache/tf-version
# (If npm reinstalls tfjs-node, deps/ and the addon vanish with it, and the
# file checks below redo steps 2 and 3.)
if ! stamp_ok tflib .cache/tf-version || [ ! -e "$TFJS/deps/lib/libtensorflow_cc.so.2" ]; then
  wheel_dir=.cache/wheels
  wheel=$(ls "$wheel_dir"/tensorflow_cpu-"$TF_VERSION"-*.whl 2>/dev/null | head -n1 || true)
  if [ -z "$wheel" ]; then
    log "downloading tensorflow-cpu $TF_VERSION wheel from PyPI (~270 MB, once)"
    # The C library does not depend on the Python version; pin the wheel tags
    # so every machine fetches the same file.
    "$PYTHON" -m pip download --no-deps --only-binary=:all: --python-version 3.11 \
      --platform manylinux_2_27_x86_64 -d "$wheel_dir" "tensorflow-cpu==$TF_VERSION"
    wheel=$(ls "$wheel_dir"/tensorflow_cpu-"$TF_VERSION"-*.whl | head -n1)
  fi
  log "extracting libtensorflow and headers from $(basename "$wheel")"
  tmp=$(mktemp -d "$ROOT/.cache/tflib.XXXXXX")
  unzip -q "$wheel" 'tensorflow/libtensorflow_cc.so.2' 'tensorflow/libtensorflow_framework.so.2' \
    'tensorflow/include/*' -d "$tmp"
  mkdir -p "$tmp/deps/lib"
  mv "$tmp/tensorflow/include" "$tmp/deps/include"
  mv "$tmp/tensorflow/libtensorflow_cc.so.2" "$tmp/tensorflow/libtensorflow_framework.so.2" "$tmp/deps/lib/"
  (cd "$tmp/deps/lib" &&
    ln -s libtensorflow_cc.so.2 libtensorflow.so &&
    ln -s libtensorflow_cc.so.2 libtensorflow.so.2 &&
    ln -s libtensorflow_cc.so.2 libtensorflow.so.2.9.1 &&
    ln -s libtensorflow_framework.so.2 libtensorflow_framework.so)
  rm -rf "$TFJS/deps"
  mv "$tmp/deps" "$TFJS/deps"
  rm -rf "$tmp"
  rm -f "$STAMPS/addon"
  stamp_set tflib .cache/tf-version
fi

# --- 3. the tfjs-node addon --------------------------------------------------
# Built from source with node-gyp against the local Node headers (nodedir), so
# nothing is downloaded.
node_headers=$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")
addon=$(ls "$TFJS"/lib/napi-v*/tfjs_binding.node 2>/dev/null | head -n1 || true)
if ! stamp_ok addon .cache/tf-version "$TFJS/package.json" || [ -z "$addon" ]; then
  log "building the tfjs-node addon against TensorFlow $TF_VERSION (about 20 s)"
  (cd "$TFJS" && npm_config_nodedir="$node_headers" npm_config_build_from_source=true \
    "$ROOT/node_modules/.bin/node-pre-gyp" install --build-from-source --nodedir="$node_headers" >&2)
  stamp_set addon .cache/tf-version "$TFJS/package.json"
fi

# --- 4. Python environment for Jupyter ---------------------------------------
if ! stamp_ok venv requirements.txt || [ ! -x .venv/bin/python ]; then
  log "creating .venv with JupyterLab, nbclient, nbconvert, plotly (requirements.txt)"
  [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
  rm -f "$STAMPS/kernel"
  stamp_set venv requirements.txt
fi

# --- 5. the tslab kernel, inside .venv only ----------------------------------
kernel_dir=.venv/share/jupyter/kernels/tslab
if ! stamp_ok kernel package-lock.json || [ ! -f "$kernel_dir/kernel.json" ]; then
  log "registering the tslab kernel in .venv"
  node_modules/.bin/tslab install --python=.venv/bin/python --prefix="$ROOT/.venv" \
    --binary="$ROOT/node_modules/.bin/tslab" >&2
  stamp_set kernel package-lock.json
fi

# --- 5b. Chromium for the browser tests ---------------------------------------
# The report and JupyterLab tests drive Debian's chromium with playwright-core
# (`npx playwright install` downloads browsers from a CDN many networks block).
# Installed only when missing, so a second run does nothing.
if ! command -v chromium >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    log "installing chromium from Debian's packages (for the browser tests)"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >&2
  else
    log "chromium is missing and cannot be installed here (needs root and apt-get):"
    log "install Debian's chromium package, or set CHROMIUM_PATH, for the browser tests"
  fi
fi

# --- 6. compile TypeScript ----------------------------------------------------
# Notebooks import the compiled library by package name. tslab only compiles
# .ts files below the kernel's working folder (the notebook's folder), so a
# relative import of ../lib/*.ts fails; compiled .js + .d.ts load from anywhere,
# and a package name works the same from notebooks/, exercises/ and nbgrader's
# submission folders.
# (npm prunes this link as extraneous on every `npm install`; setup runs before
# each entry point and puts it back.)
node_modules/.bin/tsc -p tsconfig.json
ln -sfn ../build/lib node_modules/fashion-mnist-lib
