// Smoke test: the page loads, the wasm engine initialises without any console
// or page error, and the title names the project. Leaves a screenshot in
// tests/e2e/artifacts/smoke.png.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { launch, openPage, screenshot, BASE_URL } from './browser.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

test('page loads with no console or page errors', async () => {
  const { page, errors } = await openPage(browser, BASE_URL, { waitUntil: 'networkidle' });
  // Give module scripts (wasm instantiation) a moment to report late errors.
  await page.waitForTimeout(250);
  const title = await page.title();
  const shot = await screenshot(page, 'smoke');
  assert.match(title, /qconv-lens/, `title is ${JSON.stringify(title)} (screenshot: ${shot})`);
  assert.deepEqual(errors, [], `errors while loading ${BASE_URL}:\n${errors.join('\n')}`);
  await page.close();
});

// Issue 9: the landing page's first load is one wasm of at most 150 KB gzip;
// permalinks and the PyTorch round trip are wasm files of their own, fetched
// only after the first heatmap (or on first use). With both blocked, the
// landing page still draws.
test('the landing page draws with only the page wasm, at most 150 KB gzip', async () => {
  const browserPage = await browser.newPage();
  const fetched = [];
  await browserPage.route(/qconv_lens_(link|pytorch)_bg\.wasm$/, (route) => route.abort());
  browserPage.on('request', (r) => { if (r.url().endsWith('.wasm')) fetched.push(r.url().split('/').pop()); });
  await browserPage.goto(BASE_URL);
  await browserPage.waitForFunction(() => document.documentElement.dataset.ready === 'true');
  assert.equal(fetched[0], 'qconv_lens_bg.wasm', `first wasm fetched: ${fetched.join(', ')}`);
  const count = await browserPage.evaluate(() => document.querySelector('#count').textContent);
  assert.match(count, /differ/, `the first heatmap's count: ${count}`);
  const here = dirname(fileURLToPath(import.meta.url));
  const bytes = readFileSync(join(here, '../../www/pkg/qconv_lens_bg.wasm'));
  const gz = gzipSync(bytes, { level: 9 }).length;
  assert.ok(gz <= 150 * 1000, `page wasm is ${gz} B gzip -9 (limit 150,000 B)`);
  await browserPage.close();
});

// Engine-pair causes come from the link wasm; when it cannot load, the frame
// is still drawn and the summary says the causes are missing.
test('two engines parting with the link wasm blocked: drawn, the summary says why causes are missing', async () => {
  const browserPage = await browser.newPage();
  await browserPage.route(/qconv_lens_link_bg\.wasm$/, (route) => route.abort());
  await browserPage.goto(BASE_URL);
  await browserPage.waitForFunction(() => document.documentElement.dataset.ready === 'true');
  // The landing case with B = ONNX Runtime (presets need the link wasm too)
  // and a bias of 1098.59 accumulator units: ORT runs the int32 bias
  // torch.onnx exports (Cast truncates: 1098) and rounds 30.498 to 30 where
  // fbgemm's float bias gives 30.502, 31: at the selected pixel they part.
  const step = async (action) => {
    const n = await browserPage.evaluate(() => window.qconvLens.timing.frames);
    await action();
    await browserPage.waitForFunction((k) => window.qconvLens.timing.frames > k, n, { timeout: 20000 });
  };
  await step(() => browserPage.selectOption('#comp-b', 'onnxruntime-qlinearconv'));
  await step(async () => {
    await browserPage.fill('#bias-0', '0.032474');
    await browserPage.press('#bias-0', 'Tab');
  });
  const ex = await browserPage.evaluate(() => window.qconvLens.currentFrame().inspect.explanation);
  assert.notEqual(ex.out_a, ex.out_b);
  const summary = await browserPage.textContent('#inspector-summary');
  assert.match(summary, /could not be computed/, summary);
  await browserPage.close();
});
