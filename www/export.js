// "Reproduce in PyTorch, ONNX Runtime or LiteRT": the scenario on screen as a
// self-contained Python script (src/export/ through the worker), in a
// read-only textarea with Copy and Download (.py). When the scenario came
// unchanged from the calibrate section, the calibration flow (prepare,
// calibrate, convert) is offered too; when A or B is an ONNX Runtime or LiteRT
// engine, the script that builds that runtime's model and compares its codes
// with the engine's (chosen by default until the user picks another). Scripts
// are written only while the section is open (they hold every code).

// Script kinds of a runtime: the engine family (schema) whose engines they run.
const RUNTIMES = ['onnxruntime', 'litert'];
const FILES = {
  direct: 'qconv_lens_reproduce.py',
  calibration: 'qconv_lens_calibration.py',
  onnxruntime: 'qconv_lens_onnxruntime.py',
  litert: 'qconv_lens_litert.py',
};

export class Export {
  constructor(root, { engine, current, calibrationOf }) {
    this.root = root;
    this.engine = engine;
    this.current = current;
    this.calibrationOf = calibrationOf;
    this.families = new Map(); // engine id -> family, from the schema
    this.q = (sel) => root.querySelector(sel);
    this.details = this.q('#export-details');
    this.text = this.q('#export-text');
    this.radio = (kind) => this.q(`input[name="export-kind"][value="${kind}"]`);
    this.seq = 0;
    this.details.addEventListener('toggle', () => { if (this.details.open) this.refresh(); });
    this.chosen = false; // the user picked a script kind: keep it while it applies
    for (const r of root.querySelectorAll('input[name="export-kind"]')) {
      r.addEventListener('change', () => { this.chosen = true; this.refresh(); });
    }
    this.q('#export-copy').addEventListener('click', () => this.copy());
    this.q('#export-download').addEventListener('click', () => this.download());
  }

  /** The schema's engines: which runtime each belongs to. */
  build(schema) {
    this.families = new Map(schema.engines.map((e) => [e.id, e.family]));
    const s = this.current();
    if (s) this.follow(s);
  }

  /** onApplied listener. */
  follow(scenario) {
    const enable = {
      calibration: !!this.calibrationOf(scenario),
    };
    const used = [scenario.a?.kind, scenario.b?.kind].map((id) => this.families.get(id));
    for (const rt of RUNTIMES) enable[rt] = used.includes(rt);
    for (const [kind, on] of Object.entries(enable)) {
      const r = this.radio(kind);
      r.disabled = !on;
      if (!on && r.checked) {
        this.radio('direct').checked = true;
        this.chosen = false;
      }
    }
    // Until the user picks one, the script is A's runtime's (else B's, else PyTorch's).
    if (!this.chosen) this.radio(used.find((f) => RUNTIMES.includes(f)) ?? 'direct').checked = true;
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
    const kind = this.kind();
    const cal = kind === 'calibration' ? this.calibrationOf(s) : null;
    let r;
    if (cal) r = await this.engine.calibrationScript(cal);
    else if (RUNTIMES.includes(kind)) r = await this.engine.runtimeScript(s, kind);
    else r = await this.engine.script(s);
    if (seq !== this.seq) return; // a newer request is under way
    if (!r.ok) {
      // No script rather than a broken one: the message says why.
      this.text.value = '';
      this.text.dataset.kind = '';
      this.say(r.error, 'error');
      return;
    }
    this.text.value = r.value;
    this.text.dataset.kind = cal ? 'calibration' : (RUNTIMES.includes(kind) ? kind : 'direct');
    this.say('');
  }

  async copy() {
    if (!this.text.value) await this.refresh();
    if (!this.text.value) return;
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
    if (!this.text.value) return;
    const blob = new Blob([this.text.value], { type: 'text/x-python' });
    const url = URL.createObjectURL(blob);
    const a = document.createElement('a');
    a.href = url;
    a.download = FILES[this.text.dataset.kind] ?? FILES.direct;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    this.say(`Downloaded ${a.download}.`);
  }
}
