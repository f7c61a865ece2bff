// "Reproduce in PyTorch": the scenario on screen as a self-contained Python
// script (src/export.rs through the worker), in a read-only textarea with Copy
// and Download (.py). When the scenario came unchanged from the calibrate
// section, the calibration flow (prepare, calibrate, convert) is offered too.
// Scripts are written only while the section is open (they hold every code).

export class Export {
  constructor(root, { engine, current, calibrationOf }) {
    this.root = root;
    this.engine = engine;
    this.current = current;
    this.calibrationOf = calibrationOf;
    this.q = (sel) => root.querySelector(sel);
    this.details = this.q('#export-details');
    this.text = this.q('#export-text');
    this.calRadio = this.q('input[name="export-kind"][value="calibration"]');
    this.seq = 0;
    this.details.addEventListener('toggle', () => { if (this.details.open) this.refresh(); });
    for (const r of root.querySelectorAll('input[name="export-kind"]')) r.addEventListener('change', () => this.refresh());
    this.q('#export-copy').addEventListener('click', () => this.copy());
    this.q('#export-download').addEventListener('click', () => this.download());
  }

  /** onApplied listener. */
  follow(scenario) {
    const cal = this.calibrationOf(scenario);
    this.calRadio.disabled = !cal;
    if (!cal && this.calRadio.checked) this.q('input[name="export-kind"][value="direct"]').checked = true;
    if (this.details.open) this.refresh();
  }

  kind() {
    return this.q('input[name="export-kind"]:checked')?.value ?? 'direct';
  }

  say(text, kind = '') {
    const m = this.q('#export-msg');
    m.textContent = text;
    m.dataset.kind = kind;
  }

  async refresh() {
    const s = this.current();
    if (!s) return;
    const seq = ++this.seq;
    const cal = this.kind() === 'calibration' ? this.calibrationOf(s) : null;
    const r = cal ? await this.engine.calibrationScript(cal) : await this.engine.script(s);
    if (seq !== this.seq) return; // a newer request is under way
    if (!r.ok) {
      this.say(r.error, 'error');
      return;
    }
    this.text.value = r.value;
    this.text.dataset.kind = cal ? 'calibration' : 'direct';
    this.say('');
  }

  async copy() {
    if (!this.text.value) await this.refresh();
    try {
      await navigator.clipboard.writeText(this.text.value);
      this.say('Script copied.');
    } catch {
      this.text.focus();
      this.text.select();
      this.say('Press Ctrl+C to copy the selected script.');
    }
  }

  async download() {
    if (!this.text.value) await this.refresh();
    const blob = new Blob([this.text.value], { type: 'text/x-python' });
    const url = URL.createObjectURL(blob);
    const a = document.createElement('a');
    a.href = url;
    a.download = this.text.dataset.kind === 'calibration' ? 'qconv_lens_calibration.py' : 'qconv_lens_reproduce.py';
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    this.say(`Downloaded ${a.download}.`);
  }
}
