import { test, expect } from '@playwright/test';
import { ADMIN_PASSWORD, hydrated, login, watchErrors } from './helpers';

// The e2e lab: lab-01 and lab-06 share a type; lab-06 runs an older BMC firmware.
test('an admin adopts the most common firmware versions and follows the number behind to the machine', async ({ page, request }) => {
  test.setTimeout(120_000);
  const errors = watchErrors(page);
  const token = await request.post('/api/v1/tokens', { data: { username: 'admin', password: ADMIN_PASSWORD, name: 'fw' } });
  const headers = { Authorization: `Bearer ${(await token.json()).token}` };
  let label = '';
  await expect(async () => {
    const list = await (await request.get('/api/v1/servers?q=lab-0', { headers })).json();
    const lab01 = list.items.find((x: any) => x.name === 'lab-01');
    const lab06 = list.items.find((x: any) => x.name === 'lab-06');
    expect(lab01?.server_type).toBeTruthy();
    expect(lab06?.server_type).toBe(lab01.server_type);
    label = lab01.server_type;
  }).toPass({ timeout: 60_000 });

  await login(page, 'admin', ADMIN_PASSWORD);
  await page.goto('/firmware');
  await hydrated(page);
  const card = page.getByTestId('firmware-type').filter({ has: page.getByRole('heading', { name: label, exact: true }) });
  await expect(card).toContainText('BMC firmware');
  await card.getByRole('button', { name: `Adopt the most common versions for ${label}` }).click();
  await expect(card.getByRole('row', { name: /BMC firmware/ })).toContainText('2.10.4');
  await card.getByRole('link', { name: `1 ${label} server(s) behind for BMC` }).click();
  const servers = page.getByTestId('firmware-servers');
  await expect(servers).toContainText('lab-06');
  await expect(servers).toContainText('2.08.1');
  await servers.getByRole('link', { name: 'lab-06' }).click();
  const firmware = page.getByTestId('firmware');
  await expect(firmware.getByRole('row', { name: /BMC firmware/ })).toContainText('behind');
  expect(errors).toEqual([]);
});
