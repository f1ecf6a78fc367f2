#!/usr/bin/env bash
# Installs a Debian package that a test or a command needs, when its program is
# missing: `debian-package.sh PROGRAM PACKAGE WHAT-FOR`. Needs root and apt-get;
# otherwise says what to install and returns 0 (the command that needs the
# program explains what it cannot do without it).
set -euo pipefail
program=$1 package=$2 purpose=$3
command -v "$program" >/dev/null 2>&1 && exit 0
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "[setup] installing $package from Debian's packages ($purpose)" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package") >&2
else
  echo "[setup] $program is missing and cannot be installed here (needs root and apt-get):" >&2
  echo "[setup] install your distribution's $package package ($purpose)" >&2
fi
