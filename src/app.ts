import { createRequire } from 'node:module';
import Fastify, { type FastifyInstance, LogController } from 'fastify';
import type { Registry } from 'prom-client';
import { adminRoutes } from './admin/routes.js';
import type { RegistrarConfig } from './config/load.js';
import { installConsoleHeaders } from './console/headers.js';
import { consoleRoutes, consoleSessionsFor } from './console/routes.js';
import { consoleStaticRoutes, DEFAULT_CONSOLE_DIR } from './console/static.js';
import type { ScriptEngine } from './engine/engine.js';
import type { EngineMetrics } from './engine/metrics.js';
import { auditEvent } from './http/audit.js';
import type { ApiClientAuthenticator, ApplicationAuthenticator } from './http/authenticate.js';
import { installErrorHandling } from './http/errors.js';
import { healthRoutes } from './http/health.js';
import { installJsonBodyParser } from './http/json-body.js';
import { metricsRoute } from './http/metrics-route.js';
import { installOpenApi } from './http/openapi.js';
import { answerFrameworkError, clientErrorHandler, MAX_PARAM_LENGTH } from './http/protocol-errors.js';
import { installRequestGuards } from './http/request-guards.js';
import { requestIdGenerator } from './http/request-id.js';
import type { Logger } from './logging.js';
import type { IdTokenSigner } from './oauth/id-token.js';
import { jwksRoute } from './oauth/jwks-route.js';
import { tokenRoutes } from './oauth/token-routes.js';
import type { TokenService } from './oauth/tokens.js';
import { backchannelRoute } from './registration/backchannel.js';
import { completeRoute } from './registration/complete.js';
import { initRoute } from './registration/init.js';
import { RateLimiter } from './registration/rate-limits.js';
import { ExecutionRecorder } from './registration/recorder.js';
import type { RolloutMonitor } from './rollout/monitor.js';
import type { ShadowRunner } from './rollout/shadow.js';
import type { Storage } from './storage/open.js';

/** The package version, shown in the OpenAPI document (`../package.json` from `src/` and from `dist/`). */
const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

/** What the app runs on; made by `createDeps`, closed when the app closes. */
export interface AppDeps {
  storage: Storage;
  engine: ScriptEngine;
  authenticators: { apiClients: ApiClientAuthenticator; applications: ApplicationAuthenticator };
  tokens: TokenService;
  /** Signs id_tokens; its public keys are served at /oauth/jwks. */
  signer: IdTokenSigner;
  /** Seals sensitive values (properties, signing keys). */
  secretKey: Buffer;
  /** What GET /metrics shows. */
  metrics: Registry;
  /** The engine's metric families, registered in `metrics`. */
  engineMetrics: EngineMetrics;
  /** Counts canaried scripts' executions and ends canaries on their own. */
  rollouts: RolloutMonitor;
  /** Runs shadows beside live executions and keeps their comparisons. */
  shadows: ShadowRunner;
  /** Records executions for replay; made on the storage's recordings when absent. */
  recorder?: ExecutionRecorder;
  logger: Logger;
  /** The clock console sessions are timed by (tests move their own); `Date.now` when absent. */
  clock?: () => number;
  close(): Promise<void>;
}

/** Builds the HTTP app on its dependencies. It never listens: `server.ts` does. */
export function buildApp(config: RegistrarConfig, deps: AppDeps): FastifyInstance {
  const app = Fastify({
    loggerInstance: deps.logger,
    // One access-log line per request, written by the onResponse hook below.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'reqId' }),
    bodyLimit: config.server.body_limit_bytes,
    genReqId: requestIdGenerator(config.server.trust_request_id),
    return503OnClosing: true,
    // Router and parser errors in the documented shape (src/http/protocol-errors.ts).
    frameworkErrors: answerFrameworkError,
    clientErrorHandler: clientErrorHandler(deps.logger),
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // A missing Host is answered by installRequestGuards, in the documented shape.
    http: { requireHostHeader: false },
  });

  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
    reply.header('cache-control', 'no-store');
    reply.header('pragma', 'no-cache');
  });
  installRequestGuards(app, deps.logger);
  // One line per request: the access log, carrying the audit event of registration and token requests.
  app.addHook('onResponse', (request, reply, done) => {
    const status = reply.statusCode;
    const audit = auditEvent(request, status);
    const line = { method: request.method, url: request.url, status, ms: Math.round(reply.elapsedTime) };
    request.log.info(audit ? { ...line, audit } : line, 'request completed');
    done();
  });
  app.addHook('onClose', async () => deps.close());

  installErrorHandling(app);
  // Before any route plugin: every scope inherits the JSON parser (empty body, depth bound).
  installJsonBodyParser(app);
  installConsoleHeaders(app);
  // Before any route: it collects every route's doc for /openapi.json and /docs.
  installOpenApi(app, { version });
  app.register(healthRoutes, { storage: deps.storage, engine: deps.engine });
  const limiter = new RateLimiter(deps.storage.counters, deps.metrics);
  const recorder = deps.recorder ?? new ExecutionRecorder(deps.storage.recordings, deps.engine, deps.logger);
  app.register(backchannelRoute, {
    store: deps.storage.config,
    engine: deps.engine,
    authenticator: deps.authenticators.apiClients,
    engineConfig: config.engine,
    limiter,
    rollouts: deps.rollouts,
    shadows: deps.shadows,
    recorder,
  });
  const registration = {
    limiter,
    rollouts: deps.rollouts,
    shadows: deps.shadows,
    recorder,
    store: deps.storage.config,
    transactions: deps.storage.transactions,
    engine: deps.engine,
    authenticator: deps.authenticators.applications,
    engineConfig: config.engine,
  };
  app.register(initRoute, { ...registration, transactionTtlSeconds: config.oauth.transaction_ttl_seconds });
  app.register(completeRoute, { ...registration, tokens: deps.tokens, idTokens: deps.signer });
  app.register(jwksRoute, { signer: deps.signer });
  app.register(metricsRoute, { metrics: deps.metrics });
  const consoleSessions = consoleSessionsFor(config.server, deps.storage, deps.secretKey, deps.clock);
  if (consoleSessions) {
    app.register(consoleRoutes, { sessions: consoleSessions, authenticator: deps.authenticators.apiClients });
    app.register(consoleStaticRoutes, { dir: config.server.console_dir ?? DEFAULT_CONSOLE_DIR });
  }
  app.register(adminRoutes, {
    store: deps.storage.config,
    engine: deps.engine,
    engineConfig: config.engine,
    authenticator: deps.authenticators.apiClients,
    secretKey: deps.secretKey,
    scryptLogN: config.server.scrypt_log_n,
    auditEvents: deps.storage.auditEvents,
    scriptTests: deps.storage.scriptTests,
    rollouts: deps.rollouts,
    rolloutStore: deps.storage.rollouts,
    shadows: deps.shadows,
    recordings: deps.storage.recordings,
    ...(consoleSessions ? { consoleSessions } : {}),
  });
  app.register(tokenRoutes, {
    tokens: deps.tokens,
    applications: deps.authenticators.applications,
    apiClients: deps.authenticators.apiClients,
  });
  return app;
}
