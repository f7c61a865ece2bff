// The scenario's big arrays (its weights, typed input codes) cross to a
// worker only when they change. postMessage copies a plain array element by
// element on both sides: for ResNet's 64 -> 64, 3x3 layer (36,864 weights)
// that was about 4 ms on the page and 4 ms in the worker on every request,
// for a 512 -> 512 layer hundreds of ms, though an output-scale drag, a seed
// or a pixel pick leaves the weights as they were. The page side (`Outbox`,
// one per worker) sends an array once and then a reference to it while the
// next scenario's array is the same one (or equal, element by element); the
// worker side (`Inbox`) keeps the last array received at each place and puts
// it back before the engine sees the scenario. Messages to one worker arrive
// in order, so the two sides always agree; a new worker gets a new pair.

/** Where big arrays sit in a Scenario (serde JSON of src/scenario.rs). */
const PLACES = [['weights'], ['input', 'codes']];
/** Shorter arrays are cheaper to copy than to compare. */
const MIN_LENGTH = 1024;
const KEPT = '$kept';

const isArray = (v) => Array.isArray(v) || ArrayBuffer.isView(v);

function equal(a, b) {
  if (a === b) return true;
  if (a.length !== b.length || Array.isArray(a) !== Array.isArray(b)) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Copy `obj` along `path` (never writing into the caller's objects), setting the last key to `value`. */
function replaced(obj, path, value) {
  const [key, ...rest] = path;
  return { ...obj, [key]: rest.length ? replaced(obj[key], rest, value) : value };
}

export class Outbox {
  constructor() {
    this.sent = new Map(); // place -> the array the worker keeps there
  }

  /** The scenario to post: each big array the worker already keeps becomes a reference to it. */
  pack(scenario) {
    if (!scenario || typeof scenario !== 'object') return scenario;
    let out = scenario;
    for (const path of PLACES) {
      const place = path.join('.');
      const v = path.reduce((o, k) => o?.[k], scenario);
      if (!isArray(v) || v.length < MIN_LENGTH) continue;
      const kept = this.sent.get(place);
      if (kept && equal(kept, v)) out = replaced(out, path, { [KEPT]: v.length });
      else this.sent.set(place, v); // the worker keeps this one when it arrives
    }
    return out;
  }
}

export class Inbox {
  constructor() {
    this.kept = new Map();
  }

  /** The scenario as the page meant it (the received object is the worker's own copy: filled in place). */
  unpack(scenario) {
    if (!scenario || typeof scenario !== 'object') return scenario;
    for (const path of PLACES) {
      const place = path.join('.');
      const parent = path.slice(0, -1).reduce((o, k) => o?.[k], scenario);
      const key = path[path.length - 1];
      const v = parent?.[key];
      if (isArray(v) && v.length >= MIN_LENGTH) {
        this.kept.set(place, v);
      } else if (v && typeof v === 'object' && KEPT in v) {
        const kept = this.kept.get(place);
        // Cannot happen while messages arrive in order; said plainly if it does.
        if (!kept || kept.length !== v[KEPT]) throw new Error(`the worker lost the scenario's ${place} (sent once, then referred to)`);
        parent[key] = kept;
      }
    }
    return scenario;
  }
}
