// Readable at scale (issue 10, item 3): a new scenario opens on the channel
// where most pixels differ; the clamp marks are a switchable overlay that
// never hides the difference colours; the heatmap zooms and pans (wheel,
// keys, drag) with one cell per output pixel at any size and picks the right
// pixel at any zoom; the weight grid of a 512 -> 512, 3x3 layer stays small.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { FORUM } from './forum.mjs';
import { launch, openPage, BASE_URL, ready, nextFrame } from './browser.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const frameOf = (page) => page.evaluate(() => {
  const f = window.qconvLens.currentFrame();
  return { view: f.view, rows: f.rows, cols: f.cols, cell: f.cell, counts: f.differing_by_channel, recomputed: f.recomputed, clamped: f.clamped };
});
const argmax = (v) => v.reduce((b, x, i) => (x > v[b] ? i : b), 0);

/** Apply a scenario edited from the current one, through the page's hook. */
const applyEdited = (page, edit, source = 'api') => nextFrame(page, () => page.evaluate(([edit, source]) => {
  const s = structuredClone(window.qconvLens.current());
  // eslint-disable-next-line no-new-func
  new Function('s', edit)(s);
  return window.qconvLens.apply(s, { source });
}, [edit, source]));

/** A scenario of `rows x cols` output pixels, 1 -> 1 channel, 1x1 kernel. */
const plainEdit = (rows, cols) => `
  s.shape = { ...s.shape, in_channels: 1, out_channels: 1, height: ${rows}, width: ${cols}, kernel: [1, 1], stride: [1, 1], padding: [0, 0], dilation: [1, 1], groups: 1 };
  s.input = { kind: 'random', seed: 5 };
  s.weights = [90];
  s.params.weight_scales = [0.0037]; s.params.weight_zero_points = [0]; s.params.bias = [0.0317];
  s.view.channel = 0; s.view.pixel = [0, 0];`;

/** Canvas pixels of the mark colour, and of the other colours. */
const colours = (page) => page.evaluate(() => {
  const c = document.querySelector('#heatmap-canvas');
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  const seen = new Map();
  for (let i = 0; i < d.length; i += 4) {
    const k = `#${[d[i], d[i + 1], d[i + 2]].map((v) => v.toString(16).padStart(2, '0')).join('')}`;
    seen.set(k, (seen.get(k) ?? 0) + 1);
  }
  return Object.fromEntries(seen);
});

test('a link without a pixel and a channel edit open on the channel where most pixels differ; a picked channel stays', async () => {
  const { page, errors } = await openPage(browser, BASE_URL);
  await ready(page);
  await nextFrame(page, () => page.selectOption('#preset', 'per-channel'));
  let f = await frameOf(page);
  const best = argmax(f.counts);
  const other = f.counts.findIndex((n, c) => c !== best && n < f.counts[best]);
  assert.ok(other >= 0, JSON.stringify(f.counts));
  await page.waitForFunction(() => location.hash.includes('&ch='));
  const hash = await page.evaluate(() => location.hash);
  // A link that names no pixel: opened on the channel with the most, on a differing pixel.
  const noPixel = hash.replace(/&ch=\d+/, `&ch=${other}`).replace(/&px=[^&]*/, '&px=none');
  const fresh = await openPage(browser, BASE_URL + noPixel);
  await ready(fresh.page);
  f = await frameOf(fresh.page);
  assert.equal(f.view.channel, best);
  assert.ok(f.view.pixel, 'a pixel is selected');
  assert.match(await fresh.page.textContent('#inspector-summary'), /A = (\d+), B = (?!\1\b)\d+/);
  assert.equal(await fresh.page.inputValue('#channel'), String(best));
  assert.match(await fresh.page.$eval('#channel-top', (s) => s.options[s.selectedIndex].textContent), new RegExp(`^${best} \\(${f.counts[best]} differ\\)$`));
  // A link that names its pixel keeps its channel.
  const named = hash.replace(/&ch=\d+/, `&ch=${other}`).replace(/&px=[^&]*/, '&px=1,1');
  await nextFrame(fresh.page, () => fresh.page.evaluate((h) => { location.hash = h; }, named));
  f = await frameOf(fresh.page);
  assert.deepEqual([f.view.channel, f.view.pixel], [other, [1, 1]]);
  // A recompute after the user picked a channel keeps it.
  await nextFrame(fresh.page, async () => {
    await fresh.page.fill('#output-scale', '0.0031');
    await fresh.page.press('#output-scale', 'Tab');
  });
  assert.equal((await frameOf(fresh.page)).view.channel, other);
  // More output channels: a new scenario, opened where most differ.
  await nextFrame(fresh.page, async () => {
    await fresh.page.fill('#shape-out_channels', '8');
    await fresh.page.press('#shape-out_channels', 'Tab');
  });
  f = await frameOf(fresh.page);
  assert.equal(f.counts.length, 8);
  assert.equal(f.view.channel, argmax(f.counts));
  assert.ok(f.counts[f.view.channel] > 0);
  assert.deepEqual([...errors, ...fresh.errors], []);
  await fresh.page.close();
  await page.close();
});

test('a paste import opens on a pixel where A and B differ, not on the pixel left from before', async () => {
  const { page, errors } = await openPage(browser, BASE_URL);
  await ready(page);
  // Before: the per-channel preset on its last channel, at a pixel of its own.
  await nextFrame(page, () => page.selectOption('#preset', 'per-channel'));
  await applyEdited(page, 's.view.channel = 3; s.view.pixel = [0, 0];');
  assert.deepEqual((await frameOf(page)).view, { ...(await frameOf(page)).view, channel: 3, pixel: [0, 0] });
  await page.fill('#paste-text', FORUM);
  await nextFrame(page, () => page.click('#paste-import'));
  const f = await frameOf(page);
  assert.equal(f.counts.length, 1);
  assert.ok(f.counts[0] > 0);
  const [row, col] = f.view.pixel;
  const ab = await page.evaluate(([row, col]) => {
    const f = window.qconvLens.currentFrame();
    return [f.a[row * f.cols + col], f.b[row * f.cols + col]];
  }, [row, col]);
  assert.notEqual(ab[0], ab[1], `${row},${col}: ${ab}`);
  assert.deepEqual(errors, []);
  await page.close();
});

test('clamp marks: a corner overlay that leaves the difference colours, switched off from the page and kept in the link', async () => {
  const { page, errors } = await openPage(browser, BASE_URL);
  await ready(page);
  await nextFrame(page, () => page.selectOption('#preset', 'clamping'));
  const mark = await page.evaluate(() => window.qconvLens.currentFrame().clamp_colour);
  const f = await frameOf(page);
  assert.ok(f.clamped > 0);
  assert.equal(await page.isChecked('#clamp-marks'), true);
  const on = await colours(page);
  assert.ok(on[mark] > 0, 'marks drawn');
  assert.match(await page.textContent('#legend'), new RegExp(`A clamped \\(${f.clamped} here\\)`));
  // Every differing, clamped pixel still shows its difference colour in its cell (the mark is a corner).
  const kept = await page.evaluate(() => {
    const f = window.qconvLens.currentFrame();
    const c = document.querySelector('#heatmap-canvas');
    const k = c.width / f.width;
    const ctx = c.getContext('2d');
    const legend = new Set(f.legend.map((e) => e.colour));
    // A's clamp limits: 255 and 0, or the output zero point under ReLU.
    const p = window.qconvLens.current().params;
    const lo = p.relu ? p.output_zero_point : 0;
    let checked = 0;
    for (let i = 0; i < f.a.length; i++) {
      if (f.a[i] === f.b[i] || (f.a[i] !== lo && f.a[i] !== 255)) continue;
      const row = Math.floor(i / f.cols), col = i % f.cols;
      // The cell's centre: past the corner mark (a third of the cell).
      const p = ctx.getImageData(Math.floor((col + 0.6) * f.cell * k), Math.floor((row + 0.6) * f.cell * k), 1, 1).data;
      const hex = `#${[p[0], p[1], p[2]].map((v) => v.toString(16).padStart(2, '0')).join('')}`;
      if (!legend.has(hex) || hex === '#f7f7f7') return { row, col, hex };
      checked += 1;
    }
    return { checked };
  });
  assert.ok(kept.checked > 0, JSON.stringify(kept));
  await nextFrame(page, () => page.uncheck('#clamp-marks'));
  const g = await frameOf(page);
  assert.equal(g.recomputed, false, 'a view change, not a recompute');
  assert.equal(g.view.clamp_marks, false);
  assert.equal((await colours(page))[mark] ?? 0, 0, 'no mark left');
  assert.match(await page.textContent('#legend'), /marks off/);
  await page.waitForFunction(() => location.hash.includes('&clamp=0'));
  // The link reopens with the marks off.
  const hash = await page.evaluate(() => location.hash);
  const other = await openPage(browser, BASE_URL + hash);
  await ready(other.page);
  assert.equal(await other.page.isChecked('#clamp-marks'), false);
  assert.equal((await colours(other.page))[mark] ?? 0, 0);
  await nextFrame(page, () => page.check('#clamp-marks'));
  assert.ok((await colours(page))[mark] > 0);
  assert.deepEqual([...errors, ...other.errors], []);
  await other.page.close();
  await page.close();
});

/** The canvas's client point for image point (ix, iy) under the current zoom. */
const clientOf = (page, ix, iy) => page.evaluate(([ix, iy]) => {
  const c = document.querySelector('#heatmap-canvas');
  const r = c.getBoundingClientRect();
  const [sx, sy, sw, sh] = c.dataset.view.split(',').map(Number);
  return [r.left + ((ix - sx) / sw) * r.width, r.top + ((iy - sy) / sh) * r.height];
}, [ix, iy]);

test('wheel zoom about the pointer, then a click selects the pixel under it', async () => {
  const { page, errors } = await openPage(browser, BASE_URL);
  await ready(page);
  await applyEdited(page, plainEdit(64, 64));
  const f = await frameOf(page);
  assert.deepEqual([f.rows, f.cols], [64, 64]);
  const box = await page.$eval('#heatmap-canvas', (c) => {
    c.scrollIntoView({ block: 'center' });
    const r = c.getBoundingClientRect();
    return [r.left, r.top, r.width, r.height];
  });
  // The wheel at the canvas's centre: the image's centre stays there.
  const framesBefore = await page.evaluate(() => window.qconvLens.timing.frames);
  await page.mouse.move(box[0] + box[2] / 2, box[1] + box[3] / 2);
  await page.mouse.wheel(0, -400);
  await page.waitForFunction(() => Number(document.querySelector('#heatmap-canvas').dataset.zoom) > 1.5);
  // Zoom never asks the engine: no new frame.
  assert.equal(await page.evaluate(() => window.qconvLens.timing.frames), framesBefore);
  const z = Number(await page.getAttribute('#heatmap-canvas', 'data-zoom'));
  const W = f.cols * f.cell;
  // The visible part: W / z wide, centred on the image's centre.
  const sx = W / 2 - W / (2 * z);
  const [vx, , vw] = (await page.getAttribute('#heatmap-canvas', 'data-view')).split(',').map(Number);
  assert.ok(Math.abs(vx - sx) < 0.05 && Math.abs(vw - W / z) < 0.05, `${vx},${vw} vs ${sx},${W / z}`);
  // A click a quarter of the way across the zoomed view: col = (sx + (W / z) / 4) / cell, by hand.
  const fx = 0.25, fy = 0.75;
  const want = [Math.floor((sx + (fy * W) / z) / f.cell), Math.floor((sx + (fx * W) / z) / f.cell)];
  await nextFrame(page, () => page.mouse.click(box[0] + fx * box[2], box[1] + fy * box[3]));
  assert.deepEqual((await frameOf(page)).view.pixel, want);
  // Zoomed in, the selected cell is drawn large: many canvas pixels per output pixel.
  const cellPx = await page.evaluate(() => {
    const c = document.querySelector('#heatmap-canvas');
    const f = window.qconvLens.currentFrame();
    return (c.width / Number(c.dataset.view.split(',')[2])) * f.cell;
  });
  assert.ok(cellPx >= 2 * (box[2] / 64), `${cellPx}`);
  // Drag pans; the click that ends the drag selects nothing new.
  const before = await page.getAttribute('#heatmap-canvas', 'data-view');
  const framesAtDrag = await page.evaluate(() => window.qconvLens.timing.frames);
  await page.mouse.move(box[0] + box[2] / 2, box[1] + box[3] / 2);
  await page.mouse.down();
  await page.mouse.move(box[0] + box[2] / 2 - 60, box[1] + box[3] / 2, { steps: 4 });
  await page.mouse.up();
  assert.notEqual(await page.getAttribute('#heatmap-canvas', 'data-view'), before);
  assert.deepEqual((await frameOf(page)).view.pixel, want);
  assert.equal(await page.evaluate(() => window.qconvLens.timing.frames), framesAtDrag);
  assert.deepEqual(errors, []);
  await page.close();
});

test('pinch: two touches moving apart zoom by the ratio of their distances, about their midpoint', async () => {
  const { page, errors } = await openPage(browser, BASE_URL);
  await ready(page);
  await applyEdited(page, plainEdit(64, 64));
  const f = await frameOf(page);
  const box = await page.$eval('#heatmap-canvas', (c) => {
    c.scrollIntoView({ block: 'center' });
    const r = c.getBoundingClientRect();
    return [r.left, r.top, r.width, r.height];
  });
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Emulation.setTouchEmulationEnabled', { enabled: true, maxTouchPoints: 5 });
  const cx = box[0] + box[2] / 2, cy = box[1] + box[3] / 2;
  const touches = (d) => [{ x: cx - d, y: cy, id: 1 }, { x: cx + d, y: cy, id: 2 }];
  await cdp.send('Input.dispatchTouchEvent', { type: 'touchStart', touchPoints: touches(20) });
  for (const d of [30, 45, 60, 80]) await cdp.send('Input.dispatchTouchEvent', { type: 'touchMove', touchPoints: touches(d) });
  await cdp.send('Input.dispatchTouchEvent', { type: 'touchEnd', touchPoints: [] });
  await page.waitForFunction(() => document.querySelector('#heatmap-canvas').dataset.zoom !== '1');
  // 40 px apart to 160 px apart: 4x, the centre staying at the centre (each
  // finger's move arrives alone, moving the midpoint between them: the image
  // point under it follows it, and ends where it began).
  const z = Number(await page.getAttribute('#heatmap-canvas', 'data-zoom'));
  assert.ok(Math.abs(z - 4) < 0.01, `zoom ${z}`);
  const W = f.cols * f.cell;
  const view = async () => (await page.getAttribute('#heatmap-canvas', 'data-view')).split(',').map(Number);
  const [vx, vy, vw] = await view();
  assert.ok(Math.abs(vx - (W / 2 - W / 8)) < 0.05 && Math.abs(vw - W / 4) < 0.05, `${vx},${vw}`);
  // Two fingers moving 40 px left together: a pan, the zoom kept; the image
  // moves with the fingers (40 px of a box[2]-px canvas showing W / 4 pixels).
  const moved = (d, dx) => touches(d).map((t) => ({ ...t, x: t.x + dx }));
  await cdp.send('Input.dispatchTouchEvent', { type: 'touchStart', touchPoints: touches(40) });
  for (const dx of [-10, -20, -30, -40]) await cdp.send('Input.dispatchTouchEvent', { type: 'touchMove', touchPoints: moved(40, dx) });
  await cdp.send('Input.dispatchTouchEvent', { type: 'touchEnd', touchPoints: [] });
  await page.waitForFunction((v) => document.querySelector('#heatmap-canvas').dataset.view !== v, [vx, vy, vw].join(','));
  const [px, py, pw] = await view();
  assert.ok(Math.abs(Number(await page.getAttribute('#heatmap-canvas', 'data-zoom')) - z) < 1e-9);
  assert.ok(Math.abs(px - (vx + (40 / box[2]) * (W / 4))) < 0.05 && py === vy && pw === vw, `${px},${py},${pw}`);
  assert.deepEqual(errors, []);
  await page.close();
});

test('keyboard: + and − zoom about the selected pixel, the view follows the arrow keys, 0 shows all', async () => {
  const { page, errors } = await openPage(browser, BASE_URL);
  await ready(page);
  await applyEdited(page, plainEdit(64, 64));
  const f = await frameOf(page);
  const frames = await page.evaluate(() => window.qconvLens.timing.frames);
  await page.focus('#heatmap-canvas');
  await page.keyboard.press('+');
  await page.keyboard.press('+');
  assert.equal(await page.getAttribute('#heatmap-canvas', 'data-zoom'), '4');
  assert.equal(await page.evaluate(() => window.qconvLens.timing.frames), frames, 'zoom is not a new frame');
  // Shift+ArrowRight: 8 columns at a time, out of the 16 visible, the view following.
  for (let i = 0; i < 6; i++) await nextFrame(page, () => page.keyboard.press('Shift+ArrowRight'));
  for (let i = 0; i < 5; i++) await nextFrame(page, () => page.keyboard.press('Shift+ArrowDown'));
  const v = await frameOf(page);
  assert.deepEqual(v.view.pixel, [40, 48]);
  const [sx, sy, sw, sh] = (await page.getAttribute('#heatmap-canvas', 'data-view')).split(',').map(Number);
  const [x, y] = [48 * f.cell, 40 * f.cell];
  assert.ok(sx <= x && x + f.cell <= sx + sw + 1e-6 && sy <= y && y + f.cell <= sy + sh + 1e-6, `${[sx, sy, sw, sh]} shows ${[x, y]}`);
  // A click on the selected pixel's place selects it again (the view maps both ways).
  const [cx, cy] = await clientOf(page, x + f.cell / 2, y + f.cell / 2);
  await nextFrame(page, () => page.mouse.click(cx, cy));
  assert.deepEqual((await frameOf(page)).view.pixel, [40, 48]);
  await page.focus('#heatmap-canvas');
  await page.keyboard.press('-');
  assert.equal(await page.getAttribute('#heatmap-canvas', 'data-zoom'), '2');
  await page.keyboard.press('0');
  assert.equal(await page.getAttribute('#heatmap-canvas', 'data-zoom'), '1');
  assert.match(await page.textContent('#map-keys'), /\+ and −/);
  assert.deepEqual(errors, []);
  await page.close();
});

test('a 512x512 output shows every pixel (one canvas pixel each, as painted) and fits a 390 px phone', async () => {
  const { page, errors } = await openPage(browser, BASE_URL);
  await ready(page);
  await applyEdited(page, plainEdit(512, 512));
  const r = await page.evaluate(() => {
    const f = window.qconvLens.currentFrame();
    const c = document.querySelector('#heatmap-canvas');
    return { rows: f.rows, cols: f.cols, cell: f.cell, w: c.width, h: c.height, zoom: c.dataset.zoom };
  });
  assert.deepEqual([r.rows, r.cols, r.cell, r.w, r.h, r.zoom], [512, 512, 1, 512, 512, '1']);
  // Except where the selection ring is drawn, the canvas is Rust's buffer pixel for pixel.
  const differs = await page.evaluate(() => {
    const f = window.qconvLens.currentFrame();
    const c = document.querySelector('#heatmap-canvas');
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i++) if (d[i] !== f.rgba[i]) n++;
    return n;
  });
  assert.ok(differs < 4 * 100, `${differs} channel values differ from the painted buffer`);
  await page.setViewportSize({ width: 390, height: 844 });
  const wide = await page.evaluate(() => [document.documentElement.scrollWidth, innerWidth]);
  assert.ok(wide[0] <= wide[1], `scrollWidth ${wide[0]} > ${wide[1]}`);
  // Zoomed to the most, a cell is large.
  await page.focus('#heatmap-canvas');
  for (let i = 0; i < 8; i++) await page.keyboard.press('+');
  const z = Number(await page.getAttribute('#heatmap-canvas', 'data-zoom'));
  assert.equal(z, 64);
  const wide2 = await page.evaluate(() => [document.documentElement.scrollWidth, innerWidth]);
  assert.ok(wide2[0] <= wide2[1]);
  assert.deepEqual(errors, []);
  await page.close();
});

test('the weight grid of a 512 -> 512, 3x3 layer builds under 2,000 nodes, pages through input channels and takes edits', async () => {
  const { page, errors } = await openPage(browser, BASE_URL);
  await ready(page);
  await applyEdited(page, `
    s.shape = { ...s.shape, in_channels: 512, out_channels: 512, height: 7, width: 7, kernel: [3, 3], stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1 };
    s.input = { kind: 'random', seed: 3 };
    s.weights = Array.from({ length: 512 * 512 * 9 }, (_, i) => ((i * 7) % 17) - 8);
    s.params.per_channel = false; s.params.weight_scales = [0.0037]; s.params.weight_zero_points = [0]; s.params.bias = null;
    s.params.output_scale = 0.05; s.view.channel = 0; s.view.pixel = [0, 0];`);
  const nodes = () => page.evaluate(() => {
    const w = document.createTreeWalker(document.querySelector('[data-group="weights"]'));
    let n = 0;
    while (w.nextNode()) n++;
    return n;
  });
  const n = await nodes();
  assert.ok(n < 2000, `${n} nodes`);
  const inputs = await page.$$eval('#weights-grid input', (i) => i.length);
  assert.ok(inputs > 0 && inputs <= 200, `${inputs} inputs`);
  // Another page of input channels, then an edit there.
  assert.equal(await page.isVisible('#weights-page'), true);
  await page.selectOption('#weights-page', '3');
  const label = await page.$eval('#weights-grid input', (i) => i.getAttribute('aria-label'));
  const ic = Number(label.match(/input channel (\d+)/)[1]);
  assert.ok(ic >= 3 * 16, label);
  const index = Number(await page.$eval('#weights-grid input', (i) => i.dataset.index));
  assert.equal(index, ic * 9);
  // The controls share the weights with the scenario on screen (no 2.4 M
  // copy per frame): an edit makes new weights and leaves the old ones be.
  const was = await page.evaluate((i) => { window.shownBefore = window.qconvLens.current(); return window.shownBefore.weights[i]; }, index);
  assert.notEqual(was, 5);
  await nextFrame(page, async () => {
    await page.fill('#weights-grid input >> nth=0', '5');
    await page.press('#weights-grid input >> nth=0', 'Tab');
  });
  assert.equal(await page.evaluate((i) => window.qconvLens.current().weights[i], index), 5);
  assert.equal(await page.evaluate((i) => window.shownBefore.weights[i], index), was);
  // The weights follow the channel the map shows.
  await nextFrame(page, async () => { await page.fill('#channel', '300'); await page.press('#channel', 'Enter'); });
  assert.equal(await page.inputValue('#weights-channel'), '300');
  const first = Number(await page.$eval('#weights-grid input', (i) => i.dataset.index));
  assert.equal(Math.floor(first / (512 * 9)), 300);
  assert.ok((await nodes()) < 2000);
  // A channel that does not exist says so beside the field.
  await page.fill('#weights-channel', '512');
  assert.match(await page.textContent('[data-group="weights"] .row .msg'), /from 0 to 511/);
  await page.fill('#weights-channel', '7');
  assert.equal(Math.floor(Number(await page.$eval('#weights-grid input', (i) => i.dataset.index)) / (512 * 9)), 7);
  assert.deepEqual(errors, []);
  await page.close();
});

test('a weight typed out of range is written back by the next frame (a scale edit), as the grid skips unchanged weights', async () => {
  const { page, errors } = await openPage(browser, BASE_URL);
  await ready(page);
  const cell = '#weights-grid input >> nth=0';
  const weight = await page.inputValue(cell);
  await page.fill(cell, '999');
  await page.press(cell, 'Tab');
  assert.match(await page.textContent('#weights-msg'), /from -128 to 127/);
  await nextFrame(page, async () => {
    await page.fill('#output-scale', '0.0025');
    await page.press('#output-scale', 'Tab');
  });
  assert.equal(await page.inputValue(cell), weight);
  // And a scale edit with nothing typed leaves the grid as it is.
  await nextFrame(page, async () => {
    await page.fill('#output-scale', '0.003');
    await page.press('#output-scale', 'Tab');
  });
  assert.equal(await page.inputValue(cell), weight);
  assert.deepEqual(errors, []);
  await page.close();
});
