// Several workers share a large run (issue 10, item 2): www/engine.js with
// three workers gives the frame one worker gives, pixel for pixel, whichever
// channel is shown and whether the run was split or kept; the speed-built
// engine (www/pkg/qconv_lens_fast) gives the same frames as the page's own.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, openPage, BASE_URL, ready } from './browser.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('a run split across workers draws the frames of one worker', async () => {
  const { page, errors } = await openPage(browser, BASE_URL);
  await ready(page);
  const r = await page.evaluate(async () => {
    const { Engine } = await import('./www/engine.js');
    const one = new Engine({ workers: 1 });
    const three = new Engine({ workers: 3 });
    const base = structuredClone(window.qconvLens.current());
    // The first frame of each engine starts its other workers and the fast engine.
    for (const e of [one, three]) {
      const r = await e.update(base);
      if (!r.ok) return { error: r.error };
      await Promise.all(e.workers.map((w) => e.request('fast', {}, w)));
    }
    // 128x128, 16 -> 12, 3x3: 28 M multiply-adds, three parts.
    const s = structuredClone(base);
    const [cin, cout] = [16, 12];
    s.shape = { ...s.shape, in_channels: cin, out_channels: cout, height: 128, width: 128, kernel: [3, 3], padding: [1, 1], groups: 1 };
    s.input = { kind: 'random', seed: 4 };
    s.weights = Array.from({ length: cout * cin * 9 }, (_, i) => ((i * 53) % 255) - 127);
    s.params = { ...s.params, per_channel: true, weight_scales: Array.from({ length: cout }, (_, c) => 0.003 + 0.0002 * c),
      weight_zero_points: new Array(cout).fill(0), bias: Array.from({ length: cout }, (_, c) => 0.02 * c), output_scale: 0.04, output_zero_point: 3 };
    s.view = { ...s.view, channel: 0, pixel: null, fresh: true };
    const plain = (f) => {
      const { ms, workers, rgba, a, b, ...rest } = f;
      return JSON.stringify({ ...rest, rgba: Array.from(rgba), a: Array.from(a ?? []), b: Array.from(b ?? []) });
    };
    const steps = [
      (x) => x, // a new scenario: opens on the channel where most differ
      (x) => { x.view = { ...x.view, fresh: false, channel: 11, pixel: [40, 7] }; }, // a channel in the last part: view only
      (x) => { x.view = { ...x.view, map: 'saturation' }; },
      (x) => { x.params.output_scale = 0.031; }, // requantized
      (x) => { x.platform = { ...x.platform, cpu: 'avx2' }; x.view = { ...x.view, channel: 5, map: 'diff' }; }, // saturating pairs
    ];
    const out = [];
    let cur = s;
    for (const step of steps) {
      const next = structuredClone(cur);
      step(next);
      const [a, b] = [await one.update(next), await three.update(next)];
      if (!a.ok || !b.ok) return { error: a.error ?? b.error };
      out.push({ same: plain(a.value) === plain(b.value), workers: [a.value.workers ?? 1, b.value.workers ?? 1],
        recomputed: [a.value.recomputed, b.value.recomputed], channel: b.value.view.channel, differing: b.value.differing });
      cur = next;
    }
    // A large scenario as an engine's first frame runs on worker 0 alone; the
    // next edit of it is split once the other workers have started.
    const fresh = new Engine({ workers: 3 });
    const first = await fresh.update(s);
    const edit = structuredClone(s);
    edit.params.output_scale = 0.031;
    const second = await fresh.update(edit);
    const opened = [first.value?.workers ?? 1, second.value?.workers ?? 1];
    for (const w of fresh.workers) w.terminate();
    // A bad scenario: the same message from both, and both keep working.
    const bad = structuredClone(cur);
    bad.params.output_scale = 0;
    const [ea, eb] = [await one.update(bad), await three.update(bad)];
    const again = await three.update(cur);
    for (const e of [one, three]) for (const w of e.workers) w.terminate();
    return { out, errors: [ea.error, eb.error], again: again.ok, opened };
  });
  assert.equal(r.error, undefined, r.error);
  for (const [i, o] of r.out.entries()) {
    assert.ok(o.same, `step ${i}: the frames differ`);
    assert.equal(o.workers[0], 1, `step ${i}: one worker`);
  }
  // Split in three every time (16 -> 12 takes fbgemm's im2col path whole
  // and in parts, also on the saturating AVX2 model).
  assert.deepEqual(r.out.map((o) => o.workers[1]), [3, 3, 3, 3, 3]);
  assert.deepEqual(r.out.map((o) => o.recomputed[1]), [true, false, false, true, true]);
  assert.equal(r.out[1].channel, 11);
  assert.ok(r.out[0].differing > 0);
  assert.equal(r.errors[0], r.errors[1]);
  assert.match(r.errors[1], /output scale/);
  assert.ok(r.again);
  assert.deepEqual(r.opened, [1, 3]);
  assert.deepEqual(errors, []);
});

test('the speed-built engine gives the page engine\'s frames', async () => {
  const { page, errors } = await openPage(browser, BASE_URL);
  await ready(page);
  const r = await page.evaluate(async () => {
    const lenses = [];
    for (const file of ['qconv_lens.js', 'qconv_lens_fast.js']) {
      const m = await import(`./www/pkg/${file}`);
      await m.default();
      lenses.push(new m.Lens());
    }
    const s = structuredClone(window.qconvLens.current());
    const [cin, cout] = [8, 6];
    s.shape = { ...s.shape, in_channels: cin, out_channels: cout, height: 48, width: 40, kernel: [3, 3], padding: [1, 1], groups: 1 };
    s.input = { kind: 'random', seed: 8 };
    s.weights = Array.from({ length: cout * cin * 9 }, (_, i) => ((i * 71) % 255) - 127);
    s.params = { ...s.params, per_channel: true, weight_scales: Array.from({ length: cout }, (_, c) => 0.004 + 0.0003 * c),
      weight_zero_points: new Array(cout).fill(0), bias: Array.from({ length: cout }, (_, c) => 0.03 * c), output_scale: 0.03, output_zero_point: 9 };
    s.view = { ...s.view, channel: 0, pixel: [5, 5], fresh: true };
    const plain = (f) => JSON.stringify({ ...f, rgba: Array.from(f.rgba), a: Array.from(f.a), b: Array.from(f.b) });
    const same = [];
    for (const cpu of ['avx512_vnni', 'avx2']) {
      for (const map of ['diff', 'tie', 'saturation']) {
        const x = { ...structuredClone(s), platform: { ...s.platform, cpu }, view: { ...s.view, map } };
        same.push(plain(lenses[0].update(structuredClone(x))) === plain(lenses[1].update(structuredClone(x))));
      }
    }
    // Per-tensor weights and bias: fbgemm's multiply-add plane (SIMD in the fast build only).
    for (const bias of [0.0317, 250, -3e-5]) {
      const x = structuredClone(s);
      x.params = { ...x.params, per_channel: false, weight_scales: [0.0041], weight_zero_points: [0], bias: new Array(cout).fill(bias) };
      same.push(plain(lenses[0].update(structuredClone(x))) === plain(lenses[1].update(structuredClone(x))));
    }
    return same;
  });
  assert.deepEqual(r, new Array(9).fill(true));
  assert.deepEqual(errors, []);
});
