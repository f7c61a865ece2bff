// Pictures as input beyond the generated PNGs of files.test.mjs: a JPEG (made
// by the browser's own encoder) becomes the input codes through the same rule
// (grey = Pillow's weights, code = round(grey/255 / scale) + zero point), and a
// picture larger than the input is resized: a uniform colour stays uniform.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, openPage, BASE_URL, ready } from './browser.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

/** Sets the forum case's input quantization so that code = grey + 3. */
async function unitScale(page) {
  const ok = await page.evaluate(async () => {
    const s = structuredClone(window.qconvLens.current());
    s.params.input_scale = 1 / 255;
    s.params.input_zero_point = 3;
    return (await window.qconvLens.apply(s, { source: 'test' })).ok;
  });
  assert.equal(ok, true);
}

async function openPicture(page, name, bytes, mimeType) {
  await page.evaluate(() => { document.querySelector('#files-msg').textContent = ''; });
  await page.setInputFiles('#picture-open', { name, mimeType, buffer: Buffer.from(bytes) });
  await page.waitForFunction(() => /^(The input is now|.* (was not|could not))/.test(document.querySelector('#files-msg').textContent));
  return page.textContent('#files-msg');
}

test('a JPEG becomes the input codes, pixel by pixel as the browser decodes it', async () => {
  const { page, errors } = await openPage(browser, BASE_URL);
  await ready(page);
  await unitScale(page);
  const { w, h } = await page.evaluate(() => {
    const s = window.qconvLens.current().shape;
    return { w: s.width, h: s.height };
  });
  // A JPEG of the input's own size (no crop, no resize), and the pixels the
  // browser decodes from it, both made in the page.
  const { jpeg, pixels } = await page.evaluate(async ({ w, h }) => {
    const c = new OffscreenCanvas(w, h);
    const ctx = c.getContext('2d');
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        ctx.fillStyle = `rgb(${(x * 37 + y * 11) % 256}, ${(x * 5 + y * 60 + 7) % 256}, ${(250 - x * 13 - y) & 255})`;
        ctx.fillRect(x, y, 1, 1);
      }
    }
    const blob = await c.convertToBlob({ type: 'image/jpeg', quality: 0.9 });
    const bmp = await createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
    const d = new OffscreenCanvas(w, h).getContext('2d');
    d.drawImage(bmp, 0, 0);
    return { jpeg: [...new Uint8Array(await blob.arrayBuffer())], pixels: [...d.getImageData(0, 0, w, h).data] };
  }, { w, h });
  assert.deepEqual(jpeg.slice(0, 3), [0xff, 0xd8, 0xff], 'the browser made a JPEG');
  assert.match(await openPicture(page, 'photo.jpg', jpeg, 'image/jpeg'), /^The input is now photo\.jpg/);
  const grey = (r, g, b) => (19595 * r + 38470 * g + 7471 * b + 32768) >> 16;
  const want = [];
  for (let i = 0; i < w * h; i++) want.push(Math.min(255, grey(pixels[4 * i], pixels[4 * i + 1], pixels[4 * i + 2]) + 3));
  const s = await page.evaluate(() => window.qconvLens.current());
  assert.equal(s.input.kind, 'codes');
  assert.deepEqual(s.input.codes, want);
  assert.deepEqual(errors, []);
});

test('a larger picture is resized to the input: a uniform colour stays uniform', async () => {
  const { page, errors } = await openPage(browser, BASE_URL);
  await ready(page);
  await unitScale(page);
  const { w, h } = await page.evaluate(() => {
    const s = window.qconvLens.current().shape;
    return { w: s.width, h: s.height };
  });
  // Four times the input in each direction, one colour: grey(90, 140, 200) = 129.
  const png = await page.evaluate(async ({ w, h }) => {
    const c = new OffscreenCanvas(4 * w, 4 * h);
    const ctx = c.getContext('2d');
    ctx.fillStyle = 'rgb(90, 140, 200)';
    ctx.fillRect(0, 0, 4 * w, 4 * h);
    return [...new Uint8Array(await (await c.convertToBlob({ type: 'image/png' })).arrayBuffer())];
  }, { w, h });
  assert.match(await openPicture(page, 'big.png', png, 'image/png'), /^The input is now big\.png/);
  assert.match(await page.textContent('#picture-how'), new RegExp(`resized to ${w}×${h}`));
  assert.doesNotMatch(await page.textContent('#picture-how'), /cropped/);
  const grey = (19595 * 90 + 38470 * 140 + 7471 * 200 + 32768) >> 16;
  const s = await page.evaluate(() => window.qconvLens.current());
  assert.deepEqual(s.input.codes, new Array(w * h).fill(grey + 3));
  assert.deepEqual(errors, []);
});
