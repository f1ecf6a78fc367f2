"""Memory of the main notebook (in the real tslab kernel) and of the CLI, each run in a fresh cgroup.

    sudo .venv/bin/python bench/memory.py [--sizes class,full] [--runs notebook,cli]
        [--limit-mb N] [--checkout DIR] [--cold] [--out FILE.json]

For each run and size it makes a memory cgroup of its own (cgroup v2 beside
this process's, or v1 under the memory hierarchy), starts the kernel or the
CLI inside it, and samples every process in it from /proc every 0.1 s. It
reports, per run:
  - anon_end_mb / anon_peak_mb: anonymous memory (RssAnon; unevictable without
    swap) of the run's processes at the end of the last cell and at most;
  - peak_rss_mb: the largest VmHWM (the kernel's own high-water mark);
  - cgroup_peak_mb: the cgroup's peak charge (memory.peak, v2, or
    memory.max_usage_in_bytes, v1): anonymous memory plus the file pages the
    run touched first (TensorFlow's library when started cold);
  - per cell (notebook): anonymous memory after each code cell;
  - the test accuracy printed, the exit status, and whether the cgroup's OOM
    killer fired.
`--limit-mb` sets the cgroup's memory limit (and the run must finish under it);
`--cold` drops the page cache first, so file pages are charged to the run;
`--checkout` measures another checkout of the project (for example the landed
version in a `git worktree`, built with `npx tsc -b`) with the same driver.
Class size is the grading sizes (exercises/nbgrader_config.py: 2,000 training
and 1,000 test images, 2 epochs, seed 1); full size is the whole dataset, 2
epochs, seed 1 (memory does not grow after the first epoch).
"""

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, DeadKernelError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATA = os.path.join(os.path.dirname(ROOT), "shared", "data", "fashion-mnist")
SIZES = {
    "class": {"FMNIST_TRAIN_LIMIT": "2000", "FMNIST_TEST_LIMIT": "1000", "FMNIST_EPOCHS": "2", "FMNIST_SEED": "1"},
    "full": {"FMNIST_EPOCHS": "2", "FMNIST_SEED": "1"},
}
MB = 2**20


class Cgroup:
    """A memory cgroup made for one run and removed after it."""

    def __init__(self, name, limit_mb=None):
        own = open("/proc/self/cgroup").read()
        v1 = re.search(r"^\d+:[^:]*\bmemory\b[^:]*:(.*)$", own, re.M)
        if v1 and os.path.isdir("/sys/fs/cgroup/memory"):
            self.v2 = False
            base = "/sys/fs/cgroup/memory"
        else:
            self.v2 = True
            rel = re.search(r"^0::(.*)$", own, re.M).group(1)
            # A v2 cgroup with processes cannot have children with controllers: use the parent.
            base = os.path.dirname(os.path.join("/sys/fs/cgroup", rel.lstrip("/")))
        self.path = os.path.join(base, f"fm-bench-{os.getpid()}-{name}")
        os.mkdir(self.path)
        if limit_mb:
            self.write("memory.max" if self.v2 else "memory.limit_in_bytes", str(limit_mb * MB))

    def read(self, name):
        with open(os.path.join(self.path, name)) as f:
            return f.read()

    def write(self, name, value):
        with open(os.path.join(self.path, name), "w") as f:
            f.write(value)

    def pids(self):
        return [int(p) for p in self.read("cgroup.procs").split()]

    def peak_mb(self):
        return int(self.read("memory.peak" if self.v2 else "memory.max_usage_in_bytes")) / MB

    def oom_kills(self):
        text = self.read("memory.events" if self.v2 else "memory.oom_control")
        m = re.search(r"^oom_kill (\d+)", text, re.M)
        return int(m.group(1)) if m else 0

    def remove(self):
        for _ in range(50):
            try:
                os.rmdir(self.path)
                return
            except OSError:
                time.sleep(0.1)


def status_kb(pid, field):
    try:
        with open(f"/proc/{pid}/status") as f:
            m = re.search(rf"^{field}:\s+(\d+) kB", f.read(), re.M)
        return int(m.group(1)) if m else 0
    except OSError:
        return 0


class Sampler(threading.Thread):
    """Samples the cgroup's processes: anonymous memory (sum) and each one's VmHWM."""

    def __init__(self, cg):
        super().__init__(daemon=True)
        self.cg, self.stop, self.anon_peak, self.hwm, self.anon_now = cg, threading.Event(), 0, 0, 0
        self.series = []  # (seconds, anonymous MB, processes)
        self.t0 = time.monotonic()

    def sample(self):
        pids = self.cg.pids()
        self.anon_now = sum(status_kb(p, "RssAnon") for p in pids) / 1024
        self.anon_peak = max(self.anon_peak, self.anon_now)
        self.series.append((round(time.monotonic() - self.t0, 1), round(self.anon_now), len(pids)))
        self.hwm = max([self.hwm] + [status_kb(p, "VmHWM") / 1024 for p in pids])

    def run(self):
        while not self.stop.is_set():
            self.sample()
            time.sleep(0.1)


ENTER = 'echo $$ > "$0/cgroup.procs" && exec "$@"'


def accuracy(text):
    m = re.findall(r"Test accuracy: ([\d.]+)%", text)
    return float(m[-1]) if m else None


def run_notebook(checkout, cg, env, sampler):
    """The main notebook, every code cell, in a tslab kernel started inside the cgroup."""
    spec_dir = tempfile.mkdtemp(prefix="fm-bench-kernels-")
    try:
        # The kernelspec the checkout's own setup wrote (another checkout's may differ), else this one's.
        spec_path = next(p for p in (os.path.join(c, ".venv/share/jupyter/kernels/tslab/kernel.json") for c in (checkout, ROOT))
                         if os.path.exists(p))
        orig = json.load(open(spec_path))
        os.makedirs(os.path.join(spec_dir, "kernels", "tslab"))
        spec = dict(orig, argv=["sh", "-c", ENTER, cg.path] + orig["argv"])
        json.dump(spec, open(os.path.join(spec_dir, "kernels", "tslab", "kernel.json"), "w"))
        os.environ.update(env, JUPYTER_PATH=spec_dir)
        folder = os.path.join(checkout, "notebooks")
        nb = nbformat.read(os.path.join(folder, "fashion-mnist-cnn.ipynb"), as_version=4)
        cells = []

        def executed(cell, cell_index, **_):
            if cell.cell_type == "code":
                sampler.sample()
                cells.append({"cell": cell_index, "first_line": cell.source.strip().splitlines()[0][:60],
                              "anon_mb": round(sampler.anon_now), "t": round(time.monotonic() - sampler.t0, 1)})

        client = NotebookClient(nb, kernel_name="tslab", timeout=1800,
                                resources={"metadata": {"path": folder}}, on_cell_executed=executed)
        error = None
        try:
            client.execute()
        except (CellExecutionError, DeadKernelError) as err:
            error = str(err).strip().splitlines()[-1][:300] if str(err).strip() else type(err).__name__
        text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
        return {"error": error, "cells": cells, "accuracy": accuracy(text),
                "anon_end_mb": cells[-1]["anon_mb"] if cells and error is None else None}
    finally:
        for k in list(env) + ["JUPYTER_PATH"]:
            os.environ.pop(k, None)
        shutil.rmtree(spec_dir, ignore_errors=True)


def run_cli(checkout, cg, env, sampler):
    """`npm run train`'s program, with the same sizes, not saving a model."""
    import subprocess

    cmd = ["sh", "-c", ENTER, cg.path, "node", os.path.join(checkout, "build/scripts/train.js"), "--save", ""]
    r = subprocess.run(cmd, cwd=checkout, env={**os.environ, **env}, capture_output=True, text=True)
    anon_end = sampler.anon_now
    error = None if r.returncode == 0 else f"exit {r.returncode}: {(r.stderr.strip().splitlines() or [''])[-1][:300]}"
    return {"error": error, "accuracy": accuracy(r.stdout), "anon_end_mb": None if error else round(anon_end)}


def measure(kind, size, checkout, limit_mb, cold, data_dir, extra):
    if cold:
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3")
    cg = Cgroup(f"{kind}-{size}", limit_mb)
    env = dict(SIZES[size], FASHION_MNIST_MIRROR=SHARED_DATA, FMNIST_DATA_DIR=data_dir, **extra)
    sampler = Sampler(cg)
    sampler.start()
    started = time.monotonic()
    try:
        result = (run_notebook if kind == "notebook" else run_cli)(checkout, cg, env, sampler)
    finally:
        sampler.stop.set()
        sampler.join()
        peak, kills = cg.peak_mb(), cg.oom_kills()
        for pid in cg.pids():  # a kernel nbclient could not stop
            try:
                os.kill(pid, 9)
            except OSError:
                pass
        cg.remove()
    return dict(result, run=kind, size=size, limit_mb=limit_mb, cold=cold, seconds=round(time.monotonic() - started),
                anon_peak_mb=round(sampler.anon_peak), series=sampler.series, peak_rss_mb=round(sampler.hwm), cgroup_peak_mb=round(peak),
                oom_kills=kills)


def table(results):
    rows = ["| run | size | limit | anon at end | anon peak | peak RSS | cgroup peak | accuracy | result |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in results:
        rows.append(f"| {r['run']} | {r['size']} | {r['limit_mb'] or '-'} | {r['anon_end_mb'] or '-'} | "
                    f"{r['anon_peak_mb']} | {r['peak_rss_mb']} | {r['cgroup_peak_mb']} | {r['accuracy'] or '-'} | "
                    f"{'finished' if not r['error'] else r['error']}{' (OOM kill)' if r['oom_kills'] else ''} |")
    return "\n".join(rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="class,full")
    ap.add_argument("--runs", default="notebook,cli")
    ap.add_argument("--limit-mb", type=int, default=None)
    ap.add_argument("--checkout", default=ROOT)
    ap.add_argument("--cold", action="store_true")
    ap.add_argument("--out", default=None)
    ap.add_argument("--env", action="append", default=[], help="NAME=VALUE set for the runs (repeatable)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench/memory.py makes cgroups: run it as root (sudo).", file=sys.stderr)
        return 2
    checkout = os.path.abspath(args.checkout)
    extra = dict(e.split("=", 1) for e in args.env)
    results = []
    with tempfile.TemporaryDirectory(prefix="fm-bench-memory-") as data_dir:
        for size in args.sizes.split(","):
            for kind in args.runs.split(","):
                print(f"[memory] {kind} at {size} size ...", file=sys.stderr, flush=True)
                r = measure(kind, size, checkout, args.limit_mb, args.cold, data_dir, extra)
                print(f"[memory] {json.dumps(r)}", file=sys.stderr, flush=True)
                results.append(r)
    print(table(results))
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"checkout": checkout, "results": results}, f, indent=1)
    return 0 if all(not r["error"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
