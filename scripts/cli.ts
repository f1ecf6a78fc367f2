// One way to read a command line, for every command of the project (train,
// course, bench, lockstep, the bench worker): Node's util.parseArgs in strict
// mode. `--help` prints the usage and exits 0 before anything heavy loads
// (commands import TensorFlow only after this); an unknown flag, a bad value or
// a flag given twice (but options declared `multiple`) exits 2 with a message
// that names it; any other failure exits 1.
import { parseArgs, type ParseArgsConfig } from "util";

/** A mistake in the command line: exit status 2. */
export class UsageError extends Error {}

/** util.parseArgs (strict) with --help handled; parse errors become UsageErrors. */
export function readCommandLine<T extends ParseArgsConfig>(config: T, usage: string): ReturnType<typeof parseArgs<T>> {
  const args = config.args ?? process.argv.slice(2);
  const end = args.indexOf("--");
  if ((end < 0 ? args : args.slice(0, end)).some((a) => a === "--help" || a === "-h")) {
    console.log(usage);
    process.exit(0);
  }
  let parsed: ReturnType<typeof parseArgs<T>>;
  try {
    // strict is parseArgs' default; the config's own options type the result.
    parsed = parseArgs({ ...config, args, tokens: true }) as ReturnType<typeof parseArgs<T>>;
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  // parseArgs keeps the last of a repeated option: refuse it instead (`--epochs 1 --epochs 3` is a typo, not a choice).
  const given = new Map<string, string[]>();
  for (const token of (parsed as { tokens?: { kind: string; name?: string; rawName?: string; value?: string }[] })
    .tokens ?? []) {
    if (token.kind !== "option" || !token.name || config.options?.[token.name]?.multiple) continue;
    const values = given.get(token.name) ?? [];
    values.push(token.value ?? token.rawName ?? "");
    given.set(token.name, values);
    if (values.length === 2) {
      const shown = token.value === undefined ? "" : ` (${values.map((v) => JSON.stringify(v)).join(", then ")})`;
      throw new UsageError(`--${token.name} is given twice${shown}: give it once`);
    }
  }
  return parsed;
}

/** A whole number written in decimal digits, from min to max, or a UsageError naming the flag. */
export function wholeNumber(flag: string, value: string | undefined, min = 1, max = Number.MAX_SAFE_INTEGER): number {
  const text = value?.trim() ?? "";
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(n >= min && n <= max)) {
    const range = max === Number.MAX_SAFE_INTEGER ? `${min} or more` : `from ${min} to ${max}`;
    throw new UsageError(
      `${flag} needs a whole number ${range}, got ${value === undefined ? "nothing" : JSON.stringify(value)}`,
    );
  }
  return n;
}

/** Runs a command's main function with the exit statuses above. */
export function runMain(name: string, main: () => unknown): void {
  Promise.resolve()
    .then(main)
    .catch((err: unknown) => {
      const message = err instanceof Error ? err.message : String(err);
      console.error(`${name}: ${message}${err instanceof UsageError ? " (see --help)" : ""}`);
      process.exit(err instanceof UsageError ? 2 : 1);
    });
}
