// The runtime presets in the browser: each opens with its heatmap drawn, a
// mismatch count above zero and a pixel selected; the cross-runtime ones show
// the table of what the export path converted, the others none.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, openPage, screenshot, BASE_URL, ready, nextFrame, canvasState } from './browser.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

const PRESETS = [
  { id: 'pytorch-vs-onnxruntime', converts: true, field: 'bias[0]', side: 'B', to: /^1072 \(from 1072\.9/, cause: 'export_bias' },
  { id: 'ort-qdq-tie', converts: false },
  { id: 'tflite-vs-xnnpack', converts: false },
  { id: 'microcontroller', converts: true, field: 'input zero point', side: 'B' },
];

for (const p of PRESETS) {
  test(`preset ${p.id}: heatmap, mismatches, conversions`, async () => {
    const { page, errors } = await openPage(browser, BASE_URL);
    await ready(page);
    await nextFrame(page, () => page.selectOption('#preset', p.id));
    const state = await canvasState(page);
    assert.ok(state.width > 0 && state.height > 0, JSON.stringify(state));
    // Something other than one colour is drawn (differing pixels stand out).
    const colours = await page.evaluate(() => {
      const c = document.querySelector('#heatmap-canvas');
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      const seen = new Set();
      for (let i = 0; i < d.length; i += 4) seen.add(`${d[i]},${d[i + 1]},${d[i + 2]},${d[i + 3]}`);
      return seen.size;
    });
    assert.ok(colours > 1, `${colours} colour(s)`);
    const differing = Number(await page.getAttribute('#count', 'data-differing'));
    assert.ok(differing > 0, state.count);
    // The preset's pixel is selected, and A and B differ there.
    const pixel = await page.getAttribute('[data-group="inspector"]', 'data-pixel');
    assert.ok(pixel, 'a pixel is selected');
    const summary = await page.textContent('#inspector-summary');
    const m = summary.match(/A = (-?\d+), B = (-?\d+)/);
    assert.ok(m && m[1] !== m[2], summary);
    const table = page.locator('#conversions');
    assert.equal(await table.isVisible(), p.converts);
    if (p.converts) {
      // The list comes from the permalink wasm, after the frame.
      await page.waitForSelector('#conversions tbody tr');
      const rows = await page.$$eval('#conversions tbody tr', (trs) => trs.map((tr) => [...tr.children].map((c) => c.textContent)));
      const row = rows.find((r) => r[0] === p.field);
      assert.ok(row, JSON.stringify(rows));
      assert.ok(row.every((c) => c.length > 0), JSON.stringify(row));
      if (p.to) assert.match(row[2], p.to);
      // A float bias reads as PyTorch prints a float32 (shortest decimal), not as its float64 expansion.
      if (p.field.startsWith('bias')) assert.ok(row[1].replace(/^-/, '').replace('.', '').replace(/^0+/, '').length <= 9, row[1]);
      if (p.cause) assert.match(await page.textContent(`#causes li[data-code=${p.cause}]`), /int32 1072/);
      assert.match(await page.textContent('#conversions-title'), new RegExp(`^Across runtimes: ${p.side} `));
    }
    await screenshot(page, `runtimes-${p.id}`);
    assert.deepEqual(errors, [], errors.join('\n'));
    await page.close();
  });
}

test('conversions disappear when A and B come from one runtime again', async () => {
  const { page, errors } = await openPage(browser, BASE_URL);
  await ready(page);
  await nextFrame(page, () => page.selectOption('#preset', 'pytorch-vs-onnxruntime'));
  assert.equal(await page.locator('#conversions').isVisible(), true);
  await nextFrame(page, () => page.selectOption('#comp-b', 'qnnpack'));
  assert.equal(await page.locator('#conversions').isVisible(), false);
  assert.deepEqual(errors, [], errors.join('\n'));
  await page.close();
});
