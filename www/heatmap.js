// The heatmap: draws the RGBA that Rust painted (one putImageData per
// frame, no per-pixel JS), the selection ring, the legend, the counts and the
// text alternative (summary + table of differing pixels). Hover reads codes
// from the frame's planes; click and arrow keys select a pixel through
// `onSelect(row, col)`; channel and map pickers call `onView(patch)`. The map
// kinds come from the engine's schema (`build(schema)`).
import { el, clear } from './dom.js';

const signed = (d) => (d > 0 ? `+${d}` : d < 0 ? `−${-d}` : '0');

export class Heatmap {
  constructor(root, { onSelect, onView }) {
    this.root = root;
    this.canvas = root.querySelector('#heatmap-canvas');
    this.ctx = this.canvas.getContext('2d');
    this.onSelect = onSelect;
    this.onView = onView;
    this.frame = null;
    this.image = null;
    this.selected = null;
    this.canvas.addEventListener('mousemove', (e) => this.#hover(e));
    this.canvas.addEventListener('mouseleave', () => { root.querySelector('#hover').textContent = ''; });
    this.canvas.addEventListener('click', (e) => {
      const p = this.#cellAt(e);
      if (p) { this.canvas.focus(); this.select(p[0], p[1]); }
    });
    this.canvas.addEventListener('keydown', (e) => this.#key(e));
    // The text table is built only while it is open (it can be long).
    root.querySelector('#diff-table-wrap').addEventListener('toggle', () => this.#table());
    root.querySelector('#channel').addEventListener('change', (e) => this.onView({ channel: Number(e.target.value) }));
    this.maps = new Map();
  }

  /** The map pickers: one radio per heatmap kind of the schema. */
  build(schema) {
    const box = this.root.querySelector('#map-kinds');
    for (const m of schema.maps) {
      this.maps.set(m.id, m.title);
      const r = el('input', { type: 'radio', name: 'map', value: m.id, id: `map-${m.id}` });
      r.addEventListener('change', () => { if (r.checked) this.onView({ map: r.value }); });
      box.append(el('label', { htmlFor: r.id }, r, ` ${m.title}`));
    }
  }

  /** Draw a frame (the worker's reply). */
  draw(frame) {
    this.frame = frame;
    const { width, height } = frame;
    if (this.canvas.width !== width || this.canvas.height !== height) {
      this.canvas.width = width;
      this.canvas.height = height;
    }
    // Display size: Rust paints cells up to 256 px per side; CSS scales the
    // canvas up (pixelated) to about 512 px.
    const scale = Math.max(1, Math.floor(512 / Math.max(width, height)));
    if (this.canvas.style.width !== `${width * scale}px`) this.canvas.style.width = `${width * scale}px`;
    this.image = new ImageData(frame.rgba, width, height);
    this.selected = frame.view.pixel ? [...frame.view.pixel] : null;
    this.#paint();

    const r = this.root;
    const chSel = r.querySelector('#channel');
    if (chSel.options.length !== frame.channels) {
      clear(chSel);
      for (let c = 0; c < frame.channels; c++) chSel.append(el('option', { value: c }, String(c)));
    }
    // Each channel with its number of differing pixels, so the one that
    // matters can be found among many.
    const counts = frame.differing_by_channel ?? [];
    for (let c = 0; c < frame.channels; c++) {
      const t = counts[c] ? `${c} (${counts[c]} differ)` : String(c);
      if (chSel.options[c].textContent !== t) chSel.options[c].textContent = t;
    }
    if (chSel.value !== String(frame.view.channel)) chSel.value = String(frame.view.channel);
    for (const radio of r.querySelectorAll('input[name=map]')) {
      if (radio.checked !== (radio.value === frame.view.map)) radio.checked = radio.value === frame.view.map;
    }

    const n = frame.differing_by_channel[frame.view.channel];
    const count = r.querySelector('#count');
    count.textContent = `${n} of ${frame.rows * frame.cols} pixels differ`
      + (frame.channels > 1 ? ` in channel ${frame.view.channel} (${frame.differing} in all ${frame.channels} channels)` : '')
      + (frame.exact_ties != null
        ? ` · ${frame.exact_ties} exact ties, ${frame.near_ties} within 0.01 of .5 (A)` : '')
      + (frame.saturated != null
        ? ` · ${frame.saturated} pixel${frame.saturated === 1 ? '' : 's'} whose accumulator saturated` : '');
    count.dataset.differing = String(n);
    if (frame.saturated != null) count.dataset.saturated = String(frame.saturated);
    else delete count.dataset.saturated;
    this.canvas.setAttribute('aria-label', `Heatmap, ${this.maps.get(frame.view.map) ?? frame.view.map}, channel ${frame.view.channel}, ${frame.rows} by ${frame.cols} pixels`);
    const note = `A: ${frame.kernel_a.why} / B: ${frame.kernel_b.why}`;
    const kn = r.querySelector('#kernel-note');
    if (kn.textContent !== note) kn.textContent = note;
    r.querySelector('#map-summary').textContent = frame.summary;
    this.#legend(frame);
    this.#table();
  }

  #legend(frame) {
    const key = JSON.stringify([frame.legend_title, frame.legend, frame.clamped]);
    if (key === this.legendKey) return;
    this.legendKey = key;
    const box = this.root.querySelector('#legend');
    clear(box);
    box.append(el('p', { className: 'legend-title' }, frame.legend_title));
    const list = el('ul', { className: 'swatches' });
    for (const e of frame.legend) {
      list.append(el('li', {}, el('span', { className: 'swatch', style: `background:${e.colour}`, 'aria-hidden': 'true' }), e.label));
    }
    list.append(el('li', {}, el('span', { className: 'swatch clamp', 'aria-hidden': 'true' },
      el('span', { className: 'dot', style: `background:${frame.clamp_colour}` })), `A clamped (${frame.clamped} here)`));
    box.append(list);
  }

  #table() {
    const frame = this.frame;
    const wrap = this.root.querySelector('#diff-table-wrap');
    const n = frame.differing_by_channel[frame.view.channel];
    wrap.querySelector('summary').textContent = `Table of differing pixels (${n})`;
    const body = this.root.querySelector('#diff-table tbody');
    clear(body);
    if (!wrap.open) return;
    for (const p of frame.list) {
      const tr = el('tr', {}, el('td', {}, p.row), el('td', {}, p.col), el('td', {}, p.a), el('td', {}, p.b), el('td', {}, signed(p.a - p.b)));
      body.append(tr);
    }
    const more = this.root.querySelector('#diff-table-more');
    more.textContent = frame.list.length === 0 ? 'No pixel differs in this channel.'
      : frame.list_more > 0 ? `… and ${frame.list_more} more.` : '';
  }

  #paint() {
    if (!this.image) return;
    this.ctx.putImageData(this.image, 0, 0);
    if (!this.selected) return;
    const cell = this.frame.cell;
    const [row, col] = this.selected;
    const pad = cell < 4 ? 3 : 1;
    const x = col * cell - pad, y = row * cell - pad, s = cell + 2 * pad - (cell >= 6 ? 1 : 0);
    this.ctx.lineWidth = 2;
    this.ctx.strokeStyle = '#000';
    this.ctx.strokeRect(x + 1, y + 1, s - 2, s - 2);
    if (s > 6) {
      this.ctx.strokeStyle = '#fff';
      this.ctx.lineWidth = 1;
      this.ctx.strokeRect(x + 2.5, y + 2.5, s - 5, s - 5);
    }
  }

  #cellAt(e) {
    const f = this.frame;
    if (!f) return null;
    const r = this.canvas.getBoundingClientRect();
    const col = Math.floor(((e.clientX - r.left) / r.width) * f.cols);
    const row = Math.floor(((e.clientY - r.top) / r.height) * f.rows);
    if (row < 0 || col < 0 || row >= f.rows || col >= f.cols) return null;
    return [row, col];
  }

  #hover(e) {
    const p = this.#cellAt(e);
    const out = this.root.querySelector('#hover');
    if (!p || !this.frame.a) { out.textContent = ''; return; }
    const i = p[0] * this.frame.cols + p[1];
    const a = this.frame.a[i], b = this.frame.b[i];
    out.textContent = `row ${p[0]}, col ${p[1]}: A ${a}, B ${b}, A − B ${signed(a - b)} (click to inspect)`;
  }

  /** Select a pixel: repaint the ring now, ask for the explanation. */
  select(row, col) {
    this.selected = [row, col];
    this.#paint();
    this.onSelect(row, col);
  }

  #key(e) {
    const f = this.frame;
    if (!f) return;
    const [row, col] = this.selected ?? [0, 0];
    const step = e.shiftKey ? 8 : 1;
    let next = null;
    switch (e.key) {
      case 'ArrowLeft': next = [row, col - step]; break;
      case 'ArrowRight': next = [row, col + step]; break;
      case 'ArrowUp': next = [row - step, col]; break;
      case 'ArrowDown': next = [row + step, col]; break;
      case 'Home': next = [row, 0]; break;
      case 'End': next = [row, f.cols - 1]; break;
      case 'Enter': case ' ': next = [row, col]; break;
      default: return;
    }
    e.preventDefault();
    next = [Math.min(f.rows - 1, Math.max(0, next[0])), Math.min(f.cols - 1, Math.max(0, next[1]))];
    this.select(next[0], next[1]);
  }
}
