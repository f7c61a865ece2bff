// Many channels (issue 10, item 3): a 512 -> 512, 3x3 layer at 7x7 with
// per-channel weight scales, zero points and bias builds a bounded number of
// nodes in the controls; the map's channel picker is a number, previous/next
// channel where A and B differ and the channels where most differ; the
// per-channel rows are paged and their edits apply and are validated; axe
// finds nothing serious and a 390 px phone does not scroll sideways.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { launch, openPage, BASE_URL, ready, nextFrame } from './browser.mjs';

const require = createRequire(import.meta.url);
const AXE = require.resolve('axe-core/axe.min.js');

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

// The link of tests/e2e/limits.test.mjs, 512 -> 512, 3x3 at 7x7, no pixel named.
const LINK = '#v=2&ci=512&co=512&h=7&w=7&k=3&s=1&pd=1&dl=1&g=1'
  + '&in=random:3&sx=0.0078&zx=0&pc=0&sw=0.0037&zw=0&wq=1&bias=none&sy=0.05&zy=0&relu=0&a=fbgemm&b=hand:px,pw,py,pb,bias-even,f64,even'
  + '&cpu=avx512_vnni&os=linux&emu=0&dx=quint8&dy=quint8&ch=0&px=none&map=diff';

const view = (page) => page.evaluate(() => {
  const f = window.qconvLens.currentFrame();
  return { channel: f.view.channel, counts: f.differing_by_channel, recomputed: f.recomputed };
});
const nodes = (page, sel) => page.evaluate((sel) => {
  const w = document.createTreeWalker(document.querySelector(sel));
  let n = 0;
  while (w.nextNode()) n++;
  return n;
}, sel);

/** The 512 -> 512 layer from its link, with per-channel scales and zero points and a bias switched on from the page. */
async function open(width = 1440) {
  const { page, errors } = await openPage(browser, 'about:blank');
  await page.setViewportSize({ width, height: 900 });
  await page.goto(BASE_URL + LINK);
  await ready(page);
  await page.waitForFunction(() => window.qconvLens.current()?.shape.out_channels === 512);
  // Weights and an output scale where B, the hand calculation without the
  // clamp, parts from A in most channels but not all; applied as a link
  // that names no pixel, so it opens where most pixels differ.
  await nextFrame(page, () => page.evaluate(() => {
    const s = structuredClone(window.qconvLens.current());
    s.weights = Array.from({ length: 512 * 512 * 9 }, (_, i) => ((i * 7) % 17) - 8);
    s.params.output_scale = 1;
    s.b.ignore_clamp = true;
    s.view.pixel = null;
    return window.qconvLens.apply(s, { source: 'link' });
  }));
  await nextFrame(page, () => page.check('#per-channel'));
  await nextFrame(page, () => page.check('#has-bias'));
  const p = await page.evaluate(() => window.qconvLens.current().params);
  assert.deepEqual([p.weight_scales.length, p.weight_zero_points.length, p.bias.length], [512, 512, 512]);
  return { page, errors };
}

test('512 -> 512: the controls build under 2,000 nodes; the channel picker lists the channels where most differ and jumps to them', async () => {
  const { page, errors } = await open();
  const n = await nodes(page, '#controls');
  assert.ok(n < 2000, `${n} nodes in the controls`);
  assert.ok((await nodes(page, '.map-controls')) < 200);
  let v = await view(page);
  // Opened where most differ (a link without a pixel).
  const most = Math.max(...v.counts);
  assert.ok(most > 0);
  assert.equal(v.counts[v.channel], most);
  // The list: channels with their counts, most first, at most a few.
  const list = await page.$$eval('#channel-top option', (o) => o.map((x) => [x.value, x.textContent]));
  assert.ok(list.length >= 1 && list.length <= 13, JSON.stringify(list));
  const ranked = v.counts.map((k, c) => [c, k]).filter(([, k]) => k > 0).sort((x, y) => y[1] - x[1] || x[0] - y[0]);
  const shown = list.filter(([value]) => value !== '');
  shown.forEach(([value, text], i) => {
    assert.equal(Number(value), ranked[i][0]);
    assert.equal(text, `${ranked[i][0]} (${ranked[i][1]} differ)`);
  });
  // Elsewhere by number, then back to the most differing one from the list.
  const low = v.counts.findIndex((k) => k === 0);
  assert.ok(low >= 0, 'some channel has no differing pixel');
  await nextFrame(page, async () => { await page.fill('#channel', String(low)); await page.press('#channel', 'Enter'); });
  assert.equal((await view(page)).channel, low);
  assert.match(await page.$eval('#channel-top', (s) => s.options[s.selectedIndex].textContent), new RegExp(`^— ${low} shown`));
  await page.focus('#channel-top');
  await nextFrame(page, () => page.selectOption('#channel-top', String(ranked[0][0])));
  assert.equal((await view(page)).channel, ranked[0][0]);
  assert.equal(await page.inputValue('#channel'), String(ranked[0][0]));
  // Next and previous channel where A and B differ (wrapping), by keyboard.
  v = await view(page);
  const step = (from, dir) => {
    for (let i = 1; i < 512; i++) {
      const c = (((from + dir * i) % 512) + 512) % 512;
      if (v.counts[c] > 0) return c;
    }
    return null;
  };
  const next = step(v.channel, 1);
  await page.focus('#channel-next');
  await nextFrame(page, () => page.keyboard.press('Enter'));
  assert.equal((await view(page)).channel, next);
  await page.focus('#channel-prev');
  await nextFrame(page, () => page.keyboard.press('Enter'));
  assert.equal((await view(page)).channel, step(next, -1));
  // A channel that does not exist says so beside the field.
  await page.fill('#channel', '512');
  await page.press('#channel', 'Tab');
  assert.match(await page.textContent('.channel-pick .msg'), /from 0 to 511/);
  assert.equal(await page.getAttribute('#channel', 'aria-invalid'), 'true');
  assert.deepEqual(errors, []);
  await page.close();
});

test('512 -> 512: per-channel rows show one page of channels; an edit on another page applies, recomputes and changes the link', async () => {
  const { page, errors } = await open();
  // One page of each list: 8 rows, not 512.
  for (const sel of ['#weight-scale-rows', '#weight-zp-rows', '#bias-rows']) {
    assert.equal(await page.$$eval(`${sel} > .field`, (r) => r.length), 8, sel);
  }
  // The pages follow the map's channel.
  await nextFrame(page, async () => { await page.fill('#channel', '100'); await page.press('#channel', 'Enter'); });
  assert.equal(await page.isVisible('#weight-scale-100'), true);
  assert.equal(await page.isVisible('#bias-100'), true);
  // Another page by number: channel 300's weight scale.
  await page.fill('#weight-scale-page', '300');
  await page.waitForSelector('#weight-scale-300');
  assert.match(await page.textContent('label[for="weight-scale-300"]'), /weight scale, channel 300/);
  const before = await page.evaluate(() => location.hash);
  await nextFrame(page, async () => { await page.fill('#weight-scale-300', '0.0123'); await page.press('#weight-scale-300', 'Tab'); });
  let p = await page.evaluate(() => window.qconvLens.current().params);
  assert.equal(p.weight_scales[300], 0.0123);
  assert.equal(p.weight_scales[301], 0.0037);
  assert.notEqual(p.weight_scales[300], 0.0037);
  assert.equal((await view(page)).recomputed, true);
  await page.waitForFunction((h) => location.hash !== h, before);
  // Validated as before: a bad scale stays out of the scenario with a message.
  await page.fill('#weight-scale-300', '-1');
  await page.press('#weight-scale-300', 'Tab');
  assert.match(await page.textContent('#weight-scale-300 ~ .msg'), /greater than 0/);
  assert.equal(await page.evaluate(() => window.qconvLens.current().params.weight_scales[300]), 0.0123);
  // The later button of the zero points, then an edit there.
  const first = await page.$eval('#weight-zp-rows input[type=number]', (i) => i.id);
  await page.click('#weight-zp-page ~ button:has-text("later")');
  const moved = await page.$eval('#weight-zp-rows input[type=number]', (i) => i.id);
  assert.equal(Number(moved.match(/\d+$/)[0]), Number(first.match(/\d+$/)[0]) + 8);
  const c = Number(moved.match(/\d+$/)[0]);
  await nextFrame(page, async () => { await page.fill(`#${moved}`, '3'); await page.press(`#${moved}`, 'Tab'); });
  assert.equal(await page.evaluate((c) => window.qconvLens.current().params.weight_zero_points[c], c), 3);
  // A bias on another page.
  await page.fill('#bias-page', '511');
  await page.waitForSelector('#bias-511');
  await nextFrame(page, async () => { await page.fill('#bias-511', '0.5'); await page.press('#bias-511', 'Tab'); });
  p = await page.evaluate(() => window.qconvLens.current().params);
  assert.equal(p.bias[511], 0.5);
  assert.equal(p.bias[510], 0);
  assert.ok((await nodes(page, '#controls')) < 2000);
  assert.deepEqual(errors, []);
  await page.close();
});

for (const w of [1440, 390]) {
  test(`512 -> 512 at ${w} px: axe finds nothing serious${w === 390 ? ', no sideways scrolling' : ''}`, async () => {
    const { page, errors } = await open(w);
    await page.addScriptTag({ path: AXE });
    const bad = await page.evaluate(async () => {
      // eslint-disable-next-line no-undef
      const res = await axe.run(document, { resultTypes: ['violations'] });
      return res.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
        .map((v) => ({ id: v.id, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
    });
    assert.deepEqual(bad, []);
    const [scroll, inner] = await page.evaluate(() => [document.documentElement.scrollWidth, innerWidth]);
    assert.ok(scroll <= inner, `${scroll} > ${inner}`);
    assert.deepEqual(errors, []);
    await page.close();
  });
}
