// Opens a digitnet HTML report in headless Chromium (system /usr/bin/chromium
// through playwright-core) and checks that it shows every section, that every
// image decodes, that nothing is fetched from the network and that the console
// stays free of errors. Keeps a full-page screenshot.
//   node check_report.mjs REPORT.html SCREENSHOT.png
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [reportPath, screenshotPath] = process.argv.slice(2);
if (!reportPath || !screenshotPath) {
  console.error('usage: node check_report.mjs REPORT.html SCREENSHOT.png');
  process.exit(2);
}
const SECTIONS = ['summary', 'settings', 'curves', 'metrics', 'classes', 'confusion', 'mistakes', 'filters'];

const profile = mkdtempSync(join(tmpdir(), 'digitnet-chromium-'));
const failures = [];
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run'],
  viewport: { width: 1200, height: 900 },
});
try {
  const page = context.pages()[0] ?? await context.newPage();
  page.on('console', (msg) => {
    if (msg.type() === 'error') failures.push(`console error: ${msg.text()}`);
  });
  page.on('pageerror', (err) => failures.push(`page error: ${err.message}`));
  // The report must not need the network: refuse anything but file: and data: URLs.
  await page.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith('file:') || url.startsWith('data:')) return route.continue();
    failures.push(`network request: ${url}`);
    return route.abort();
  });
  await page.goto(pathToFileURL(resolve(reportPath)).href, { waitUntil: 'load' });

  const title = await page.title();
  if (!title.startsWith('digitnet report')) failures.push(`unexpected title: ${title}`);
  for (const id of SECTIONS) {
    const box = await page.locator(`section#${id}`).boundingBox();
    if (!box || box.height < 20) {
      failures.push(`section #${id} is missing or empty`);
      continue;
    }
    const heading = await page.locator(`section#${id} h2`).innerText();
    if (!heading.trim()) failures.push(`section #${id} has no heading`);
  }
  const images = await page.$$eval('img', (imgs) =>
    imgs.map((i) => ({ alt: i.alt, ok: i.complete && i.naturalWidth > 0, w: i.naturalWidth, h: i.naturalHeight })));
  if (images.length < 3) failures.push(`only ${images.length} images in the report`);
  for (const i of images) if (!i.ok) failures.push(`image "${i.alt}" did not decode`);
  const rows = await page.locator('section#classes tr').count();
  if (rows !== 11) failures.push(`per-class table has ${rows} rows, expected 11 (header + 10 classes)`);
  await page.screenshot({ path: screenshotPath, fullPage: true });
  console.log(`${images.length} images: ${images.map((i) => `${i.alt} ${i.w}x${i.h}`).join(', ')}`);
  console.log(`screenshot: ${resolve(screenshotPath)}`);
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
if (failures.length) {
  for (const f of failures) console.error(`FAIL ${f}`);
  process.exit(1);
}
console.log(`OK: ${SECTIONS.length} sections, no console errors, no network`);
