// "Paste from PyTorch": the printouts people copy from a Python session
// (module reprs, int_repr() tensors, weight printouts, float tensors), read by
// the engine (src/paste/ through the worker). The whole paste applies
// ({source: 'paste'}) or nothing does: an error names the line and the
// scenario on screen stays. Values printed with few decimals are marked
// rounded; a pasted output tensor is checked against fbgemm, and when they
// differ the check names the rounded printouts that explain it. Suggestions
// are only those the engine found to reduce the mismatch; each can be applied,
// and the output is re-checked after each step.
import { el, clear } from './dom.js';
import { setMessage } from './controls.js';

/** Set a paste field name (`input_scale`, `weight_scale[0]`, `bias[1]`, ...) in a scenario. */
function setField(s, field, value) {
  const p = s.params;
  const m = /^(\w+?)(?:\[(\d+)\])?$/.exec(field);
  if (!m) return false;
  const [, name, idx] = m;
  const i = idx === undefined ? 0 : Number(idx);
  switch (name) {
    case 'input_scale': p.input_scale = value; return true;
    case 'output_scale': p.output_scale = value; return true;
    case 'weight_scale':
      if (i >= p.weight_scales.length) return false;
      p.weight_scales[i] = value; return true;
    case 'bias':
      if (!p.bias || i >= p.bias.length) return false;
      p.bias[i] = Math.fround(value); return true;
    default: return false;
  }
}

export class Paste {
  constructor(root, { engine, apply, current }) {
    this.root = root;
    this.engine = engine;
    this.apply = apply;
    this.current = current;
    this.text = null; // the text last imported
    this.q = (sel) => root.querySelector(sel);
    this.input = this.q('#paste-text');
    this.q('#paste-import').addEventListener('click', () => this.import());
  }

  error(text) {
    setMessage(this.input, text, 'engine');
  }

  async import() {
    const text = this.input.value;
    setMessage(this.input, null);
    const base = this.current();
    if (!base) return { ok: false, error: 'the page has no scenario yet' };
    const r = await this.engine.paste(text, base);
    if (!r.ok) {
      // Nothing applied: the scenario on screen stays.
      this.error(r.error);
      return r;
    }
    // An import is a new scenario: it opens where most pixels differ.
    const next = r.value.scenario;
    const a = await this.apply({ ...next, view: { ...next.view, fresh: true } }, { source: 'paste', field: this.input });
    if (!a.ok) {
      if (!a.superseded) this.error(a.error);
      return a;
    }
    this.text = text;
    this.show(r.value);
    return a;
  }

  show(v) {
    this.q('#paste-result').hidden = false;
    const found = this.q('#paste-found');
    clear(found);
    for (const f of v.paste.found) {
      const lines = f.lines.first === f.lines.last ? `line ${f.lines.first}` : `lines ${f.lines.first}–${f.lines.last}`;
      found.append(el('li', {}, el('strong', {}, lines), `: ${f.what} (${f.why})`));
    }
    const tb = this.q('#paste-fields tbody');
    clear(tb);
    for (const f of v.paste.fields) {
      const rounded = !f.value.exact;
      tb.append(el('tr', { 'data-field': f.name, className: rounded ? 'rounded' : '' },
        el('th', { scope: 'row' }, f.name),
        el('td', {}, f.value.value),
        el('td', {}, f.value.text, ' ', el('span', { className: rounded ? 'tag rounded' : 'tag exact' },
          rounded ? `rounded (±${f.value.half_width})` : 'exact'))));
    }
    const sug = this.q('#paste-suggestions');
    clear(sug);
    if (v.paste.suggestions.length === 0) {
      sug.append(el('li', {}, v.check?.first_difference
        ? 'none: no rounded value, moved within its rounding, makes the engine closer to the pasted output'
        : 'none (suggestions are offered only when a pasted output lets the engine check them)'));
    }
    for (const [i, s] of v.paste.suggestions.entries()) {
      const after = s.mismatches_after ?? null;
      const label = after === null ? `Use ${s.field} = ${s.candidate}` : `Use ${s.field} = ${s.candidate} (${after} of ${v.check?.total ?? '?'} values then differ, not ${s.mismatches_before})`;
      const b = el('button', { type: 'button', 'data-suggestion': i }, label);
      const msg = el('span', { className: 'msg', 'aria-live': 'polite' });
      b.addEventListener('click', () => this.useSuggestion(s, b, msg));
      sug.append(el('li', { 'data-field': s.field }, el('p', {}, s.reasoning, ` (assuming ${s.assumption})`), b, ' ', msg));
    }
    const notes = this.q('#paste-notes');
    clear(notes);
    for (const n of v.notes) {
      if (n.kind === 'suggestion' || n.kind === 'check') continue;
      notes.append(el('li', { 'data-kind': n.kind }, el('span', { className: `tag ${n.kind}` }, n.kind), ' ', n.message));
    }
    this.showCheck(v.check);
  }

  showCheck(check) {
    const p = this.q('#paste-check');
    if (!check) {
      p.textContent = 'The paste had no output tensor to check.';
      p.dataset.kind = '';
      return;
    }
    p.textContent = check.first_difference
      ? `✗ ${check.message}.`
      : `✓ ${check.message}.`;
    p.dataset.kind = check.first_difference ? 'differs' : 'agrees';
  }

  /** Apply one suggested value to the scenario on screen, then re-check the pasted output. */
  async useSuggestion(s, button, msg) {
    const cur = this.current();
    if (!cur) return;
    const next = structuredClone(cur);
    if (!setField(next, s.field, s.candidate)) {
      msg.textContent = `the scenario has no ${s.field} any more`;
      return;
    }
    const r = await this.apply(next, { source: 'paste', field: button });
    if (!r.ok) {
      msg.textContent = r.error ?? 'not applied';
      return r;
    }
    msg.textContent = `applied: ${s.field} = ${s.candidate}`;
    if (this.text !== null) {
      const c = await this.engine.pasteCheck(this.text, this.current());
      if (c.ok) this.showCheck(c.value);
    }
    return r;
  }
}
