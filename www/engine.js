// The page's side of the worker: requests with ids, and updates coalesced so
// that at most one runs and one waits (the newest scenario wins; older
// waiting ones resolve as {superseded: true}). Reports busy time so the page
// can show progress when a recompute takes longer than 100 ms.
export class Engine {
  constructor({ onBusy = () => {}, onIdle = () => {} } = {}) {
    this.worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
    this.next = 1;
    this.calls = new Map();
    this.running = null; // the update in flight
    this.waiting = null; // {scenario, resolve}
    this.onBusy = onBusy;
    this.onIdle = onIdle;
    this.worker.onmessage = (e) => {
      const { id, ok, value, error } = e.data;
      const call = this.calls.get(id);
      if (!call) return;
      this.calls.delete(id);
      call.resolve(ok ? { ok, value } : { ok, error });
    };
    this.worker.onerror = (e) => {
      e.preventDefault?.();
      const error = `the engine failed to start: ${e.message || 'worker error'}`;
      for (const call of this.calls.values()) call.resolve({ ok: false, error });
      this.calls.clear();
    };
  }

  request(type, fields = {}) {
    const id = this.next++;
    return new Promise((resolve) => {
      this.calls.set(id, { resolve });
      this.worker.postMessage({ id, type, ...fields });
    });
  }

  presets() { return this.request('presets'); }
  link(scenario) { return this.request('link', { scenario }); }
  unlink(text) { return this.request('unlink', { text }); }
  conversions(scenario) { return this.request('conversions', { scenario }); }
  schema() { return this.request('schema'); }
  fit(scenario, from) { return this.request('fit', { scenario, from }); }
  preset(id) { return this.request('preset', { preset: id }); }
  landing() { return this.request('landing'); }
  calibrate(config) { return this.request('calibrate', { config }); }
  qconfigs() { return this.request('qconfigs'); }
  calibrationScript(config) { return this.request('calibration-script', { config }); }
  script(scenario) { return this.request('script', { scenario }); }
  runtimeScript(scenario, runtime) { return this.request('runtime-script', { scenario, runtime }); }
  paste(text, scenario) { return this.request('paste', { text, scenario }); }
  pasteCheck(text, scenario) { return this.request('paste-check', { text, scenario }); }
  decodeFile(file) { return this.request('decode-file', { file }); }
  encodeFile(scenario) { return this.request('encode-file', { scenario }); }
  snippet() { return this.request('snippet'); }
  picture(values, scale, zeroPoint) { return this.request('picture', { values, scale, zeroPoint }); }

  /** Compute a scenario: resolves {ok, value: frame} | {ok: false, error} | {superseded: true}. */
  update(scenario) {
    if (this.running) {
      this.waiting?.resolve({ superseded: true });
      return new Promise((resolve) => { this.waiting = { scenario, resolve }; });
    }
    return this.#start(scenario);
  }

  async #start(scenario) {
    const started = performance.now();
    const timer = setTimeout(() => this.onBusy(started), 100);
    this.running = this.request('update', { scenario });
    const reply = await this.running;
    clearTimeout(timer);
    this.running = null;
    const waiting = this.waiting;
    this.waiting = null;
    if (waiting) {
      // Chain the newest scenario; the caller of this one still gets its reply.
      this.#start(waiting.scenario).then(waiting.resolve);
    } else {
      this.onIdle();
    }
    return reply;
  }
}
