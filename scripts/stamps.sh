# Sourced by the setup scripts: a step records a hash of its inputs in
# .cache/stamps/NAME when it is done, and is skipped while they are unchanged.
#   stamp_ok NAME INPUT...    true when step NAME already ran with these inputs
#   stamp_set NAME INPUT...   records that it did
STAMPS=.cache/stamps
mkdir -p "$STAMPS"
hash_of() { cat "$@" | sha256sum | cut -d' ' -f1; }
stamp_ok() { local name=$1; shift; [ -f "$STAMPS/$name" ] && [ "$(cat "$STAMPS/$name")" = "$(hash_of "$@")" ]; }
stamp_set() { local name=$1; shift; hash_of "$@" > "$STAMPS/$name"; }
