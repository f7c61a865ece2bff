// The scenario controls: native form controls that edit a draft copy of the
// Scenario (a plain object mirroring the serde JSON of `Scenario`) and hand
// it to `onChange(draft, {field})`. Values that do not parse never reach the
// draft: they show a message beside their field. `sync(scenario, frame)`
// writes an accepted scenario back into every control. Pickers, hand
// switches, shape fields and their bounds are built from the engine's schema
// (`build(schema)`, src/schema.rs); a shape edit is reconciled by the engine
// (`fit`, Scenario::fit).
import { el, clear } from './dom.js';
import { Pager } from './pager.js';

const LOG_MIN = -6; // slider range of scales: 1e-6 .. 10
const LOG_MAX = 1;
const LOG_STEP = 0.001; // 0.23 % per step: fine enough to walk to any printed digit
const DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;
const INTEGER = /^[+-]?\d+$/;

export function parseDecimal(text) {
  const t = String(text).trim();
  if (t === '') return { error: 'enter a number' };
  if (!DECIMAL.test(t)) return { error: `“${t}” is not a number` };
  const value = Number(t);
  if (!Number.isFinite(value)) return { error: `${t} is too large` };
  return { value };
}

export function parseScale(text) {
  const r = parseDecimal(text);
  if (r.error) return r;
  const v = r.value;
  if (!(v > 0)) return { error: `a scale must be greater than 0 (got ${v})` };
  const f = Math.fround(v);
  if (f === 0) return { error: `${v} is 0 in float32 (the smallest float32 is about 1.4e-45)` };
  if (!Number.isFinite(f)) return { error: `${v} is too large for float32` };
  return { value: v };
}

export function parseInteger(text, min, max) {
  const t = String(text).trim();
  if (!INTEGER.test(t)) return { error: t === '' ? `enter a whole number from ${min} to ${max}` : `“${t}” is not a whole number` };
  const value = Number(t);
  if (value < min || value > max) return { error: `must be from ${min} to ${max} (got ${value})` };
  return { value };
}

const clone = (v) => structuredClone(v);

/**
 * A copy of a scenario to edit that shares its big arrays (the weights, typed
 * input codes): cloning 2.4 M weights of a 512 -> 512, 3x3 layer on every
 * frame took about 0.4 s. Edits replace those arrays, never write into them.
 */
export function draftOf(s) {
  // The keys stay in their order (files and links compare the JSON).
  const shallow = 'weights' in s ? { ...s, weights: null } : { ...s };
  const codes = s.input?.codes;
  if (codes) shallow.input = { ...s.input, codes: null };
  const d = structuredClone(shallow);
  if ('weights' in s) d.weights = s.weights;
  if (codes) d.input.codes = codes;
  return d;
}

/** Show or clear the message of a field (beside it; the input gets aria-invalid). */
export function setMessage(input, text, kind = 'parse') {
  const msg = input?.closest('.field, .row, div')?.querySelector('.msg');
  if (!msg) return;
  msg.textContent = text ?? '';
  msg.dataset.kind = text ? kind : '';
  msg.hidden = !text;
  if (text) {
    if (!msg.id) msg.id = `${input.id || 'f' + Math.random().toString(36).slice(2)}-msg`;
    // A note (the engine adjusted something) is not an error.
    if (kind === 'note') input.removeAttribute('aria-invalid');
    else input.setAttribute('aria-invalid', 'true');
    input.setAttribute('aria-describedby', msg.id);
  } else {
    input.removeAttribute('aria-invalid');
  }
}

/** Clear a field's parse message (an engine message stays until the engine accepts). */
function clearParse(input) {
  const msg = input?.closest('.field, .row, div')?.querySelector('.msg');
  if (msg?.dataset.kind === 'parse') setMessage(input, null);
}

/** A switch's option value as the Scenario JSON holds it. */
const switchValue = (sw, value) => (sw.boolean ? value === 'true' : value);

function getPath(obj, path) {
  return path.split('.').reduce((o, k) => o?.[k], obj);
}
function setPath(obj, path, value) {
  const keys = path.split('.');
  const last = keys.pop();
  const o = keys.reduce((o, k) => o[k], obj);
  o[last] = value;
}

const fmtNumber = (v) => (typeof v === 'number' ? String(v) : '');

export class Controls {
  /**
   * onChange(draft, {field}): a new scenario to apply; fit(scenario, fromShape):
   * the engine's reconciliation of a changed shape ({ok, value: {scenario, notes}}).
   */
  constructor(form, { onChange, fit }) {
    this.form = form;
    this.onChange = onChange;
    this.fit = fit;
    this.schema = null;
    this.draft = null;
    this.frame = null;
    this.counts = {};
    this.weightsChannel = 0;
    this.originParams = null; // the params Reset returns to (the last scenario from elsewhere)
    this.notes = new Set(); // fields showing a note of the last reshape
    this.q = (sel) => form.querySelector(sel);
  }

  /** [min, max] of a dtype's codes (src/schema.rs `dtypes`). */
  range(dtype) {
    const d = this.schema.dtypes.find((x) => x.id === dtype);
    return [d.min, d.max];
  }

  /** Build the controls from the engine's schema (once, before the first sync). */
  build(schema) {
    this.schema = schema;
    this.engines = new Map(schema.engines.map((e) => [e.id, e]));
    this.#buildStatic();
  }

  /** A new computation of engine `id`: the hand calculation gets each switch's default. */
  computation(id) {
    const c = { kind: id };
    if (this.engines.get(id)?.hand) {
      for (const sw of this.schema.hand) c[sw.key] = switchValue(sw, sw.options[sw.default].value);
    }
    return c;
  }

  /** Commit an edit: apply `edit(draft)` and ask for the new scenario. */
  commit(field, edit) {
    if (!this.draft) return;
    edit(this.draft);
    this.onChange(draftOf(this.draft), { field });
  }

  /** A shape field changed: the engine fits the scenario to the new shape; its notes show beside the field. */
  async #reshape(field, path, value) {
    if (!this.draft) return;
    for (const f of this.notes) if (f.closest('.field')?.querySelector('.msg')?.dataset.kind === 'note') setMessage(f, null);
    this.notes.clear();
    const draft = draftOf(this.draft);
    const from = clone(draft.shape);
    setPath(draft.shape, path, value);
    const r = await this.fit(draft, from);
    if (!r.ok) {
      this.showError(field, r.error);
      return;
    }
    const { scenario, notes } = r.value;
    // New channels make a new scenario: it opens where most pixels differ.
    if (path === 'in_channels' || path === 'out_channels') scenario.view.fresh = true;
    if (notes.length) {
      setMessage(field, notes.map((n) => n.message).join('; '), 'note');
      this.notes.add(field);
    }
    this.onChange(scenario, { field });
  }

  // ---- building --------------------------------------------------------------

  #scaleRow(container, id, label, path) {
    const range = el('input', { type: 'range', id: `${id}-range`, min: LOG_MIN, max: LOG_MAX, step: LOG_STEP, 'aria-label': `${label} (logarithmic slider)` });
    const text = el('input', { type: 'text', id, inputMode: 'decimal', spellcheck: false, className: 'num', 'data-path': path });
    // The float32 readout is text, not an <output>: a live region would read
    // every slider step's bits aloud.
    const out = el('span', { id: `${id}-f32`, className: 'f32' });
    const reset = el('button', { type: 'button', className: 'reset', hidden: true }, 'Reset');
    const msg = el('span', { className: 'msg', 'aria-live': 'polite', hidden: true });
    const row = el('div', { className: 'field scale' }, el('label', { htmlFor: id }, label), range, text, reset, out, msg);
    container.append(row);
    const origin = this.originParams ? getPath({ params: this.originParams }, path) : null;
    const result = { row, range, text, out, path, reset, label, anchor: null, anchorPos: null, origin: typeof origin === 'number' ? origin : null };
    range.addEventListener('input', () => {
      const pos = Number(range.value);
      // Back on the position it started from: the exact value it started
      // from, not the slider's rounding of it.
      const v = result.anchor !== null && Math.abs(pos - result.anchorPos) < LOG_STEP / 2
        ? result.anchor
        : Number((10 ** pos).toPrecision(5));
      text.value = String(v);
      setMessage(text, null);
      this.commit(text, (d) => setPath(d, path, v));
    });
    reset.addEventListener('click', () => {
      if (result.origin === null) return;
      text.value = String(result.origin);
      setMessage(text, null);
      this.commit(reset, (d) => setPath(d, path, result.origin));
    });
    const take = (show) => {
      const r = parseScale(text.value);
      if (r.error) {
        if (show) setMessage(text, r.error);
        return;
      }
      clearParse(text);
      range.value = String(Math.log10(r.value));
      if (getPath(this.draft, path) !== r.value) this.commit(text, (d) => setPath(d, path, r.value));
    };
    text.addEventListener('input', () => take(false));
    text.addEventListener('change', () => take(true));
    return result;
  }

  #intRow(container, id, label, path, min, max, { slider = true } = {}) {
    const range = slider ? el('input', { type: 'range', id: `${id}-range`, min, max, step: 1, 'aria-label': `${label} (slider)` }) : null;
    const num = el('input', { type: 'number', id, min, max, step: 1, className: 'num', 'data-path': path });
    const msg = el('span', { className: 'msg', 'aria-live': 'polite', hidden: true });
    const row = el('div', { className: 'field int' }, el('label', { htmlFor: id }, label), ...(range ? [range] : []), num, msg);
    container.append(row);
    range?.addEventListener('input', () => {
      num.value = range.value;
      setMessage(num, null);
      this.commit(num, (d) => setPath(d, path, Number(range.value)));
    });
    const take = (show) => {
      const r = num.validity.badInput ? { error: 'not a whole number' } : parseInteger(num.value, min, max);
      if (r.error) {
        if (show) setMessage(num, r.error);
        return;
      }
      clearParse(num);
      if (range) range.value = String(r.value);
      if (getPath(this.draft, path) !== r.value) this.commit(num, (d) => setPath(d, path, r.value));
    };
    num.addEventListener('input', () => take(false));
    num.addEventListener('change', () => take(true));
    return { row, range, num, path };
  }

  #buildStatic() {
    const q = this.q;
    const schema = this.schema;
    // Computations: the engines grouped by runtime family.
    const families = new Map();
    for (const e of schema.engines) {
      if (!families.has(e.family)) families.set(e.family, { title: e.family_title, engines: [] });
      families.get(e.family).engines.push(e);
    }
    for (const side of ['a', 'b']) {
      const sel = q(`#comp-${side}`);
      clear(sel);
      for (const f of families.values()) {
        sel.append(el('optgroup', { label: f.title }, ...f.engines.map((e) => el('option', { value: e.id }, e.title))));
      }
      sel.addEventListener('change', () => this.commit(sel, (d) => { d[side] = this.computation(sel.value); }));
      const box = sel.parentElement.querySelector('fieldset.hand');
      clear(box);
      box.append(el('legend', {}, `hand calculation ${side.toUpperCase()}: its assumptions`));
      for (const sw of schema.hand) {
        const id = `hand-${side}-${sw.key}`;
        if (sw.boolean) {
          const cb = el('input', { type: 'checkbox', id, 'data-key': sw.key });
          cb.addEventListener('change', () => this.commit(cb, (d) => { d[side][sw.key] = cb.checked; }));
          box.append(el('label', { className: 'check', htmlFor: id }, cb, ` ${sw.label}`, el('span', { className: 'vh' }, ` (${side.toUpperCase()})`)));
        } else {
          const s = el('select', { id, 'data-key': sw.key }, ...sw.options.map((o) => el('option', { value: o.value }, o.label)));
          s.addEventListener('change', () => this.commit(s, (d) => { d[side][sw.key] = switchValue(sw, s.value); }));
          box.append(el('div', { className: 'row' }, el('label', { htmlFor: id }, sw.label, el('span', { className: 'vh' }, ` (${side.toUpperCase()})`)), s));
        }
      }
    }
    // Platform: the named CPU and OS combinations.
    const plat = q('#platform');
    clear(plat);
    for (const p of schema.platforms) plat.append(el('option', { value: p.id }, p.title));
    plat.addEventListener('change', () => {
      const p = schema.platforms.find((x) => x.id === plat.value);
      if (p) this.commit(plat, (d) => { d.platform = { cpu: p.cpu, os: p.os, emulated: false }; });
    });
    q('#swap').addEventListener('click', () => this.commit(q('#swap'), (d) => { [d.a, d.b] = [d.b, d.a]; }));

    // Scales and zero points (fixed rows; per-channel rows: a page at a time, built in sync).
    this.scales = [
      this.#scaleRow(q('#scale-rows'), 'input-scale', 'input scale', 'params.input_scale'),
      this.#scaleRow(q('#scale-rows'), 'output-scale', 'output scale', 'params.output_scale'),
    ];
    this.zps = [
      this.#intRow(q('#zp-rows'), 'input-zp', 'input zero point', 'params.input_zero_point', ...this.range('quint8')),
      this.#intRow(q('#zp-rows'), 'output-zp', 'output zero point', 'params.output_zero_point', ...this.range('quint8')),
    ];
    // Per-channel rows: a page of channels each (www/pager.js).
    this.pagers = {};
    for (const [key, container, what] of [['wscales', '#weight-scale-rows', 'weight scales'], ['wzps', '#weight-zp-rows', 'weight zero points'], ['biases', '#bias-rows', 'biases']]) {
      const pager = new Pager(`${container.slice(1, -5)}-page`, what, (c) => {
        pager.set(pager.n, c);
        this.#perChannel(key);
      });
      q(container).before(pager.row);
      this.pagers[key] = pager;
    }
    q('#per-channel').addEventListener('change', (e) => this.commit(e.target, (d) => {
      const p = d.params;
      p.per_channel = e.target.checked;
      const n = p.per_channel ? d.shape.out_channels : 1;
      p.weight_scales = Array.from({ length: n }, () => p.weight_scales[0]);
      p.weight_zero_points = Array.from({ length: n }, () => p.weight_zero_points[0]);
    }));
    q('#has-bias').addEventListener('change', (e) => this.commit(e.target, (d) => {
      d.params.bias = e.target.checked ? new Array(d.shape.out_channels).fill(0) : null;
    }));
    q('#relu').addEventListener('change', (e) => this.commit(e.target, (d) => { d.params.relu = e.target.checked; }));

    // Shape.
    clear(this.q('#shape-rows'));
    this.shape = schema.shape.map(({ path, label, min, max }) => {
      const id = `shape-${path.replace('.', '-')}`;
      const num = el('input', { type: 'number', id, min, max, step: 1, className: 'num' });
      const msg = el('span', { className: 'msg', 'aria-live': 'polite', hidden: true });
      this.q('#shape-rows').append(el('div', { className: 'field' }, el('label', { htmlFor: id }, label), num, msg));
      const take = (show) => {
        const r = num.validity.badInput ? { error: 'not a whole number' } : parseInteger(num.value, min, max);
        if (r.error) { if (show) setMessage(num, r.error); return; }
        clearParse(num);
        if (getPath(this.draft.shape, path) === r.value) return;
        this.#reshape(num, path, r.value);
      };
      num.addEventListener('input', () => take(false));
      num.addEventListener('change', () => take(true));
      return { path, num };
    });
    this.q('#shape-rows').append(el('div', { className: 'field' }, el('label', { htmlFor: 'shape-batch' }, 'batch'),
      el('input', { type: 'number', id: 'shape-batch', value: 1, readOnly: true, className: 'num', title: 'the page computes batch 1' })));

    // Input.
    const kind = q('#input-kind');
    clear(kind);
    for (const k of schema.inputs) kind.append(el('option', { value: k.id }, k.title));
    kind.addEventListener('change', () => this.commit(kind, (d) => {
      const k = kind.value;
      // The schema's default for the kind; typed codes start from the codes on screen.
      d.input = structuredClone(schema.inputs.find((x) => x.id === k).default);
      if (k === 'codes') {
        const n = d.shape.in_channels * d.shape.height * d.shape.width;
        const known = this.frame?.input_codes;
        if (known && known.length === n) d.input.codes = Array.from(known);
      }
    }));
    const seed = q('#input-seed');
    const takeSeed = (show) => {
      const r = parseInteger(seed.value, 0, schema.seed_max);
      if (r.error) { if (show) setMessage(seed, r.error); return; }
      clearParse(seed);
      if (this.draft.input.seed !== r.value) this.commit(seed, (d) => { d.input.seed = r.value; });
    };
    seed.addEventListener('input', () => takeSeed(false));
    seed.addEventListener('change', () => takeSeed(true));
    const value = q('#input-value');
    const takeValue = (show) => {
      const r = parseDecimal(value.value);
      if (r.error) { if (show) setMessage(value, r.error); return; }
      clearParse(value);
      if (this.draft.input.value !== r.value) this.commit(value, (d) => { d.input.value = r.value; });
    };
    value.addEventListener('input', () => takeValue(false));
    value.addEventListener('change', () => takeValue(true));
    const codes = q('#input-codes');
    const takeCodes = (show) => {
      const parts = codes.value.split(/[\s,;[\]]+/).filter(Boolean);
      const n = this.draft.shape.in_channels * this.draft.shape.height * this.draft.shape.width;
      const [lo, hi] = this.range('quint8');
      const bad = parts.find((t) => !/^-?\d+$/.test(t) || Number(t) > hi || Number(t) < lo);
      let error = null;
      if (bad !== undefined) error = `“${bad}” is not a code from ${lo} to ${hi}`;
      else if (parts.length !== n) error = `${parts.length} codes typed; the shape needs ${n}`;
      if (error) { if (show) setMessage(codes, error); return; }
      clearParse(codes);
      this.commit(codes, (d) => { d.input.codes = parts.map(Number); });
    };
    codes.addEventListener('input', () => takeCodes(false));
    codes.addEventListener('change', () => takeCodes(true));

    // Weights: one output channel and one page of its input channels at a
    // time, so a 512 -> 512 layer builds a few hundred inputs, not millions.
    const wch = q('#weights-channel');
    const takeChannel = () => {
      const n = this.draft?.shape.out_channels ?? 1;
      const r = parseInteger(wch.value, 0, n - 1);
      setMessage(wch, r.error ?? null);
      if (r.error) return;
      if (r.value === this.weightsChannel) return;
      this.weightsChannel = r.value;
      this.#buildWeights(true);
    };
    wch.addEventListener('input', takeChannel);
    wch.addEventListener('change', takeChannel);
    q('#weights-page').addEventListener('change', (e) => {
      this.weightsPage = Number(e.target.value);
      this.#buildWeights(true);
    });
  }

  /** The rows of list `key` for the channels of its pager's page (rebuilt when they change). */
  #rebuildList(container, key, n, make) {
    const pager = this.pagers[key];
    pager.set(n, pager.channel);
    const [from, to] = n ? pager.span : [0, 0];
    const k = `${n}:${from}`;
    if (this.counts[key] === k) return;
    this.counts[key] = k;
    clear(container);
    this[key] = [];
    for (let c = from; c < to; c++) this[key].push(Object.assign(make(c), { c }));
  }

  #buildWeights(force) {
    const d = this.draft;
    const s = d.shape;
    const cinG = Math.floor(s.in_channels / s.groups);
    const [kh, kw] = s.kernel;
    const per = weightsPerPage(kh, kw);
    const pages = Math.ceil(cinG / per);
    this.weightsPage = Math.min(this.weightsPage ?? 0, pages - 1);
    const key = `${s.out_channels}x${cinG}x${kh}x${kw}:${this.weightsChannel}:${this.weightsPage}`;
    const grid = this.q('#weights-grid');
    if (!force && this.counts.weights === key) {
      // The same array as the grid shows (a scale, a seed, a view): nothing to write.
      if (this.weightsShown === d.weights) return;
      this.weightsShown = d.weights;
      for (const inp of grid.querySelectorAll('input')) {
        const v = String(d.weights[Number(inp.dataset.index)]);
        if (inp.value === v) continue;
        if (inp !== document.activeElement) inp.value = v;
        else this.weightsShown = null; // being typed in: written by a later sync
      }
      return;
    }
    this.counts.weights = key;
    this.weightsShown = d.weights;
    clear(grid);
    const psel = this.q('#weights-page');
    this.q('#weights-page-row').hidden = pages < 2;
    if (psel.options.length !== pages || psel.dataset.per !== String(per)) {
      clear(psel);
      psel.dataset.per = String(per);
      for (let p = 0; p < pages; p++) psel.append(el('option', { value: p }, `${p * per}–${Math.min(cinG, (p + 1) * per) - 1} of ${cinG}`));
    }
    if (psel.value !== String(this.weightsPage)) psel.value = String(this.weightsPage);
    const oc = Math.min(this.weightsChannel, s.out_channels - 1);
    for (let ic = this.weightsPage * per; ic < Math.min(cinG, (this.weightsPage + 1) * per); ic++) {
      const table = el('table', { className: 'wgrid' }, el('caption', {}, `input channel ${ic}${s.groups > 1 ? ' of the group' : ''}`));
      for (let y = 0; y < kh; y++) {
        const tr = el('tr');
        for (let x = 0; x < kw; x++) {
          const index = ((oc * cinG + ic) * kh + y) * kw + x;
          const inp = el('input', {
            type: 'number', min: this.range('qint8')[0], max: this.range('qint8')[1], step: 1, value: String(d.weights[index]),
            'aria-label': `weight, output channel ${oc}, input channel ${ic}, row ${y}, column ${x}`,
            'data-index': index, className: 'w',
          });
          const take = (show) => {
            const r = inp.validity.badInput ? { error: 'not a whole number' } : parseInteger(inp.value, ...this.range('qint8'));
            // The grid no longer shows an array as it is: the next sync writes every weight.
            this.weightsShown = null;
            if (r.error) { if (show) this.#weightsMessage(inp, r.error); return; }
            this.#weightsMessage(inp, null);
            // A new array: the draft shares its weights with the scenario on screen.
            if (this.draft.weights[index] !== r.value) this.commit(inp, (dd) => { dd.weights = dd.weights.slice(); dd.weights[index] = r.value; });
          };
          inp.addEventListener('input', () => take(false));
          inp.addEventListener('change', () => take(true));
          tr.append(el('td', {}, inp));
        }
        table.append(tr);
      }
      grid.append(table);
    }
  }

  #weightsMessage(inp, text) {
    const msg = this.q('#weights-msg');
    msg.textContent = text ? `${inp.getAttribute('aria-label')}: ${text}` : '';
    if (text) inp.setAttribute('aria-invalid', 'true'); else inp.removeAttribute('aria-invalid');
  }

  // ---- syncing ---------------------------------------------------------------

  /** Show an accepted scenario (and its frame: float32 read-outs, input codes). */
  sync(scenario, frame, source = 'api') {
    this.draft = draftOf(scenario);
    this.frame = frame;
    const d = this.draft;
    const q = this.q;
    const active = document.activeElement;
    const put = (input, v) => { if (input !== active && input.value !== v) input.value = v; };
    const f = frame.floats;
    // A scenario that comes from elsewhere (preset, link, paste, ...) sets
    // the value Reset returns to.
    const fromOutside = source !== 'controls' && source !== 'heatmap';
    if (fromOutside || !this.originParams) {
      const { weight_scales: ws } = d.params;
      this.originParams = { input_scale: d.params.input_scale, output_scale: d.params.output_scale, weight_scales: [...ws] };
    }
    this.#putScale(this.scales[0], d.params.input_scale, f.input_scale, fromOutside);
    this.#putScale(this.scales[1], d.params.output_scale, f.output_scale, fromOutside);

    const p = d.params;
    const check = (box, v) => { if (box.checked !== v) box.checked = v; };
    const choose = (sel, v) => { if (sel.value !== v) sel.value = v; };
    check(q('#per-channel'), p.per_channel);
    this.#putInt(this.zps[0], p.input_zero_point);
    this.#putInt(this.zps[1], p.output_zero_point);
    check(q('#has-bias'), !!p.bias);
    check(q('#relu'), p.relu);
    // The per-channel pages follow the channel the map shows.
    if (d.view.channel !== this.pagedChannel) {
      this.pagedChannel = d.view.channel;
      for (const pager of Object.values(this.pagers)) pager.channel = d.view.channel;
    }
    for (const key of Object.keys(this.pagers)) this.#perChannel(key, fromOutside);

    // Computations.
    for (const side of ['a', 'b']) {
      const comp = d[side];
      const sel = q(`#comp-${side}`);
      choose(sel, comp.kind);
      const box = sel.parentElement.querySelector('fieldset.hand');
      const hand = !!this.engines.get(comp.kind)?.hand;
      if (box.hidden === hand) box.hidden = !hand;
      if (hand) {
        for (const cb of box.querySelectorAll('input[type=checkbox]')) check(cb, !!comp[cb.dataset.key]);
        for (const s of box.querySelectorAll('select')) choose(s, String(comp[s.dataset.key]));
      }
    }
    this.#syncPlatform(d);

    // Shape.
    for (const { path, num } of this.shape) put(num, String(getPath(d.shape, path)));

    // Input.
    const inp = d.input;
    choose(q('#input-kind'), inp.kind);
    const show = (node, on) => { if (node.hidden === on) node.hidden = !on; };
    show(q('#input-seed-row'), inp.kind === 'random');
    show(q('#input-value-row'), inp.kind === 'constant');
    show(q('#input-codes-row'), inp.kind === 'codes');
    if (inp.kind === 'random') put(q('#input-seed'), String(inp.seed));
    if (inp.kind === 'constant') put(q('#input-value'), fmtNumber(inp.value));
    if (inp.kind === 'codes') {
      const ta = q('#input-codes');
      if (ta !== active) ta.value = formatCodes(inp.codes, d.shape);
    }

    // Weights: they follow the channel the map shows (the picker here can
    // look at another one until the map's channel changes).
    const wsel = q('#weights-channel');
    wsel.max = String(d.shape.out_channels - 1);
    const ofText = `of 0–${d.shape.out_channels - 1}`;
    if (q('#weights-of').textContent !== ofText) q('#weights-of').textContent = ofText;
    if (d.view.channel !== this.mapChannel) this.weightsChannel = d.view.channel;
    this.mapChannel = d.view.channel;
    this.weightsChannel = Math.min(this.weightsChannel, d.shape.out_channels - 1);
    put(wsel, String(this.weightsChannel));
    this.#buildWeights(false);

    // A successful apply clears the engine's messages.
    for (const m of this.form.querySelectorAll('p.msg')) if (m.textContent) m.textContent = '';
    if (this.errorField) setMessage(this.errorField, null);
    this.errorField = null;
  }

  /** The rows of one per-channel list (weight scales, weight zero points, bias) for its page. */
  #perChannel(key, fromOutside = false) {
    const d = this.draft;
    if (!d) return;
    const p = d.params;
    const f = this.frame.floats;
    const q = this.q;
    const nW = p.weight_scales.length;
    if (key === 'wscales') {
      this.#rebuildList(q('#weight-scale-rows'), key, nW, (c) =>
        this.#scaleRow(q('#weight-scale-rows'), `weight-scale-${c}`, nW > 1 ? `weight scale, channel ${c}` : 'weight scale', `params.weight_scales.${c}`));
      for (const row of this.wscales) this.#putScale(row, p.weight_scales[row.c], f.weight_scales[row.c], fromOutside);
    } else if (key === 'wzps') {
      this.#rebuildList(q('#weight-zp-rows'), key, p.weight_zero_points.length, (c) =>
        this.#intRow(q('#weight-zp-rows'), `weight-zp-${c}`, nW > 1 ? `weight zero point, channel ${c}` : 'weight zero point', `params.weight_zero_points.${c}`, ...this.range('qint8')));
      for (const row of this.wzps) this.#putInt(row, p.weight_zero_points[row.c]);
    } else {
      this.#rebuildList(q('#bias-rows'), key, p.bias ? p.bias.length : 0, (c) => this.#biasRow(c));
      for (const row of this.biases) this.#put(row.text, f.bias?.[row.c]?.decimal ?? fmtNumber(p.bias[row.c]));
    }
  }

  /** Write a value into a field the user is not typing in. */
  #put(input, v) {
    if (input !== document.activeElement && input.value !== v) input.value = v;
  }

  // Writing a slider's value forces a layout: only when it moves.
  #putRange(range, v) {
    if (range && range !== document.activeElement && range.lastSet !== v) {
      range.value = String(v);
      range.lastSet = v;
    }
  }

  #putInt(row, v) {
    this.#put(row.num, String(v));
    this.#putRange(row.range, v);
  }

  /** A scale row: its value, slider, Reset (to the value from elsewhere) and float32 read-out. */
  #putScale(row, v, info, fromOutside) {
    this.#put(row.text, fmtNumber(v));
    this.#putRange(row.range, Math.log10(v));
    if (row.range !== document.activeElement) { row.anchor = v; row.anchorPos = Number(row.range.value); }
    if (fromOutside || row.origin === null) row.origin = v;
    const off = v !== row.origin;
    if (row.reset.hidden === off) row.reset.hidden = !off;
    const name = `Reset ${row.label} to ${fmtNumber(row.origin)}`;
    if (off && row.reset.getAttribute('aria-label') !== name) row.reset.setAttribute('aria-label', name);
    const t = `float32 ${info.decimal} · ${info.bits}${info.exact ? '' : ' (rounded)'}`;
    if (row.out.textContent !== t) row.out.textContent = t;
  }

  /** The platform picker follows the scenario; it is enabled when A or B depends on the CPU. */
  #syncPlatform(d) {
    const schema = this.schema;
    const sel = this.q('#platform');
    const p = d.platform ?? {};
    const named = p.emulated ? null : schema.platforms.find((x) => x.cpu === p.cpu && x.os === p.os);
    let custom = sel.querySelector('option[data-custom]');
    if (named) {
      custom?.remove();
    } else {
      // A platform without a name (from a link or a paste): shown as it is.
      const title = (list, id) => list.find((x) => x.id === id)?.title ?? id;
      const text = `${title(schema.cpus, p.cpu)}, ${title(schema.oses, p.os)}${p.emulated ? ' (forced by FBGEMM_ENABLE_INSTRUCTIONS on an AVX512-VNNI host)' : ''}`;
      if (!custom) {
        custom = el('option', { value: '', 'data-custom': '' });
        sel.append(custom);
      }
      if (custom.textContent !== text) custom.textContent = text;
    }
    const value = named ? named.id : '';
    if (sel.value !== value) sel.value = value;
    const users = [d.a.kind, d.b.kind].filter((k, i, all) => this.engines.get(k)?.uses_platform && all.indexOf(k) === i);
    const on = users.length > 0;
    if (sel.disabled === on) sel.disabled = !on;
    const title = (id) => this.engines.get(id)?.title ?? id;
    const hint = on
      ? `The CPU and OS ${users.map(title).join(' and ')} ${users.length > 1 ? 'run' : 'runs'} on: they decide which kernel runs.`
      : `Only ${schema.engines.filter((e) => e.uses_platform).map((e) => e.title).join(' and ')} depend on the CPU; A and B here do not.`;
    const h = this.q('#platform-hint');
    if (h.textContent !== hint) h.textContent = hint;
  }

  #biasRow(c) {
    const container = this.q('#bias-rows');
    const id = `bias-${c}`;
    const text = el('input', { type: 'text', id, inputMode: 'decimal', spellcheck: false, className: 'num' });
    const msg = el('span', { className: 'msg', 'aria-live': 'polite', hidden: true });
    container.append(el('div', { className: 'field' }, el('label', { htmlFor: id }, `bias, channel ${c}`), text, msg));
    const take = (show) => {
      const r = parseDecimal(text.value);
      if (r.error) { if (show) setMessage(text, r.error); return; }
      if (!Number.isFinite(Math.fround(r.value))) { if (show) setMessage(text, 'too large for float32'); return; }
      clearParse(text);
      if (Math.fround(this.draft.params.bias[c]) !== Math.fround(r.value)) this.commit(text, (d) => { d.params.bias[c] = r.value; });
    };
    text.addEventListener('input', () => take(false));
    text.addEventListener('change', () => take(true));
    return { text };
  }

  /** Show an engine error beside the control that caused it (or its group). */
  showError(field, message) {
    const group = field?.closest?.('[data-group]');
    if (field && field.closest('.field, .row, #input-codes-row')?.querySelector('.msg')) {
      setMessage(field, message, 'engine');
      this.errorField = field;
      return field;
    }
    const msg = group?.querySelector('p.msg');
    if (msg) msg.textContent = message;
    return msg;
  }
}

/** Input channels per page of the weight grid: about 150 weights. */
function weightsPerPage(kh, kw) {
  return Math.max(1, Math.min(32, Math.floor(150 / (kh * kw))));
}

function formatCodes(codes, shape) {
  const lines = [];
  for (let i = 0; i < codes.length; i += shape.width) lines.push(codes.slice(i, i + shape.width).join(' '));
  return lines.join('\n');
}
