#!/usr/bin/env bash
# fashion-mnist-setup: makes @tensorflow/tfjs-node usable where Google's storage
# bucket is out of reach (offline machines, most firewalls, CI).
#
# tfjs-node's own install script downloads libtensorflow and a prebuilt addon
# from storage.googleapis.com. Install the package with scripts off
# (`npm install --ignore-scripts fashion-mnist-lib`), then run this once:
#   1. libtensorflow from PyPI: the tensorflow-cpu wheel carries the same C API
#      (libtensorflow_cc.so.2, libtensorflow_framework.so.2, the C headers);
#      they go to tfjs-node's deps/ folder, where its build looks for them;
#   2. the tfjs-node addon, built from source against them and the running
#      Node's headers (N-API: one build serves every Node version);
#   3. the library's own graph-step addon (native/graph_step.cc: the training
#      step as one TensorFlow graph), built the same way into tfjs-node's
#      lib/fm-graph-step/. Optional: if it cannot be built, setup says so in
#      one line and training falls back to the eager native path.
# Each step is skipped when already done, so a second run is instant.
#
# Environment: PYTHON (with pip; default python3) downloads the wheel;
# FMNIST_WHEEL_DIR keeps it (default ~/.cache/fashion-mnist-lib/wheels).
set -euo pipefail
TF_VERSION=2.21.0
log() { echo "[fashion-mnist-setup] $*" >&2; }
die() { echo "fashion-mnist-setup: $*" >&2; exit 1; }

package=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 22 ] || die "Node.js $(node --version) is not supported (end of life); install Node.js 22, 24 or 26 and run this again."
tfjs=$(cd "$package" && node -p "require('path').dirname(require.resolve('@tensorflow/tfjs-node/package.json'))") ||
  die "@tensorflow/tfjs-node is not installed beside $package: run \`npm install --ignore-scripts\` first."
stamp="$tfjs/deps/fm-tensorflow-version"

# --- 1. libtensorflow from the PyPI wheel ------------------------------------
if [ "$(cat "$stamp" 2>/dev/null)" != "$TF_VERSION" ] || [ ! -e "$tfjs/deps/lib/libtensorflow_cc.so.2" ]; then
  wheel_dir=${FMNIST_WHEEL_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/fashion-mnist-lib/wheels}
  wheel=$(ls "$wheel_dir"/tensorflow_cpu-"$TF_VERSION"-*.whl 2>/dev/null | head -n1 || true)
  if [ -z "$wheel" ]; then
    log "downloading the tensorflow-cpu $TF_VERSION wheel from PyPI into $wheel_dir (~270 MB, once)"
    # The C library does not depend on the Python version: pin the tags so
    # every machine fetches the same file.
    "${PYTHON:-python3}" -m pip download --no-deps --only-binary=:all: --python-version 3.11 \
      --platform manylinux_2_27_x86_64 -d "$wheel_dir" "tensorflow-cpu==$TF_VERSION" >&2 ||
      die "could not download tensorflow-cpu==$TF_VERSION from PyPI (set PYTHON to a Python with pip, or put the wheel in FMNIST_WHEEL_DIR)"
    wheel=$(ls "$wheel_dir"/tensorflow_cpu-"$TF_VERSION"-*.whl | head -n1)
  fi
  log "extracting libtensorflow and its headers from $(basename "$wheel")"
  tmp=$(mktemp -d "$tfjs/.deps.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  unzip -q "$wheel" 'tensorflow/libtensorflow_cc.so.2' 'tensorflow/libtensorflow_framework.so.2' \
    'tensorflow/include/*' -d "$tmp"
  mkdir -p "$tmp/deps/lib"
  mv "$tmp/tensorflow/include" "$tmp/deps/include"
  mv "$tmp/tensorflow/libtensorflow_cc.so.2" "$tmp/tensorflow/libtensorflow_framework.so.2" "$tmp/deps/lib/"
  # binding.gyp links -ltensorflow; tfjs-node's install script treats
  # libtensorflow.so.2.9.1 as "already downloaded".
  (cd "$tmp/deps/lib" &&
    ln -s libtensorflow_cc.so.2 libtensorflow.so &&
    ln -s libtensorflow_cc.so.2 libtensorflow.so.2 &&
    ln -s libtensorflow_cc.so.2 libtensorflow.so.2.9.1 &&
    ln -s libtensorflow_framework.so.2 libtensorflow_framework.so)
  echo "$TF_VERSION" > "$tmp/deps/fm-tensorflow-version"
  rm -rf "$tfjs/deps" "$tfjs"/lib/napi-v* "$tfjs/lib/fm-graph-step"
  mv "$tmp/deps" "$tfjs/deps"
  rm -rf "$tmp"
fi

node_home=$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")
# node-gyp comes with npm; node-pre-gyp finds it through this variable.
if [ -z "${npm_config_node_gyp:-}" ]; then
  npm_root=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
  export npm_config_node_gyp="$npm_root/node_modules/node-gyp/bin/node-gyp.js"
fi

# --- 2. the addon -------------------------------------------------------------
if ! ls "$tfjs"/lib/napi-v*/tfjs_binding.node >/dev/null 2>&1; then
  log "building the tfjs-node addon against TensorFlow $TF_VERSION (about a minute)"
  [ -f "$node_home/include/node/node_api.h" ] || die "Node's headers are missing from $node_home/include/node (a Node.js install without headers)"
  pre_gyp=$(cd "$tfjs" && node -p "require.resolve('@mapbox/node-pre-gyp/bin/node-pre-gyp')")
  # Built in a scratch copy of the addon's sources: make cannot build in a
  # path with spaces ("~/My Projects/..."). deps/ is linked, not copied; the
  # addon finds the library through a relative rpath, wherever it is built.
  build=$(mktemp -d /tmp/fm-addon.XXXXXX)
  trap 'rm -rf "$build"' EXIT
  cp -R "$tfjs/binding" "$tfjs/binding.gyp" "$tfjs/package.json" "$build/"
  ln -s "$tfjs/deps" "$build/deps"
  (cd "$build" && npm_config_nodedir="$node_home" node "$pre_gyp" install --build-from-source \
    --nodedir="$node_home" >&2) || die "building the tfjs-node addon failed (needs a C++ compiler, make and Python 3; see the output above)"
  mkdir -p "$tfjs/lib"
  cp -R "$build"/lib/napi-v* "$tfjs/lib/"
fi

# --- 3. the graph-step addon (optional) ------------------------------------------
# Its stamp is the hash of its sources and the outcome, kept beside the build:
# a reinstalled tfjs-node or changed sources rebuild it, and a failed build is
# not retried on every run (scripts/setup.sh reads the same stamp).
graph_dir="$tfjs/lib/fm-graph-step"
graph_hash=$(cat "$package/native/graph_step.cc" "$package/native/binding.gyp" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$graph_dir/stamp" 2>/dev/null | cut -d' ' -f1)" != "$graph_hash" ]; then
  log "building the graph-step addon (the training step as one TensorFlow graph, ~20 s)"
  gbuild=$(mktemp -d /tmp/fm-graph-step.XXXXXX)
  outcome=failed
  # As for tfjs-node's: a scratch folder with deps/ linked in, since make
  # cannot take include or library paths with spaces.
  cp "$package/native/graph_step.cc" "$package/native/binding.gyp" "$gbuild/"
  ln -s "$tfjs/deps" "$gbuild/deps"
  if [ -f "$node_home/include/node/node_api.h" ] &&
    (cd "$gbuild" && node "$npm_config_node_gyp" rebuild --nodedir="$node_home" -- -Dtf_deps="$gbuild/deps") >"$gbuild/log" 2>&1; then
    mkdir -p "$graph_dir"
    cp "$gbuild/build/Release/graph_step.node" "$graph_dir/graph_step.node"
    outcome=ok
  else
    rm -f "$graph_dir/graph_step.node"
    echo "fashion-mnist-setup: the graph-step addon did not build (needs a C++ compiler and make; to retry, delete $graph_dir and run this again): training uses the eager native path instead." >&2
  fi
  rm -rf "$gbuild"
  mkdir -p "$graph_dir"
  echo "$graph_hash $outcome" > "$graph_dir/stamp"
fi

# --- 4. tfjs-node fixed where it is installed ------------------------------------
# So that every import of @tensorflow/tfjs-node works and is quiet, not only
# the library's: tfjs-compat.js goes to its dist/fm_compat.js, three of its
# lines use it (the util helpers Node 23 removed; the addon loaded with
# TensorFlow's start-up log filtered), and quiet_stderr.c is compiled into
# lib/fm-quiet/ (N-API, no TensorFlow headers). Each line is replaced only
# while it is tfjs-node's original, so a second run changes nothing; a run
# ends by loading tfjs-node on its own and running an op, which must print
# nothing. Stamp: the hash of both sources (scripts/setup.sh reads it too).
compat_dir="$tfjs/lib/fm-quiet"
compat_hash=$(cat "$package/native/tfjs-compat.js" "$package/native/quiet_stderr.c" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$compat_dir/stamp" 2>/dev/null | cut -d' ' -f1)" != "$compat_hash" ] ||
   ! grep -q 'fm_compat' "$tfjs/dist/index.js"; then
  log "fixing tfjs-node for Node 23+ and TensorFlow's start-up log (dist/fm_compat.js)"
  cp "$package/native/tfjs-compat.js" "$tfjs/dist/fm_compat.js"
  sed -i 's|^var util_1 = require("util");$|var util_1 = require("./fm_compat").util; // fashion-mnist-setup: Node 23+ removed its helpers|' \
    "$tfjs/dist/nodejs_kernel_backend.js"
  sed -i 's|^var util_1 = require("util");$|var util_1 = require("../fm_compat").util; // fashion-mnist-setup: Node 23+ removed its helpers|' \
    "$tfjs/dist/kernels/TopK.js"
  sed -i 's|^var bindings = require(bindingPath);$|var bindings = require("./fm_compat").loadAddon(bindingPath); // fashion-mnist-setup: start-up log filtered|' \
    "$tfjs/dist/index.js"
  qbuild=$(mktemp -d /tmp/fm-quiet.XXXXXX)
  mkdir -p "$compat_dir"
  if [ -f "$node_home/include/node/node_api.h" ] &&
    ${CC:-cc} -shared -fPIC -O2 -DNODE_GYP_MODULE_NAME=quiet_stderr -I"$node_home/include/node" \
      "$package/native/quiet_stderr.c" -o "$qbuild/quiet_stderr.node" 2>"$qbuild/log"; then
    mv "$qbuild/quiet_stderr.node" "$compat_dir/quiet_stderr.node"
  else
    rm -f "$compat_dir/quiet_stderr.node"
    echo "fashion-mnist-setup: the start-up log filter did not build (needs a C compiler; see $compat_dir/build.log): TensorFlow's start-up lines will show." >&2
    cp "$qbuild/log" "$compat_dir/build.log" 2>/dev/null || true
  fi
  rm -rf "$qbuild"
  for f in dist/nodejs_kernel_backend.js dist/kernels/TopK.js dist/index.js; do
    grep -q 'fm_compat' "$tfjs/$f" || die "could not fix $tfjs/$f (not tfjs-node 4.22's file?): tfjs-node's ops would fail on Node 23+"
  done
  check=$(cd "$tfjs" && env -u TF_CPP_MIN_LOG_LEVEL -u FMNIST_TF_LOGS node -e '
    const tf = require("./");
    const v = tf.topk(tf.tensor([1, 3, 2]).add(1), 2).values.dataSync();
    if (String(Array.from(v)) !== "4,3") throw new Error("topk gave " + v);' 2>&1) ||
    die "tfjs-node does not run an op after the fix on Node $(node --version): $check"
  if [ -n "$check" ] && [ -f "$compat_dir/quiet_stderr.node" ]; then
    die "loading tfjs-node still prints (expected nothing): $check"
  fi
  echo "$compat_hash" > "$compat_dir/stamp"
fi
