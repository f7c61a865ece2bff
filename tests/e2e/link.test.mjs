// Permalinks in the browser: hostile links give a banner and a working page,
// a copied link reopens the same pixels, Back restores the previous preset,
// the address bar follows dragging without piling up history, classroom
// links hide control groups.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, openPage, screenshot, BASE_URL, ready, nextFrame, canvasState } from './browser.mjs';

async function canvasHash(page) {
  const c = await canvasState(page);
  return `${c.width}x${c.height}:${c.hash}`;
}

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});


/** The link field follows the state asynchronously (the worker encodes it). */
async function linkOf(page) {
  await page.click('#copy-link');
  await page.waitForFunction(() => document.querySelector('#copy-feedback').textContent !== '');
  return page.inputValue('#link-text');
}

const forumLink = 'v=1&ci=1&co=1&h=4&w=16&k=1&s=1&pd=0&dl=1&g=1&in=ramp&sx=0.007839367724955082&zx=0&pc=1&sw=0.003770669922232628&zw=0&wq=127&bias=0.0317&sy=0.004018464591354132&zy=0&relu=0&a=fbgemm&b=hand:px,pw,py,pb,bias-even,f64,even&ch=0&px=2,15&map=diff';

const HOSTILE = [
  ['garbage', '%%%garbage&&==&', /percent-encoding/],
  ['truncated', forumLink.slice(0, 120), /missing/],
  ['future version', 'v=999&sx=0.01', /newer than this page/],
  ['huge sizes', 'v=1&h=1000000000&w=1000000000&ci=16&co=16', /outside 1..=1024/],
  ['huge work', 'v=1&h=1024&w=1024&ci=4096&co=4096&k=11', /the output \(4096 x 1014 x 1014 values\) is \d+; at most 4194304 \(1004\.1x too many\)/],
  ['NaN scale', 'v=1&sx=NaN', /not a usable scale/],
  ['infinite scale', 'v=1&sy=inf', /not a usable scale/],
  ['zero scale', 'v=1&sy=0', /not a usable scale/],
  ['negative scale', 'v=1&sw=-0.5', /not a usable scale/],
  ['zero point 999', 'v=1&zy=999', /999 is outside -128..=255; 255 used/],
  ['script tag', `v=1&a=${encodeURIComponent('<script>window.__pwned=1</script>')}&b=%3Cimg%20src%3Dx%20onerror%3Dwindow.__pwned%3D1%3E`, /not a computation/],
  ['javascript: text', 'v=1&in=javascript:window.__pwned=1&hide=javascript:alert(1)', /not an input/],
  ['100 KB fragment', `v=1&junk=${'A'.repeat(100_000)}`, /not a setting this page knows/],
];

for (const [name, fragment, expect] of HOSTILE) {
  test(`hostile link (${name}): a clear message and a working page`, async () => {
    const { page, errors } = await openPage(browser, `${BASE_URL}#${fragment}`);
    await ready(page);
    assert.equal(await page.isVisible('#link-banner'), true, 'the banner is shown');
    const banner = await page.textContent('#link-banner');
    assert.match(banner, expect);
    // Link text is shown as text, never parsed as HTML.
    assert.equal(await page.$$eval('#link-banner script, #link-banner img', (n) => n.length), 0);
    assert.equal(await page.evaluate(() => window.__pwned), undefined);
    // The page works: a heatmap is drawn and pixels can be inspected.
    const hash = await canvasHash(page);
    assert.ok(!hash.startsWith('1x1'), hash);
    assert.match(await page.textContent('#count'), /of \d+ pixels differ/);
    // The address bar now holds the canonical link of what is shown.
    await page.waitForFunction(() => location.hash.startsWith('#v=3&ci='));
    if (name === 'script tag') await screenshot(page, 'hostile-link');
    assert.deepEqual(errors, [], errors.join('\n'));
    await page.close();
  });
}

test('a case built with the controls reopens from its copied link with identical pixels', async () => {
  const { page, errors } = await openPage(browser, BASE_URL);
  await ready(page);
  await nextFrame(page, () => page.selectOption('#comp-b', 'qnnpack'));
  await nextFrame(page, async () => {
    await page.fill('#output-scale', '0.0025');
    await page.press('#output-scale', 'Tab');
  });
  await page.focus('#heatmap-canvas');
  await nextFrame(page, () => page.keyboard.press('ArrowLeft'));
  const link = await linkOf(page);
  assert.match(link, /#v=3&/);
  assert.match(link, /sy=0\.0025&/);
  assert.match(link, /&b=qnnpack&/);
  const want = await canvasHash(page);
  const wantScenario = await page.evaluate(() => window.qconvLens.current());
  const wantSummary = await page.textContent('#inspector-summary');

  const fresh = await launch();
  try {
    const other = await openPage(fresh, link);
    await ready(other.page);
    assert.equal(await canvasHash(other.page), want);
    assert.deepEqual(await other.page.evaluate(() => window.qconvLens.current()), wantScenario);
    assert.equal(await other.page.textContent('#inspector-summary'), wantSummary);
    assert.equal(await other.page.isVisible('#link-banner'), false);
    assert.deepEqual(other.errors, [], other.errors.join('\n'));
  } finally {
    await fresh.close();
  }
  assert.deepEqual(errors, [], errors.join('\n'));
  await page.close();
});

test('Back restores the previous preset; dragging replaces instead of pushing', async () => {
  const { page, errors } = await openPage(browser, BASE_URL);
  await ready(page);
  await page.waitForFunction(() => location.hash.startsWith('#v=3&'));
  await nextFrame(page, () => page.selectOption('#preset', 'ties'));
  await page.waitForFunction(() => location.hash.includes('&h=16&'));
  const ties = await canvasHash(page);
  const tiesScenario = await page.evaluate(() => window.qconvLens.current());
  const length = await page.evaluate(() => history.length);

  // Dragging a slider: the address follows (debounced) without new entries.
  await page.focus('#output-scale-range');
  for (let i = 0; i < 5; i++) await nextFrame(page, () => page.keyboard.press('ArrowRight'));
  await page.waitForFunction((h) => location.hash !== h, await page.evaluate(() => location.hash));
  assert.equal(await page.evaluate(() => history.length), length, 'no history entry per slider step');

  await nextFrame(page, () => page.selectOption('#preset', 'bias'));
  await page.waitForFunction(() => location.hash.includes('&b=qnnpack&'));
  assert.equal(await page.evaluate(() => history.length), length + 1, 'a preset is its own entry');
  assert.notEqual(await canvasHash(page), ties);

  // Back: the ties state as it was left (after the slider moves).
  await nextFrame(page, () => page.goBack());
  const back = await page.evaluate(() => window.qconvLens.current());
  assert.deepEqual(back.shape, tiesScenario.shape);
  assert.deepEqual(back.b, tiesScenario.b);
  assert.notEqual(back.params.output_scale, tiesScenario.params.output_scale, 'the dragged scale came back too');
  // Back once more: the preset as first shown.
  await nextFrame(page, () => page.goBack());
  assert.equal(await page.evaluate(() => document.querySelector('#count').textContent.includes('10 of 64')), true);
  // Forward twice: the bias preset again.
  await nextFrame(page, () => page.goForward());
  await nextFrame(page, () => page.goForward());
  assert.equal((await page.evaluate(() => window.qconvLens.current())).b.kind, 'qnnpack');
  assert.deepEqual(errors, [], errors.join('\n'));
  await page.close();
});

test('an edited fragment (hashchange) shows its state; classroom links hide groups', async () => {
  const { page, errors } = await openPage(browser, `${BASE_URL}#${forumLink}&hide=shape,weights,input`);
  await ready(page);
  for (const g of ['shape', 'weights', 'input']) {
    assert.equal(await page.isVisible(`[data-group="${g}"]`), false, `${g} hidden`);
  }
  for (const g of ['heatmap', 'scales', 'inspector']) {
    assert.equal(await page.isVisible(`[data-group="${g}"]`), true, `${g} shown`);
  }
  await screenshot(page, 'classroom-link');
  await nextFrame(page, () => page.evaluate((l) => { location.hash = l.replace('sy=0.004018464591354132', 'sy=0.0040'); }, forumLink));
  assert.equal((await page.evaluate(() => window.qconvLens.current())).params.output_scale, 0.004);
  assert.deepEqual(errors, [], errors.join('\n'));
  await page.close();
});
