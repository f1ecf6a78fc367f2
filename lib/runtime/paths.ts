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
  const pkg = path.resolve(__dirname, "..", ".."); // dist/runtime/ -> the package folder
  const parent = path.dirname(pkg);
  if (path.basename(parent) === "node_modules") {
    cachedRoot = path.dirname(parent);
    return cachedRoot;
  }
  let dir = parent;
  while (!fs.existsSync(path.join(dir, "package.json"))) {
    const up = path.dirname(dir);
    if (up === dir)
      throw new Error(`Cannot find the project using fashion-mnist-lib (a folder with package.json) above ${pkg}`);
    dir = up;
  }
  cachedRoot = dir;
  return dir;
}

/**
 * The folder the user typed the command in. npm runs scripts from the
 * project's root and keeps the user's folder in INIT_CWD; the kernels that
 * `npm start` and `npm run lab` start inherit it (their own working folder is
 * the notebook's).
 */
export function userCwd(): string {
  return process.env.INIT_CWD || process.cwd();
}

/** A path the user gave in a flag or an environment variable, taken from the folder they typed the command in. */
export function userPath(p: string): string {
  return path.resolve(userCwd(), p);
}

/**
 * The folder for the dataset cache, saved models and checkpoints: FMNIST_DATA_DIR
 * (a relative path is taken from the folder the command was typed in), else
 * `data/` in the project that uses the library. Nothing is created here.
 *
 * @throws Error when no project folder (one with a package.json) is found
 *   above the library.
 */
export function dataDir(): string {
  return process.env.FMNIST_DATA_DIR ? userPath(process.env.FMNIST_DATA_DIR) : path.join(repoRoot(), "data");
}
