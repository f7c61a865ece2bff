// The story at the top of the page: the preset's one line (the forum's with
// a link to its thread), what the selected pixel computes in words (input
// codes × weight codes + bias → A gives this, B gives that), and one button
// per hand assumption that undoes it alone, showing what that gives here.
import { el, clear, f32str } from './dom.js';

export class Story {
  constructor(root, { apply, current }) {
    this.root = root;
    this.apply = apply;
    this.current = current;
    this.presets = new Map();
    this.id = null; // the preset the scenario came from, while it is that preset's
  }

  build(presets) {
    this.presets = new Map(presets.map((p) => [p.id, p]));
  }

  /** onApplied listener. */
  follow(scenario, frame, { source }) {
    // A scenario from elsewhere is no longer the preset's (a picture replaces its input).
    if (['link', 'paste', 'calibrate', 'file', 'picture'].includes(source)) this.id = null;
    const r = this.root;
    const p = this.id ? this.presets.get(this.id) : null;
    const line = r.querySelector('#story-line');
    clear(line);
    if (p?.story) {
      line.append(p.story);
      if (p.thread) line.append(' ', el('a', { href: p.thread, rel: 'noopener' }, 'Read the forum thread'), '.');
    }
    line.hidden = !p?.story;
    const px = r.querySelector('#story-pixel');
    const undo = r.querySelector('#story-undo');
    clear(undo);
    const x = frame.inspect?.explanation;
    if (!x) {
      px.textContent = 'Select a pixel in the map to see what it computes.';
      undo.hidden = true;
      return;
    }
    const live = x.taps.filter((t) => t.input_yx);
    const terms = live.length <= 4
      ? live.map((t) => `input code ${t.qx} × weight ${t.qw}`).join(' + ') || 'only padding'
      : `${live.length} products of input and weight codes`;
    const bias = scenario.params.bias?.[x.channel];
    const where = frame.channels > 1 ? `Channel ${x.channel}, row ${x.row}, col ${x.col}` : `Row ${x.row}, col ${x.col}`;
    const result = x.out_a === x.out_b
      ? `${frame.a_title} and ${frame.b_title} both give ${x.out_a}.`
      : `${frame.a_title} gives ${x.out_a}; ${frame.b_title} gives ${x.out_b}.`;
    px.textContent = `${where}: ${terms}${bias !== undefined && bias !== null ? ` + bias ${f32str(bias)}` : ''}. ${result}`;
    undo.hidden = x.undo.length === 0;
    if (x.undo.length) {
      const other = (side) => (side === 'a' ? x.out_b : x.out_a);
      undo.append(el('span', { className: 'undo-lead', id: 'undo-lead' }, 'Undo one assumption of the hand calculation:'));
      for (const u of x.undo) {
        const fixes = u.gives === other(u.side);
        const b = el('button', { type: 'button', className: fixes ? 'fixes' : '' }, `${u.label} → ${u.gives}`);
        if (fixes) b.append(el('span', { 'aria-hidden': 'true' }, ' ✓'), el('span', { className: 'vh' }, ', as the engine gives'));
        b.addEventListener('click', () => {
          const s = structuredClone(this.current());
          s[u.side] = { kind: 'hand', ...u.hand };
          this.apply(s, { source: 'story', field: b });
        });
        undo.append(b);
      }
    }
  }
}
