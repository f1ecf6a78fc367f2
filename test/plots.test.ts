import { test, afterEach } from "node:test";
import assert from "node:assert/strict";
import { baseLayout, THEME, type PlotlyFigure } from "fashion-mnist-lib/dist/display/plots";
import { bestEpochOf, trainingCurves, type TrainingHistory } from "fashion-mnist-lib/dist/display/training-curves";
import {
  escapeHtml,
  inNotebook,
  isTslabKernelArgv,
  liveDisplay,
  PLOTLY_MIME,
  setDisplayBackend,
  setNotebookOverride,
  setTextOutput,
  showHtml,
  showMarkdown,
  showPlotly,
  showPng,
  showText,
  type DisplayBackend,
  type DisplaySink,
} from "fashion-mnist-lib/dist/display/display";
import { encodePng } from "fashion-mnist-lib/dist/display/images";

const full: TrainingHistory = {
  epoch: [1, 2, 3, 4],
  loss: [0.6, 0.4, 0.33, 0.3],
  accuracy: [0.78, 0.85, 0.88, 0.9],
  val_loss: [0.45, 0.38, 0.36, 0.37],
  val_accuracy: [0.84, 0.87, 0.89, 0.885],
};

const traceNames = (fig: PlotlyFigure) => fig.data.map((t) => `${t.name}:${t.xaxis}/${t.yaxis}`);

// ---------------------------------------------------------------------------
// trainingCurves: structure
// ---------------------------------------------------------------------------

test("trainingCurves: named traces on two side-by-side subplots", () => {
  const fig = trainingCurves(full);
  assert.deepEqual(traceNames(fig), [
    "training:x/y",
    "validation:x/y",
    "training:x2/y2",
    "validation:x2/y2",
    "best validation accuracy:x/y",
  ]);
  const [accTrain, accVal, lossTrain, lossVal] = fig.data;
  assert.deepEqual(accTrain.y, full.accuracy);
  assert.deepEqual(accVal.y, full.val_accuracy);
  assert.deepEqual(lossTrain.y, full.loss);
  assert.deepEqual(lossVal.y, full.val_loss);
  for (const t of fig.data.slice(0, 4)) assert.deepEqual(t.x, [1, 2, 3, 4]);

  // One colour for training, one for validation, on both subplots.
  const color = (t: (typeof fig.data)[number]) => (t.line as { color: string }).color;
  assert.equal(color(accTrain), THEME.colors.train);
  assert.equal(color(lossTrain), THEME.colors.train);
  assert.equal(color(accVal), THEME.colors.validation);
  assert.equal(color(lossVal), THEME.colors.validation);
  // Legend entries only once per series.
  assert.deepEqual(
    fig.data.slice(0, 4).map((t) => t.showlegend),
    [true, true, false, false],
  );

  const { layout } = fig;
  const x1 = layout.xaxis as { domain: number[]; title: { text: string } };
  const x2 = layout.xaxis2 as { domain: number[]; title: { text: string } };
  assert.ok(x1.domain[1] < x2.domain[0], "accuracy subplot left of loss subplot");
  assert.equal(x1.title.text, "epoch");
  assert.equal((layout.yaxis as { title: { text: string } }).title.text, "accuracy");
  assert.equal((layout.yaxis2 as { title: { text: string } }).title.text, "loss");
  assert.equal((layout.yaxis as { anchor: string }).anchor, "x");
  assert.equal((layout.yaxis2 as { anchor: string }).anchor, "x2");
  assert.equal(layout.title?.text, "Training history");
  assert.equal(layout.width, 900);
  assert.equal(layout.height, 380);
  const texts = (layout.annotations ?? []).map((a) => a.text);
  assert.ok(texts.some((t) => t.includes("Accuracy")));
  assert.ok(texts.some((t) => t.includes("Loss")));
  assert.deepEqual(JSON.parse(JSON.stringify(fig)), fig, "plain JSON");
});

test("trainingCurves marks the best validation-accuracy epoch (argmax, first on ties)", () => {
  const fig = trainingCurves(full);
  const best = fig.data[fig.data.length - 1];
  assert.deepEqual(best.x, [3]);
  assert.deepEqual(best.y, [0.89]);
  assert.equal((best.marker as { symbol: string }).symbol, "star");
  assert.deepEqual(bestEpochOf(fig), { epoch: 3, index: 2, valAccuracy: 0.89 });
  const note = fig.layout.annotations?.find((a) => a.xref === "x" && a.yref === "y");
  assert.ok(note, "annotation at the best point");
  assert.equal(note.x, 3);
  assert.equal(note.y, 0.89);
  assert.match(note.text, /89\.00% @ epoch 3/);
  assert.deepEqual(
    fig.layout.shapes?.map((s) => [s.xref, s.x0]),
    [
      ["x", 3],
      ["x2", 3],
    ],
  );

  const tie = trainingCurves({ ...full, val_accuracy: [0.8, 0.9, 0.9, 0.7] });
  assert.equal(bestEpochOf(tie)?.epoch, 2);
});

test("trainingCurves: epochs start at 1 on the x axis; 0-based lists are shifted", () => {
  const zeroBased = trainingCurves({ ...full, epoch: [0, 1, 2, 3] });
  assert.deepEqual(zeroBased.data[0].x, [1, 2, 3, 4]);
  assert.equal(bestEpochOf(zeroBased)?.epoch, 3);
  const explicit = trainingCurves({ ...full, epoch: [4, 5, 6, 7] }, { epochBase: 0 });
  assert.deepEqual(explicit.data[0].x, [5, 6, 7, 8]);
  const asIs = trainingCurves({ ...full, epoch: [4, 5, 6, 7] });
  assert.deepEqual(asIs.data[0].x, [4, 5, 6, 7]);
  assert.deepEqual((trainingCurves(full).layout.xaxis as { range: number[] }).range, [0.5, 4.5]);
  assert.deepEqual((trainingCurves(full, { totalEpochs: 10 }).layout.xaxis2 as { range: number[] }).range, [0.5, 10.5]);
});

test("trainingCurves works with a partial history (one point, no validation yet)", () => {
  const one = trainingCurves({ epoch: [1], loss: [0.7], accuracy: [0.75] });
  assert.deepEqual(traceNames(one), ["training:x/y", "training:x2/y2"]);
  assert.equal(one.data[0].mode, "lines+markers", "a single point is still visible");
  assert.equal(bestEpochOf(one), undefined);

  const oneVal = trainingCurves({ epoch: [1], loss: [0.7], accuracy: [0.75], val_loss: [0.5], val_accuracy: [0.8] });
  assert.equal(oneVal.data.length, 5);
  assert.deepEqual(bestEpochOf(oneVal), { epoch: 1, index: 0, valAccuracy: 0.8 });

  const custom = trainingCurves(full, { title: "Run 7", width: 700, height: 300 });
  assert.equal(custom.layout.title?.text, "Run 7");
  assert.equal(custom.layout.width, 700);
});

// ---------------------------------------------------------------------------
// trainingCurves: bad input
// ---------------------------------------------------------------------------

test("trainingCurves names the argument in every error", () => {
  const bad = (h: unknown, message: string, opts?: object) =>
    assert.throws(
      () => trainingCurves(h as TrainingHistory, opts),
      (err: unknown) => {
        assert.ok(err instanceof Error);
        assert.equal(err.message, message);
        return true;
      },
    );

  bad({ ...full, val_loss: [0.4, 0.3, 0.2] }, "trainingCurves: history.val_loss has 3 values but history.epoch has 4");
  bad(
    { ...full, loss: [0.4, 0.3, 0.2, 0.1, 0.05] },
    "trainingCurves: history.loss has 5 values but history.epoch has 4",
  );
  bad({ ...full, val_accuracy: [0.8] }, "trainingCurves: history.val_accuracy has 1 values but history.epoch has 4");
  bad({ epoch: [], loss: [], accuracy: [] }, "trainingCurves: history.epoch is empty");
  bad({ ...full, accuracy: [] }, "trainingCurves: history.accuracy is empty");
  bad({ ...full, val_loss: [] }, "trainingCurves: history.val_loss is empty");
  bad({ ...full, loss: [0.5, NaN, 0.3, 0.2] }, "trainingCurves: history.loss[1] is NaN");
  bad({ ...full, val_loss: [0.5, 0.4, Infinity, 0.2] }, "trainingCurves: history.val_loss[2] is Infinity");
  bad({ ...full, accuracy: [0.5, 0.6, 0.7, -Infinity] }, "trainingCurves: history.accuracy[3] is -Infinity");
  bad({ ...full, epoch: [1, 2, NaN, 4] }, "trainingCurves: history.epoch[2] is NaN");
  bad(
    { ...full, val_accuracy: [0.5, null, 0.7, 0.8] },
    "trainingCurves: history.val_accuracy[1] is not a number (null)",
  );
  bad({ epoch: [1], accuracy: [0.5] }, "trainingCurves: history.loss is missing");
  bad({ ...full, accuracy: "high" }, "trainingCurves: history.accuracy must be an array of numbers");
  bad(
    { ...full, accuracy: [0.5, 0.6, 87, 0.9] },
    "trainingCurves: history.accuracy[2] = 87 is outside [0, 1] (accuracy is a fraction)",
  );
  bad(
    { ...full, epoch: [1, 2, 2, 3] },
    "trainingCurves: history.epoch must be strictly increasing, but history.epoch[2] = 2 follows 2",
  );
  bad({ ...full, epoch: [1, 2, 3.5, 4] }, "trainingCurves: history.epoch[2] = 3.5 is not a non-negative integer");
  bad(null, "trainingCurves: history must be an object with epoch, loss and accuracy arrays");
  bad(full, "trainingCurves: opts.totalEpochs is 3 but history already reaches epoch 4", { totalEpochs: 3 });
  bad(full, "trainingCurves: opts.width must be a positive number, got -5", { width: -5 });
  bad(
    { ...full, epoch: [0, 1, 2, 3] },
    "trainingCurves: history.epoch[0] is 0 but opts.epochBase is 1 (epochs count from 1)",
    { epochBase: 1 },
  );
});

test("baseLayout gives later charts the same theme", () => {
  const layout = baseLayout({ title: "Confusion matrix", width: 500, height: 500 });
  assert.equal(layout.title?.text, "Confusion matrix");
  assert.equal(layout.width, 500);
  assert.deepEqual(layout.font, { ...THEME.font });
  assert.equal(baseLayout().title, undefined);
});

// ---------------------------------------------------------------------------
// display (lives here because it is mostly about showing these figures)
// ---------------------------------------------------------------------------

afterEach(() => {
  setNotebookOverride(undefined);
  setDisplayBackend(undefined);
  setTextOutput(undefined);
});

test("inNotebook is false under node --test and recognises the tslab kernel command line", () => {
  assert.equal(inNotebook(), false);
  assert.equal(
    isTslabKernelArgv([
      "/usr/bin/node",
      "/work/main/node_modules/.bin/tslab",
      "kernel",
      "--config-path",
      "/tmp/k.json",
    ]),
    true,
  );
  assert.equal(
    isTslabKernelArgv(["node", "/x/node_modules/tslab/bin/tslab", "kernel", "--config-path=/tmp/k.json", "--js"]),
    true,
  );
  assert.equal(
    isTslabKernelArgv(["node", "C:\\n\\node_modules\\tslab\\bin\\tslab", "kernel", "--config-path", "k"]),
    true,
  );
  assert.equal(
    isTslabKernelArgv(["node", "/work/main/node_modules/.bin/tslab", "install", "--python", "python3"]),
    false,
  );
  assert.equal(isTslabKernelArgv(["node", "/work/main/build/scripts/train.js", "kernel", "--config-path", "x"]), false);
  assert.equal(isTslabKernelArgv(["node"]), false);
  setNotebookOverride(true);
  assert.equal(inNotebook(), true);
});

test("outside the kernel the show* functions print one-line summaries and never throw", () => {
  const lines: string[] = [];
  setTextOutput((l) => lines.push(l));
  const fig = trainingCurves(full);
  showPlotly(fig);
  showHtml('<div><b>Hello</b> &amp; <img src="data:image/png;base64,AAAA"></div>');
  showPng(encodePng(3, 2, new Uint8Array(6), 1));
  showPng(new Uint8Array([1, 2, 3]));
  showMarkdown("# Title\n\ntext");
  showText("plain");
  showPlotly(null as unknown as PlotlyFigure);
  assert.equal(lines.length, 7);
  assert.match(lines[0], /^\[plotly\] Training history: 5 traces \(training, validation, best validation accuracy\)$/);
  assert.match(lines[1], /^\[html\] Hello &, 1 image, \d+ B$/);
  assert.match(lines[2], /^\[png\] 3x2, \d+ B$/);
  assert.match(lines[3], /^\[png\] 3 B \(not a PNG\)$/);
  assert.equal(lines[4], "# Title\n\ntext");
  assert.equal(lines[5], "plain");
  assert.match(lines[6], /^\[plotly\]/);

  // With the real stdout too.
  setTextOutput(undefined);
  assert.doesNotThrow(() => showText("display test: stdout fallback works"));
});

test("liveDisplay outside the kernel prints, skipping repeated identical lines", () => {
  const lines: string[] = [];
  setTextOutput((l) => lines.push(l));
  const live = liveDisplay();
  live.showPlotly(trainingCurves({ epoch: [1], loss: [0.5], accuracy: [0.8] }));
  live.showPlotly(trainingCurves({ epoch: [1, 2], loss: [0.5, 0.4], accuracy: [0.8, 0.85] }));
  live.showText("epoch 2");
  live.showText("epoch 2");
  live.showHtml("<p>x</p>");
  assert.deepEqual(lines.length, 3);
});

interface Sent {
  sink: number;
  mime: string;
  data: unknown;
}

function fakeBackend(): { backend: DisplayBackend; sent: Sent[] } {
  const sent: Sent[] = [];
  let sinks = 0;
  const makeSink = (): DisplaySink => {
    const id = sinks++;
    const raw = (mime: string, data: string | Uint8Array) => void sent.push({ sink: id, mime, data });
    return {
      raw,
      html: (s) => raw("text/html", s),
      markdown: (s) => raw("text/markdown", s),
      png: (b) => raw("image/png", b),
      text: (s) => raw("text/plain", s),
    };
  };
  const display = makeSink();
  return { backend: { display, newDisplay: makeSink }, sent };
}

test("in a notebook, show* send one MIME type each; plotly goes out as a JSON object", () => {
  const { backend, sent } = fakeBackend();
  setNotebookOverride(true);
  setDisplayBackend(backend);
  const lines: string[] = [];
  setTextOutput((l) => lines.push(l));

  const fig = trainingCurves(full);
  (fig.data[0] as { y: unknown }).y = new Float32Array([0.5, 0.25]); // typed arrays become plain arrays
  showPlotly(fig);
  showHtml("<p>hi</p>");
  const png = encodePng(1, 1, new Uint8Array([9]), 1);
  showPng(png);
  showMarkdown("**md**");
  assert.deepEqual(
    sent.map((s) => s.mime),
    [PLOTLY_MIME, "text/html", "image/png", "text/markdown"],
  );
  const payload = sent[0].data as unknown as PlotlyFigure;
  assert.equal(typeof payload, "object");
  assert.deepEqual(payload.data[0].y, [0.5, 0.25]);
  assert.equal(payload.layout.title?.text, "Training history");
  assert.equal(sent[2].data, png);
  assert.deepEqual(lines, [], "nothing printed");

  // liveDisplay writes to one newDisplay() sink, created lazily.
  const live = liveDisplay();
  live.showHtml("<p>1</p>");
  live.showHtml("<p>2</p>");
  const liveSinks = new Set(sent.slice(4).map((s) => s.sink));
  assert.equal(liveSinks.size, 1);
  assert.ok(!liveSinks.has(0), "not the shared display");
});

test("in a notebook, a live Plotly chart is replaced by a text line before each new figure", () => {
  // JupyterLab gives an update of the same MIME type to the Plotly renderer
  // already drawn, which ignores it; the text line in between forces a redraw.
  const { backend, sent } = fakeBackend();
  setNotebookOverride(true);
  setDisplayBackend(backend);
  const live = liveDisplay();
  live.showPlotly(trainingCurves({ epoch: [1], loss: [0.5], accuracy: [0.8] }));
  live.showPlotly(trainingCurves({ epoch: [1, 2], loss: [0.5, 0.4], accuracy: [0.8, 0.85] }));
  live.showHtml("<p>done</p>");
  live.showPlotly(trainingCurves({ epoch: [1, 2, 3], loss: [0.5, 0.4, 0.3], accuracy: [0.8, 0.85, 0.9] }));
  assert.deepEqual(
    sent.map((s) => s.mime),
    [PLOTLY_MIME, "text/plain", PLOTLY_MIME, "text/html", PLOTLY_MIME],
  );
  assert.equal(new Set(sent.map((s) => s.sink)).size, 1, "all on one live output");
  assert.match(String(sent[1].data), /^\[plotly\] Training history: \d+ traces?/);
  assert.deepEqual((sent[2].data as unknown as PlotlyFigure).data[0].x, [1, 2]);
});

test("in a notebook, a failing display falls back to text instead of throwing", () => {
  setNotebookOverride(true);
  const lines: string[] = [];
  setTextOutput((l) => lines.push(l));
  const throwing = (): never => {
    throw new Error("Not ready");
  };
  const sink: DisplaySink = { raw: throwing, html: throwing, markdown: throwing, png: throwing, text: throwing };
  setDisplayBackend({ display: sink, newDisplay: () => sink });
  assert.doesNotThrow(() => showHtml("<p>x</p>"));
  assert.doesNotThrow(() => liveDisplay().showPlotly(trainingCurves(full)));
  assert.equal(lines.length, 2);
  assert.match(lines[0], /display failed: Not ready/);
});

test("escapeHtml escapes & < > \" and '", () => {
  assert.equal(
    escapeHtml(`<a href="x">Tom & 'Jerry'</a>`),
    "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;",
  );
  assert.equal(escapeHtml(42), "42");
});
