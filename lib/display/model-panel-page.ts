/**
 * The code the model panel (./model-panel.ts) runs in the page, as plain
 * JavaScript text (ES2017, no modules, no network): the weight decoder, shared
 * with Node so the library measures exactly what the page computes, and the
 * panel itself (grids, index picker, drawing pad, image file, bar chart).
 */

/**
 * `fmDecodeWeights(bytes, entries)`: the panel's weight blob back to float32.
 * Entry codecs: `f32` (as is), `f16` (IEEE half), `u8c` / `u16c` (8 or 16
 * bits per value, little-endian, affine per channel of the last axis:
 * value = min[c] + scale[c] * q, the channel's min and scale stored as float32
 * before the codes), `raw` (another dtype, copied). Returns tfjs weight specs and one ArrayBuffer.
 */
export const DECODE_JS = `function fmDecodeWeights(bytes, entries) {
  function f32At(off, n) {
    var copy = new Uint8Array(bytes.subarray(off, off + 4 * n));
    return new Float32Array(copy.buffer);
  }
  function half(h) {
    var s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, m = h & 0x3ff;
    if (e === 0) return s * m * Math.pow(2, -24);
    if (e === 31) return m ? NaN : s * Infinity;
    return s * (1 + m / 1024) * Math.pow(2, e - 15);
  }
  var parts = [], specs = [], total = 0;
  for (var k = 0; k < entries.length; k++) {
    var e = entries[k], n = 1, out;
    for (var d = 0; d < e.shape.length; d++) n *= e.shape[d];
    if (e.codec === 'f32') out = f32At(e.offset, n);
    else if (e.codec === 'f16') {
      out = new Float32Array(n);
      for (var i = 0; i < n; i++) out[i] = half(bytes[e.offset + 2 * i] | (bytes[e.offset + 2 * i + 1] << 8));
    } else if (e.codec === 'u8c' || e.codec === 'u16c') {
      var ch = e.shape.length ? e.shape[e.shape.length - 1] : 1, wide = e.codec === 'u16c';
      var mins = f32At(e.offset, ch), scales = f32At(e.offset + 4 * ch, ch), q = e.offset + 8 * ch;
      out = new Float32Array(n);
      for (var j = 0; j < n; j++) {
        var c = j % ch, code = wide ? bytes[q + 2 * j] | (bytes[q + 2 * j + 1] << 8) : bytes[q + j];
        out[j] = mins[c] + scales[c] * code;
      }
    } else if (e.codec === 'raw') out = new Uint8Array(bytes.subarray(e.offset, e.offset + e.bytes));
    else throw new Error('unknown weight codec ' + e.codec);
    parts.push(new Uint8Array(out.buffer, out.byteOffset, out.byteLength));
    specs.push({ name: e.name, shape: e.shape, dtype: e.codec === 'raw' ? e.dtype : 'float32' });
    total += out.byteLength;
  }
  var data = new Uint8Array(total), at = 0;
  for (var p = 0; p < parts.length; p++) { data.set(parts[p], at); at += parts[p].length; }
  return { specs: specs, data: data.buffer };
}`;

/**
 * Defines `window.fmModelPanel(script)` once; each panel's last script calls
 * it with `document.currentScript`, which finds the panel's <div> before it.
 * The panel marks its state for readers and tests: `data-state` (loading,
 * ready, error), `data-first-prediction-ms` (from page load), and on the
 * result: `data-source`, `data-predicted`, and each bar's `data-p`.
 */
export const PANEL_JS = `(function () {
  if (window.fmModelPanel) return;
  var FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
  ${DECODE_JS}
  function el(tag, style, text, attrs) {
    var n = document.createElement(tag);
    if (style) n.style.cssText = style;
    if (text !== undefined && text !== null) n.textContent = text;
    if (attrs) for (var k in attrs) n.setAttribute(k, attrs[k]);
    return n;
  }
  function bytesOf(b64) {
    var bin = atob(b64), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  function pct(p) { return (100 * p).toFixed(p >= 0.9995 || p < 0.0005 ? 1 : 2) + '%'; }
  function argmax(a) { var b = 0; for (var i = 1; i < a.length; i++) if (a[i] > a[b]) b = i; return b; }
  function paint(canvas, px, side) {
    var ctx = canvas.getContext('2d'), img = ctx.createImageData(side, side);
    for (var i = 0; i < px.length; i++) { img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = px[i]; img.data[4 * i + 3] = 255; }
    ctx.putImageData(img, 0, 0);
  }
  function greyOf(canvas, side) {
    var d = canvas.getContext('2d').getImageData(0, 0, side, side).data, px = new Uint8Array(side * side);
    for (var i = 0; i < px.length; i++) px[i] = Math.round(0.299 * d[4 * i] + 0.587 * d[4 * i + 1] + 0.114 * d[4 * i + 2]);
    return px;
  }

  window.fmModelPanel = function (script) {
    var root = script;
    while (root && !(root.classList && root.classList.contains('fm-model-panel'))) root = root.previousElementSibling;
    if (!root || root.getAttribute('data-state')) return;
    root.setAttribute('data-state', 'loading');
    var data = JSON.parse(root.querySelector('script.fm-model-panel-data').textContent);
    var side = data.side, names = data.classNames, images = bytesOf(data.images);
    var note = root.querySelector('.fm-model-panel-note');
    if (note) note.remove();
    var body = el('div', 'font-family:' + FONT + ';font-size:13px;color:#222;background:#fff;border:1px solid #d0d0d0;border-radius:6px;padding:10px;max-width:1000px');
    root.appendChild(body);
    var head = el('div', 'font-weight:600;margin-bottom:4px', 'Try the model: ' + data.title);
    var facts = el('div', 'color:#5f6368;margin-bottom:8px', data.facts);
    var status = el('div', 'color:#5f6368;margin-bottom:8px', 'Loading TensorFlow.js and the weights\\u2026', { class: 'fm-mp-status' });
    body.appendChild(head); body.appendChild(facts); body.appendChild(status);
    var cols = el('div', 'display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start');
    body.appendChild(cols);
    var left = el('div', 'flex:1 1 300px;min-width:260px');
    var mid = el('div', 'flex:0 0 auto');
    var right = el('div', 'flex:0 0 250px');
    cols.appendChild(left); cols.appendChild(mid); cols.appendChild(right);

    var model = null, thumbs = [];
    function pixelsAt(pos) { return images.subarray(pos * side * side, (pos + 1) * side * side); }

    // The result: input preview, verdict, ten bars.
    var preview = el('canvas', 'width:84px;height:84px;image-rendering:pixelated;border:1px solid #d0d0d0;background:#000', null, { width: side, height: side });
    var verdict = el('div', 'font-weight:600;margin:6px 0 2px 0', 'Pick an image, draw, or load a file', { class: 'fm-mp-result' });
    var detail = el('div', 'color:#5f6368;min-height:2.6em;margin-bottom:6px', '', { class: 'fm-mp-detail' });
    var bars = el('div', '', null, { class: 'fm-mp-bars' });
    var fills = [], values = [];
    names.forEach(function (name, c) {
      var row = el('div', 'display:flex;align-items:center;gap:6px;margin:2px 0', null, { class: 'fm-mp-bar', 'data-class': c });
      row.appendChild(el('span', 'flex:0 0 76px;text-align:right', name));
      var track = el('span', 'flex:1 1 auto;height:14px;background:#eee;border-radius:2px;position:relative');
      var fill = el('span', 'position:absolute;left:0;top:0;bottom:0;width:0;background:#7aa6d6;border-radius:2px');
      track.appendChild(fill);
      var value = el('span', 'flex:0 0 46px;text-align:right;font-variant-numeric:tabular-nums', '');
      row.appendChild(track); row.appendChild(value);
      bars.appendChild(row); fills.push(fill); values.push(value);
    });
    right.appendChild(preview); right.appendChild(verdict); right.appendChild(detail); right.appendChild(bars);

    function show(px, source, info) {
      paint(preview, px, side);
      if (!model) return null;
      var t0 = performance.now();
      var probs = tf.tidy(function () {
        var x = new Float32Array(px.length);
        for (var i = 0; i < px.length; i++) x[i] = px[i] / 255;
        return model.predict(tf.tensor(x, [1].concat(data.inputShape))).dataSync();
      });
      var ms = performance.now() - t0, best = argmax(probs);
      names.forEach(function (name, c) {
        fills[c].style.width = (100 * probs[c]).toFixed(2) + '%';
        fills[c].style.background = c === best ? '#1f6fbf' : '#7aa6d6';
        values[c].textContent = pct(probs[c]);
        bars.children[c].setAttribute('data-p', String(probs[c]));
      });
      verdict.textContent = 'Predicted: ' + names[best] + ' (' + pct(probs[best]) + ')';
      verdict.setAttribute('data-source', source);
      verdict.setAttribute('data-predicted', String(best));
      detail.textContent = (info || '') + (info ? ' \\u00b7 ' : '') + 'computed in this page in ' + ms.toFixed(0) + ' ms';
      if (!root.getAttribute('data-first-prediction-ms')) root.setAttribute('data-first-prediction-ms', String(Math.round(performance.now())));
      root.setAttribute('data-predictions', String(Number(root.getAttribute('data-predictions') || 0) + 1));
      return probs;
    }
    function showTest(pos) {
      var idx = data.indices[pos], label = data.labels[pos], nb = data.expected[pos], nbBest = argmax(nb);
      thumbs.forEach(function (t) { t.style.outline = t.getAttribute('data-pos') === String(pos) ? '3px solid #1f6fbf' : 'none'; });
      show(pixelsAt(pos), 'test:' + idx,
        'test image #' + idx + ', true class ' + names[label] + '; the notebook predicted ' + names[nbBest] + ' (' + pct(nb[nbBest]) + ')');
    }

    // Left: the grids and the index picker.
    data.grids.forEach(function (grid) {
      if (!grid.items.length) return;
      left.appendChild(el('div', 'font-weight:600;margin:6px 0 4px 0', grid.title));
      var wrap = el('div', 'display:flex;flex-wrap:wrap;gap:4px');
      grid.items.forEach(function (pos) {
        var label = data.labels[pos], nbBest = argmax(data.expected[pos]);
        var t = el('canvas', 'width:42px;height:42px;image-rendering:pixelated;cursor:pointer;border:2px solid ' + (nbBest === label ? '#2e7d32' : '#c62828'), null, {
          width: side, height: side, class: 'fm-mp-thumb', 'data-grid': grid.id, 'data-index': data.indices[pos], 'data-pos': pos,
          title: '#' + data.indices[pos] + ': ' + names[label] + ', predicted ' + names[nbBest], role: 'button', tabindex: '0'
        });
        paint(t, pixelsAt(pos), side);
        t.addEventListener('click', function () { showTest(pos); });
        t.addEventListener('keydown', function (ev) { if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); showTest(pos); } });
        wrap.appendChild(t); thumbs.push(t);
      });
      left.appendChild(wrap);
    });
    var pick = el('div', 'margin-top:10px');
    var idxInput = el('input', 'width:6em', null, { type: 'number', min: 0, step: 1, class: 'fm-mp-index', 'aria-label': 'test image index' });
    var idxButton = el('button', 'margin-left:4px', 'Show', { type: 'button', class: 'fm-mp-index-show' });
    var idxNote = el('div', 'color:#5f6368', data.pickNote);
    pick.appendChild(el('span', '', 'Test image #')); pick.appendChild(idxInput); pick.appendChild(idxButton); pick.appendChild(idxNote);
    left.appendChild(pick);
    function pickIndex() {
      var n = Number(idxInput.value), pos = data.indices.indexOf(n);
      if (pos < 0) { idxNote.textContent = 'Test image #' + idxInput.value + ' is not in this page. ' + data.pickNote; return; }
      idxNote.textContent = data.pickNote;
      showTest(pos);
    }
    idxButton.addEventListener('click', pickIndex);
    idxInput.addEventListener('keydown', function (ev) { if (ev.key === 'Enter') pickIndex(); });

    // Middle: the drawing pad and the image file.
    var scale = 8, padSide = side * scale;
    mid.appendChild(el('div', 'font-weight:600;margin:6px 0 4px 0', 'Draw (light on dark, like the data)'));
    var pad = el('canvas', 'width:' + padSide + 'px;height:' + padSide + 'px;background:#000;touch-action:none;cursor:crosshair;display:block;border:1px solid #d0d0d0', null, { width: padSide, height: padSide, class: 'fm-mp-pad' });
    mid.appendChild(pad);
    var pctx = pad.getContext('2d');
    function clearPad() { pctx.fillStyle = '#000'; pctx.fillRect(0, 0, padSide, padSide); }
    clearPad();
    var small = el('canvas', '', null, { width: side, height: side }), sctx = small.getContext('2d');
    var drawing = false, last = null, pending = false;
    function padPixels() {
      sctx.imageSmoothingEnabled = true; sctx.imageSmoothingQuality = 'high';
      sctx.clearRect(0, 0, side, side); sctx.drawImage(pad, 0, 0, side, side);
      return greyOf(small, side);
    }
    function schedule() {
      if (pending) return;
      pending = true;
      requestAnimationFrame(function () { pending = false; show(padPixels(), 'pad', 'your drawing, scaled to ' + side + 'x' + side); });
    }
    function at(ev) { var r = pad.getBoundingClientRect(); return [(ev.clientX - r.left) * padSide / r.width, (ev.clientY - r.top) * padSide / r.height]; }
    function stroke(p) {
      pctx.strokeStyle = '#fff'; pctx.fillStyle = '#fff'; pctx.lineWidth = 2.4 * scale; pctx.lineCap = 'round'; pctx.lineJoin = 'round';
      pctx.beginPath();
      if (last) { pctx.moveTo(last[0], last[1]); pctx.lineTo(p[0], p[1]); pctx.stroke(); }
      else { pctx.arc(p[0], p[1], 1.2 * scale, 0, 2 * Math.PI); pctx.fill(); }
      last = p; schedule();
    }
    pad.addEventListener('pointerdown', function (ev) { ev.preventDefault(); drawing = true; last = null; try { pad.setPointerCapture(ev.pointerId); } catch (e) {} stroke(at(ev)); });
    pad.addEventListener('pointermove', function (ev) { if (drawing) { ev.preventDefault(); stroke(at(ev)); } });
    ['pointerup', 'pointercancel', 'pointerleave'].forEach(function (t) { pad.addEventListener(t, function () { drawing = false; last = null; }); });
    var tools = el('div', 'margin-top:4px');
    var clear = el('button', '', 'Clear', { type: 'button', class: 'fm-mp-clear' });
    clear.addEventListener('click', function () { clearPad(); show(padPixels(), 'pad', 'empty pad'); });
    tools.appendChild(clear);
    mid.appendChild(tools);

    var drop = el('div', 'margin-top:10px;padding:8px;border:2px dashed #b0b0b0;border-radius:4px;width:' + (padSide - 20) + 'px', null, { class: 'fm-mp-drop' });
    drop.appendChild(el('div', 'margin-bottom:4px', 'An image file (chosen or dropped here) is scaled to ' + side + 'x' + side + ' grey'));
    var file = el('input', 'max-width:100%', null, { type: 'file', accept: 'image/*', class: 'fm-mp-file' });
    drop.appendChild(file);
    mid.appendChild(drop);
    function loadFile(f) {
      if (!f) return;
      var reader = new FileReader();
      reader.onload = function () {
        var img = new Image();
        img.onload = function () {
          sctx.fillStyle = '#fff'; sctx.fillRect(0, 0, side, side);
          var k = Math.min(side / img.naturalWidth, side / img.naturalHeight), w = img.naturalWidth * k, h = img.naturalHeight * k;
          sctx.imageSmoothingEnabled = true; sctx.imageSmoothingQuality = 'high';
          sctx.drawImage(img, (side - w) / 2, (side - h) / 2, w, h);
          var px = greyOf(small, side), edge = 0, count = 0;
          for (var i = 0; i < side; i++) { edge += px[i] + px[(side - 1) * side + i] + px[i * side] + px[i * side + side - 1]; count += 4; }
          var invert = edge / count > 127;
          if (invert) for (var j = 0; j < px.length; j++) px[j] = 255 - px[j];
          show(px, 'file', 'file ' + f.name + (invert ? ' (light background: inverted to match the data)' : ''));
        };
        img.onerror = function () { detail.textContent = 'Could not read ' + f.name + ' as an image'; };
        img.src = reader.result;
      };
      reader.readAsDataURL(f);
    }
    file.addEventListener('change', function () { loadFile(file.files && file.files[0]); });
    drop.addEventListener('dragover', function (ev) { ev.preventDefault(); drop.style.borderColor = '#1f6fbf'; });
    drop.addEventListener('dragleave', function () { drop.style.borderColor = '#b0b0b0'; });
    drop.addEventListener('drop', function (ev) { ev.preventDefault(); drop.style.borderColor = '#b0b0b0'; loadFile(ev.dataTransfer && ev.dataTransfer.files[0]); });

    // The model, from the weights in the page.
    try {
      if (typeof tf === 'undefined' || !tf.loadLayersModel) throw new Error('TensorFlow.js did not load');
      Promise.resolve(tf.setBackend('cpu')).then(function () {
        var w = fmDecodeWeights(bytesOf(data.weights), data.entries);
        return tf.loadLayersModel(tf.io.fromMemory({ modelTopology: data.topology, weightSpecs: w.specs, weightData: w.data }));
      }).then(function (m) {
        model = m;
        status.textContent = 'Computed in this page by TensorFlow.js ' + tf.version_core + ' (' + tf.getBackend() + ' backend); nothing is sent anywhere.';
        root.setAttribute('data-state', 'ready');
        var first = data.grids.length && data.grids[0].items.length ? data.grids[0].items[0] : 0;
        showTest(first);
      }).catch(function (err) {
        root.setAttribute('data-state', 'error');
        status.textContent = 'The model could not be loaded in this page: ' + (err && err.message || err);
      });
    } catch (err) {
      root.setAttribute('data-state', 'error');
      status.textContent = 'The model could not be loaded in this page: ' + (err && err.message || err);
    }
  };
})();`;
