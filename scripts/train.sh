#!/usr/bin/env bash
# npm run train: the CLI (build/scripts/train.js) and what it cannot say itself.
# - A `ulimit -v` below what Node and TensorFlow reserve (ADDRESS_SPACE_MB in
#   lib/runtime/memory.ts) kills Node with a V8 fatal error before any of its
#   code runs: checked here first.
# - A run the system killed (exit 137: SIGKILL, what the out-of-memory killer
#   sends) gets the reason from the note it left (lib/runtime/unfinished.ts).
set -u
need_mb=3400
limit_kb=$(ulimit -v)
if [ "$limit_kb" != unlimited ] && [ "$limit_kb" -lt $((need_mb * 1024)) ]; then
  echo "npm run train: ulimit -v allows $((limit_kb / 1024)) MB of address space; Node and TensorFlow need about" \
    "$need_mb MB of it whatever the run size (they reserve far more than they use). Raise it (ulimit -v unlimited," \
    "or set a cgroup memory limit instead, which counts what is used) and run again." >&2
  exit 2
fi
node build/scripts/train.js "$@"
code=$?
if [ $code -eq 137 ]; then
  said=$(node -e 'for (const m of require("fashion-mnist-lib/dist/runtime/unfinished").killedRuns()) console.log(m)' 2>/dev/null)
  echo >&2
  echo "npm run train was killed by the system (SIGKILL)." \
    "${said:-The out-of-memory killer does this when a memory limit is reached; see the memory guide (docs/operations.md).}" >&2
fi
exit $code
