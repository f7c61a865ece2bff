// Calibration as people run it (issue 12): a multi-channel 3x3 conv under
// PyTorch's default x86 qconfig, several batches, "Use these parameters" with
// the x86 engine, the calibration script, typed/pasted batches and argument errors.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, openPage, BASE_URL, ready, nextFrame, screenshot } from './browser.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('calibrate: a 3→4 channel 3×3 conv under get_default_qconfig("x86") on three batches, used with the x86 engine', async () => {
  const { page, errors } = await openPage(browser, BASE_URL);
  await ready(page);
  await nextFrame(page, () => page.selectOption('#preset', 'per-channel'));
  const before = await page.evaluate(() => window.qconvLens.current());
  assert.deepEqual([before.shape.in_channels, before.shape.out_channels, ...before.shape.kernel], [3, 4, 3, 3]);

  // The x86 engine; a named qconfig follows it, filled from the engine's table.
  await page.selectOption('#cal-engine', 'x86');
  await page.waitForFunction(() => document.querySelector('#cal-qconfig').value === 'x86');
  await page.selectOption('#cal-qconfig', 'qnnpack');
  await page.waitForFunction(() => document.querySelector('#wt-kind').value === 'min_max');
  assert.equal(await page.inputValue('#wt-qscheme'), 'per_tensor_symmetric');
  assert.equal(await page.isChecked('#act-reduce'), false);
  await page.selectOption('#cal-qconfig', 'x86');
  await page.waitForFunction(() => document.querySelector('#wt-kind').value === 'per_channel_min_max');
  assert.equal(await page.inputValue('#act-kind'), 'histogram');
  assert.equal(await page.isChecked('#act-reduce'), true);
  assert.equal(await page.inputValue('#wt-qscheme'), 'per_channel_symmetric');

  // The scenario's own conv: float weights from its codes; three random batches.
  await page.click('#cal-from-codes');
  const nw = (await page.inputValue('#cal-weights')).trim().split(/\s+/).length;
  assert.equal(nw, 4 * 3 * 9);
  await page.selectOption('#cal-data', 'random');
  await page.fill('#cal-count', '3');
  await page.click('#calibrate-run');
  await page.waitForSelector('#calibrate-result:not([hidden])');
  const res = await page.evaluate(() => window.qconvLens.calibrate.result);
  assert.equal(res.config.batches.length, 3);
  assert.equal(res.config.model.qconfig, 'x86');
  const conv = res.value.converted;
  assert.equal(conv.weight.scales.length, 4, 'per-channel weight scales');
  assert.ok(conv.weight.zero_points.every((z) => z === 0), 'symmetric weights');
  assert.equal(conv.input.qmax, 127, 'reduce_range: 7-bit activations');
  // Each channel's scale is its largest |weight| over 127.5, in float32.
  const w = res.config.model.weight;
  for (let c = 0; c < 4; c++) {
    const m = Math.max(...w.slice(c * 27, c * 27 + 27).map(Math.abs));
    assert.equal(conv.weight.scales[c], Math.fround(Math.fround(m) / 127.5), `channel ${c}`);
  }
  for (const part of ['input', 'output']) {
    assert.ok(await page.$(`.derivation[data-part="${part}"] svg.histogram rect.hist-bar`), part);
  }
  assert.match(await page.textContent('.derivation[data-part="weight"] .formula'), /channel 3: /);
  await screenshot(page, 'calibrate-x86');

  // Use these parameters: A is the x86 engine on the converted model, which computes.
  await nextFrame(page, () => page.click('#calibrate-use'));
  const s = await page.evaluate(() => window.qconvLens.current());
  assert.equal(s.a.kind, 'x86');
  assert.deepEqual(s.shape.kernel, [3, 3]);
  assert.deepEqual(s.params.weight_scales, conv.weight.scales);
  assert.equal(s.params.input_scale, conv.params.input_scale);
  assert.match(await page.textContent('#status'), /Computed/);
  assert.match(await page.textContent('#calibrate-use-msg'), /Applied/);

  // The calibration script asks PyTorch for the same qconfig and compares.
  await page.click('#export-details summary');
  await page.check('input[name="export-kind"][value="calibration"]');
  await page.waitForFunction(() => document.querySelector('#export-text').dataset.kind === 'calibration');
  const script = await page.inputValue('#export-text');
  assert.match(script, /torch\.backends\.quantized\.engine = "x86"/);
  assert.match(script, /get_default_qconfig\("x86"\)/);
  assert.match(script, /for batch in calibration:/);
  assert.equal((script.match(/^ {4}\[/gm) ?? []).length, 3, 'three batches in the script');
  assert.match(script, /qconv_lens = \{/);

  // Editing an observer makes the qconfig custom; a fused ReLU is a ConvReLU2d.
  await page.click('#wt-observer .more-args summary');
  await page.fill('#wt-qmin', '-8');
  await page.fill('#wt-qmax', '7');
  assert.equal(await page.inputValue('#cal-qconfig'), 'custom');
  await page.check('#cal-relu');
  await page.click('#calibrate-run');
  await page.waitForFunction(() => window.qconvLens.calibrate.result?.config.model.relu === true);
  const r2 = await page.evaluate(() => window.qconvLens.calibrate.result);
  assert.equal(r2.config.model.qconfig, null);
  assert.equal(r2.value.converted.weight.qmax, 7);
  assert.ok(r2.value.scenario.params.relu);
  assert.ok(r2.value.scenario.weights.every((q) => q >= -8 && q <= 7));

  // A bad argument names itself; the last result stays.
  await page.fill('#wt-qmin', '1.5');
  await page.click('#calibrate-run');
  await page.waitForFunction(() => document.querySelector('#calibrate-msg').dataset.kind === 'error');
  assert.match(await page.textContent('#calibrate-msg'), /quant_min must be a whole number/);
  assert.ok(await page.$('#calibrate-result:not([hidden])'));
  assert.deepEqual(errors, []);
});

test('calibrate: batches typed or pasted as tensor printouts, counted and checked against the shape', async () => {
  const { page, errors } = await openPage(browser, BASE_URL);
  await ready(page);
  // The forum scenario: 1x1x4x16 input, 64 values per batch.
  const tensor = (k) => `tensor([[[[${Array.from({ length: 64 }, (_, i) => ((i * k) % 97 / 97).toFixed(4)).join(', ')}]]]])`;
  await page.selectOption('#cal-data', 'floats');
  await page.fill('#cal-floats', `>>> print(x1)\n${tensor(3)}\n>>> print(x2)\n${tensor(5)}\n# third\n${tensor(7)}`);
  await page.click('#calibrate-run');
  await page.waitForSelector('#calibrate-result:not([hidden])');
  let res = await page.evaluate(() => window.qconvLens.calibrate.result);
  assert.equal(res.config.batches.length, 3);
  assert.equal(res.config.batches[1].floats[1], 0.0515);
  // Blank lines separate batches too; a short batch is named with the count it needs.
  await page.fill('#cal-floats', `${'0.5 '.repeat(64)}\n\n${'0.25 '.repeat(63)}`);
  await page.click('#calibrate-run');
  await page.waitForFunction(() => document.querySelector('#calibrate-msg').dataset.kind === 'error');
  assert.match(await page.textContent('#calibrate-msg'), /batch 2 has 63 values; the input 1×1×4×16 needs 64/);
  // No calibration at all: PyTorch's default qparams (scale 1, zero point 0).
  await page.selectOption('#cal-data', 'random');
  await page.fill('#cal-count', '0');
  await page.click('#calibrate-run');
  await page.waitForFunction(() => window.qconvLens.calibrate.result?.config.batches.length === 0);
  res = await page.evaluate(() => window.qconvLens.calibrate.result.value.converted.params);
  assert.deepEqual([res.input_scale, res.input_zero_point], [1, 0]);
  assert.deepEqual(errors, []);
});
