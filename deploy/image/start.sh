#!/usr/bin/env bash
# The image's entry point: puts in the user's home (their own volume) what the
# class needs, only what is missing, then runs the command it was given
# (jupyterhub-singleuser, from the spawner). The same things `npm run hub`
# gives each user on one machine (jupyter/hub/fm_hub_users.py, provision_home).
set -euo pipefail
# The checkout this script is in (/opt/fashion-mnist in the image).
APP=$(cd "$(dirname "$(readlink -f "$0")")/../.." && pwd)
cd "$HOME"
# The library, tslab and TensorFlow, resolved by notebooks anywhere in the home.
[ -e node_modules ] || [ -L node_modules ] || ln -s "$APP/node_modules" node_modules
# Dataset cache and saved models (FASHION_MNIST_MIRROR, when set, is tried first).
export FMNIST_DATA_DIR=${FMNIST_DATA_DIR:-$HOME/data}
mkdir -p "$FMNIST_DATA_DIR"
[ -e fashion-mnist-cnn.ipynb ] || cp "$APP/notebooks/fashion-mnist-cnn.ipynb" .
# An instructor (FM_COURSE_DIR set by the hub) gets the course's grading
# configuration; the assignments' source comes from the instructor (docs/running-a-class.md).
if [ -n "${FM_COURSE_DIR:-}" ]; then
  mkdir -p "$FM_COURSE_DIR/source"
  for f in nbgrader_config.py tslab_grading.py kernel_sandbox.py; do
    [ -e "$FM_COURSE_DIR/$f" ] || cp "$APP/exercises/$f" "$FM_COURSE_DIR/"
  done
fi
exec "$@"
