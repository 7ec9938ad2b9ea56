/**
 * The server the fuzzer runs against: a real Registrar on a loopback port with a
 * configuration whose scripts are quick and well-behaved, so that any 5xx is a
 * finding, and whose secrets the oracle looks for in every answer.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { registeredRoutes } from '../../src/http/openapi.js';
import { idp, startRegistrar, type TestRegistrar } from '../helpers/registrar.js';

/** A client as the fuzzer uses it. */
export interface FuzzClient {
  id: string;
  secret: string;
}

/** Who may call what: one valid client of each kind, plus clients only ever sent wrong secrets. */
export const CLIENTS = {
  portal: { id: 'fz-portal', secret: 'fz-portal-secret-9c41e7b2d05a' },
  oddPortal: { id: 'fz portal:ü/+%', secret: 'fz-odd-secret-4f7d1a93c2e8 +%:' },
  admin: { id: 'fz-admin', secret: 'fz-admin-secret-2b8e61f0c47d' },
  introspector: { id: 'fz-introspect', secret: 'fz-introspect-secret-7a0c59d3e16b' },
  noScope: { id: 'fz-noscope', secret: 'fz-noscope-secret-e35b0d8a4c92' },
  app: { id: 'fz-app', secret: 'fz-app-secret-5d92c4a1e07f' },
  oddApp: { id: 'fz app:é+/%', secret: 'fz-oddapp-secret-0e6a3b7c9d15' },
} as const satisfies Record<string, FuzzClient>;

/** Known client ids that only ever get wrong secrets (so throttling them costs no valid caller). */
export const DECOY_IDS = ['fz-decoy-0', 'fz-decoy-1', 'fz-decoy-2', 'fz-decoy-3'];
const DECOY_SECRET = 'fz-decoy-secret-81f4c6e2a9b3';

/** The sensitive property and its value (which must never be answered). */
export const SENSITIVE_PROPERTY = { id: 'fz-api-key', value: 'fz-sensitive-value-3e9a7c1d5f28' };

/** IdP ids of the configuration; all have quick scripts, `off` is disabled. */
export const IDPS = ['echo', 'retry', 'two', 'cache', 'props', 'off'] as const;

const SCRIPTS = {
  echo: {
    backchannel: 'function execute(p) { return { status: 2000, responsePayload: p }; }',
    complete:
      'function execute(p) { return { status: 2000, responsePayload: p, user: { id: "u-" + (p === null ? 0 : p.length), email: "u@example.com", amr: ["pwd"] } }; }',
  },
  retry: {
    backchannel: 'function execute(p) { return { status: 4001, responsePayload: { echoed: p } }; }',
    complete: 'function execute() { return { status: 5001 }; }',
  },
  two: {
    init: 'function execute(p) { return { status: p === "fail" ? 4000 : 2000, registrationData: p, responsePayload: "started" }; }',
    complete:
      'function execute(p, u, reg, hook) { return { status: 2000, user: { id: "two-" + (reg === null ? 0 : reg.length) }, responsePayload: JSON.stringify(hook) }; }',
    backchannel: 'function execute() { return { status: 2000 }; }',
  },
  cache: {
    backchannel:
      'function execute(p) { var k = "qr-" + java.util.UUID.randomUUID().toString(); CACHE.store(k, p === null ? "none" : p.slice(0, 100), 60); LOG.info("stored {}", k); return { status: 2000, responsePayload: k }; }',
    complete:
      'function execute(p) { if (p === null || p.length > 200) return { status: 4000 }; var v = CACHE.fetch(p); if (v === null) return { status: 4002 }; CACHE.delete(p); return { status: 2000, user: { id: "qr-user" } }; }',
  },
  props: {
    backchannel: `function execute(p) { var s = PROPERTIES.get("${SENSITIVE_PROPERTY.id}"); return { status: s !== null && p === s ? 2001 : 2000, responsePayload: String(PROPERTIES.get("fz-url")) }; }`,
    complete: 'function execute() { return { status: 4003 }; }',
  },
  off: {
    backchannel: 'function execute() { return { status: 2000 }; }',
  },
} satisfies Record<(typeof IDPS)[number], Record<string, string>>;

/** A running target. */
export interface FuzzTarget {
  registrar: TestRegistrar;
  origin: string;
  port: number;
  /** Every route the app registered (method and Fastify URL), read from the app itself. */
  routes: Array<{ method: string; url: string }>;
  /** Values that must never appear in an answer. */
  secrets: string[];
  /** The server's log lines about one request, and its latest warnings and errors: for findings. */
  logsFor(requestId: string): string[];
  /** Forgets captured log lines but the latest, so that long runs stay small. */
  trimLogs(): void;
  close(): Promise<void>;
}

/** Captured log lines kept by `trimLogs`. */
const KEEP_LOG_LINES = 20_000;

/**
 * A stand-in for the built web console (its page and one asset), so `/console` answers
 * its page whether or not `npm run build` ran (unbuilt, it answers 503 console_not_built).
 */
function fakeConsoleBuild(): string {
  const dir = mkdtempSync(join(tmpdir(), 'registrar-fuzz-console-'));
  mkdirSync(join(dir, 'assets'));
  writeFileSync(join(dir, 'index.html'), '<!doctype html><title>console</title>');
  writeFileSync(join(dir, 'assets', 'main-FUZZ0000.js'), 'export {};');
  return dir;
}

/** Starts Registrar with the fuzz configuration on a loopback port. */
export async function startTarget(): Promise<FuzzTarget> {
  const consoleDir = fakeConsoleBuild();
  const client = (c: FuzzClient, scopes: string[]) => ({ client_id: c.id, client_secret: c.secret, scopes });
  const registrar = await startRegistrar({
    api_clients: [
      client(CLIENTS.portal, ['user_registration']),
      client(CLIENTS.oddPortal, ['user_registration']),
      client(CLIENTS.admin, ['admin']),
      client(CLIENTS.introspector, ['token_introspection']),
      client(CLIENTS.noScope, []),
      ...DECOY_IDS.map((id) => client({ id, secret: DECOY_SECRET }, ['user_registration', 'admin'])),
    ],
    applications: [
      {
        ...client(CLIENTS.app, ['openid', 'profile', 'email']),
        identity_providers: [...IDPS],
        default_scopes: ['profile'],
        refresh_tokens: true,
      },
      { ...client(CLIENTS.oddApp, ['openid']), identity_providers: ['echo', 'two'] },
    ],
    identity_providers: IDPS.map((id) => idp(id, SCRIPTS[id], id === 'off' ? { enabled: false } : {})),
    properties: [
      { ...SENSITIVE_PROPERTY, sensitive: true },
      { id: 'fz-url', value: 'https://api.example.com/' },
    ],
    server: { console_dir: consoleDir },
  });
  const address = await registrar.app.listen({ host: '127.0.0.1', port: 0 });
  const port = Number(new URL(address).port);
  const secrets = [
    ...Object.values(CLIENTS).map((c) => c.secret),
    DECOY_SECRET,
    SENSITIVE_PROPERTY.value,
    registrar.secretKey.toString('base64'),
    registrar.secretKey.toString('base64url'),
    registrar.secretKey.toString('hex'),
  ];
  return {
    registrar,
    origin: `http://127.0.0.1:${port}`,
    port,
    routes: registeredRoutes(registrar.app).map(({ method, url }) => ({ method, url })),
    secrets,
    logsFor: (requestId) => {
      const { lines } = registrar.logs;
      const mine = lines.filter((line) => line.reqId === requestId);
      const alarms = lines.filter((line) => Number(line.level) >= 40 && line.reqId !== requestId).slice(-5);
      return [...mine, ...alarms].map((line) => JSON.stringify(line).slice(0, 600));
    },
    trimLogs: () => {
      const { lines, raw } = registrar.logs;
      if (lines.length > KEEP_LOG_LINES) lines.splice(0, lines.length - KEEP_LOG_LINES);
      if (raw.length > KEEP_LOG_LINES) raw.splice(0, raw.length - KEEP_LOG_LINES);
    },
    close: async () => {
      await registrar.close();
      rmSync(consoleDir, { recursive: true, force: true });
    },
  };
}
