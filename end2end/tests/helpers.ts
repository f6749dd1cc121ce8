import { Page, expect } from '@playwright/test';

export const ADMIN_PASSWORD = process.env.E2E_ADMIN_PASSWORD ?? 'e2e-admin-password';

/** Collects errors the page throws, so a broken hydration fails the test. */
export function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  // A test that moves on before a page's wasm chunk arrived (as a user may) makes the
  // browser cancel that download: Leptos' loader reports it ("Failed to fetch" before
  // the answer began, "Response body loading was aborted" after) and its wasm stops
  // ("unreachable"), on a page that is being left. Those are not bugs while the main
  // frame is navigating (from its navigation request until a second after the next
  // page loaded, as the old page's errors arrive late); any other error is, and the
  // same messages without a navigation are too.
  // (A navigation that never loads a page, a download, counts for ten seconds.)
  let navigatingSince = 0;
  let settledAt = 0;
  page.on('request', (r) => {
    if (r.isNavigationRequest() && r.frame() === page.mainFrame()) navigatingSince = Date.now();
  });
  page.on('load', () => {
    navigatingSince = 0;
    settledAt = Date.now() + 1000;
  });
  const leaving = () => Date.now() - navigatingSince < 10_000 || Date.now() < settledAt;
  const cancelled = (text: string) =>
    /RuntimeError: unreachable/.test(text) ||
    /Response body loading was aborted/.test(text) ||
    (/TypeError: Failed to fetch/.test(text) && /__wasm_split/.test(text));
  page.on('pageerror', (e) => {
    const text = `${e}\n${e.stack ?? ''}`;
    if (!(leaving() && cancelled(text))) errors.push(String(e.stack ?? e));
  });
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    if (leaving() && cancelled(m.text())) return;
    // Expected 401/403/409 answers show up as failed resource loads; those are not bugs.
    if (!/status of 4\d\d/.test(m.text())) errors.push(m.text());
  });
  // A failed download names its address (the page errors above do not).
  page.on('requestfailed', (r) => {
    if (!leaving() && /\.wasm$/.test(r.url())) errors.push(`${r.url()}: ${r.failure()?.errorText}`);
  });
  return errors;
}

export async function hydrated(page: Page) {
  await page.locator('body[data-hydrated]').waitFor();
}

export async function login(page: Page, username: string, password: string) {
  await page.goto('/login');
  await hydrated(page);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page.getByTestId('whoami')).toContainText(username);
}

/** A unique suffix so tests do not depend on each other's data. */
export function unique(prefix: string): string {
  return `${prefix}${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;
}

/** Adds a server through the Servers page and returns its id. */
export async function addServer(page: Page, name: string, bmc: string): Promise<number> {
  await page.goto('/servers');
  await hydrated(page);
  await page.getByText('Add a server').click();
  await page.getByLabel('Name').fill(name);
  await page.getByLabel('BMC address').fill(bmc);
  await page.getByRole('button', { name: 'Add server' }).click();
  const link = page.getByRole('link', { name }).first();
  await expect(link).toBeVisible();
  return Number((await link.getAttribute('href'))!.split('/').pop());
}
