import { test, expect, Page, APIRequestContext } from '@playwright/test';
import { ADMIN_PASSWORD, hydrated, login, unique } from './helpers';

// axe-core is injected as a script tag; the pages' CSP (rightly) refuses inline
// scripts, so only these tests' browser ignores it.
test.use({ bypassCSP: true, viewport: { width: 1280, height: 800 } });

const AXE = require.resolve('axe-core/axe.min.js');

/** Serious and critical axe-core violations on the page as it is now, one line each. */
async function violations(page: Page): Promise<string[]> {
  await page.addScriptTag({ path: AXE });
  const found: any[] = await page.evaluate(async () => {
    const r = await (window as any).axe.run(document, { resultTypes: ['violations'] });
    return r.violations;
  });
  return found
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .flatMap((v) => v.nodes.map((n: any) => `${v.id} (${v.impact}): ${n.target.join(' ')} — ${n.failureSummary.split('\n').slice(1, 2).join(' ').trim()}`));
}

async function adminHeaders(request: APIRequestContext): Promise<Record<string, string>> {
  const resp = await request.post('/api/v1/tokens', { data: { username: 'admin', password: ADMIN_PASSWORD, name: 'axe' } });
  expect(resp.status()).toBe(201);
  return { Authorization: `Bearer ${(await resp.json()).token}` };
}

async function firstServerId(request: APIRequestContext, headers: Record<string, string>): Promise<number> {
  const list = await (await request.get('/api/v1/servers?q=lab-0', { headers })).json();
  expect(list.items.length).toBeGreaterThan(0);
  return list.items[0].id;
}

/** Visits each page in light and dark colours and collects what axe finds. */
async function audit(page: Page, paths: string[]): Promise<string[]> {
  const found: string[] = [];
  for (const scheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme: scheme });
    for (const path of paths) {
      await page.goto(path);
      await hydrated(page);
      for (const v of await violations(page)) found.push(`${scheme} ${path}: ${v}`);
    }
  }
  return found;
}

test('a visitor who relies on a screen reader or high contrast can use the login page', async ({ page }) => {
  expect(await audit(page, ['/login'])).toEqual([]);
});

for (const role of ['admin', 'operator', 'viewer', 'tenant'] as const) {
  test(`every page an ${role} sees has no serious accessibility violation, light or dark`, async ({ page, request }) => {
    test.setTimeout(120_000);
    const headers = await adminHeaders(request);
    let username = 'admin';
    let password = ADMIN_PASSWORD;
    if (role !== 'admin') {
      username = unique(role);
      password = `${role}-axe-password`;
      const r = await request.post('/api/v1/users', { headers, data: { username, password, role } });
      expect(r.status(), await r.text()).toBe(201);
    }
    const id = await firstServerId(request, headers);
    const pages: Record<typeof role, string[]> = {
      admin: ['/', '/servers', `/servers/${id}`, '/users', '/subscriptions', '/deployments', '/images', '/firmware', '/webhooks', '/no-such-page'],
      operator: ['/', '/servers', `/servers/${id}`, '/deployments', '/images', '/firmware'],
      viewer: ['/', '/servers', `/servers/${id}`, '/images', '/firmware'],
      tenant: ['/', '/images'],
    };
    await login(page, username, password);
    expect(await audit(page, pages[role])).toEqual([]);
  });
}

test('an admin with a 1280 px screen sees every state, the totals and utilization without scrolling sideways; 1024 px still fits', async ({ page }) => {
  await login(page, 'admin', ADMIN_PASSWORD);
  for (const width of [1280, 1024]) {
    await page.setViewportSize({ width, height: 800 });
    await page.goto('/');
    await hydrated(page);
    const report = page.getByTestId('utilization');
    await expect(report).toBeVisible();
    const overflow = await page.evaluate(() => {
      const wide = [...document.querySelectorAll('.table-wrap, main')].filter((e) => e.scrollWidth > e.clientWidth + 1);
      return { page: document.documentElement.scrollWidth - document.documentElement.clientWidth, wide: wide.map((e) => e.className) };
    });
    expect(overflow, `at ${width} px`).toEqual({ page: 0, wide: [] });
    // Every column is on screen, named in full for screen readers.
    for (const name of ['Registering', 'Available', 'Used', 'Cleaning', 'Defective', 'Decommissioned', 'Removed from rack', 'Total', 'Utilization']) {
      const header = report.getByRole('columnheader', { name, exact: true }).first();
      await expect(header, `${name} at ${width} px`).toBeInViewport();
    }
    await page.screenshot({ path: test.info().outputPath(`report-${width}.png`), fullPage: true });
  }
});

test('a keyboard user reaches the main actions with a visible focus', async ({ page }) => {
  await login(page, 'admin', ADMIN_PASSWORD);
  await page.goto('/servers');
  await hydrated(page);
  const seen: string[] = [];
  for (let i = 0; i < 40; i++) {
    await page.keyboard.press('Tab');
    const focus = await page.evaluate(() => {
      const e = document.activeElement as HTMLElement | null;
      if (!e || e === document.body) return null;
      const s = getComputedStyle(e);
      const visible = (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0) || s.boxShadow !== 'none';
      return { text: (e.getAttribute('aria-label') ?? e.textContent ?? '').trim().slice(0, 40), visible };
    });
    if (!focus) continue;
    expect(focus.visible, `focus on "${focus.text}" is visible`).toBe(true);
    seen.push(focus.text);
  }
  expect(seen).toEqual(expect.arrayContaining(['Servers', 'Utilization', 'Log out']));
});
