// The page: one state (the Scenario on screen, with its view), one function
// that applies a new one (`apply`), and the parts of the screen, each in its
// own module. The engine runs in a module worker (www/worker.js). Pickers,
// labels, bounds, control groups and presets come from the engine's schema
// (src/schema.rs), asked for once at start.
//
// Hook for permalinks and other callers: `import { apply, current, onApplied }
// from './main.js'` (or `window.qconvLens`). `apply(scenario, {source})`
// computes, and on success shows it and notifies `onApplied` listeners with
// (scenario, frame, {source}); on failure the last valid result stays on
// screen and the returned promise resolves to {ok: false, error}. The page
// keeps the scenario's weights and typed codes arrays as given: a caller
// must not write into them afterwards.
import { Engine } from './engine.js';
import { Controls, draftOf } from './controls.js';
import { Heatmap } from './heatmap.js';
import { Inspector } from './inspector.js';
import { el } from './dom.js';
import { Permalink } from './link.js';
import { Calibrate } from './calibrate.js';
import { Story } from './story.js';
import { Paste } from './paste.js';
import { Export } from './export.js';
import { Files } from './files.js';

const $ = (sel) => document.querySelector(sel);
let groups = []; // hideable control groups, from the schema
// Groups are hidden only for a state opened from a link (a classroom link);
// whoever edits the hide list keeps every control.
let hiding = false;

let scenario = null; // the scenario on screen (the engine accepted it), view included
let frame = null;
const listeners = new Set();
const timing = { navigationToFirstHeatmap: null, frames: 0 };

// Progress of work that takes longer than 100 ms: its stage, the time so far,
// and a Cancel. While the controls show an older scenario than the one being
// opened (a link, a preset), they are marked stale and inert.
const busy = {
  started: 0,
  tick: 0,
  show(started, { text = 'computing', stale = false } = {}) {
    this.started = started;
    $('#busy').hidden = false;
    $('#busy-stage').textContent = `${text}…`;
    markStale(stale);
    cancelAnimationFrame(this.tick);
    // Written only when the tenth of a second changes: each write costs the
    // page a layout and paint, which a reply arriving meanwhile waits for.
    const time = $('#busy-time');
    const step = () => {
      const shown = `${((performance.now() - this.started) / 1000).toFixed(1)} s`;
      if (time.textContent !== shown) time.textContent = shown;
      this.tick = requestAnimationFrame(step);
    };
    step();
  },
  hide() {
    cancelAnimationFrame(this.tick);
    $('#busy').hidden = true;
    markStale(false);
  },
};

function markStale(on) {
  const form = $('#controls');
  form.inert = on;
  form.classList.toggle('stale', on);
  if (on) form.setAttribute('aria-busy', 'true');
  else form.removeAttribute('aria-busy');
}

const engine = new Engine({ onBusy: (t, stage) => busy.show(t, stage), onIdle: () => busy.hide() });

/** Cancel: stop the work; the scenario on screen stays, and its controls. */
function cancel() {
  engine.cancel();
  busy.hide();
  if (scenario) {
    controls.sync(scenario, frame, 'cancel');
    permalink.follow(scenario, frame, { source: 'link' });
  }
  status(scenario ? 'Cancelled: showing the scenario before.' : 'Cancelled.');
}
$('#busy-cancel').addEventListener('click', cancel);

/** Plain data equal, element by element (no strings built: weights may be millions). */
function same(a, b) {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) if (!same(a[k], b[k])) return false;
  return true;
}

/** What computing `next` after `prev` does: accumulate (and how much), or only requantize. */
function stageOf(next, prev) {
  const s = next.shape;
  const keep = prev && same(prev.shape, s) && same(prev.input, next.input) && same(prev.weights, next.weights)
    && prev.params.input_zero_point === next.params.input_zero_point
    && same(prev.params.weight_zero_points, next.params.weight_zero_points);
  if (keep) return 'requantizing';
  return `accumulating ${s.in_channels} \u2192 ${s.out_channels} channels, ${s.kernel[0]}\u00d7${s.kernel[1]}, at ${s.height}\u00d7${s.width}`;
}

function status(text, kind = '') {
  const s = $('#status');
  s.textContent = text;
  s.dataset.kind = kind;
  // Timings are not announced; errors are.
  if (kind === 'error') $('#live-summary').textContent = text;
}

/**
 * The one polite summary a screen reader hears per change: what differs and,
 * at the selected pixel, what A and B give. Said only when it changes.
 */
function announce(f) {
  const x = f.inspect?.explanation;
  const pixel = x ? ` Row ${x.row}, col ${x.col}: A gives ${x.out_a}, B gives ${x.out_b}.` : '';
  const text = `${f.summary}${pixel}`;
  const live = $('#live-summary');
  if (live.textContent !== text) live.textContent = text;
}

/** Hide the control groups named in view.hide. */
// Across runtimes: the list of what the export path changed comes from the
// permalink wasm (the first-load wasm converts without listing).
async function showConversions(shown, sc) {
  if (!shown.converted_side) {
    inspector.conversions(shown, []);
    return;
  }
  const reply = await engine.conversions(sc);
  if (frame !== shown) return; // a newer frame owns the inspector
  inspector.conversions(shown, reply.ok ? reply.value : [], reply.ok ? null : reply.error);
}

function applyHide(hide = []) {
  if (!hiding) hide = [];
  for (const { id } of groups) {
    for (const node of document.querySelectorAll(`[data-group="${id}"]`)) node.hidden = hide.includes(id);
  }
}

/**
 * Apply a new scenario: the one function every change goes through.
 * `source`: who asks ('controls', 'heatmap', 'preset', 'link', ...); `field`:
 * the control that changed (engine errors are shown beside it).
 */
export async function apply(next, { source = 'api', field = null } = {}) {
  const built = await schema;
  if (!built.ok) return built;
  // A link or file that selects no pixel opens where most pixels differ
  // (View::fresh, src/session.rs); one that names its pixel keeps its view.
  if ((source === 'link' || source === 'file') && next?.view && !next.view.pixel) next = { ...next, view: { ...next.view, fresh: true } };
  const t0 = performance.now();
  // The controls show `next` only when they asked for it.
  const stale = source !== 'controls' && source !== 'heatmap';
  const prev = scenario;
  const reply = await engine.update(next, { get text() { return stageOf(next, prev); }, stale });
  const t1 = performance.now();
  if (reply.superseded) return { ok: false, superseded: true };
  if (reply.cancelled) return { ok: false, cancelled: true, error: reply.error };
  if (!reply.ok) {
    const where = controls.showError(field, reply.error);
    if (!where) status(reply.error, 'error');
    else status('Showing the last valid result.', 'error');
    return { ok: false, error: reply.error };
  }
  frame = reply.value;
  // The heatmap's pixels first, then its text, then the rest of the page:
  // syncing the controls of a many-channel layer takes longer.
  heatmap.draw(frame);
  const tMap = performance.now();
  // Its own copy, sharing the big arrays (weights, typed codes), which no
  // one writes into: a deep copy of 2.4 M weights cost ~0.4 s per frame.
  scenario = { ...draftOf(next), view: frame.view };
  heatmap.describe(frame);
  controls.sync(scenario, frame, source);
  inspector.show(frame);
  showConversions(frame, scenario);
  if (source === 'link') hiding = scenario.view.hide.length > 0;
  if (source === 'classroom') hiding = false;
  applyHide(scenario.view.hide);
  const t2 = performance.now();
  timing.last = { total: t2 - t0, heatmap: tMap - t0, worker: frame.ms, main: t2 - t1 };
  status(`${frame.recomputed ? 'Computed' : 'Redrawn'} in ${frame.ms.toFixed(1)} ms.`);
  announce(frame);
  timing.frames += 1;
  if (timing.navigationToFirstHeatmap === null) {
    timing.navigationToFirstHeatmap = performance.now();
    document.documentElement.dataset.ready = 'true';
  }
  for (const fn of listeners) fn(scenario, frame, { source, field });
  return { ok: true, frame };
}

export const current = () => scenario;
export const currentFrame = () => frame;
export function onApplied(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

const setView = (patch, source) => apply({ ...scenario, view: { ...scenario.view, ...patch } }, { source });

const controls = new Controls($('#controls'), {
  onChange: (draft, { field }) => apply(draft, { source: 'controls', field }),
  fit: (scenario, from) => engine.fit(scenario, from),
});
const heatmap = new Heatmap($('[data-group="heatmap"]'), {
  onSelect: (row, col) => setView({ pixel: [row, col] }, 'heatmap'),
  onView: (patch) => setView(patch, 'heatmap'),
});
const inspector = new Inspector($('[data-group="inspector"]'));

async function loadPreset(id, source = 'preset') {
  // The landing preset comes from the page's own wasm (no second download before the first heatmap).
  const r = source === 'start' ? await engine.landing() : await engine.preset(id);
  if (!r.ok) { status(r.error, 'error'); return r; }
  story.id = id;
  return apply(r.value, { source });
}

async function start() {
  const r = await schema;
  if (!r.ok) { status(r.error, 'error'); return; }
  const presets = r.value.presets;
  const sel = $('#preset');
  sel.addEventListener('change', () => loadPreset(sel.value));
  // The address bar's link, if any; otherwise the landing preset.
  const linked = await permalink.initial();
  if (linked) {
    const r = await apply(linked, { source: 'link' });
    if (r.ok) return;
  }
  // A caller may have set a scenario before the engine was up.
  if (!scenario) await loadPreset(presets[0].id, 'start');
}

const story = new Story($('#story'), { apply, current });
onApplied((s, f, how) => story.follow(s, f, how));
// The scenario picker names the preset on screen, and none once the scenario
// came from a link, file, paste, calibration or picture (then picking any
// preset, the last one too, opens it).
onApplied(() => {
  const sel = $('#preset');
  if (story.id === null) sel.selectedIndex = -1;
  else if (sel.value !== story.id) sel.value = story.id;
});
// A file link opens through the file section (declared below, used only once the page runs).
const permalink = new Permalink(engine, { apply, current, openFileLink: (p) => files.fileLink(p) });
onApplied((s, f, how) => permalink.follow(s, f, how));

// From PyTorch and back: calibrate, paste import, export (each applies through `apply`).
const calibrate = new Calibrate($('[data-group="calibrate"]'), { engine, apply, current });
const paste = new Paste($('[data-group="paste"]'), { engine, apply, current });
const exporter = new Export($('[data-group="export"]'), { engine, current, calibrationOf: (s) => calibrate.calibrationOf(s) });
onApplied((s) => exporter.follow(s));
const files = new Files($('#files'), { engine, apply, current, notes: (n) => permalink.showNotes(n) });

// The vocabulary, once: every picker is built from it before the first frame.
const schema = engine.schema().then((r) => {
  if (!r.ok) return r;
  const v = r.value;
  groups = v.groups;
  controls.build(v);
  heatmap.build(v);
  permalink.build(v.groups);
  exporter.build(v);
  const sel = $('#preset');
  for (const p of v.presets) sel.append(el('option', { value: p.id }, p.title));
  story.build(v.presets);
  return { ok: true, value: v };
});

// The skip link moves focus to the heatmap; it never writes the address
// (which holds the permalink).
document.querySelector('a.skip')?.addEventListener('click', (e) => {
  e.preventDefault();
  const c = document.querySelector('#heatmap-canvas');
  c.focus({ preventScroll: true });
  c.scrollIntoView({ block: 'nearest' });
});

window.qconvLens = { apply, current, currentFrame, onApplied, loadPreset, timing, calibrate, paste, exporter, files };
start();
