// From PyTorch and back, in the browser: paste the forum post's printouts,
// calibrate the forum model like PyTorch (histogram plot, formulas, applied
// parameters compute), and export the scenario as a script (Copy, Download).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { FORUM } from './forum.mjs';
import { launch, openPage, screenshot, BASE_URL, ready, frames, nextFrame } from './browser.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});


/** Output codes of A and B at (row, col) of channel 0, and the input code there. */
const at = (page, row, col) => page.evaluate(([row, col]) => {
  const f = window.qconvLens.currentFrame();
  const i = row * f.cols + col;
  return { a: f.a[i], b: f.b[i], input: f.input_codes[i] };
}, [row, col]);

test('paste: the forum printouts fill the scenario, rounded values marked, 30 vs 31 at input code 24', async () => {
  const { page, errors } = await openPage(browser, BASE_URL);
  await ready(page);
  // Start from the forum preset (A = fbgemm, B = the hand calculation) with
  // another input and scales, so that what is shown comes from the paste.
  await nextFrame(page, () => page.evaluate(() => {
    const s = structuredClone(window.qconvLens.current());
    s.input = { kind: 'gradient' };
    s.params.input_scale = 0.01;
    s.params.weight_scales = [0.002];
    return window.qconvLens.apply(s, { source: 'api' });
  }));
  await page.fill('#paste-text', FORUM);
  await nextFrame(page, () => page.click('#paste-import'));
  await page.waitForSelector('#paste-result:not([hidden])');
  const s = await page.evaluate(() => window.qconvLens.current());
  assert.equal(s.shape.height, 4);
  assert.equal(s.shape.width, 16);
  assert.deepEqual(s.weights, [127]);
  assert.equal(s.params.input_scale, 0.0078);
  assert.deepEqual(s.params.weight_scales, [0.0038]);
  assert.equal(s.params.output_scale, 0.004018464591354132);
  assert.equal(s.input.kind, 'codes');
  // Rounded printouts are marked; exact ones are not.
  const fields = await page.$$eval('#paste-fields tbody tr', (trs) => Object.fromEntries(trs.map((tr) => [tr.dataset.field, tr.textContent])));
  for (const f of ['input_scale', 'weight_scale[0]', 'bias[0]']) assert.match(fields[f], /rounded/, f);
  assert.match(fields.output_scale, /exact/);
  assert.doesNotMatch(fields.output_scale, /rounded/);
  const found = await page.textContent('#paste-found');
  assert.match(found, /input codes 1x1x4x16/);
  assert.match(found, /output codes 1x1x4x16/);
  // With the printed (rounded) scales fbgemm does not reproduce the printed
  // output everywhere, and the diagnosis names the rounded input scale.
  const check = await page.textContent('#paste-check');
  assert.match(check, /differs from fbgemm on 2 of 64 values/, check);
  assert.match(check, /input scale printed as 0\.0078 /, check);
  // The forum's question: input code 24 -> fbgemm 30, the hand calculation 31.
  for (const [row, col] of [[2, 15], [3, 0]]) {
    const v = await at(page, row, col);
    assert.deepEqual(v, { a: 30, b: 31, input: 24 }, `(${row},${col})`);
  }
  // Every suggestion offered was checked by the engine: each reduces the
  // mismatch (2) when applied.
  const offered = await page.evaluate(async () => {
    const q = window.qconvLens;
    const r = await q.paste.engine.paste(q.paste.text, q.current());
    return r.value.paste.suggestions;
  });
  assert.ok(offered.length > 0);
  for (const sg of offered) {
    const c = await page.evaluate(async (sg) => {
      const q = window.qconvLens;
      const s = structuredClone(q.current());
      if (sg.field === 'input_scale') s.params.input_scale = sg.candidate;
      else if (sg.field === 'weight_scale[0]') s.params.weight_scales = [sg.candidate];
      else if (sg.field === 'bias[0]') s.params.bias = [Math.fround(sg.candidate)];
      else return null;
      return (await q.paste.engine.pasteCheck(q.paste.text, s)).value;
    }, sg);
    assert.ok(c && c.total - c.agree < 2, `${sg.field} = ${sg.candidate}: ${JSON.stringify(c)}`);
  }
  // The input-scale suggestion, clicked: applied, and the re-check agrees more.
  const sug = await page.textContent('#paste-suggestions');
  assert.match(sug, /input_scale = 0\.00778/, sug);
  await nextFrame(page, () => page.click('#paste-suggestions li[data-field="input_scale"] button'));
  const s2 = await page.evaluate(() => window.qconvLens.current());
  assert.equal(s2.params.input_scale, 0.00778);
  for (const [row, col] of [[2, 15], [3, 0]]) assert.equal((await at(page, row, col)).a, 30);
  await page.waitForFunction(() => /applied/.test(document.querySelector('#paste-suggestions li[data-field="input_scale"] .msg').textContent));
  const check2 = await page.textContent('#paste-check');
  assert.match(check2, /agrees with fbgemm on all 64 values/, check2);
  // With the exact scales PyTorch used (the forum preset), fbgemm gives 30 where the input is 24.
  await nextFrame(page, () => page.evaluate(() => {
    const s = structuredClone(window.qconvLens.current());
    s.params.input_scale = 0.007839367724955082;
    s.params.weight_scales = [0.003770669922232628];
    return window.qconvLens.apply(s, { source: 'api' });
  }));
  for (const [row, col] of [[2, 15], [3, 0]]) assert.deepEqual(await at(page, row, col), { a: 30, b: 31, input: 24 });
  const check3 = await page.evaluate(async () => {
    const r = await window.qconvLens.paste.engine.pasteCheck(window.qconvLens.paste.text, window.qconvLens.current());
    return r.value;
  });
  assert.equal(check3.agree, 64, JSON.stringify(check3));
  await screenshot(page, 'pytorch-paste');
  assert.deepEqual(errors, []);
});

test('paste: the forum printouts in a shuffled order, with prompts instead of comments, give the same scenario', async () => {
  const { page, errors } = await openPage(browser, BASE_URL);
  await ready(page);
  const importText = async (text) => {
    await page.fill('#paste-text', text);
    await nextFrame(page, () => page.click('#paste-import'));
    await page.waitForSelector('#paste-result:not([hidden])');
    return page.evaluate(() => {
      const s = window.qconvLens.current();
      return { shape: s.shape, params: s.params, input: s.input, weights: s.weights };
    });
  };
  const inOrder = await importText(FORUM);
  // Blocks: the model, then each '# label' with its printout.
  const parts = FORUM.split(/\n(?=# )/);
  const prompt = {
    '# input': ">>> activations[1]['input'][0].int_repr()",
    '# output': ">>> activations[1]['output'].int_repr()",
    '# weight': '>>> net.conv1.weight()',
    '# int repr': '>>> net.conv1.weight().int_repr()',
    '# bias': '>>> net.conv1.bias()',
  };
  const blocks = [`>>> print(net)\n${parts[0]}`, ...parts.slice(1).map((b) => {
    const [label, ...rest] = b.split('\n');
    return `${prompt[label]}\n${rest.join('\n')}`;
  })];
  assert.equal(blocks.length, 6);
  // bias, int repr, output, model, weight, input
  const shuffled = [5, 4, 2, 0, 3, 1].map((i) => blocks[i]).join('\n');
  // Start the second import from another scenario.
  await nextFrame(page, () => page.evaluate(() => {
    const s = structuredClone(window.qconvLens.current());
    s.input = { kind: 'gradient' };
    s.params.input_scale = 0.01;
    s.params.weight_scales = [0.002];
    return window.qconvLens.apply(s, { source: 'api' });
  }));
  const again = await importText(shuffled);
  assert.deepEqual(again, inOrder);
  const found = await page.textContent('#paste-found');
  assert.match(found, /output codes 1x1x4x16 \(uint8\) \(prompt "activations\[1\]\['output'\]\.int_repr\(\)"/, found);
  const check = await page.textContent('#paste-check');
  assert.match(check, /differs from fbgemm on 2 of 64 values/, check);
  assert.match(check, /input scale printed as 0\.0078 /, check);
  assert.deepEqual(errors, []);
});

test('paste: an error names the line and nothing is applied', async () => {
  const { page, errors } = await openPage(browser, BASE_URL);
  await ready(page);
  const before = await page.evaluate(() => JSON.stringify(window.qconvLens.current()));
  const n = await frames(page);
  await page.fill('#paste-text', FORUM.replace('[24, 25, 25, 26', '[24, 25, 25'));
  await page.click('#paste-import');
  await page.waitForFunction(() => document.querySelector('#paste-msg').textContent !== '');
  const msg = await page.textContent('#paste-msg');
  assert.match(msg, /^line \d+: /, msg);
  assert.equal(await page.getAttribute('#paste-text', 'aria-invalid'), 'true');
  assert.equal(await frames(page), n);
  assert.equal(await page.evaluate(() => JSON.stringify(window.qconvLens.current())), before);
  assert.deepEqual(errors, []);
});

test('calibrate: the forum model on random data gives a histogram, formulas and parameters that compute', async () => {
  const { page, errors } = await openPage(browser, BASE_URL);
  await ready(page);
  // The forum model's defaults: HistogramObserver(reduce_range) activations,
  // per-channel symmetric weights, one random calibration batch, ramp input.
  assert.equal(await page.inputValue('#act-kind'), 'histogram');
  assert.equal(await page.inputValue('#wt-kind'), 'per_channel_min_max');
  assert.equal(await page.inputValue('#cal-data'), 'random');
  await page.click('#calibrate-run');
  await page.waitForSelector('#calibrate-result:not([hidden])');
  // A histogram plot for the input and the output, with the chosen range and a text alternative.
  for (const part of ['input', 'output']) {
    const sec = `.derivation[data-part="${part}"]`;
    assert.ok(await page.$(`${sec} svg.histogram rect.hist-bar`), part);
    assert.equal(await page.$$eval(`${sec} svg.histogram line.hist-range`, (l) => l.length), 2);
    assert.match(await page.getAttribute(`${sec} svg.histogram`, 'role'), /img/);
    assert.match(await page.textContent(`${sec} figcaption`), /2048 bins .* kept bins \d+ to \d+: range \[/);
    assert.match(await page.textContent(`${sec} .formula`), /histogram search over 2048 bins/);
    assert.match(await page.textContent(`${sec} .formula`), /scale = /);
  }
  assert.ok(await page.$('.derivation[data-part="weight"] svg') === null);
  assert.match(await page.textContent('.derivation[data-part="weight"] .formula'), /channel 0: /);
  // The weight conversion, in float32 as convert does it: w * (1/scale) with
  // scale = max|w| / 127.5. For 0.4808 the product is 127.49999 (the
  // reciprocal rounds down), so it rounds to 127 without clamping.
  const row = await page.$$eval('#calibrate-weights tbody tr:first-child td', (tds) => tds.map((t) => t.textContent));
  assert.deepEqual(row, ['0', '0.4808', '127.49999', '127', '127']);
  const res = await page.evaluate(() => window.qconvLens.calibrate.result.value);
  assert.equal(res.converted.weight.scales[0], Math.fround(Math.fround(0.4808) / 127.5));
  await screenshot(page, 'pytorch-calibrate');
  // Use these parameters: the converted scenario computes, A = fbgemm.
  await nextFrame(page, () => page.click('#calibrate-use'));
  const s = await page.evaluate(() => window.qconvLens.current());
  assert.equal(s.a.kind, 'fbgemm');
  assert.equal(s.params.input_scale, res.converted.params.input_scale);
  assert.equal(s.params.output_scale, res.converted.params.output_scale);
  assert.deepEqual(s.weights, [127]);
  assert.match(await page.textContent('#status'), /Computed/);
  assert.match(await page.textContent('#count'), /\d/);
  // The export offers the calibration flow for this scenario.
  await page.click('#export-details summary');
  await page.check('input[name="export-kind"][value="calibration"]');
  await page.waitForFunction(() => document.querySelector('#export-text').dataset.kind === 'calibration');
  const script = await page.inputValue('#export-text');
  assert.match(script, /HistogramObserver/);
  assert.match(script, /prepare/);
  // A weight whose product lands above 127.5 (0.7: 127.50001) rounds to 128 and is clamped to 127.
  await page.fill('#cal-weights', '0.7');
  await page.click('#calibrate-run');
  await page.waitForFunction(() => document.querySelector('#calibrate-weights tbody td:nth-child(2)').textContent === '0.7');
  const row7 = await page.$$eval('#calibrate-weights tbody tr:first-child td', (tds) => tds.map((t) => t.textContent));
  assert.deepEqual(row7, ['0', '0.7', '127.50001', '128', '127 (clamped)']);
  // An invalid qconfig is an error beside the button; the last result stays.
  await page.selectOption('#act-kind', 'min_max');
  await page.selectOption('#act-qscheme', 'per_tensor_symmetric');
  await page.click('#calibrate-run');
  await page.waitForFunction(() => document.querySelector('#calibrate-msg').dataset.kind === 'error');
  assert.match(await page.textContent('#calibrate-msg'), /reduce range/);
  assert.ok(await page.$('.derivation[data-part="input"] svg.histogram'));
  assert.deepEqual(errors, []);
});

test('export: the forum preset as a script, copied and downloaded', async () => {
  const { page, errors } = await openPage(browser, BASE_URL);
  await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: new URL(BASE_URL).origin });
  await ready(page);
  await page.click('#export-details summary');
  await page.waitForFunction(() => document.querySelector('#export-text').value.length > 0);
  const script = await page.inputValue('#export-text');
  assert.match(script, /torch\.backends\.quantized\.engine = "fbgemm"/);
  assert.match(script, /w_codes = torch\.tensor\(\[127\], dtype=torch\.int8\)/);
  assert.match(script, /0\.007839367724955082/);
  assert.match(script, /PyTorch output codes:/);
  // The calibration flow is only offered for a calibrated scenario.
  assert.equal(await page.isDisabled('input[name="export-kind"][value="calibration"]'), true);
  assert.equal(await page.getAttribute('#export-text', 'readonly'), '');
  await page.click('#export-copy');
  await page.waitForFunction(() => document.querySelector('#export-msg').textContent !== '');
  assert.equal(await page.textContent('#export-msg'), 'Script copied.');
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), script);
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export-download')]);
  assert.equal(download.suggestedFilename(), 'qconv_lens_reproduce.py');
  const file = await download.path();
  assert.equal(await readFile(file, 'utf8'), script);
  // The script follows the state.
  await nextFrame(page, () => page.selectOption('#comp-a', 'qnnpack'));
  await page.waitForFunction(() => document.querySelector('#export-text').value.includes('"qnnpack"'));
  assert.deepEqual(errors, []);
});
