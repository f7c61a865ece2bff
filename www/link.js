// Permalinks: the whole scenario in the URL fragment (encoded and decoded in
// Rust, src/link.rs, through the worker). The address bar follows the state:
// replaceState while a control is being dragged or typed in (debounced, skipped
// when unchanged), pushState for deliberate steps (a preset, a computation
// picker), and Back/Forward or an edited fragment bring a state back. History
// calls never throw out of here (browsers refuse them when called too often).
// Link text only ever reaches the page as textContent.
import { el, clear } from './dom.js';

const DEBOUNCE_MS = 350;

/** Is this change a deliberate step (its own history entry)? */
function deliberate(source, field) {
  if (['preset', 'paste', 'calibrate', 'story', 'file', 'picture'].includes(source)) return true;
  if (source !== 'controls' || !field) return false;
  const id = typeof field === 'string' ? field : field.id;
  return id === 'comp-a' || id === 'comp-b' || id === 'swap' || id === 'platform';
}

export class Permalink {
  /**
   * engine: www/engine.js Engine; root: the element holding the link controls
   * (#link-tools) and the banner (#link-banner).
   */
  constructor(engine, { apply, current, openFileLink }) {
    this.engine = engine;
    this.apply = apply;
    this.current = current;
    this.openFileLink = openFileLink; // (payload) => opens it as a scenario file (www/files.js)
    this.fragment = null; // the fragment of the state on screen
    this.pendingTimer = 0;
    this.applying = false;
    this.banner = document.querySelector('#link-banner');
    this.bannerList = document.querySelector('#link-banner-list');
    this.copyButton = document.querySelector('#copy-link');
    this.feedback = document.querySelector('#copy-feedback');
    this.linkText = document.querySelector('#link-text');
    this.hideBoxes = document.querySelector('#hide-groups');
    document.querySelector('#link-banner-close')?.addEventListener('click', () => { this.banner.hidden = true; });
    this.copyButton?.addEventListener('click', () => this.copy());
    window.addEventListener('popstate', () => this.fromAddress('popstate'));
    window.addEventListener('hashchange', () => this.fromAddress('hashchange'));
  }

  /** The hideable control groups ([{id, title}], from the schema). */
  build(groups) {
    this.groups = groups;
    this.buildHideBoxes();
  }

  /** The scenario of the address bar's link at start-up, or null (no link). */
  async initial() {
    const text = location.hash.slice(1);
    if (!text || isAnchor(text)) return null;
    if (isFileLink(text)) {
      // Opened (or refused, with its messages) as a file; null leaves the rest to the caller.
      await this.fileLink(text);
      return null;
    }
    const r = await this.engine.unlink(text);
    if (r.cancelled) return null;
    if (!r.ok) {
      this.showNotes([{ key: '', message: r.error }]);
      return null;
    }
    this.showNotes(r.value.notes);
    return r.value.scenario;
  }

  /** onApplied listener: keep the address bar on the state shown. */
  async follow(scenario, _frame, { source, field }) {
    // Read before awaiting: `applying` is only true while its apply runs.
    const replacing = source === 'start' || source === 'link' || this.applying;
    clearTimeout(this.pendingTimer);
    if (replacing || deliberate(source, field)) {
      await this.show(scenario, replacing ? 'replace' : 'push');
    } else {
      // Dragging a slider or typing: one entry, once the edits pause for
      // DEBOUNCE_MS. The link is encoded then too: the worker encodes it
      // (deflating every weight), and the drag's next step would wait for it.
      this.pendingTimer = setTimeout(() => this.show(scenario, 'replace'), DEBOUNCE_MS);
    }
  }

  /** Encode `scenario`'s link, show it and write it to the address (`how`: 'push' or 'replace'). */
  async show(scenario, how) {
    const r = await this.engine.link(scenario);
    if (!r.ok) return;
    const fragment = r.value;
    this.fragment = fragment;
    this.linkText.value = this.url(fragment);
    this.syncHideBoxes(scenario.view?.hide ?? []);
    this.write(how, fragment);
  }

  url(fragment) {
    return `${location.origin}${location.pathname}${location.search}#${fragment}`;
  }

  write(how, fragment) {
    if (location.hash.slice(1) === fragment) return;
    try {
      if (how === 'push') history.pushState(null, '', `#${fragment}`);
      else history.replaceState(null, '', `#${fragment}`);
    } catch (err) {
      // e.g. SecurityError when throttled: the page keeps working, the bar lags.
      console.warn('address bar not updated:', err?.message ?? err);
    }
  }

  /** Back/Forward or an edited fragment: show that state. */
  async fromAddress(why) {
    const text = location.hash.slice(1);
    if (!text || text === this.fragment || isAnchor(text)) return;
    this.fragment = text;
    if (isFileLink(text)) return this.fileLink(text);
    const r = await this.engine.unlink(text);
    if (r.cancelled) return;
    if (!r.ok) return this.showNotes([{ key: '', message: r.error }]);
    this.showNotes(r.value.notes);
    this.applying = true;
    try {
      await this.apply(r.value.scenario, { source: 'link', field: why });
    } finally {
      this.applying = false;
    }
  }

  /**
   * `#f=…`: the scenario file itself in the address. It opens as a file would
   * (same reading, messages and all-or-nothing); on success the address is
   * replaced by the scenario's usual link, as after any link.
   */
  async fileLink(text) {
    this.applying = true;
    try {
      return await this.openFileLink(text.slice(2));
    } finally {
      this.applying = false;
    }
  }

  showNotes(notes) {
    clear(this.bannerList);
    if (!notes || notes.length === 0) {
      this.banner.hidden = true;
      return;
    }
    for (const n of notes.slice(0, 40)) {
      this.bannerList.append(el('li', {}, n.key ? el('code', {}, n.key) : '', n.key ? ' ' : '', n.message));
    }
    if (notes.length > 40) this.bannerList.append(el('li', {}, `… and ${notes.length - 40} more`));
    this.banner.hidden = false;
  }

  async copy() {
    clearTimeout(this.pendingTimer);
    const s = this.current();
    if (!s) return;
    const r = await this.engine.link(s);
    if (!r.ok) return this.say(r.error);
    this.write('replace', r.value);
    const url = this.url(r.value);
    this.linkText.value = url;
    try {
      await navigator.clipboard.writeText(url);
      this.say('Link copied.');
    } catch {
      // No clipboard (permissions, insecure context): select it for Ctrl+C.
      this.linkText.focus();
      this.linkText.select();
      this.say('Press Ctrl+C to copy the selected link.');
    }
  }

  say(text) {
    this.feedback.textContent = text;
    clearTimeout(this.sayTimer);
    this.sayTimer = setTimeout(() => { this.feedback.textContent = ''; }, 4000);
  }

  /** Classroom links: one checkbox per hideable control group. */
  buildHideBoxes() {
    if (!this.hideBoxes) return;
    for (const { id: g, title } of this.groups) {
      const id = `hide-${g}`;
      const box = el('input', { type: 'checkbox', id, value: g });
      box.addEventListener('change', () => {
        const s = this.current();
        if (!s) return;
        const hide = [...this.hideBoxes.querySelectorAll('input:checked')].map((b) => b.value);
        // Hiding applies when the link is opened, not here, so the teacher keeps the controls.
        this.apply({ ...s, view: { ...s.view, hide } }, { source: 'classroom' });
      });
      this.hideBoxes.append(el('label', { className: 'check' }, box, ` ${title}`));
    }
  }

  syncHideBoxes(hide) {
    for (const b of this.hideBoxes?.querySelectorAll('input') ?? []) b.checked = hide.includes(b.value);
  }
}

/** `#f=…`: a file link (src/scenario_file.rs FILE_LINK_KEY). */
function isFileLink(text) {
  return text.startsWith('f=');
}

/** A fragment naming an element of the page (`#heatmap-canvas`) is an in-page anchor, not a link. */
function isAnchor(text) {
  return /^[A-Za-z][\w-]*$/.test(text) && document.getElementById(text) !== null;
}
