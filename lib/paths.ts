// Where the project keeps things, found from this file's location so it works
// both as lib/*.ts (compiled by tslab) and as build/lib/*.js (tests, CLI).
import * as fs from "fs";
import * as path from "path";

let cachedRoot: string | undefined;

/** The folder holding the project's package.json. */
export function repoRoot(): string {
  if (cachedRoot) return cachedRoot;
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, "package.json"))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`Cannot find the project root (a folder with package.json) above ${__dirname}`);
    dir = up;
  }
  cachedRoot = dir;
  return dir;
}

/** data/ in the project, or FMNIST_DATA_DIR. */
export function dataDir(): string {
  return process.env.FMNIST_DATA_DIR ? path.resolve(process.env.FMNIST_DATA_DIR) : path.join(repoRoot(), "data");
}
