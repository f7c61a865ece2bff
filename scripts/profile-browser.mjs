// Where the time between a request and the heatmap on the canvas goes, on
// the page's main thread and in its worker: a Chromium trace (CDP Tracing,
// with the V8 sampling profiler) over REPS recomputes of each of issue 10's
// budget cases, summed by trace event and by JS function (self time).
// Not a benchmark (tracing slows the page): scripts/bench-browser is.
//   BASE_URL=http://127.0.0.1:PORT/ node scripts/profile-browser.mjs [case...]
// Cases: resnet (56x56 64->64 new input), big (512x512 16->16 new input),
// drag (512x512 16->16 new output scale), small (64x64 8->8 new input).
import { launch, openPage, BASE_URL } from '../tests/e2e/browser.mjs';
import { applyLayer } from './bench-layer.mjs';

const REPS = Number(process.env.REPS ?? 8);
const TOP = Number(process.env.TOP ?? 25);
const CASES = {
  resnet: { cin: 64, cout: 64, side: 56, edit: 'input' },
  big: { cin: 16, cout: 16, side: 512, edit: 'input' },
  drag: { cin: 16, cout: 16, side: 512, edit: 'scale' },
  small: { cin: 8, cout: 8, side: 64, edit: 'input' },
};
const names = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(CASES);

const browser = await launch();
const { page, errors } = await openPage(browser, BASE_URL);
await page.waitForSelector('html[data-ready]', { timeout: 30000 });
const cdp = await page.context().newCDPSession(page);

async function trace(fn) {
  const events = [];
  cdp.on('Tracing.dataCollected', ({ value }) => events.push(...value));
  const done = new Promise((r) => cdp.once('Tracing.tracingComplete', r));
  await cdp.send('Tracing.start', {
    traceConfig: {
      includedCategories: ['devtools.timeline', 'disabled-by-default-devtools.timeline', 'v8.execute', 'v8',
        'disabled-by-default-v8.cpu_profiler', 'blink.user_timing', 'toplevel', 'blink', 'ipc', 'disabled-by-default-v8.gc'],
    },
    transferMode: 'ReportEvents',
  });
  const result = await fn();
  await cdp.send('Tracing.end');
  await done;
  cdp.removeAllListeners('Tracing.dataCollected');
  return { events, result };
}

/** Self time per (thread, name) of complete events (nested events subtracted). */
function eventSelf(events, tids) {
  const by = new Map();
  for (const tid of tids) {
    const xs = events.filter((e) => e.tid === tid && e.ph === 'X' && e.dur != null).sort((a, b) => a.ts - b.ts || b.dur - a.dur);
    const stack = [];
    for (const e of xs) {
      while (stack.length && stack[stack.length - 1].ts + stack[stack.length - 1].dur <= e.ts) stack.pop();
      const parent = stack[stack.length - 1];
      if (parent) parent.child = (parent.child ?? 0) + e.dur;
      stack.push(e);
    }
    for (const e of xs) {
      const k = `${tid}:${e.name}`;
      const v = by.get(k) ?? { tid, name: e.name, self: 0, total: 0, n: 0 };
      v.self += e.dur - (e.child ?? 0);
      v.total += e.dur;
      v.n += 1;
      by.set(k, v);
    }
  }
  return [...by.values()];
}

/** JS self time per function from the profiler's ProfileChunk samples, per thread. */
function jsSelf(events) {
  const out = new Map(); // tid -> Map(name -> us)
  const nodes = new Map(); // `${pid}:${id}:${profileId}` -> node
  const profiles = new Map(); // id -> {tid, lastTs}
  for (const e of events) {
    if (e.name === 'Profile') profiles.set(e.id, { tid: e.tid, ts: e.args.data.startTime });
    if (e.name !== 'ProfileChunk') continue;
    const p = profiles.get(e.id) ?? { tid: e.tid, ts: 0 };
    profiles.set(e.id, p);
    const d = e.args.data;
    for (const n of d.cpuProfile?.nodes ?? []) {
      const cf = n.callFrame;
      nodes.set(`${e.id}:${n.id}`, `${cf.functionName || '(anonymous)'} ${cf.url ? cf.url.split('/').pop() : ''}:${cf.lineNumber ?? ''}`);
    }
    const samples = d.cpuProfile?.samples ?? [];
    const deltas = d.timeDeltas ?? [];
    const m = out.get(p.tid) ?? new Map();
    out.set(p.tid, m);
    for (let i = 0; i < samples.length; i++) {
      const name = nodes.get(`${e.id}:${samples[i]}`) ?? '?';
      // A sample's time: the gap to the next sample (approximated by the next delta).
      const dt = deltas[i + 1] ?? deltas[i] ?? 0;
      m.set(name, (m.get(name) ?? 0) + dt);
    }
  }
  return out;
}

for (const name of names) {
  const c = CASES[name];
  const setup = await page.evaluate(applyLayer, c);
  if (setup) throw new Error(`${name}: ${setup}`);
  const { events, result } = await trace(() => page.evaluate(async ({ edit, REPS }) => {
    const L = window.qconvLens;
    const settle = () => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(r, 0))));
    const out = [];
    for (let i = 0; i < REPS; i++) {
      await settle();
      const next = structuredClone(L.current());
      if (edit === 'input') next.input = { kind: 'random', seed: 500 + i };
      else next.params.output_scale = 0.05 * (1 + 0.01 * (i + 1));
      performance.mark(`req${i}`);
      const r = await L.apply(next, { source: 'bench' });
      if (!r.ok) return { error: r.error };
      out.push({ heatmap: L.timing.last.heatmap, worker: r.frame.ms, main: L.timing.last.main, total: L.timing.last.total });
    }
    return out;
  }, { edit: c.edit, REPS }));
  if (result.error) throw new Error(`${name}: ${result.error}`);
  const threads = new Map();
  for (const e of events) if (e.ph === 'M' && e.name === 'thread_name') threads.set(e.tid, e.args.name);
  const pidOf = new Map();
  for (const e of events) if (e.ph === 'M' && e.name === 'thread_name') pidOf.set(e.tid, e.pid);
  const workerTids = [...threads].filter(([, n]) => /DedicatedWorker/.test(n)).map(([t]) => t);
  const pid = pidOf.get(workerTids[0]);
  const mainTid = [...threads].find(([t, n]) => n === 'CrRendererMain' && pidOf.get(t) === pid)?.[0];
  const med = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[s.length >> 1]; };
  console.log(`\n== ${name} (${c.side}x${c.side} ${c.cin}->${c.cout}, new ${c.edit}; ${REPS} reps, traced) ==`);
  console.log(`heatmap median ${med(result.map((r) => r.heatmap)).toFixed(1)} ms, worker ${med(result.map((r) => r.worker)).toFixed(1)} ms, main after reply ${med(result.map((r) => r.main)).toFixed(1)} ms, total ${med(result.map((r) => r.total)).toFixed(1)} ms`);
  const ev = eventSelf(events, [mainTid, ...workerTids]).sort((a, b) => b.self - a.self);
  for (const [label, tids] of [['main thread', [mainTid]], ['worker', workerTids]]) {
    console.log(`-- ${label}: trace events by self time (ms per rep)`);
    for (const v of ev.filter((x) => tids.includes(x.tid)).slice(0, TOP)) {
      console.log(`  ${(v.self / 1000 / REPS).toFixed(2).padStart(8)} self ${(v.total / 1000 / REPS).toFixed(2).padStart(8)} total  x${(v.n / REPS).toFixed(1).padStart(5)}  ${v.name}`);
    }
  }
  // One rep's timeline (the last): top-level events of both threads from its request mark.
  const mark = events.find((e) => e.name === `req${REPS - 1}` && e.tid === mainTid);
  if (mark) {
    console.log('-- the last rep: top-level events from the request (ms from the request, duration)');
    const tops = events.filter((e) => (e.tid === mainTid || workerTids.includes(e.tid)) && e.ph === 'X' && e.ts >= mark.ts && (e.name === 'RunTask' || e.name === 'ThreadControllerImpl::RunTask'))
      .filter((e) => e.dur > 200).sort((a, b) => a.ts - b.ts);
    const inner = (t) => events.filter((e) => e.tid === t.tid && e.ph === 'X' && e.ts >= t.ts && e.ts + e.dur <= t.ts + t.dur && e !== t && e.dur > 300 && !/RunTask/.test(e.name))
      .sort((a, b) => a.ts - b.ts).slice(0, 12).map((e) => `${e.name}${e.args?.data?.functionName ? `(${e.args.data.functionName})` : ''}${e.args?.data?.type ? `[${e.args.data.type}]` : ''} ${(e.dur / 1000).toFixed(1)}`);
    const seen = new Set();
    for (const t of tops) {
      const key = `${t.tid}:${t.ts}`;
      if (seen.has(key)) continue;
      seen.add(key);
      if ((t.ts - mark.ts) / 1000 > 400) break;
      console.log(`  ${t.tid === mainTid ? 'main  ' : 'worker'} +${((t.ts - mark.ts) / 1000).toFixed(1).padStart(6)} ${(t.dur / 1000).toFixed(1).padStart(6)} ms  ${inner(t).join(', ')}`);
    }
  }
  const js = jsSelf(events);
  for (const [tid, m] of js) {
    const label = tid === mainTid ? 'main thread' : workerTids.includes(tid) ? 'worker' : `thread ${threads.get(tid) ?? tid}`;
    console.log(`-- ${label}: JS self time by function (ms per rep, sampled)`);
    for (const [fn, us] of [...m].sort((a, b) => b[1] - a[1]).slice(0, TOP)) console.log(`  ${(us / 1000 / REPS).toFixed(2).padStart(8)}  ${fn}`);
  }
}
if (errors.length) console.error(errors.join('\n'));
await browser.close();
