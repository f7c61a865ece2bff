// A page of channels: a list with one row per output channel (weight
// scales, weight zero points, bias) shows CHANNELS_PER_PAGE (8) channels at a time, so a
// 2,048-channel layer builds a few dozen rows, not thousands. The pager is a
// channel number (its page is shown) and earlier/later buttons; it is hidden
// while every channel fits on one page.
import { el } from './dom.js';
import { parseInteger, setMessage } from './controls.js';

export const CHANNELS_PER_PAGE = 8;

export class Pager {
  /** `what`: the rows' name, for labels ("weight scales"); onPage(channel): show the page of `channel`. */
  constructor(id, what, onPage) {
    this.n = 1;
    this.channel = 0;
    this.num = el('input', { type: 'number', id, min: 0, step: 1, className: 'num' });
    this.of = el('span', { className: 'hint' });
    const button = (dir, text) => {
      const b = el('button', { type: 'button' },
        ...(dir < 0 ? [el('span', { 'aria-hidden': 'true' }, '‹ ')] : []),
        text, el('span', { className: 'vh' }, ` ${CHANNELS_PER_PAGE} channels of the ${what}`),
        ...(dir > 0 ? [el('span', { 'aria-hidden': 'true' }, ' ›')] : []));
      b.addEventListener('click', () => {
        const page = this.page + dir;
        if (page >= 0 && page * CHANNELS_PER_PAGE < this.n) onPage(page * CHANNELS_PER_PAGE);
      });
      return b;
    };
    this.prev = button(-1, 'earlier');
    this.next = button(1, 'later');
    this.row = el('div', { className: 'row pager', hidden: true },
      el('label', { htmlFor: id }, 'channel', el('span', { className: 'vh' }, ` of the ${what} shown`)),
      this.num, this.of, this.prev, this.next, el('span', { className: 'msg', 'aria-live': 'polite', hidden: true }));
    const take = (show) => {
      const r = this.num.validity.badInput ? { error: 'not a whole number' } : parseInteger(this.num.value, 0, this.n - 1);
      if (r.error) { if (show) setMessage(this.num, r.error); return; }
      setMessage(this.num, null);
      if (r.value !== this.shown) onPage(r.value);
    };
    this.num.addEventListener('input', () => take(false));
    this.num.addEventListener('change', () => take(true));
  }

  /** The channel asked for, within the channels there are (the wish is kept for when there are more). */
  get shown() { return Math.max(0, Math.min(this.channel, this.n - 1)); }

  get page() { return Math.floor(this.shown / CHANNELS_PER_PAGE); }

  /** The channels [from, to) of the page shown. */
  get span() {
    const from = this.page * CHANNELS_PER_PAGE;
    return [from, Math.min(this.n, from + CHANNELS_PER_PAGE)];
  }

  /** `n` channels, the page of `channel` shown. */
  set(n, channel) {
    this.n = n;
    this.channel = channel;
    const paged = n > CHANNELS_PER_PAGE;
    if (this.row.hidden === paged) this.row.hidden = !paged;
    if (!paged) return;
    if (this.num.max !== String(n - 1)) this.num.max = String(n - 1);
    if (this.num !== document.activeElement && this.num.value !== String(this.shown)) this.num.value = String(this.shown);
    const [from, to] = this.span;
    const t = `shows ${from}–${to - 1} of 0–${n - 1}`;
    if (this.of.textContent !== t) this.of.textContent = t;
    if (this.prev.disabled !== (from === 0)) this.prev.disabled = from === 0;
    if (this.next.disabled !== (to >= n)) this.next.disabled = to >= n;
  }
}
