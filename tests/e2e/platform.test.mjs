// The engines as people run them, in the browser: pickers built from the
// engine's schema, the Platform picker (CPU and OS) changing fbgemm's kernel,
// the saturation map and the saturated pairs in words, PyTorch's default x86
// engine going to oneDNN, and the platform picker with the keyboard alone.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, openPage, screenshot, BASE_URL, ready, nextFrame, canvasState } from './browser.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

const differing = async (page) => Number(await page.getAttribute('#count', 'data-differing'));
const schemaOf = (page) => page.evaluate(() => new Promise((resolve) => {
  // The worker's own answer, independent of what the page built.
  const w = new Worker(new URL('www/worker.js', location.href), { type: 'module' });
  w.onmessage = (e) => { w.terminate(); resolve(e.data.value); };
  w.postMessage({ id: 1, type: 'schema' });
}));

async function openPreset(page, id) {
  await ready(page);
  await nextFrame(page, () => page.selectOption('#preset', id));
}

test('the computation pickers are built from the schema, grouped by runtime', async () => {
  const { page, errors } = await openPage(browser, BASE_URL);
  await ready(page);
  const schema = await schemaOf(page);
  assert.ok(schema.engines.length >= 6, JSON.stringify(schema.engines));
  for (const side of ['a', 'b']) {
    const groups = await page.$$eval(`#comp-${side} optgroup`, (gs) => gs.map((g) => ({
      label: g.label, options: [...g.querySelectorAll('option')].map((o) => [o.value, o.textContent]),
    })));
    const families = [...new Set(schema.engines.map((e) => e.family_title))];
    assert.deepEqual(groups.map((g) => g.label), families);
    for (const e of schema.engines) {
      const g = groups.find((x) => x.label === e.family_title);
      assert.ok(g.options.some(([v, t]) => v === e.id && t === e.title), `${e.id} in the ${e.family_title} group of #comp-${side}`);
    }
    // No option outside an optgroup.
    assert.equal(await page.$$eval(`#comp-${side} > option`, (o) => o.length), 0);
  }
  // Hand switches, shape bounds, input kinds, map kinds, presets and groups too.
  const hand = await page.$$eval('.comp[data-side=b] fieldset.hand [data-key]', (n) => n.map((x) => x.dataset.key));
  assert.deepEqual(hand, schema.hand.map((s) => s.key));
  for (const f of schema.shape) {
    const id = `#shape-${f.path.replace('.', '-')}`;
    assert.deepEqual(await page.$eval(id, (i) => [i.min, i.max, i.labels[0].textContent]), [String(f.min), String(f.max), f.label]);
  }
  assert.deepEqual(await page.$$eval('#input-kind option', (o) => o.map((x) => x.value)), schema.inputs.map((k) => k.id));
  assert.deepEqual(await page.$$eval('input[name=map]', (o) => o.map((x) => x.value)), schema.maps.map((k) => k.id));
  assert.deepEqual(await page.$$eval('#preset option', (o) => o.map((x) => x.value)), schema.presets.map((k) => k.id));
  assert.deepEqual(await page.$$eval('#hide-groups input', (o) => o.map((x) => x.value)), schema.groups.map((k) => k.id));
  assert.deepEqual(await page.$$eval('#platform option', (o) => o.map((x) => x.textContent)), schema.platforms.map((p) => p.title));
  // A new hand calculation gets each switch's default option.
  await nextFrame(page, () => page.selectOption('#comp-a', 'hand'));
  const a = await page.evaluate(() => window.qconvLens.current().a);
  for (const s of schema.hand) {
    const v = s.options[s.default].value;
    assert.equal(a[s.key], s.boolean ? v === 'true' : v, s.key);
  }
  assert.deepEqual(errors, [], errors.join('\n'));
  await page.close();
});

test('AVX2 saturation: the platform picker moves the pixels, the inspector names the pair', async () => {
  const { page, errors } = await openPage(browser, BASE_URL);
  await openPreset(page, 'avx2-saturation');
  assert.equal(await page.isEnabled('#platform'), true);
  assert.equal(await page.$eval('#platform', (s) => s.options[s.selectedIndex].textContent), 'AVX2 laptop or desktop');
  const avx2 = await canvasState(page);
  assert.ok(await differing(page) > 0, avx2.count);
  assert.match(await page.textContent('#kernel-note'), /^A: fbgemm .*AVX2.* \/ B: qnnpack/);
  // The preselected pixel: the first saturated pair in words.
  const pairs = await page.$$eval('#saturated-pairs-list li', (li) => li.map((x) => x.textContent));
  assert.equal(await page.isVisible('#saturated-pairs'), true);
  assert.match(pairs[0], /^211 · 71 \(input channel 0 at kernel \(0, 0\)\) \+ 171 · 107 \(input channel 1 at kernel \(0, 0\)\) = 33278, past int16's 32767: kept as 32767$/);
  assert.match(await page.textContent('#kernel-a'), /AVX2/);
  assert.match(await page.textContent('#kernel-b'), /qnnpack/);
  await screenshot(page, 'avx2-saturation');

  // The saturation map: selectable, with its legend and count.
  await nextFrame(page, () => page.check('input[name=map][value=saturation]'));
  const sat = Number(await page.getAttribute('#count', 'data-saturated'));
  assert.ok(sat > 0, await page.textContent('#count'));
  assert.match(await page.textContent('#count'), new RegExp(`${sat} pixels whose accumulator saturated`));
  const frame = await page.evaluate(() => window.qconvLens.currentFrame());
  assert.equal(await page.textContent('#legend .legend-title'), frame.legend_title);
  const swatches = await page.$$eval('#legend .swatches li', (li) => li.map((x) => x.textContent));
  for (const e of frame.legend) assert.ok(swatches.includes(e.label), `${e.label} in the legend`);
  await screenshot(page, 'avx2-saturation-map');
  await nextFrame(page, () => page.check('input[name=map][value=diff]'));
  assert.deepEqual(await canvasState(page), avx2);

  // An AVX512-VNNI server: exact accumulation, no differing pixel.
  const vnni = await page.$eval('#platform', (s) => [...s.options].find((o) => o.textContent === 'AVX512-VNNI Linux server').value);
  await nextFrame(page, () => page.selectOption('#platform', vnni));
  const server = await canvasState(page);
  assert.notEqual(server.hash, avx2.hash, 'the canvas pixels changed');
  assert.equal(await differing(page), 0, server.count);
  assert.deepEqual((await page.evaluate(() => window.qconvLens.current().platform)), { cpu: 'avx512_vnni', os: 'linux', emulated: false });
  assert.equal(await page.isVisible('#saturated-pairs'), false);
  // And back.
  const laptop = await page.$eval('#platform', (s) => [...s.options].find((o) => o.textContent === 'AVX2 laptop or desktop').value);
  await nextFrame(page, () => page.selectOption('#platform', laptop));
  assert.deepEqual(await canvasState(page), avx2);
  assert.deepEqual(errors, [], errors.join('\n'));
  await page.close();
});

test('ONNX Runtime on an AVX2 CPU: int16 pair saturation, labelled as modelled', async () => {
  const { page, errors } = await openPage(browser, BASE_URL);
  await openPreset(page, 'avx2-saturation');
  await nextFrame(page, () => page.selectOption('#comp-a', 'onnxruntime-qlinearconv'));
  await nextFrame(page, () => page.selectOption('#comp-b', 'onnx-reference'));
  assert.ok(await differing(page) > 0, await page.textContent('#count'));
  assert.match(await page.textContent('#kernel-a'), /MLAS, U8S8.*vpmaddubsw.*modelled, not verified on this CPU/);
  const codes = await page.$$eval('#causes li', (li) => li.map((x) => x.dataset.code));
  assert.equal(codes[0], 'int16_saturation', codes.join());
  assert.match(await page.textContent('#causes'), /modelled, not verified on this CPU/);
  // On an AVX512-VNNI server the same ORT conv is exact and says so.
  const vnni = await page.$eval('#platform', (s) => [...s.options].find((o) => o.textContent === 'AVX512-VNNI Linux server').value);
  await nextFrame(page, () => page.selectOption('#platform', vnni));
  assert.doesNotMatch(await page.textContent('#kernel-a'), /modelled/);
  assert.match(await page.textContent('#kernel-a'), /exact int32 accumulation \(VNNI\)/);
  assert.deepEqual(errors, [], errors.join('\n'));
  await page.close();
});

test('the hand calculation with the fixed-point switch shows the multiplier, shift and exact number', async () => {
  const { page, errors } = await openPage(browser, BASE_URL);
  await ready(page);
  await nextFrame(page, () => page.check('.comp[data-side=b] fieldset.hand input[data-key=fixed_point]'));
  assert.equal(await page.evaluate(() => window.qconvLens.current().b.fixed_point), true);
  const row = (key) => page.$eval(`#trace tr[data-key=${key}]`, (tr) => tr.textContent);
  assert.match(await row('multiplier'), /QuantizeMultiplier: \d+ · 2\^\(-?\d+ - 31\) = 0\.\d+ exactly/);
  assert.match(await row('shift'), /shift/);
  assert.match(await row('high_mul'), /half up/);
  assert.deepEqual(errors, [], errors.join('\n'));
  await page.close();
});

test('PyTorch default (x86) vs fbgemm at a tie: 128 pixels, A ran oneDNN', async () => {
  const { page, errors } = await openPage(browser, BASE_URL);
  await openPreset(page, 'x86-tie');
  assert.equal(await differing(page), 128, await page.textContent('#count'));
  // Engine-pair causes come from the lazily loaded diagnosis, summary included.
  const codes = await page.$$eval('#causes li', (li) => li.map((x) => x.dataset.code));
  assert.ok(codes.includes('zero_point_order'), codes.join());
  assert.match(await page.textContent('#inspector-summary'), /Why: A adds the output zero point before rounding/);
  assert.match(await page.textContent('#kernel-a'), /oneDNN/);
  assert.match(await page.textContent('#kernel-b'), /fbgemm/);
  assert.match(await page.textContent('#kernel-note'), /^A: oneDNN.* \/ B: fbgemm/);
  assert.equal(await page.isEnabled('#platform'), true);
  assert.equal(await page.$eval('#platform', (s) => s.options[s.selectedIndex].textContent), 'AVX512-VNNI Linux server');
  // A picker that does not depend on the CPU disables the platform, with a hint.
  await nextFrame(page, () => page.selectOption('#comp-a', 'qnnpack'));
  await nextFrame(page, () => page.selectOption('#comp-b', 'float'));
  assert.equal(await page.isDisabled('#platform'), true);
  assert.match(await page.textContent('#platform-hint'), /depend on the CPU/);
  assert.deepEqual(errors, [], errors.join('\n'));
  await page.close();
});

test('the platform picker is reachable and operable with the keyboard', async () => {
  const { page, errors } = await openPage(browser, BASE_URL);
  await openPreset(page, 'avx2-saturation');
  const before = await canvasState(page);
  await page.focus('#comp-b');
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'platform');
  await nextFrame(page, () => page.keyboard.press('Home'));
  assert.equal(await page.$eval('#platform', (s) => s.options[s.selectedIndex].textContent), 'AVX512-VNNI Linux server');
  assert.equal((await page.evaluate(() => window.qconvLens.current().platform)).cpu, 'avx512_vnni');
  assert.notEqual((await canvasState(page)).hash, before.hash);
  await nextFrame(page, () => page.keyboard.press('End'));
  assert.equal((await page.evaluate(() => window.qconvLens.current().platform)).cpu, 'avx2');
  assert.deepEqual(await canvasState(page), before);
  // Shift+Tab goes back to B, Tab onwards reaches Swap.
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'swap');
  assert.deepEqual(errors, [], errors.join('\n'));
  await page.close();
});
