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

/**
 * Checks that TensorFlow runs on its native backend ("tensorflow", the C
 * library through tfjs-node), not tfjs's pure-JavaScript CPU backend (about
 * 400 times slower here).
 *
 * @throws Error naming the backend in use and the setup command that builds
 *   the native addon (`npm run setup`, or `npx fashion-mnist-setup`).
 */
export function assertNativeBackend(): void {
  const backend = tf.getBackend();
  if (backend !== "tensorflow") {
    throw new Error(
      `TensorFlow backend is "${backend}", expected the native "tensorflow" backend. ` +
        "Run `npm run setup` (or `npx fashion-mnist-setup` where the package is installed) to build the tfjs-node addon.",
    );
  }
}

/**
 * The versions worth quoting in a report or a bug report: Node, tfjs-node, the
 * TensorFlow C library (as it reports itself) and the backend's name; "?"
 * where one cannot be read. Never throws.
 */
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

/**
 * TensorFlow.js on the native backend (the whole `@tensorflow/tfjs-node`
 * namespace), loaded once after the library's preflight checks: use `fm.tf`
 * rather than importing tfjs-node yourself, which on Node 23+ fails at the
 * first op. Its own reference is TensorFlow.js's API documentation.
 */
export { tf };
