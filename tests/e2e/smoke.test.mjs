// Smoke test: the page loads, the wasm engine initialises without any console
// or page error, and the title names the project. Leaves a screenshot in
// tests/e2e/artifacts/smoke.png.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
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
