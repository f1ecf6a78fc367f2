// The single place that loads TensorFlow. Everything in lib/ imports `tf` from
// here, so the native backend is always the one in use.

// TensorFlow's C++ runtime logs to stderr at start-up (CPU feature notes,
// oneDNN notices). In a notebook any stderr output looks like an error, and
// nbgrader scores a test cell 0 when it sees stderr, so keep only real errors.
// This must be set before the native library loads. The lines libtensorflow
// prints while it loads (some past this level) are filtered by the loader
// setup installs in tfjs-node (lib/native/tfjs-compat.js). FMNIST_TF_LOGS=1,
// or the user's own TF_CPP_MIN_LOG_LEVEL, shows them.
if (process.env.TF_CPP_MIN_LOG_LEVEL === undefined && process.env.FMNIST_TF_LOGS !== "1")
  process.env.TF_CPP_MIN_LOG_LEVEL = "2";

// Node version, the helpers Node 23 removed, and the native addon, checked
// before tfjs loads (each failure names its fix).
import "./preflight";
import * as tf from "@tensorflow/tfjs-node";

/** Fails loudly if tfjs fell back to the pure-JS backend (about 400x slower here). */
export function assertNativeBackend(): void {
  const backend = tf.getBackend();
  if (backend !== "tensorflow") {
    throw new Error(
      `TensorFlow backend is "${backend}", expected the native "tensorflow" backend. ` +
        "Run `npm run setup` (or `npx fashion-mnist-setup` where the package is installed) to build the tfjs-node addon.",
    );
  }
}

/** Versions worth printing in a report or a bug report. */
export function runtimeVersions(): Record<string, string> {
  const v = tf.version as Record<string, string>;
  const native = (tf.backend() as unknown as { binding?: { TF_Version?: string } }).binding?.TF_Version;
  return {
    node: process.versions.node,
    "tfjs-node": v["tfjs-node"] ?? "?",
    tensorflow: native ?? "?",
    backend: tf.getBackend(),
  };
}

export { tf };
