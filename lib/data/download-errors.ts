// The download's errors, shared by the cache side (download.ts) and the
// network side (http.ts).

export interface MirrorFailure {
  mirror: string;
  attempts: number;
  error: string;
}

/**
 * No mirror could deliver a verified copy of `file`. `failures` lists what
 * happened at each mirror (attempts and last error); the message also says how
 * to point FASHION_MNIST_MIRROR at a copy.
 */
export class DownloadError extends Error {
  /** The file's name. */
  readonly file: string;
  /** Each mirror tried: its URL or folder, the attempts made and the last error. */
  readonly failures: MirrorFailure[];
  constructor(file: string, failures: MirrorFailure[], message: string) {
    super(message);
    this.name = "DownloadError";
    this.file = file;
    this.failures = failures;
  }
}

/**
 * The cache folder `dir` cannot be created or written (permissions, a read-only
 * file system, a full disk); the message says which and what to do. Nothing
 * already cached is changed.
 */
export class CacheDirError extends Error {
  /** The cache folder. */
  readonly dir: string;
  constructor(dir: string, message: string) {
    super(message);
    this.name = "CacheDirError";
    this.dir = dir;
  }
}

/** A failed write into the cache folder, said in terms of what to do about it. */
export function cacheWriteError(dir: string, err: unknown): CacheDirError {
  const code = (err as NodeJS.ErrnoException)?.code;
  const why =
    code === "ENOSPC" || code === "EDQUOT"
      ? "the disk is full (no space left on device)"
      : code === "EROFS"
        ? "the file system is read-only"
        : `writing failed (${errText(err)})`;
  return new CacheDirError(
    dir,
    `Cannot write the dataset cache in ${dir}: ${why}. The partial file was removed and nothing cached was changed. ` +
      "Free some space (the dataset needs about 30 MB) or point FMNIST_DATA_DIR at another folder.",
  );
}

/** One failed attempt; `retry` says whether trying the same mirror again could help. */
export class AttemptError extends Error {
  constructor(
    message: string,
    readonly retry: boolean,
  ) {
    super(message);
  }
}

/** An error as one line, with its code. */
export function errText(err: unknown): string {
  if (err instanceof AttemptError) return err.message;
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return code && !err.message.includes(code) ? `${code} ${err.message}` : err.message;
  }
  return String(err);
}

