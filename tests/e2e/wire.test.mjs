// www/wire.js: a scenario's big arrays cross to the worker once and are then
// referred to. Here without a browser (node's structuredClone stands for
// postMessage), then in the page: a layer whose weights change between two
// requests computes what a fresh page computes for the same scenario.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Outbox, Inbox } from '../../www/wire.js';
import { launch, openPage, BASE_URL, ready } from './browser.mjs';

const weights = (n, k) => Array.from({ length: n }, (_, i) => ((i * k) % 255) - 127);
const scenario = (w, extra = {}) => ({ shape: { in_channels: 64 }, input: { kind: 'random', seed: 1 }, weights: w, params: { output_scale: 0.05 }, ...extra });
/** What the worker gets: the packed scenario through a structured clone, then unpacked. */
const post = (outbox, inbox, s) => {
  const sent = structuredClone(outbox.pack(s));
  return { sent, got: inbox.unpack(structuredClone(sent)) };
};

test('the weights cross once; the same or equal weights after are a reference the worker fills in', () => {
  const out = new Outbox(), inbox = new Inbox();
  const w = weights(36864, 37);
  const first = post(out, inbox, scenario(w));
  assert.ok(Array.isArray(first.sent.weights), 'the first request carries the array');
  assert.deepEqual(first.got, scenario(w));
  const again = post(out, inbox, scenario(w, { params: { output_scale: 0.06 } }));
  assert.deepEqual(again.sent.weights, { $kept: 36864 });
  assert.deepEqual(again.got, scenario(w, { params: { output_scale: 0.06 } }));
  // A deep copy (another array, the same numbers) is not sent again either.
  assert.deepEqual(post(out, inbox, scenario(structuredClone(w))).sent.weights, { $kept: 36864 });
});

test('changed weights are sent and kept in place of the old ones', () => {
  const out = new Outbox(), inbox = new Inbox();
  const w = weights(36864, 37);
  post(out, inbox, scenario(w));
  const edited = w.slice();
  edited[36000] += 1;
  const changed = post(out, inbox, scenario(edited));
  assert.ok(Array.isArray(changed.sent.weights));
  assert.equal(changed.got.weights[36000], w[36000] + 1);
  const after = post(out, inbox, scenario(edited, { params: { output_scale: 0.07 } }));
  assert.deepEqual(after.sent.weights, { $kept: 36864 });
  assert.deepEqual(after.got.weights, edited);
  // Another length is another array.
  const longer = weights(36864 * 2, 11);
  assert.deepEqual(post(out, inbox, scenario(longer)).got.weights, longer);
});

test('typed input codes cross once too; small arrays always cross; the caller\'s scenario is untouched', () => {
  const out = new Outbox(), inbox = new Inbox();
  const codes = Uint8Array.from({ length: 3 * 224 * 224 }, (_, i) => (i * 7) % 256);
  const s = scenario(weights(500, 3), { input: { kind: 'codes', codes } });
  const frozen = structuredClone(s);
  post(out, inbox, s);
  const second = post(out, inbox, s);
  assert.deepEqual(second.sent.input.codes, { $kept: codes.length });
  assert.ok(Array.isArray(second.sent.weights), 'fewer than 1024 weights are sent every time');
  assert.deepEqual(second.got, frozen);
  assert.deepEqual(s, frozen);
  // The same numbers as a plain array are another kind of array: sent.
  assert.ok(Array.isArray(post(out, inbox, { ...s, input: { kind: 'codes', codes: Array.from(codes) } }).sent.input.codes));
});

test('a reference the worker cannot fill says so', () => {
  assert.throws(() => new Inbox().unpack({ weights: { $kept: 4096 } }), /lost the scenario's weights/);
});

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

/** ResNet's 56x56, 64 -> 64, 3x3 with weights `k`, output scale `sy`: the frame's codes of channel 5. */
async function codesOf(page, k, sy) {
  return page.evaluate(async ({ k, sy }) => {
    const L = window.qconvLens;
    const s = structuredClone(L.current());
    s.shape = { ...s.shape, in_channels: 64, out_channels: 64, height: 56, width: 56, kernel: [3, 3], padding: [1, 1], groups: 1, stride: [1, 1], dilation: [1, 1] };
    s.input = { kind: 'random', seed: 7 };
    s.weights = Array.from({ length: 64 * 64 * 9 }, (_, i) => ((i * k) % 255) - 127);
    s.params = { ...s.params, per_channel: false, weight_scales: [0.0037], weight_zero_points: [0], bias: null, output_scale: sy, output_zero_point: 0 };
    s.view = { ...s.view, channel: 5, pixel: [3, 3] };
    const r = await L.apply(s, { source: 'api' });
    if (!r.ok) return { error: r.error };
    const next = await L.apply({ ...L.current(), params: { ...L.current().params, output_scale: sy * 1.5 } }, { source: 'controls' });
    if (!next.ok) return { error: next.error };
    return { a: Array.from(next.frame.a), b: Array.from(next.frame.b) };
  }, { k, sy });
}

test('in the page: new weights reach the worker, and the next request (weights referred to) uses them', async () => {
  const { page, errors } = await openPage(browser, BASE_URL);
  await ready(page);
  const first = await codesOf(page, 37, 0.05);
  const second = await codesOf(page, 53, 0.05);
  assert.equal(first.error, undefined);
  assert.equal(second.error, undefined);
  assert.notDeepEqual(second.a, first.a, 'other weights give other codes');
  const fresh = await openPage(browser, BASE_URL);
  await ready(fresh.page);
  assert.deepEqual(await codesOf(fresh.page, 53, 0.05), second, 'the same as a page that never saw the first weights');
  assert.deepEqual(errors, []);
  assert.deepEqual(fresh.errors, []);
  await fresh.page.close();
  await page.close();
});
