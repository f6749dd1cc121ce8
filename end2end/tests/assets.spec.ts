import { test, expect } from '@playwright/test';
import { hydrated, login, ADMIN_PASSWORD, watchErrors } from './helpers';

test('an admin on a slow link gets the wasm brotli-compressed under a versioned name, kept for a year, and the page still hydrates', async ({ page, request }) => {
  const errors = watchErrors(page);
  await page.goto('/login');
  const wasm = await page.locator('link[rel=preload][type="application/wasm"]').getAttribute('href');
  const js = await page.locator('link[rel=modulepreload]').getAttribute('href');
  const css = await page.locator('link[rel=stylesheet]').getAttribute('href');
  expect(wasm).toMatch(/^\/pkg\/[0-9a-f]{16}\/rackstate\.wasm$/);
  expect(js).toMatch(/^\/pkg\/[0-9a-f]{16}\/rackstate\.js$/);
  expect(css).toMatch(/^\/pkg\/[0-9a-f]{16}\/rackstate\.css$/);

  for (const [url, type] of [[wasm!, 'application/wasm'], [js!, 'javascript'], [css!, 'text/css']]) {
    const r = await request.get(url, { headers: { 'Accept-Encoding': 'br, gzip' } });
    expect(r.status(), url).toBe(200);
    expect(r.headers()['content-encoding'], url).toBe('br');
    expect(r.headers()['content-type'], url).toContain(type);
    expect(r.headers()['cache-control'], url).toBe('public, max-age=31536000, immutable');
  }
  // A client without brotli gets gzip; one that accepts nothing gets the plain file.
  const gz = await request.get(wasm!, { headers: { 'Accept-Encoding': 'gzip' } });
  expect(gz.headers()['content-encoding']).toBe('gzip');
  const plain = await request.get(wasm!, { headers: { 'Accept-Encoding': 'identity' } });
  expect(plain.headers()['content-encoding']).toBeUndefined();
  expect((await plain.body()).subarray(0, 4)).toEqual(Buffer.from([0, 0x61, 0x73, 0x6d]));
  // Pages themselves are compressed on the fly and never cached as immutable.
  const html = await request.get('/login', { headers: { 'Accept-Encoding': 'br' } });
  expect(html.headers()['content-encoding']).toBe('br');
  expect(html.headers()['cache-control'] ?? '').not.toContain('immutable');

  // Hydrated: the login form's error comes from the client without a page load.
  await hydrated(page);
  // A marker on the window survives only if the page is not loaded again.
  await page.evaluate(() => ((window as any).stillHere = true));
  await page.getByLabel('Username').fill('admin');
  await page.getByLabel('Password').fill('not the password');
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page.getByTestId('login-error')).toBeVisible();
  expect(await page.evaluate(() => (window as any).stillHere)).toBe(true);
  expect(errors.filter((e) => !/401/.test(e))).toEqual([]);
});

test('a warm load of a page transfers no asset again', async ({ page }) => {
  await login(page, 'admin', ADMIN_PASSWORD);
  // Each page once, whole (its own wasm file included), to fill the cache.
  for (const path of ['/', '/servers']) {
    await page.goto(path);
    await hydrated(page);
  }
  // Chromium's own account of each request: the bytes that crossed the network.
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  const urls = new Map<string, string>();
  const transferred: string[] = [];
  cdp.on('Network.requestWillBeSent', (e) => urls.set(e.requestId, e.request.url));
  cdp.on('Network.loadingFinished', (e) => {
    const url = urls.get(e.requestId) ?? '';
    if (url.includes('/pkg/') && e.encodedDataLength > 0) transferred.push(`${url}: ${e.encodedDataLength} bytes`);
  });
  for (const path of ['/', '/servers']) {
    await page.goto(path);
    await hydrated(page);
  }
  expect(transferred).toEqual([]);
});

test('a page brings its own code: the main wasm and the page\'s split-off chunk, preloaded together, and it hydrates', async ({ page }) => {
  const errors = watchErrors(page);
  await login(page, 'admin', ADMIN_PASSWORD);
  const fetched: string[] = [];
  page.on('response', (r) => { if (r.url().endsWith('.wasm')) fetched.push(new URL(r.url()).pathname); });
  await page.goto('/servers');
  // The server names the chunks this page's lazy route needs, so the browser fetches
  // them with the main wasm rather than after it has run.
  const preloads = await page.locator('link[rel=preload][type="application/wasm"]').evaluateAll(
    (links) => links.map((l) => l.getAttribute('href')));
  const main = preloads.find((h) => h!.endsWith('/rackstate.wasm'));
  const chunks = preloads.filter((h) => !h!.endsWith('/rackstate.wasm'));
  expect(main).toBeTruthy();
  expect(chunks.length, preloads.join(' ')).toBeGreaterThan(0);
  await hydrated(page);
  for (const chunk of chunks) expect(fetched).toContain(chunk);
  // Every chunk comes from the same version directory as the main wasm.
  const dir = main!.slice(0, main!.lastIndexOf('/'));
  for (const f of fetched) expect(f.startsWith(dir + '/'), f).toBe(true);
  // A client-side navigation to another lazy page: its chunk is fetched then, without
  // a page load.
  await page.evaluate(() => ((window as any).stillHere = true));
  const before = fetched.length;
  await page.locator('a.brand').click();
  await expect(page.getByTestId('utilization')).toBeVisible();
  expect(fetched.length).toBeGreaterThan(before);
  expect(await page.evaluate(() => (window as any).stillHere)).toBe(true);
  expect(errors).toEqual([]);
});

test('a tab left open across an upgrade: the next page\'s code cannot be fetched, so that page is loaded from the server instead of freezing', async ({ page }) => {
  await login(page, 'admin', ADMIN_PASSWORD);
  await page.goto('/servers');
  await hydrated(page);
  // The first request for the report's code fails, as a file of a replaced build would.
  let failed = 0;
  await page.route(/split___home_route_view_[^/]*\.wasm$/, (route) => {
    if (failed++ === 0) return route.abort();
    return route.continue();
  });
  await page.evaluate(() => ((window as any).stillHere = true));
  await page.locator('a.brand').click();
  await expect(page.getByTestId('utilization')).toBeVisible();
  await hydrated(page);
  expect(failed).toBeGreaterThan(0);
  // It was a real load, and the page works: the wasm hydrated it again.
  expect(await page.evaluate(() => (window as any).stillHere)).toBeUndefined();
  await expect(page).toHaveURL(/\/$/);
});
