import { test, expect } from '@playwright/test';
import { ADMIN_PASSWORD, addServer, hydrated, login, unique, watchErrors } from './helpers';

test('a wrong password shows the message and logs nobody in', async ({ page }) => {
  await page.goto('/login');
  await hydrated(page);
  await page.getByLabel('Username').fill('admin');
  await page.getByLabel('Password').fill('definitely-not-it');
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page.getByTestId('login-error')).toHaveText('wrong username or password');
  await expect(page.getByTestId('whoami')).toHaveCount(0);
});

test('anonymous visitors are sent to the login page and come back after it', async ({ page }) => {
  await page.goto('/users');
  await expect(page).toHaveURL(/\/login\?next=\/users/);
  await hydrated(page);
  await page.getByLabel('Username').fill('admin');
  await page.getByLabel('Password').fill(ADMIN_PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page).toHaveURL(/\/users$/);
  await expect(page.getByRole('heading', { name: 'Users' })).toBeVisible();
});

test('admin reaches the utilization page; the page is hydrated and navigates client-side', async ({ page }) => {
  const errors = watchErrors(page);
  await login(page, 'admin', ADMIN_PASSWORD);
  await expect(page.getByRole('heading', { name: 'Server type utilization' })).toBeVisible();
  await expect(page.getByTestId('utilization')).toBeVisible();
  await expect(page.getByTestId('whoami')).toContainText('admin');
  // A marker in the page's JS survives only a client-side (hydrated router) navigation.
  await page.evaluate(() => { (window as any).__still_here = true; });
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Servers' }).click();
  await expect(page.getByRole('heading', { name: 'Servers' })).toBeVisible();
  expect(await page.evaluate(() => (window as any).__still_here)).toBe(true);
  expect(errors).toEqual([]);
});

test('a viewer sees no state buttons and gets 403 calling the server function directly', async ({ page, browser }) => {
  const viewer = unique('viewer');
  const serverName = unique('srv');
  // The admin creates the viewer and a server through the pages.
  await login(page, 'admin', ADMIN_PASSWORD);
  await page.goto('/users');
  await hydrated(page);
  const create = page.locator('form', { has: page.getByRole('button', { name: 'Create user' }) });
  await create.getByLabel('Username').fill(viewer);
  await create.getByLabel('Password (12+ characters)').fill('viewer-password-1');
  await create.getByLabel('Role').selectOption('viewer');
  await create.getByRole('button', { name: 'Create user' }).click();
  await expect(page.getByTestId('users')).toContainText(viewer);

  const id = await addServer(page, serverName, `http://127.0.0.1:9/redfish/v1/Systems/${serverName}`);

  // The admin sees the status buttons on the server page.
  await page.goto(`/servers/${id}`);
  await expect(page.getByTestId('status-buttons')).toBeVisible();

  // The viewer, in a separate browser context, sees the page but no buttons.
  const ctx = await browser.newContext();
  const vp = await ctx.newPage();
  await login(vp, viewer, 'viewer-password-1');
  await vp.goto(`/servers/${id}`);
  await expect(vp.getByRole('heading', { name: serverName })).toBeVisible();
  await expect(vp.getByTestId('status-buttons')).toHaveCount(0);
  await expect(vp.getByRole('button', { name: 'Defective' })).toHaveCount(0);

  // Calling the server function directly with the viewer's session: 403, no change.
  const resp = await vp.request.post('/api/set_server_state', {
    form: { id: String(id), action: 'mark_defective', generation: '1', reason: 'viewer tries' },
    headers: { origin: new URL(vp.url()).origin },
  });
  expect(resp.status()).toBe(403);
  await vp.reload();
  await expect(vp.getByRole('heading', { name: serverName })).toContainText('Registering');
  await ctx.close();
});

test('admin marks a server defective with a reason; the audit shows who and why', async ({ page }) => {
  const serverName = unique('def');
  await login(page, 'admin', ADMIN_PASSWORD);
  // Added without a BMC password: the registration job fails at once, sending nothing.
  const id = await addServer(page, serverName, `http://127.0.0.1:9/redfish/v1/Systems/${serverName}`);
  await expect(async () => {
    await page.goto(`/servers/${id}`);
    await expect(page.getByTestId('job')).toContainText('failed', { timeout: 1000 });
  }).toPass({ timeout: 30_000 });
  await hydrated(page);
  await expect(page.getByTestId('job')).toContainText('no stored BMC password');
  // Registering with no job running: only Defective is enabled, the others say why.
  const available = page.getByRole('button', { name: 'Available', exact: true });
  await expect(available).toBeDisabled();
  await expect(available).toHaveAttribute('title', /unavailable or defective/);
  // Keyboard users reach it too, and focus shows the reason.
  await available.focus();
  await expect(page.getByRole('tooltip')).toContainText(/unavailable or defective/);
  await page.getByLabel('What is wrong?').fill('PSU 2 failed');
  await page.getByRole('button', { name: 'Defective' }).click();
  await expect(page.getByRole('heading', { name: serverName })).toContainText('Defective');
  await expect(page.getByTestId('events')).toContainText('PSU 2 failed');
  await expect(page.getByTestId('events')).toContainText('registering → defective');
});
