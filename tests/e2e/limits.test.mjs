// Real layers (issue 10, item 1): limits by work and memory, not per
// dimension. ResNet's 56x56, 64 -> 64, 3x3 and MobileNetV2's 960-channel
// depthwise open from links and compute; a link past the bounds says which
// quantity and by how much, and the page shows the forum case instead.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, openPage, BASE_URL, ready } from './browser.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const link = ({ ci, co, h, k, g = 1, s = 1 }) => `#v=2&ci=${ci}&co=${co}&h=${h}&w=${h}&k=${k}&s=${s}&pd=${Math.floor(k / 2)}&dl=1&g=${g}`
  + '&in=random:3&sx=0.0078&zx=0&pc=0&sw=0.0037&zw=0&wq=1&bias=none&sy=0.05&zy=0&relu=0&a=fbgemm&b=hand:px,pw,py,pb,bias-even,f64,even'
  + '&cpu=avx512_vnni&os=linux&emu=0&dx=quint8&dy=quint8&ch=0&px=none&map=diff';

for (const l of [{ ci: 64, co: 64, h: 56, k: 3 }, { ci: 960, co: 960, h: 7, k: 3, g: 960 }]) {
  test(`a ${l.ci} -> ${l.co}, ${l.k}x${l.k} conv at ${l.h}x${l.h} (groups ${l.g ?? 1}) opens and computes`, async () => {
    const { page, errors } = await openPage(browser, BASE_URL + link(l));
    await ready(page);
    const s = await page.evaluate(() => window.qconvLens.current().shape);
    assert.deepEqual([s.in_channels, s.out_channels, s.height, s.groups], [l.ci, l.co, l.h, l.g ?? 1]);
    assert.match(await page.textContent('#status'), /Computed/);
    const f = await page.evaluate(() => { const f = window.qconvLens.currentFrame(); return [f.rows, f.cols, f.channels]; });
    assert.deepEqual(f, [l.h, l.h, l.co]);
    assert.deepEqual(errors, []);
  });
}

test('a link past the work bound names the quantity and shows the forum case', async () => {
  const { page, errors } = await openPage(browser, BASE_URL + link({ ci: 4096, co: 4096, h: 1024, k: 11 }));
  await ready(page);
  await page.waitForSelector('#link-banner:not([hidden])');
  assert.match(await page.textContent('#link-banner-list'), /the output \(4096 x 1024 x 1024 values\) is 4294967296; at most 4194304 \(1024\.0x too many\); showing the forum case/);
  const s = await page.evaluate(() => window.qconvLens.current().shape);
  assert.deepEqual([s.in_channels, s.out_channels, s.height, s.width], [1, 1, 4, 16]);
  assert.deepEqual(errors, []);
});
