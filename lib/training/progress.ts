// How fit reports and guards its progress: lines of text in a terminal (the
// notebook view is display/live.ts's, put into notebookTraining), and
// the guard that stops training on a kernel interrupt or a non-finite loss.
import { memoryPressure, MemoryLimitError } from "../runtime/memory";
import { inNotebook } from "../runtime/reporting";
import type { tf } from "../runtime/tf";

/** One epoch of training, as fit reports it and keeps it in the history. */
export interface EpochLog {
  /** The epoch's number, from 1. */
  epoch: number;
  /** Mean training loss (sparse categorical cross-entropy) over the epoch's batches. */
  loss: number;
  /** Training accuracy over the epoch, from 0 to 1. */
  accuracy: number;
  /** Loss on the validation set after the epoch (when fit was given one). */
  val_loss?: number;
  /** Accuracy on the validation set after the epoch, from 0 to 1 (when fit was given one). */
  val_accuracy?: number;
  /** The epoch's wall time in seconds (validation included). */
  seconds: number;
}

/**
 * Where {@link fit} shows its progress: "notebook" (one live output with a
 * chart), "terminal" (a bar on stderr, a line per epoch), "none", or "auto"
 * (the default: the notebook inside a tslab kernel, else the terminal).
 */
export type ProgressMode = "auto" | "notebook" | "terminal" | "none";

/** What fit tells about its progress; the notebook view (display/live.ts) implements it too. */
export interface TrainingProgress {
  epochStart(epoch: number): void;
  /** `logs` reads the running metrics (a device sync): call it only when drawing. */
  batch(done: number, logs?: () => tf.Logs): void;
  epochEnd(log: EpochLog, history: EpochLog[]): void;
  done(): void;
}

/** A metric as the progress lines print it ("-" when missing). */
export const fmt = (v: number | undefined, digits = 4) =>
  v === undefined || Number.isNaN(v) ? "-" : v.toFixed(digits);

/** One epoch as a line of text, as Keras prints it. */
export function epochLine(log: EpochLog, epochs: number): string {
  const val =
    log.val_loss === undefined ? "" : ` - val_accuracy: ${fmt(log.val_accuracy)} - val_loss: ${fmt(log.val_loss)}`;
  return `Epoch ${log.epoch}/${epochs} - ${log.seconds.toFixed(1)}s - accuracy: ${fmt(log.accuracy)} - loss: ${fmt(log.loss)}${val}`;
}

/** The notebook's training view, put here by display/live.ts when the package loads (training never imports display). */
export const notebookTraining: { view?: (epochs: number, steps: number) => TrainingProgress } = {};

export function makeProgress(mode: ProgressMode, epochs: number, steps: number): TrainingProgress {
  if (mode === "auto") mode = inNotebook() ? "notebook" : "terminal";
  if (mode === "none") return { epochStart() {}, batch() {}, epochEnd() {}, done() {} };
  // The notebook view is display's (registered when the package loads); without it, lines of text.
  const notebook = mode === "notebook" ? notebookTraining.view : undefined;
  return notebook ? notebook(epochs, steps) : terminalProgress(epochs, steps);
}

/** A bar on stderr while an epoch runs (TTY only), one line per epoch on stdout. */
function terminalProgress(epochs: number, steps: number): TrainingProgress {
  const tty = process.stderr.isTTY === true;
  let epoch = 0;
  let lastDraw = 0;
  return {
    epochStart(e) {
      epoch = e;
    },
    batch(done, getLogs) {
      const now = performance.now();
      if (!tty || (now - lastDraw < 200 && done < steps)) return;
      lastDraw = now;
      const logs = getLogs?.();
      const width = 30;
      const filled = Math.round((done / steps) * width);
      const bar = "=".repeat(filled) + " ".repeat(width - filled);
      process.stderr.write(
        `\rEpoch ${epoch}/${epochs} [${bar}] ${done}/${steps} - accuracy: ${fmt(logs?.acc as number)} - loss: ${fmt(logs?.loss as number)}`,
      );
    },
    epochEnd(log) {
      if (tty) process.stderr.write("\r\x1b[K");
      console.log(epochLine(log, epochs));
    },
    done() {},
  };
}

/**
 * Stops training early, with a message that says where: on a non-finite loss,
 * and (in a notebook) on a kernel interrupt. tslab's interrupt only abandons
 * the cell's promise, so without this the training would go on in the
 * background and hold its tensors; here the loop notices at the next batch,
 * stops, and frees them.
 */
export class TrainingGuard {
  private reason?: string;
  private interrupted = false;
  private readonly onSigint = () => {
    this.interrupted = true;
  };
  private readonly pending?: NodeJS.Immediate;
  constructor(private readonly listen: boolean) {
    // Not synchronously: tslab runs a cell's synchronous part with vm's
    // breakOnSigint, and a SIGINT listener added during that part leaves the
    // process with the default SIGINT action afterwards, so the next interrupt
    // would kill the kernel. Deferred, it lands after the cell's sync part.
    if (listen) this.pending = setImmediate(() => process.on("SIGINT", this.onSigint));
  }
  /** Set when the stop is for memory (throwIfStopped then throws a MemoryLimitError). */
  private memory = false;
  private calls = 0;
  /** Records why training must stop, if it must; returns that reason. */
  stopReason(epoch: number, batch: number, loss?: number): string | undefined {
    if (this.reason) return this.reason;
    // Reading the cgroup's memory.stat takes well under 0.1 ms: every 8th batch.
    const pressure = ++this.calls % 8 === 0 ? memoryPressure() : undefined;
    if (pressure) {
      this.memory = true;
      this.reason = `Training stopped in epoch ${epoch} after batch ${batch} to stay clear of the memory limit: ${pressure}.`;
    } else if (this.interrupted) {
      this.reason = `Training interrupted in epoch ${epoch} after batch ${batch}; the model keeps the weights reached so far.`;
    } else if (loss !== undefined && !Number.isFinite(loss)) {
      this.reason =
        `Training diverged: the loss became ${loss} in epoch ${epoch} by batch ${batch}. ` +
        "Lower the learning rate, or check that the images are scaled to [0, 1] and the labels are 0-9.";
    }
    return this.reason;
  }
  throwIfStopped(): void {
    if (this.reason) throw this.memory ? new MemoryLimitError(this.reason) : new Error(this.reason);
  }
  dispose(): void {
    if (!this.listen) return;
    clearImmediate(this.pending);
    process.off("SIGINT", this.onSigint);
  }
}
