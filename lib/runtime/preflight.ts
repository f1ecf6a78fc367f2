// Runs before tfjs-node loads (lib/tf.ts imports it first), so that each way
// the native side can be missing ends in one message that names the fix.
//
// 1. Node.js versions: 22, 24 and 26 are supported. Older lines are end of life
//    and nodejs-polars no longer supports them; stop with the fix rather than
//    fail later in some native module.
// 2. tfjs-node 4.22 calls util.isNullOrUndefined and util.isArray, which Node 23
//    removed (tensorflow/tfjs#8609): on Node 23+ every tfjs op then fails with
//    "util_1.isNullOrUndefined is not a function"; where they still exist
//    (isArray on 24, both on 22) each first call prints a DeprecationWarning
//    to stderr, which looks like an error in a notebook and zeroes an nbgrader
//    test cell. Both are set on the `util` module object itself (the one
//    tfjs-node's require("util") gets) to plain functions that do the same.
// 3. The native addon: tfjs-node's own message for a missing or unloadable
//    addon recommends `npm rebuild`, which downloads from Google and fails
//    offline. The addon is loaded here first (tfjs-node then gets the same
//    module from Node's cache) and a failure names this project's setup.
// Setup also fixes tfjs-node's own files (lib/native/tfjs-compat.js) so that
// code importing tfjs-node without the library works the same; 2. stays for
// an installation whose setup predates that fix.
import * as fs from "fs";
import * as path from "path";
import { ADDRESS_SPACE_MB, addressSpaceMessage, memoryLimits } from "./memory";

export const MIN_NODE_MAJOR = 22;

const nodeMajor = Number(process.versions.node.split(".")[0]);
if (nodeMajor < MIN_NODE_MAJOR) {
  throw new Error(
    `fashion-mnist-lib needs Node.js ${MIN_NODE_MAJOR} or newer (22, 24 and 26 are supported); this is ${process.version}, ` +
      "which is end of life. Install a supported Node.js and run the project's setup again (`npm run setup` in the " +
      "project, `npx fashion-mnist-setup` where the package is installed).",
  );
}

/** The helpers tfjs-node 4.22 still calls, as Node <= 22 defined them. */
export const REMOVED_UTIL_HELPERS: Readonly<Record<string, (value: unknown) => boolean>> = {
  isNullOrUndefined: (value) => value === null || value === undefined,
  isArray: (value) => Array.isArray(value),
};

// The module object itself: `import * as util` would give a copy under esModuleInterop.

const nodeUtil = require("util") as Record<string, unknown>;
for (const [name, helper] of Object.entries(REMOVED_UTIL_HELPERS)) nodeUtil[name] = helper;

const SETUP_HINT =
  "Run the project's setup (`npm run setup` in a checkout of fashion-mnist-cnn-ts; `npx fashion-mnist-setup` in a " +
  "folder where the fashion-mnist-lib package is installed): it takes TensorFlow's C library from PyPI and builds " +
  "the addon from source, with nothing downloaded from Google.";

function loadNativeAddon(): void {
  let tfjsDir: string;
  try {
    tfjsDir = path.dirname(require.resolve("@tensorflow/tfjs-node/package.json"));
  } catch {
    throw new Error(`@tensorflow/tfjs-node is not installed where fashion-mnist-lib can find it. ${SETUP_HINT}`);
  }
  const libDir = path.join(tfjsDir, "lib");
  const addon = (fs.existsSync(libDir) ? fs.readdirSync(libDir) : [])
    .filter((d) => d.startsWith("napi-v"))
    .map((d) => path.join(libDir, d, "tfjs_binding.node"))
    .find((f) => fs.existsSync(f));
  if (!addon)
    throw new Error(`The tfjs-node native addon is missing (no ${libDir}/napi-v*/tfjs_binding.node). ${SETUP_HINT}`);
  // Through the loader setup installed in tfjs-node (fm_compat.js), which keeps TensorFlow's start-up log
  // lines off the terminal and the notebook; plain require where setup predates it.
  const compat = path.join(tfjsDir, "dist", "fm_compat.js");
  const load = fs.existsSync(compat)
    ? (require(compat) as { loadAddon: (file: string) => unknown }).loadAddon
    : (file: string) => require(file);
  try {
    load(addon);
  } catch (err) {
    // Under a small `ulimit -v` TensorFlow's library cannot be mapped: that is the limit, not the install.
    const space = memoryLimits().find((l) => l.kind === "address space" && l.mb < ADDRESS_SPACE_MB);
    if (space) throw new Error(addressSpaceMessage(space.mb), { cause: err });
    throw new Error(
      `The tfjs-node native addon ${addon} does not load (${(err as Error).message.split("\n")[0]}). ${SETUP_HINT}`,
      { cause: err },
    );
  }
}
loadNativeAddon();
