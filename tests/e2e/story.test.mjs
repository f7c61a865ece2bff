// The forum story at a glance (issue 11, items 1-3): the first screen at
// 1440x900 tells 24 x 127 + bias -> 30 vs 31 with the thread linked and one
// click per assumption; every preset opens on a pixel with its own line; at
// 390 px nothing scrolls sideways and the results come before the controls.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, openPage, BASE_URL, ready, nextFrame, screenshot } from './browser.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

/** Is the element's box inside the viewport (the first screen)? */
const onFirstScreen = (page, sel) => page.$eval(sel, (e) => {
  const r = e.getBoundingClientRect();
  return r.top >= 0 && r.bottom <= innerHeight && r.height > 0;
});

test('at 1440x900 the first screen tells the forum case: 24 x 127 + bias gives 30 in PyTorch, 31 by hand', async () => {
  const { page, errors } = await openPage(browser, BASE_URL);
  await page.setViewportSize({ width: 1440, height: 900 });
  await ready(page);
  const pixel = await page.textContent('#story-pixel');
  assert.match(pixel, /input code 24 × weight 127 \+ bias 0\.0317\b/);
  assert.match(pixel, /PyTorch fbgemm gives 30; hand calculation gives 31\./);
  assert.match(await page.textContent('#story-line'), /copied as printed/);
  assert.equal(await page.getAttribute('#story-line a', 'href'),
    'https://discuss.pytorch.org/t/the-result-of-quantized-conv2d-is-different-from-the-result-i-calculate/157066');
  for (const sel of ['#story-pixel', '#story-line', '#story-undo', '#heatmap-canvas']) {
    assert.ok(await onFirstScreen(page, sel), `${sel} on the first screen`);
  }
  await screenshot(page, 'story-desktop');
  // One click undoes one assumption; the buttons say what each gives here.
  const buttons = await page.$$eval('#story-undo button', (b) => b.map((x) => x.textContent));
  assert.ok(buttons.some((t) => /output scale as printed .* → 30 ✓/.test(t)), buttons.join(' | '));
  assert.ok(buttons.some((t) => /input scale as printed .* → 31$/.test(t)), buttons.join(' | '));
  await nextFrame(page, () => page.click('#story-undo button:has-text("output scale")'));
  const s = await page.evaluate(() => window.qconvLens.current());
  assert.equal(s.b.print_output_scale, false);
  assert.equal(s.b.print_input_scale, true);
  assert.match(await page.textContent('#story-pixel'), /PyTorch fbgemm and hand calculation both give 30\./);
  // The inspector keeps the first differing step and the assumptions apart, and no ≠ on equal-looking values.
  await nextFrame(page, () => page.selectOption('#preset', 'forum'));
  const summary = await page.textContent('#inspector-summary');
  assert.match(summary, /The first step that differs: the input scale \(0\.007839368 vs 0\.0078\)\. What changes the result: /);
  const marks = await page.$$eval('#trace tbody tr.differs', (rows) => rows.map((r) => [...r.querySelectorAll('.val')].map((v) => v.textContent)));
  for (const [a, b] of marks) assert.notEqual(a, b, `≠ on ${a} and ${b}`);
  assert.deepEqual(errors, []);
});

test('every preset opens with a pixel selected and a story line of its own', async () => {
  const { page, errors } = await openPage(browser, BASE_URL);
  await ready(page);
  const ids = await page.$$eval('#preset option', (o) => o.map((x) => x.value));
  assert.ok(ids.length >= 7);
  const lines = new Set();
  for (const id of ids) {
    await nextFrame(page, () => page.selectOption('#preset', id));
    await page.waitForFunction(() => window.qconvLens.currentFrame().inspect);
    const line = await page.textContent('#story-line');
    assert.ok(line.length > 20, `${id}: ${line}`);
    lines.add(line);
    assert.match(await page.textContent('#story-pixel'), /gives? /, id);
    // It opens on the channel where most pixels differ; the picker lists the
    // differing channels with their counts, most first, the shown one chosen.
    const f = await page.evaluate(() => { const f = window.qconvLens.currentFrame(); return { ch: f.view.channel, counts: f.differing_by_channel }; });
    assert.equal(f.counts[f.ch], Math.max(...f.counts), `${id}: ${JSON.stringify(f)}`);
    const labels = await page.$$eval('#channel-top option', (o) => o.map((x) => x.textContent));
    const ranked = f.counts.map((n, c) => [c, n]).filter(([, n]) => n > 0).sort((x, y) => y[1] - x[1] || x[0] - y[0]);
    assert.deepEqual(labels, ranked.length ? ranked.slice(0, 12).map(([c, n]) => `${c} (${n} differ)`) : ['no channel differs'], id);
    if (ranked.length) assert.equal(await page.$eval('#channel-top', (s) => s.value), String(f.ch), id);
  }
  assert.equal(lines.size, ids.length, 'each preset has its own line');
  assert.deepEqual(errors, []);
});

test('at 390 px: no sideways scrolling, the heatmap before the controls, touch wording', async () => {
  const { page, errors } = await openPage(browser, 'about:blank');
  await page.setViewportSize({ width: 390, height: 844 });
  // A touch screen, as DevTools' device mode makes one: (hover: none).
  const cdp = await browser.newCDPSession(page);
  await cdp.send('Emulation.setTouchEmulationEnabled', { enabled: true, maxTouchPoints: 5 });
  await cdp.send('Emulation.setEmitTouchEventsForMouse', { enabled: true, configuration: 'mobile' });
  await page.goto(BASE_URL);
  await ready(page);
  assert.equal(await page.evaluate(() => matchMedia('(hover: none)').matches), true);
  for (const id of ['forum', 'per-channel']) {
    await nextFrame(page, () => page.selectOption('#preset', id));
    const [sw, cw] = await page.evaluate(() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]);
    assert.ok(sw <= cw, `${id}: page is ${sw} px wide in a ${cw} px screen`);
  }
  await nextFrame(page, () => page.selectOption('#preset', 'forum'));
  await page.$eval('#calibrate-run', (b) => b.click());
  await page.waitForSelector('#calibrate-result:not([hidden])');
  const [sw, cw] = await page.evaluate(() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]);
  assert.ok(sw <= cw, `after calibrating: ${sw} > ${cw}`);
  const mapTop = await page.$eval('#heatmap-canvas', (e) => e.getBoundingClientRect().top + scrollY);
  const controlsTop = await page.$eval('#controls', (e) => e.getBoundingClientRect().top + scrollY);
  assert.ok(mapTop < controlsTop, 'results before controls');
  assert.ok(mapTop < 2 * 844, `heatmap at ${mapTop}px`);
  assert.equal(await page.isVisible('#map-keys .touch-hint'), true);
  assert.equal(await page.isVisible('#map-keys .pointer-hint'), false);
  await screenshot(page, 'story-phone');
  assert.deepEqual(errors, []);
});
