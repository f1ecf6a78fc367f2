#!/usr/bin/env bash
# Chromium for the browser tests only (`npm test` runs this after setup.sh):
# the export, report and JupyterLab tests drive Debian's chromium with
# playwright-core, because `npx playwright install` downloads browsers from a
# CDN that many networks block. Does nothing when chromium is already there.
set -euo pipefail
[ -n "${CHROMIUM_PATH:-}" ] && [ -x "$CHROMIUM_PATH" ] && exit 0
exec bash "$(dirname "$0")/debian-package.sh" chromium chromium "for the browser tests; or set CHROMIUM_PATH"
