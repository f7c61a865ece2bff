// Scenario files and pictures in the browser: save then reopen gives the same
// link; a file opens through the picker and through a dropped file; bad files
// give their message in the banner and leave the scenario on screen as it
// was; a generated PNG becomes the input codes, quantized by the engine.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { deflateSync, deflateRawSync } from 'node:zlib';
import { launch, openPage, BASE_URL, ready, canvasState, nextFrame } from './browser.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

async function linkOf(page) {
  await page.evaluate(() => { document.querySelector('#copy-feedback').textContent = ''; });
  await page.click('#copy-link');
  await page.waitForFunction(() => document.querySelector('#copy-feedback').textContent !== '');
  return page.inputValue('#link-text');
}

async function save(page) {
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#file-save')]);
  assert.equal(download.suggestedFilename(), 'qconv-lens-scenario.json');
  return readFile(await download.path(), 'utf8');
}

/** Opens a file through the picker; resolves once the section has said something about it. */
async function pick(page, name, text, mimeType = 'application/json') {
  await page.evaluate(() => { document.querySelector('#files-msg').textContent = ''; });
  await page.setInputFiles('#file-open', { name, mimeType, buffer: Buffer.from(text) });
  await page.waitForFunction(() => /^(Opened|.* was not opened)/.test(document.querySelector('#files-msg').textContent));
  return page.textContent('#files-msg');
}

/** A drop event on the page carrying one file, as a browser makes it. */
async function drop(page, name, bytes, type) {
  await page.evaluate(() => { document.querySelector('#files-msg').textContent = ''; });
  await page.evaluate(({ name, bytes, type }) => {
    const dt = new DataTransfer();
    dt.items.add(new File([new Uint8Array(bytes)], name, { type }));
    document.body.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
    document.body.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  }, { name, bytes: [...bytes], type });
  await page.waitForFunction(() => /^(Opened|The input is now|.* (was not|could not))/.test(document.querySelector('#files-msg').textContent));
  return page.textContent('#files-msg');
}

test('save, then reopen by picker and by drop: the same scenario', async () => {
  const { page, errors } = await openPage(browser, BASE_URL);
  await ready(page);
  // Until the preset's frame is drawn, current() is still the landing scenario.
  await nextFrame(page, () => page.selectOption('#preset', 'ties'));
  const link = await linkOf(page);
  const text = await save(page);
  const saved = JSON.parse(text);
  assert.equal(saved.format, 'qconv-lens-scenario');
  assert.equal(saved.version, 1);
  await page.selectOption('#preset', 'forum');
  await page.waitForFunction((l) => document.querySelector('#link-text').value !== l, link);
  assert.notEqual(await linkOf(page), link);
  assert.match(await pick(page, 'ties.json', text), /^Opened ties\.json/);
  assert.equal(await linkOf(page), link);
  // A file's scenario is not the preset's: no preset named, no preset story.
  assert.equal(await page.inputValue('#preset'), '');
  assert.equal(await page.isVisible('#story-line'), false);
  assert.equal(JSON.stringify(await page.evaluate(() => window.qconvLens.current())), JSON.stringify({ ...saved.scenario }));
  // Saving again gives the same file.
  assert.equal(await save(page), text);
  await page.selectOption('#preset', 'forum');
  await page.waitForFunction((l) => document.querySelector('#link-text').value !== l, link);
  assert.match(await drop(page, 'dropped.json', Buffer.from(text), 'application/json'), /^Opened dropped\.json/);
  assert.equal(await linkOf(page), link);
  // The Python function that writes such files, from the same Rust constant as `qconv-lens snippet`.
  await page.click('#snippet-details summary');
  await page.waitForFunction(() => document.querySelector('#snippet-text').value !== '');
  assert.match(await page.inputValue('#snippet-text'), /^import base64, json, sys, zlib\n[\s\S]*def qconv_lens_scenario\(conv, x, path, quant=None\):[\s\S]*"format": "qconv-lens-scenario", "version": 1[\s\S]*"#f="/);
  assert.deepEqual(errors, []);
});

test('bad files: a message, and the scenario on screen stays', async () => {
  const { page, errors } = await openPage(browser, BASE_URL);
  await ready(page);
  const good = await save(page);
  const link = await linkOf(page);
  const hash = (await canvasState(page)).hash;
  const edit = (f) => { const v = JSON.parse(good); f(v); return JSON.stringify(v); };
  const BAD = [
    ['truncated', good.slice(0, good.length - 40), /cut short/],
    ['python script', '# from qconv-lens\nimport torch\nqconv_lens_scenario(m.conv, x, "a.json")\n', /looks like Python source/],
    ['NaN', good.replace('"input_scale":', '"input_scale":NaN,"x":'), /NaN or Infinity/],
    ['zero scale', edit((v) => { v.scenario.params.output_scale = 0; }), /output scale must be a positive finite number/],
    ['negative scale', edit((v) => { v.scenario.params.weight_scales = [-0.5]; }), /weight scale of channel 0 must be a positive finite number/],
    ['newer version', edit((v) => { v.version = 9; }), /version 9 is newer/],
    ['not ours', '{"hello": 1}', /not a qconv-lens scenario file/],
    ['wrong weights', edit((v) => { v.scenario.weights = [1, 2, 3]; }), /3 weights given, the shape needs 1/],
    ['oversized', edit((v) => { Object.assign(v.scenario.shape, { in_channels: 4096, out_channels: 4096, height: 1024, width: 1024 }); }),
      /the output \(4096 x 1024 x 1024 values\) is \d+; at most 4194304/],
  ];
  for (const [name, text, expect] of BAD) {
    const said = await pick(page, `${name}.json`, text);
    assert.match(said, /was not opened/, name);
    assert.equal(await page.isVisible('#link-banner'), true, name);
    assert.match(await page.textContent('#link-banner'), expect, name);
    assert.equal(await linkOf(page), link, `${name}: the scenario stays`);
    assert.equal((await canvasState(page)).hash, hash, `${name}: the heatmap stays`);
  }
  // Larger than the bound: refused from its size, before it is read.
  await page.evaluate(() => {
    document.querySelector('#files-msg').textContent = '';
    const dt = new DataTransfer();
    dt.items.add(new File([new Uint8Array(49 << 20)], 'huge.json', { type: 'application/json' }));
    document.body.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  });
  await page.waitForFunction(() => /was not opened/.test(document.querySelector('#files-msg').textContent));
  assert.match(await page.textContent('#link-banner'), /the file is 51380224 bytes; at most 50331648/);
  assert.equal(await linkOf(page), link);
  // Still working: a good file opens and clears the banner.
  assert.match(await pick(page, 'good.json', good), /^Opened/);
  assert.equal(await page.isVisible('#link-banner'), false);
  assert.deepEqual(errors, []);
});

// ------------------------------------------------------------------ file links

/** `#f=` and the file: raw DEFLATE, base64url without padding (as the snippet makes it). */
const fileLink = (bytes) => `#f=${deflateRawSync(Buffer.from(bytes), { level: 9 }).toString('base64url')}`;

/** Sets the address's fragment; resolves once the file section has said something about it. */
async function goTo(page, hash) {
  await page.evaluate(() => { document.querySelector('#files-msg').textContent = ''; });
  await page.evaluate((h) => { location.hash = h; }, hash);
  await page.waitForFunction(() => /^(Opened|.* was not opened)/.test(document.querySelector('#files-msg').textContent));
  return page.textContent('#files-msg');
}

test('a file link (#f=) opens as its file would, then the address shows the usual link', async () => {
  const { page, errors } = await openPage(browser, BASE_URL);
  await ready(page);
  // Until the preset's frame is drawn, current() is still the landing scenario.
  await nextFrame(page, () => page.selectOption('#preset', 'ties'));
  const ties = await save(page);
  const tiesLink = await linkOf(page);
  await page.selectOption('#preset', 'forum');
  await page.waitForFunction((l) => document.querySelector('#link-text').value !== l, tiesLink);
  const forum = await save(page);
  const forumLink = await linkOf(page);
  await page.close();

  // At start: the file link is read, opened, and replaced by the canonical link.
  const { page: p2, errors: errors2 } = await openPage(browser, `${BASE_URL}${fileLink(ties)}`);
  await ready(p2);
  await p2.waitForFunction(() => /^Opened the file link/.test(document.querySelector('#files-msg').textContent));
  assert.match(await p2.textContent('#files-msg'), /^Opened the file link \(scenario file version 1\)/);
  await p2.waitForFunction((h) => location.hash === h, new URL(tiesLink).hash);
  assert.equal(JSON.stringify(await p2.evaluate(() => window.qconvLens.current())), JSON.stringify(JSON.parse(ties).scenario));
  assert.equal(await linkOf(p2), tiesLink);
  // An edited address (hashchange) opens another file link the same way.
  assert.match(await goTo(p2, fileLink(forum)), /^Opened the file link/);
  await p2.waitForFunction((h) => location.hash === h, new URL(forumLink).hash);
  assert.equal(await linkOf(p2), forumLink);
  assert.equal(await p2.isVisible('#link-banner'), false);
  assert.deepEqual(errors, []);
  assert.deepEqual(errors2, []);
});

test('bad file links: a message in the banner, and the page keeps working', async () => {
  const good = JSON.parse((await readFile(new URL('../fixtures/files/v1-per-channel.json', import.meta.url), 'utf8')));
  const edited = (f) => { const v = structuredClone(good); f(v); return JSON.stringify(v); };
  const BAD = [
    ['not base64url', '#f=ab%cd', /the f= link is not base64url/],
    ['not deflate', '#f=aGVsbG8', /the f= link is not raw DEFLATE data/],
    ['cut short', fileLink(JSON.stringify(good)).slice(0, 200), /the f= link is not raw DEFLATE data/],
    ['not UTF-8', fileLink([0xff, 0xfe, 0x7b]), /not UTF-8 text/],
    ['bad JSON', fileLink('{"format": "qconv-lens-scenario", '), /cut short|JSON/],
    ['newer version', fileLink(edited((v) => { v.version = 9; })), /version 9 is newer/],
    ['zero scale', fileLink(edited((v) => { v.scenario.params.output_scale = 0; })), /output scale must be a positive finite number/],
    // 49 MiB of spaces deflate to about 50 KB: inflating stops at the file bound.
    ['deflate bomb', fileLink(Buffer.alloc(49 << 20, 32)), /the f= link inflates to more than 50331648 bytes/],
  ];
  // At start: the message, and the landing case instead.
  const { page, errors } = await openPage(browser, `${BASE_URL}#f=aGVsbG8`);
  await ready(page);
  await page.waitForFunction(() => !document.querySelector('#link-banner').hidden);
  assert.match(await page.textContent('#link-banner'), /the f= link is not raw DEFLATE data/);
  assert.ok(await page.evaluate(() => window.qconvLens.current()?.params));
  const link = await linkOf(page);
  const hash = (await canvasState(page)).hash;
  // Later (an edited address): the message, and the scenario on screen stays.
  for (const [name, fragment, expect] of BAD) {
    assert.match(await goTo(page, fragment), /^the file link was not opened/, name);
    assert.equal(await page.isVisible('#link-banner'), true, name);
    assert.match(await page.textContent('#link-banner'), expect, name);
    assert.equal(await linkOf(page), link, `${name}: the scenario stays`);
    assert.equal((await canvasState(page)).hash, hash, `${name}: the heatmap stays`);
  }
  // Still working: a good file link opens and clears the banner.
  assert.match(await goTo(page, fileLink(JSON.stringify(good))), /^Opened the file link/);
  assert.equal(await page.isVisible('#link-banner'), false);
  assert.deepEqual(errors, []);
});

// ------------------------------------------------------------------ pictures

const CRC = new Int32Array(256).map((_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c;
});
function crc32(buf) {
  let c = -1;
  for (const b of buf) c = CRC[(c ^ b) & 255] ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}
function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}
/** An 8-bit RGB PNG of width x height from rgb(x, y) -> [r, g, b]. */
function png(width, height, rgb) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  const raw = [];
  for (let y = 0; y < height; y++) {
    raw.push(0); // filter: none
    for (let x = 0; x < width; x++) raw.push(...rgb(x, y));
  }
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.from(raw))), chunk('IEND', Buffer.alloc(0))]);
}

const colour = (x, y) => [(x * 37 + y * 11) % 256, (x * 5 + y * 60 + 7) % 256, (250 - x * 13 - y) & 255];

test('a PNG becomes the input codes: cropped, channels by rule, quantized by the engine', async () => {
  const { page, errors } = await openPage(browser, BASE_URL);
  await ready(page);
  // Forum case (16 x 4, one channel) with input scale 1/255 and zero point 3: code = pixel + 3.
  const r = await page.evaluate(async () => {
    const s = structuredClone(window.qconvLens.current());
    s.params.input_scale = 1 / 255;
    s.params.input_zero_point = 3;
    return window.qconvLens.apply(s, { source: 'test' }).then((a) => a.ok);
  });
  assert.equal(r, true);
  // 32 x 4: twice as wide as the input, so its centre 16 x 4 is kept at 1:1.
  await page.evaluate(() => { document.querySelector('#files-msg').textContent = ''; });
  await page.setInputFiles('#picture-open', { name: 'wide.png', mimeType: 'image/png', buffer: png(32, 4, colour) });
  await page.waitForFunction(() => /^The input is now wide\.png/.test(document.querySelector('#files-msg').textContent));
  const grey = ([r, g, b]) => (19595 * r + 38470 * g + 7471 * b + 32768) >> 16;
  const want = [];
  for (let y = 0; y < 4; y++) for (let x = 0; x < 16; x++) want.push(Math.min(255, grey(colour(x + 8, y)) + 3));
  let s = await page.evaluate(() => window.qconvLens.current());
  assert.equal(s.input.kind, 'codes');
  assert.deepEqual(s.input.codes, want);
  assert.match(await page.textContent('#picture-how'), /cropped to 16×4 at \(8, 0\)/);
  assert.equal(await page.locator('#picture-values tbody tr').count(), 4);
  // The preset's story no longer holds: no preset named.
  assert.equal(await page.inputValue('#preset'), '');
  assert.equal(await page.isVisible('#story-line'), false);
  // The link keeps the codes: reopening it gives the same input.
  const link = await linkOf(page);
  const { page: p2 } = await openPage(browser, link);
  await ready(p2);
  assert.deepEqual((await p2.evaluate(() => window.qconvLens.current())).input.codes, want);
  await p2.close();
  // Three channels, dropped: R, G, B planes.
  await page.evaluate(async () => {
    const s = structuredClone(window.qconvLens.current());
    s.shape.in_channels = 3;
    s.weights = [100, -20, 7];
    s.input = { kind: 'ramp' };
    const a = await window.qconvLens.apply(s, { source: 'test' });
    if (!a.ok) throw new Error(a.error);
  });
  assert.match(await drop(page, 'same.png', png(16, 4, colour), 'image/png'), /^The input is now same\.png/);
  s = await page.evaluate(() => window.qconvLens.current());
  const rgb = [];
  for (let c = 0; c < 3; c++) for (let y = 0; y < 4; y++) for (let x = 0; x < 16; x++) rgb.push(Math.min(255, colour(x, y)[c] + 3));
  assert.deepEqual(s.input.codes, rgb);
  // Not a picture: said, and the input stays.
  assert.match(await drop(page, 'broken.png', Buffer.from('not a png'), 'image/png'), /could not be read as a picture/);
  assert.deepEqual((await page.evaluate(() => window.qconvLens.current())).input.codes, rgb);
  assert.deepEqual(errors, []);
});
