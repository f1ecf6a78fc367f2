"""Keras side of `npm run lockstep` (bench/lockstep.ts drives it).

Builds the seed's model in Keras, loads the project's initial weights, trains
on the same batches in the same order with train_on_batch, and prints (one JSON
line) how far its weights are from the project's after the first and the last
step.
"""

import argparse
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", required=True, help="folder with init_*.f32, step*_*.f32 and order.i32 from the project side")
    ap.add_argument("--steps", type=int, required=True)
    ap.add_argument("--data-dir", required=True)
    args = ap.parse_args()

    import numpy as np

    # This folder is on sys.path when run as a script.
    from keras_reference import read_idx, seed_model

    images = os.path.join(args.data_dir, "train-images-idx3-ubyte.gz")
    labels = os.path.join(args.data_dir, "train-labels-idx1-ubyte.gz")
    x = read_idx(images, 0x803, 16).reshape(-1, 28, 28, 1)[:48000].astype("float32") / 255.0
    y = read_idx(labels, 0x801, 8)[:48000]
    model = seed_model()
    start = [np.fromfile(os.path.join(args.dir, f"init_{i}.f32"), dtype=np.float32).reshape(w.shape)
             for i, w in enumerate(model.weights)]
    model.set_weights(start)
    order = np.fromfile(os.path.join(args.dir, "order.i32"), dtype=np.int32)
    rows = []
    for step in range(1, args.steps + 1):
        batch = order[(step - 1) * 32: step * 32]
        model.train_on_batch(x[batch], y[batch])
        if step in (1, args.steps):
            for i, w in enumerate(model.weights):
                ours = np.fromfile(os.path.join(args.dir, f"step{step}_{i}.f32"), dtype=np.float32).reshape(w.shape)
                now = np.asarray(w)
                rows.append({"step": step, "weight": w.path,
                             "max_difference": float(np.abs(now - ours).max()),
                             "max_moved": float(np.abs(now - start[i]).max())})
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
