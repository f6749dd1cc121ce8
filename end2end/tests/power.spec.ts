import { test, expect } from '@playwright/test';
import { ADMIN_PASSWORD, hydrated, login, unique, watchErrors } from './helpers';

// lab-05 is no other test's machine (its hardware profile is a type of its own).
test('a tenant powers their allocated server on and off; a viewer sees no power buttons', async ({ page, request }) => {
  const errors = watchErrors(page);
  const token = await request.post('/api/v1/tokens', { data: { username: 'admin', password: ADMIN_PASSWORD, name: 'e2e' } });
  expect(token.status()).toBe(201);
  const headers = { Authorization: `Bearer ${(await token.json()).token}` };
  const tenant = unique('pt');
  const viewer = unique('pv');
  const password = 'power-e2e-password';
  for (const [username, role] of [[tenant, 'tenant'], [viewer, 'viewer']]) {
    expect((await request.post('/api/v1/users', { headers, data: { username, password, role } })).status()).toBe(201);
  }
  let server: any;
  await expect(async () => {
    const list = await (await request.get('/api/v1/servers?q=lab-05', { headers })).json();
    server = list.items.find((s: any) => s.name === 'lab-05');
    expect(server?.state).toBe('unavailable');
    expect(server?.current_job ?? null).toBeNull();
  }).toPass({ timeout: 60_000 });
  const available = await request.post(`/api/v1/servers/${server.id}/state`, {
    headers,
    data: { state: 'available', generation: server.generation, checked: true },
  });
  expect(available.status(), await available.text()).toBe(200);
  const allocated = await request.post('/api/v1/deployments', {
    headers,
    data: { server_type: server.server_type, count: 1, username: tenant },
  });
  expect(allocated.status(), await allocated.text()).toBe(201);

  await login(page, tenant, password);
  await page.goto(`/servers/${server.id}`);
  await hydrated(page);
  const card = page.getByTestId('power');
  await expect(card.getByTestId('power-state')).toHaveText('Off');
  await card.getByRole('button', { name: 'Power on' }).click();
  // Progress and the outcome arrive by themselves (live updates), no reload.
  await expect(card.getByTestId('power-last')).toHaveText('power on: done', { timeout: 30_000 });
  await expect(card.getByTestId('power-state')).toHaveText('On');
  // Off asks first: it interrupts whatever the server runs.
  await card.getByText('Power off…').click();
  await expect(card).toContainText('Unsaved work on it is lost');
  await card.getByRole('button', { name: 'Power off now' }).click();
  await expect(card.getByTestId('power-last')).toHaveText('power off: done', { timeout: 30_000 });
  await expect(card.getByTestId('power-state')).toHaveText('Off');
  await page.screenshot({ path: test.info().outputPath('power.png'), fullPage: true });
  expect(errors).toEqual([]);

  // A viewer sees the server's power, not a button to change it.
  await page.context().clearCookies();
  await login(page, viewer, password);
  await page.goto(`/servers/${server.id}`);
  await hydrated(page);
  await expect(page.getByTestId('power-state')).toHaveText('Off');
  await expect(page.getByTestId('power-buttons').getByRole('button')).toHaveCount(0);
  // The audit names the tenant for each request.
  const events = await (await request.get(`/api/v1/servers/${server.id}/events`, { headers })).json();
  const asked = events.items.filter((e: any) => e.kind === 'power_requested').map((e: any) => [e.actor, e.to_value]);
  expect(asked).toEqual([[tenant, 'on'], [tenant, 'off']]);
});
