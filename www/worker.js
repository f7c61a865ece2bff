// The engine's worker (a module worker importing the same wasm-bindgen
// output as the page could): it owns the one `Lens`, so long recomputes never
// block the page. Protocol (every request has an `id`; every reply echoes it):
//   {id, type: 'schema'}              -> {id, ok, value: Schema}  (src/schema.rs: engines, hand switches,
//                                        platforms, shape fields, groups, inputs, maps, presets)
//   {id, type: 'landing'}             -> {id, ok, value: Scenario} (the forum preset, from the page's wasm)
//   {id, type: 'presets'}             -> {id, ok, value: [{id, title}]}   (these three from the link wasm)
//   {id, type: 'preset', preset}      -> {id, ok, value: Scenario}
//   {id, type: 'float32', value}      -> {id, ok, value: {decimal, bits, exact}}
//   {id, type: 'link', scenario}      -> {id, ok, value: 'v=3&…'}  (permalink fragment)
//   {id, type: 'conversions', scenario} -> {id, ok, value: [{field, channel, from, to, exact, rule, source}]}
//   (update: an explanation with causes_pending gets its engine causes from the link wasm's diagnose)
//   {id, type: 'unlink', text}        -> {id, ok, value: {scenario, version, notes}}
//   {id, type: 'fit', scenario, from} -> {id, ok, value: {scenario, notes: [{key, message}]}}
//                                        (Scenario::fit: the scenario reconciled to its new shape;
//                                        from: the shape before the edit, or null)
//   {id, type: 'update', scenario}    -> {id, ok, value: Frame}   (Frame: see src/render.rs,
//                                        plus rgba/a/b typed arrays, transferred; saturated_pairs_text:
//                                        the inspected pixel's saturated pairs in words; ms: time in the worker)
//   {id, type: 'part', scenario, part, parts} -> {id, ok, value: Frame | {part: {start, end,
//                                        differing_by_channel, max_abs_diff, recomputed} | null, ms}}
//                                        (one of `parts` workers sharing a run: src/session.rs update_part)
//   {id, type: 'show', view, counts, maxAbs, recomputed} -> {id, ok, value: Frame | null}
//                                        (the frame, from the worker holding the channel shown)
//   {id, type: 'fast'}                -> {id, ok, value: whether the speed-built engine loaded}
//   {id, type: 'qconfigs'}          -> {id, ok, value: [{name, activation, weight}]} (get_default_qconfig)
//   {id, type: 'calibrate', config}  -> {id, ok, value: Calibrated}  (src/flow.rs Calibration -> Calibrated)
//   {id, type: 'calibration-script', config} -> {id, ok, value: 'python source'}
//   {id, type: 'script', scenario}    -> {id, ok, value: 'python source'}  (Reproduce in PyTorch)
//   {id, type: 'runtime-script', scenario, runtime} -> {id, ok, value: 'python source'}
//                                        (Reproduce in ONNX Runtime / LiteRT; runtime: 'onnxruntime' | 'litert')
//   {id, type: 'paste', text, scenario} -> {id, ok, value: {paste, scenario, notes, check}}
//   {id, type: 'paste-check', text, scenario} -> {id, ok, value: OutputCheck | null}
//   {id, type: 'decode-file', file | link | text} -> {id, ok, value: {ok, scenario, version, notes} | {ok: false, errors}}
//   {id, type: 'encode-file', scenario} -> {id, ok, value: 'scenario file JSON'}
//   {id, type: 'snippet'}             -> {id, ok, value: 'python source'}   (these four: src/scenario_file.rs,
//   {id, type: 'picture', values, scale, zeroPoint} -> {id, ok, value: Uint8Array}   in the pytorch wasm)
//   any failure                       -> {id, ok: false, error: 'message'}
import init, { Lens } from './pkg/qconv_lens.js';
import { fileText } from './file-text.js';
import { Inbox } from './wire.js';

const ready = init().then(() => new Lens());
// The scenario's big arrays arrive once and are referred to after (www/wire.js).
const inbox = new Inbox();

// The same engine built for speed (opt-level 3, www/pkg/qconv_lens_fast*),
// loaded when the page asks ('fast', after its first frame): updates then
// run on it. Its Lens starts empty, so the first update after the switch
// computes in full. If it cannot load, the page's own engine goes on.
let fast = null;
let fastLens = null; // set once loaded: updates never wait for it
let active = null; // the Lens that computed the last update ('show' draws from it)
function loadFast() {
  fast ??= import('./pkg/qconv_lens_fast.js').then(async (m) => {
    await m.default();
    fastLens = new m.Lens();
    return fastLens;
  }).catch(() => null);
  return fast;
}

// Permalinks (the link codec and its deflate) are a wasm of their own, loaded
// the first time the address bar is read or written.
let linkCodec = null;
function links() {
  linkCodec ??= import('./pkg/qconv_lens_link.js').then(async (m) => {
    await m.default();
    new m.Links(); // installs the panic hook
    return m.Links;
  });
  return linkCodec;
}

// The PyTorch round trip (calibrate, paste, export, runtime scripts) is a second wasm, loaded
// the first time it is asked for: the page's own start stays small.
let tools = null;
function pytorch() {
  tools ??= import('./pkg/qconv_lens_pytorch.js').then(async (m) => {
    await m.default();
    new m.PyTorch(); // installs the panic hook
    return m.PyTorch;
  });
  return tools;
}

// Post a frame, its pixel buffers transferred. Two engines part at the
// inspected pixel: their causes come from the link wasm (kept out of the
// first load), then the summary's "Why".
async function sendFrame(id, frame, t0) {
  const ex = frame.inspect?.explanation;
  if (ex?.causes_pending) {
    // The frame is drawn even if that wasm cannot load; the summary says so.
    try {
      ex.causes.push(...(await links()).diagnose(ex.a, ex.b));
    } catch (err) {
      ex.summary += ` (The causes could not be computed: ${err?.message ?? err}.)`;
    }
    if (ex.causes.length) ex.summary += ` Why: ${ex.causes.map((c) => c.text).join('; ')}.`;
    delete ex.causes_pending;
  }
  frame.ms = performance.now() - t0;
  const transfer = [frame.rgba.buffer];
  if (frame.a) transfer.push(frame.a.buffer, frame.b.buffer);
  self.postMessage({ id, ok: true, value: frame }, transfer);
}

self.onmessage = async (event) => {
  const msg = event.data ?? {};
  const { id, type } = msg;
  try {
    // Before any await: the inbox follows the order the messages came in.
    if (msg.scenario) inbox.unpack(msg.scenario);
    const lens = await ready;
    switch (type) {
      case 'landing':
        self.postMessage({ id, ok: true, value: Lens.landing() });
        break;
      case 'presets':
        self.postMessage({ id, ok: true, value: (await links()).presets() });
        break;
      case 'preset':
        self.postMessage({ id, ok: true, value: (await links()).preset(String(msg.preset)) });
        break;
      case 'float32':
        self.postMessage({ id, ok: true, value: Lens.float32(Number(msg.value)) });
        break;
      case 'link':
        self.postMessage({ id, ok: true, value: (await links()).encode_link(msg.scenario) });
        break;
      case 'conversions':
        self.postMessage({ id, ok: true, value: (await links()).conversions(msg.scenario) });
        break;
      case 'unlink':
        self.postMessage({ id, ok: true, value: (await links()).decode_link(String(msg.text ?? '')) });
        break;
      case 'decode-file': {
        // A File or a file link is read only within Rust's bound (www/file-text.js).
        const L = await pytorch();
        const r = await fileText(msg, L);
        const value = r.ok ? L.decode_file(r.text) : { ok: false, errors: [{ key: '', message: r.error }] };
        self.postMessage({ id, ok: true, value });
        break;
      }
      case 'encode-file':
        self.postMessage({ id, ok: true, value: (await pytorch()).encode_file(msg.scenario) });
        break;
      case 'snippet':
        self.postMessage({ id, ok: true, value: (await pytorch()).snippet() });
        break;
      case 'picture':
        self.postMessage({ id, ok: true, value: (await pytorch()).picture_codes(msg.values, Number(msg.scale), Number(msg.zeroPoint)) });
        break;
      case 'schema':
        self.postMessage({ id, ok: true, value: Lens.schema() });
        break;
      case 'fit':
        self.postMessage({ id, ok: true, value: (await links()).fit(msg.scenario, msg.from ?? null) });
        break;
      case 'calibrate':
        self.postMessage({ id, ok: true, value: (await pytorch()).calibrate(msg.config) });
        break;
      case 'qconfigs':
        self.postMessage({ id, ok: true, value: (await pytorch()).qconfigs() });
        break;
      case 'calibration-script':
        self.postMessage({ id, ok: true, value: (await pytorch()).calibration_script(msg.config) });
        break;
      case 'script':
        self.postMessage({ id, ok: true, value: (await pytorch()).pytorch_script(msg.scenario) });
        break;
      case 'runtime-script':
        self.postMessage({ id, ok: true, value: (await pytorch()).runtime_script(msg.scenario, String(msg.runtime ?? '')) });
        break;
      case 'paste':
        self.postMessage({ id, ok: true, value: (await pytorch()).paste(String(msg.text ?? ''), msg.scenario) });
        break;
      case 'paste-check':
        self.postMessage({ id, ok: true, value: (await pytorch()).paste_check(String(msg.text ?? ''), msg.scenario) });
        break;
      case 'fast':
        self.postMessage({ id, ok: true, value: Boolean(await loadFast()) });
        break;
      case 'update': {
        const t0 = performance.now();
        active = fastLens ?? lens;
        await sendFrame(id, active.update(msg.scenario), t0);
        break;
      }
      case 'part': {
        // One of several workers sharing a run (www/engine.js): its channels'
        // counts, or the whole frame when the scenario runs on one worker.
        const t0 = performance.now();
        active = fastLens ?? lens;
        const r = active.update_part(msg.scenario, Number(msg.part), Number(msg.parts));
        if (r.whole) await sendFrame(id, r.whole, t0);
        else self.postMessage({ id, ok: true, value: { part: r.part ?? null, ms: performance.now() - t0 } });
        break;
      }
      case 'show': {
        const t0 = performance.now();
        const frame = (active ?? lens).show(msg.view, msg.counts, Number(msg.maxAbs), Boolean(msg.recomputed));
        if (frame) await sendFrame(id, frame, t0);
        else self.postMessage({ id, ok: true, value: null });
        break;
      }
      default:
        throw new Error(`unknown request ${JSON.stringify(type)}`);
    }
  } catch (err) {
    self.postMessage({ id, ok: false, error: String(err?.message ?? err) });
  }
};
