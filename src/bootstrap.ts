import { idpTestTarget, runScriptTests } from './admin/script-test-run.js';
import type { AppDeps } from './app.js';
import { applyConfig, readProperties } from './config/apply.js';
import type { RegistrarConfig, ResolvedIdentityProvider } from './config/load.js';
import { watchProperties } from './config/property-watch.js';
import { ScriptEngine } from './engine/engine.js';
import { EngineMetrics } from './engine/metrics.js';
import { createAuthenticators } from './http/authenticate.js';
import type { Logger } from './logging.js';
import { AuthMetrics } from './metrics/auth.js';
import { createMetricsRegistry } from './metrics/registry.js';
import { IdTokenSigner } from './oauth/id-token.js';
import { TokenService } from './oauth/tokens.js';
import { OutboundHttp } from './outbound/client.js';
import { OutboundMetrics } from './outbound/metrics.js';
import { purgeRecordings } from './registration/recorder.js';
import { RolloutMetrics } from './rollout/metrics.js';
import { RolloutMonitor } from './rollout/monitor.js';
import { ShadowRunner } from './rollout/shadow.js';
import { AuthGuard } from './security/auth-guard.js';
import { CredentialCache } from './security/credential-cache.js';
import { openStorage, redisOptions } from './storage/open.js';
import type { IdentityProviderRecord } from './storage/types.js';

/**
 * Opens storage, applies the configuration to it, and starts the sandbox: everything
 * `buildApp` needs. The returned `close` undoes it all.
 */
export async function createDeps(
  config: RegistrarConfig,
  options: { logger: Logger; secretKey: Buffer },
): Promise<AppDeps> {
  const { logger, secretKey } = options;
  const storage = await openStorage(config, (err) => logger.warn({ err }, 'storage connection error'));
  let engine: ScriptEngine | undefined;
  try {
    const metrics = createMetricsRegistry();
    const engineMetrics = new EngineMetrics(metrics);
    const outbound = new OutboundHttp(config.engine.http, new OutboundMetrics(metrics));
    // Started when the config file's script tests first need it (properties are applied by
    // then), else right after the configuration is applied.
    const startEngine = async () => {
      engine ??= await ScriptEngine.start({
        outbound,
        metrics: engineMetrics,
        engine: config.engine,
        cacheUrl: config.cache.url,
        cacheRedis: redisOptions(config.cache),
        cache: storage.cache,
        properties: await readProperties(storage.config, secretKey),
        logger,
      });
      return engine;
    };
    await applyConfig(config, storage.config, secretKey, logger, {
      scriptTests: storage.scriptTests,
      auditEvents: storage.auditEvents,
      rollouts: storage.rollouts,
      runTests: async (idp, kind, source, cases) =>
        runScriptTests(
          idpTestTarget(await startEngine(), config.engine, idpRecord(idp), kind, source),
          cases,
        ),
    });
    const signer = await IdTokenSigner.load(storage.signingKeys, secretKey, {
      issuer: config.oauth.issuer ?? `http://${config.server.host}:${config.server.port}`,
    });
    await startEngine();
    if (!engine) throw new Error('the script engine did not start');
    const authenticators = await createAuthenticators(
      storage.config,
      (slowVerify) =>
        new CredentialCache(config.server.credential_cache_ttl_seconds * 1000, Date.now, slowVerify),
      new AuthGuard(config.server, new AuthMetrics(metrics)),
      config.server.scrypt_log_n,
    );
    const purgeFailed = (err: unknown) => logger.warn({ err }, 'purging expired entries failed');
    const purge = setInterval(() => {
      for (const store of [storage.cache, storage.counters, storage.transactions, storage.tokens]) {
        store.purgeExpired().catch(purgeFailed);
      }
      const now = Date.now();
      storage.consoleSessions.purgeExpired(now).catch(purgeFailed);
      const since = now - config.server.audit_retention_days * 86_400_000;
      storage.auditEvents.purge({ since, keep: config.server.audit_max_events }).catch(purgeFailed);
      purgeRecordings(storage.config, storage.recordings, now).catch(purgeFailed);
    }, config.cache.purge_interval_seconds * 1000).unref();
    const stopWatching = watchProperties(
      storage.config,
      engine,
      secretKey,
      logger,
      config.server.config_refresh_ms,
    );
    const running: ScriptEngine = engine;
    const rolloutMetrics = new RolloutMetrics(metrics);
    const rollouts = new RolloutMonitor({
      store: storage.rollouts,
      auditEvents: storage.auditEvents,
      logger,
      metrics: rolloutMetrics,
    });
    const shadows = new ShadowRunner(running, config.engine, logger, rolloutMetrics);
    return {
      storage,
      engine: running,
      authenticators,
      tokens: new TokenService(storage.tokens, config.oauth.refresh_token_ttl_seconds),
      signer,
      secretKey,
      metrics,
      engineMetrics,
      rollouts,
      shadows,
      logger,
      async close() {
        clearInterval(purge);
        stopWatching();
        await rollouts.stop().catch((err: unknown) => logger.warn({ err }, 'storing canary counts failed'));
        await running.stop();
        await storage.close();
      },
    };
  } catch (error) {
    await engine?.stop();
    await storage.close();
    throw error;
  }
}

/** A config file IdP as the record its scripts' tests run as (limits and egress matter). */
function idpRecord(idp: ResolvedIdentityProvider): IdentityProviderRecord {
  return {
    id: idp.id,
    name: idp.name ?? null,
    flow: idp.flow,
    enabled: idp.enabled,
    limits: idp.limits ?? {},
    ...(idp.http ? { http: idp.http } : {}),
    scripts: {},
  };
}
