#!/usr/bin/env bash
# The library's modules with their line counts and what each imports from the
# library itself (runtime imports; `import type` is left out): the shape of
# lib/ at a glance.   bash scripts/lib-map.sh
set -euo pipefail
cd "$(dirname "$0")/../lib"
for f in *.ts; do
  deps=$({ grep -E '^import .* from "\./|^import "\./|^(export .*|}) from "\./' "$f" || true; } | { grep -v '^import type' || true; } |
    sed -E 's/.*"\.\/([a-z-]+)".*/\1/' | sort -u | tr '\n' ' ')
  printf '%5d  %-22s -> %s\n' "$(wc -l < "$f")" "${f%.ts}" "${deps:-(none)}"
done
