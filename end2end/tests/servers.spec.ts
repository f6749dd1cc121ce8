import { test, expect } from '@playwright/test';
import { ADMIN_PASSWORD, hydrated, login, unique, watchErrors } from './helpers';

// Runs after registration.spec.ts: lab-03 and lab-04 are unavailable by then.
async function labUnavailable(page: import('@playwright/test').Page, names: string[]) {
  await expect(async () => {
    await page.goto('/servers?state=unavailable');
    for (const n of names) await expect(page.getByRole('link', { name: n })).toBeVisible({ timeout: 1000 });
  }).toPass({ timeout: 60_000 });
}

test('the list searches by MAC, sorts by a column and pages; a filtered view is a link', async ({ page }) => {
  const errors = watchErrors(page);
  await login(page, 'admin', ADMIN_PASSWORD);
  await labUnavailable(page, ['lab-04']);
  await page.getByRole('link', { name: 'lab-04' }).click();
  await hydrated(page);
  const mac = (await page.getByTestId('inventory').locator('td.mono').filter({ hasText: /^([0-9a-f]{2}:){5}/ }).first().textContent())!.trim();
  await page.goto('/servers');
  await hydrated(page);
  await page.getByLabel('Search').fill(mac.toUpperCase());
  await page.getByRole('button', { name: 'Filter' }).click();
  await expect(page).toHaveURL(/q=/);
  const list = page.getByTestId('server-list');
  await expect(list.locator('tbody tr')).toHaveCount(1);
  await expect(list).toContainText('lab-04');
  // Sorting: Name again sorts descending; the header says so to screen readers.
  await page.goto('/servers?q=lab-');
  await hydrated(page);
  await page.getByRole('link', { name: /^Name/ }).click();
  await expect(page).toHaveURL(/dir=desc/);
  await expect(page.getByRole('columnheader', { name: /Name/ })).toHaveAttribute('aria-sort', 'descending');
  await expect(list.locator('tbody tr').first()).toContainText('lab-07');
  await expect(page.getByTestId('list-summary')).toContainText('Showing 1–7 of 7');
  await page.screenshot({ path: test.info().outputPath('server-list.png'), fullPage: true });
  expect(errors).toEqual([]);
});

test('a bulk action reports each server; refused ones stay as they were', async ({ page }) => {
  const errors = watchErrors(page);
  await login(page, 'admin', ADMIN_PASSWORD);
  await labUnavailable(page, ['lab-03', 'lab-04']);
  await hydrated(page);
  const bar = page.getByTestId('bulk-bar');
  const apply = async (action: string, reason = '') => {
    await page.getByLabel('Select lab-03').check();
    await page.getByLabel('Select lab-04').check();
    await expect(bar).toContainText('2 selected');
    await bar.getByLabel('Action').selectOption(action);
    await bar.getByLabel('Reason').fill(reason);
    await bar.getByRole('button', { name: 'Apply to selected' }).click();
  };
  const results = page.getByTestId('bulk-results');
  // Unavailable servers cannot be set unavailable: both refused, with the reason.
  await apply('set_unavailable');
  await expect(results).toContainText('0 done, 2 refused');
  await expect(results).toContainText('cannot');
  await apply('mark_defective', 'rack PDU tripped');
  await expect(results).toContainText('2 done, 0 refused');
  await expect(results.getByRole('row', { name: /lab-03/ })).toContainText('Defective');
  await page.goto('/servers?state=defective');
  await hydrated(page);
  await apply('set_available');
  await expect(results).toContainText('2 done, 0 refused');
  await page.goto('/servers?state=available');
  await hydrated(page);
  await apply('set_unavailable');
  await expect(results).toContainText('2 done, 0 refused');
  await results.getByRole('link', { name: 'lab-03' }).click();
  await expect(page.getByTestId('events')).toContainText('rack PDU tripped');
  expect(errors).toEqual([]);
});

test('select all picks every server on the page; adding a server keeps the selection', async ({ page }) => {
  const errors = watchErrors(page);
  await login(page, 'admin', ADMIN_PASSWORD);
  await page.goto('/servers?q=lab-');
  await hydrated(page);
  const bar = page.getByTestId('bulk-bar');
  const all = page.getByLabel('Select all servers on this page');
  const rows = await page.getByTestId('server-list').locator('tbody tr').count();
  await all.check();
  await expect(bar).toContainText(`${rows} selected`);
  await page.getByLabel('Select lab-03').uncheck();
  await expect(bar).toContainText(`${rows - 1} selected`);
  await expect(all).not.toBeChecked();
  // Adding a server reads the list again (the new one is not in this search).
  await page.getByText('Add a server').click();
  const name = unique('kept-');
  await page.getByLabel('Name').fill(name);
  await page.getByLabel('BMC address').fill(`http://127.0.0.1:9/redfish/v1/Systems/${name}`);
  await page.getByRole('button', { name: 'Add server' }).click();
  await expect(page.getByRole('status')).toContainText(`Added ${name}`);
  await expect(bar).toContainText(`${rows - 1} selected`);
  await expect(page.getByLabel('Select lab-04')).toBeChecked();
  await expect(page.getByLabel('Select lab-03')).not.toBeChecked();
  await all.check();
  await expect(bar).toContainText(`${rows} selected`);
  await all.uncheck();
  await expect(bar).toContainText('0 selected');
  await expect(page.getByLabel('Select lab-04')).not.toBeChecked();
  expect(errors).toEqual([]);
});

test('the add form names every invalid field and keeps what was typed', async ({ page }) => {
  const errors = watchErrors(page);
  await login(page, 'admin', ADMIN_PASSWORD);
  await page.goto('/servers');
  await hydrated(page);
  await page.getByText('Add a server').click();
  await page.getByLabel('Name').fill('bad name');
  await page.getByLabel('BMC address').fill('10.0.0.1 oops');
  await page.getByRole('button', { name: 'Add server' }).click();
  await expect(page.locator('#add-name-error')).toContainText('may contain only letters');
  await expect(page.locator('#add-bmc_address-error')).toContainText('must be a host name or IP address');
  await expect(page.getByLabel('Name')).toHaveAttribute('aria-invalid', 'true');
  await expect(page.getByLabel('BMC address')).toHaveValue('10.0.0.1 oops');
  const name = unique('good-');
  await page.getByLabel('Name').fill(name);
  await page.getByLabel('BMC address').fill(`http://127.0.0.1:9/redfish/v1/Systems/${name}`);
  await page.getByRole('button', { name: 'Add server' }).click();
  await expect(page.getByRole('status')).toContainText(`Added ${name}`);
  await expect(page.locator('#add-name-error')).toBeEmpty();
  expect(errors).toEqual([]);
});

test('the report shows the lab types, a cell opens its servers, and the lifecycle links each state', async ({ page }) => {
  const errors = watchErrors(page);
  await login(page, 'admin', ADMIN_PASSWORD);
  await page.goto('/');
  await hydrated(page);
  // Lab machine 4 is the GPU server (registration.spec.ts): its type row, Unavailable cell.
  const report = page.getByTestId('utilization');
  const row = report.getByRole('row', { name: /M\.128\.1024\.2G/ });
  await expect(row).toBeVisible();
  await page.screenshot({ path: test.info().outputPath('report.png'), fullPage: true });
  // After the type's name, one cell per state in lifecycle order: registering, unavailable, ...
  await row.locator('td').nth(1).getByRole('link').click();
  await expect(page).toHaveURL(/\/servers\?state=unavailable&type=M\.128\.1024\.2G/);
  await expect(page.getByTestId('server-list')).toContainText('lab-04');
  await page.goto('/');
  await hydrated(page);
  const diagram = page.getByTestId('lifecycle');
  await expect(diagram).toContainText('Available (reserved)');
  await expect(diagram).toContainText('Removed from rack');
  await diagram.locator('a.node', { hasText: 'Unavailable' }).click();
  await expect(page).toHaveURL(/\/servers\?state=unavailable/);
  await expect(page.getByTestId('server-list')).toContainText('Unavailable');
  expect(errors).toEqual([]);
});

test('a lost connection gets a clear message, not a raw error', async ({ page }) => {
  await login(page, 'admin', ADMIN_PASSWORD);
  const id = await (async () => {
    await page.goto('/servers');
    await hydrated(page);
    await page.getByText('Add a server').click();
    const name = unique('offline-');
    await page.getByLabel('Name').fill(name);
    await page.getByLabel('BMC address').fill(`http://127.0.0.1:9/redfish/v1/Systems/${name}`);
    await page.getByRole('button', { name: 'Add server' }).click();
    const link = page.getByRole('status').getByRole('link', { name });
    return Number((await link.getAttribute('href'))!.split('/').pop());
  })();
  // The live stream and the notes save fail as if the network were gone.
  await page.route('**/live/servers/**', (route) => route.abort('connectionreset'));
  await page.route('**/api/save_notes', (route) => route.abort('connectionreset'));
  await page.goto(`/servers/${id}`);
  await hydrated(page);
  await expect(page.getByTestId('live-lost')).toContainText('Live updates are interrupted');
  const notes = page.getByTestId('notes');
  await notes.getByText('Edit notes').click();
  await notes.getByLabel('Markdown').fill('written while offline');
  await notes.getByRole('button', { name: 'Save notes' }).click();
  await expect(notes.getByRole('alert')).toContainText('Rackstate could not be reached');
  await expect(notes.getByLabel('Markdown')).toHaveValue('written while offline');
});

test('without JavaScript the list reads, a bulk action applies and a refused form names its field', async ({ browser }) => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto('/login');
  await page.getByLabel('Username').fill('admin');
  await page.getByLabel('Password').fill(ADMIN_PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page.getByTestId('whoami')).toContainText('admin');
  await page.goto('/servers?q=lab-03');
  const row = page.getByRole('row', { name: /lab-03/ });
  await expect(row).toContainText('Unavailable');
  const bulk = async (action: string, reason: string) => {
    await page.getByLabel('Select lab-03').check();
    await page.getByLabel('Action').selectOption(action);
    await page.getByLabel('Reason').fill(reason);
    await page.getByRole('button', { name: 'Apply to selected' }).click();
    await page.waitForURL(/\/servers\?q=lab-03/);
  };
  await bulk('mark_defective', 'checked without JavaScript');
  await expect(row).toContainText('Defective');
  await bulk('set_unavailable', '');
  await expect(row).toContainText('Unavailable');
  await page.getByText('Add a server').click();
  await page.getByLabel('Name').fill('no js!');
  await page.getByLabel('BMC address').fill('10.0.0.1');
  await page.getByRole('button', { name: 'Add server' }).click();
  await expect(page.locator('#add-name-error')).toContainText('may contain only letters');
  await context.close();
});
