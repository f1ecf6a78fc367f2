// nodejs-polars, loaded on first use. Its native addon is a 120 MB file that
// took 50-400 ms to load here; loaded by `import`, every notebook's import cell
// and every CLI run paid that before its first training step, even when no
// data frame was ever built.
import type pl from "nodejs-polars";

let loaded: typeof pl | undefined;

export function polars(): typeof pl {
  loaded ??= (require("nodejs-polars") as { default: typeof pl }).default;
  return loaded;
}
