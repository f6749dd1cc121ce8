// Page weight and speed, as an admin's browser sees them (scripts/bench-pages.sh runs
// this against a release build): for /login, /, /servers and /servers/{id}, the bytes
// on the wire with a cold and a warm cache, and the time until the page is hydrated
// (clickable: the layout marks <body data-hydrated> once the wasm runs), unthrottled
// and on a 10 Mbit/s, 40 ms RTT link (Chrome DevTools Protocol network emulation).
// "cold wasm KB" is the wasm alone: the main file and the page's own chunks.
// Prints a table; each number is the median of RUNS loads.
import { chromium } from 'playwright-core';

const BASE = process.env.BASE_URL ?? 'http://127.0.0.1:3000';
const PASSWORD = process.env.ADMIN_PASSWORD ?? 'bench-admin-password';
const RUNS = Number(process.env.RUNS ?? 5);
const SLOW = { offline: false, latency: 40, downloadThroughput: (10e6 / 8), uploadThroughput: (10e6 / 8) };
const FAST = { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 };

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
const page = await context.newPage();
const cdp = await context.newCDPSession(page);
await cdp.send('Network.enable');
let bytes = 0;
let wasmBytes = 0;
const urls = new Map();
cdp.on('Network.requestWillBeSent', (e) => urls.set(e.requestId, e.request.url));
cdp.on('Network.loadingFinished', (e) => {
  bytes += e.encodedDataLength;
  if ((urls.get(e.requestId) ?? '').endsWith('.wasm')) wasmBytes += e.encodedDataLength;
});

// Log in once; the session cookie stays for every load.
await page.goto(`${BASE}/login`);
await page.locator('body[data-hydrated]').waitFor();
await page.getByLabel('Username').fill('admin');
await page.getByLabel('Password').fill(PASSWORD);
await page.getByRole('button', { name: 'Log in' }).click();
await page.getByTestId('whoami').waitFor();
const list = await (await page.request.get(`${BASE}/servers`)).text();
const id = list.match(/href="\/servers\/(\d+)"/)?.[1];
if (!id) throw new Error('no lab server found: start Rackstate with RACKSTATE_DEMO_LAB');

/** One load of `path`: bytes transferred (all, and wasm alone) and milliseconds until hydrated. */
async function load(path, { cold, link }) {
  await cdp.send('Network.emulateNetworkConditions', link);
  if (cold) await cdp.send('Network.clearBrowserCache');
  // Leave the page first, so the load below starts from nothing on screen.
  await page.goto('about:blank');
  bytes = 0;
  wasmBytes = 0;
  const start = Date.now();
  await page.goto(`${BASE}${path}`, { waitUntil: 'commit' });
  await page.locator('body[data-hydrated]').waitFor({ timeout: 60_000 });
  const ms = Date.now() - start;
  // Let late requests (chunks fetched after hydration) finish and be counted; not
  // "networkidle": the server page's live updates keep a stream open for good.
  await page.waitForTimeout(500);
  return { ms, bytes, wasmBytes };
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const rows = [];
for (const path of ['/login', '/', '/servers', `/servers/${id}`]) {
  const row = { page: path.replace(String(id), '{id}') };
  for (const [name, link] of [['fast', FAST], ['10Mbit/40ms', SLOW]]) {
    for (const cold of [true, false]) {
      const runs = [];
      for (let i = 0; i < RUNS; i++) {
        if (!cold) await load(path, { cold: false, link }); // warm the cache first
        runs.push(await load(path, { cold, link }));
      }
      const label = `${cold ? 'cold' : 'warm'} ${name}`;
      row[`${label} ms`] = median(runs.map((r) => r.ms));
      if (name === 'fast') {
        row[`${cold ? 'cold' : 'warm'} KB`] = (median(runs.map((r) => r.bytes)) / 1024).toFixed(1);
        if (cold) row['cold wasm KB'] = (median(runs.map((r) => r.wasmBytes)) / 1024).toFixed(1);
      }
    }
  }
  rows.push(row);
}
// The main wasm itself (every page needs it; each page adds its own chunks, counted
// in "cold wasm KB" above): its size on the wire as the browser gets it.
const head = await page.request.get(`${BASE}/login`);
const wasmUrl = (await head.text()).match(/href="([^"]+\.wasm)"/)?.[1];
const wasm = await page.request.fetch(`${BASE}${wasmUrl}`, { headers: { 'Accept-Encoding': 'br' } });
console.log(`wasm ${wasmUrl}: ${wasm.headers()['content-encoding'] ?? 'identity'}, ${wasm.headers()['content-length'] ?? '?'} bytes on the wire, ${(await wasm.body()).length} bytes decoded`);
console.table(rows);
await browser.close();
