/**
 * The web console in a real browser (issue 12, part 2), flow by flow: sign in (a wrong
 * secret refused), create an IdP, a backchannel script with a syntax error shown at its
 * line, a dry run in the test panel, saving, the real backchannel's new behaviour, a
 * second version, the diff, the rollback, the audit page, sign-out; and the CSP on every
 * console answer with no violation reported. Sessions (CSRF, revocation) are in
 * console-browser-sessions.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';
import { CONSOLE_CSP, IMMUTABLE } from '../src/console/headers.js';
import {
  browserSkipReason,
  type ConsoleRig,
  type PageWatch,
  replaceEditorText,
  screenshot,
  sessionCookieOf,
  signInAs,
  startConsoleRig,
  text,
} from './helpers/browser.js';
import { ADMIN } from './helpers/console.js';
import { basic, PORTAL } from './helpers/registrar.js';

const skip = browserSkipReason();
if (skip) console.log(`# ${skip}`);

const IDP = 'web-demo';
const BROKEN = 'function execute(data) {\n  LOG.info("hello {}", data);\n  return { status: 2000,;\n}\n';
const V1 =
  'function execute(data) {\n  LOG.info("hello {}", data);\n  return { status: 2000, responsePayload: "v1:" + data };\n}\n';
const V2 =
  'function execute(data) {\n  LOG.info("hello {}", data);\n  return { status: 2001, responsePayload: "v2:" + data };\n}\n';

describe('the console in a browser: an IdP from creation to rollback', { skip }, () => {
  let rig: ConsoleRig;
  let context: BrowserContext;
  let page: Page;
  let watch: PageWatch;

  /** Calls the real backchannel of the IdP as a portal would. */
  const backchannel = async (data: string) => {
    const res = await fetch(`${rig.origin}/oauth/api/v3/custom-registration/${IDP}/backchannel`, {
      method: 'POST',
      headers: {
        authorization: basic(PORTAL.client_id, PORTAL.client_secret),
        'content-type': 'application/json',
      },
      body: JSON.stringify({ data }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  before(async () => {
    rig = await startConsoleRig({
      api_clients: [
        { ...PORTAL, scopes: ['user_registration'] },
        { ...ADMIN, scopes: ['admin'] },
      ],
      engine: { sandbox_processes: 1 },
    });
    ({ context, page, watch } = await rig.newPage());
  });
  after(async () => rig?.close());

  test('a wrong secret is refused with a visible error; the right one signs in', async () => {
    await page.goto(`${rig.origin}/console`);
    await page.getByRole('heading', { name: 'Registrar console' }).waitFor();
    await screenshot(page, 'sign-in');
    await signInAs(page, { client_id: ADMIN.client_id, client_secret: 'wrong-secret' });
    const alert = page.getByRole('alert');
    await alert.waitFor();
    assert.match(await text(alert), /invalid_client/);
    await signInAs(page, ADMIN);
    await page.getByRole('heading', { name: 'Identity providers' }).waitFor();
    assert.equal(await text(page.getByTestId('signed-in-as')), ADMIN.client_id);
  });

  test('creating an IdP lists it with its flow, state and script versions', async () => {
    await page.getByLabel('Id', { exact: true }).fill(IDP);
    await page.getByLabel('Name').fill('Web demo');
    await page.getByRole('button', { name: 'Create' }).click();
    await page.getByRole('heading', { name: IDP }).waitFor();
    await page.getByRole('link', { name: 'Identity providers' }).first().click();
    const row = page.locator(`tr[data-idp="${IDP}"]`);
    await row.waitFor();
    assert.match(await text(row), /one_step.*yes.*complete v1/);
    await screenshot(page, 'identity-providers');
  });

  test('the editor completes the script globals, their members and execute', async () => {
    await page.goto(`${rig.origin}/console#/identity-providers/${IDP}/scripts/backchannel`);
    await page.getByText('no active version').waitFor();
    await page.locator('.cm-content').click();
    await page.keyboard.press('Control+A');
    await page.keyboard.type('CACHE.');
    const options = page.locator('.cm-tooltip-autocomplete li');
    await options.first().waitFor();
    assert.deepEqual((await options.allTextContents()).map((o) => o.split('(')[0]).sort(), [
      'delete',
      'fetch',
      'increment',
      'store',
    ]);
    await page.keyboard.press('Escape');
    await page.keyboard.press('Control+A');
    await page.keyboard.type('PROP');
    await options.first().waitFor();
    assert.match(await text(options.first()), /^PROPERTIES/);
    await page.keyboard.press('Escape');
    await page.keyboard.press('Control+A');
    await page.keyboard.type('execu');
    await page.locator('.cm-tooltip-autocomplete li', { hasText: 'execute' }).waitFor();
    assert.match(
      await text(page.locator('.cm-tooltip-autocomplete')),
      /requestPayload, userIdentifier, registrationData, hookContextCustomParams/,
    );
    await page.keyboard.press('Escape');
  });

  test('a script that does not compile: the error is shown at its line, nothing is saved', async () => {
    await replaceEditorText(page, BROKEN);
    await page.getByRole('button', { name: 'Save' }).click();
    const alert = page.getByRole('alert').first();
    await alert.waitFor();
    assert.match(await text(alert), /line 3/);
    const third = page.locator('.cm-line').nth(2);
    await third.locator('.cm-lintRange-error, .cm-lintPoint-error').first().waitFor();
    assert.equal(await page.locator('.cm-line').nth(1).locator('.cm-lintRange-error').count(), 0);
    assert.equal((await backchannel('x')).status, 500, 'still no backchannel script');
  });

  test('the test panel dry-runs the fixed draft: status, payload and the LOG line', async () => {
    await replaceEditorText(page, V1);
    await page.getByLabel('requestPayload (data)').fill('abc');
    await page.getByRole('button', { name: 'Run draft' }).click();
    const report = page.getByTestId('dry-run-report');
    await report.waitFor();
    assert.equal(await text(page.getByTestId('dry-run-status')), '2000');
    assert.match(await text(page.getByTestId('dry-run-logs')), /hello abc/);
    assert.match(await text(report), /v1:abc/);
    assert.equal(await page.locator('.cm-lintRange-error').count(), 0, 'the fixed draft shows no error');
    await page.getByRole('heading', { name: 'Logs' }).scrollIntoViewIfNeeded();
    await screenshot(page, 'script-editor');
  });

  test('property overrides in the test panel reach the draft, in that run only', async () => {
    await replaceEditorText(
      page,
      'function execute(data) {\n  return { status: 2000, responsePayload: "p:" + PROPERTIES.get("greeting") };\n}\n',
    );
    const overrides = page.getByLabel('Property overrides (JSON object of strings)');
    await overrides.fill('{"greeting": "hej"}');
    await page.getByRole('button', { name: 'Run draft' }).click();
    await page.getByTestId('dry-run-report').getByText('p:hej').waitFor();
    await overrides.fill('');
    await page.getByRole('button', { name: 'Run draft' }).click();
    await page.getByTestId('dry-run-report').getByText('p:null').waitFor();
    await replaceEditorText(page, V1);
  });

  test('saving makes version 1 active: the real backchannel answers with it', async () => {
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText('Saved as version 1').waitFor();
    assert.deepEqual(await backchannel('abc'), { status: 200, body: { status: 2000, data: 'v1:abc' } });
  });

  test('a second version, its diff against the first, and a rollback', async () => {
    await replaceEditorText(page, V2);
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText('Saved as version 2').waitFor();
    assert.deepEqual(await backchannel('abc'), { status: 200, body: { status: 2001, data: 'v2:abc' } });

    await page.getByRole('link', { name: 'Versions' }).click();
    const first = page.locator('tr[data-version="1"]');
    await first.waitFor();
    assert.match(await text(page.locator('tr[data-version="2"]')), /active/);
    await first.getByRole('button', { name: /Compare with active/ }).click();
    const diff = page.getByTestId('version-diff');
    await diff.locator('.cm-mergeView').waitFor();
    await diff.locator('.cm-changedText').first().waitFor();
    const editors = await diff.locator('.cm-content').allTextContents();
    assert.equal(editors.length, 2, 'side by side');
    assert.match(editors[0] ?? '', /v1:/);
    assert.match(editors[1] ?? '', /v2:/);
    await screenshot(page, 'versions-diff');

    await first.getByRole('button', { name: 'Activate version 1' }).click();
    await page.getByText('Version 1 is active now.').waitFor();
    await page.locator('tr[data-version="1"]', { hasText: 'active' }).waitFor();
    assert.deepEqual(await backchannel('abc'), { status: 200, body: { status: 2000, data: 'v1:abc' } });
  });

  test('the audit page lists the new version and the rollback: who, what, before and after', async () => {
    await page.getByRole('link', { name: 'Audit' }).click();
    await page.getByRole('heading', { name: /Audit/ }).waitFor();
    const rows = page.locator('tr[data-event]');
    await rows.first().waitFor();
    const texts = await rows.allTextContents();
    const rollback = texts.findIndex((t) => t.includes('activate_version'));
    const saved = texts.findIndex((t) => t.includes('save_version') && /"version": 2/.test(t));
    assert.ok(
      rollback >= 0 && saved > rollback,
      `the rollback, then (older) version 2: ${texts.join('\n---\n')}`,
    );
    assert.match(texts[rollback] ?? '', new RegExp(`${ADMIN.client_id}[\\s\\S]*${IDP}/backchannel`));
    assert.match(
      texts[rollback] ?? '',
      /"version": 2[\s\S]*"version": 1/,
      'before version 2, after version 1',
    );
    await screenshot(page, 'audit');
  });

  test('signing out ends the session: the old cookie no longer works on the admin API', async () => {
    const cookie = await sessionCookieOf(context);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    const res = await fetch(`${rig.origin}/api/v1/configuration/identity-providers`, { headers: { cookie } });
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as { error: string }).error, 'invalid_client');
  });

  test('every console answer carried the CSP; assets are immutable, the page no-store; no CSP violation', () => {
    assert.ok(
      watch.responses.length >= 5,
      `the browser loaded the console (${watch.responses.length} answers)`,
    );
    for (const r of watch.responses) {
      assert.equal(r.headers['content-security-policy'], CONSOLE_CSP, r.url);
      assert.equal(r.headers['x-content-type-options'], 'nosniff', r.url);
      const asset = new URL(r.url).pathname.startsWith('/console/assets/');
      assert.equal(r.headers['cache-control'], asset ? IMMUTABLE : 'no-store', r.url);
    }
    const assets = watch.responses.filter((r) => r.url.includes('/console/assets/'));
    assert.ok(
      assets.some((r) => /\/main-[A-Z0-9]+\.js$/.test(r.url)),
      'the hashed script',
    );
    assert.ok(
      assets.some((r) => /\/main-[A-Z0-9]+\.css$/.test(r.url)),
      'the hashed stylesheet',
    );
    assert.deepEqual(watch.cspMessages, []);
    assert.deepEqual(watch.pageErrors, []);
  });
});
