// Executes the main notebook end to end under the real tslab kernel (via
// nbclient, exactly as `npm start` does), small: 2,000 training images, 1 epoch.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { makeTempDir, removeDir, repoRoot, sharedDataDir } from "./helpers";

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

const join = (t: string | string[] | undefined) => (Array.isArray(t) ? t.join("") : t ?? "");

test("the main notebook runs end to end under tslab and shows what the seed shows", { timeout: 15 * 60_000 }, () => {
  const tmp = makeTempDir("fmnist-nb-");
  try {
    const out = path.join(tmp, "executed.ipynb");
    const res = spawnSync(
      path.join(repoRoot, ".venv", "bin", "python"),
      [path.join(repoRoot, "scripts", "run_notebook.py"), path.join(repoRoot, "notebooks", "fashion-mnist-cnn.ipynb"), "--output", out, "--timeout", "600"],
      {
        encoding: "utf8",
        env: {
          ...process.env,
          FMNIST_TRAIN_LIMIT: "2000",
          FMNIST_TEST_LIMIT: "1000",
          FMNIST_EPOCHS: "1",
          FMNIST_SEED: "1",
          FASHION_MNIST_MIRROR: sharedDataDir,
          FMNIST_DATA_DIR: tmp,
        },
      },
    );
    assert.equal(res.status, 0, `notebook failed:\n${res.stdout}\n${res.stderr}`);
    const nb = JSON.parse(fs.readFileSync(out, "utf8")) as { cells: Cell[] };
    const outputs = nb.cells.filter((c) => c.cell_type === "code").flatMap((c) => c.outputs ?? []);

    const errors = outputs.filter((o) => o.output_type === "error" || (o.output_type === "stream" && o.name === "stderr"));
    assert.deepEqual(errors.map((o) => join(o.text)), [], "no errors and nothing on stderr");

    const stdout = outputs.filter((o) => o.output_type === "stream").map((o) => join(o.text)).join("");
    assert.match(stdout, /Training data shape: \[ 2000, 28, 28 \]/);
    assert.match(stdout, /Test data shape: \[ 1000, 28, 28 \]/);
    assert.match(stdout, /training samples: 1600, validation samples: 400/);
    assert.match(stdout, /Test accuracy: \d+\.\d\d%/);

    const rich = (mime: string) => outputs.filter((o) => o.data && mime in o.data).map((o) => o.data![mime]);
    const html = rich("text/html").map((h) => join(h as string | string[])).join("\n");
    assert.match(html, /Total params:<\/b> 394,530/, "model summary table");
    assert.ok((html.match(/<img [^>]*src="data:image\/png;base64,/g) ?? []).length >= 10, "image grids with PNG tiles");
    assert.match(html, /True: /, "misclassification captions");

    const figures = rich("application/vnd.plotly.v1+json") as { data: { name?: string; y: number[] }[] }[];
    assert.ok(figures.length >= 1, "a Plotly figure");
    const names = figures[figures.length - 1].data.map((t) => t.name);
    assert.ok(names.some((n) => /valid/i.test(n ?? "")), `validation trace in ${names}`);
    assert.ok(rich("text/markdown").some((m) => /Test accuracy is/.test(join(m as string))), "observations");
  } finally {
    removeDir(tmp);
  }
});
