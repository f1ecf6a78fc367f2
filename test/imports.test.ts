// Imports go one way (ARCHITECTURE.md, "The data's path"): every import,
// require and `import type` of the TypeScript sources, read with TypeScript's
// own pre-parser (no compiling, no TensorFlow), checked for
// - a library module importing from a folder below its own in the data's
//   order (runtime, data, model, training, evaluation, display; training's
//   native/ and graph/ count as training; lib/index.ts, the public API, is
//   exempt);
// - an import cycle among the modules of lib/, scripts/ and bench/ (two
//   modules importing each other, or a longer ring), named module by module.
// The checks themselves are tried first on a small made-up graph, so a
// checker that finds nothing cannot pass unnoticed.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import * as ts from "typescript";

const ROOT = path.resolve(__dirname, "..", "..");
const LAYERS = ["runtime", "data", "model", "training", "evaluation", "display"] as const;
const CHECKED = ["lib", "scripts", "bench"];
// Read too, so a ring that passes through a test helper is still seen.
const SOURCES = [...CHECKED, "test"];
const SKIPPED = new Set(["node_modules", "dist", "build", "results"]);
const PACKAGE = "fashion-mnist-lib";

/** Module -> the repository's modules it imports (paths relative to the root, with .ts). */
type Graph = Map<string, string[]>;

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
    const rel = path.join(dir, entry.name);
    if (entry.isDirectory() && !SKIPPED.has(entry.name)) out.push(...sourceFiles(rel));
    else if (entry.isFile() && entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts")) out.push(rel);
  }
  return out;
}

/** The repository file an import names, or undefined for a package outside it. */
function resolve(from: string, spec: string): string | undefined {
  let base: string;
  if (spec === PACKAGE) base = "lib/index";
  else if (spec.startsWith(`${PACKAGE}/dist/`)) base = path.join("lib", spec.slice(`${PACKAGE}/dist/`.length));
  else if (spec.startsWith(".")) base = path.join(path.dirname(from), spec);
  else return undefined;
  base = base.replace(/\.js$/, "");
  return [`${base}.ts`, path.join(base, "index.ts")].find((f) => fs.existsSync(path.join(ROOT, f)));
}

let cached: Graph | undefined;

function importGraph(): Graph {
  if (cached) return cached;
  const graph: Graph = (cached = new Map());
  for (const file of SOURCES.flatMap(sourceFiles)) {
    const info = ts.preProcessFile(fs.readFileSync(path.join(ROOT, file), "utf8"), true, true);
    const targets = info.importedFiles
      .map((f) => resolve(file, f.fileName))
      .filter((f): f is string => f !== undefined);
    graph.set(file, [...new Set(targets)].sort());
  }
  return graph;
}

/** The data's-path folder of a library module (training/native/x.ts is training), or undefined outside it. */
function layerOf(file: string): number | undefined {
  const [top, folder] = file.split(path.sep);
  if (top !== "lib" || file === path.join("lib", "index.ts")) return undefined;
  const at = LAYERS.indexOf(folder as (typeof LAYERS)[number]);
  return at < 0 ? undefined : at;
}

/** "a imports b (from folder X, below Y)" for each import of a library module that goes down the data's path. */
function downwardImports(graph: Graph): string[] {
  const found: string[] = [];
  for (const [file, targets] of graph) {
    const own = layerOf(file);
    if (own === undefined) continue;
    for (const target of targets) {
      const their = layerOf(target);
      if (their !== undefined && their > own)
        found.push(`${file} imports ${target} (${LAYERS[their]}/ comes after ${LAYERS[own]}/)`);
    }
  }
  return found;
}

/** Every ring of imports that touches `within`'s folders, as "a -> b -> a" (Tarjan's components, then a path in each). */
function importCycles(graph: Graph, within: string[]): string[] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  const visit = (v: string) => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (graph.get(v) ?? []).includes(v)) components.push(component);
    }
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v);
  const inside = (f: string) => within.includes(f.split(path.sep)[0]);
  return components
    .filter((c) => c.some(inside))
    .map((c) => {
      // One ring through the component, from its first module (breadth-first back to it).
      const members = new Set(c);
      const start = [...c].sort()[0];
      const before = new Map<string, string>();
      const queue = [start];
      let last: string | undefined;
      while (queue.length && last === undefined) {
        const v = queue.shift()!;
        for (const w of graph.get(v) ?? []) {
          if (!members.has(w)) continue;
          if (w === start) {
            last = v;
            break;
          }
          if (!before.has(w)) {
            before.set(w, v);
            queue.push(w);
          }
        }
      }
      const ring = [start];
      for (let v = last; v !== undefined && v !== start; v = before.get(v)) ring.splice(1, 0, v);
      const others = c.filter((m) => !ring.includes(m)).sort();
      return [...ring, start].join(" -> ") + (others.length ? ` (tangled with it: ${others.join(", ")})` : "");
    });
}

test("imports: the checks find a made-up downward import and cycle", () => {
  const j = (...parts: string[]) => path.join(...parts);
  const graph: Graph = new Map([
    [j("lib", "data", "a.ts"), [j("lib", "training", "b.ts")]],
    [j("lib", "training", "b.ts"), [j("lib", "training", "native", "c.ts"), j("lib", "runtime", "d.ts")]],
    [j("lib", "training", "native", "c.ts"), [j("lib", "data", "a.ts")]],
    [j("lib", "runtime", "d.ts"), []],
    [j("lib", "index.ts"), [j("lib", "display", "e.ts")]],
    [j("lib", "display", "e.ts"), [j("lib", "training", "b.ts")]],
  ]);
  assert.deepEqual(downwardImports(graph), [
    `${j("lib", "data", "a.ts")} imports ${j("lib", "training", "b.ts")} (training/ comes after data/)`,
  ]);
  assert.deepEqual(importCycles(graph, CHECKED), [
    [
      j("lib", "data", "a.ts"),
      j("lib", "training", "b.ts"),
      j("lib", "training", "native", "c.ts"),
      j("lib", "data", "a.ts"),
    ].join(" -> "),
  ]);
});

test("imports: the real sources are read (type imports and re-exports included)", () => {
  const graph = importGraph();
  // Known edges of each kind, so a reader that misses a kind fails here rather than passing every check.
  const has = (from: string, to: string) => assert.ok(graph.get(from)?.includes(to), `${from} should import ${to}`);
  has(path.join("lib", "training", "progress.ts"), path.join("lib", "runtime", "tf.ts")); // import type
  has(path.join("lib", "training", "train.ts"), path.join("lib", "training", "evaluate.ts")); // export ... from
  has(path.join("scripts", "course.ts"), path.join("scripts", "course", "grading.ts"));
  has(path.join("bench", "hub-load.ts"), path.join("lib", "runtime", "paths.ts")); // through the package's name
  assert.ok(graph.size > 100, `only ${graph.size} modules read`);
});

test("imports: no library module imports from a folder below its own", () => {
  const found = downwardImports(importGraph());
  assert.deepEqual(found, [], `imports against the data's path (ARCHITECTURE.md):\n  ${found.join("\n  ")}`);
});

test("imports: no import cycle among lib/, scripts/ and bench/", () => {
  const found = importCycles(importGraph(), CHECKED);
  assert.deepEqual(found, [], `modules that import each other:\n  ${found.join("\n  ")}`);
});
