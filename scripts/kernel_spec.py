"""Settles the tslab kernelspec setup installed: how the kernel's Node starts.

    python scripts/kernel_spec.py KERNEL_JSON [--ipc NODE WRAPPER]

- NODE_OPTIONS=--max-semi-space-size=8: V8 sizes the young generation by the
  machine's memory (semi-spaces up to 64 MB on this 24 GB machine), and the
  TypeScript compiler in a tslab kernel then keeps ~90 MB more than with 8 MB
  semi-spaces: the class-size notebook ended at 325-344 MB of anonymous memory
  instead of 414 (bench/memory.py, 2026-12-07), in the same time. Jupyter
  gives the kernel the kernelspec's NODE_OPTIONS in place of the server's, so
  other Node options for the kernel go in that line (they are kept here).
- --ipc: the kernel starts through jupyter/tslab-ipc-kernel.js with this Node
  (Unix sockets: the class hub's kernels, fm_hub_server.private_kernels).
Rewritten only when it differs.
"""

import json
import sys

NODE_OPTIONS = "--max-semi-space-size=8"


def main(argv):
    if len(argv) not in (1, 4) or (len(argv) == 4 and argv[1] != "--ipc"):
        sys.stderr.write(__doc__)
        return 2
    path = argv[0]
    with open(path) as f:
        spec = json.load(f)
    want = dict(spec)
    # Options someone added to the kernelspec's NODE_OPTIONS stay (the environment's own do not reach the kernel).
    current = (spec.get("env") or {}).get("NODE_OPTIONS", "")
    options = current if NODE_OPTIONS in current.split() else " ".join(filter(None, [current, NODE_OPTIONS]))
    want["env"] = dict(spec.get("env") or {}, NODE_OPTIONS=options)
    if len(argv) == 4:
        want["argv"] = [argv[2], argv[3], "{connection_file}"]
    if want != spec:
        with open(path, "w") as f:
            json.dump(want, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
