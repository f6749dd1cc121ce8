import { Page, expect } from '@playwright/test';

export const ADMIN_PASSWORD = process.env.E2E_ADMIN_PASSWORD ?? 'e2e-admin-password';

/** Collects errors the page throws, so a broken hydration fails the test. */
export function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  // A test that moves on before a page's wasm chunk arrived (as a user may) makes the
  // browser cancel that download: Leptos' loader logs it and its wasm stops, on a page
  // that is being left. That pair is not a bug; any other error is.
  let cancelled = false;
  page.on('pageerror', (e) => {
    if (cancelled && /RuntimeError: unreachable/.test(String(e))) cancelled = false;
    else errors.push(String(e));
  });
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    if (/Response body loading was aborted/.test(m.text())) cancelled = true;
    // Expected 401/403/409 answers show up as failed resource loads; those are not bugs.
    else if (!/status of 4\d\d/.test(m.text())) errors.push(m.text());
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
