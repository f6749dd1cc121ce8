import { test, expect } from '@playwright/test';
import * as http from 'node:http';
import * as crypto from 'node:crypto';
import { AddressInfo } from 'node:net';
import { ADMIN_PASSWORD, hydrated, login, watchErrors } from './helpers';

/** A webhook receiver on loopback that keeps what it gets. */
function receiver(): Promise<{ url: string; got: { headers: http.IncomingHttpHeaders; body: string }[]; close: () => void }> {
  const got: { headers: http.IncomingHttpHeaders; body: string }[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      got.push({ headers: req.headers, body });
      res.writeHead(200).end('ok');
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({ url: `http://127.0.0.1:${port}/hook`, got, close: () => server.close() });
    }),
  );
}

/** A receiver's check: HMAC-SHA256 of "<t>.<body>" under the secret, as docs/webhooks.md says. */
function signed(secret: string, header: string, body: string): boolean {
  const parts = Object.fromEntries(header.split(',').map((p) => p.split('=', 2)));
  const expected = crypto.createHmac('sha256', secret).update(`${parts.t}.${body}`).digest('hex');
  return expected === parts.v1 && Math.abs(Date.now() / 1000 - Number(parts.t)) < 300;
}

test('an admin adds a webhook, gets its secret once, sees the signed delivery in the log and redelivers it', async ({ page, request }) => {
  test.setTimeout(90_000);
  const errors = watchErrors(page);
  const rx = await receiver();
  try {
    await login(page, 'admin', ADMIN_PASSWORD);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Webhooks' }).click();
    await hydrated(page);
    await expect(page.getByRole('heading', { name: 'Webhooks', level: 1 })).toBeVisible();
    await page.getByLabel('URL').fill(rx.url);
    await page.getByLabel('State changes').uncheck();
    await page.getByLabel('BMC warnings').check();
    await page.getByLabel('Description (optional)').fill('e2e receiver');
    await page.getByRole('button', { name: 'Add webhook' }).click();
    const shown = page.getByTestId('webhook-secret');
    await expect(shown).toContainText('shown only now');
    const secret = (await shown.locator('code').textContent())!.trim();
    expect(secret.length).toBeGreaterThanOrEqual(32);
    const row = page.getByTestId('webhook-row').filter({ hasText: rx.url });
    await expect(row).toContainText('BMC warnings');
    await expect(row).toContainText('enabled');

    // Something worth a BMC warning: an admin reveals lab-02's BMC password.
    const token = await request.post('/api/v1/tokens', { data: { username: 'admin', password: ADMIN_PASSWORD, name: 'wh' } });
    const headers = { Authorization: `Bearer ${(await token.json()).token}` };
    const list = await (await request.get('/api/v1/servers?q=lab-02', { headers })).json();
    const lab02 = list.items.find((x: any) => x.name === 'lab-02');
    expect((await request.get(`/api/v1/servers/${lab02.id}/bmc-credentials`, { headers })).ok()).toBeTruthy();
    await expect.poll(() => rx.got.length, { timeout: 20_000 }).toBe(1);
    const first = rx.got[0];
    expect(signed(secret, String(first.headers['rackstate-signature']), first.body)).toBe(true);
    const event = JSON.parse(first.body).event;
    expect([event.kind, event.server_name]).toEqual(['credentials_revealed', 'lab-02']);

    await row.getByRole('link', { name: /Delivery log/ }).click();
    const log = page.getByTestId('deliveries');
    await expect(log.getByTestId('delivery-row').first()).toContainText('delivered');
    await expect(log.getByTestId('delivery-row').first()).toContainText('credentials_revealed');
    await log.getByRole('button', { name: `Redeliver event ${event.id} (delivery ${first.headers['rackstate-delivery']})` }).click();
    await expect(page.getByRole('status').filter({ hasText: 'queued again' })).toBeVisible();
    await expect.poll(() => rx.got.length, { timeout: 20_000 }).toBe(2);
    const again = rx.got[1];
    expect(JSON.parse(again.body).event.id).toBe(event.id);
    expect(again.headers['rackstate-delivery']).not.toBe(first.headers['rackstate-delivery']);
    expect(signed(secret, String(again.headers['rackstate-signature']), again.body)).toBe(true);

    await row.getByRole('button', { name: `Disable the webhook to ${rx.url}` }).click();
    await expect(row).toContainText('disabled');
    await page.reload();
    await hydrated(page);
    await expect(page.getByTestId('webhook-secret')).toHaveCount(0);
    expect(errors).toEqual([]);
  } finally {
    rx.close();
  }
});
