#!/usr/bin/env bash
# nbgrader inside JupyterLab (the Validate button, the Formgrader and its
# Autograde button, the Assignment List) graded like the command line: writes
# .venv/etc/jupyter/nbgrader_config.py, which every nbgrader run in .venv reads,
# the server's included (feedback from the Formgrader too: no CDN), creates the
# project-local exchange, and turns off Lab's news toast (overrides.json). Called by
# scripts/setup.sh after .venv exists; idempotent (the file is rewritten only
# when it differs). What the file does: jupyter/fm_grading.py.
#
#   bash scripts/setup-lab-grading.sh           write what is missing or out of date
#   bash scripts/setup-lab-grading.sh --check   exit 1 (saying why) if anything is
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
check=
case "${1:-}" in
  --check) check=1 ;;
  "") ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac
[ -x .venv/bin/python ] || { echo "setup-lab-grading: .venv is missing: run \`npm run setup\`" >&2; exit 1; }

file=.venv/etc/jupyter/nbgrader_config.py
exchange=.venv/share/nbgrader/exchange
py_str() { .venv/bin/python -c 'import sys; print(repr(sys.argv[1]))' "$1"; }
jupyter_dir=$(py_str "$ROOT/jupyter")
repo=$(py_str "$ROOT")
want=$(printf '%s\n' \
  "# Written by fashion-mnist-cnn-ts's scripts/setup-lab-grading.sh (run by scripts/setup.sh): do not edit." \
  "# nbgrader reads this file on every run in this environment, JupyterLab's server included:" \
  "# feedback pages keep their charts (fm_export), and the Validate button, the Formgrader and" \
  "# the Assignment List grade with the course's configuration and the tslab adaptation (fm_grading)." \
  "import sys" \
  "sys.path.insert(0, $jupyter_dir)" \
  "import fm_export" \
  "fm_export.configure_feedback(get_config())" \
  "import fm_grading" \
  "fm_grading.configure(get_config(), $repo)" \
  "# The Formgrader's Generate Feedback button uses nbgrader's own template name: no CDN there either." \
  "c = get_config()" \
  "c.HTMLExporter.extra_template_basedirs = [$(py_str "$ROOT/jupyter/hub/templates")] + \\" \
  "    list(c.HTMLExporter.extra_template_basedirs)")
# Lab's defaults in this environment: no news or update checks (no request off the machine, no toast).
overrides=.venv/share/jupyter/lab/settings/overrides.json
want_overrides='{"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": false}}'

if [ -n "$check" ]; then
  [ "$(cat "$file" 2>/dev/null)" = "$want" ] ||
    { echo "setup-lab-grading: $file is missing or out of date: run \`npm run setup\`" >&2; exit 1; }
  [ -d "$exchange" ] || { echo "setup-lab-grading: no exchange folder $exchange: run \`npm run setup\`" >&2; exit 1; }
  [ "$(cat "$overrides" 2>/dev/null)" = "$want_overrides" ] ||
    { echo "setup-lab-grading: $overrides is missing or out of date: run \`npm run setup\`" >&2; exit 1; }
  exit 0
fi
mkdir -p "$(dirname "$file")" "$exchange"
if [ "$(cat "$file" 2>/dev/null)" != "$want" ]; then
  echo "[setup] nbgrader in JupyterLab: writing $file" >&2
  printf '%s\n' "$want" > "$file"
fi
if [ "$(cat "$overrides" 2>/dev/null)" != "$want_overrides" ]; then
  mkdir -p "$(dirname "$overrides")"
  printf '%s\n' "$want_overrides" > "$overrides"
fi
