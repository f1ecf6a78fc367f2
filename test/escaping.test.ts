// Every string that reaches HTML goes through escapeHtml: feed markup and quotes
// through each HTML-producing helper and check none of it survives as markup.
import { test } from "node:test";
import assert from "node:assert/strict";
import pl from "nodejs-polars";
import { escapeHtml, setNotebookOverride, setDisplayBackend } from "fashion-mnist-lib/dist/display/display";
import { imageGridHtml } from "fashion-mnist-lib/dist/display/images";
import { frameHtml, summaryHtml } from "fashion-mnist-lib/dist/display/views";
import { notebookProgressBar } from "fashion-mnist-lib/dist/display/live";

const EVIL = `<script>alert("x")</script><img src=x onerror='alert(1)'> & "quoted"`;

function assertInert(html: string, where: string): void {
  assert.ok(!html.includes("<script"), `${where}: no <script> tag`);
  assert.ok(!/onerror\s*=\s*['"]/i.test(html), `${where}: no injected event handler (its quotes are escaped)`);
  assert.ok(html.includes("&lt;script&gt;"), `${where}: the text is still shown, escaped`);
}

test("escapeHtml escapes the five HTML special characters", () => {
  assert.equal(escapeHtml(`<a href="x">'&'</a>`), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
});

test("image grid captions, subcaptions and titles are escaped", () => {
  const html = imageGridHtml([{ pixels: new Uint8Array(784), caption: EVIL, subcaption: EVIL }], { title: EVIL });
  assertInert(html, "imageGridHtml");
});

test("model summary cells are escaped", () => {
  const html = summaryHtml({
    name: EVIL,
    rows: [{ name: EVIL, type: EVIL, outputShape: EVIL, params: 1 }],
    totalParams: 1,
    trainableParams: 1,
    nonTrainableParams: 0,
  });
  assertInert(html, "summaryHtml");
});

test("data frame headers and cells are escaped", () => {
  const html = frameHtml(pl.DataFrame({ [EVIL]: [EVIL, "ok"] }));
  assertInert(html, "frameHtml");
});

test("the notebook download bar escapes the file name", () => {
  const sent: string[] = [];
  setNotebookOverride(true);
  setDisplayBackend({
    display: { html: (s: string) => sent.push(s), markdown() {}, png() {}, text() {}, raw() {} },
    newDisplay: () => ({ html: (s: string) => sent.push(s), markdown() {}, png() {}, text() {}, raw() {} }),
  });
  try {
    notebookProgressBar("fm")({ file: EVIL, received: 0, mirror: "m" });
  } finally {
    setDisplayBackend(undefined);
    setNotebookOverride(undefined);
  }
  assert.equal(sent.length, 1);
  assertInert(sent[0], "notebookProgressBar");
});
