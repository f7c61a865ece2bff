// The layer the browser benchmarks time (scripts/bench-browser.mjs,
// bench-browser-ab.mjs, profile-browser.mjs): a 3x3 conv of `cin -> cout`
// channels at `side` x `side`, random input, per-tensor weights, applied on
// the page. Run in the page (`page.evaluate(applyLayer, {cin, cout, side})`):
// it must not refer to anything outside itself. Resolves null or the error.
// `platform`: fields of the scenario's platform to change (e.g. the CPU).
export async function applyLayer({ cin, cout, side, platform = {} }) {
  const L = window.qconvLens;
  const k = 3;
  const s = structuredClone(L.current());
  s.shape = { ...s.shape, in_channels: cin, out_channels: cout, height: side, width: side, kernel: [k, k], padding: [1, 1], groups: 1, stride: [1, 1], dilation: [1, 1] };
  s.input = { kind: 'random', seed: 1 };
  s.weights = Array.from({ length: cout * cin * k * k }, (_, i) => ((i * 37) % 255) - 127);
  s.params = { ...s.params, per_channel: false, weight_scales: [0.0037], weight_zero_points: [0], bias: new Array(cout).fill(0.01), output_scale: 0.05, output_zero_point: 0 };
  s.view = { ...s.view, channel: 0, pixel: [3, 3] };
  s.platform = { ...s.platform, ...platform };
  const r = await L.apply(s, { source: 'bench' });
  return r.ok ? null : r.error;
}
