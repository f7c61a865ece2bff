// Two builds of the page, interleaved in one browser: request -> heatmap on
// the canvas, the worker's share, and the rest (heatmap - worker: posting,
// the reply, the page's work before the pixels) for issue 10's budget cases,
// one request on A, one on B, and so on, so both see the same machine load.
// Prints medians per case and build. For comparing a change to the page's
// main thread; scripts/bench-browser is the benchmark of record.
//   A_URL=http://127.0.0.1:PORT_A/ B_URL=http://127.0.0.1:PORT_B/ [REPS=15] node scripts/bench-browser-ab.mjs
import { launch, openPage } from '../tests/e2e/browser.mjs';
import { applyLayer } from './bench-layer.mjs';

const REPS = Number(process.env.REPS ?? 15);
const urls = { A: process.env.A_URL, B: process.env.B_URL };
if (!urls.A || !urls.B) throw new Error('set A_URL and B_URL (two served builds of the page)');
const CASES = [
  ['resnet 56x56 64->64, new input', 64, 64, 56, 'input'],
  ['512x512 16->16, output scale step', 16, 16, 512, 'scale'],
  ['64x64 8->8, new input', 8, 8, 64, 'input'],
];

const browser = await launch();
const pages = {};
for (const [name, url] of Object.entries(urls)) {
  pages[name] = await openPage(browser, url);
  await pages[name].page.waitForSelector('html[data-ready]', { timeout: 30000 });
}
const med = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
for (const [label, cin, cout, side, edit] of CASES) {
  for (const { page } of Object.values(pages)) {
    const err = await page.evaluate(applyLayer, { cin, cout, side });
    if (err) throw new Error(`${label}: ${err}`);
  }
  const got = { A: [], B: [] };
  for (let i = 0; i < REPS; i++) {
    for (const name of i % 2 ? ['B', 'A'] : ['A', 'B']) {
      // The same edit as scripts/bench-browser's budgets (a deep copy of the
      // scenario, then a new input or output scale), after the page settled.
      got[name].push(await pages[name].page.evaluate(async ({ edit, i }) => {
        const L = window.qconvLens;
        await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(r, 0))));
        const next = structuredClone(L.current());
        if (edit === 'input') next.input = { kind: 'random', seed: 100 + i };
        else next.params.output_scale = 0.05 * (1 + 0.01 * (i + 1));
        const r = await L.apply(next, { source: 'bench' });
        if (!r.ok) throw new Error(r.error);
        return { heatmap: L.timing.last.heatmap, worker: r.frame.ms, whole: L.timing.last.total };
      }, { edit, i }));
    }
  }
  for (const name of ['A', 'B']) {
    const g = got[name];
    const f = (xs) => med(xs).toFixed(1).padStart(6);
    console.log(`${label.padEnd(36)} ${name}: request -> heatmap ${f(g.map((x) => x.heatmap))} ms, worker ${f(g.map((x) => x.worker))} ms, `
      + `heatmap - worker ${f(g.map((x) => x.heatmap - x.worker))} ms, whole page ${f(g.map((x) => x.whole))} ms (medians of ${REPS})`);
  }
}
for (const { errors } of Object.values(pages)) if (errors.length) console.error(errors.join('\n'));
await browser.close();
