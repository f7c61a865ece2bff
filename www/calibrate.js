// "Calibrate like PyTorch": a float Conv2d of the current shape with a
// qconfig, through prepare / calibrate / convert in the engine
// (src/flow.rs Calibration::run, via the worker). Shows every scale and zero
// point with how it was derived (min/max, the formula with its numbers, the
// HistogramObserver's histogram with the chosen range), the weight conversion,
// and applies the converted scenario with {source: 'calibrate'}.
import { el, clear, f32str } from './dom.js';
import { setMessage } from './controls.js';

const SVG = 'http://www.w3.org/2000/svg';
const FORUM = { weights: '0.4808', bias: '0.0317' };

function svg(tag, attrs = {}, ...children) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}


/** Floats from text: numbers separated by spaces, commas, brackets; `tensor(`, `)` and keywords are skipped. */
export function parseFloats(text) {
  const t = String(text).replace(/tensor\(|dtype=[\w.]+|requires_grad=\w+|size=\([^)]*\)/g, ' ');
  const parts = t.split(/[\s,\[\]()]+/).filter((p) => p !== '');
  const out = [];
  for (const p of parts) {
    if (!/^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(p)) return { error: `“${p.slice(0, 20)}” is not a number` };
    out.push(Number(p));
  }
  return { value: out };
}

/**
 * Calibration batches from typed or pasted text: each `tensor(...)` printout,
 * or each block between blank lines, is one batch; without either, each line
 * is one. `>>>` prompts and `#` comments are dropped. {value: [[floats]]} | {error}.
 */
export function parseBatches(text) {
  const t = String(text).split('\n').filter((l) => !/^\s*(>>>|\.\.\.|#)/.test(l)).join('\n');
  let chunks;
  if (/tensor\(/.test(t)) chunks = t.slice(t.indexOf('tensor(')).split(/(?=tensor\()/);
  else if (/\n\s*\n/.test(t.trim())) chunks = t.split(/\n\s*\n/);
  else chunks = t.split('\n');
  chunks = chunks.filter((c) => c.trim() !== '');
  if (chunks.length === 0) return { error: 'type or paste at least one batch of float values' };
  const out = [];
  for (const [i, c] of chunks.entries()) {
    const r = parseFloats(c);
    if (r.error) return { error: `batch ${i + 1}: ${r.error}` };
    out.push(r.value);
  }
  return { value: out };
}

/** A canonical key of a scenario without its view (to tell whether it is still the calibrated one). */
export function scenarioKey(s) {
  if (!s) return '';
  const { view: _view, ...rest } = s;
  const canon = (v) => (Array.isArray(v) ? v.map(canon)
    : v && typeof v === 'object' ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canon(v[k])])) : v);
  return JSON.stringify(canon(rest));
}

/** Inline SVG of a HistogramObserver's histogram: bars, the chosen range, the clipped parts shaded. */
export function histogramSvg(h, label) {
  const W = 560, H = 140, PAD = 4;
  const n = h.bins.length;
  const cols = Math.min(n, 256);
  const per = n / cols;
  const sums = new Array(cols).fill(0);
  for (let i = 0; i < n; i++) sums[Math.min(cols - 1, Math.floor(i / per))] += h.bins[i];
  const top = Math.max(...sums, 1e-30);
  const x = (bin) => PAD + (bin / n) * (W - 2 * PAD);
  const s = svg('svg', { viewBox: `0 0 ${W} ${H + 18}`, width: W, height: H + 18, role: 'img', class: 'histogram', 'aria-label': label });
  s.append(svg('title', {}, label));
  s.append(svg('rect', { x: PAD, y: 0, width: W - 2 * PAD, height: H, class: 'hist-bg' }));
  // Clipped parts: bins outside start_bin..=end_bin.
  if (h.start_bin > 0) s.append(svg('rect', { x: x(0), y: 0, width: x(h.start_bin) - x(0), height: H, class: 'hist-clipped' }));
  if (h.end_bin < n - 1) s.append(svg('rect', { x: x(h.end_bin + 1), y: 0, width: x(n) - x(h.end_bin + 1), height: H, class: 'hist-clipped' }));
  const bw = (W - 2 * PAD) / cols;
  for (let c = 0; c < cols; c++) {
    if (sums[c] <= 0) continue;
    const bh = Math.max(1, (sums[c] / top) * (H - 6));
    s.append(svg('rect', { x: PAD + c * bw, y: H - bh, width: Math.max(bw - 0.4, 0.8), height: bh, class: 'hist-bar' }));
  }
  for (const [bin, cls] of [[h.start_bin, 'hist-range'], [h.end_bin + 1, 'hist-range']]) {
    s.append(svg('line', { x1: x(bin), x2: x(bin), y1: 0, y2: H, class: cls }));
  }
  s.append(svg('text', { x: PAD, y: H + 14, class: 'hist-label' }, f32str(h.min)));
  s.append(svg('text', { x: W - PAD, y: H + 14, class: 'hist-label', 'text-anchor': 'end' }, f32str(h.max)));
  return s;
}

function histogramText(h) {
  const n = h.bins.length;
  const total = h.bins.reduce((a, b) => a + b, 0);
  let below = 0, above = 0;
  for (let i = 0; i < h.start_bin; i++) below += h.bins[i];
  for (let i = h.end_bin + 1; i < n; i++) above += h.bins[i];
  const fmt = (v) => String(Number(v.toPrecision(6)));
  return `Histogram of ${fmt(total)} values in ${n} bins over [${f32str(h.min)}, ${f32str(h.max)}]. ` +
    `The search kept bins ${h.start_bin} to ${h.end_bin}: range [${f32str(h.new_min)}, ${f32str(h.new_max)}]. ` +
    `Clipped: ${fmt(below)} values below, ${fmt(above)} above (shaded).`;
}

export class Calibrate {
  constructor(root, { engine, apply, current }) {
    this.root = root;
    this.engine = engine;
    this.apply = apply;
    this.current = current;
    this.result = null; // {config, value}
    this.applied = null; // {config, key}: the calibration whose scenario was applied
    this.q = (sel) => root.querySelector(sel);
    this.q('#calibrate-form').addEventListener('submit', (e) => { e.preventDefault(); this.run(); });
    this.q('#cal-forum').addEventListener('click', () => this.forum());
    this.q('#cal-from-codes').addEventListener('click', () => this.fromCodes());
    this.q('#calibrate-use').addEventListener('click', () => this.use());
    this.q('#cal-data').addEventListener('change', () => this.syncData());
    this.q('#cal-input').addEventListener('change', () => this.syncData());
    this.q('#cal-qconfig').addEventListener('change', () => this.useQConfig(this.q('#cal-qconfig').value));
    // A named qconfig follows the engine, as PyTorch's recipes pair them.
    this.q('#cal-engine').addEventListener('change', () => {
      if (this.q('#cal-qconfig').value !== 'custom') this.useQConfig(this.q('#cal-engine').value);
    });
    for (const p of ['act', 'wt']) {
      this.q(`#${p}-kind`).addEventListener('change', () => this.syncObserver(p));
      // Editing an observer makes the qconfig a custom one.
      const fs = this.q(`#${p}-observer`);
      const custom = (e) => { if (e.target.matches('input, select')) this.q('#cal-qconfig').value = 'custom'; };
      fs.addEventListener('input', custom);
      fs.addEventListener('change', custom);
    }
    this.qconfigList = null; // promise of PyTorch's default qconfigs (from the engine)
    this.forum();
  }

  /** Fill the observers with PyTorch's `get_default_qconfig(name)` (from the engine). */
  async useQConfig(name) {
    this.q('#cal-qconfig').value = name;
    if (name === 'custom') return;
    this.qconfigList ??= this.engine.qconfigs();
    const r = await this.qconfigList;
    if (!r.ok) { this.qconfigList = null; this.say(r.error, 'error'); return; }
    const q = r.value.find((c) => c.name === name);
    if (!q) return;
    this.fill('act', q.activation);
    this.fill('wt', q.weight);
  }

  /** Set one observer's fields from an ObserverConfig. */
  fill(p, c) {
    const set = (id, v) => { this.q(`#${p}-${id}`).value = v; };
    set('kind', c.kind); set('dtype', c.dtype); set('qscheme', c.qscheme);
    this.q(`#${p}-reduce`).checked = !!c.reduce_range;
    set('avg', String(c.averaging_constant ?? 0.01));
    set('bins', String(c.bins ?? 2048));
    set('qmin', c.quant_min ?? ''); set('qmax', c.quant_max ?? '');
    set('eps', f32str(c.eps ?? 1.1920928955078125e-7));
    if (p === 'wt') set('chaxis', String(c.ch_axis ?? 0));
    this.syncObserver(p);
  }

  /** The forum's model and qconfig (weights typed only when the shape fits). */
  forum() {
    this.q('#cal-weights').value = FORUM.weights;
    this.q('#cal-bias').value = FORUM.bias;
    const set = (id, v) => { this.q(id).value = v; };
    // get_default_qconfig('fbgemm'), filled here so that the page's start
    // needs no second wasm (the engine checks it is the default's).
    this.q('#cal-qconfig').value = 'fbgemm';
    this.fill('act', { kind: 'histogram', dtype: 'quint8', qscheme: 'per_tensor_affine', reduce_range: true });
    this.fill('wt', { kind: 'per_channel_min_max', dtype: 'qint8', qscheme: 'per_channel_symmetric', reduce_range: false });
    this.q('#cal-relu').checked = false;
    set('#cal-engine', 'fbgemm'); set('#cal-data', 'random'); set('#cal-seed', '1'); set('#cal-count', '1'); set('#cal-input', 'ramp');
    this.syncData();
  }

  /** Float weights = current codes × current weight scale (zero points subtracted); bias as it is. */
  fromCodes() {
    const s = this.current();
    if (!s) return;
    const p = s.params;
    const per = s.weights.length / s.shape.out_channels;
    const w = s.weights.map((q, i) => {
      const c = p.per_channel ? Math.floor(i / per) : 0;
      return Math.fround((q - p.weight_zero_points[c]) * p.weight_scales[c]);
    });
    this.q('#cal-weights').value = w.join(' ');
    this.q('#cal-bias').value = p.bias ? p.bias.join(' ') : '';
    setMessage(this.q('#cal-weights'), null);
  }

  syncData() {
    const k = this.q('#cal-data').value;
    this.q('#cal-floats-row').hidden = k !== 'floats';
    this.q('#cal-seed-row').hidden = k !== 'random' && this.q('#cal-input').value !== 'random';
    this.q('#cal-count-row').hidden = k !== 'random';
  }

  syncObserver(p) {
    const kind = this.q(`#${p}-kind`).value;
    const show = (what, on) => { const r = this.q(`#${p}-observer [data-for="${what}"]`); if (r) r.hidden = !on; };
    show('moving-average', kind.startsWith('moving_average'));
    show('histogram', kind === 'histogram');
    show('per-channel', kind.includes('per_channel'));
  }

  /** One observer's ObserverConfig (src/observe.rs), or {error, field}. */
  observer(p) {
    const f = (id) => this.q(`#${p}-${id}`);
    const NUM = /^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$/;
    const INT = /^\s*[+-]?\d+\s*$/;
    const kind = f('kind').value;
    const num = (id, what) => (NUM.test(f(id).value) ? { value: Number(f(id).value) } : { error: `${what} must be a number`, field: f(id) });
    const int = (id, what, empty) => {
      const v = f(id).value.trim();
      if (v === '' && empty !== undefined) return { value: empty };
      return INT.test(v) && Number.isSafeInteger(Number(v)) ? { value: Number(v) } : { error: `${what} must be a whole number${empty !== undefined ? ' or empty' : ''}`, field: f(id) };
    };
    const avg = kind.startsWith('moving_average') ? num('avg', 'averaging_constant') : { value: 0.01 };
    const bins = kind === 'histogram' ? int('bins', 'bins') : { value: 2048 };
    const qmin = int('qmin', 'quant_min', null);
    const qmax = int('qmax', 'quant_max', null);
    const eps = num('eps', 'eps');
    const ch = p === 'wt' && kind.includes('per_channel') ? int('chaxis', 'ch_axis') : { value: 0 };
    for (const r of [avg, bins, qmin, qmax, eps, ch]) if (r.error) return r;
    if (bins.value < 1) return { error: 'bins must be at least 1', field: f('bins') };
    return {
      value: {
        kind,
        dtype: f('dtype').value,
        qscheme: f('qscheme').value,
        reduce_range: this.q(`#${p}-reduce`).checked,
        averaging_constant: avg.value,
        bins: bins.value,
        quant_min: qmin.value,
        quant_max: qmax.value,
        eps: eps.value,
        ch_axis: ch.value,
      },
    };
  }

  /** The Calibration (src/flow.rs) the form describes, or {error, field}. */
  config() {
    const s = this.current();
    if (!s) return { error: 'the page has no scenario yet' };
    const sh = s.shape;
    const wf = this.q('#cal-weights');
    if (wf.value.trim() === '') this.fromCodes();
    const w = parseFloats(wf.value);
    if (w.error) return { error: w.error, field: wf };
    const need = sh.out_channels * (sh.in_channels / sh.groups) * sh.kernel[0] * sh.kernel[1];
    if (w.value.length !== need) {
      return {
        error: `${w.value.length} float weights; this conv (${sh.out_channels}×${sh.in_channels / sh.groups}×${sh.kernel[0]}×${sh.kernel[1]}) needs ${need}: empty the field or use “Float weights = current codes × weight scale”`,
        field: wf,
      };
    }
    const bf = this.q('#cal-bias');
    const b = parseFloats(bf.value);
    if (b.error) return { error: b.error, field: bf };
    const act = this.observer('act');
    if (act.error) return act;
    const wt = this.observer('wt');
    if (wt.error) return wt;
    const seed = Number(this.q('#cal-seed').value);
    if (!Number.isInteger(seed) || seed < 0 || seed > 4294967295) return { error: 'the seed is a whole number from 0 to 4294967295', field: this.q('#cal-seed') };
    const count = Number(this.q('#cal-count').value);
    if (!Number.isInteger(count) || count < 0 || count > 64) return { error: 'from 0 to 64 batches', field: this.q('#cal-count') };
    const kind = this.q('#cal-data').value;
    let batches;
    if (kind === 'floats') {
      const ff = this.q('#cal-floats');
      const r = parseBatches(ff.value);
      if (r.error) return { error: r.error, field: ff };
      const n = sh.batch * sh.in_channels * sh.height * sh.width;
      const bad = r.value.findIndex((v) => v.length !== n);
      if (bad >= 0) {
        return {
          error: `batch ${bad + 1} has ${r.value[bad].length} values; the input ${sh.batch}×${sh.in_channels}×${sh.height}×${sh.width} needs ${n} (one batch per line, or blank lines or tensor( ) between batches)`,
          field: ff,
        };
      }
      batches = r.value.map((floats) => ({ floats }));
    } else if (kind === 'random') {
      batches = Array.from({ length: count }, (_, i) => ({ generator: { kind: 'random', seed: (seed + i) >>> 0 } }));
    } else {
      batches = [{ generator: { kind } }];
    }
    const ik = this.q('#cal-input').value;
    const qc = this.q('#cal-qconfig').value;
    return {
      value: {
        model: {
          shape: s.shape,
          weight: w.value,
          bias: b.value.length ? b.value : null,
          activation: act.value,
          weight_observer: wt.value,
          engine: { kind: this.q('#cal-engine').value },
          relu: this.q('#cal-relu').checked,
          qconfig: qc === 'custom' ? null : qc,
        },
        batches,
        input: { generator: ik === 'random' ? { kind: 'random', seed } : { kind: ik } },
        b: s.b,
      },
    };
  }

  say(text, kind = '') {
    const m = this.q('#calibrate-msg');
    m.textContent = text;
    m.dataset.kind = kind;
  }

  async run() {
    for (const f of this.root.querySelectorAll('[aria-invalid]')) setMessage(f, null);
    const c = this.config();
    if (c.error) {
      if (c.field) setMessage(c.field, c.error);
      this.say(c.error, 'error');
      return { ok: false, error: c.error };
    }
    this.say('Calibrating…');
    const r = await this.engine.calibrate(c.value);
    if (!r.ok) {
      // The last valid result stays on screen.
      this.say(r.error, 'error');
      return r;
    }
    this.result = { config: c.value, value: r.value };
    this.say('Converted. Check the derivations below, then use the parameters.');
    this.show(r.value);
    return r;
  }

  show(v) {
    const box = this.q('#calibrate-derivations');
    clear(box);
    const conv = v.converted;
    const parts = [
      ['input', 'Input (QuantStub, activation observer)', conv.input],
      ['weight', 'Weight (weight observer, at convert)', conv.weight],
      ['output', 'Conv output (activation observer)', conv.output],
    ];
    for (const [key, title, d] of parts) {
      const sec = el('div', { className: 'derivation', 'data-part': key });
      sec.append(el('h3', {}, title));
      const dl = el('dl', { className: 'kv' });
      const add = (k, val) => dl.append(el('dt', {}, k), el('dd', {}, val));
      add(d.min_vals.length > 1 ? 'min / max per channel' : 'min / max', d.min_vals.map((m, i) => `${f32str(m)} / ${f32str(d.max_vals[i])}`).join('; '));
      add('qmin..qmax', `${d.qmin}..${d.qmax}`);
      add(d.scales.length > 1 ? 'scales' : 'scale', d.scales.join(', '));
      add(d.zero_points.length > 1 ? 'zero points' : 'zero point', d.zero_points.join(', '));
      sec.append(dl);
      const ol = el('ul', { className: 'formula' });
      for (const f of d.formula) ol.append(el('li', {}, el('code', {}, f)));
      sec.append(ol);
      if (d.histogram) {
        const text = histogramText(d.histogram);
        const id = `hist-${key}-text`;
        const fig = el('figure', { className: 'hist' });
        const s = histogramSvg(d.histogram, `Histogram of the ${key} with the chosen range marked`);
        s.setAttribute('aria-describedby', id);
        fig.append(s, el('figcaption', { id }, text));
        sec.append(fig);
      }
      box.append(sec);
    }
    const tb = this.q('#calibrate-weights tbody');
    clear(tb);
    const rows = v.weights.slice(0, 200);
    for (const w of rows) {
      const clamped = w.rounded !== w.code;
      tb.append(el('tr', clamped ? { className: 'clamped' } : {},
        el('td', {}, w.channel), el('td', {}, f32str(w.float)), el('td', {}, f32str(w.scaled)), el('td', {}, w.rounded),
        el('td', {}, clamped ? `${w.code} (clamped)` : w.code)));
    }
    if (v.weights.length > rows.length) tb.append(el('tr', {}, el('td', { colSpan: 5 }, `… ${v.weights.length - rows.length} more`)));
    this.q('#calibrate-result').hidden = false;
    this.q('#calibrate-use-msg').textContent = '';
  }

  async use() {
    if (!this.result) return;
    const cur = this.current();
    const next = structuredClone(this.result.value.scenario);
    // Keep the view (pixel, channel, map) when the shape is the one on screen.
    if (cur && JSON.stringify(cur.shape) === JSON.stringify(next.shape)) next.view = structuredClone(cur.view);
    const config = this.result.config;
    this.applied = { config, key: scenarioKey(next) };
    const r = await this.apply(next, { source: 'calibrate', field: this.q('#calibrate-use') });
    const m = this.q('#calibrate-use-msg');
    if (!r.ok) {
      this.applied = null;
      m.textContent = r.error ?? 'not applied';
      m.dataset.kind = 'error';
    } else {
      m.textContent = 'Applied: A is the chosen engine on the converted model.';
      m.dataset.kind = '';
    }
    return r;
  }

  /** The calibration behind the scenario on screen, if it came from here unchanged. */
  calibrationOf(scenario) {
    return this.applied && this.applied.key === scenarioKey(scenario) ? this.applied.config : null;
  }
}
