import { test, expect } from '@playwright/test';
import { ADMIN_PASSWORD, addServer, hydrated, login, unique, watchErrors } from './helpers';

test('two admins edit notes: the second save is refused with the first one shown, nothing lost', async ({ page, browser }) => {
  const errors = watchErrors(page);
  const name = unique('notes');
  await login(page, 'admin', ADMIN_PASSWORD);
  const id = await addServer(page, name, `http://127.0.0.1:9/redfish/v1/Systems/${name}`);

  const ctx = await browser.newContext();
  const other = await ctx.newPage();
  await login(other, 'admin', ADMIN_PASSWORD);

  // Both open the editor on version 0.
  for (const p of [page, other]) {
    await p.goto(`/servers/${id}`);
    await hydrated(p);
    await p.getByTestId('notes').getByText('Edit notes').click();
  }
  // The first saves Markdown; the preview renders it, and no script runs.
  await page.getByLabel('Markdown').fill('# Rack 12\n\n**PSU 2** swapped <script>window.__owned = 1</script>');
  await expect(page.getByTestId('notes-preview').locator('strong')).toHaveText('PSU 2');
  await page.getByRole('button', { name: 'Save notes' }).click();
  await expect(page.getByTestId('notes')).toContainText('Saved version 1.');
  await expect(page.getByTestId('notes-rendered').locator('h1')).toHaveText('Rack 12');
  await expect(page.getByTestId('notes-rendered')).toContainText('<script>');
  expect(await page.evaluate(() => (window as any).__owned)).toBeUndefined();

  // The second, still on version 0, is refused and sees the first's text; theirs stays.
  await other.getByLabel('Markdown').fill('my own findings');
  await other.getByRole('button', { name: 'Save notes' }).click();
  await expect(other.getByRole('alert')).toContainText('admin saved version 1');
  await expect(other.getByRole('alert')).toContainText('PSU 2');
  await expect(other.getByLabel('Markdown')).toHaveValue('my own findings');

  // After a reload the history shows the version, who and when.
  await page.reload();
  await page.getByText('History (1 versions)').click();
  await expect(page.getByTestId('notes-history')).toContainText('version 1 by admin');
  await ctx.close();
  expect(errors).toEqual([]);
});
