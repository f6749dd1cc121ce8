import { test, expect, APIRequestContext } from '@playwright/test';
import { ADMIN_PASSWORD, hydrated, login, unique, watchErrors } from './helpers';

/** An admin API token (the REST API prepares what the tenant's test needs). */
async function adminApi(request: APIRequestContext): Promise<Record<string, string>> {
  const resp = await request.post('/api/v1/tokens', {
    data: { username: 'admin', password: ADMIN_PASSWORD, name: 'e2e' },
  });
  expect(resp.status()).toBe(201);
  return { Authorization: `Bearer ${(await resp.json()).token}` };
}

// Lab machines 1 and 6 have the same hardware profile, hence the same type.
test('a tenant allocates 2 servers, sees them used, releases them and sees cleaning start', async ({ page, request }) => {
  const errors = watchErrors(page);
  const headers = await adminApi(request);
  const tenant = unique('t');
  const password = 'tenant-e2e-password';
  expect((await request.post('/api/v1/users', { headers, data: { username: tenant, password, role: 'tenant' } })).status()).toBe(201);
  // The admin makes the two registered lab servers available.
  let label = '';
  const ids: number[] = [];
  for (const name of ['lab-01', 'lab-06']) {
    let server: any;
    await expect(async () => {
      const list = await (await request.get(`/api/v1/servers?q=${name}`, { headers })).json();
      server = list.items.find((s: any) => s.name === name);
      expect(['unavailable', 'available']).toContain(server?.state);
    }).toPass({ timeout: 60_000 });
    if (server.state === 'unavailable') {
      const resp = await request.post(`/api/v1/servers/${server.id}/state`, {
        headers,
        data: { state: 'available', generation: server.generation, checked: true },
      });
      expect(resp.status(), await resp.text()).toBe(200);
    }
    label = server.server_type;
    ids.push(server.id);
  }

  await login(page, tenant, password);
  // A tenant's home is "My servers".
  await expect(page.getByRole('heading', { name: 'My servers' })).toBeVisible();
  await hydrated(page);
  await page.getByLabel('Server type').selectOption(label);
  await page.getByLabel('How many').fill('2');
  await page.getByRole('button', { name: 'Allocate' }).click();
  await expect(page.getByText('2 server(s) allocated')).toBeVisible();
  const mine = page.getByTestId('my-servers');
  await expect(mine.getByRole('row', { name: /lab-01/ })).toContainText('Used');
  await expect(mine.getByRole('row', { name: /lab-06/ })).toContainText('Used');
  await page.screenshot({ path: test.info().outputPath('my-servers.png'), fullPage: true });

  const deployments = page.getByTestId('deployments');
  await deployments.getByText('Release…').click();
  await deployments.getByRole('button', { name: 'Release 2 server(s)' }).click();
  await expect(page.getByText('released servers are cleaning')).toBeVisible();
  await expect(deployments).toContainText('released');
  await expect(deployments.getByText('(released)')).toHaveCount(2);
  await expect(deployments).toContainText('Cleaning');
  // The cleaning jobs started: the admin sees them on the servers.
  for (const id of ids) {
    const server = await (await request.get(`/api/v1/servers/${id}`, { headers })).json();
    expect(['cleaning', 'available']).toContain(server.state);
  }
  // Each cleaning leaves an erase certificate: the admin sees it on the server page.
  await page.context().clearCookies();
  await login(page, 'admin', ADMIN_PASSWORD);
  const certs = page.getByTestId('erase-certificates');
  await expect(async () => {
    await page.goto(`/servers/${ids[0]}`);
    await expect(certs).toContainText('Certificate', { timeout: 1000 });
  }).toPass({ timeout: 60_000 });
  await expect(certs).toContainText('secure (device sanitize or secure erase');
  await expect(certs).toContainText('LAB00001-D01');
  await expect(certs).toContainText('passed');
  await page.screenshot({ path: test.info().outputPath('erase-certificate.png'), fullPage: true });
  expect(errors).toEqual([]);
});

test('an admin creates a subscription and sees how full it is', async ({ page, request }) => {
  const errors = watchErrors(page);
  const headers = await adminApi(request);
  const tenant = unique('s');
  expect((await request.post('/api/v1/users', { headers, data: { username: tenant, password: 'tenant-e2e-password', role: 'tenant' } })).status()).toBe(201);
  await login(page, 'admin', ADMIN_PASSWORD);
  await page.goto('/subscriptions');
  await hydrated(page);
  await page.getByLabel('Tenant').selectOption(tenant);
  await page.getByLabel('Servers', { exact: true }).fill('3');
  await page.getByRole('button', { name: 'Create subscription' }).click();
  // The lab's types have at most 2 servers each, none available: it says it is short.
  await expect(page.getByRole('status')).toContainText(`for ${tenant}`);
  const row = page.getByTestId('subscriptions').getByRole('row', { name: new RegExp(tenant) });
  await expect(row.getByTestId('fill')).toContainText('short');
  await row.getByRole('button', { name: 'End' }).click();
  await expect(row.getByTestId('fill')).toContainText('ended');
  await page.goto('/');
  await expect(page.getByRole('heading', { name: 'By tenant' })).toBeVisible();
  expect(errors).toEqual([]);
});
