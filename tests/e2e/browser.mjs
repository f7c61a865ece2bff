// Shared helpers for the e2e tests: launch Debian's Chromium through
// playwright-core (no browser download, ever) and open pages while collecting
// console errors and uncaught page errors.
import { chromium } from 'playwright-core';
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

/** Directory for screenshots and other artifacts (git-ignored). */
export const ARTIFACTS = path.join(here, 'artifacts');

/** Base URL of the page under test; scripts/test sets it. */
export const BASE_URL = process.env.BASE_URL ?? 'http://127.0.0.1:8000/';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * Launch Chromium with a fresh, empty user-data-dir. The returned context's
 * close() also removes that directory.
 */
export async function launch() {
  const userDataDir = await mkdtemp(path.join(tmpdir(), 'qconv-lens-chromium-'));
  // A persistent context is the only way to give Chromium our own
  // --user-data-dir through playwright (it refuses the flag in `args`).
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 900 },
  });
  const close = context.close.bind(context);
  context.close = async () => {
    try {
      await close();
    } finally {
      await rm(userDataDir, { recursive: true, force: true });
    }
  };
  return context;
}

/**
 * Open `url` in a new page of `browser` (what launch() returned). Returns
 * { page, errors }, where `errors` is a live array of strings: every console
 * message of type "error" and every uncaught page error, as they happen.
 */
export async function openPage(browser, url = BASE_URL, { waitUntil = 'load' } = {}) {
  const page = await browser.newPage();
  const errors = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') {
      const loc = msg.location();
      errors.push(`console.error: ${msg.text()}${loc?.url ? ` (${loc.url}:${loc.lineNumber})` : ''}`);
    }
  });
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.stack ?? err.message ?? String(err)}`));
  page.on('requestfailed', (req) =>
    errors.push(`requestfailed: ${req.url()} (${req.failure()?.errorText ?? 'unknown'})`),
  );
  page.on('response', (res) => {
    if (res.status() >= 400) errors.push(`http ${res.status()}: ${res.url()}`);
  });
  await page.goto(url, { waitUntil });
  return { page, errors };
}

/** Save a full-page screenshot to tests/e2e/artifacts/<name>.png; returns the path. */
export async function screenshot(page, name) {
  await mkdir(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

// ---------------------------------------------------------------- the page

/** Wait until the page has drawn its first heatmap. */
export const ready = (page) => page.waitForSelector('html[data-ready]', { timeout: 20000 });

/** How many frames the page has drawn. */
export const frames = (page) => page.evaluate(() => window.qconvLens.timing.frames);

/** Run `action`, then wait until the page has drawn a new frame. */
export async function nextFrame(page, action) {
  const n = await frames(page);
  await action();
  await page.waitForFunction((n) => window.qconvLens.timing.frames > n, n, { timeout: 20000 });
}

/** The heatmap's pixels read back with getImageData: a hash, the size, the count text. */
export async function canvasState(page) {
  return page.evaluate(() => {
    const c = document.querySelector('#heatmap-canvas');
    const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let h = 2166136261;
    for (let i = 0; i < data.length; i++) h = Math.imul(h ^ data[i], 16777619) >>> 0;
    return { hash: h, width: c.width, height: c.height, count: document.querySelector('#count').textContent };
  });
}
