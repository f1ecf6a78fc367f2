// Installed by fashion-mnist-setup (lib/bin/setup-native.sh) into
// @tensorflow/tfjs-node's dist/ as fm_compat.js, with three of tfjs-node's
// lines pointed at it, so that every way of loading TensorFlow gets the same
// fixes: the library, `import * as tf from "@tensorflow/tfjs-node"` as a
// notebook's first line, `require("@tensorflow/tfjs-node")` in any script.
//
// 1. util: tfjs-node 4.22 calls util.isNullOrUndefined and util.isArray, which
//    Node 23 removed (tensorflow/tfjs#8609: every op fails with
//    "util_1.isNullOrUndefined is not a function"; on Node 22 isArray prints a
//    DeprecationWarning). nodejs_kernel_backend.js and kernels/TopK.js take
//    this object instead of Node's util: Node's, with the two helpers defined.
// 2. loadAddon: libtensorflow logs to stderr while it loads ("WARNING: All log
//    messages before absl::InitializeLog() ...", oneDNN's "I0000 ..."), some of
//    it past TF_CPP_MIN_LOG_LEVEL. index.js loads the addon through this
//    function: stderr is captured meanwhile (lib/fm-quiet/quiet_stderr.node)
//    and only what the user asked for is written back: TensorFlow's entries at
//    or above TF_CPP_MIN_LOG_LEVEL (default here 2: errors), everything with
//    FMNIST_TF_LOGS=1, and any line that is not TensorFlow's.
/* global __dirname */
"use strict";
const path = require("path");
const nodeUtil = require("util");

const util = Object.create(nodeUtil, {
  isNullOrUndefined: { value: (value) => value === null || value === undefined, enumerable: true },
  isArray: { value: (value) => Array.isArray(value), enumerable: true },
});

const BANNER = /^WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR\s*$/;
const ENTRY = /^([IWEF])\d{4} \d+:\d+:\d+\.\d+\s+\d+ [^\]\s]+:\d+\] /;
const SEVERITY = { I: 0, W: 1, E: 2, F: 3 };

/** The minimum severity of TensorFlow's log entries shown: TF_CPP_MIN_LOG_LEVEL's meaning (0 info ... 3 fatal). */
function minLogLevel(env) {
  if (env.FMNIST_TF_LOGS === "1") return 0;
  const level = Number(env.TF_CPP_MIN_LOG_LEVEL);
  return env.TF_CPP_MIN_LOG_LEVEL !== undefined && env.TF_CPP_MIN_LOG_LEVEL !== "" && Number.isInteger(level)
    ? level
    : 2;
}

/** `text` without TensorFlow's log entries (and their continuation lines) below `level`, nor absl's banner. */
function filterTfLog(text, level) {
  const kept = [];
  let keepingEntry = true;
  let banner = false;
  for (const line of text.split(/(?<=\n)/)) {
    const entry = ENTRY.exec(line);
    if (BANNER.test(line)) {
      banner = true;
      continue;
    }
    if (entry) keepingEntry = SEVERITY[entry[1]] >= level;
    if (keepingEntry) kept.push(line);
  }
  if (banner && level === 0)
    kept.unshift("WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n");
  return kept.join("");
}

let quiet;
function quietHelper() {
  if (quiet === undefined) {
    try {
      quiet = require(path.join(__dirname, "..", "lib", "fm-quiet", "quiet_stderr.node"));
    } catch {
      quiet = null; // not built: TensorFlow's start-up lines are not filtered
    }
  }
  return quiet;
}

/** require(file) for tfjs-node's addon, with TensorFlow's start-up log kept to what the user asked for. */
function loadAddon(file) {
  if (process.env.FMNIST_TF_LOGS === "1") return require(file);
  // Read by TensorFlow's own logging when the library loads; the user's value wins.
  if (process.env.TF_CPP_MIN_LOG_LEVEL === undefined) process.env.TF_CPP_MIN_LOG_LEVEL = "2";
  const resolved = require.resolve(file);
  const helper = require.cache[resolved] ? null : quietHelper();
  if (!helper) return require(resolved);
  let saved, capture;
  try {
    [saved, capture] = helper.begin();
  } catch {
    return require(resolved); // (stderr cannot be captured here: the log goes through unfiltered)
  }
  try {
    return require(resolved);
  } finally {
    const kept = filterTfLog(helper.end(saved, capture), minLogLevel(process.env));
    if (kept) process.stderr.write(kept);
  }
}

module.exports = { util, loadAddon, filterTfLog, minLogLevel };
