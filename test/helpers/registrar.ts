import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { type AppDeps, buildApp } from '../../src/app.js';
import { createDeps } from '../../src/bootstrap.js';
import { parseConfig, type RegistrarConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/logging.js';

/** Log lines captured from the app, parsed. */
export class LogCapture {
  readonly lines: Array<Record<string, unknown>> = [];
  readonly raw: string[] = [];
  write(line: string): void {
    this.raw.push(line);
    this.lines.push(JSON.parse(line));
  }
  /** Everything logged, as one string, for "never appears" checks. */
  text(): string {
    return this.raw.join('');
  }
  find(predicate: (line: Record<string, unknown>) => boolean): Record<string, unknown> | undefined {
    return this.lines.find(predicate);
  }
}

export interface TestRegistrar {
  app: FastifyInstance;
  config: RegistrarConfig;
  deps: AppDeps;
  logs: LogCapture;
  dataDir: string;
  secretKey: Buffer;
  close(): Promise<void>;
}

/** A demo API client every test config has unless it says otherwise. */
export const PORTAL = { client_id: 'portal', client_secret: 'portal-secret' } as const;

/** `Authorization: Basic` for the given id and secret, form-urlencoded first (RFC 6749 §2.3.1). */
export function basic(id: string, secret: string): string {
  const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${enc(id)}:${enc(secret)}`).toString('base64')}`;
}

/** How a test Registrar differs from a real one beyond its configuration. */
export interface TestRegistrarOptions {
  /** The clock console sessions are timed by (the test moves it). */
  clock?: () => number;
  /** The secret key (random when absent): instances sharing storage need the same one. */
  secretKey?: Buffer;
}

/**
 * Starts a real Registrar (SQLite in a temp folder, real sandbox processes) on a
 * config object; `raw` is merged over a minimal config with one API client holding
 * `user_registration`. Fast scrypt parameters, two sandbox processes.
 */
export async function startRegistrar(
  raw: Record<string, unknown> = {},
  options: TestRegistrarOptions = {},
): Promise<TestRegistrar> {
  const dataDir = mkdtempSync(join(tmpdir(), 'registrar-test-'));
  const rawServer = (raw.server as Record<string, unknown> | undefined) ?? {};
  const rawEngine = (raw.engine as Record<string, unknown> | undefined) ?? {};
  const config = parseConfig(
    {
      api_clients: [{ ...PORTAL, name: 'Portal', scopes: ['user_registration'] }],
      ...raw,
      server: { scrypt_log_n: 10, ...rawServer },
      engine: { sandbox_processes: 2, ...rawEngine },
    },
    { baseDir: join(import.meta.dirname, '..', 'fixtures'), dataDir },
  );
  const logs = new LogCapture();
  const logger = createLogger('trace', logs);
  const secretKey = options.secretKey ?? randomBytes(32);
  const deps = await createDeps(config, { logger, secretKey });
  if (options.clock) deps.clock = options.clock;
  const app = buildApp(config, deps);
  await app.ready();
  return {
    app,
    config,
    deps,
    logs,
    dataDir,
    secretKey,
    async close() {
      await app.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** An IdP entry with inline scripts. */
export function idp(
  id: string,
  scripts: { backchannel?: string; complete?: string; init?: string },
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  const inline = Object.fromEntries(Object.entries(scripts).map(([kind, source]) => [kind, { source }]));
  return {
    id,
    flow: scripts.init ? 'two_step' : 'one_step',
    scripts: {
      complete: { source: 'function execute() { return { status: 2000, user: { id: "u" } }; }' },
      ...inline,
    },
    ...extra,
  };
}

/** POSTs JSON `{data}` to an IdP's backchannel with the portal's Basic credentials. */
export function backchannel(
  app: FastifyInstance,
  idpId: string,
  data?: string,
  headers: Record<string, string> = {},
) {
  return app.inject({
    method: 'POST',
    url: `/oauth/api/v3/custom-registration/${idpId}/backchannel`,
    headers: {
      authorization: basic(PORTAL.client_id, PORTAL.client_secret),
      'content-type': 'application/json',
      ...headers,
    },
    payload: JSON.stringify(data === undefined ? {} : { data }),
  });
}
