"""Interrupts a training cell in a real tslab kernel and checks the kernel
stays usable and training stops and frees its memory (used by
test/interrupt.test.ts). Prints one JSON line with what it saw."""

import json
import os
import sys
import time

from jupyter_client.manager import start_new_kernel

root = sys.argv[1]
km, kc = start_new_kernel(kernel_name="tslab", cwd=os.path.join(root, "notebooks"))
seen = {}


def run(code, timeout=120):
    """Executes code, returns (status, stdout text)."""
    msg_id = kc.execute(code)
    out = []
    deadline = time.time() + timeout
    while True:
        msg = kc.get_iopub_msg(timeout=max(1, deadline - time.time()))
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "stream" and msg["content"]["name"] == "stdout":
            out.append(msg["content"]["text"])
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            break
    return reply_to(msg_id, timeout)["content"]["status"], "".join(out)


def reply_to(msg_id, timeout):
    """The execute_reply for msg_id (skipping any other shell message)."""
    while True:
        reply = kc.get_shell_msg(timeout=timeout)
        if reply["parent_header"].get("msg_id") == msg_id:
            return reply


try:
    status, _ = run(
        'import * as fm from "fashion-mnist-lib";\n'
        'import { nativeHandleCount } from "fashion-mnist-lib/dist/training/native/native-train";\n'
        "const data = await fm.loadFashionMnist();\n"
        "const set = fm.normalizeSet(fm.takeFirst(data.train, 6000));\n"
        "const model = fm.createModel({ seed: 1 });\n"
        "const state = () => JSON.stringify({ tensors: fm.tf.memory().numTensors, handles: nativeHandleCount() });\n"
        "console.log(state());"
    )
    seen["setup"] = status
    _, base = run("console.log(state());")
    seen["before"] = json.loads(base.strip().splitlines()[-1])

    # A training run that would take minutes; interrupt it after a few seconds.
    msg_id = kc.execute("await fm.fit(model, set, undefined, { epochs: 100, progress: 'none' });")
    time.sleep(6)
    km.interrupt_kernel()
    t0 = time.time()
    reply = reply_to(msg_id, 60)
    seen["interrupted_status"] = reply["content"]["status"]
    seen["interrupt_seconds"] = round(time.time() - t0, 2)

    time.sleep(2)  # let the training loop reach its next batch and stop
    _, after = run("console.log(state());")
    seen["after"] = json.loads(after.strip().splitlines()[-1])
    # If training had kept running in the background, this would crawl and the
    # handle count would still be above zero.
    status, two = run("console.log(1 + 1);")
    seen["next_cell"] = [status, two.strip()]
finally:
    kc.stop_channels()
    km.shutdown_kernel(now=True)

print(json.dumps(seen))
