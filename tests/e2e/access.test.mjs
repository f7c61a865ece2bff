// Keyboard and screen-reader details (issue 11, item 3): the skip link keeps
// the state and the address, sliders return exactly to where they started and
// reset to the scenario's value, unique names in the calibrate form.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, openPage, BASE_URL, ready, nextFrame } from './browser.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('the skip link moves focus to the heatmap and never touches the address or the scenario', async () => {
  const { page, errors } = await openPage(browser, BASE_URL);
  await ready(page);
  // Wait until the permalink is in the address bar.
  await page.waitForFunction(() => location.hash.length > 1);
  const hash = await page.evaluate(() => location.hash);
  const before = await page.evaluate(() => JSON.stringify(window.qconvLens.current()));
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.className), 'skip');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.activeElement?.id === 'heatmap-canvas');
  await page.waitForTimeout(300);
  assert.equal(await page.evaluate(() => location.hash), hash);
  assert.equal(await page.evaluate(() => JSON.stringify(window.qconvLens.current())), before);
  assert.equal(await page.isHidden('#link-banner'), true);
  // An in-page anchor typed into the address is not read as a broken link either.
  await page.evaluate(() => { location.hash = '#heatmap-canvas'; });
  await page.waitForTimeout(300);
  assert.equal(await page.evaluate(() => JSON.stringify(window.qconvLens.current())), before);
  assert.equal(await page.isHidden('#link-banner'), true);
  assert.deepEqual(errors, []);
});

test('the output-scale slider steps finely, comes back exactly, and Reset restores the scenario value', async () => {
  const { page, errors } = await openPage(browser, BASE_URL);
  await ready(page);
  const scale = () => page.evaluate(() => window.qconvLens.current().params.output_scale);
  const start = await scale();
  assert.equal(start, 0.004018464591354132, 'the forum preset');
  await page.focus('#output-scale-range');
  await nextFrame(page, () => page.keyboard.press('ArrowRight'));
  const up = await scale();
  assert.notEqual(up, start);
  assert.ok(Math.abs(up / start - 1) < 0.005, `one step is fine: ${start} -> ${up}`);
  await nextFrame(page, () => page.keyboard.press('ArrowLeft'));
  assert.equal(await scale(), start, 'one step and back is the exact value');
  // Reset appears once the value differs, and restores it exactly.
  assert.equal(await page.isHidden('#scale-rows .field.scale:nth-child(2) button.reset'), true);
  await nextFrame(page, () => page.keyboard.press('ArrowRight'));
  await nextFrame(page, () => page.keyboard.press('ArrowRight'));
  assert.notEqual(await scale(), start);
  // End goes to the top of the range.
  await nextFrame(page, () => page.keyboard.press('End'));
  assert.equal(await scale(), 10);
  const reset = page.locator('#scale-rows button.reset:visible');
  assert.match(await reset.getAttribute('aria-label'), /Reset output scale to 0\.004018464591354132/);
  await nextFrame(page, () => reset.click());
  assert.equal(await scale(), start);
  assert.equal(await page.inputValue('#output-scale'), String(start));
  // The float32 readouts are not live regions (no hex read aloud on every step).
  assert.equal(await page.$$eval('#scale-rows output, #scale-rows [aria-live="polite"]:not(.msg)', (n) => n.length), 0);
  assert.deepEqual(errors, []);
});

test('the calibrate form names each observer control uniquely', async () => {
  const { page } = await openPage(browser, BASE_URL);
  await ready(page);
  const names = await page.$$eval('#calibrate-form input, #calibrate-form select', (els) => els.map((e) => {
    const l = e.labels?.[0];
    return (e.getAttribute('aria-label') ?? l?.textContent ?? '').replace(/\s+/g, ' ').trim();
  }));
  const dup = names.filter((n, i) => names.indexOf(n) !== i);
  assert.deepEqual(dup, [], `duplicate names: ${dup.join(', ')}`);
  assert.ok(names.includes('dtype (activation observer)'));
  assert.ok(names.includes('dtype (weight observer)'));
});

test('every form control on the page has a unique accessible name', async () => {
  const { page } = await openPage(browser, BASE_URL);
  await ready(page);
  for (const id of ['forum', 'per-channel']) {
    await nextFrame(page, () => page.selectOption('#preset', id));
    const names = await page.$$eval('input, select, textarea', (els) => els.map((e) => {
      const l = e.labels?.[0];
      return (e.getAttribute('aria-label') ?? l?.textContent ?? '').replace(/\s+/g, ' ').trim();
    }));
    assert.ok(!names.includes(''), `${id}: a control without a name`);
    const dup = [...new Set(names.filter((n, i) => names.indexOf(n) !== i))];
    assert.deepEqual(dup, [], `${id}: duplicate names`);
  }
});
