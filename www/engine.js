// The page's side of the worker: requests with ids, and updates coalesced so
// that at most one runs and one waits (the newest scenario wins; older
// waiting ones resolve as {superseded: true}). Reports busy time and the
// stage of the work so the page can show progress when a recompute takes
// longer than 100 ms; `cancel` stops the work by replacing the worker. A
// scenario's big arrays cross to the worker only when they change (www/wire.js).
import { Outbox } from './wire.js';

export class Engine {
  constructor({ onBusy = () => {}, onIdle = () => {} } = {}) {
    this.next = 1;
    this.calls = new Map();
    this.running = null; // the update in flight
    this.waiting = null; // {scenario, resolve}
    this.onBusy = onBusy;
    this.onIdle = onIdle;
    this.#spawn();
  }

  #spawn() {
    this.worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
    this.outbox = new Outbox();
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

  /**
   * Stop whatever the worker is doing (a long recompute cannot be
   * interrupted inside the wasm, so the worker is replaced; the next request
   * starts the new one). Every pending request resolves {ok: false, cancelled: true}.
   */
  cancel() {
    this.worker.terminate();
    const calls = [...this.calls.values()];
    this.calls.clear();
    this.waiting?.resolve({ ok: false, cancelled: true, error: 'cancelled' });
    this.waiting = null;
    this.#spawn();
    for (const call of calls) call.resolve({ ok: false, cancelled: true, error: 'cancelled' });
  }

  request(type, fields = {}) {
    const id = this.next++;
    return new Promise((resolve) => {
      this.calls.set(id, { resolve });
      const message = { id, type, ...fields };
      if (fields.scenario) message.scenario = this.outbox.pack(fields.scenario);
      try {
        this.worker.postMessage(message);
      } catch (err) {
        this.outbox = new Outbox(); // nothing was sent: send every array again next time
        throw err;
      }
    });
  }

  presets() { return this.request('presets'); }
  link(scenario) { return this.request('link', { scenario }); }
  // Decoding a link and fitting a scenario to a new shape can take a while on large ones.
  unlink(text) { return this.#staged({ text: 'decoding link', stale: true }, this.request('unlink', { text })); }
  conversions(scenario) { return this.request('conversions', { scenario }); }
  schema() { return this.request('schema'); }
  fit(scenario, from) { return this.#staged({ text: 'fitting the scenario to the new shape' }, this.request('fit', { scenario, from })); }
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
  decodeFileLink(payload) { return this.request('decode-file', { link: payload }); }
  encodeFile(scenario) { return this.request('encode-file', { scenario }); }
  snippet() { return this.request('snippet'); }
  picture(values, scale, zeroPoint) { return this.request('picture', { values, scale, zeroPoint }); }

  /** Report `stage` ({text, stale}) while `reply` takes longer than 100 ms. */
  async #staged(stage, reply) {
    const started = performance.now();
    const timer = setTimeout(() => this.onBusy(started, stage), 100);
    const r = await reply;
    clearTimeout(timer);
    if (!this.running) this.onIdle();
    return r;
  }

  /**
   * Compute a scenario: resolves {ok, value: frame} | {ok: false, error} |
   * {superseded: true} | {ok: false, cancelled: true}. `stage` ({text, stale}) says what the
   * work is and whether the controls show an older scenario meanwhile (shown
   * when it takes longer than 100 ms).
   */
  update(scenario, stage = { text: 'computing' }) {
    if (this.running) {
      this.waiting?.resolve({ superseded: true });
      return new Promise((resolve) => { this.waiting = { scenario, stage, resolve }; });
    }
    return this.#start(scenario, stage);
  }

  async #start(scenario, stage) {
    const started = performance.now();
    const timer = setTimeout(() => this.onBusy(started, stage), 100);
    this.running = this.request('update', { scenario });
    const reply = await this.running;
    clearTimeout(timer);
    this.running = null;
    const waiting = this.waiting;
    this.waiting = null;
    if (waiting) {
      // Chain the newest scenario; the caller of this one still gets its reply.
      this.#start(waiting.scenario, waiting.stage).then(waiting.resolve);
    } else {
      this.onIdle();
    }
    return reply;
  }
}
