// The API reference: `npm run docs` builds the guides and TypeDoc's reference
// of every public name into one site that needs no network, and JupyterLab's
// contextual help (the kernel's inspect_request) shows a name's doc comment.
// The doc text checked here is read from lib/'s sources, never repeated.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { publicNames } from "../scripts/docs-api-check";
import { makeTempDir, removeDir, repoRoot } from "./helpers";

const libDir = path.join(repoRoot, "lib");
const docs = new Map(publicNames(libDir).map((n) => [n.name, n.doc]));

/** A doc comment's first sentence as a reader sees it: no comment stars, links or backticks, spaces collapsed. */
function firstSentence(name: string): string {
  const doc = docs.get(name);
  assert.ok(doc, `${name} has a doc comment`);
  const text = plain(
    doc
      .replace(/^\/\*\*|\*\/$/g, "")
      .split("\n")
      .map((line) => line.replace(/^\s*\* ?/, ""))
      .join(" "),
  );
  const end = text.search(/[.:](\s|$)/);
  assert.ok(end > 20, `${name}'s doc comment starts with a sentence: ${text.slice(0, 80)}`);
  return text.slice(0, end + 1);
}

function plain(text: string): string {
  return text
    .replace(/\{@link\s+([^}|\s]+)[^}]*\}/g, "$1")
    .replace(/`/g, "")
    .replace(/\s+/g, " ")
    .trim();
}

/** Text without any whitespace: markup (a tag, a line break) may add or drop a space next to a word. */
const squash = (text: string) => text.replace(/\s+/g, "");

/** An HTML page's visible text, entities decoded. */
function pageText(html: string): string {
  const decoded = html
    .replace(/<script[\s\S]*?<\/script>/g, " ")
    .replace(/<[^>]+>/g, " ")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&#39;|&#x27;/g, "'")
    .replace(/&amp;/g, "&");
  return decoded.replace(/\s+/g, " ");
}

/** HTML and SVG elements; any other tag in a page is text a comment left unescaped (`data/models/<name>/`). */
const ELEMENTS = new Set(
  (
    "a abbr article aside b blockquote body br button caption circle cite code col colgroup dd defs del details dfn " +
    "dialog div dl dt em figcaption figure footer form g h1 h2 h3 h4 h5 h6 head header hr html i img input ins kbd " +
    "label li line link main mark meta nav ol option p path picture polygon polyline pre q rect s samp script " +
    "section select small source span strong style sub summary sup svg symbol table tbody td text tfoot th thead " +
    "title tr tspan u ul use var wbr"
  ).split(" "),
);

function htmlFiles(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".html"));
}

test("npm run docs: every public name documented, a page per name with its doc text, the guides, nothing from the network", () => {
  const out = makeTempDir("fmnist-docs-");
  try {
    // The script as users run it; its last step (typedoc) writes where --out says instead of site/.
    const res = spawnSync("npm", ["run", "docs", "--", "--out", out], { cwd: repoRoot, encoding: "utf8" });
    const log = `${res.stdout}\n${res.stderr}`;
    assert.equal(res.status, 0, log);
    const counted = /(\d+) of (\d+) public names of fashion-mnist-lib have a doc comment/.exec(log);
    assert.ok(counted, log);
    assert.equal(counted[1], counted[2]);
    assert.ok(Number(counted[2]) >= 100, `public names counted: ${counted[2]}`);
    // TypeDoc's own checks: no undocumented name or member it renders, no link to a name it does not.
    assert.doesNotMatch(
      log,
      /does not have any documentation|Failed to resolve link|links to "[^"]*" which was resolved/,
    );

    for (const name of ["fit", "loadFashionMnist", "interpret", "showPlotly", "saveModel"]) {
      // A function's page, or a variable's for a function held in a const (the show* functions).
      const page = ["functions", "variables"]
        .map((kind) => path.join(out, kind, `fashion-mnist-lib.${name}.html`))
        .find((p) => fs.existsSync(p));
      assert.ok(page, `${name} has a page`);
      const text = pageText(fs.readFileSync(page, "utf8"));
      assert.ok(
        squash(text).includes(squash(firstSentence(name))),
        `${name}'s page holds its doc comment: ${firstSentence(name)}`,
      );
      assert.match(text, /Example/, `${name}'s page has its example`);
    }
    assert.match(
      pageText(fs.readFileSync(path.join(out, "functions", "fashion-mnist-lib.fit.html"), "utf8")),
      /Throws/,
    );
    assert.ok(fs.existsSync(path.join(out, "classes", "fashion-mnist-lib.Interpretation.html")));

    // Each guide in docs/ is a page of the site.
    const guides = fs.readdirSync(path.join(repoRoot, "docs")).filter((f) => f.endsWith(".md"));
    assert.ok(guides.length > 0);
    for (const guide of guides) {
      const page = path.join(out, "documents", guide.replace(/\.md$/, ".html"));
      assert.ok(fs.existsSync(page), `the guide ${guide} is in the site`);
    }

    // Offline: every script and stylesheet is a file of the site.
    const pages = htmlFiles(out);
    assert.ok(pages.length > 100, `${pages.length} pages`);
    for (const file of pages) {
      const html = fs.readFileSync(path.join(out, file), "utf8");
      const refs = [
        ...[...html.matchAll(/<script[^>]*\ssrc="([^"]*)"/g)].map((m) => m[1]),
        ...[...html.matchAll(/<link[^>]*\shref="([^"]*)"[^>]*>/g)]
          .filter((m) => /rel="(stylesheet|preload|modulepreload)"/.test(m[0]) || m[1].endsWith(".css"))
          .map((m) => m[1]),
      ];
      for (const ref of refs) {
        assert.doesNotMatch(ref, /^(https?:)?\/\//, `${file} loads ${ref} from the network`);
        assert.ok(fs.existsSync(path.resolve(out, path.dirname(file), ref.split(/[?#]/)[0])), `${file}: ${ref} exists`);
      }
      assert.doesNotMatch(html, /@import\s+url\(\s*["']?https?:/, `${file} imports a stylesheet from the network`);
      // Links between pages, and to the files the guides link (copied into media/), lead somewhere.
      for (const [, href] of html.matchAll(/<a [^>]*href="([^"]*)"/g)) {
        const target = decodeURIComponent(href.split(/[?#]/)[0]);
        if (!target || /^[a-z]+:/i.test(href)) continue;
        assert.ok(
          fs.existsSync(path.resolve(out, path.dirname(file), target)),
          `${file} links to ${href}, not in the site`,
        );
      }
      for (const [, tag] of html.matchAll(/<([a-zA-Z][\w-]*)/g))
        assert.ok(
          ELEMENTS.has(tag.toLowerCase()),
          `${file} shows <${tag}> as a tag: escape it in the comment (backticks)`,
        );
    }
    for (const css of fs.readdirSync(path.join(out, "assets")).filter((f) => f.endsWith(".css"))) {
      assert.doesNotMatch(fs.readFileSync(path.join(out, "assets", css), "utf8"), /url\(\s*["']?https?:/, css);
    }
  } finally {
    removeDir(out);
  }
});

// The kernel's inspection (Shift+Tab, the contextual help) through jupyter_client, as JupyterLab asks it.
const INSPECT = String.raw`
import json, os, sys
from jupyter_client.manager import start_new_kernel

km, kc = start_new_kernel(kernel_name="tslab", cwd=os.path.join(sys.argv[1], "notebooks"), startup_timeout=120)
try:
    reply = kc.execute_interactive('import * as fm from "fashion-mnist-lib";', timeout=120, output_hook=lambda msg: None)
    code = sys.argv[2]
    msg_id = kc.inspect(code, len(code))
    while True:
        msg = kc.get_shell_msg(timeout=60)
        if msg["parent_header"].get("msg_id") == msg_id:
            break
    print(json.dumps({"import": reply["content"]["status"], "inspect": msg["content"]}))
finally:
    km.shutdown_kernel(now=True)
`;

test("the tslab kernel's inspect_request on fm.fit shows fit's doc comment", { timeout: 4 * 60_000 }, () => {
  const res = spawnSync(path.join(repoRoot, ".venv", "bin", "python"), ["-c", INSPECT, repoRoot, "fm.fit"], {
    encoding: "utf8",
  });
  assert.equal(res.status, 0, res.stderr);
  const seen = JSON.parse(res.stdout.trim().split("\n").pop()!) as {
    import: string;
    inspect: { status: string; found: boolean; data: Record<string, string> };
  };
  assert.equal(seen.import, "ok");
  assert.equal(seen.inspect.status, "ok");
  assert.equal(seen.inspect.found, true);
  const help = seen.inspect.data["text/plain"];
  assert.match(help, /function fit\(model: tf\.LayersModel/);
  assert.ok(plain(help).includes(firstSentence("fit")), `the contextual help shows fit's doc comment:\n${help}`);
});
