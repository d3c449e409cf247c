// Swagger UI at the gateway's /docs in a real browser (Debian's chromium, driven by puppeteer-core, which
// downloads nothing): sign in as the admin through the page's Authorize dialog (OAuth2 password flow at
// /api/oauth/token), run GET /api/customers/me with "Try it out" → Execute, and read the answer the page
// shows. Screenshots go to test-output/ (swagger-ui.png, the page; swagger-ui-answer.png, the call).
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type RunningLab, startLab } from '#lab/testing';

const CHROMIUM = '/usr/bin/chromium';
const OUTPUT = join(import.meta.dirname, '../test-output');
const ADMIN = { username: 'admin@lab.local', password: 'admin-password' };
/** Each wait for the page is bounded: a page that never shows what it should fails the test. */
const STEP_MS = 15_000;

describe.skipIf(!existsSync(CHROMIUM))('Swagger UI at /docs in headless Chromium', () => {
  let lab: RunningLab;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    lab = await startLab();
    browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      // As root (CI) Chromium refuses to start sandboxed; /dev/shm may be small in containers.
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
    });
    page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 1600 });
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    await lab?.stop();
  });

  afterEach(async () => {
    // What the page showed, passed or failed.
    mkdirSync(OUTPUT, { recursive: true });
    await page?.screenshot({ path: join(OUTPUT, 'swagger-ui.png'), fullPage: true });
  });

  it('signs in as the admin with the password flow and shows GET /api/customers/me answered 200 with the profile', async () => {
    await page.goto(`${lab.urls.gateway}/docs`, { waitUntil: 'networkidle0', timeout: STEP_MS });
    const operation = '#operations-customers-CustomersController_me';
    await page.waitForSelector(operation, { timeout: STEP_MS });

    // Authorize → the oauth2 (password) form: username, password; the client id comes prefilled (lab-web).
    await page.click('.auth-wrapper .authorize');
    await page.waitForSelector('#oauth_username', { timeout: STEP_MS });
    await page.type('#oauth_username', ADMIN.username);
    await page.type('#oauth_password', ADMIN.password);
    // The dialog lists the bearer scheme first: this is the password flow's own button.
    const oauth2 = '.auth-container:has(#oauth_username)';
    await page.click(`${oauth2} .auth-btn-wrapper .authorize`);
    // Signed in: the scheme shows the user instead of the form, and offers "Logout".
    await page.waitForSelector('.auth-btn-wrapper ::-p-text(Logout)', { timeout: STEP_MS });
    await page.click('.dialog-ux .close-modal');

    await page.click(`${operation} .opblock-summary-control`);
    await page.waitForSelector(`${operation} .try-out__btn`, { timeout: STEP_MS });
    await page.click(`${operation} .try-out__btn`);
    await page.click(`${operation} .execute`);
    const status = `${operation} .live-responses-table .response .response-col_status`;
    await page.waitForSelector(status, { timeout: STEP_MS });
    const shown = await page.$eval(status, (cell) => cell.textContent?.trim() ?? '');
    const body = await page.$eval(
      `${operation} .live-responses-table .response-col_description pre`,
      (pre) => pre.textContent ?? '',
    );
    // The request as the page sent it (curl, with the bearer token) and the answer it shows.
    mkdirSync(OUTPUT, { recursive: true });
    await (
      await page.$(`${operation} .responses-wrapper`)
    )?.screenshot({ path: join(OUTPUT, 'swagger-ui-answer.png') });

    expect(shown).toBe('200');
    expect(JSON.parse(body)).toMatchObject({ email: ADMIN.username, name: expect.any(String) });
  }, 90_000);
});
