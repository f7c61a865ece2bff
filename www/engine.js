// The page's side of the workers: requests with ids, and updates coalesced
// so that at most one runs and one waits (the newest scenario wins; older
// waiting ones resolve as {superseded: true}). Reports busy time and the
// stage of the work so the page can show progress when a recompute takes
// longer than 100 ms; `cancel` stops the work by replacing the workers. A
// scenario's big arrays cross to each worker only when they change (www/wire.js).
//
// Worker 0 answers every request. Once the first frame is shown, one more
// worker per core (at most WORKERS in all) shares large runs: each computes
// a range of output channels of the same scenario (Rust decides the ranges,
// and runs small or unsplittable scenarios on worker 0 alone), the page
// puts their difference counts together, and the worker holding the channel
// shown draws the frame. No memory is shared: each owns its channels.
import { Outbox } from './wire.js';

const WORKERS = 4;

export class Engine {
  constructor({ onBusy = () => {}, onIdle = () => {}, workers = navigator.hardwareConcurrency ?? 1 } = {}) {
    this.next = 1;
    this.calls = new Map();
    this.running = null; // the update in flight
    this.waiting = null; // {scenario, resolve}
    this.onBusy = onBusy;
    this.onIdle = onIdle;
    this.size = Math.max(1, Math.min(WORKERS, Number(workers) || 1));
    this.workers = [this.#spawn()];
    this.worker = this.workers[0];
  }

  #spawn() {
    const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
    worker.outbox = new Outbox(); // what this worker keeps of the scenario
    worker.onmessage = (e) => {
      const { id, ok, value, error } = e.data;
      const call = this.calls.get(id);
      if (!call) return;
      this.calls.delete(id);
      call.resolve(ok ? { ok, value } : { ok, error });
    };
    worker.onerror = (e) => {
      e.preventDefault?.();
      const error = `the engine failed to start: ${e.message || 'worker error'}`;
      for (const [id, call] of this.calls) {
        if (call.worker !== worker) continue;
        this.calls.delete(id);
        call.resolve({ ok: false, error });
      }
    };
    return worker;
  }

  /**
   * Stop whatever the workers are doing (a long recompute cannot be
   * interrupted inside the wasm, so the workers are replaced; the next request
   * starts the new one). Every pending request resolves {ok: false, cancelled: true}.
   */
  cancel() {
    for (const w of this.workers) w.terminate();
    const calls = [...this.calls.values()];
    this.calls.clear();
    this.waiting?.resolve({ ok: false, cancelled: true, error: 'cancelled' });
    this.waiting = null;
    this.workers = [this.#spawn()];
    this.worker = this.workers[0];
    this.fast = false;
    for (const call of calls) call.resolve({ ok: false, cancelled: true, error: 'cancelled' });
  }

  request(type, fields = {}, worker = this.worker) {
    const id = this.next++;
    return new Promise((resolve) => {
      this.calls.set(id, { resolve, worker });
      const message = { id, type, ...fields };
      if (fields.scenario) message.scenario = worker.outbox.pack(fields.scenario);
      try {
        worker.postMessage(message);
      } catch (err) {
        worker.outbox = new Outbox(); // nothing was sent: send every array again next time
        throw err;
      }
    });
  }

  /** How many workers share large runs (after the first frame: all of them). */
  get workerCount() { return this.workers.length; }

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
    this.running = this.#compute(scenario);
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
    // The other workers, and the engine built for speed, load once a frame
    // is shown (not competing with the first).
    if (reply.ok && !this.fast) {
      this.fast = true;
      while (this.workers.length < this.size) this.workers.push(this.#spawn());
      for (const w of this.workers) this.request('fast', {}, w);
    }
    return reply;
  }

  /**
   * One update on every worker: each computes its part of the scenario (or
   * worker 0 all of it: then its reply is the frame), the counts of all
   * parts go to every worker, and the one holding the channel shown answers
   * with the frame.
   */
  async #compute(scenario) {
    // What Rust's split depends on: while it stays what ran whole last
    // time, only worker 0 is asked (the others would only answer idle).
    // (Keyed by the number of workers too: a run that was whole on one
    // worker may split once the others have started.)
    const p = scenario.params ?? {};
    const plan = JSON.stringify([this.workers.length, scenario.shape, scenario.a, scenario.b, scenario.platform,
      p.weight_zero_points?.length, p.per_channel, p.input_dtype, p.output_dtype]);
    const ws = this.whole === plan ? this.workers.slice(0, 1) : this.workers;
    const parts = await Promise.all(ws.map((w, i) => this.request('part', { scenario, part: i, parts: ws.length }, w)));
    const failed = parts.find((r) => !r.ok);
    if (failed) return failed;
    this.whole = parts[0].value?.part ? null : plan;
    if (!parts[0].value?.part) return parts[0]; // the whole frame, from worker 0
    const held = parts.map((r, i) => ({ ...r.value, worker: ws[i] })).filter((h) => h.part);
    const counts = new Array(scenario.shape.out_channels).fill(0);
    let maxAbs = 0, recomputed = false, ms = 0;
    for (const { part: p, ms: t } of held) {
      counts.splice(p.start, p.end - p.start, ...p.differing_by_channel);
      maxAbs = Math.max(maxAbs, p.max_abs_diff);
      recomputed ||= p.recomputed;
      ms = Math.max(ms, t);
    }
    const view = scenario.view;
    const shown = await Promise.all(held.map((h) => this.request('show', { view, counts, maxAbs, recomputed }, h.worker)));
    const frame = shown.find((r) => !r.ok || r.value);
    if (!frame) return { ok: false, error: 'no worker holds the channel shown' };
    if (frame.ok) {
      frame.value.ms += ms;
      frame.value.workers = held.length;
    }
    return frame;
  }
}
