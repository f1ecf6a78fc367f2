// Executes the main notebook end to end under the real tslab kernel (via
// nbclient, exactly as `npm start` does), small: 2,000 training images, 1 epoch.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { makeTempDir, removeDir, repoRoot, smallRunEnv } from "./helpers";
import * as fm from "fashion-mnist-lib";

interface Output {
  output_type: string;
  name?: string;
  text?: string | string[];
  data?: Record<string, unknown>;
}
interface Cell {
  cell_type: string;
  source: string | string[];
  outputs?: Output[];
}

const join = (t: string | string[] | undefined) => (Array.isArray(t) ? t.join("") : (t ?? ""));

test("the main notebook runs end to end under tslab and shows what the seed shows", { timeout: 15 * 60_000 }, () => {
  const tmp = makeTempDir("fmnist-nb-");
  try {
    const out = path.join(tmp, "executed.ipynb");
    const res = spawnSync(
      path.join(repoRoot, ".venv", "bin", "python"),
      [
        path.join(repoRoot, "scripts", "run_notebook.py"),
        path.join(repoRoot, "notebooks", "fashion-mnist-cnn.ipynb"),
        "--output",
        out,
        "--timeout",
        "600",
      ],
      {
        encoding: "utf8",
        env: {
          ...process.env,
          ...smallRunEnv(tmp),
        },
      },
    );
    assert.equal(res.status, 0, `notebook failed:\n${res.stdout}\n${res.stderr}`);
    const nb = JSON.parse(fs.readFileSync(out, "utf8")) as { cells: Cell[] };
    const outputs = nb.cells.filter((c) => c.cell_type === "code").flatMap((c) => c.outputs ?? []);

    const errors = outputs.filter(
      (o) => o.output_type === "error" || (o.output_type === "stream" && o.name === "stderr"),
    );
    assert.deepEqual(
      errors.map((o) => join(o.text)),
      [],
      "no errors and nothing on stderr",
    );

    const stdout = outputs
      .filter((o) => o.output_type === "stream")
      .map((o) => join(o.text))
      .join("");
    assert.match(stdout, /Training data shape: \[ 2000, 28, 28 \]/);
    assert.match(stdout, /Test data shape: \[ 1000, 28, 28 \]/);
    assert.match(stdout, /training samples: 1600, validation samples: 400/);
    assert.match(stdout, /Test accuracy: \d+\.\d\d%/);

    const rich = (mime: string) => outputs.filter((o) => o.data && mime in o.data).map((o) => o.data![mime]);
    const html = rich("text/html")
      .map((h) => join(h as string | string[]))
      .join("\n");
    assert.match(html, /Total params:<\/b> 394,530/, "model summary table");
    // The network the notebook builds layer by layer is createModel's: the same summary, row for row.
    assert.ok(
      html.includes(fm.summaryHtml(fm.summarize(fm.createModel()))),
      "the notebook's model is the library's createModel()",
    );
    assert.match(
      stdout,
      /Training on the native fast path \(1 epoch, batches of 32\)\./,
      "fit says which trainer runs",
    );
    assert.match(stdout, /trained 1 epoch in \d+ s/, "counts read right in the singular");
    assert.ok((html.match(/<img [^>]*src="data:image\/png;base64,/g) ?? []).length >= 10, "image grids with PNG tiles");
    assert.match(html, /True: /, "misclassification captions");

    const figures = rich("application/vnd.plotly.v1+json") as { data: { name?: string; y: number[] }[] }[];
    assert.ok(figures.length >= 1, "a Plotly figure");
    const names = figures[figures.length - 1].data.map((t) => t.name);
    assert.ok(
      names.some((n) => /valid/i.test(n ?? "")),
      `validation trace in ${names}`,
    );
    assert.ok(
      rich("text/markdown").some((m) => /Test accuracy is/.test(join(m as string))),
      "observations",
    );

    // Section 5.4-5.7: confusion matrix, per-class report, class distribution, confident mistakes.
    const traces = figures.flatMap(
      (f) => f.data as { type?: string; uid?: string; x?: unknown[]; y?: unknown[]; z?: number[][] }[],
    );
    const counts = traces.find((t) => t.uid === "confusion-counts");
    assert.ok(counts && counts.type === "heatmap", "a confusion-matrix heatmap of counts");
    assert.equal(
      counts.z!.flat().reduce((a, b) => a + b, 0),
      1000,
      "the confusion matrix counts every test image",
    );
    assert.deepEqual(counts.x, [...fm.CLASS_NAMES], "class names on the predicted axis");
    assert.deepEqual(counts.y, [...fm.CLASS_NAMES], "class names on the true axis");
    const share = traces.find((t) => t.uid === "confusion-share");
    assert.ok(share, "a row-normalized confusion heatmap");
    for (const row of share.z!)
      assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-9, "each row of shares sums to 1");
    const bars = traces.filter((t) => t.type === "bar" && /^distribution-/.test(t.uid ?? ""));
    assert.deepEqual(
      bars.map((t) => (t.y as number[]).reduce((a, b) => a + b, 0)),
      [1600, 400, 1000],
      "class distribution bars for the training, validation and test splits",
    );
    assert.match(
      html,
      /<th[^>]*>precision<\/th>[\s\S]*<th[^>]*>recall<\/th>[\s\S]*<th[^>]*>f1<\/th>[\s\S]*<th[^>]*>support<\/th>/,
      "per-class report table",
    );
    for (const name of ["T-shirt/top", "Ankle boot", "macro avg", "weighted avg"]) {
      assert.ok(html.includes(`>${name}</td>`), `report row ${name}`);
    }
    assert.match(html, /mistakes the model was most sure about/, "confident mistakes grid");
    const facts = rich("application/json").find((j) => (j as { kind?: string }).kind === fm.RUN_FACTS_KIND) as
      fm.RunFacts | undefined;
    assert.ok(facts, "the run facts as JSON");
    assert.equal(facts.backend, "tensorflow");
    assert.equal(facts.epochs, 1);
    assert.equal(facts.testSamples, 1000);
    assert.match(
      stdout,
      new RegExp(`Test accuracy: ${(facts.testAccuracy * 100).toFixed(2)}%`),
      "facts match the printed accuracy",
    );
    assert.equal(Object.keys(facts.datasetSha256).length, 4, "four dataset checksums");
  } finally {
    removeDir(tmp);
  }
});
