// "Reproduce in ONNX Runtime / LiteRT" on the page: the script choices follow
// A and B (enabled only for a runtime they belong to), the scripts come from
// the lazily loaded wasm, and a model the runtime cannot hold gets a reason
// instead of a script.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, openPage, ready, nextFrame, BASE_URL } from './browser.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

/** The landing scenario turned into one the runtime engines take. */
const runtimeScenario = (page, patch) => nextFrame(page, () => page.evaluate((patch) => {
  const s = structuredClone(window.qconvLens.current());
  Object.assign(s.params, { bias: null, bias_i32: [1000] }, patch.params);
  s.a = { kind: patch.a };
  s.b = { kind: patch.b };
  if (patch.shape) Object.assign(s.shape, patch.shape);
  return window.qconvLens.apply(s, { source: 'api' });
}, patch));

const radio = (kind) => `input[name="export-kind"][value="${kind}"]`;

async function scriptOf(page, kind) {
  await page.check(radio(kind));
  await page.waitForFunction((kind) => {
    const t = document.querySelector('#export-text');
    return t.dataset.kind === kind || document.querySelector('#export-msg').dataset.kind === 'error';
  }, kind);
  return page.inputValue('#export-text');
}

test('export: ONNX Runtime and LiteRT scripts for runtime engines', async () => {
  const { page, errors } = await openPage(browser, BASE_URL);
  await ready(page);
  await page.click('#export-details summary');
  // The forum case: PyTorch engines only, so only PyTorch scripts.
  for (const kind of ['onnxruntime', 'litert']) assert.equal(await page.isDisabled(radio(kind)), true, kind);

  // LiteRT reference vs XNNPACK: int8 activations.
  await runtimeScenario(page, {
    a: 'tflite-reference',
    b: 'tflite-xnnpack',
    params: { input_dtype: 'qint8', output_dtype: 'qint8', input_zero_point: -3, output_zero_point: -5 },
  });
  assert.equal(await page.isDisabled(radio('litert')), false);
  assert.equal(await page.isDisabled(radio('onnxruntime')), true);
  assert.equal(await page.isChecked(radio('litert')), true, "A's runtime is the default script");
  let script = await scriptOf(page, 'litert');
  assert.match(script, /schema_py_generated/);
  assert.match(script, /OpResolverType\.BUILTIN_REF/);
  assert.match(script, /OpResolverType\.AUTO/);
  assert.match(script, /"tflite-reference": \[/);
  assert.match(script, /"tflite-xnnpack": \[/);
  assert.match(script, /bias = \[1000\]/);
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export-download')]);
  assert.equal(download.suggestedFilename(), 'qconv_lens_litert.py');

  // A padding LiteRT cannot express: the reason, no script.
  await runtimeScenario(page, {
    a: 'tflite-reference',
    b: 'tflite-xnnpack',
    params: { input_dtype: 'qint8', output_dtype: 'qint8', input_zero_point: -3, output_zero_point: -5 },
    shape: { padding: [0, 1], padding_end: [0, 0] },
  });
  await page.waitForFunction(() => document.querySelector('#export-msg').dataset.kind === 'error');
  assert.match(await page.textContent('#export-msg'), /SAME or VALID/);
  assert.equal(await page.inputValue('#export-text'), '');

  // ONNX Runtime QLinearConv against fbgemm: the ONNX choice only.
  await runtimeScenario(page, {
    a: 'fbgemm',
    b: 'onnxruntime-qlinearconv',
    params: { input_dtype: 'quint8', output_dtype: 'quint8', input_zero_point: 0, output_zero_point: 0 },
    shape: { padding: [0, 0], padding_end: null },
  });
  assert.equal(await page.isDisabled(radio('onnxruntime')), false);
  assert.equal(await page.isDisabled(radio('litert')), true);
  assert.equal(await page.isChecked(radio('onnxruntime')), true, "the LiteRT choice went with the LiteRT engines: B's runtime");
  script = await scriptOf(page, 'onnxruntime');
  assert.match(script, /helper\.make_node\("QLinearConv"/);
  // PyTorch's script on request, kept while it applies.
  script = await scriptOf(page, 'direct');
  assert.match(script, /import torch/);
  await nextFrame(page, () => page.evaluate(() => {
    const s = structuredClone(window.qconvLens.current());
    s.params.output_scale *= 1.5;
    return window.qconvLens.apply(s, { source: 'api' });
  }));
  assert.equal(await page.isChecked(radio('direct')), true);
  script = await scriptOf(page, 'onnxruntime');
  assert.match(script, /helper\.make_node\("QLinearConv"/);
  assert.match(script, /"onnxruntime-qlinearconv": \[/);
  assert.doesNotMatch(script, /"fbgemm"/);
  assert.deepEqual(errors, []);
});
