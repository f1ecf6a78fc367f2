// Where the library keeps the dataset cache and saved models.
import * as fs from "fs";
import * as path from "path";

let cachedRoot: string | undefined;

/**
 * The project that uses the library: the folder whose node_modules holds this
 * package (`npm install fashion-mnist-lib` in any folder), or, in the
 * fashion-mnist-cnn-ts checkout, where lib/ is the package itself (an npm
 * workspace), the checkout's root.
 */
export function repoRoot(): string {
  if (cachedRoot) return cachedRoot;
  const pkg = path.resolve(__dirname, ".."); // dist/ -> the package folder
  const parent = path.dirname(pkg);
  if (path.basename(parent) === "node_modules") {
    cachedRoot = path.dirname(parent);
    return cachedRoot;
  }
  let dir = parent;
  while (!fs.existsSync(path.join(dir, "package.json"))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`Cannot find the project using fashion-mnist-lib (a folder with package.json) above ${pkg}`);
    dir = up;
  }
  cachedRoot = dir;
  return dir;
}

/** FMNIST_DATA_DIR, or data/ in the project that uses the library. */
export function dataDir(): string {
  return process.env.FMNIST_DATA_DIR ? path.resolve(process.env.FMNIST_DATA_DIR) : path.join(repoRoot(), "data");
}
