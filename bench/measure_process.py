"""Runs one command as a whole process and writes what it cost (for `npm run bench`).

    python bench/measure_process.py OUT.json -- COMMAND [ARGS...]

The command inherits stdin, stdout and stderr (the bench reads its output as it
comes, with times). When it ends, OUT.json gets its wall seconds, user and
system CPU seconds and peak resident memory, from the kernel's own accounting
of that process (wait4's rusage: every thread, start-up and imports included),
not from sampling, so nothing between two samples is missed. The exit status is
the command's.
"""

import json
import os
import subprocess
import sys
import time


def main(argv):
    if len(argv) < 3 or argv[1] != "--":
        sys.stderr.write("usage: measure_process.py OUT.json -- COMMAND [ARGS...]\n")
        return 2
    out, command = argv[0], argv[2:]
    start = time.perf_counter()
    child = subprocess.Popen(command)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    child.returncode = code  # reaped above: keep Popen from waiting again
    result = {
        "wall_seconds": wall,
        "user_seconds": usage.ru_utime,
        "system_seconds": usage.ru_stime,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "peak_rss_mb": usage.ru_maxrss / 1024,  # KiB on Linux
        "exit_code": code,
    }
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f)
    os.replace(tmp, out)
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
