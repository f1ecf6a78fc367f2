#!/usr/bin/env bash
# bubblewrap, the sandbox every grading kernel runs in (exercises/kernel_sandbox.py),
# for `npm run course` and `npm test`. Installed from the distribution's packages
# when run as root with apt-get; otherwise the command that grades says what is
# missing (and names --no-sandbox). Does nothing when bwrap is already there.
set -euo pipefail
command -v bwrap >/dev/null 2>&1 && exit 0
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "[setup] installing bubblewrap from Debian's packages (the grading sandbox)" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap) >&2
else
  echo "[setup] bubblewrap (bwrap) is missing and cannot be installed here (needs root and apt-get):" >&2
  echo "[setup] install your distribution's bubblewrap package to grade students' code in a sandbox" >&2
fi
