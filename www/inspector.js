// The pixel inspector: both traces side by side (every step, float values
// with their bits), the step where they part highlighted, the causes in
// words, which kernel ran each side and why, the int16 pairs that saturated,
// the accumulator's taps, and an aria-live summary.
import { el, clear, f32str } from './dom.js';

function valueCell(step) {
  if (!step) return el('td', { className: 'none' }, '—');
  const td = el('td', {}, el('span', { className: 'val' }, step.decimal));
  if (step.bits) td.append(el('span', { className: 'bits' }, step.bits));
  td.append(el('span', { className: 'kind' }, step.value.type));
  return td;
}

const PAIRS_SHOWN = 4;

const same = (x, y) => x && y && Number(x.value.v) === Number(y.value.v);

// A fixed-point multiplier's formula with the exact real number it stands for,
// m · 2^(shift - 31) as a decimal (BigInt: m · 5^k / 10^k). Written here, not in
// the first-load wasm; the CLI's trace says the same.
function withExact(step, trace) {
  if (!step || step.key !== 'multiplier' || step.value.type !== 'int') return step?.formula;
  const shift = trace.steps.find((s) => s.key === 'shift');
  if (!shift || /exactly/.test(step.formula)) return step.formula;
  return `${step.formula} = ${pow2Decimal(BigInt(step.value.v), shift.value.v - 31)} exactly`;
}

function pow2Decimal(m, e) {
  const neg = m < 0n;
  let n = neg ? -m : m;
  if (e >= 0) return `${neg ? '-' : ''}${n << BigInt(e)}`;
  const k = -e;
  const digits = (n * 5n ** BigInt(k)).toString().padStart(k + 1, '0');
  const int = digits.slice(0, digits.length - k);
  const frac = digits.slice(digits.length - k).replace(/0+$/, '');
  return `${neg ? '-' : ''}${int}${frac ? `.${frac}` : ''}`;
}

export class Inspector {
  constructor(root) {
    this.root = root;
    this.frame = null;
    // The taps table is built only while it is open.
    root.querySelector('#taps-wrap').addEventListener('toggle', () => this.#taps());
  }

  show(frame) {
    this.frame = frame;
    const r = this.root;
    const ins = frame.inspect;
    const summary = r.querySelector('#inspector-summary');
    const causes = r.querySelector('#causes');
    const body = r.querySelector('#trace tbody');
    clear(causes);
    clear(body);
    r.querySelector('#trace-a').textContent = `A: ${frame.a_title}`;
    r.querySelector('#trace-b').textContent = `B: ${frame.b_title}`;
    const pairs = r.querySelector('#saturated-pairs');
    const pairList = r.querySelector('#saturated-pairs-list');
    clear(pairList);
    pairs.hidden = true;
    if (!ins) {
      summary.textContent = 'Select a pixel in the map (click it, or focus the map and use the arrow keys).';
      r.dataset.pixel = '';
      r.querySelector('#kernel-a').textContent = frame.kernel_a.why;
      r.querySelector('#kernel-b').textContent = frame.kernel_b.why;
      return;
    }
    const x = ins.explanation;
    r.dataset.pixel = `${x.channel},${x.row},${x.col}`;
    const head = `Channel ${x.channel}, row ${x.row}, col ${x.col}: A = ${x.out_a}, B = ${x.out_b}${ins.clamped ? ' (A is clamped here)' : ''}. `;
    summary.textContent = head + x.summary;
    for (const c of x.causes) {
      causes.append(el('li', { 'data-code': c.code }, el('code', {}, c.code), ' ', c.text));
    }
    r.querySelector('#kernel-a').textContent = x.kernel_a;
    r.querySelector('#kernel-b').textContent = x.kernel_b;
    // The saturated int16 pairs, in the engine's words (the first few).
    const words = frame.saturated_pairs_text ?? [];
    if (words.length) {
      const shown = words.slice(0, PAIRS_SHOWN);
      r.querySelector('#saturated-pairs-title').textContent = `${words.length} pair${words.length === 1 ? '' : 's'} of u8·s8 products saturated to int16 at this pixel`
        + (words.length > shown.length ? ` (the first ${shown.length}):` : ':');
      for (const w of shown) pairList.append(el('li', {}, w));
      if (words.length > shown.length) pairList.append(el('li', { className: 'more' }, `… and ${words.length - shown.length} more`));
      pairs.hidden = false;
    }
    // Rows: A's steps in order, B's extra steps after the A step they follow.
    const bKeys = new Map(x.b.steps.map((s) => [s.key, s]));
    const aKeys = new Set(x.a.steps.map((s) => s.key));
    const rows = [];
    for (const s of x.a.steps) rows.push([s, bKeys.get(s.key)]);
    let at = 0;
    for (const s of x.b.steps) {
      const i = rows.findIndex(([a]) => a && a.key === s.key);
      if (i >= 0) { at = i + 1; continue; }
      if (!aKeys.has(s.key)) rows.splice(at++, 0, [null, s]);
    }
    for (const [a, b] of rows) {
      const step = a ?? b;
      const parts = x.parts_at && step.key === x.parts_at;
      // Marked only where the values read differently: 0.0317 as float32 and
      // as float64 are different numbers but the same printed value.
      const differs = a && b && !same(a, b) && a.decimal !== b.decimal;
      const label = el('th', { scope: 'row' }, el('span', { className: 'label' }, step.label));
      if (parts) label.append(el('strong', { className: 'parts-mark' }, ' ◀ they part here'));
      else if (differs) label.append(el('span', { className: 'differs-mark', title: 'values differ' }, ' ≠'));
      const formulas = [withExact(a, x.a), withExact(b, x.b)].filter(Boolean);
      const unique = [...new Set(formulas)];
      if (unique.length) label.append(el('span', { className: 'formula' }, unique.join(' | ')));
      const tr = el('tr', { 'data-key': step.key, className: [parts ? 'parts' : '', differs ? 'differs' : ''].join(' ').trim() }, label, valueCell(a), valueCell(b));
      body.append(tr);
    }
    this.#taps();
  }

  // Across runtimes: what the export path changed for the converted side
  // (the list arrives after the frame; `error` when it could not be made).
  conversions(f, list, error = null) {
    const box = this.root.querySelector('#conversions');
    const body = box.querySelector('tbody');
    clear(body);
    box.hidden = !f.converted_side;
    if (box.hidden) return;
    const title = f.converted_side === 'A' ? f.a_title : f.b_title;
    box.querySelector('#conversions-title').textContent = error
      ? `Across runtimes: ${f.converted_side} (${title}) runs on a converted scenario; the list failed: ${error}`
      : `Across runtimes: ${f.converted_side} (${title}) runs on the scenario converted the way the export path does`;
    // A float bias is a float32: its shortest decimal, as PyTorch prints it.
    const from = (c) => (c.field === 'bias' && typeof c.from === 'number' ? f32str(c.from) : String(c.from));
    for (const c of list) {
      const field = c.channel == null ? c.field : `${c.field}[${c.channel}]`;
      const to = c.exact == null ? String(c.to) : `${c.to} (from ${c.exact})`;
      body.append(el('tr', {}, el('th', { scope: 'row' }, field), el('td', {}, from(c)), el('td', {}, to),
        el('td', {}, c.rule), el('td', { className: 'source' }, c.source)));
    }
    box.dataset.rows = String(list.length);
    // Where A and B part at the bias (or the sum with it), the exported
    // int32 bias is a cause, with its rule (the engine's explanation does not
    // know the list).
    const x = f.inspect?.explanation;
    const atBias = x && x.out_a !== x.out_b && ['bias_term', 'sum'].includes(x.parts_at);
    const bias = atBias && list.find((c) => c.field === 'bias' && c.channel === x.channel);
    if (bias) {
      this.root.querySelector('#causes').append(el('li', { 'data-code': 'export_bias' }, el('code', {}, 'export_bias'),
        ` the exported model carries the float bias ${from(bias)} as the int32 ${bias.to}: ${bias.exact} in accumulator units, ${bias.rule} (${bias.source})`));
    }
  }

  #taps() {
    const r = this.root;
    const list = this.frame?.inspect?.explanation.taps;
    const taps = r.querySelector('#taps tbody');
    clear(taps);
    if (!list) return;
    const sum = list.reduce((t, p) => t + p.product, 0);
    r.querySelector('#taps-summary').textContent = `Accumulator: ${list.length} tap${list.length === 1 ? '' : 's'}, sum ${sum}`;
    if (!r.querySelector('#taps-wrap').open) return;
    for (const t of list) {
      taps.append(el('tr', {},
        el('td', {}, t.in_channel), el('td', {}, t.ky), el('td', {}, t.kx),
        el('td', {}, t.input_yx ? `${t.input_yx[0]}, ${t.input_yx[1]}` : 'padding'),
        el('td', {}, t.qx), el('td', {}, t.qw), el('td', {}, t.product)));
    }
  }
}
