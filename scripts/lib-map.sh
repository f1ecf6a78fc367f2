#!/usr/bin/env bash
# The library's modules, by folder, with their line counts and the library
# folders each one imports (`import type` included, as test/imports.test.ts
# counts them): the shape of lib/ and the direction of its imports at a
# glance.   bash scripts/lib-map.sh
set -euo pipefail
cd "$(dirname "$0")/../lib"
root=$PWD
for f in $(find runtime data model training evaluation display -name '*.ts' | sort) index.ts; do
  deps=$({ grep -E '^import .* from "\.|^import "\.|^(export .*|}) from "\.' "$f" || true; } |
    sed -E 's/.*"([^"]+)".*/\1/' | while read -r spec; do
      dirname "$(realpath -m --relative-to="$root" "$(dirname "$f")/$spec")"
    done | sort -u | tr '\n' ' ')
  printf '%5d  %-36s -> %s\n' "$(wc -l < "$f")" "$f" "${deps:-(none)}"
done
