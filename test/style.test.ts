// House style, kept by tools: ESLint (eslint.config.mjs) finds nothing and the
// code is formatted as Prettier writes it (`npm run format` fixes it). CI runs
// this, so unformatted or lint-failing code does not land.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as path from "path";
import { repoRoot } from "./helpers";

const bin = (name: string) => path.join(repoRoot, "node_modules", ".bin", name);

test("ESLint finds nothing", () => {
  const r = spawnSync(bin("eslint"), ["--max-warnings", "0", "."], { cwd: repoRoot, encoding: "utf8" });
  assert.equal(r.status, 0, `npm run lint:\n${r.stdout}${r.stderr}`);
});

test("the code is formatted as Prettier writes it", () => {
  const r = spawnSync(bin("prettier"), ["--check", "."], { cwd: repoRoot, encoding: "utf8" });
  assert.equal(r.status, 0, `unformatted files (npm run format fixes them):\n${r.stdout}${r.stderr}`);
});
