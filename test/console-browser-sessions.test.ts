/**
 * The web console's session in a real browser: a change made with the session cookie but
 * without the anti-CSRF token is refused; deleting the signed-in admin client (by another
 * admin) sends the console back to the sign-in page at its next action; and the pages for
 * properties (sensitive values write-only), API clients and applications (a new secret
 * shown once). The CSP holds on every console answer, with no violation reported.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';
import { CONSOLE_CSP } from '../src/console/headers.js';
import {
  browserSkipReason,
  type ConsoleRig,
  type PageWatch,
  screenshot,
  sessionCookieOf,
  signInAs,
  startConsoleRig,
  text,
} from './helpers/browser.js';
import { ADMIN } from './helpers/console.js';
import { basic, idp, PORTAL } from './helpers/registrar.js';

const skip = browserSkipReason();
if (skip) console.log(`# ${skip}`);

/** A second admin, who deletes the first. */
const OPS = { client_id: 'ops', client_secret: 'ops-secret' } as const;
const PROPERTIES = '/api/v1/configuration/properties';

describe('the console in a browser: sessions, properties and clients', { skip }, () => {
  let rig: ConsoleRig;
  let context: BrowserContext;
  let page: Page;
  let watch: PageWatch;

  before(async () => {
    rig = await startConsoleRig({
      api_clients: [
        { ...PORTAL, name: 'Portal', scopes: ['user_registration'] },
        { ...ADMIN, name: 'Console admin', scopes: ['admin'] },
        { ...OPS, name: 'Operations', scopes: ['admin'] },
      ],
      applications: [
        {
          client_id: 'mobile-app',
          client_secret: 'mobile-app-secret',
          name: 'Mobile app',
          identity_providers: ['signup'],
          scopes: ['openid', 'profile'],
        },
      ],
      identity_providers: [idp('signup', { backchannel: 'function execute() { return { status: 2000 }; }' })],
      properties: [{ id: 'crm_url', value: 'https://crm.example.com' }],
      engine: { sandbox_processes: 1 },
    });
    ({ context, page, watch } = await rig.newPage());
    await page.goto(`${rig.origin}/console#/properties`);
    await signInAs(page, ADMIN);
    await page.getByRole('heading', { name: 'Properties' }).waitFor();
  });
  after(async () => rig?.close());

  test('a change made with the session cookie needs the X-CSRF-Token header', async () => {
    const cookie = await sessionCookieOf(context);
    const change = (headers: Record<string, string>) =>
      fetch(`${rig.origin}${PROPERTIES}`, {
        method: 'POST',
        headers: { cookie, 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ id: 'from_http', value: 'v' }),
      });
    const refused = await change({});
    assert.equal(refused.status, 403);
    assert.equal(((await refused.json()) as { error: string }).error, 'invalid_csrf_token');
    const read = await fetch(`${rig.origin}/console/api/session`, { headers: { cookie } });
    const { csrf_token: token } = (await read.json()) as { csrf_token: string };
    assert.equal((await change({ 'x-csrf-token': token })).status, 201, 'with the token it is made');
  });

  test('properties: a sensitive value is write-only and reads as ********', async () => {
    await page.getByLabel('Id', { exact: true }).fill('crm_api_key');
    await page.getByLabel('Sensitive', { exact: true }).check();
    await page.getByLabel('Value', { exact: true }).fill('k-123-very-secret');
    await page.getByRole('button', { name: 'Create' }).click();
    await page.getByText('crm_api_key created.').waitFor();
    const row = page.locator('tr[data-property="crm_api_key"]');
    const input = row.getByLabel('Value of crm_api_key');
    assert.equal(await input.inputValue(), '', 'the value is not shown');
    assert.equal(await input.getAttribute('type'), 'password');
    assert.match((await input.getAttribute('placeholder')) ?? '', /^\*{8} /);
    assert.ok(!(await page.content()).includes('k-123-very-secret'), 'nowhere on the page');
    await screenshot(page, 'properties');
  });

  test('API clients: a new client gets a secret shown once, which works', async () => {
    await page.getByRole('navigation').getByRole('link', { name: 'API clients' }).click();
    await page.getByRole('heading', { name: 'API clients' }).waitFor();
    await page.getByLabel('Client id', { exact: true }).fill('crm');
    await page.getByLabel('Name', { exact: true }).fill('CRM');
    await page.getByRole('button', { name: 'Create' }).click();
    const secret = await page.getByTestId('new-secret').inputValue();
    assert.match(secret, /^[A-Za-z0-9_-]{43}$/);
    await page.getByRole('button', { name: 'Copy' }).click();
    await page.getByText('Copied to the clipboard.').waitFor();
    assert.equal(await page.evaluate('navigator.clipboard.readText()'), secret);
    const res = await fetch(`${rig.origin}/oauth/api/v3/custom-registration/signup/backchannel`, {
      method: 'POST',
      headers: { authorization: basic('crm', secret) },
    });
    assert.equal(res.status, 200, 'the shown secret is the client secret');
    await screenshot(page, 'api-clients');
    await page.getByRole('button', { name: 'Done' }).click();
    assert.equal(await page.getByTestId('new-secret').count(), 0, 'gone once dismissed');
  });

  test('applications: listed with their IdPs and scopes; a rotated secret is shown once', async () => {
    await page.getByRole('navigation').getByRole('link', { name: 'Applications' }).click();
    const row = page.locator('tr[data-application="mobile-app"]');
    await row.waitFor();
    assert.match(await text(row), /signup.*openid profile/);
    await row.getByRole('button', { name: /New secret/ }).click();
    assert.match(await page.getByTestId('new-secret').inputValue(), /^[A-Za-z0-9_-]{43}$/);
  });

  test('identity providers: a delete the API refuses shows its conflict; limits and allow-list are saved', async () => {
    await page.getByRole('navigation').getByRole('link', { name: 'Identity providers' }).click();
    const row = page.locator('tr[data-idp="signup"]');
    await row.getByRole('button', { name: /Delete/ }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    assert.match(await text(alert), /conflict: applications use identity provider signup: mobile-app/);
    await row.getByRole('link', { name: 'signup' }).click();
    await page.getByLabel('CPU time (ms)').fill('500');
    await page
      .getByLabel('Allowed hosts, one per line')
      .fill('https://crm.example.com\nhttps://*.example.org');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await page.getByText('Settings saved.').waitFor();
    const res = await fetch(`${rig.origin}/api/v1/configuration/identity-providers/signup`, {
      headers: { authorization: basic(OPS.client_id, OPS.client_secret) },
    });
    const saved = (await res.json()) as { limits: unknown; http: unknown };
    assert.deepEqual(saved.limits, { cpu_time_ms: 500 });
    assert.deepEqual(saved.http, { allow: ['https://crm.example.com', 'https://*.example.org'] });
  });

  test('deleting the signed-in client ends its session at once: the next action shows the sign-in page', async () => {
    const res = await fetch(`${rig.origin}/api/v1/configuration/api-clients/${ADMIN.client_id}`, {
      method: 'DELETE',
      headers: { authorization: basic(OPS.client_id, OPS.client_secret) },
    });
    assert.equal(res.status, 204);
    await page.getByRole('navigation').getByRole('link', { name: 'Identity providers' }).click();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    assert.match(await text(page.getByRole('status')), /session has ended/);
    await signInAs(page, OPS);
    await page.getByRole('heading', { name: 'Identity providers' }).waitFor();
  });

  test('every console answer carried the CSP, and no CSP violation was reported', () => {
    assert.ok(watch.responses.length >= 5);
    for (const r of watch.responses) assert.equal(r.headers['content-security-policy'], CONSOLE_CSP, r.url);
    assert.deepEqual(watch.cspMessages, []);
    assert.deepEqual(watch.pageErrors, []);
  });
});
