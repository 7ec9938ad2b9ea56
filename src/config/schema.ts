import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { scriptTestListSchema } from '../admin/script-test-cases.js';
import { egressSchema, idpEgressSchema } from '../outbound/allow-entry.js';
import { clientIdentifier } from './identifiers.js';

/** Scopes an API client may hold. Unknown scope names are rejected to catch typos. */
export const API_SCOPES = ['user_registration', 'admin', 'token_introspection'] as const;
export type ApiScope = (typeof API_SCOPES)[number];

export const SCRIPT_KINDS = ['init', 'complete', 'backchannel'] as const;
export type ScriptKind = (typeof SCRIPT_KINDS)[number];

/** An IdP id travels in a URL path segment, so it is limited to unreserved characters. */
export const idpId = z
  .string()
  .regex(/^[A-Za-z0-9._~-]{1,128}$/, 'must be 1-128 characters of A-Z a-z 0-9 . _ ~ -');

export const limitFields = {
  cpu_time_ms: z.int().min(1).max(60_000),
  wall_time_ms: z.int().min(1).max(600_000),
  memory_mb: z.int().min(8).max(4096),
};

/**
 * An IdP's share of the sandbox capacity: how many sandbox processes its running
 * executions may hold at once, and how many of its executions may be in sandbox
 * processes at once (counting those waiting on outbound calls). The excess waits in the
 * IdP's own queue.
 */
export const shareFields = {
  max_processes: z.int().min(1).max(256),
  max_executions: z.int().min(1).max(1024),
};

/** Per-IdP overrides: script limits and the IdP's share of the sandbox capacity. */
export const idpLimitsSchema = z.strictObject({ ...limitFields, ...shareFields }).partial();
export type IdpLimits = z.infer<typeof idpLimitsSchema>;

/** The endpoints a declarative rate limit can guard. */
export const RATE_LIMIT_ENDPOINTS = ['backchannel', 'init', 'complete'] as const;
/** What a declarative rate limit counts by: the API client (backchannel), the application (init, complete), or the source address. */
export const RATE_LIMIT_KEYS = ['client', 'application', 'address'] as const;

/**
 * One declarative rate limit of an IdP: at most `limit` calls of `endpoint` per `per`
 * in each fixed window of `window_seconds` (windows start at multiples of it since the
 * Unix epoch), shared by all nodes.
 */
export const rateLimitRuleSchema = z.strictObject({
  endpoint: z.enum(RATE_LIMIT_ENDPOINTS),
  per: z.enum(RATE_LIMIT_KEYS),
  limit: z.int().min(1).max(1_000_000),
  window_seconds: z.int().min(1).max(86_400),
});
export type RateLimitRule = z.infer<typeof rateLimitRuleSchema>;

/**
 * An IdP's declarative rate limits: `client` counts only on the backchannel (whose
 * callers are API clients), `application` only on init and complete; one rule per
 * endpoint, key and window.
 */
export const rateLimitsSchema = z
  .array(rateLimitRuleSchema)
  .max(16)
  .superRefine((rules, ctx) => {
    const seen = new Set<string>();
    rules.forEach((rule, i) => {
      if (rule.per === 'client' && rule.endpoint !== 'backchannel') {
        ctx.addIssue({
          code: 'custom',
          path: [i, 'per'],
          message: `${rule.endpoint} is called by applications: use per: application`,
        });
      }
      if (rule.per === 'application' && rule.endpoint === 'backchannel') {
        ctx.addIssue({
          code: 'custom',
          path: [i, 'per'],
          message: 'the backchannel is called by API clients: use per: client',
        });
      }
      const key = `${rule.endpoint} ${rule.per} ${rule.window_seconds}`;
      if (seen.has(key)) {
        ctx.addIssue({
          code: 'custom',
          path: [i],
          message: 'duplicate rule for this endpoint, per and window_seconds',
        });
      }
      seen.add(key);
    });
  });

/**
 * Which of an IdP's script executions are recorded (for replay): every failure (a
 * status outside 2000–2999 or no result) when `failures`, and `sample_percent` of the
 * successes; kept `retain_days` and at most `max_recordings` per IdP (the newest).
 */
export const recordSchema = z.strictObject({
  failures: z.boolean().default(true),
  sample_percent: z.number().min(0).max(100).default(0),
  retain_days: z.int().min(1).max(365).default(7),
  max_recordings: z.int().min(1).max(100_000).default(1000),
});
export type RecordPolicy = z.infer<typeof recordSchema>;

/** A script is a path relative to the config file, or inline source. */
const scriptRef = z.union([z.string().min(1), z.strictObject({ source: z.string() })]);

const serverSchema = z.strictObject({
  host: z.string().min(1).default('127.0.0.1'),
  port: z.int().min(0).max(65_535).default(8080),
  body_limit_bytes: z
    .int()
    .min(1024)
    .max(64 * 1024 * 1024)
    .default(256 * 1024),
  /** scrypt cost exponent for client secrets: N = 2^scrypt_log_n. Lower only in tests. */
  scrypt_log_n: z.int().min(10).max(20).default(15),
  /** How long a verified client secret is remembered, so scrypt is not paid per request. */
  credential_cache_ttl_seconds: z.int().min(0).max(3600).default(60),
  /**
   * Secret verifications (scrypt) run at once, on libuv's thread pool (4 threads unless
   * UV_THREADPOOL_SIZE says otherwise): the rest of the pool stays free for other work.
   */
  scrypt_concurrency: z.int().min(1).max(64).default(2),
  /** Secret verifications that may wait; beyond that an attempt is `invalid_client` at once, unhashed. */
  scrypt_queue: z.int().min(0).max(10_000).default(64),
  /** Failed authentications per client id per window before it is throttled (0: no limit). */
  auth_failures_per_client: z.int().min(0).max(100_000).default(10),
  /**
   * Failed authentications per source address (an IPv6 address counts by its /64) per window
   * before it is throttled (0: no limit). Behind a proxy every caller has the proxy's address.
   */
  auth_failures_per_address: z.int().min(0).max(100_000).default(20),
  /** The throttle's window: a key's failures drain at its limit per window. */
  auth_failure_window_seconds: z.int().min(1).max(86_400).default(60),
  /** Client ids, and addresses, the throttle tracks at most (the least recently failed are dropped first). */
  auth_failure_tracked_keys: z.int().min(100).max(10_000_000).default(50_000),
  /** How often a node checks storage for property changes made elsewhere (another node, the CLI). */
  config_refresh_ms: z.int().min(100).max(600_000).default(1000),
  /** Accept a caller's `X-Request-Id` (when it is 1-64 safe characters) instead of generating one. */
  trust_request_id: z.boolean().default(false),
  /** The web admin console (`/console/*`, its session cookie on the admin API); false: 404, no cookie accepted. */
  console: z.boolean().default(true),
  /**
   * The built console (index.html and assets/) that `/console` serves; default dist/console of
   * the installation (`npm run build` writes it). A relative path is taken from the working directory.
   */
  console_dir: z.string().min(1).optional(),
  /** A console session unused this long ends. */
  console_session_idle_minutes: z.int().min(1).max(720).default(30),
  /** A console session ends this long after sign-in however it is used (at most 12 hours). */
  console_session_max_hours: z.int().min(1).max(12).default(12),
  /** Stored configuration-change audit events older than this are purged. */
  audit_retention_days: z.int().min(1).max(36_500).default(90),
  /** At most this many stored audit events are kept (the newest). */
  audit_max_events: z.int().min(100).max(100_000_000).default(100_000),
});

/** Custom registration's OAuth side: transactions and tokens. */
const oauthSchema = z.strictObject({
  /** `iss` of id_tokens; default `http://<host>:<port>`. */
  issuer: z.url().optional(),
  /** How long a two_step transaction from `init` stays valid for `complete`. */
  transaction_ttl_seconds: z.int().min(10).max(3600).default(300),
  refresh_token_ttl_seconds: z
    .int()
    .min(60)
    .max(31_536_000)
    .default(30 * 86_400),
});

const storageSchema = z.strictObject({
  /** `sqlite:PATH` or `postgres://...`; default `sqlite:<REGISTRAR_DATA_DIR>/registrar.db`. */
  url: z
    .string()
    .regex(/^(sqlite:.+|postgres(ql)?:\/\/.+)$/, 'must be sqlite:PATH or postgres://...')
    .optional(),
  /** The PostgreSQL connection pool (used when `url` is postgres://). */
  postgres: z
    .strictObject({
      pool_max: z.int().min(1).max(1000).default(10),
      /** How long to wait for a connection before a request fails (internal_server_error). */
      connect_timeout_ms: z.int().min(50).max(60_000).default(1000),
      /** Server-side statement_timeout. */
      statement_timeout_ms: z.int().min(50).max(600_000).default(5000),
      /**
       * How long a node reuses a client, application or IdP it read (0: never). Changes made
       * on another node are seen within this time; changes made on this node at once.
       */
      read_cache_ms: z.int().min(0).max(1000).default(500),
    })
    .prefault({}),
});

const cacheSchema = z.strictObject({
  /** The CACHE and registration transactions: `sqlite:PATH` or `redis://...`; default: a SQLite file in the data folder. */
  url: z
    .string()
    .regex(/^(sqlite:.+|rediss?:\/\/.+)$/, 'must be sqlite:PATH or redis://...')
    .optional(),
  purge_interval_seconds: z.int().min(1).max(86_400).default(60),
  /**
   * The largest a SQLite CACHE file may grow (when it has a file of its own): a full CACHE
   * refuses new stores (the execution fails with `cache_unavailable`) and never corrupts.
   * On Redis, set `maxmemory` and a policy on the server instead (see docs/security.md).
   */
  sqlite_max_mb: z.int().min(1).max(1_048_576).default(1024),
  /** The Redis connection (used when `url` is redis://). */
  redis: z
    .strictObject({
      connect_timeout_ms: z.int().min(50).max(60_000).default(800),
      /** A command without a reply after this long fails (Redis down: requests fail fast). */
      command_timeout_ms: z.int().min(50).max(60_000).default(800),
      /** Put before every key, so installations can share one Redis. */
      key_prefix: z.string().max(128).default('registrar:'),
    })
    .prefault({}),
});

const engineSchema = z.strictObject({
  ...limitFields,
  cpu_time_ms: limitFields.cpu_time_ms.default(1000),
  wall_time_ms: limitFields.wall_time_ms.default(10_000),
  memory_mb: limitFields.memory_mb.default(64),
  /**
   * Supervised sandbox processes. Each runs one execution at a time (isolates make
   * that cheap), so this is how many scripts run at once, and how many runaway
   * scripts it takes to hold up the others. Default: one per core, at least two.
   */
  sandbox_processes: z
    .int()
    .min(1)
    .max(64)
    .default(() => Math.max(2, availableParallelism())),
  /**
   * Sandbox processes in all, counting the elastic ones started while others are held
   * by long-running or waiting executions, and the demoted ones. Default: four times
   * `sandbox_processes`, at most 64.
   */
  max_sandbox_processes: z.int().min(1).max(256).optional(),
  /** Sandbox processes one IdP's running executions may hold at once. Default: half of `sandbox_processes`, at least one. */
  max_processes_per_idp: z.int().min(1).max(256).optional(),
  /** Executions of one IdP in sandbox processes at once, counting those waiting on outbound calls. */
  max_executions_per_idp: z.int().min(1).max(1024).default(32),
  /** An execution running longer than this lowers its process's scheduling priority (nice 19). */
  demote_after_ms: z.int().min(1).max(60_000).default(50),
  /**
   * The share of a core (percent, in steps of 10) a demoted process with work may use
   * while other executions want the CPU; it is paused the rest of the time. 100: never paused.
   */
  demoted_cpu_percent: z.int().min(1).max(100).default(10),
  /**
   * Resident memory one sandbox process may reach (what the per-isolate heap limit does
   * not bound: ICU objects, array buffers). Past it, the running execution fails with
   * `out_of_memory` and the process is replaced (an idle one is replaced quietly).
   * Default: the machine's memory over twice `max_sandbox_processes`, within 256–1024 MiB.
   */
  sandbox_max_rss_mb: z.int().min(64).max(65_536).optional(),
  /**
   * How much expected CPU time (ms) of scripts known to be quick may wait in one sandbox
   * process's pipe, so that a busy process never idles between executions and several
   * travel in one IPC message. A script's expectation is the most CPU of its last three
   * runs; a script not yet known joins a pipe only as its last entry. 0: never more than
   * one execution per process.
   */
  pipeline_budget_ms: z.number().min(0).max(1000).default(2),
  /** An elastic or demoted sandbox process idle this long is stopped. */
  elastic_idle_ms: z.int().min(100).max(3_600_000).default(10_000),
  /**
   * Extra time a sandbox process gets past an execution's limit before it is killed: past
   * the CPU limit for a synchronous execution (a native built-in that ignores the
   * isolate's timeout), past the wall-time limit for one that may make outbound calls.
   */
  kill_grace_ms: z.int().min(10).max(60_000).default(250),
  cache: z
    .strictObject({
      default_ttl_seconds: z.int().min(1).max(31_536_000).default(300),
      max_ttl_seconds: z.int().min(1).max(31_536_000).default(86_400),
      max_key_bytes: z.int().min(1).max(65_536).default(1024),
      max_value_bytes: z
        .int()
        .min(1)
        .max(16 * 1024 * 1024)
        .default(64 * 1024),
      /** Distinct keys one execution may store (its stores are committed together when it returns). */
      max_stores_per_execution: z.int().min(1).max(100_000).default(100),
      /** Bytes (keys and JSON values) one execution may store in all. */
      max_store_bytes_per_execution: z
        .int()
        .min(1)
        .max(256 * 1024 * 1024)
        .default(1024 * 1024),
    })
    .prefault({}),
  /** Outbound `HTTP.request` for scripts: off until an allow-list names a host. */
  http: egressSchema
    .extend({
      /** Connect timeout, as the reference product's default. */
      connect_timeout_ms: z.int().min(1).max(60_000).default(2500),
      max_response_bytes: z
        .int()
        .min(1)
        .max(64 * 1024 * 1024)
        .default(1024 * 1024),
      /** Calls one IdP's scripts may have in flight at once, per node. */
      max_concurrent_per_idp: z.int().min(1).max(10_000).default(10),
      max_requests_per_execution: z.int().min(1).max(1000).default(20),
      /** Follow redirects (each hop checked against the policy again) instead of handing 3xx answers to the script. */
      follow_redirects: z.boolean().default(false),
      max_redirects: z.int().min(1).max(20).default(5),
    })
    .prefault({}),
  log: z
    .strictObject({
      max_line_chars: z.int().min(80).max(1_000_000).default(4096),
      max_lines_per_execution: z.int().min(1).max(100_000).default(200),
    })
    .prefault({}),
});

const apiClientSchema = z.strictObject({
  client_id: clientIdentifier,
  client_secret: z.string().min(1).max(1024),
  name: z.string().max(255).optional(),
  scopes: z.array(z.enum(API_SCOPES)).default([]),
});

/** An OAuth scope name an application may request (RFC 6749 §3.3 scope-token characters). */
export const oauthScope = z
  .string()
  .regex(/^[\x21\x23-\x5B\x5D-\x7E]{1,128}$/, 'is not a valid OAuth scope name');

/** An OAuth client a mobile or web app uses to register through IdPs (custom registration). */
const applicationSchema = z.strictObject({
  client_id: clientIdentifier,
  client_secret: z.string().min(1).max(1024),
  name: z.string().max(255).optional(),
  /** The IdPs this application may register through. */
  identity_providers: z.array(idpId).default([]),
  /** The scopes it may be granted. */
  scopes: z.array(oauthScope).default([]),
  /** The scopes it gets when a request names none; a subset of `scopes`. */
  default_scopes: z.array(oauthScope).default([]),
  access_token_ttl_seconds: z.int().min(60).max(86_400).default(3600),
  refresh_tokens: z.boolean().default(false),
});

/** A script's stored test cases: a path (YAML or JSON list) relative to the config file, or the list inline. */
const testsRef = z.union([z.string().min(1), scriptTestListSchema]);

const identityProviderSchema = z.strictObject({
  id: idpId,
  name: z.string().max(255).optional(),
  flow: z.enum(['one_step', 'two_step']).default('one_step'),
  enabled: z.boolean().default(true),
  scripts: z.strictObject({
    init: scriptRef.optional(),
    complete: scriptRef,
    backchannel: scriptRef.optional(),
  }),
  /** Per-IdP overrides of the engine limits, and the IdP's share of the sandbox capacity. */
  limits: idpLimitsSchema.optional(),
  /** More hosts (and special addresses) this IdP's scripts may call, beside the installation's. */
  http: idpEgressSchema.optional(),
  /** Declarative rate limits on the IdP's endpoints, checked before the script runs. */
  rate_limits: rateLimitsSchema.optional(),
  /** Recording of executions for replay (see docs/recordings.md); absent: nothing is recorded. */
  record: recordSchema.optional(),
  /** Stored test cases per script kind; they replace the stored list and gate the file's scripts at start. */
  tests: z
    .strictObject({
      init: testsRef.optional(),
      complete: testsRef.optional(),
      backchannel: testsRef.optional(),
    })
    .optional(),
  /** Start even when a changed script fails its test cases: activate it anyway (logged and audited as forced). */
  force_scripts: z.boolean().default(false),
});

/** A property id: what scripts pass to PROPERTIES.get. */
export const propertyId = z
  .string()
  .regex(/^[A-Za-z0-9._-]{1,255}$/, 'must be 1-255 characters of A-Z a-z 0-9 . _ -');
export const propertyValue = z.string().max(64 * 1024);

const propertySchema = z.strictObject({
  id: propertyId,
  value: propertyValue,
  sensitive: z.boolean().default(false),
});

/** The whole config file. Unknown keys anywhere are errors. */
export const configFileSchema = z
  .strictObject({
    server: serverSchema.prefault({}),
    oauth: oauthSchema.prefault({}),
    storage: storageSchema.prefault({}),
    cache: cacheSchema.prefault({}),
    engine: engineSchema.prefault({}),
    api_clients: z.array(apiClientSchema).default([]),
    applications: z.array(applicationSchema).default([]),
    identity_providers: z.array(identityProviderSchema).default([]),
    properties: z.array(propertySchema).default([]),
  })
  .superRefine((file, ctx) => {
    const { sandbox_processes, max_sandbox_processes } = file.engine;
    if (max_sandbox_processes !== undefined && max_sandbox_processes < sandbox_processes) {
      ctx.addIssue({
        code: 'custom',
        path: ['engine', 'max_sandbox_processes'],
        message: `must be at least sandbox_processes (${sandbox_processes})`,
      });
    }
    flagDuplicates(ctx, 'api_clients', file.api_clients, 'client_id');
    flagDuplicates(ctx, 'identity_providers', file.identity_providers, 'id');
    flagDuplicates(ctx, 'properties', file.properties, 'id');
    flagDuplicates(ctx, 'applications', file.applications, 'client_id');
    const idpIds = new Set(file.identity_providers.map((idp) => idp.id));
    file.applications.forEach((app, i) => {
      app.identity_providers.forEach((id, j) => {
        if (!idpIds.has(id)) {
          ctx.addIssue({
            code: 'custom',
            path: ['applications', i, 'identity_providers', j],
            message: `unknown identity provider ${id}`,
          });
        }
      });
      app.default_scopes.forEach((scope, j) => {
        if (!app.scopes.includes(scope)) {
          ctx.addIssue({
            code: 'custom',
            path: ['applications', i, 'default_scopes', j],
            message: `${scope} is not among the application's scopes`,
          });
        }
      });
    });
    file.identity_providers.forEach((idp, i) => {
      if (idp.flow === 'two_step' && idp.scripts.init === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['identity_providers', i, 'scripts', 'init'],
          message: 'a two_step identity provider needs an init script',
        });
      }
      for (const kind of SCRIPT_KINDS) {
        if (idp.tests?.[kind] !== undefined && idp.scripts[kind] === undefined) {
          ctx.addIssue({
            code: 'custom',
            path: ['identity_providers', i, 'tests', kind],
            message: `tests for a ${kind} script the identity provider does not have`,
          });
        }
      }
      if (idp.flow === 'one_step' && idp.scripts.init !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['identity_providers', i, 'scripts', 'init'],
          message: 'init scripts are only used by two_step identity providers',
        });
      }
    });
  });

function flagDuplicates<T>(ctx: z.RefinementCtx, section: string, items: T[], key: keyof T): void {
  const seen = new Set<unknown>();
  items.forEach((item, i) => {
    if (seen.has(item[key])) {
      ctx.addIssue({
        code: 'custom',
        path: [section, i, key as string],
        message: `duplicate ${String(key)}`,
      });
    }
    seen.add(item[key]);
  });
}

export type ConfigFile = z.infer<typeof configFileSchema>;
export type EngineConfig = ConfigFile['engine'];
export type ServerConfig = ConfigFile['server'];
export type ScriptLimits = { cpu_time_ms: number; wall_time_ms: number; memory_mb: number };
