import { launch, openPage, BASE_URL, ready } from './browser.mjs';
const b = await launch();
for (const [w, h, name] of [[1440, 900, 'desk'], [390, 844, 'phone']]) {
  const { page, errors } = await openPage(b, BASE_URL);
  await page.setViewportSize({ width: w, height: h });
  await ready(page);
  await page.waitForTimeout(300);
  await page.screenshot({ path: `/tmp/${name}.png` });
  console.log(name, errors, await page.evaluate(() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]));
  if (name === 'phone') {
    console.log(await page.evaluate(() => [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > 392 && e.getClientRects().length).slice(0, 12).map(e => `${e.tagName}#${e.id}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`)));
  }
}
await b.close();
