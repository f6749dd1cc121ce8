import { test, expect } from '@playwright/test';

/** Collects errors the page throws, so a broken hydration fails the test. */
function watchErrors(page) {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  return errors;
}

test('home page renders on the server, hydrates, and calls a server function', async ({ page }) => {
  const errors = watchErrors(page);
  await page.goto('/');
  await expect(page.locator('header .brand')).toHaveText('Rackstate');
  await expect(page.getByRole('navigation', { name: 'Main' })).toContainText('Servers');
  await expect(page.getByTestId('server-count')).toHaveText(/^\d+$/);

  // The button does nothing until the wasm bundle hydrates the page.
  await page.locator('body[data-hydrated]').waitFor();
  await page.getByRole('button', { name: 'Check again' }).click();
  await expect(page.getByTestId('checks')).toHaveText(/Checked 1 time/);
  await expect(page.getByTestId('server-count')).toHaveText(/^\d+$/);
  expect(errors).toEqual([]);
});
