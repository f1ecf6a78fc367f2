"""Sums the per-node times of traced graph steps (RunMetadata files written by
bench/graph-step/run.ts --profile) by op type: where the graph step's time goes.

    .venv-bench/bin/python bench/graph-step/step_stats.py DIR
"""

import collections
import pathlib
import sys

from tensorflow.core.protobuf import config_pb2


def main(folder: str) -> None:
    files = sorted(pathlib.Path(folder).glob("*.pb"))
    by_op: dict[str, list[float]] = collections.defaultdict(lambda: [0, 0.0])
    spans = []
    for f in files:
        meta = config_pb2.RunMetadata.FromString(f.read_bytes())
        first, last = None, None
        for dev in meta.step_stats.dev_stats:
            for ns in dev.node_stats:
                # timeline_label reads "name = OpType(inputs)"; the op type is what we sum by.
                label = ns.timeline_label
                op = label.split(" = ", 1)[1].split("(", 1)[0] if " = " in label else ns.node_name
                micros = ns.op_end_rel_micros - ns.op_start_rel_micros
                by_op[op][0] += 1
                by_op[op][1] += micros
                start = ns.all_start_micros
                end = start + ns.all_end_rel_micros
                first = start if first is None else min(first, start)
                last = end if last is None else max(last, end)
        if first is not None:
            spans.append(last - first)
    n = len(files)
    total = sum(v[1] for v in by_op.values()) / n
    spans.sort()
    print(f"{n} traced steps: op time summed over nodes {total / 1000:.2f} ms a step; "
          f"first op start to last op end, median {spans[len(spans) // 2] / 1000:.2f} ms")
    for op, (count, micros) in sorted(by_op.items(), key=lambda kv: -kv[1][1]):
        print(f"  {op:40s} {count / n:5.1f}x {micros / n / 1000:7.3f} ms")


if __name__ == "__main__":
    main(sys.argv[1])
