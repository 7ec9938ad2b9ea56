/**
 * Driving the web console in a real browser: Debian's Chromium through playwright-core
 * (never a downloaded browser), against a real Registrar on a loopback port serving a
 * console built into a temp folder. Collects every console response and any CSP report.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, type BrowserContext, chromium, type Locator, type Page } from 'playwright-core';
import { buildConsole } from '../../scripts/build-console.js';
import { startRegistrar, type TestRegistrar } from './registrar.js';

/** Where Debian puts Chromium. */
export const CHROMIUM = '/usr/bin/chromium';

/** Why browser tests cannot run here (printed as the skip reason), or false when they can. */
export function browserSkipReason(): string | false {
  return existsSync(CHROMIUM)
    ? false
    : `${CHROMIUM} is missing (Debian's chromium package; .ci/run installs it): console browser tests skipped`;
}

/** Runs in every page before its own scripts: each CSP violation also becomes a console message. */
const REPORT_CSP_VIOLATIONS = `document.addEventListener('securitypolicyviolation', (event) => {
  console.error('Content Security Policy violation: ' + event.violatedDirective + ' ' + event.blockedURI +
    ' at ' + event.sourceFile + ':' + event.lineNumber + ':' + event.columnNumber + ' ' + event.sample);
});`;

/** What a console page loaded and reported. */
export interface PageWatch {
  /** Every answer under /console the browser got: URL, status and headers. */
  responses: Array<{ url: string; status: number; headers: Record<string, string> }>;
  /** Console messages that mention a Content Security Policy (must stay empty). */
  cspMessages: string[];
  /** Uncaught errors of the page. */
  pageErrors: string[];
}

/** A Registrar serving a freshly built console, and a browser to drive it. */
export interface ConsoleRig {
  registrar: TestRegistrar;
  origin: string;
  browser: Browser;
  /** A new browser context (1280×800, a laptop screen) with one page, watched. */
  newPage(): Promise<{ context: BrowserContext; page: Page; watch: PageWatch }>;
  close(): Promise<void>;
}

/** Builds the console into a temp folder, starts Registrar on 127.0.0.1:0 with it, and launches Chromium. */
export async function startConsoleRig(raw: Record<string, unknown>): Promise<ConsoleRig> {
  const consoleDir = mkdtempSync(join(tmpdir(), 'registrar-console-'));
  await buildConsole(consoleDir);
  const rawServer = (raw.server as Record<string, unknown> | undefined) ?? {};
  const registrar = await startRegistrar({ ...raw, server: { ...rawServer, console_dir: consoleDir } });
  const origin = (await registrar.app.listen({ host: '127.0.0.1', port: 0 })).replace(
    'localhost',
    '127.0.0.1',
  );
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--headless'] });
  const contexts: BrowserContext[] = [];
  return {
    registrar,
    origin,
    browser,
    async newPage() {
      const context = await browser.newContext({
        viewport: { width: 1280, height: 800 },
        permissions: ['clipboard-read', 'clipboard-write'],
      });
      contexts.push(context);
      context.setDefaultTimeout(10_000);
      const page = await context.newPage();
      const watch: PageWatch = { responses: [], cspMessages: [], pageErrors: [] };
      // Reported by the browser itself too, in case a violation logs no console message.
      await page.addInitScript(REPORT_CSP_VIOLATIONS);
      page.on('console', (message) => {
        if (message.text().includes('Content Security Policy')) watch.cspMessages.push(message.text());
      });
      page.on('pageerror', (error) => watch.pageErrors.push(error.message));
      page.on('response', (response) => {
        const url = new URL(response.url());
        if (url.origin === origin && (url.pathname === '/console' || url.pathname.startsWith('/console/'))) {
          watch.responses.push({
            url: response.url(),
            status: response.status(),
            headers: response.headers(),
          });
        }
      });
      page.on('dialog', (dialog) => void dialog.accept());
      return { context, page, watch };
    },
    async close() {
      for (const context of contexts) await context.close();
      await browser.close();
      await registrar.close();
      rmSync(consoleDir, { recursive: true, force: true });
    },
  };
}

/** Where screenshots go: docs/console with REGISTRAR_CONSOLE_SCREENSHOTS=1, a temp folder otherwise. */
const SHOTS =
  process.env.REGISTRAR_CONSOLE_SCREENSHOTS === '1'
    ? join(import.meta.dirname, '..', '..', 'docs', 'console')
    : join(tmpdir(), 'registrar-console-screenshots');

/** Saves a screenshot of the page as NAME.png (see {@link SHOTS}). */
export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`) });
}

/** Signs in on the sign-in page the console shows. */
export async function signInAs(
  page: Page,
  client: { client_id: string; client_secret: string },
): Promise<void> {
  await page.getByLabel('Client id').fill(client.client_id);
  await page.getByLabel('Client secret').fill(client.client_secret);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/**
 * Replaces the text of the page's script editor by pasting it over everything (Ctrl-A,
 * Ctrl-V), as a user would. (Playwright's `insertText` goes through Chromium's editing
 * commands instead, which style the new lines with inline style attributes that the CSP
 * refuses: a violation the console itself never causes.)
 */
export async function replaceEditorText(page: Page, text: string): Promise<void> {
  const content = page.locator('.cm-content');
  await content.click();
  await page.evaluate(`navigator.clipboard.writeText(${JSON.stringify(text)})`);
  await page.keyboard.press('Control+A');
  await page.keyboard.press('Control+V');
}

/** The session cookie the browser holds, as a `Cookie` header. */
export async function sessionCookieOf(context: BrowserContext): Promise<string> {
  const cookie = (await context.cookies()).find((c) => c.name === 'registrar_console');
  if (!cookie) throw new Error('the browser holds no console session cookie');
  return `${cookie.name}=${cookie.value}`;
}

/** The text of an element (its DOM text content). */
export async function text(locator: Locator): Promise<string> {
  return (await locator.textContent()) ?? '';
}
