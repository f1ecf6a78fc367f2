"""Keras reference worker for `npm run bench` (bench/run.ts drives it).

Trains the seed notebook's model with Keras on TensorFlow (Python, from PyPI,
in the benchmark-only .venv-bench/) on the same cached Fashion-MNIST files the
project reads, one epoch per request, so the harness can alternate epochs with
the project's trainer and both see the same machine noise.

Protocol (one JSON object per line): on start-up it prints
{"ready": ...}; then for each line "epoch" it reads from stdin it trains one
epoch and prints {"epoch": ...}; on "finish" it evaluates on the test set,
prints {"finish": ...} and exits. Anything else on stdin is an error.
"""

import argparse
import gzip
import json
import os
import resource
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
_t_import = time.perf_counter()


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def fail(message):
    emit({"error": message})
    sys.exit(2)


def peak_rss_mb():
    """Peak resident set size of this process (VmHWM), in MB."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def read_idx(path, magic, header):
    import numpy as np

    if not os.path.isfile(path):
        fail(f"{path}: missing; run the project side once (it downloads into the cache) or set FMNIST_DATA_DIR")
    with gzip.open(path, "rb") as f:
        raw = f.read()
    got = int.from_bytes(raw[:4], "big")
    if got != magic:
        fail(f"{path}: IDX magic {got:#010x}, expected {magic:#010x}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header)


def load(data_dir):
    t0 = time.perf_counter()
    x_train = read_idx(os.path.join(data_dir, "train-images-idx3-ubyte.gz"), 0x803, 16).reshape(-1, 28, 28, 1)
    y_train = read_idx(os.path.join(data_dir, "train-labels-idx1-ubyte.gz"), 0x801, 8)
    x_test = read_idx(os.path.join(data_dir, "t10k-images-idx3-ubyte.gz"), 0x803, 16).reshape(-1, 28, 28, 1)
    y_test = read_idx(os.path.join(data_dir, "t10k-labels-idx1-ubyte.gz"), 0x801, 8)
    x_train = x_train.astype("float32") / 255.0
    x_test = x_test.astype("float32") / 255.0
    return (x_train, y_train, x_test, y_test), time.perf_counter() - t0


def seed_model():
    """The seed notebook's model and compile step (also used by lockstep_keras.py)."""
    import keras

    model = keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        keras.layers.Conv2D(28, kernel_size=(3, 3), activation="relu"),
        keras.layers.MaxPooling2D(pool_size=(2, 2)),
        keras.layers.Conv2D(56, kernel_size=(3, 3), activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(56, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", required=True, help="folder with the four Fashion-MNIST .gz files")
    ap.add_argument("--samples", type=int, required=True, help="training samples (first N of the 48,000)")
    ap.add_argument("--validation", type=int, required=True, help="validation samples (first N of the last 12,000)")
    ap.add_argument("--test", type=int, required=True, help="test samples (first N of 10,000)")
    ap.add_argument("--epochs", type=int, required=True)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    import numpy as np
    import tensorflow as tf
    import keras

    import_seconds = time.perf_counter() - _t_import
    (x_all, y_all, x_test, y_test), load_seconds = load(args.data_dir)
    # The seed: the last 12,000 training images are the validation set.
    x_val, y_val = x_all[-12000:][: args.validation], y_all[-12000:][: args.validation]
    x_train, y_train = x_all[:-12000][: args.samples], y_all[:-12000][: args.samples]
    x_test, y_test = x_test[: args.test], y_test[: args.test]

    keras.utils.set_random_seed(args.seed)
    model = seed_model()
    # The seed fixes the initial weights only. With TensorFlow's global seed
    # set, Keras 3.15 on TensorFlow 2.21 shuffles into the same order in every
    # epoch (its tf.data shuffle starts from the same seed each time the data
    # is iterated), so it would train on one fixed batch sequence. The seed
    # notebook sets no seed and gets a new order every epoch, as the project
    # does; clearing the global seed here gives Keras that too.
    tf.random.set_seed(None)

    emit({"ready": {
        "import_seconds": import_seconds,
        "load_seconds": load_seconds,
        "peak_rss_mb": peak_rss_mb(),
        "params": int(model.count_params()),
        "versions": {"python": sys.version.split()[0], "tensorflow": tf.__version__, "keras": keras.__version__,
                     "numpy": np.__version__},
    }})

    class Stepper(keras.callbacks.Callback):
        """Times each epoch, reports it, then waits for the harness's next request."""

        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()
            self.c0 = time.process_time()

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            emit({"epoch": {
                "epoch": epoch + 1,
                "seconds": time.perf_counter() - self.t0,
                "cpu_seconds": time.process_time() - self.c0,
                "loss": float(logs.get("loss", float("nan"))),
                "accuracy": float(logs.get("accuracy", float("nan"))),
                "val_loss": float(logs.get("val_loss", float("nan"))),
                "val_accuracy": float(logs.get("val_accuracy", float("nan"))),
                "peak_rss_mb": peak_rss_mb(),
            }})
            if epoch + 1 < args.epochs:
                wait_for("epoch")

    def wait_for(expected):
        line = sys.stdin.readline().strip()
        if line != expected:
            fail(f"expected '{expected}' on stdin, got '{line}'")

    wait_for("epoch")
    model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs, verbose=0, shuffle=True,
              validation_data=(x_val, y_val), callbacks=[Stepper()])
    wait_for("finish")
    loss, acc = model.evaluate(x_test, y_test, batch_size=256, verbose=0)
    emit({"finish": {"test_loss": float(loss), "test_accuracy": float(acc), "peak_rss_mb": peak_rss_mb()}})


if __name__ == "__main__":
    main()
