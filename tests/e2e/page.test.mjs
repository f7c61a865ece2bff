// The explainer page end to end, in headless Chromium: the forum case, the
// inspector, keyboard use, invalid input, and a large scenario that must not
// freeze the page. Screenshots go to tests/e2e/artifacts/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, openPage, screenshot, BASE_URL, ready, frames, nextFrame, canvasState } from './browser.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

async function select(page, row, col) {
  await nextFrame(page, async () => {
    await page.evaluate(([row, col]) => {
      const f = window.qconvLens.currentFrame();
      const c = document.querySelector('#heatmap-canvas');
      const r = c.getBoundingClientRect();
      const x = r.left + ((col + 0.5) / f.cols) * r.width;
      const y = r.top + ((row + 0.5) / f.rows) * r.height;
      c.dispatchEvent(new MouseEvent('click', { clientX: x, clientY: y, bubbles: true }));
    }, [row, col]);
  });
}

test('the forum preset: 30 vs 31 where the input code is 24, blamed on the rounded scales', async () => {
  const { page, errors } = await openPage(browser, BASE_URL);
  await ready(page);
  assert.equal(await page.$eval('#preset', (s) => s.options[s.selectedIndex].textContent), 'PyTorch forum: 24 -> 30, not 31');
  for (const [row, col] of [[2, 15], [3, 0]]) {
    await select(page, row, col);
    const summary = await page.textContent('#inspector-summary');
    assert.match(summary, new RegExp(`row ${row}, col ${col}: A = 30, B = 31`), summary);
    assert.equal(await page.getAttribute('[data-group="inspector"]', 'data-pixel'), `0,${row},${col}`);
    const codes = await page.$$eval('#causes li', (lis) => lis.map((li) => [li.dataset.code, li.textContent]));
    assert.ok(codes.some(([c, t]) => c === 'printed_scale' && t.includes('output scale was shortened')), JSON.stringify(codes));
    // The trace shows float32 bits and highlights where the computations part.
    const parts = await page.textContent('#trace tr.parts');
    assert.match(parts, /they part here/);
    assert.match(await page.textContent('#trace'), /0x3c0070b1/);
    const taps = await page.textContent('#taps-summary');
    assert.match(taps, /1 tap, sum 3048/);
  }
  // The input at (2,15) and (3,0) is code 24: the 48th value of the ramp.
  const codes = await page.evaluate(() => window.qconvLens.currentFrame().input_codes);
  assert.equal(codes[2 * 16 + 15], 24);
  assert.equal(codes[3 * 16 + 0], 24);
  // The text alternative lists the differing pixels (built when opened).
  await page.click('#diff-table-wrap summary');
  await page.waitForSelector('#diff-table tbody tr'); // the toggle event comes in a later task
  const table = await page.$$eval('#diff-table tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
  assert.ok(table.some((r) => r.join(' ') === '2 15 30 31 −1'), JSON.stringify(table));
  assert.ok(table.some((r) => r.join(' ') === '3 0 30 31 −1'), JSON.stringify(table));
  assert.match(await page.textContent('#map-summary'), /of 64 output pixels differ/);
  // The taps table too.
  await page.click('#taps-wrap summary');
  await page.waitForSelector('#taps tbody tr');
  assert.deepEqual(await page.$$eval('#taps tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent))),
    [['0', '0', '0', '3, 0', '24', '127', '3048']]);
  await screenshot(page, 'forum');
  assert.deepEqual(errors, [], errors.join('\n'));
  await page.close();
});

test('a scale slider moved with the keyboard changes the canvas and the count', async () => {
  const { page, errors } = await openPage(browser, BASE_URL);
  await ready(page);
  const before = await canvasState(page);
  await page.focus('#output-scale-range');
  let after = before;
  for (let i = 0; i < 12 && after.count === before.count; i++) {
    await nextFrame(page, () => page.keyboard.press('ArrowRight'));
    after = await canvasState(page);
  }
  assert.notEqual(after.count, before.count, 'the count of differing pixels changed');
  assert.notEqual(after.hash, before.hash, 'the canvas pixels changed');
  const value = Number(await page.inputValue('#output-scale'));
  assert.ok(value > 0.004019, `the field follows the slider: ${value}`);
  assert.match(await page.textContent('#output-scale-f32'), /float32 [0-9.e-]+ · 0x[0-9a-f]{8}/);
  assert.deepEqual(errors, [], errors.join('\n'));
  await page.close();
});

test('arrow keys move the inspected pixel', async () => {
  const { page, errors } = await openPage(browser, BASE_URL);
  await ready(page);
  const pixel = () => page.getAttribute('[data-group="inspector"]', 'data-pixel');
  assert.equal(await pixel(), '0,2,15');
  await page.focus('#heatmap-canvas');
  await nextFrame(page, () => page.keyboard.press('ArrowLeft'));
  assert.equal(await pixel(), '0,2,14');
  await nextFrame(page, () => page.keyboard.press('ArrowDown'));
  assert.equal(await pixel(), '0,3,14');
  await nextFrame(page, () => page.keyboard.press('Home'));
  assert.equal(await pixel(), '0,3,0');
  assert.match(await page.textContent('#inspector-summary'), /row 3, col 0: A = 30, B = 31/);
  await nextFrame(page, () => page.keyboard.press('ArrowDown')); // stays inside
  assert.equal(await pixel(), '0,3,0');
  assert.deepEqual(errors, [], errors.join('\n'));
  await page.close();
});

test('invalid input shows a message beside the field and keeps the last result', async () => {
  const { page, errors } = await openPage(browser, BASE_URL);
  await ready(page);
  const before = await canvasState(page);
  const framesBefore = await frames(page);
  const msg = () => page.$eval('#output-scale', (i) => i.closest('.field').querySelector('.msg').textContent);
  for (const bad of ['0', 'abc', 'NaN', '-1', '1e-60']) {
    await page.fill('#output-scale', bad);
    await page.press('#output-scale', 'Tab');
    assert.notEqual(await msg(), '', `a message for ${JSON.stringify(bad)}`);
    assert.equal(await page.getAttribute('#output-scale', 'aria-invalid'), 'true');
  }
  assert.equal(await frames(page), framesBefore, 'no new frame from invalid values');
  assert.deepEqual(await canvasState(page), before);
  // A valid value clears the message.
  await nextFrame(page, async () => {
    await page.fill('#output-scale', '0.004');
    await page.press('#output-scale', 'Tab');
  });
  assert.equal(await msg(), '');
  // A shape the engine reconciles (Scenario::fit): a kernel larger than the
  // 4x16 input is set back to 1, with a note beside the field.
  const mid = await canvasState(page);
  await page.fill('#shape-kernel-0', '7');
  await page.press('#shape-kernel-0', 'Tab');
  await page.waitForFunction(() => document.querySelector('#shape-kernel-0').closest('.field').querySelector('.msg').textContent !== '');
  const kmsg = await page.$eval('#shape-kernel-0', (i) => i.closest('.field').querySelector('.msg').textContent);
  assert.match(kmsg, /kernel does not fit the padded input along height/);
  await page.waitForFunction(() => document.querySelector('#shape-kernel-0').value === '1');
  assert.equal(await page.getAttribute('#shape-kernel-0', 'aria-invalid'), null, 'a note is not an error');
  assert.deepEqual(await canvasState(page), mid, 'the same scenario, the same pixels');
  // Groups that do not divide the channels: 1 group, with a note; the kernel's note goes.
  await nextFrame(page, async () => {
    await page.fill('#shape-groups', '2');
    await page.press('#shape-groups', 'Tab');
  });
  const gmsg = await page.$eval('#shape-groups', (i) => i.closest('.field').querySelector('.msg').textContent);
  assert.match(gmsg, /groups do not divide/);
  assert.equal(await page.inputValue('#shape-groups'), '1');
  assert.equal(await page.$eval('#shape-kernel-0', (i) => i.closest('.field').querySelector('.msg').textContent), '', 'the earlier note is gone');
  await screenshot(page, 'invalid');
  assert.deepEqual(errors, [], errors.join('\n'));
  await page.close();
});

test('a 512x512, 3->16 scenario does not freeze the page and shows progress', async () => {
  const { page, errors } = await openPage(browser, BASE_URL);
  await ready(page);
  const result = await page.evaluate(async () => {
    const s = structuredClone(window.qconvLens.current());
    const cout = 16, cin = 3, k = 3;
    s.shape = { ...s.shape, in_channels: cin, out_channels: cout, height: 512, width: 512, kernel: [k, k], padding: [1, 1] };
    s.input = { kind: 'random', seed: 3 };
    s.weights = Array.from({ length: cout * cin * k * k }, (_, i) => ((i * 37) % 255) - 127);
    s.params = { ...s.params, per_channel: false, weight_scales: [0.0037], weight_zero_points: [0], bias: new Array(cout).fill(0.01), output_zero_point: 64 };
    s.view = { ...s.view, pixel: [100, 200], channel: 5 };
    // The main thread stays free while the worker computes: a timer set
    // right after the request fires before the result arrives (no timing
    // threshold: only the order of events).
    let timerFirst = null, sawProgress = false;
    const watch = setInterval(() => {
      if (!document.querySelector('#busy').hidden) sawProgress = true;
    }, 5);
    const t0 = performance.now();
    const pending = window.qconvLens.apply(s, { source: 'test' }).then((r) => { timerFirst ??= false; return r; });
    setTimeout(() => { timerFirst ??= true; }, 0);
    const r = await pending;
    const ms = performance.now() - t0;
    clearInterval(watch);
    return { ok: r.ok, error: r.error, ms, timerFirst, sawProgress, busyHidden: document.querySelector('#busy').hidden };
  });
  assert.ok(result.ok, result.error);
  assert.equal(result.timerFirst, true, 'the page handled a timer while the engine worked');
  // Progress appears after 100 ms of work; only a run clearly longer than
  // that must have shown it (the speed itself is a benchmark, not a test).
  if (result.ms > 150) assert.ok(result.sawProgress, `progress was shown (${result.ms.toFixed(0)} ms)`);
  else console.log(`512x512 took only ${result.ms.toFixed(0)} ms: progress not required`);
  assert.ok(result.busyHidden, 'progress hidden again');
  const state = await canvasState(page);
  assert.equal(state.width, 512);
  assert.equal(await page.getAttribute('[data-group="inspector"]', 'data-pixel'), '5,100,200');
  await screenshot(page, 'large');
  assert.deepEqual(errors, [], errors.join('\n'));
  console.log(`512x512 3->16: ${result.ms.toFixed(0)} ms, progress shown: ${result.sawProgress}`);
  await page.close();
});
