import { test, expect } from '@playwright/test';
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import { AddressInfo } from 'node:net';
import { ADMIN_PASSWORD, hydrated, login, unique, watchErrors } from './helpers';

test('an admin adds an image; a tenant allocates with it, sees it deployed, powers the server off and on; a viewer sees no power buttons', async ({ page, request }) => {
  test.setTimeout(120_000);
  const errors = watchErrors(page);
  // The "operating system": 512 KiB served from loopback, where the lab's machines download it.
  const image = Buffer.alloc(512 * 1024, 0);
  for (let i = 0; i < image.length; i++) image[i] = i % 251;
  const sha256 = createHash('sha256').update(image).digest('hex');
  const http = createServer((req, res) => {
    if (req.url === '/tiny-os.raw') {
      res.writeHead(200, { 'Content-Length': image.length });
      res.end(image);
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/tiny-os.raw`;

  const token = await request.post('/api/v1/tokens', { data: { username: 'admin', password: ADMIN_PASSWORD, name: 'e2e' } });
  expect(token.status()).toBe(201);
  const headers = { Authorization: `Bearer ${(await token.json()).token}` };
  const tenant = unique('dt');
  const viewer = unique('dv');
  const password = 'deploy-e2e-password';
  for (const [username, role] of [[tenant, 'tenant'], [viewer, 'viewer']]) {
    expect((await request.post('/api/v1/users', { headers, data: { username, password, role } })).status()).toBe(201);
  }
  // lab-01 and lab-06 share a type; the allocation test may have just released them
  // (cleaning): wait until both are settled, then make them available.
  let label = '';
  for (const machine of ['lab-01', 'lab-06']) {
    let found: any;
    await expect(async () => {
      const list = await (await request.get(`/api/v1/servers?q=${machine}`, { headers })).json();
      found = list.items.find((s: any) => s.name === machine);
      expect(['unavailable', 'available']).toContain(found?.state);
      expect(found?.current_job ?? null).toBeNull();
    }).toPass({ timeout: 60_000 });
    if (found.state === 'unavailable') {
      const resp = await request.post(`/api/v1/servers/${found.id}/state`, {
        headers,
        data: { state: 'available', generation: found.generation, checked: true },
      });
      expect(resp.status(), await resp.text()).toBe(200);
    }
    label = found.server_type;
  }

  // The admin adds the image on the Images page.
  const name = unique('tiny-os-');
  await login(page, 'admin', ADMIN_PASSWORD);
  await page.goto('/images');
  await hydrated(page);
  await page.getByLabel('Name').fill(name);
  await page.getByLabel('URL').fill(url);
  await page.getByLabel('SHA-256').fill(sha256);
  await page.getByRole('button', { name: 'Add image' }).click();
  await expect(page.getByText(`Image ${name} added.`)).toBeVisible();
  await expect(page.getByTestId('images')).toContainText(sha256);

  // The tenant allocates one server of the type with that image.
  await page.context().clearCookies();
  await login(page, tenant, password);
  await hydrated(page);
  await page.getByLabel('Server type').selectOption(label);
  await page.getByLabel('Operating system').selectOption(name);
  await page.getByRole('button', { name: 'Allocate' }).click();
  await expect(page.getByText(`${name} is being written to them`)).toBeVisible();
  const deployments = await (await request.get('/api/v1/deployments', { headers })).json();
  const mine = deployments.items.find((d: any) => d.username === tenant);
  expect(mine.image).toBe(name);
  const server = mine.members[0];
  await page.goto(`/servers/${server.id}`);
  await hydrated(page);
  // Progress arrives by itself (live updates), up to "deployed".
  const deploy = page.getByTestId('deploy');
  await expect(deploy.getByTestId('deploy-status')).toHaveText(`${name}: deployed`, { timeout: 60_000 });
  await expect(deploy.getByTestId('deploy-steps')).toContainText('write_image: ok: 524288 bytes written');
  const power = page.getByTestId('power');
  await expect(power.getByTestId('power-state')).toHaveText('On');
  await page.screenshot({ path: test.info().outputPath('deployed.png'), fullPage: true });

  // Off asks first: it interrupts whatever the server runs.
  await power.getByText('Power off…').click();
  await expect(power).toContainText('Unsaved work on it is lost');
  await power.getByRole('button', { name: 'Power off now' }).click();
  await expect(power.getByTestId('power-last')).toHaveText('power off: done', { timeout: 30_000 });
  await expect(power.getByTestId('power-state')).toHaveText('Off');
  await power.getByRole('button', { name: 'Power on' }).click();
  await expect(power.getByTestId('power-last')).toHaveText('power on: done', { timeout: 30_000 });
  await expect(power.getByTestId('power-state')).toHaveText('On');
  expect(errors).toEqual([]);

  // A viewer sees the server's power and its system, not a button to change them.
  await page.context().clearCookies();
  await login(page, viewer, password);
  await page.goto(`/servers/${server.id}`);
  await hydrated(page);
  await expect(page.getByTestId('power-state')).toHaveText('On');
  await expect(page.getByTestId('deploy-status')).toHaveText(`${name}: deployed`);
  await expect(page.getByTestId('power-buttons').getByRole('button')).toHaveCount(0);
  await expect(page.getByText('Deploy an image…')).toHaveCount(0);
  // The audit names the tenant for each power request.
  const events = await (await request.get(`/api/v1/servers/${server.id}/events`, { headers })).json();
  const asked = events.items.filter((e: any) => e.kind === 'power_requested').map((e: any) => [e.actor, e.to_value]);
  expect(asked).toEqual([[tenant, 'off'], [tenant, 'on']]);
  // Released, it is cleaned for the next one.
  const released = await request.post(`/api/v1/deployments/${mine.id}/release`, { headers, data: {} });
  expect(released.status(), await released.text()).toBe(202);
  http.close();
});
