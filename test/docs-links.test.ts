// The README and the guides in docs/ link to each other, to files of the
// checkout and to screenshots: every relative link and image must point to a
// file that exists, and every #anchor to a heading of that file, so moving a
// section or renaming a file cannot leave a reader at a dead end. The checker
// is first run on a small sample with known faults, so it is shown to fail.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "fs";
import * as path from "path";
import { makeTempDir, removeDir, repoRoot } from "./helpers";

interface Link {
  file: string;
  line: number;
  target: string;
  image: boolean;
}

/** The text of a Markdown file with code (fenced blocks, inline spans) blanked, lines kept in place. */
function withoutCode(markdown: string): string {
  let fence: string | null = null;
  return markdown
    .split("\n")
    .map((line) => {
      const marker = /^\s*(`{3,}|~{3,})/.exec(line)?.[1];
      if (fence !== null) {
        if (marker && marker[0] === fence[0] && marker.length >= fence.length) fence = null;
        return "";
      }
      if (marker) {
        fence = marker;
        return "";
      }
      // A span's text is not a link, but its place in a link's text must stay.
      return line.replace(/(`+)[\s\S]*?\1/g, "code");
    })
    .join("\n");
}

function linksIn(file: string): Link[] {
  const text = withoutCode(fs.readFileSync(file, "utf8"));
  const links: Link[] = [];
  text.split("\n").forEach((lineText, i) => {
    const add = (target: string, image: boolean) => links.push({ file, line: i + 1, target, image });
    // Inline links and images: [text](target "title"); the text may hold one level of brackets.
    for (const m of lineText.matchAll(/(!?)\[(?:[^[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
      add(m[2], m[1] === "!");
    }
    for (const m of lineText.matchAll(/^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/g)) add(m[1], false);
    for (const m of lineText.matchAll(/<img\b[^>]*\bsrc="([^"]+)"/g)) add(m[1], true);
    for (const m of lineText.matchAll(/<a\b[^>]*\bhref="([^"]+)"/g)) add(m[1], false);
  });
  return links;
}

/** GitHub's anchors for a file's headings: lowercase, punctuation dropped, spaces to '-', repeats numbered. */
function anchorsOf(file: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const line of withoutCodeBlocksOnly(fs.readFileSync(file, "utf8")).split("\n")) {
    const m = /^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!m) continue;
    const text = m[1]
      .replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1")
      .replace(/<[^>]+>/g, "")
      .replace(/[`*~]/g, "");
    const base = text
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\p{M}\s_-]/gu, "")
      .replace(/ /g, "-");
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  return anchors;
}

/** Fenced blocks blanked (a '#' line in a shell block is not a heading); inline code kept for headings' text. */
function withoutCodeBlocksOnly(markdown: string): string {
  let fence: string | null = null;
  return markdown
    .split("\n")
    .map((line) => {
      const marker = /^\s*(`{3,}|~{3,})/.exec(line)?.[1];
      if (fence !== null) {
        if (marker && marker[0] === fence[0] && marker.length >= fence.length) fence = null;
        return "";
      }
      if (marker) fence = marker;
      return marker ? "" : line;
    })
    .join("\n");
}

/** What is wrong with each relative link and image of these files, one line per fault. */
function brokenLinks(files: string[]): string[] {
  const problems: string[] = [];
  for (const file of files) {
    for (const link of linksIn(file)) {
      const where = `${path.relative(repoRoot, link.file)}:${link.line}: ${link.image ? "image" : "link"} ${link.target}`;
      if (/^[a-z][a-z0-9+.-]*:/i.test(link.target) || link.target.startsWith("//")) continue;
      const hash = link.target.indexOf("#");
      const filePart = decodeURIComponent(hash < 0 ? link.target : link.target.slice(0, hash));
      const anchor = hash < 0 ? null : decodeURIComponent(link.target.slice(hash + 1));
      const resolved = filePart === "" ? link.file : path.resolve(path.dirname(link.file), filePart);
      if (!fs.existsSync(resolved)) {
        problems.push(`${where}: no such file (${path.relative(repoRoot, resolved)})`);
        continue;
      }
      if (link.image) {
        const stat = fs.statSync(resolved);
        if (!stat.isFile() || stat.size === 0) problems.push(`${where}: not an image file`);
      }
      if (anchor !== null) {
        if (!resolved.endsWith(".md") || !fs.statSync(resolved).isFile()) {
          problems.push(`${where}: an anchor into a file that is not Markdown`);
        } else if (!anchorsOf(resolved).has(anchor)) {
          problems.push(`${where}: no heading '#${anchor}' in ${path.relative(repoRoot, resolved)}`);
        }
      }
    }
  }
  return problems;
}

function documentationFiles(): string[] {
  const docs = path.join(repoRoot, "docs");
  const files = [path.join(repoRoot, "README.md"), path.join(repoRoot, "CHANGELOG.md")].filter((f) => fs.existsSync(f));
  for (const name of fs.readdirSync(docs).sort()) if (name.endsWith(".md")) files.push(path.join(docs, name));
  return files;
}

test("the link checker finds a missing file, a missing heading and a missing image", () => {
  const tmp = makeTempDir("fmnist-docs-links-");
  try {
    fs.writeFileSync(path.join(tmp, "other.md"), "# Other\n\n## Run size (and why)\n\n## Run size (and why)\n");
    fs.writeFileSync(path.join(tmp, "picture.png"), "not empty");
    const sample = path.join(tmp, "sample.md");
    fs.writeFileSync(
      sample,
      [
        "# Sample",
        "",
        "## The `fm` library's set-up",
        "",
        "Good: [other](other.md), [heading](other.md#run-size-and-why), [second](other.md#run-size-and-why-1),",
        "[here](#the-fm-librarys-set-up), [web](https://example.org/x.md#nowhere), ![picture](picture.png).",
        "Bad: [gone](missing.md), [no heading](other.md#run-sizes), ![no picture](images/absent.png),",
        "[no third](other.md#run-size-and-why-2).",
        "",
        "```sh",
        "echo '[not a link](nowhere.md)'",
        "```",
        "",
        "Code is not a link: `[x](nowhere.md)`.",
      ].join("\n"),
    );
    const found = brokenLinks([sample]).map((p) => p.replace(/^.*?sample\.md:/, ""));
    assert.deepEqual(found, [
      `7: link missing.md: no such file (${path.relative(repoRoot, path.join(tmp, "missing.md"))})`,
      "7: link other.md#run-sizes: no heading '#run-sizes' in " + path.relative(repoRoot, path.join(tmp, "other.md")),
      `7: image images/absent.png: no such file (${path.relative(repoRoot, path.join(tmp, "images", "absent.png"))})`,
      "8: link other.md#run-size-and-why-2: no heading '#run-size-and-why-2' in " +
        path.relative(repoRoot, path.join(tmp, "other.md")),
    ]);
  } finally {
    removeDir(tmp);
  }
});

test("every relative link and image in the README and docs/*.md points to a file and heading that exist", () => {
  const files = documentationFiles();
  assert.ok(files.length >= 7, `the README and the guides are found: ${files.join(", ")}`);
  const links = files.flatMap(linksIn);
  assert.ok(links.filter((l) => l.image).length >= 1, "the README and the guides show screenshots");
  const problems = brokenLinks(files);
  assert.deepEqual(problems, [], `broken links or images:\n${problems.join("\n")}`);
});

test("each guide opens with what its reader wants to do, linking to its own sections", () => {
  for (const name of ["learners.md", "instructors.md", "running-a-class.md", "operations.md", "developers.md"]) {
    const file = path.join(repoRoot, "docs", name);
    const text = fs.readFileSync(file, "utf8");
    const firstSection = text.indexOf("\n## ");
    const opening = text.slice(0, firstSection < 0 ? text.length : firstSection);
    assert.match(opening, /What you want to do:/, `${name} opens with what its reader wants to do`);
    const ownSections = [...opening.matchAll(/\]\(#([^)]+)\)/g)].map((m) => m[1]);
    assert.ok(ownSections.length >= 3, `${name}'s task list links to its sections: ${ownSections.join(", ")}`);
  }
});

test("every npm script is in the guides' command table, and every 'npm run' the docs print exists", () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, "package.json"), "utf8")) as {
    scripts: Record<string, string>;
  };
  // pre*/post* scripts run on their own before and after the one they name.
  const scripts = Object.keys(pkg.scripts).filter((name) => !/^(pre|post)/.test(name));
  const commandTable = fs.readFileSync(path.join(repoRoot, "docs", "README.md"), "utf8");
  const invocation = (name: string) => (name === "start" || name === "test" ? `npm ${name}` : `npm run ${name}`);
  const missing = scripts.filter((name) => !new RegExp(`\\b${invocation(name)}(?![\\w:-])`).test(commandTable));
  assert.deepEqual(missing, [], "scripts missing from docs/README.md's command table");
  const unknown = documentationFiles().flatMap((file) =>
    [...fs.readFileSync(file, "utf8").matchAll(/npm run ([\w:-]+)/g)]
      .map((m) => m[1])
      .filter((name) => !scripts.includes(name))
      .map((name) => `${path.relative(repoRoot, file)}: npm run ${name}`),
  );
  assert.deepEqual(unknown, [], "the docs print an npm script that package.json does not have");
});
