#!/usr/bin/env bash
# The single-user image's install step, run by deploy/image/Containerfile and,
# on a fresh copy of the checkout, by test/deploy.test.ts. Everything goes into
# the checkout, through the project's own set-up scripts:
#   1. Node.js 24 from the npm registry (scripts/node-version.sh, .cache/nodes/24);
#   2. scripts/setup.sh: npm packages, libtensorflow from the tensorflow-cpu
#      wheel on PyPI, the tfjs-node addon built from source, .venv, TypeScript;
#   3. scripts/setup-hub.sh: .cache/hub/venv with JupyterHub (for
#      jupyterhub-singleuser), JupyterLab and nbgrader, the tslab kernel
#      registered there, its Jupyter configuration (export, grading);
#   4. a check that the result works (below); it exits non-zero if not.
#
#   deploy/image/install.sh          sets up the checkout this script is in
#
# Needs: node and npm on PATH (any version that runs npm; only used to fetch
# Node 24), Python 3.11.5+ as PYTHON (default python3) for .venv, Python 3.11+
# as HUB_PYTHON (default /usr/bin/python3), a C++ compiler, make, unzip.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
log() { echo "[install] $*" >&2; }
die() { echo "install.sh: $*" >&2; exit 1; }
[ $# -eq 0 ] || { echo "usage: deploy/image/install.sh (no arguments; see the comment at its top)" >&2; exit 2; }

node_bin=$(scripts/node-version.sh 24)
export PATH="$node_bin:$PATH"
log "Node $(node --version), npm $(npm --version)"
bash scripts/setup.sh
bash scripts/setup-hub.sh

# --- 4. the check -----------------------------------------------------------------
# What a user's server needs, from a folder outside the checkout, with only the
# PATH the image sets: the kernel registered in the server's environment,
# jupyterhub-singleuser, and the library with TensorFlow's native backend
# (the addon built against the wheel's libtensorflow loads).
venv_bin=$ROOT/.cache/hub/venv/bin
kernels=$(cd / && "$venv_bin/jupyter" kernelspec list --json) || die "jupyter kernelspec list failed in $venv_bin"
echo "$kernels" | "$venv_bin/python" -c 'import json, sys; sys.exit("tslab" not in json.load(sys.stdin)["kernelspecs"])' ||
  die "the tslab kernel is not registered in .cache/hub/venv: $kernels"
singleuser=$(cd / && "$venv_bin/jupyterhub-singleuser" --version) || die "jupyterhub-singleuser --version failed"
backend=$(cd "$ROOT/notebooks" && node -e '
  const fm = require("fashion-mnist-lib");
  const t = fm.tf.tensor2d([[1, 2], [3, 4]]).matMul(fm.tf.tensor2d([[1], [1]]));
  console.log(fm.tf.getBackend() + " " + t.dataSync().join(","));') || die "the library does not load from notebooks/"
[ "$backend" = "tensorflow 3,7" ] || die "the library runs on '$backend', not TensorFlow's native backend"
log "ok: tslab kernel registered, jupyterhub-singleuser $singleuser, library on the $backend backend"
