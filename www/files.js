// Scenario files and pictures: open a .json scenario file (picker or drop on
// the page), save the scenario on screen as one, and take the input from a
// PNG/JPEG (www/picture.js). Reading, checking and writing files is Rust's
// (src/scenario_file.rs, in the pytorch wasm, loaded on first use, through the worker; a file link,
// `#f=…` in the address, is the same file, see www/link.js and www/file-text.js): a file either
// applies whole ({source: 'file'}) or not at all, and then its messages go to
// the banner and the scenario on screen stays. The Python snippet that writes
// files from a model is shown here, from the same Rust constant the CLI prints.
import { el, clear } from './dom.js';
import { pictureValues, PICTURE_RULES } from './picture.js';

const IMAGE = /^image\/(png|jpeg)$/;

export class Files {
  /** notes: shows [{key, message}] in the page banner (www/link.js). */
  constructor(root, { engine, apply, current, notes }) {
    this.root = root;
    this.engine = engine;
    this.apply = apply;
    this.current = current;
    this.notes = notes;
    this.q = (sel) => root.querySelector(sel);
    this.msg = this.q('#files-msg');
    this.q('#file-open').addEventListener('change', (e) => this.pick(e.target));
    this.q('#picture-open').addEventListener('change', (e) => this.pick(e.target));
    this.q('#file-save').addEventListener('click', () => this.save());
    this.q('#snippet-details').addEventListener('toggle', () => this.showSnippet());
    this.q('#picture-rules').textContent = PICTURE_RULES;
    // Drop anywhere on the page: pictures become the input, anything else is read as a scenario file.
    document.addEventListener('dragover', (e) => {
      if ([...(e.dataTransfer?.types ?? [])].includes('Files')) e.preventDefault();
    });
    document.addEventListener('drop', (e) => {
      const file = e.dataTransfer?.files?.[0];
      if (!file) return;
      e.preventDefault();
      this.open(file);
    });
  }

  say(text) {
    this.msg.textContent = text;
  }

  async pick(input) {
    const file = input.files?.[0];
    if (file) await this.open(file);
    input.value = ''; // the same file can be picked again
  }

  /** A File: a picture or a scenario file. Resolves {ok, ...}. */
  open(file) {
    return IMAGE.test(file.type) ? this.picture(file) : this.scenario(file);
  }

  scenario(file) {
    return this.openFile(file.name, file.name, () => this.engine.decodeFile(file));
  }

  /** A file link's payload (the address's `#f=…`): opened exactly as that file would be. */
  fileLink(payload) {
    // Its messages name it already ("the f= link is …"): no key in the banner.
    return this.openFile('the file link', '', () => this.engine.decodeFileLink(payload));
  }

  /** name: said in the section; key: the banner's key for messages without one. */
  async openFile(name, key, read) {
    this.say(`Reading ${name}…`);
    const r = await read();
    const d = r.ok ? r.value : { ok: false, errors: [{ key: '', message: r.error }] };
    if (!d.ok) {
      // Nothing applied: the scenario on screen stays.
      this.notes(d.errors.map((n) => ({ ...n, key: n.key || key })));
      this.say(`${name} was not opened: ${d.errors[0].message}`);
      return { ok: false, error: d.errors[0].message };
    }
    const a = await this.apply(d.scenario, { source: 'file' });
    if (!a.ok) {
      if (!a.superseded) this.say(`${name} was not opened: ${a.error}`);
      return a;
    }
    this.notes(d.notes);
    this.say(`Opened ${name} (scenario file version ${d.version}).`);
    return a;
  }

  async save() {
    const s = this.current();
    if (!s) return;
    const r = await this.engine.encodeFile(s);
    if (!r.ok) return this.say(r.error);
    const url = URL.createObjectURL(new Blob([r.value], { type: 'application/json' }));
    const a = el('a', { href: url, download: 'qconv-lens-scenario.json' });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    this.say('Saved qconv-lens-scenario.json.');
  }

  /** A picture as the input: decoded and resized here, quantized by Rust. */
  async picture(file) {
    const s = this.current();
    if (!s) return { ok: false, error: 'the page has no scenario yet' };
    const p = s.params;
    let pic;
    try {
      pic = await pictureValues(file, s.shape);
    } catch (err) {
      const error = `${file.name} could not be read as a picture: ${err?.message ?? err}`;
      this.say(error);
      return { ok: false, error };
    }
    const r = await this.engine.picture(pic.values, p.input_scale, p.input_zero_point);
    if (!r.ok) {
      this.say(r.error);
      return r;
    }
    const codes = Array.from(r.value);
    const a = await this.apply({ ...s, input: { kind: 'codes', codes } }, { source: 'picture' });
    if (!a.ok) {
      if (!a.superseded) this.say(`${file.name} was not used: ${a.error}`);
      return a;
    }
    this.showPicture(file, pic, codes, p);
    this.say(`The input is now ${file.name}, as ${codes.length} quint8 codes.`);
    return a;
  }

  showPicture(file, pic, codes, p) {
    this.q('#picture-result').hidden = false;
    this.q('#picture-how').textContent = `${file.name}: ${pic.from}; ${pic.how}. ` +
      `code = clamp(round_half_even(x / ${p.input_scale}) + ${p.input_zero_point}, 0, 255), x = pixel / 255 in float32 ` +
      '(quantize_per_tensor, computed by the engine).';
    const tb = this.q('#picture-values tbody');
    clear(tb);
    const n = codes.length;
    for (const i of [...new Set([0, 1, Math.floor(n / 2), n - 1])].filter((i) => i >= 0 && i < n)) {
      tb.append(el('tr', {}, el('td', {}, pic.where(i)), el('td', {}, String(pic.pixels[i])),
        el('td', {}, String(pic.values[i])), el('td', {}, String(codes[i]))));
    }
  }

  async showSnippet() {
    const t = this.q('#snippet-text');
    if (t.value) return;
    const r = await this.engine.snippet();
    t.value = r.ok ? r.value : `(the snippet could not be loaded: ${r.error})`;
  }
}
