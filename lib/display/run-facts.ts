/**
 * The facts that identify one run of the notebook (when, which code, which
 * runtime, which data, how long, how good), for the notebook's last cell and
 * the header of the HTML report (`npm run report` reads them back from the
 * executed notebook's JSON output, see RUN_FACTS_KIND).
 */
import { execFileSync } from "child_process";
import { FILES, type FileKey } from "../data/dataset";
import { repoRoot } from "../runtime/paths";
import { runtimeVersions } from "../runtime/tf";

/** The `kind` of the JSON output that carries the run facts, so tools (the HTML export, the report) can find it. */
export const RUN_FACTS_KIND = "fashion-mnist-run-facts";

/** How big the run was and how long training took. */
export interface RunSize {
  /** Epochs trained. */
  epochs: number;
  /** Samples per training step. */
  batchSize: number;
  /** Training images. */
  trainSamples: number;
  /** Validation images. */
  validationSamples: number;
  /** Test images. */
  testSamples: number;
  /** Wall time of training, in seconds. */
  trainingSeconds: number;
}

/**
 * The facts that date a run's figures: its size and training time, test
 * accuracy and loss, the code's commit, the versions of Node, tfjs-node and
 * TensorFlow, the backend and the dataset files' SHA-256, as {@link runFacts}
 * collects them.
 */
export interface RunFacts extends RunSize {
  /** {@link RUN_FACTS_KIND}, so tools can tell this output from others. */
  kind: typeof RUN_FACTS_KIND;
  /** ISO 8601 time the facts were collected (end of the run). */
  date: string;
  /** `git rev-parse HEAD` of the project, with "-dirty" if tracked files changed; "unknown" outside git. */
  gitCommit: string;
  /** Node's version. */
  node: string;
  /** tfjs-node's version. */
  tfjsNode: string;
  /** The TensorFlow C library's version, as it reports itself. */
  tensorflow: string;
  /** tfjs's backend ("tensorflow" for the native one). */
  backend: string;
  /** SHA-256 of each dataset file, as verified when it was loaded. */
  datasetSha256: Record<string, string>;
  /** Accuracy on the test set, from 0 to 1. */
  testAccuracy: number;
  /** Mean cross-entropy loss on the test set. */
  testLoss: number;
}

/** What the notebook knows at the end of a run. */
export interface RunFactsInput extends RunSize {
  test: { accuracy: number; loss: number };
}

function gitCommit(): string {
  try {
    const opts = {
      cwd: repoRoot(),
      encoding: "utf8" as const,
      stdio: ["ignore", "pipe", "ignore"] as ("ignore" | "pipe")[],
      timeout: 10_000,
    };
    const head = execFileSync("git", ["rev-parse", "HEAD"], opts).trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--untracked-files=no"], opts).trim() !== "";
    return dirty ? `${head}-dirty` : head;
  } catch {
    return "unknown";
  }
}

function checkNumber(name: string, v: unknown, min: number, max = Infinity): number {
  if (typeof v !== "number" || !Number.isFinite(v) || v < min || v > max) {
    throw new Error(`runFacts: ${name} must be a number in [${min}, ${max}], got ${String(v)}`);
  }
  return v;
}

/**
 * Collects the run facts at the end of a run: the sizes and time given (epochs,
 * batch size, sample counts, training seconds, test accuracy 0-1 and loss),
 * with the date, the git commit and the runtime versions read here.
 *
 * @throws Error naming the field when a number is missing, not finite, or out
 *   of range (e.g. a negative count or an accuracy above 1).
 */
export function runFacts(input: RunFactsInput): RunFacts {
  if (!input || typeof input !== "object") throw new Error("runFacts: input must be an object");
  if (!input.test || typeof input.test !== "object") throw new Error("runFacts: input.test must be {accuracy, loss}");
  const v = runtimeVersions();
  const sha: Record<string, string> = {};
  for (const key of Object.keys(FILES) as FileKey[]) sha[FILES[key].name] = FILES[key].sha256;
  return {
    kind: RUN_FACTS_KIND,
    date: new Date().toISOString(),
    gitCommit: gitCommit(),
    node: v.node,
    tfjsNode: v["tfjs-node"],
    tensorflow: v.tensorflow,
    backend: v.backend,
    datasetSha256: sha,
    epochs: checkNumber("input.epochs", input.epochs, 0),
    batchSize: checkNumber("input.batchSize", input.batchSize, 1),
    trainSamples: checkNumber("input.trainSamples", input.trainSamples, 0),
    validationSamples: checkNumber("input.validationSamples", input.validationSamples, 0),
    testSamples: checkNumber("input.testSamples", input.testSamples, 0),
    trainingSeconds: checkNumber("input.trainingSeconds", input.trainingSeconds, 0),
    testAccuracy: checkNumber("input.test.accuracy", input.test.accuracy, 0, 1),
    testLoss: checkNumber("input.test.loss", input.test.loss, 0),
  };
}

/** The facts as a Markdown table for people (accuracy in %, training time in seconds, the full commit and each file's SHA-256). */
export function runFactsMarkdown(f: RunFacts): string {
  const rows: [string, string][] = [
    ["date", f.date],
    ["git commit", `\`${f.gitCommit}\``],
    ["Node.js", f.node],
    ["tfjs-node", f.tfjsNode],
    ["TensorFlow (native)", f.tensorflow],
    ["backend", f.backend],
    [
      "data",
      `${f.trainSamples.toLocaleString("en-US")} training, ${f.validationSamples.toLocaleString("en-US")} validation, ${f.testSamples.toLocaleString("en-US")} test images`,
    ],
    ["epochs / batch size", `${f.epochs} / ${f.batchSize}`],
    ["training time", `${f.trainingSeconds.toFixed(1)} s`],
    ["test accuracy", `${(f.testAccuracy * 100).toFixed(2)}% (loss ${f.testLoss.toFixed(4)})`],
    ...Object.entries(f.datasetSha256).map(([name, sha]): [string, string] => [`SHA-256 ${name}`, `\`${sha}\``]),
  ];
  return ["| fact | value |", "| --- | --- |", ...rows.map(([k, v]) => `| ${k} | ${v.replace(/\|/g, "\\|")} |`)].join(
    "\n",
  );
}
