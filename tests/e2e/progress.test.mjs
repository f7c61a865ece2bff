// Progress and Cancel (issue 10, item 3): opening a large scenario shows the
// stage of the work with a Cancel; meanwhile the controls of the scenario
// before are marked stale and cannot be used; Cancel stops the work and the
// page goes on with the scenario it showed (or the landing one).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, openPage, BASE_URL, ready } from './browser.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

// 512x512, 16 -> 16, 3x3: the largest output the page takes.
const LARGE = '#v=2&ci=16&co=16&h=512&w=512&k=3&s=1&pd=1&dl=1&g=1'
  + '&in=random:3&sx=0.0078&zx=0&pc=0&sw=0.0037&zw=0&wq=1&bias=none&sy=0.05&zy=0&relu=0&a=fbgemm&b=hand:px,pw,py,pb,bias-even,f64,even'
  + '&cpu=avx512_vnni&os=linux&emu=0&dx=quint8&dy=quint8&ch=0&px=none&map=diff';

// Long enough to see and cancel: on VNNI the workers finish the layer above
// in a few hundred ms, and so do they on AVX2's saturating pairs. ONNX
// Runtime's unfused QDQ path sums float32 fused multiply-adds in order (in
// float64 rounded to odd: wasm has no FMA instruction): about 2.5 s here on
// two workers, 4 s as the first frame (one worker, the first-load engine).
const LARGE_SLOW = LARGE.replace('a=fbgemm', 'a=onnxruntime-qdq-float');
const STAGE = 'accumulating 16 \u2192 16 channels, 3\u00d73, at 512\u00d7512';

const accumulating = (page) => page.waitForFunction((stage) => !document.querySelector('#busy').hidden
  && document.querySelector('#busy-stage').textContent.startsWith(stage), STAGE, { timeout: 20000 });

const formState = (page) => page.evaluate(() => {
  const f = document.querySelector('#controls');
  return { inert: f.inert, stale: f.classList.contains('stale'), busy: f.getAttribute('aria-busy') };
});

/** The page still computes: a new output scale on the scenario shown. */
async function stillWorks(page) {
  return page.evaluate(async () => {
    const L = window.qconvLens;
    const s = structuredClone(L.current());
    s.params.output_scale *= 1.5;
    const r = await L.apply(s, { source: 'controls' });
    const f = L.currentFrame();
    return { ok: r.ok, recomputed: r.frame?.recomputed, shape: [f.rows, f.cols, f.channels], scale: L.current().params.output_scale === s.params.output_scale };
  });
}

test('a large link opened from the page: stage, stale controls, Cancel keeps the scenario before', async () => {
  const { page, errors } = await openPage(browser, BASE_URL);
  await ready(page);
  const before = await page.evaluate(() => structuredClone(window.qconvLens.current()));
  assert.deepEqual(await formState(page), { inert: false, stale: false, busy: null });
  const channels = await page.inputValue('#shape-out_channels');
  await page.evaluate((l) => { location.hash = l; }, LARGE_SLOW);
  await accumulating(page);
  // The forum's controls are still in the form: they must not look current.
  assert.deepEqual(await formState(page), { inert: true, stale: true, busy: 'true' });
  await page.click('#busy-cancel');
  await page.waitForSelector('#busy', { state: 'hidden' });
  assert.match(await page.textContent('#status'), /Cancelled: showing the scenario before/);
  assert.deepEqual(await formState(page), { inert: false, stale: false, busy: null });
  assert.deepEqual(await page.evaluate(() => window.qconvLens.current()), before);
  assert.equal(await page.inputValue('#shape-out_channels'), channels);
  // The address bar goes back to the scenario shown.
  await page.waitForFunction(() => !location.hash.includes('h=512'));
  const r = await stillWorks(page);
  assert.deepEqual(r, { ok: true, recomputed: true, shape: [4, 16, 1], scale: true });
  assert.deepEqual(errors, []);
});

test('a large link opened at start: Cancel shows the landing scenario, which works', async () => {
  const { page, errors } = await openPage(browser, BASE_URL + LARGE_SLOW);
  await accumulating(page);
  assert.deepEqual(await formState(page), { inert: true, stale: true, busy: 'true' });
  await page.click('#busy-cancel');
  await ready(page);
  const s = await page.evaluate(() => window.qconvLens.current().shape);
  assert.deepEqual([s.in_channels, s.out_channels, s.height, s.width], [1, 1, 4, 16]);
  assert.deepEqual(await formState(page), { inert: false, stale: false, busy: null });
  const r = await stillWorks(page);
  assert.deepEqual(r, { ok: true, recomputed: true, shape: [4, 16, 1], scale: true });
  assert.deepEqual(errors, []);
});

test('a large link left to finish: the stage goes away and its controls are current', async () => {
  const { page, errors } = await openPage(browser, BASE_URL);
  await ready(page);
  await page.evaluate((l) => { location.hash = l; }, LARGE_SLOW);
  await accumulating(page);
  await page.waitForFunction(() => window.qconvLens.current().shape.height === 512, null, { timeout: 60000 });
  await page.waitForSelector('#busy', { state: 'hidden' });
  assert.deepEqual(await formState(page), { inert: false, stale: false, busy: null });
  assert.match(await page.textContent('#status'), /Computed/);
  assert.deepEqual(errors, []);
});

test('an edit that recomputes a large layer: Cancel puts the controls back on the scenario shown', async () => {
  const { page, errors } = await openPage(browser, BASE_URL + LARGE_SLOW);
  await ready(page);
  await page.waitForSelector('#busy', { state: 'hidden' });
  const before = await page.evaluate(() => structuredClone(window.qconvLens.current()));
  assert.equal(await page.inputValue('#input-seed'), '3');
  // A new seed: new codes, every accumulator formed again.
  await page.fill('#input-seed', '4');
  await page.press('#input-seed', 'Tab');
  // Seen and cancelled in one step of the page: with the SIMD kernels the
  // recompute can end between a separate wait and click.
  const seen = await (await page.waitForFunction((stage) => {
    if (document.querySelector('#busy').hidden || !document.querySelector('#busy-stage').textContent.startsWith(stage)) return false;
    const f = document.querySelector('#controls');
    const state = { inert: f.inert, stale: f.classList.contains('stale'), busy: f.getAttribute('aria-busy') };
    document.querySelector('#busy-cancel').click();
    return state;
  }, STAGE, { timeout: 20000, polling: 'raf' })).jsonValue();
  // The controls showed the edit being computed: not stale.
  assert.deepEqual(seen, { inert: false, stale: false, busy: null });
  await page.waitForSelector('#busy', { state: 'hidden' });
  assert.equal(await page.inputValue('#input-seed'), '3');
  assert.deepEqual(await page.evaluate(() => window.qconvLens.current()), before);
  assert.deepEqual(errors, []);
});
