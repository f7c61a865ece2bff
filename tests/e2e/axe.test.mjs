// Accessibility scan with axe-core (issue 11, item 3): no serious or critical
// violation at desktop and phone sizes, on the landing page, with a
// calibration shown, and on a multi-channel preset; one polite summary.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { launch, openPage, BASE_URL, ready, nextFrame } from './browser.mjs';

const require = createRequire(import.meta.url);
const AXE = require.resolve('axe-core/axe.min.js');

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

async function scan(page, what) {
  await page.addScriptTag({ path: AXE });
  const r = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const res = await axe.run(document, { resultTypes: ['violations'] });
    return res.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
  });
  const bad = r.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad, [], `${what}: ${JSON.stringify(bad, null, 1)}`);
  return r;
}

for (const [w, h] of [[1440, 900], [390, 844]]) {
  test(`axe-core at ${w}x${h}: no serious or critical violations`, async () => {
    const { page, errors } = await openPage(browser, 'about:blank');
    await page.setViewportSize({ width: w, height: h });
    await page.goto(BASE_URL);
    await ready(page);
    await scan(page, 'landing');
    await nextFrame(page, () => page.selectOption('#preset', 'per-channel'));
    await page.click('#export-details summary');
    await page.$eval('#calibrate-run', (b) => b.click());
    await scan(page, 'per-channel with export open');
    assert.deepEqual(errors, []);
  });
}

test('one polite summary per change, without timings or hex', async () => {
  const { page, errors } = await openPage(browser, BASE_URL);
  await ready(page);
  const live = await page.$$eval('[aria-live="polite"]:not(.msg):not([hidden])', (n) => n.map((e) => e.id));
  // Field messages (.msg) speak only when a field is wrong; copy-feedback only on Copy.
  assert.deepEqual(live.sort(), ['copy-feedback', 'live-summary']);
  const said = await page.textContent('#live-summary');
  assert.match(said, /10 of 64 output pixels differ.* Row 2, col 15: A gives 30, B gives 31\./);
  assert.doesNotMatch(said, /0x[0-9a-f]{4}|ms\b/);
  await nextFrame(page, () => page.click('#story-undo button:has-text("output scale")'));
  assert.match(await page.textContent('#live-summary'), /A gives 30, B gives 30\./);
  assert.deepEqual(errors, []);
});
