// The heatmap: draws the RGBA that Rust painted (one putImageData per
// frame, no per-pixel JS), the selection ring, the legend, the counts and the
// text alternative (summary + table of differing pixels). Hover reads codes
// from the frame's planes; click and arrow keys select a pixel through
// `onSelect(row, col)`; channel, map and clamp-mark pickers call
// `onView(patch)`. The map kinds and labels come from the engine's schema
// (`build(schema)`). Zoom and pan (wheel, pinch, drag, + and −) are a view of
// the painted buffer (drawImage without smoothing): they never ask the engine.
import { el, clear } from './dom.js';
import { ZoomView } from './zoom.js';
import { parseInteger, setMessage } from './controls.js';

const TOP_CHANNELS = 12; // channels listed under "where most differ"

/** The channels with differing pixels, most first (ties: lower channel first), at most `k`. */
export function mostDiffering(counts, k) {
  const idx = [];
  for (let c = 0; c < counts.length; c++) if (counts[c] > 0) idx.push(c);
  idx.sort((x, y) => counts[y] - counts[x] || x - y);
  return idx.slice(0, k);
}

/** The next channel after `from` (dir 1) or before it (dir -1) where pixels differ, wrapping; null if none other. */
export function nextDiffering(counts, from, dir) {
  const n = counts.length;
  for (let i = 1; i < n; i++) {
    const c = (((from + dir * i) % n) + n) % n;
    if (counts[c] > 0) return c;
  }
  return null;
}

const signed = (d) => (d > 0 ? `+${d}` : d < 0 ? `−${-d}` : '0');

export class Heatmap {
  constructor(root, { onSelect, onView }) {
    this.root = root;
    this.canvas = root.querySelector('#heatmap-canvas');
    this.ctx = this.canvas.getContext('2d');
    // The painted buffer lives in a canvas of its own; the visible one shows
    // the zoomed part of it.
    this.src = document.createElement('canvas');
    this.zoom = new ZoomView(this.canvas, () => this.#paint());
    this.onSelect = onSelect;
    this.onView = onView;
    this.frame = null;
    this.image = null;
    this.selected = null;
    this.canvas.addEventListener('mousemove', (e) => this.#hover(e));
    this.canvas.addEventListener('mouseleave', () => { root.querySelector('#hover').textContent = ''; });
    this.canvas.addEventListener('click', (e) => {
      if (this.zoom.dragged) return; // the end of a pan, not a pick
      const p = this.#cellAt(e);
      if (p) { this.canvas.focus(); this.select(p[0], p[1]); }
    });
    this.canvas.addEventListener('keydown', (e) => this.#key(e));
    // The text table is built only while it is open (it can be long).
    root.querySelector('#diff-table-wrap').addEventListener('toggle', () => this.#table());
    this.#channelPicker();
    this.maps = new Map();
  }

  /** The map pickers: one radio per heatmap kind of the schema. */
  build(schema) {
    const marks = el('input', { type: 'checkbox', id: 'clamp-marks' });
    marks.addEventListener('change', () => this.onView({ clamp_marks: marks.checked }));
    this.root.querySelector('#map-kinds').after(el('label', { className: 'check', htmlFor: marks.id }, marks, ` ${schema.clamp_marks}`));
    const box = this.root.querySelector('#map-kinds');
    for (const m of schema.maps) {
      this.maps.set(m.id, m.title);
      const r = el('input', { type: 'radio', name: 'map', value: m.id, id: `map-${m.id}` });
      r.addEventListener('change', () => { if (r.checked) this.onView({ map: r.value }); });
      box.append(el('label', { htmlFor: r.id }, r, ` ${m.title}`));
    }
  }

  /** Put a frame's pixels (the worker's reply) on the canvas; `describe` then writes the text around them. */
  draw(frame) {
    this.frame = frame;
    const { width, height } = frame;
    if (this.src.width !== width || this.src.height !== height) {
      this.src.width = width;
      this.src.height = height;
    }
    // The visible canvas: the buffer scaled by a whole number to about 512
    // px (every output pixel at least one canvas pixel); CSS fits it to the
    // column (max-width 100%), so a phone never scrolls sideways.
    const scale = Math.max(1, Math.floor(512 / Math.max(width, height)));
    if (this.canvas.width !== width * scale || this.canvas.height !== height * scale) {
      this.canvas.width = width * scale;
      this.canvas.height = height * scale;
      this.canvas.style.width = `${width * scale}px`;
    }
    this.zoom.fit(width, height, Math.max(frame.rows, frame.cols));
    this.src.getContext('2d').putImageData(new ImageData(frame.rgba, width, height), 0, 0);
    this.image = true;
    this.selected = frame.view.pixel ? [...frame.view.pixel] : null;
    this.#paint();
  }

  /** Everything around the pixels of a drawn frame: pickers, counts, legend, text alternative. */
  describe(frame) {
    const r = this.root;
    this.#syncChannel(frame);
    const marks = r.querySelector('#clamp-marks');
    if (marks && marks.checked !== frame.view.clamp_marks) marks.checked = frame.view.clamp_marks;
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

  // ---- the channel picker -----------------------------------------------------
  // A number for any channel, previous/next channel where A and B differ, and
  // the few channels where most pixels differ: a bounded number of nodes at
  // 4,096 channels, where one <option> per channel was not.

  #channelPicker() {
    const r = this.root;
    const num = r.querySelector('#channel');
    const take = (show) => {
      const f = this.frame;
      if (!f) return;
      const v = num.validity.badInput ? { error: 'not a whole number' } : parseInteger(num.value, 0, f.channels - 1);
      if (v.error) { if (show) setMessage(num, v.error); return; }
      setMessage(num, null);
      // Typing fires input, then change on Enter: one request per channel.
      if (v.value !== (this.askedChannel ?? f.view.channel)) {
        this.askedChannel = v.value;
        this.onView({ channel: v.value });
      }
    };
    num.addEventListener('input', () => take(false));
    num.addEventListener('change', () => take(true));
    const step = (dir) => {
      const c = nextDiffering(this.frame.differing_by_channel, this.frame.view.channel, dir);
      if (c !== null) this.onView({ channel: c });
    };
    r.querySelector('#channel-prev').addEventListener('click', () => step(-1));
    r.querySelector('#channel-next').addEventListener('click', () => step(1));
    const top = r.querySelector('#channel-top');
    top.addEventListener('change', () => {
      if (top.value !== '') this.onView({ channel: Number(top.value) });
    });
  }

  #syncChannel(frame) {
    this.askedChannel = null;
    const r = this.root;
    const n = frame.channels;
    const ch = frame.view.channel;
    const counts = frame.differing_by_channel ?? [];
    const num = r.querySelector('#channel');
    if (num.max !== String(n - 1)) num.max = String(n - 1);
    if (num !== document.activeElement && num.value !== String(ch)) num.value = String(ch);
    const of = `of 0–${n - 1}`;
    if (r.querySelector('#channel-of').textContent !== of) r.querySelector('#channel-of').textContent = of;
    const many = n > 1;
    for (const id of ['#channel-steps', '#channel-top-row']) {
      const node = r.querySelector(id);
      if (node.hidden === many) node.hidden = !many;
    }
    const prev = r.querySelector('#channel-prev'), next = r.querySelector('#channel-next');
    const noOther = nextDiffering(counts, ch, 1) === null;
    if (prev.disabled !== noOther) prev.disabled = noOther;
    if (next.disabled !== noOther) next.disabled = noOther;
    // The channels where most pixels differ, each with its count; the one
    // shown heads the list when it is not among them.
    const best = mostDiffering(counts, TOP_CHANNELS);
    const key = JSON.stringify([ch, best.map((c) => [c, counts[c]]), counts[ch]]);
    const top = r.querySelector('#channel-top');
    if (top.dataset.key === key) return;
    top.dataset.key = key;
    clear(top);
    const label = (c) => `${c} (${counts[c]} differ)`;
    if (!best.length) top.append(el('option', { value: '' }, 'no channel differs'));
    else if (!best.includes(ch)) top.append(el('option', { value: '' }, `— ${ch} shown (${counts[ch] ?? 0} differ)`));
    for (const c of best) top.append(el('option', { value: c }, label(c)));
    top.value = best.includes(ch) ? String(ch) : '';
    top.disabled = !best.length;
  }

  #legend(frame) {
    const key = JSON.stringify([frame.legend_title, frame.legend, frame.clamped, frame.view.clamp_marks]);
    if (key === this.legendKey) return;
    this.legendKey = key;
    const box = this.root.querySelector('#legend');
    clear(box);
    box.append(el('p', { className: 'legend-title' }, frame.legend_title));
    const list = el('ul', { className: 'swatches' });
    for (const e of frame.legend) {
      list.append(el('li', {}, el('span', { className: 'swatch', style: `background:${e.colour}`, 'aria-hidden': 'true' }), e.label));
    }
    // The mark sits in a corner of its cell, over the cell's colour.
    list.append(el('li', {}, el('span', { className: 'swatch clamp', 'aria-hidden': 'true' },
      el('span', { className: 'dot', style: `background:${frame.clamp_colour}` })),
      `corner mark: A clamped (${frame.clamped} here${frame.view.clamp_marks ? '' : '; marks off'})`));
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
    const ctx = this.ctx;
    const { width: W, height: H } = this.canvas;
    const v = this.zoom;
    ctx.imageSmoothingEnabled = false;
    ctx.clearRect(0, 0, W, H);
    ctx.drawImage(this.src, v.sx, v.sy, v.sw, v.sh, 0, 0, W, H);
    if (!this.selected) return;
    // The ring, in visible-canvas pixels.
    const k = W / v.sw;
    const cell = this.frame.cell * k;
    const [row, col] = this.selected;
    const pad = cell < 4 ? 3 : 1;
    const x = (col * this.frame.cell - v.sx) * k - pad, y = (row * this.frame.cell - v.sy) * k - pad;
    const s = cell + 2 * pad - (this.frame.cell >= 6 ? k : 0);
    ctx.lineWidth = 2;
    ctx.strokeStyle = '#000';
    ctx.strokeRect(x + 1, y + 1, s - 2, s - 2);
    if (s > 6) {
      ctx.strokeStyle = '#fff';
      ctx.lineWidth = 1;
      ctx.strokeRect(x + 2.5, y + 2.5, s - 5, s - 5);
    }
  }

  /** The output pixel under a pointer event, through the zoom. */
  #cellAt(e) {
    const f = this.frame;
    if (!f) return null;
    const [ix, iy] = this.zoom.toImage(e.clientX, e.clientY);
    const col = Math.floor(ix / f.cell);
    const row = Math.floor(iy / f.cell);
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
    const c = this.frame.cell;
    this.zoom.show(col * c, row * c, c); // the view follows the selection
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
      case '+': case '=': case '-': case '_': case '0': {
        // Zoom about the selected pixel (the centre without one).
        const c = f.cell;
        const at = this.selected ? [(col + 0.5) * c, (row + 0.5) * c] : null;
        if (e.key === '0') this.zoom.reset();
        else this.zoom.zoomAtImage(e.key === '+' || e.key === '=' ? 2 : 0.5, at);
        e.preventDefault();
        return;
      }
      default: return;
    }
    e.preventDefault();
    next = [Math.min(f.rows - 1, Math.max(0, next[0])), Math.min(f.cols - 1, Math.max(0, next[1]))];
    this.select(next[0], next[1]);
  }
}
