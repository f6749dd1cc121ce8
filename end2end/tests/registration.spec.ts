import { test, expect } from '@playwright/test';
import { ADMIN_PASSWORD, hydrated, login, watchErrors } from './helpers';

// The e2e server runs a demo lab of 7 simulated servers (scripts/test.sh).
test('the demo lab registers; a server page shows its type, power and the job log', async ({ page }) => {
  const errors = watchErrors(page);
  await login(page, 'admin', ADMIN_PASSWORD);
  await expect(async () => {
    await page.goto('/servers?state=unavailable');
    await expect(page.getByRole('link', { name: 'lab-04' })).toBeVisible({ timeout: 1000 });
  }).toPass({ timeout: 60_000 });
  await page.getByRole('link', { name: 'lab-04' }).click();
  await expect(page.getByRole('heading', { name: 'lab-04' })).toContainText('Unavailable');
  // Lab machine 4 is the GPU server: its type carries the G.
  await expect(page.locator('.summary')).toContainText(/M\.128\.1024\.2G/);
  await expect(page.locator('.summary')).toContainText('LAB00004');
  const job = page.getByTestId('job');
  await expect(job).toContainText('succeeded');
  await expect(job).toContainText('inserting the live image as virtual media');
  await expect(job).toContainText('agent reported the inventory: 2 CPU(s), 128 logical cores, 1024 GB RAM');
  await expect(job).toContainText('registered: lab-04 is unavailable');
  await expect(page.getByTestId('events')).toContainText('registering → unavailable');
  await page.goto('/');
  await expect(page.getByTestId('utilization')).toContainText('M.128.1024.2G');
  expect(errors).toEqual([]);
});

test('admin copies the BMC credentials, decommissions, enters the password again and registers', async ({ page }) => {
  const errors = watchErrors(page);
  await login(page, 'admin', ADMIN_PASSWORD);
  await expect(async () => {
    await page.goto('/servers?state=unavailable');
    await expect(page.getByRole('link', { name: 'lab-05' })).toBeVisible({ timeout: 1000 });
  }).toPass({ timeout: 60_000 });
  await page.getByRole('link', { name: 'lab-05' }).click();
  await hydrated(page);
  const processes = page.getByTestId('process-buttons');
  await processes.getByText('Decommission…').click();
  await expect(processes).toContainText('forgets the BMC password');
  // The seed: copy the BMC address, user, password and serial first. Shown inline.
  await processes.getByRole('button', { name: 'Show BMC credentials to copy' }).click();
  const creds = processes.locator('dl.creds');
  await expect(creds).toContainText('LAB00005');
  const password = (await creds.locator('dd').nth(2).textContent())!.trim();
  expect(password.length).toBeGreaterThan(0);
  await processes.getByRole('button', { name: 'Decommission now' }).click();
  await expect(page.getByRole('heading', { name: 'lab-05' })).toContainText('Decommissioned', { timeout: 30_000 });
  await expect(page.getByTestId('job')).toContainText('forgetting the BMC credentials');
  await expect(page.getByTestId('events')).toContainText('credentials_revealed');
  await expect(page.getByTestId('events')).toContainText('credentials_forgotten');
  // The password is gone: enter it again, then Register starts the first cycle.
  const bmc = page.getByTestId('bmc-card');
  await expect(bmc).toContainText('Decommissioning forgot the BMC password');
  await bmc.getByLabel('New BMC password').fill(password);
  await bmc.getByRole('button', { name: 'Save BMC access' }).click();
  await expect(bmc).toContainText('BMC access saved.');
  await expect(page.getByTestId('events')).toContainText('password set');
  await page.getByTestId('process-buttons').getByText('Register…').click();
  await page.getByTestId('process-buttons').getByRole('button', { name: 'Register now' }).click();
  await expect(page.getByRole('heading', { name: 'lab-05' })).toContainText('Unavailable', { timeout: 60_000 });
  await expect(page.getByTestId('job')).toContainText('registered: lab-05 is unavailable');
  expect(errors).toEqual([]);
});

test('a re-registration\'s steps and audit appear live, without reloading', async ({ page }) => {
  const errors = watchErrors(page);
  await login(page, 'admin', ADMIN_PASSWORD);
  await expect(async () => {
    await page.goto('/servers?state=unavailable');
    await expect(page.getByRole('link', { name: 'lab-03' })).toBeVisible({ timeout: 1000 });
  }).toPass({ timeout: 60_000 });
  await page.getByRole('link', { name: 'lab-03' }).click();
  await hydrated(page);
  // The page follows the server from here on: no reload below.
  let reloaded = false;
  page.on('load', () => { reloaded = true; });
  const processes = page.getByTestId('process-buttons');
  await processes.getByText('Re-register…').click();
  await processes.getByRole('button', { name: 'Re-register now' }).click();
  const job = page.getByTestId('job');
  await expect(job).toContainText('agent reported the inventory', { timeout: 30_000 });
  await expect(job).toContainText('registered: lab-03 is unavailable', { timeout: 30_000 });
  await expect(job).toContainText('succeeded');
  await expect(page.getByRole('heading', { name: 'lab-03' })).toContainText('Unavailable');
  await expect(page.getByTestId('events')).toContainText('registering → unavailable');
  await page.screenshot({ path: test.info().outputPath('server-page.png'), fullPage: true });
  expect(reloaded).toBe(false);
  expect(errors).toEqual([]);
});

test('Available from unavailable shows the disks and switch interfaces to confirm first', async ({ page }) => {
  const errors = watchErrors(page);
  await login(page, 'admin', ADMIN_PASSWORD);
  await expect(async () => {
    await page.goto('/servers?state=unavailable');
    await expect(page.getByRole('link', { name: 'lab-02' })).toBeVisible({ timeout: 1000 });
  }).toPass({ timeout: 60_000 });
  await page.getByRole('link', { name: 'lab-02' }).click();
  await hydrated(page);
  // The hardware card lists what registration found.
  await expect(page.getByTestId('inventory')).toContainText('LAB00002-D01');
  const confirm = page.getByTestId('available-confirm');
  await confirm.getByText('Available…').click();
  await expect(confirm).toContainText('LAB00002-D01');
  await expect(confirm).toContainText(/→ (.+ port .+|no LLDP neighbour seen)/);
  // The checkbox is required: nothing happens without it.
  await confirm.getByRole('button', { name: 'Set available' }).click();
  await expect(page.getByRole('heading', { name: 'lab-02' })).toContainText('Unavailable');
  await confirm.getByLabel('I checked the disks and switch interfaces').check();
  await confirm.getByRole('button', { name: 'Set available' }).click();
  await expect(page.getByRole('heading', { name: 'lab-02' })).toContainText('Available');
  await expect(page.getByTestId('events')).toContainText('unavailable → available');
  expect(errors).toEqual([]);
});
