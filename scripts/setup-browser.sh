#!/usr/bin/env bash
# Chromium for the browser tests only (`npm test` runs this after setup.sh):
# the export, report and JupyterLab tests drive Debian's chromium with
# playwright-core, because `npx playwright install` downloads browsers from a
# CDN that many networks block. Does nothing when chromium is already there.
set -euo pipefail
[ -n "${CHROMIUM_PATH:-}" ] && [ -x "$CHROMIUM_PATH" ] && exit 0
command -v chromium >/dev/null 2>&1 && exit 0
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "[setup] installing chromium from Debian's packages (for the browser tests)" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >&2
else
  echo "[setup] chromium is missing and cannot be installed here (needs root and apt-get):" >&2
  echo "[setup] install your distribution's chromium package, or set CHROMIUM_PATH, for the browser tests" >&2
fi
